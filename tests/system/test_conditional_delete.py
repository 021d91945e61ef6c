#!/usr/bin/env python3
"""System test: a request overwritten by the producer between widgetd's GET and DELETE is not deleted
unread (SPEC 5: nothing lost; issue 13 item 8). widgetd deletes a request with If-Match: the ETag of the
version it read, so only that version can go. s3rver and RGW ignore If-Match on DELETE, so the fault
proxy enforces it as S3 documents (conditions mode) and plays the producer: right after widgetd's GET of
request 0001 it writes a new version of 0001 (a create of another widget). The old version is applied,
its DELETE answered 412, the new version stays and is applied by a later poll of the same --once run.
Before the fix the unconditional DELETE removed the new version unread and its widget never appeared.
"""
import json
import os
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faultproxy as fx  # noqa: E402
import wdtest  # noqa: E402


def body(**fields):
    return json.dumps(fields).encode()


def case_overwritten(h, store):
    tag = "ifm-" + store
    bucket = h.create_bucket(tag + "-req")
    store_name = h.create_store(store, tag)
    requests = {
        "0001": body(type="create", requestId="r1", widgetId="w1", owner="Ann Lee", label="first"),
        "0002": body(type="update", requestId="r2", widgetId="w1", owner="Ann Lee", description="d"),
        "0003": body(type="create", requestId="r3", widgetId="w2", owner="Bo Chen"),
    }
    newer = body(type="create", requestId="r9", widgetId="w9", owner="Cy Diaz", label="written later")
    h.load(bucket, requests)
    s3 = h._s3_client(h.env["WD_S3_ENDPOINT"])
    overwritten = []

    def producer(path):
        key = urllib.parse.unquote(path.split("/", 2)[2]) if path.count("/") >= 2 else ""
        if path.split("/")[1] != bucket or key != "0001" or overwritten:
            return None
        overwritten.append(key)
        return s3.put_object(Bucket=bucket, Key=key, Body=newer)["ETag"]

    with fx.FaultProxy(h.env["WD_S3_ENDPOINT"], name="fp-ifmatch", conditions=True, after_get=producer) as fp:
        env = h.widgetd_env({"AWS_ENDPOINT_URL_S3": fp.endpoint})
        run = h.run_widgetd(h.old_flags(bucket, store, store_name) + ["--once"], name=tag, env=env)
        refused = fp.snapshot().get("precondition_failed", 0)
    h.check(overwritten == ["0001"], "the producer wrote 0001 again right after widgetd read it")
    h.check(refused >= 1, "the DELETE of the old version was conditional and refused (412: %d)" % refused,
            "  log: %s" % run.log_path)
    h.check(run.rc == 0 and not run.timed_out, "--once exits 0 (%s)" % run.rc, run.tail())
    # What the producer wrote, in effect: the old 0001 (applied first), 0002, 0003, then the new 0001.
    expected, _, _ = h.oracle(dict(requests, **{"0004-new-0001": newer}), store)
    d = h.diff_widgets(expected, h.read_store(store, store_name))
    h.check(not d, "the store holds both versions' effects (%d widgets)" % len(expected),
            "\n".join("  " + line for line in d) + "\n" + run.tail())
    left = h.list_keys(bucket)
    h.check(not left, "the requests bucket is drained", "  left: %s" % left)
    h.check(any(line.startswith("<4>") and "'0001'" in line and "overwritten" in line for line in run.lines),
            "a warning says request 0001 was overwritten after it was read", run.tail())


def main():
    h = wdtest.Harness(__doc__)
    for store in ("s3", "dynamodb"):
        with h.case("overwritten-between-get-and-delete-%s" % store) as selected:
            if selected:
                case_overwritten(h, store)
    h.finish()


if __name__ == "__main__":
    main()
