#!/usr/bin/env python3
"""System test: outside strings never shape the log (SPEC 7, issue 13 item 3). The producer chooses
request keys, request IDs and widget IDs; each reaches log lines (applied, not found, dead-lettered,
ignored attribute). A newline followed by "<0>" would make journald's stream reader file a forged line
at emergency priority; ESC sequences would drive an operator's terminal. Every line must be one line
at widgetd's own priority (3, 4, 5 or 6 here), hold no control character, and show each hostile value
escaped. The store is judged by the oracle as usual.

s3rver lists keys raw (it ignores encoding-type=url) and escapes '<', '>' and "'" in listings twice, and
XML 1.0 cannot carry ESC or CR: the hostile keys here hold LF (the next line then has no priority prefix,
so journald would file it as a line of its own), double quotes and backslashes, which s3rver stores and
lists faithfully; "<0>", ESC, CR and C1 controls travel in request IDs, widget IDs and attribute names
(JSON escapes), which every store carries. On Ceph RGW, which lists URL-encoded keys faithfully, the keys
themselves hold "\\n<0>", CR, ESC and C1 controls.
"""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faultproxy as fx  # noqa: E402
import wdtest  # noqa: E402

CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\x80-\x9f]")  # any C0 but TAB, DEL, C1


def body(**fields):
    return json.dumps(fields).encode()


def rgw_requests():
    """Keys only a faithful S3 holds and lists (URL-encoded): the issue's own "\\n<0>..." and ESC, CR, C1."""
    forged = "\n<0>FORGED emergency line\r\n<1>\x1b[2J\x1b]0;t\x07\u009b"
    return {
        "0001-create" + forged: body(type="create", requestId="r1", widgetId="w1", owner="Ann Lee"),
        "0002-bad" + forged: b"{not json",
        "0003-missing <2>" + forged: body(type="delete", requestId="r3", widgetId="nowhere", owner="Ann Lee"),
        "0004-update" + forged: body(type="update", requestId="r4", widgetId="w1", owner="Ann Lee", label="x"),
    }


def hostile_requests():
    forged = "\nFORGED line: all widgets deleted\n"
    return {
        # Valid create whose request ID holds a forged line and a terminal escape.
        "0001-create" + forged: body(type="create", requestId="r1\n<0>FORGED\x1b[2J", widgetId="w1",
                                     owner="Ann Lee", label="one"),
        # Bad JSON under a hostile key: dead-lettered, and the dead-letter name repeats the key.
        "0002-bad" + forged: b"{not json",
        # A bad widget ID (control characters) under a key with quotes and a backslash.
        "0003-bad-id \"\\": body(type="create", requestId="r3", widgetId="w\x1b]0;title\x07", owner="Ann Lee"),
        # Update of a missing widget: a warning line names it.
        "0004-missing" + forged: body(type="update", requestId="r4\r\n<2>x", widgetId="nowhere' \\",
                                      owner="Ann Lee"),
        # A reserved attribute name on DynamoDB: a warning names the attribute.
        "0005-reserved": body(type="update", requestId="r5", widgetId="w1", owner="Ann Lee",
                              otherAttributes=[{"name": "owner", "value": "x"},
                                               {"name": "n\n<0>FORGED\x1b[1m", "value": "v"}]),
        "0006-delete" + forged: body(type="delete", requestId="r6\x9b2J", widgetId="w1", owner="Ann Lee"),
    }


def case_server_errors(h, store):
    """A server (or anything on the path) answers errors whose code and message hold forged lines and
    terminal escapes: they reach the failure line, the episode's end and STATUS's last error."""
    tag = "evil-" + store
    requests = {"0001": body(type="create", requestId="r1", widgetId="w1", owner="Ann Lee"),
                "0002": body(type="create", requestId="r2", widgetId="w2", owner="Bo Chen")}
    bucket = h.create_bucket(tag + "-req")
    store_name = h.create_store(store, tag)
    h.load(bucket, requests)
    ops = ("GetObject",) if store == "s3" else ("PutItem",)
    s3p = fx.FaultProxy(h.env["WD_S3_ENDPOINT"], p=1.0, kinds=("evilerror",), name="fp-evil-s3",
                        match=lambda req: fx.FaultProxy.op_of(req) in ops)
    dp = fx.FaultProxy(h.env["WD_DDB_PROXY_ENDPOINT"], p=1.0, kinds=("evilerror",), name="fp-evil-ddb",
                       match=lambda req: fx.FaultProxy.op_of(req) in ops)
    with s3p, dp:
        env = h.widgetd_env({"AWS_ENDPOINT_URL_S3": s3p.endpoint, "AWS_ENDPOINT_URL_DYNAMODB": dp.endpoint})
        run = h.run_widgetd(h.old_flags(bucket, store, store_name) + ["--once"], name=tag, env=env)
        injected = s3p.snapshot()["injected_total"] + dp.snapshot()["injected_total"]
    lines = run.lines
    h.check(injected >= 2, "the proxies answered with forged error texts (%d)" % injected)
    h.check(any("FORGED" in line for line in lines), "the server's error text is shown", run.tail())
    bad = [line for line in lines if not re.match(r"^<[3-7]>", line) or CONTROL.search(line)
           or "\u2028" in line or "\u202e" in line]
    h.check(not bad, "every line is one line at widgetd's own priority, without control characters",
            "  %s\n  log: %s" % ("\n  ".join(repr(line) for line in bad[:5]), run.log_path))


def main():
    h = wdtest.Harness(__doc__, rgw=True)
    for store in ("s3", "dynamodb"):
        with h.case("hostile-strings-%s" % store) as selected:
            if not selected:
                continue
            requests = hostile_requests()
            run = h.drain_and_judge("hostile strings (%s)" % store, store, requests, tag="inject-" + store)
            lines = run.lines
            forged = [line for line in lines if re.match(r"^<[0-2]>", line) or "FORGED" in line[:12]]
            h.check(not forged, "no log line at priority 0-2, none starting with injected text",
                    "  %s\n  log: %s" % ("\n  ".join(repr(line) for line in forged[:5]), run.log_path))
            controls = [line for line in lines if CONTROL.search(line)]
            h.check(not controls, "no control character (ESC, CR, C1 ...) in any log line",
                    "  %s\n  log: %s" % ("\n  ".join(repr(line) for line in controls[:5]), run.log_path))
            dead_line = [line for line in lines if "0002-bad" in line]
            h.check(dead_line and all("\\x0AFORGED line" in line for line in dead_line),
                    "the dead-lettered request's key and dead-letter name are shown escaped",
                    "  %s" % "\n  ".join(repr(line) for line in dead_line[:3]))
            shown = "\n".join(lines)
            h.check("0003-bad-id \"\\x5C" in shown, "backslashes of a key are escaped",
                    "  log: %s" % run.log_path)
    h.use_s3("rgw")
    for store in ("s3", "dynamodb"):
        with h.case("hostile-keys-rgw-%s" % store) as selected:
            if not selected:
                continue
            run = h.drain_and_judge("hostile keys on RGW (%s)" % store, store, rgw_requests(), tag="inj-rgw-" + store)
            lines = run.lines
            forged = [line for line in lines if re.match(r"^<[0-2]>", line) or "FORGED" in line[:12]]
            h.check(not forged, "RGW: no log line at priority 0-2, none starting with injected text",
                    "  %s\n  log: %s" % ("\n  ".join(repr(line) for line in forged[:5]), run.log_path))
            controls = [line for line in lines if CONTROL.search(line)]
            h.check(not controls, "RGW: no control character in any log line",
                    "  %s\n  log: %s" % ("\n  ".join(repr(line) for line in controls[:5]), run.log_path))
            h.check(any("moved to" in line and "\\x0A<0>FORGED" in line for line in lines),
                    "RGW: the dead-letter name is shown escaped", "  log: %s" % run.log_path)
    h.use_s3("s3rver")
    for store in ("s3", "dynamodb"):
        with h.case("hostile-server-errors-%s" % store) as selected:
            if selected:
                case_server_errors(h, store)
    h.finish()


if __name__ == "__main__":
    main()
