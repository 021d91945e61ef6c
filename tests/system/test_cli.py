#!/usr/bin/env python3
"""System test of widgetd's command line and config file: the old script's flags (also spelt -wb/-dwt),
-c FILE, key prefixes and a separate dead-letter location, config errors (exit 78, one line naming
file:line), configurations that would read widgetd's own output as requests (exit 78, naming the setting),
config edge cases (a directory, a NUL byte, a key or section given twice, a bad region), verify_tls = no
(a warning naming file:line), -n (--check-config; on a terminal the error once, without its <3> prefix),
--version, -h, --once on an empty bucket, and
deployment faults (missing store, wrong secret: nothing dead-lettered, requests kept, exit 75)."""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wdtest  # noqa: E402

MM = "Mary Matthews"


def small_requests(prefix=""):
    """A dozen requests: creates, updates, a delete, a missing widget, two bad requests."""
    def r(kind, n, wid, owner=MM, **kw):
        d = {"type": kind, "requestId": "cli-%02d" % n, "widgetId": wid, "owner": owner}
        d.update(kw)
        return json.dumps(d).encode()
    reqs = [
        r("create", 1, "w1", label="one", otherAttributes=[{"name": "color", "value": "red"}]),
        r("create", 2, "w2", "John Smith", description="two"),
        r("update", 3, "w1", otherAttributes=[{"name": "size", "value": "L"}, {"name": "color", "value": ""}]),
        b'{"type": "create", "requestId": "cli-04", "widgetId": "bad", "owner": "R2D2"}',
        r("create", 5, "w 3+x%41", label="odd id"),
        r("delete", 6, "w2", "John Smith"),
        r("update", 7, "missing", label="nope"),
        r("update", 8, "w 3+x%41", label="odd id updated"),
        b'{"type": "create", "requestId": "cli-09", "widgetId": "x", "owner": "Mary Matthews", "label": 1e999}',
        r("create", 10, "w4", "Ann Lee", otherAttributes=[{"name": "size", "value": "S"}]),
        r("update", 11, "w4", "Ann Lee", label="four"),
        r("delete", 12, "w4", "Ann Lee"),
    ]
    return {"%s%04d.json" % (prefix, i + 1): body for i, body in enumerate(reqs)}


def run_on_pty(argv, env, timeout=30):
    """Runs argv with stdin, stdout and stderr on a new pseudo-terminal; returns (its output, exit code)."""
    import pty
    import select
    import subprocess
    import time
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    out, deadline = b"", time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: every writer closed the terminal
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    os.close(master)
    try:
        rc = proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = proc.wait()
    return out.decode("utf-8", "replace"), rc


def write_config(h, name, text):
    path = os.path.join(h.workdir, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def config_text(h, requests_bucket, store, store_name, extra_requests=""):
    return ("; widgetd system test config\n"
            "[requests]\n"
            "bucket = %s\n%s"
            "\n[store]\nkind = %s\nname = %s\n"
            "\n[aws]\nregion = %s\ns3_endpoint = %s\ndynamodb_endpoint = %s\npath_style = yes\n"
            "\n[daemon]\nworkers = 4\npoll_interval_ms = 50\n"
            % (requests_bucket, extra_requests, store, store_name, h.env["AWS_REGION"], h.env["WD_S3_ENDPOINT"],
               h.env["WD_DDB_PROXY_ENDPOINT"]))


ENDPOINT_VARS = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL")


def run_and_judge(h, what, store, requests, args, env=None, prefix="", dead_bucket=None, dead_prefix=wdtest.DEAD_PREFIX,
                  bucket=None, store_name=None, tag="cli"):
    bucket = bucket or h.create_bucket(tag + "-req")
    store_name = store_name or h.create_store(store, tag)
    h.load(bucket, requests)
    argv = args(bucket, store_name)
    run = h.run_widgetd(argv, name=tag, env=env, timeout=300)
    print("# widgetd %s: exit %s in %.2fs" % (" ".join(argv), run.rc, run.elapsed), flush=True)
    h.judge(what, requests, bucket, store, store_name, run, prefix=prefix, dead_prefix=dead_prefix,
            dead_bucket=dead_bucket)
    return bucket, store_name, run


def check_config_error(h, what, path, lines_ok=(), must_name=None):
    """widgetd -c path exits 78 with one stderr line naming path:N for an N in lines_ok (or, without
    lines_ok, naming must_name or the path)."""
    run = h.run_widgetd(["-c", path, "--once"], name="config-error", timeout=60)
    lines = run.lines
    ok_rc = h.check(run.rc == 78, "%s: exit 78 (EX_CONFIG)" % what, "  exit %s\n%s" % (run.rc, run.tail()))
    wants = ["%s:%d" % (path, n) for n in lines_ok] or [must_name or path]
    h.check(len(lines) == 1 and any(w in lines[0] for w in wants),
            "%s: exactly one stderr line naming %s" % (what, "file:line" if lines_ok else "the file"),
            "  want one line containing %s, got %d lines:\n%s" % (" or ".join(map(repr, wants)), len(lines), run.tail()))
    san = [x for x in lines if any(p in x for p in wdtest.SANITIZER_PATTERNS)]
    h.check(not san, "%s: no sanitizer report" % what, "  log: %s" % run.log_path)
    return ok_rc


def check_refused(h, what, argv, wants, env=None):
    """widgetd argv exits 78 with exactly one stderr line that contains every string of wants."""
    run = h.run_widgetd(argv, name="refused", timeout=60, env=env)
    lines = run.lines
    h.check(run.rc == 78, "%s: exit 78 (EX_CONFIG)" % what, "  exit %s\n%s" % (run.rc, run.tail()))
    h.check(len(lines) == 1 and all(w in lines[0] for w in wants),
            "%s: one stderr line naming %s" % (what, ", ".join(wants)),
            "  want one line containing %s, got %d lines:\n%s" % (" and ".join(map(repr, wants)), len(lines), run.tail()))
    return run


def line_of(text, start):
    """The 1-based number of the first line of text that starts with start."""
    return next(i + 1 for i, x in enumerate(text.split("\n")) if x.startswith(start))


def case_own_output(h):
    """Configurations that would make widgetd read its own output as requests are refused (SPEC 6), and
    nothing in the bucket is touched."""
    requests = small_requests()
    bucket = h.create_bucket("own-req")
    h.load(bucket, requests)
    # The old command line, an S3 store in the requests bucket.
    check_refused(h, "--destination_name = --requests_bucket, wb", h.old_flags(bucket, "s3", bucket) + ["--once"],
                  ["--destination_name:", "--requests_bucket", "requests bucket"])
    check_refused(h, "--destination_name = --requests_bucket, -wb",
                  ["--requests_bucket", bucket, "--destination_flag", "-wb", "--destination_name", bucket, "--once"],
                  ["--destination_name:", "--requests_bucket"])
    # The same in a file: [store] name's line, and the line of the bucket it repeats.
    text = config_text(h, bucket, "s3", bucket)
    path = write_config(h, "own-store.conf", text)
    check_refused(h, "[store] name = [requests] bucket", ["-c", path, "--once"],
                  ["%s:%d: [store] name" % (path, line_of(text, "name =")), "on line %d" % line_of(text, "bucket =")])
    check_refused(h, "[store] name = [requests] bucket, -n", ["-c", path, "-n"], ["%s:%d:" % (path, line_of(text, "name ="))])
    # A requests prefix equal to the dead-letter prefix (the default), or inside it; the dead-letter
    # bucket set explicitly to the requests bucket; a prefix without its slash.
    for tag, extra in (("prefix = dead-letter/", "prefix = dead-letter/\n"),
                       ("prefix inside dead_letter_prefix", "prefix = dl/in/\ndead_letter_prefix = dl/\n"),
                       ("dead_letter_bucket = the requests bucket",
                        "dead_letter_bucket = %s\nprefix = dead-letter/in/\n" % bucket),
                       ("dead_letter_prefix without its slash", "prefix = rejected/\ndead_letter_prefix = rejected\n")):
        text = config_text(h, bucket, "dynamodb", "some-table", extra)
        path = write_config(h, "own-prefix.conf", text)
        check_refused(h, tag, ["-c", path, "--once"],
                      ["%s:%d: [requests] prefix" % (path, line_of(text, "prefix =")), "dead-letter prefix"])
    left = set(h.list_keys(bucket))
    h.check(left == set(requests), "no request was taken or set aside by a refused configuration",
            "  missing %s; unexpected %s" % (sorted(set(requests) - left)[:5], sorted(left - set(requests))[:5]))


def case_config_edges(h):
    good = config_text(h, "some-bucket", "s3", "some-store")
    lines = good.split("\n")
    # -c on a directory: not an empty file.
    check_refused(h, "-c DIRECTORY", ["-c", h.workdir, "--once"], [h.workdir + ": ", "directory"])
    check_refused(h, "-c DIRECTORY -n", ["-c", h.workdir, "-n"], [h.workdir + ": ", "directory"])
    # A NUL byte cuts nothing: the line is refused.
    n = line_of(good, "name =")
    path = os.path.join(h.workdir, "nul.conf")
    with open(path, "wb") as f:
        f.write(good.replace("name = some-store", "name = some-store\0-cut").encode())
    check_refused(h, "a NUL byte", ["-c", path, "--once"], ["%s:%d:" % (path, n), "NUL"])
    # A key given twice: both lines named.
    first = line_of(good, "workers =")
    bad = good.replace("workers = 4\n", "workers = 4\nworkers = 8\n")
    path = write_config(h, "key-twice.conf", bad)
    check_refused(h, "a key given twice", ["-c", path, "--once"],
                  ["%s:%d:" % (path, first + 1), "lines %d and %d" % (first, first + 1)])
    # A section given twice.
    path = write_config(h, "section-twice.conf", good + "[requests]\nprefix = x/\n")
    again = len(good.split("\n"))   # good ends with a newline: the next line
    check_refused(h, "a section given twice", ["-c", path, "--once"],
                  ["%s:%d:" % (path, again), "lines %d and %d" % (line_of(good, "[requests]"), again)])
    # A region that cannot be one, from the file (the environment's would win over it) or the environment.
    n = line_of(good, "region =")
    no_region_env = h.widgetd_env(drop=("AWS_REGION", "AWS_DEFAULT_REGION"))
    for region in ("US-EAST-1", "us_east_1", "us-east-1/x", "eu west"):
        path = write_config(h, "region.conf", good.replace("region = %s" % h.env["AWS_REGION"], "region = %s" % region))
        check_refused(h, "region %r, -n" % region, ["-c", path, "-n"], ["%s:%d: [aws] region" % (path, n), "region"],
                      env=no_region_env)
    path = write_config(h, "region-env.conf", "\n".join(x for x in lines if not x.startswith("region =")))
    check_refused(h, "AWS_REGION=Frankfurt", ["-c", path, "-n"], ["AWS_REGION: ", "Frankfurt"],
                  env=h.widgetd_env({"AWS_REGION": "Frankfurt"}))
    for region in ("us-east-1", "eu-central-2", "us-gov-west-1", "cn-north-1"):
        path = write_config(h, "region-ok.conf", good.replace("region = %s" % h.env["AWS_REGION"], "region = %s" % region))
        run = h.run_widgetd(["-c", path, "-n"], name="region-ok", timeout=30, env=no_region_env)
        h.check(run.rc == 0 and "configuration OK" in run.stdout, "region %s passes -n" % region,
                "  exit %s\n%s" % (run.rc, run.tail()))
    # verify_tls = no: allowed, with a warning that names the line.
    text = good.replace("path_style = yes\n", "path_style = yes\nverify_tls = no\n")
    path = write_config(h, "no-tls.conf", text)
    run = h.run_widgetd(["-c", path, "-n"], name="no-tls", timeout=30)
    warn = [x for x in run.lines if x.startswith("<4>")]
    h.check(run.rc == 0 and "configuration OK" in run.stdout, "verify_tls = no passes -n",
            "  exit %s\n%s" % (run.rc, run.tail()))
    h.check(len(warn) == 1 and "%s:%d: [aws] verify_tls" % (path, line_of(text, "verify_tls")) in warn[0]
            and "not verified" in warn[0], "verify_tls = no: -n warns, naming file:line", run.tail())


def main():
    h = wdtest.Harness(__doc__)
    requests = small_requests()

    for store in ("s3", "dynamodb"):
        with h.case("old-flags-%s" % store) as selected:
            if selected:
                run_and_judge(h, "old command line, %s" % store, store, requests,
                              lambda b, n, s=store: h.old_flags(b, s, n) + ["--once"], tag="old-" + store)

    # The replaced script's README example spells the flag -wb (and -dwt): the same as wb and dwt (SPEC 6).
    for store in ("s3", "dynamodb"):
        with h.case("old-flags-dash-%s" % store) as selected:
            if selected:
                def args(b, n, s=store):
                    return ["--requests_bucket", b, "--destination_flag", "-" + wdtest.Stores.FLAG[s],
                            "--destination_name", n, "--once"]
                run_and_judge(h, "--destination_flag -%s" % wdtest.Stores.FLAG[store], store, requests, args,
                              tag="dash-" + store)

    with h.case("own-output-refused") as selected:
        if selected:
            case_own_output(h)

    with h.case("config-edge-cases") as selected:
        if selected:
            case_config_edges(h)

    for store in ("s3", "dynamodb"):
        with h.case("config-file-%s" % store) as selected:
            if selected:
                def args(b, n, s=store):
                    return ["-c", write_config(h, "widgetd-%s.conf" % s, config_text(h, b, s, n)), "--once"]
                # Endpoints only from the file: none in the environment.
                run_and_judge(h, "-c FILE, %s" % store, store, requests, args, env=h.widgetd_env(drop=ENDPOINT_VARS),
                              tag="conf-" + store)

    with h.case("config-prefix-and-dead-letter-location") as selected:
        if selected:
            prefixed = small_requests("in/")
            dead_bucket = h.create_bucket("cli-dead")
            bucket = h.create_bucket("cli-prefix-req")
            outside = {"other/0001.json": small_requests()["0001.json"], "0000-outside.json": b"not json"}
            h.load(bucket, outside, verify=False)

            def args(b, n):
                extra = "prefix = in/\ndead_letter_bucket = %s\ndead_letter_prefix = rejected/\n" % dead_bucket
                return ["-c", write_config(h, "widgetd-prefix.conf", config_text(h, b, "s3", n, extra)), "--once"]
            run_and_judge(h, "prefix in/, dead letters to another bucket", "s3", prefixed, args,
                          prefix="in/", dead_bucket=dead_bucket, dead_prefix="rejected/", bucket=bucket, tag="prefix")
            left = set(h.list_keys(bucket)) - set(prefixed)
            h.check(left == set(outside), "keys outside the prefix are left alone",
                    "  left %s, want %s" % (sorted(left), sorted(outside)))

    with h.case("config-errors") as selected:
        if selected:
            good = config_text(h, "some-bucket", "s3", "some-store")
            lines = good.split("\n")
            # unknown key (line 4, inside [requests])
            bad = lines[:3] + ["colour = red"] + lines[3:]
            check_config_error(h, "unknown key", write_config(h, "unknown-key.conf", "\n".join(bad)), lines_ok=(4,))
            # unknown section
            bad = lines + ["[bogus]", "x = 1"]
            # the section's line or its key's line
            check_config_error(h, "unknown section", write_config(h, "unknown-section.conf", "\n".join(bad)),
                               lines_ok=(len(lines) + 1, len(lines) + 2))
            # bad store kind
            n = next(i for i, x in enumerate(lines) if x.startswith("kind ="))
            bad = list(lines)
            bad[n] = "kind = mysql"
            check_config_error(h, "bad store kind", write_config(h, "bad-kind.conf", "\n".join(bad)), lines_ok=(n + 1,))
            # a number that is not one
            n = next(i for i, x in enumerate(lines) if x.startswith("workers ="))
            bad = list(lines)
            bad[n] = "workers = many"
            check_config_error(h, "workers not a number", write_config(h, "bad-workers.conf", "\n".join(bad)),
                               lines_ok=(n + 1,))
            # missing requests bucket
            bad = [x for x in lines if not x.startswith("bucket =")]
            path = write_config(h, "no-bucket.conf", "\n".join(bad))
            check_config_error(h, "missing requests bucket", path, must_name=path)
            # a file that does not exist
            path = os.path.join(h.workdir, "does-not-exist.conf")
            check_config_error(h, "config file does not exist", path, must_name=path)

    with h.case("check-config") as selected:
        if selected:
            good = write_config(h, "check-good.conf", config_text(h, "some-bucket", "dynamodb", "some-table"))
            run = h.run_widgetd(["-c", good, "-n"], name="check-good", timeout=30)
            out = run.stdout + run.stderr
            h.check(run.rc == 0 and "configuration OK" in out, "-n on a good file: 'configuration OK', exit 0",
                    "  exit %s, output %r" % (run.rc, out[:300]))
            bad = write_config(h, "check-bad.conf", config_text(h, "some-bucket", "nosql", "some-table"))
            run = h.run_widgetd(["-c", bad, "--check-config"], name="check-bad", timeout=30)
            h.check(run.rc == 78 and bad + ":" in run.stderr, "--check-config on a bad file: file:line, exit 78",
                    "  exit %s\n%s" % (run.rc, run.tail()))

    with h.case("check-config-terminal") as selected:
        if selected:
            # As systemd's tools: "<3>" prefixes are for a log reader; on a terminal the error is one plain line.
            bad = write_config(h, "check-tty.conf", config_text(h, "some-bucket", "nosql", "some-table"))
            out, rc = run_on_pty([h.widgetd, "-c", bad, "--check-config"], h.widgetd_env())
            lines = [x for x in out.replace("\r\n", "\n").split("\n") if x.strip()]
            h.check(rc == 78 and len(lines) == 1 and lines[0].startswith(bad + ":"),
                    "--check-config on a terminal: the error once, a plain line naming file:line, exit 78",
                    "  exit %s, output %r" % (rc, out[:600]))
            run = h.run_widgetd(["-c", bad, "--check-config"], name="check-pipe", timeout=30)
            errs = [x for x in run.stderr.split("\n") if x.strip()]
            h.check(run.rc == 78 and len(errs) == 1 and errs[0].startswith("<3>" + bad + ":") and not run.stdout,
                    "--check-config, stderr not a terminal: the error once on stderr, with its <3> prefix",
                    "  exit %s, stderr %r, stdout %r" % (run.rc, run.stderr[:400], run.stdout[:200]))

    with h.case("version-and-help") as selected:
        if selected:
            run = h.run_widgetd(["--version"], name="version", timeout=30)
            out = run.stdout + run.stderr
            h.check(run.rc == 0 and re.search(r"\d+\.\d+", out) is not None, "--version prints a version, exit 0",
                    "  exit %s, output %r" % (run.rc, out[:300]))
            run = h.run_widgetd(["-h"], name="help", timeout=30)
            out = run.stdout + run.stderr
            h.check(run.rc == 0 and "--once" in out, "-h prints usage naming --once, exit 0",
                    "  exit %s, output %r" % (run.rc, out[:300]))

    for store in ("s3", "dynamodb"):
        with h.case("empty-bucket-%s" % store) as selected:
            if selected:
                bucket = h.create_bucket("empty-req")
                name = h.create_store(store, "empty")
                run = h.run_widgetd(h.old_flags(bucket, store, name) + ["--once"], name="empty", timeout=60)
                h.check(run.rc == 0, "--once on an empty bucket exits 0 (%.2fs)" % run.elapsed,
                        "  exit %s%s\n%s" % (run.rc, " (timed out)" if run.timed_out else "", run.tail()))
                problems = [x for x in run.lines if not wdtest.PRIORITY_RE.match(x) or x.startswith(("<3>", "<4>"))]
                h.check(not problems, "no warning or error on an empty bucket", "\n".join(problems[:5]))

    for store in ("s3", "dynamodb"):
        with h.case("missing-store-%s" % store) as selected:
            if selected:
                deployment_fault(h, "missing %s store" % store, store, missing_store=True)

    with h.case("wrong-secret") as selected:
        if selected:
            deployment_fault(h, "wrong secret key", "s3", env=h.widgetd_env({"AWS_SECRET_ACCESS_KEY": "not-the-secret"}))

    h.finish()


def deployment_fault(h, what, store, missing_store=False, env=None):
    """A fault of the deployment, not of the requests: nothing dead-lettered, every request kept, exit 75,
    and logged once per episode rather than once per request."""
    bucket = h.create_bucket("fault-req")
    name = h.unique_name("absent") if missing_store else h.create_store(store, "fault")
    requests = small_requests()
    h.load(bucket, requests)
    run = h.run_widgetd(h.old_flags(bucket, store, name) + ["--once"], name="fault", env=env, timeout=300)
    h.check(run.rc == 75, "%s: --once exits 75 (EX_TEMPFAIL)" % what,
            "  exit %s%s after %.0fs\n%s" % (run.rc, " (timed out)" if run.timed_out else "", run.elapsed, run.tail()))
    left = set(h.list_keys(bucket))
    _, dead, _ = h.oracle(requests, store)
    bad = {k for k, _ in dead}
    valid = set(requests) - bad
    # A bad request may still be set aside (its content is the reason, not the fault); nothing else.
    allowed = set(requests) | {wdtest.DEAD_PREFIX + k for k in bad}
    h.check(valid <= left and left <= allowed, "%s: every valid request kept, no valid one dead-lettered" % what,
            "  missing %s; unexpected %s" % (sorted(valid - left)[:5], sorted(left - allowed)[:5]))
    errors = [x for x in run.lines if x.startswith(("<3>", "<2>", "<1>", "<0>"))]
    h.check(1 <= len(errors) <= 4, "%s: logged at error level, once per episode (not per request)" % what,
            "  %d error lines:\n%s" % (len(errors), "\n".join("    | " + x for x in errors[:8])))
    san = [x for x in run.lines if any(p in x for p in wdtest.SANITIZER_PATTERNS)]
    h.check(not san, "%s: no sanitizer report" % what, "  log: %s" % run.log_path)


if __name__ == "__main__":
    main()
