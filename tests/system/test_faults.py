#!/usr/bin/env python3
"""System test (SPEC 5, issue 7 fault tests 3-5): injected faults, wrong credentials, clock skew.

widgetd talks to the stand-ins through faultproxy.FaultProxy (one in front of s3rver, one in front of
the signature proxy of DynamoDB Local). Cases, each on both stores unless named otherwise:

  faults30-*     30 % of all requests get a fault of any kind (reset, truncated answer, stall, refused
                 connections, 503 SlowDown / 400 ThrottlingException); widgetd --once is run until it
                 exits 0 (75 means "run again"; at most 40 runs). Judged by the oracle.
  faults100-*    100 % faults (all kinds but refuse, whose attempts the proxy cannot see) on every call
                 the run needs after its LIST (S3 store: every S3 call but ListObjectsV2; DynamoDB store:
                 every DynamoDB call): --once exits 75, nothing is applied or dead-lettered by mistake,
                 nothing deleted; counted at the proxy: at most 3 attempts per call, at most 100 retries
                 in all (the 500-token retry quota at 5 a retry), and widgetd's own count of attempts
                 equals the proxy's. Then without faults a --once drains; judged.
  faults100-daemon  DynamoDB store, 100 % faults of every kind on DynamoDB for 10 s in daemon mode:
                 widgetd stays up, SIGTERM exits 0, its retries stay within the quota; then drained, judged.
  creds-*        a shared credentials file (AWS_SHARED_CREDENTIALS_FILE, no key in the environment) with
                 the wrong secret: daemon mode logs one auth error (not one per request), keeps everything;
                 the file rewritten + SIGHUP, and from then on for 5 s 403 InvalidAccessKeyId / 400
                 UnrecognizedClientException injected on every call that applies or deletes a request (S3
                 HEAD errors have no body, as S3's): one log line per episode (a success ends one),
                 nothing dead-lettered; then it recovers by itself; SIGTERM; judged.
  skew-*         the proxies play servers whose clock is 20 minutes off (S3 store: ahead; DynamoDB store:
                 behind; both services for the DynamoDB store): --once exits 0, no call needs more than
                 two attempts (one refusal for the skew at most), one log line about the clock; judged.
  skew-midrun    DynamoDB store, daemon mode: the servers' clock jumps 20 minutes ahead while 32
                 workers are busy: the same checks.

The DynamoDB skew cases put their own signature proxy (tests/system/standins/sigv4_proxy.py with
--max-skew 0) in front of DynamoDB Local: the shared one refuses a signature 15 minutes off by itself,
with the true time in its Date header, which is not the server being played here.
"""
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faultproxy as fx  # noqa: E402
import wdtest  # noqa: E402

SEED = 31
KINDS_COUNTED = ("reset", "truncate", "stall", "throttle")
REFUSE_S = 0.15          # a "refuse" fault stops the proxy listening this long (~100 requests/s: 5 % of them trigger it)
QUOTA_RETRIES = 100      # 500 tokens at 5 a retry (10 after a timeout: fewer)
# 32 calls in flight, not the default 256: with timeouts of 2 s, 256 calls at once through a Python proxy
# to s3rver on a loaded 2-core machine time out before the faults under test come into play.
DAEMON_OPTS = dict(poll_interval_ms=100, poll_max_interval_ms=1000, timeout_ms=2000, connect_timeout_ms=1000,
                   calls_in_flight=32)


def proxies(h, p=0.0, kinds=fx.ALL_KINDS, seed=SEED, ddb_upstream=None, **kw):
    kw.setdefault("refuse_s", REFUSE_S)
    s3p = fx.FaultProxy(h.env["WD_S3_ENDPOINT"], p=p, kinds=kinds, seed=seed, name="fp-s3", **kw)
    dp = fx.FaultProxy(ddb_upstream or h.env["WD_DDB_PROXY_ENDPOINT"], p=p, kinds=kinds, seed=seed + 1,
                       name="fp-ddb", **kw)
    return s3p.start(), dp.start()


def proxied_env(h, s3p, dp, **over):
    env = {"AWS_ENDPOINT_URL_S3": s3p.endpoint, "AWS_ENDPOINT_URL_DYNAMODB": dp.endpoint}
    env.update(over)
    return env


def setup(h, tag, store, requests, **conf_opts):
    bucket = h.create_bucket(tag + "-req")
    store_name = h.create_store(store, tag)
    h.load(bucket, requests, threads=32)
    conf = fx.write_config(os.path.join(h.workdir, tag + ".conf"), bucket, store, store_name,
                           **dict(DAEMON_OPTS, **conf_opts))
    return bucket, store_name, conf


def final_drain(h, tag, store, requests, bucket, store_name, what):
    """A --once without faults (direct to the stand-ins), then the oracle's judgement. Returns lost."""
    run = h.run_widgetd(h.old_flags(bucket, store, store_name) + ["--once"], name=tag + "-final")
    h.check(not run.timed_out and run.rc == 0, "final --once without faults exits 0", "  exit %s\n%s" % (run.rc, run.tail()))
    fx.check_log_clean(h, "final --once", run.stderr)
    _, lost = fx.judge_state(h, what, requests, bucket, store, store_name)
    h.check(lost == 0, "requests lost: %d" % lost)
    return lost


def fmt_injected(snaps):
    total = {}
    for s in snaps:
        for k, v in s["injected"].items():
            total[k] = total.get(k, 0) + v
    return ", ".join("%s %d" % (k, v) for k, v in total.items() if v) or "none", sum(total.values())


# ------------------------------------------------------------------------------------------------ 30 %

def case_faults30(h, store, figures):
    requests = fx.mixed_requests(h.shared_dir, h.args.count30, SEED, bad_every=100)
    bucket, store_name, conf = setup(h, "f30-" + store, store, requests)
    s3p, dp = proxies(h, p=0.3)
    try:
        env = h.widgetd_env(proxied_env(h, s3p, dp))
        rcs, t0 = [], time.monotonic()
        for i in range(h.args.max_runs):
            run = h.run_widgetd(["-c", conf, "--once"], name="f30-%s-%02d" % (store, i), env=env, timeout=300)
            rcs.append("timeout" if run.timed_out else run.rc)
            fx.check_log_clean(h, "--once run %d" % (i + 1), run.stderr)
            if run.timed_out or run.rc != 75:
                break
        elapsed = time.monotonic() - t0
    finally:
        s3p.stop()
        dp.stop()
    snaps = [s3p.snapshot(), dp.snapshot()]
    injected, n = fmt_injected(snaps)
    print("# faults30-%s: %d --once runs, exits %s, %.1fs; %d requests through the proxies, faults injected: %s"
          % (store, len(rcs), rcs, elapsed, snaps[0]["requests"] + snaps[1]["requests"], injected), flush=True)
    h.check(rcs and rcs[-1] == 0, "--once runs at 30 %% faults end with exit 0 within %d runs (75 = run again)"
            % h.args.max_runs, "  exits: %s" % rcs)
    h.check(all(rc in (0, 75) for rc in rcs), "every run exits 0 or 75", "  exits: %s" % rcs)
    h.check(all(snaps[0]["injected"][k] + snaps[1]["injected"][k] > 0 for k in fx.ALL_KINDS),
            "faults of every kind were injected (%s)" % injected)
    if rcs and rcs[-1] == 0:
        _, lost = fx.judge_state(h, "30 % faults", requests, bucket, store, store_name)
        h.check(lost == 0, "requests lost: %d" % lost)
    else:   # what is left is not lost: drain it without faults, then count what is missing
        lost = final_drain(h, "f30-" + store, store, requests, bucket, store_name, "30 % faults, then none")
    figures.append("faults30-%s: %d runs, faults injected %d (%s), requests lost %d, %.0fs"
                   % (store, len(rcs), n, injected, lost, elapsed))


# ------------------------------------------------------------------------------------------------ 100 %

def case_faults100_once(h, store, figures):
    requests = fx.mixed_requests(h.shared_dir, h.args.count100, SEED + 2, bad_every=50)
    bucket, store_name, conf = setup(h, "f100-" + store, store, requests)
    s3p, dp = proxies(h, p=0.0, kinds=KINDS_COUNTED)
    faulty = s3p if store == "s3" else dp
    if store == "s3":
        faulty.configure(p=1.0, match=lambda req: fx.FaultProxy.op_of(req) != "ListObjectsV2")
    else:
        faulty.configure(p=1.0)
    try:
        env = h.widgetd_env(proxied_env(h, s3p, dp))
        run = h.run_widgetd(["-c", conf, "--once"], name="f100-%s" % store, env=env, timeout=600)
    finally:
        s3p.stop()
        dp.stop()
    snap = faulty.snapshot()
    hist = faulty.call_history()
    fx.check_log_clean(h, "--once at 100 %", run.stderr)
    counts = fx.parse_exit_line(run.stderr) or {}
    h.check(not run.timed_out and run.rc == 75, "--once at 100 %% faults exits 75 (in %.1fs)" % run.elapsed,
            "  exit %s\n%s" % (run.rc, run.tail()))
    faulted = {k: v for k, v in hist.items() if v and v[0] != "fwd"}
    retries = sum(len(v) - 1 for v in faulted.values())
    # widgetd makes at most 3 attempts (a retry always on a fresh connection); libcurl resends once by
    # itself when a kept-alive connection dies before answering, which after the fresh-connection rule
    # can only follow a reset of the first attempt.
    # A call key is shared by calls that are alike (the same PutItem body sent by two runs of a request),
    # and libcurl's resend can only follow a reset: an attempt right after a reset may be libcurl's, so
    # widgetd made at least len(v) - (resets before the last attempt) of them.
    over = {k: v for k, v in faulted.items() if len(v) - sum(1 for x in v[:-1] if x == "reset") > 3}
    print("# faults100-%s: %d calls hit faults, %d attempts (%s), retries seen at the proxy %d; widgetd: %s"
          % (store, len(faulted), sum(len(v) for v in faulted.values()), snap["attempts_hist"], retries,
             {k: counts.get(k) for k in ("retries", "quota_refused", "failed", "attempts")}), flush=True)
    h.check(faulted, "calls were made into the faults (%d calls)" % len(faulted))
    h.check(not over, "no call reaches the server more than 3 times, plus libcurl's one resend after a reset on a "
            "kept-alive connection (max %d)" % max([len(v) for v in faulted.values()] or [0]),
            "  %d calls did, e.g. %s\n  (a reset on a reused keep-alive connection is sent again at once by libcurl itself:"
            " \"Connection died, retrying a fresh connect\", unseen by widgetd's count and quota)"
            % (len(over), list(over.items())[:3]))
    # The quota governs widgetd's retries; the proxy also sees libcurl's own resends after a reset, which
    # widgetd neither sees nor counts (at most one per reset of a reused connection).
    resends = sum(1 for v in faulted.values() for x in v[:-1] if x == "reset")
    h.check(counts.get("retries", 0) <= QUOTA_RETRIES and retries <= QUOTA_RETRIES + resends,
            "retries stop at the retry quota: widgetd %d, %d at the proxy for %d failing calls (<= %d, plus at "
            "most %d libcurl resends after resets; without a quota: %d)"
            % (counts.get("retries", 0), retries, len(faulted), QUOTA_RETRIES, resends, 2 * len(faulted)))
    want_ops = ("ListObjectsV2", "GetObject", "HeadObject", "PutObject", "CopyObject", "DeleteObject") if store == "s3" \
        else ("PutItem", "UpdateItem", "GetItem", "DeleteItem")
    theirs = sum(v for k, v in counts.get("calls", {}).items() if k in want_ops)
    h.check(0 < theirs <= snap["requests"], "widgetd's count of attempts (%d) is what reached the proxy (%d) at most; "
            "%d more reached it than widgetd counted" % (theirs, snap["requests"], snap["requests"] - theirs),
            "  exit line: %s" % counts)
    h.check(counts.get("applied", -1) == 0, "nothing applied through the faults (%s applied)" % counts.get("applied"))
    left = fx.intake_left(h, bucket)
    expected_dead = {k for k, _ in h.oracle(requests, store)[1]}
    letters = set(h.read_dead_letters(bucket))
    h.check(not (letters - expected_dead), "nothing dead-lettered for a fault", "  %s" % sorted(letters - expected_dead)[:5])
    h.check(set(left) | letters == set(requests), "every request is still in the bucket (or rightly dead-lettered)",
            "  missing: %s" % sorted(set(requests) - set(left) - letters)[:5])
    lost = final_drain(h, "f100-" + store, store, requests, bucket, store_name, "after 100 % faults")
    figures.append("faults100-%s: exit %s; %d failing calls, %d retries (quota %d), max %d attempts/call; faults "
                   "injected %d (%s); requests lost %d"
                   % (store, run.rc, len(faulted), retries, QUOTA_RETRIES,
                      max([len(v) for v in faulted.values()] or [0]), snap["injected_total"],
                      fmt_injected([snap])[0], lost))


def case_faults100_daemon(h, figures):
    store = "dynamodb"
    requests = fx.mixed_requests(h.shared_dir, h.args.count100, SEED + 3, bad_every=50)
    bucket, store_name, conf = setup(h, "f100d", store, requests)
    s3p, dp = proxies(h, p=0.0)
    dp.configure(p=1.0, kinds=fx.ALL_KINDS)
    d = None
    try:
        env = h.widgetd_env(proxied_env(h, s3p, dp))
        d = fx.Daemon(h.widgetd, ["-c", conf], env, os.path.join(h.workdir, "f100-daemon.log"))
        t0 = time.monotonic()
        up = True
        while time.monotonic() - t0 < h.args.daemon100:
            up &= d.alive()
            time.sleep(0.25)
        h.check(up and d.alive(), "widgetd stays up through %.0fs of 100 %% faults on DynamoDB" % h.args.daemon100,
                "  exit %s; log %s" % (d.proc.poll(), d.log_path))
        rc, t_stop = d.stop(timeout=120)
        h.check(rc == 0, "SIGTERM exits 0 (in %.1fs, with stalled calls in flight)" % t_stop, "  exit %s" % rc)
    finally:
        if d:
            d.ensure_dead()
        s3p.stop()
        dp.stop()
    text = d.log()
    fx.check_log_clean(h, "daemon at 100 %", text)
    counts = fx.parse_exit_line(text) or {}
    snap = dp.snapshot()
    ddb_attempts = sum(v for k, v in counts.get("calls", {}).items() if k in ("PutItem", "UpdateItem", "GetItem", "DeleteItem"))
    print("# faults100-daemon: widgetd %s; DynamoDB proxy saw %d requests, injected %s"
          % (counts, snap["requests"], fmt_injected([snap])[0]), flush=True)
    h.check(counts.get("applied", -1) == 0, "nothing applied", "  %s" % counts)
    # S3 has no faults, so every retry counted is a DynamoDB one, and no DynamoDB call succeeds to refill the quota.
    h.check(counts and counts["retries"] <= QUOTA_RETRIES + 2,
            "retries stay within the DynamoDB retry quota: %s (<= %d) for %d attempts"
            % (counts.get("retries"), QUOTA_RETRIES, ddb_attempts), "  %s" % counts)
    lost = final_drain(h, "f100d", store, requests, bucket, store_name, "after 100 % faults (daemon)")
    figures.append("faults100-daemon: up %.0fs, %d DynamoDB attempts, %s retries, %s refused by the quota; faults "
                   "injected %d (%s); requests lost %d"
                   % (h.args.daemon100, ddb_attempts, counts.get("retries"), counts.get("quota_refused"),
                      snap["injected_total"], fmt_injected([snap])[0], lost))


# ------------------------------------------------------------------------------------------------ credentials

AUTH_RE = re.compile(r"auth|SignatureDoesNotMatch|InvalidAccessKeyId|UnrecognizedClient|InvalidSignature|Forbidden|403",
                     re.IGNORECASE)


def write_credentials(path, secret):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("[default]\naws_access_key_id = S3RVER\naws_secret_access_key = %s\n" % secret)
    os.replace(tmp, path)


def auth_lines(text):
    return [x for x in text.split("\n") if x.startswith(("<3>", "<4>")) and AUTH_RE.search(x)]


SUCCESS_RE = re.compile(r"^<6>(created|updated|deleted) widget |^<4>.*widget not found; request done")


def repeated_auth_lines(text):
    """Auth error lines logged while an auth episode was already logged and no request had succeeded since:
    what "once per episode, not once per request" forbids. (A request that succeeds ends an episode.)"""
    out, in_episode = [], False
    for line in text.split("\n"):
        if SUCCESS_RE.match(line):
            in_episode = False
        elif line.startswith(("<3>", "<4>")) and AUTH_RE.search(line):
            if in_episode:
                out.append(line)
            in_episode = True
    return out


def case_creds(h, store, figures):
    requests = fx.mixed_requests(h.shared_dir, h.args.count_creds, SEED + 4, bad_every=50)
    tag = "creds-" + store
    bucket, store_name, conf = setup(h, tag, store, requests)
    cred = os.path.join(h.workdir, tag + ".credentials")
    write_credentials(cred, "not-the-secret")
    s3p, dp = proxies(h, p=0.0, kinds=("auth",))
    d = None
    try:
        env = h.widgetd_env(proxied_env(h, s3p, dp, AWS_SHARED_CREDENTIALS_FILE=cred),
                            drop=("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"))
        d = fx.Daemon(h.widgetd, ["-c", conf], env, os.path.join(h.workdir, tag + "-daemon.log"))
        # 1. the wrong secret
        fx.wait_until(lambda: auth_lines(d.log()) or not d.alive(), 60)
        time.sleep(5)     # several polls fail
        text = d.log()
        lines = auth_lines(text)
        h.check(d.alive(), "widgetd stays up with the wrong secret", "  exit %s; log %s" % (d.proc.poll(), d.log_path))
        h.check(len(lines) == 1, "the wrong secret: one auth error in the log (%d)" % len(lines),
                "\n".join("  | " + x for x in lines[:6]))
        h.check(len(fx.intake_left(h, bucket)) == len(requests) and not h.read_dead_letters(bucket),
                "the wrong secret: nothing taken, nothing dead-lettered")
        print("# creds-%s: wrong secret: %s" % (store, lines[:1]), flush=True)
        # 2. the right secret by SIGHUP, and at once 5 s in which every call that applies or deletes a request
        #    is refused (403 InvalidAccessKeyId / 400 UnrecognizedClientException; listing and reading work)
        write_credentials(cred, h.env["AWS_SECRET_ACCESS_KEY"])
        mark = len(d.log())
        s3p.configure(p=1.0, match=lambda req: fx.FaultProxy.op_of(req) not in ("ListObjectsV2", "GetObject"))
        dp.configure(p=1.0)
        t0 = time.monotonic()
        d.signal(signal.SIGHUP)
        time.sleep(5)
        s3p.configure(p=0.0)
        dp.configure(p=0.0)
        injected = s3p.snapshot()["injected"]["auth"] + dp.snapshot()["injected"]["auth"]
        time.sleep(1)
        window = auth_lines(d.log()[mark:])
        repeated = repeated_auth_lines(d.log()[mark:])
        print("# creds-%s: 5 s of auth refusals: %d refused calls, %d log lines (%d repeated within an episode): %s"
              % (store, injected, len(window), len(repeated), window[:2]), flush=True)
        h.check(injected > 0 and window, "%d calls refused with 403/400 auth errors in 5 s: logged (%d lines)"
                % (injected, len(window)))
        h.check(not repeated, "auth errors logged once per episode, not once per request: %d lines, %d of them "
                "repeating an episode no success had ended" % (len(window), len(repeated)),
                "\n".join("  | " + x[:220] for x in repeated[:8]))
        h.check(not h.read_dead_letters(bucket) or set(h.read_dead_letters(bucket)) <= {k for k, _ in h.oracle(requests, store)[1]},
                "nothing dead-lettered for an auth error")
        ok = fx.wait_until(lambda: not fx.intake_left(h, bucket) or not d.alive(), 240, 0.5)
        h.check(ok and d.alive(), "after the SIGHUP and the refusals: the bucket drains (%.1fs after the SIGHUP)"
                % (time.monotonic() - t0),
                "  %d left; log %s" % (len(fx.intake_left(h, bucket)), d.log_path))
        rc, _ = d.stop()
        h.check(rc == 0, "SIGTERM exits 0", "  exit %s" % rc)
    finally:
        if d:
            d.ensure_dead()
        s3p.stop()
        dp.stop()
    text = d.log()
    fx.check_log_clean(h, "daemon", text)
    h.check("reload" in text.lower(), "the log shows the reload")
    lost = final_drain(h, tag, store, requests, bucket, store_name, "after wrong credentials")
    figures.append("creds-%s: 1 wrong-secret episode, %d injected auth refusals, requests lost %d"
                   % (store, injected, lost))


# ------------------------------------------------------------------------------------------------ clock skew

CLOCK_RE = re.compile(r"\bclock", re.IGNORECASE)
SKEWED_RE = re.compile(r"RequestTimeTooSkewed|InvalidSignatureException|Signature expired|Signature not yet current")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Sigv4Proxy:
    """Our own tests/system/standins/sigv4_proxy.py in front of DynamoDB Local, without its age check."""

    def __init__(self, h):
        self.port = free_port()
        d = os.path.join(h.workdir, "sigv4-skew")
        os.makedirs(d, exist_ok=True)
        up = re.match(r"^http://[^:]+:(\d+)", h.env["WD_DDB_ENDPOINT"]).group(1)
        self.log = open(os.path.join(d, "proxy.log"), "ab")
        self.proc = subprocess.Popen([sys.executable, os.path.join(h.source_dir, "tests", "system", "standins",
                                                                   "sigv4_proxy.py"),
                                      "--port", str(self.port), "--upstream-port", up, "--dir", d, "--max-skew", "0"],
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        self.endpoint = "http://127.0.0.1:%d" % self.port

        def healthy():
            try:
                with urllib.request.urlopen(self.endpoint + "/__proxy/health", timeout=2) as r:
                    return r.status == 200
            except OSError:
                return False
        if not fx.wait_until(healthy, 30, 0.2):
            self.stop()
            raise wdtest.HarnessError("own sigv4_proxy did not come up")

    def stop(self):
        wdtest.end_process(self.proc)
        self.log.close()


def skew_checks(h, what, fps, text):
    """Recovery within two attempts per call and one warning. Returns (skew refusals, calls needing > 2)."""
    refusals, over, twice = 0, [], []
    for fp in fps:
        for key, hist in fp.call_history().items():
            n = hist.count("skew")
            refusals += n
            if n > 1:
                twice.append((key, hist))
            if n and len(hist) > 2 and "fwd" not in hist[:2]:
                over.append((key, hist))
    h.check(refusals > 0, "%s: the skewed servers refused signatures (%d)" % (what, refusals))
    h.check(not twice and not over, "%s: every call succeeds within two attempts (one refusal for the clock at most)"
            % what, "  refused twice: %d, e.g. %s\n  more than two attempts: %d, e.g. %s"
            % (len(twice), twice[:3], len(over), over[:3]))
    lines = [x for x in text.split("\n") if CLOCK_RE.search(x)]
    h.check(len(lines) == 1, "%s: one log line about the clock (%d)" % (what, len(lines)),
            "\n".join("  | " + x for x in lines[:8]))
    failed = [x for x in text.split("\n") if x.startswith(("<3>", "<4>")) and SKEWED_RE.search(x)]
    counts = fx.parse_exit_line(text) or {}
    h.check(not failed and counts.get("failed") == 0,
            "%s: no request failed because of the clock (%s failed attempts in all)" % (what, counts.get("failed")),
            "\n".join("  | " + x for x in failed[:8]))
    return refusals, len(twice) + len(over), lines


def case_skew(h, store, skew_s, figures):
    requests = fx.mixed_requests(h.shared_dir, h.args.count_skew, SEED + 5, bad_every=50)
    tag = "tz-" + store   # no "skew" or "clock" in bucket names: the log is searched for them
    bucket, store_name, conf = setup(h, tag, store, requests)
    sp = Sigv4Proxy(h) if store == "dynamodb" else None
    s3p, dp = proxies(h, ddb_upstream=sp.endpoint if sp else None, skew_s=skew_s)
    try:
        env = h.widgetd_env(proxied_env(h, s3p, dp))
        run = h.run_widgetd(["-c", conf, "--once"], name=tag, env=env)
    finally:
        s3p.stop()
        dp.stop()
        if sp:
            sp.stop()
    fx.check_log_clean(h, "--once", run.stderr)
    h.check(not run.timed_out and run.rc == 0, "--once against servers %+d s off exits 0" % skew_s,
            "  exit %s\n%s" % (run.rc, run.tail()))
    refusals, bad, lines = skew_checks(h, "%+d s" % skew_s, [s3p, dp], run.stderr)
    print("# skew-%s: %d refusals for the clock; log: %s" % (store, refusals, lines[:2]), flush=True)
    _, lost = fx.judge_state(h, "clock %+d s" % skew_s, requests, bucket, store, store_name)
    h.check(lost == 0, "requests lost: %d" % lost)
    figures.append("skew-%s (%+d s, %s): %d refusals for the clock, %d calls needing more than 2 attempts, %d clock "
                   "warnings, requests lost %d" % (store, skew_s, "S3" if store == "s3" else "S3 and DynamoDB",
                                                   refusals, bad, len(lines), lost))


def case_skew_midrun(h, figures):
    store = "dynamodb"
    requests = fx.mixed_requests(h.shared_dir, h.args.count_skew * 4, SEED + 6, bad_every=50)
    tag = "tzmid"
    bucket, store_name, conf = setup(h, tag, store, requests)
    sp = Sigv4Proxy(h)
    s3p, dp = proxies(h, ddb_upstream=sp.endpoint)
    d = None
    try:
        env = h.widgetd_env(proxied_env(h, s3p, dp))
        d = fx.Daemon(h.widgetd, ["-c", conf], env, os.path.join(h.workdir, tag + "-daemon.log"))
        target = len(requests) * 7 // 8
        ok = fx.wait_until(lambda: len(fx.intake_left(h, bucket)) <= target or not d.alive(), 120, 0.3)
        h.check(ok and d.alive(), "widgetd is working before the servers' clock jumps")
        s3p.configure(skew_s=1200)
        dp.configure(skew_s=1200)
        t0 = time.monotonic()
        ok = fx.wait_until(lambda: not fx.intake_left(h, bucket) or not d.alive(), 240, 0.5)
        h.check(ok and d.alive(), "the bucket drains after the clock jump (in %.1fs)" % (time.monotonic() - t0),
                "  log %s" % d.log_path)
        rc, _ = d.stop()
        h.check(rc == 0, "SIGTERM exits 0", "  exit %s" % rc)
    finally:
        if d:
            d.ensure_dead()
        s3p.stop()
        dp.stop()
        sp.stop()
    text = d.log()
    fx.check_log_clean(h, "daemon", text)
    refusals, bad, lines = skew_checks(h, "jump of +1200 s under load", [s3p, dp], text)
    print("# skew-midrun: %d refusals for the clock; log: %s" % (refusals, lines[:3]), flush=True)
    lost = final_drain(h, tag, store, requests, bucket, store_name, "after a clock jump")
    figures.append("skew-midrun (dynamodb, +1200 s while busy): %d refusals for the clock, %d calls needing more "
                   "than 2 attempts, %d clock warnings, requests lost %d" % (refusals, bad, len(lines), lost))


def main():
    h = wdtest.Harness(__doc__, extra_args=lambda p: (
        p.add_argument("--count30", type=int, default=60),
        p.add_argument("--count100", type=int, default=200),
        p.add_argument("--count-creds", type=int, default=200),
        p.add_argument("--count-skew", type=int, default=200),
        p.add_argument("--max-runs", type=int, default=40),
        p.add_argument("--daemon100", type=float, default=10.0)))
    figures = []

    def run(name, fn, *args):
        with h.case(name) as selected:
            if selected:
                t0, n = time.monotonic(), len(figures)
                try:
                    fn(h, *args, figures)
                finally:
                    print("# %s cost %.1fs" % (name, time.monotonic() - t0), flush=True)
                    if len(figures) > n:
                        figures[-1] += " [%.0fs]" % (time.monotonic() - t0)

    for store in ("s3", "dynamodb"):
        run("faults30-" + store, case_faults30, store)
    for store in ("s3", "dynamodb"):
        run("faults100-" + store, case_faults100_once, store)
    run("faults100-daemon", case_faults100_daemon)
    for store in ("s3", "dynamodb"):
        run("creds-" + store, case_creds, store)
    run("skew-s3", case_skew, "s3", 1200)
    run("skew-dynamodb", case_skew, "dynamodb", -1200)
    run("skew-midrun", case_skew_midrun)
    print("figures:\n" + "\n".join("  " + f for f in figures), flush=True)
    h.finish()


if __name__ == "__main__":
    main()
