#!/usr/bin/env python3
"""System test: nothing an S3-compatible server (or anything on the path) answers is trusted for size
(SPEC 4-5, issue 13). Each case puts the fault proxy (faultproxy.py) between widgetd and s3rver and has it
answer as a broken or hostile server would; the outcome is judged by the oracle.

huge-error-answer: every GetObject of a request is answered 503 with a 320 KiB HTML page. Reading a
request stops at 256 KiB + 1 byte, and a body that large once passed for "request too large" before its
status was looked at: valid requests were dead-lettered. A 503 is transient whatever its size: the
first run (--once, faults on) must keep every request in the bucket and set none aside; a second run
without faults then applies them all.

overfull-listing: every ListObjectsV2 page comes back with 1,500 entries, more than the 1,000 that
widgetd asks for (invented keys added by the proxy). The batch was an array sized by max-keys, filled
with however many keys came back: a heap overflow (ASan). Now such a page is a server fault, transient:
nothing is read, applied or deleted, the failure is logged, and a run without the fault drains the bucket.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faultproxy as fx  # noqa: E402
import wdtest  # noqa: E402


def body(**fields):
    return json.dumps(fields).encode()


def requests_for(tag):
    return {
        "%s-0001" % tag: body(type="create", requestId="r1", widgetId="w1", owner="Ann Lee", label="one"),
        "%s-0002" % tag: body(type="update", requestId="r2", widgetId="w1", owner="Ann Lee", description="d"),
        "%s-0003" % tag: body(type="create", requestId="r3", widgetId="w2", owner="Bo Chen"),
        "%s-0004" % tag: b"{not json",
    }


def case_huge_error(h, store):
    tag = "huge-" + store
    requests = requests_for(tag)
    bucket = h.create_bucket(tag + "-req")
    store_name = h.create_store(store, tag)
    h.load(bucket, requests)
    with fx.FaultProxy(h.env["WD_S3_ENDPOINT"], p=1.0, kinds=("hugeerror",), name="fp-huge",
                       match=lambda req: fx.FaultProxy.op_of(req) == "GetObject") as fp:
        env = h.widgetd_env({"AWS_ENDPOINT_URL_S3": fp.endpoint})
        run = h.run_widgetd(h.old_flags(bucket, store, store_name) + ["--once"], name=tag + "-faulty", env=env)
        injected = fp.snapshot()["injected"]["hugeerror"]
    h.check(injected >= len(requests), "the proxy answered every read with a 320 KiB 503 (%d)" % injected)
    h.check(run.rc != 0 and not run.timed_out, "--once with every read failing exits non-zero (%s)" % run.rc,
            "  log: %s" % run.log_path)
    left = sorted(h.list_keys(bucket))
    dead = [k for k in left if k.startswith(wdtest.DEAD_PREFIX)]
    h.check(not dead, "no request set aside for a large error answer",
            "  dead letters: %s\n  log: %s" % (dead, run.log_path))
    h.check(sorted(requests) == [k for k in left if not k.startswith(wdtest.DEAD_PREFIX)],
            "every request is still in the bucket", "  left: %s" % left)
    h.check(not any("larger than" in line for line in run.lines), "no line calls a request too large",
            "  log: %s" % run.log_path)
    final = h.run_widgetd(h.old_flags(bucket, store, store_name) + ["--once"], name=tag + "-final")
    h.judge("after the faults (%s)" % store, requests, bucket, store, store_name, final)


def case_overfull(h, store):
    tag = "overfull-" + store
    requests = requests_for(tag)
    bucket = h.create_bucket(tag + "-req")
    store_name = h.create_store(store, tag)
    h.load(bucket, requests)
    with fx.FaultProxy(h.env["WD_S3_ENDPOINT"], p=1.0, kinds=("overfull",), name="fp-overfull",
                       match=lambda req: fx.FaultProxy.op_of(req) == "ListObjectsV2") as fp:
        env = h.widgetd_env({"AWS_ENDPOINT_URL_S3": fp.endpoint})
        run = h.run_widgetd(h.old_flags(bucket, store, store_name) + ["--once"], name=tag + "-faulty", env=env)
        snap = fp.snapshot()
    h.check(snap["injected"]["overfull"] >= 1, "the proxy sent over-full listings (%d)" % snap["injected"]["overfull"])
    san = [line for line in run.lines if any(p in line for p in wdtest.SANITIZER_PATTERNS)]
    h.check(not san, "no sanitizer report (no overflow)", "  %s\n  log: %s" % ("\n  ".join(san[:5]), run.log_path))
    h.check(run.rc not in (0, None) and run.rc > 0 and not run.timed_out,
            "--once exits with a failure code, not a crash (%s)" % run.rc, run.tail())
    h.check(snap["by_op"].get("GetObject", 0) == 0, "no request read from a page that cannot be trusted",
            "  calls: %s" % snap["by_op"])
    h.check(sorted(h.list_keys(bucket)) == sorted(requests), "every request is still in the bucket")
    h.check(any(line.startswith("<3>") and "list" in line for line in run.lines),
            "an error line says the requests bucket could not be listed", run.tail())
    final = h.run_widgetd(h.old_flags(bucket, store, store_name) + ["--once"], name=tag + "-final")
    h.judge("after the over-full listings (%s)" % store, requests, bucket, store, store_name, final)


def main():
    h = wdtest.Harness(__doc__)
    for store in ("s3", "dynamodb"):
        with h.case("huge-error-answer-%s" % store) as selected:
            if selected:
                case_huge_error(h, store)
    for store in ("s3", "dynamodb"):
        with h.case("overfull-listing-%s" % store) as selected:
            if selected:
                case_overfull(h, store)
    h.finish()


if __name__ == "__main__":
    main()
