#!/usr/bin/env python3
"""System test: widgetd over TLS as AWS speaks it, through the stand-ins' TLS proxy (scripts/standins --tls:
nginx in front of s3rver and of the DynamoDB signature proxy, certificates from a throwaway CA that widgetd
is given with AWS_CA_BUNDLE).

- corpus-s3-tls, corpus-dynamodb-tls: the hand-written corpus drained over https into each store, judged by
  the oracle; every call widgetd counts went through the proxy, and on few connections: the proxy's count
  of TLS handshakes stays within 2 x calls in flight + 4 (the figures are printed).
- session-resumption: the S3 store through a TLS server that closes every connection after 4 requests, as
  a load balancer may: widgetd reconnects, and resumes its TLS sessions (full handshakes stay within
  calls in flight + 4; the others are resumed).
- refused-bad-ca, refused-wrong-name, refused-expired: the requests bucket behind a certificate widgetd
  must refuse (from a CA it was not given, for another host name, expired). widgetd, as a daemon, logs the
  refusal once, naming the endpoint and curl's reason, makes exactly one attempt per call (the proxy's
  count of connections equals widgetd's count of calls; no retries), keeps polling with back-off, stays up
  until told to stop, and leaves the requests as they were.
- refused-store: the same mid-pipeline: the requests are read over good TLS, the DynamoDB store is behind
  a certificate from the untrusted CA; every request is kept, the store stays empty, one log line.
"""
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wdtest  # noqa: E402
from test_corpus import corpus_for  # noqa: E402

CALLS_IN_FLIGHT = 256  # widgetd's default ([daemon] calls_in_flight)
S3_OPS = ("ListObjectsV2", "GetObject", "HeadObject", "PutObject", "CopyObject", "DeleteObject")
DDB_OPS = ("PutItem", "UpdateItem", "GetItem", "DeleteItem")
REASONS = {   # curl's words (OpenSSL's) for each refused certificate
    "bad-ca": "unable to get local issuer certificate",
    "wrong-name": "no alternative certificate subject name matches target host name '127.0.0.1'",
    "expired": "certificate has expired",
}


def exit_calls(lines):
    """({operation: count}, retries) from widgetd's exit line."""
    for line in lines:
        m = re.search(r"exiting: .*?(\d+) retries, .*calls: (.*)$", line)
        if m:
            calls = {}
            for part in m.group(2).split():
                op, _, n = part.partition("=")
                if n.isdigit():
                    calls[op] = int(n)
            return calls, int(m.group(1))
    return None, None


def generated(n, tag):
    """n valid creates of distinct widgets."""
    return {"%s-%04d" % (tag, i): ('{"type":"create","requestId":"r-%s-%d","widgetId":"w-%s-%d","owner":"Ann Lee",'
                                   '"label":"x%d"}' % (tag, i, tag, i, i)).encode() for i in range(n)}


def run_daemon(h, args, env, seconds, name):
    """widgetd as a daemon for `seconds`, then SIGTERM. Returns (alive before the signal, WidgetdRun)."""
    log_path = os.path.join(h.workdir, "%s-%d.log" % (name, time.time_ns()))
    t0 = time.monotonic()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([h.widgetd] + args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=log, env=env, start_new_session=True)
        try:
            time.sleep(seconds)
            alive = proc.poll() is None
            if alive:
                proc.send_signal(signal.SIGTERM)
            try:
                rc = proc.wait(timeout=30)
                timed_out = False
            except subprocess.TimeoutExpired:
                timed_out = True
                os.killpg(proc.pid, signal.SIGKILL)
                rc = proc.wait()
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    with open(log_path, "rb") as f:
        stderr = f.read().decode("utf-8", "replace")
    return alive, wdtest.WidgetdRun(args, rc, stderr, "", time.monotonic() - t0, timed_out, log_path)


def untouched(h, bucket, requests):
    """Problems if the bucket no longer holds exactly the requests loaded, byte for byte."""
    keys = set(h.list_keys(bucket))
    problems = []
    if keys != set(requests):
        problems.append("bucket lists %d keys, %d loaded; missing %s, extra %s" % (
            len(keys), len(requests), sorted(set(requests) - keys)[:5], sorted(keys - set(requests))[:5]))
    for k in sorted(keys & set(requests)):
        body = h.s3.get_object(Bucket=bucket, Key=k)["Body"].read()
        if body != requests[k]:
            problems.append("%s changed" % k)
    return problems


def corpus_case(h, store):
    requests = corpus_for(store)
    h.use_tls()
    mark = h.tls_mark()
    run = h.drain_and_judge("corpus over TLS, %s store" % store, store, requests, tag="tls-" + store)
    h.use_tls(False)
    calls, retries = exit_calls(run.lines)
    h.check(calls is not None, "widgetd's exit line names its calls", run.tail())
    calls = calls or {}
    s3 = h.tls_traffic("s3", mark)
    s3_calls = sum(calls.get(op, 0) for op in S3_OPS)
    print("# TLS, %s store: S3 %s for widgetd's %d S3 calls" % (store, s3, s3_calls), flush=True)
    h.check(s3.requests == s3_calls and s3_calls > 0,
            "every S3 call went through the TLS proxy (%d requests, %d calls)" % (s3.requests, s3_calls))
    # Kept alive, a connection serves call after call: at most one per call in flight (the first burst of
    # reads opens them), and fewer handshakes than calls.
    bound = min(CALLS_IN_FLIGHT + 4, s3_calls - 1)
    h.check(0 < s3.connections <= bound,
            "S3 connections reused: %d TLS handshakes for %d calls (at most %d)" % (s3.connections, s3_calls, bound))
    if store == "dynamodb":
        ddb = h.tls_traffic("ddb", mark)
        ddb_calls = sum(calls.get(op, 0) for op in DDB_OPS)
        print("# TLS, dynamodb store: DynamoDB %s for widgetd's %d DynamoDB calls" % (ddb, ddb_calls), flush=True)
        h.check(ddb.requests == ddb_calls and ddb_calls > 0,
                "every DynamoDB call went through the TLS proxy (%d requests, %d calls)" % (ddb.requests, ddb_calls))
        bound = min(CALLS_IN_FLIGHT + 4, ddb_calls - 1)
        h.check(0 < ddb.connections <= bound, "DynamoDB connections reused: %d TLS handshakes for %d calls "
                "(at most %d)" % (ddb.connections, ddb_calls, bound))


def resumption_case(h):
    requests = generated(80, "resume")
    h.use_tls()
    env = h.widgetd_env({"AWS_ENDPOINT_URL_S3": h.tls_endpoint("s3-short")})
    h.use_tls(False)
    mark = h.tls_mark()
    run = h.drain_and_judge("reconnecting over TLS", "s3", requests, tag="tls-resume", env=env)
    seen = h.tls_traffic("s3-short", mark)
    calls, _ = exit_calls(run.lines)
    s3_calls = sum((calls or {}).get(op, 0) for op in S3_OPS)
    full = seen.connections - seen.resumed
    print("# TLS, connections closed after 4 requests: %s for widgetd's %d calls: %d full handshakes"
          % (seen, s3_calls, full), flush=True)
    h.check(seen.requests == s3_calls and seen.connections >= s3_calls // 4,
            "every call through the proxy, on connections of at most 4 requests (%d calls, %d connections)"
            % (s3_calls, seen.connections))
    bound = CALLS_IN_FLIGHT + 4
    h.check(seen.resumed > 0 and full <= bound,
            "reconnections resume the TLS session: %d full handshakes (at most %d), %d resumed"
            % (full, bound, seen.resumed))


def refused_list_case(h, kind):
    """The requests bucket behind a certificate widgetd must refuse."""
    requests = generated(5, kind)
    bucket = h.create_bucket("tls-" + kind)
    store = h.create_store("s3", "tls-" + kind)
    h.load(bucket, requests)
    endpoint = h.tls_endpoint(kind)
    env = h.widgetd_env({"AWS_ENDPOINT_URL_S3": endpoint, "AWS_CA_BUNDLE": h.env["WD_TLS_CA"]})
    mark = h.tls_mark()
    alive, run = run_daemon(h, h.old_flags(bucket, "s3", store), env, 2.0, "refused-" + kind)
    seen = h.tls_traffic(kind, mark)
    calls, retries = exit_calls(run.lines)
    lists = (calls or {}).get("ListObjectsV2", 0)
    print("# %s: widgetd made %s ListObjectsV2 calls, %s retries; the proxy saw %d connections, %d requests"
          % (kind, lists, retries, seen.error_connections, seen.requests), flush=True)
    h.check(alive, "widgetd still running after 2 s of refused certificates", run.tail())
    h.check(not run.timed_out and run.rc == 0, "widgetd stops on SIGTERM with exit 0 (got %s)" % run.rc, run.tail())
    want = "TLS certificate of %s refused: SSL" % endpoint
    refusals = [line for line in run.lines if want in line]
    h.check(len(refusals) == 1 and refusals[0].startswith("<3>cannot list the requests bucket: config error: ")
            and REASONS[kind] in refusals[0],
            "one error line names the endpoint and the reason (%s)" % REASONS[kind],
            "  lines with %r: %s\n%s" % (want, refusals, run.tail()))
    h.check(retries == 0 and lists >= 2, "several polls, no retries (%s calls, %s retries)" % (lists, retries),
            run.tail())
    h.check(seen.error_connections == lists and seen.requests == 0,
            "exactly one attempt at the proxy per call: %d connections for %d calls, no request passed"
            % (seen.error_connections, lists), "\n".join("  | " + line for line in seen.error_lines[-8:]))
    problems = untouched(h, bucket, requests)
    h.check(not problems, "the requests are untouched", "\n".join("  " + p for p in problems))
    h.check(not h.read_store("s3", store), "the store is empty")
    h.check(not any(p in line for line in run.lines for p in wdtest.SANITIZER_PATTERNS), "no sanitizer report",
            run.tail())


def refused_store_case(h):
    """Requests read over good TLS, the DynamoDB store behind a certificate from the untrusted CA."""
    requests = generated(6, "store")
    bucket = h.create_bucket("tls-store")
    table = h.create_store("dynamodb", "tls-store")
    h.load(bucket, requests)
    h.use_tls()
    endpoint = h.tls_endpoint("bad-ca")
    env = h.widgetd_env({"AWS_ENDPOINT_URL_DYNAMODB": endpoint})
    h.use_tls(False)
    mark = h.tls_mark()
    alive, run = run_daemon(h, h.old_flags(bucket, "dynamodb", table), env, 3.0, "refused-store")
    seen = h.tls_traffic("bad-ca", mark)
    calls, retries = exit_calls(run.lines)
    writes = sum((calls or {}).get(op, 0) for op in DDB_OPS)
    print("# store behind bad-ca: widgetd made %d DynamoDB calls, %s retries; the proxy saw %d connections"
          % (writes, retries, seen.error_connections), flush=True)
    h.check(alive, "widgetd still running after 3 s of a refused store", run.tail())
    h.check(not run.timed_out and run.rc == 0, "widgetd stops on SIGTERM with exit 0 (got %s)" % run.rc, run.tail())
    want = "TLS certificate of %s refused: SSL certificate problem: %s" % (endpoint, REASONS["bad-ca"])
    refusals = [line for line in run.lines if "TLS certificate of" in line]
    h.check(len(refusals) == 1 and want in refusals[0] and refusals[0].startswith("<4>request ")
            and "kept in the bucket" in refusals[0],
            "one warning for the episode names the endpoint and the reason", "  %s\n%s" % (refusals, run.tail()))
    h.check(retries == 0 and writes >= len(requests),
            "every request tried, none retried within a call (%d calls, %s retries)" % (writes, retries), run.tail())
    h.check(seen.error_connections == writes and seen.requests == 0,
            "exactly one attempt at the proxy per call: %d connections for %d calls" % (seen.error_connections, writes))
    problems = untouched(h, bucket, requests)
    h.check(not problems, "the requests are untouched", "\n".join("  " + p for p in problems))
    h.check(not h.read_store("dynamodb", table), "the store is empty")


def main():
    h = wdtest.Harness(__doc__, tls=True)
    for store in ("s3", "dynamodb"):
        with h.case("corpus-%s-tls" % store) as selected:
            if selected:
                corpus_case(h, store)
    with h.case("session-resumption") as selected:
        if selected:
            resumption_case(h)
    for kind in ("bad-ca", "wrong-name", "expired"):
        with h.case("refused-" + kind) as selected:
            if selected:
                refused_list_case(h, kind)
    with h.case("refused-store") as selected:
        if selected:
            refused_store_case(h)
    h.finish()


if __name__ == "__main__":
    main()
