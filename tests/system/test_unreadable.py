#!/usr/bin/env python3
"""System test: requests that cannot be read or moved for a reason of their own (SPEC 5, issue 13 item 2).

A producer with only s3:PutObject can store a request nobody can read: in an archived storage class (GET
answers 403 InvalidObjectState) or encrypted with a customer-provided key (GET answers 400 InvalidRequest);
CopyObject fails for those too, and for an object over 5 GiB. The fault proxy (faultproxy.py,
unreadable=...) answers for chosen keys as AWS would. Each such request is a bad request that never holds
up the others: set aside by a marker at its dead-letter name (reason + original key), the original left
untouched and not read again. Judged by the oracle over the other requests (the set-aside ones count as
bad requests that never happened).

Per store (s3, dynamodb):
  unreadable-*  an archived, an SSE-C and a too-large-to-copy request between requests of the same widgets;
                --once exits 0, later requests applied, markers with reason and key, the originals still
                there; a second run (a restart) writes no new marker, logs no new error for them; an
                archived request is never read (the listing shows its class), the others at most once per
                process lifetime (one GET, then the marker's HEAD)
  long-name-*   a bad request whose dead-letter name would pass S3's 1,024-byte limit (the proxy answers
                KeyTooLongError as AWS does): set aside under a shortened unique name that fits, with the
                whole key in metadata
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faultproxy as fx  # noqa: E402
import wdtest  # noqa: E402

DEAD = wdtest.DEAD_PREFIX


def body(**fields):
    return json.dumps(fields).encode()


def head_meta(h, bucket, key):
    try:
        return h.s3.head_object(Bucket=bucket, Key=key).get("Metadata", {})
    except Exception as e:  # noqa: BLE001 - the check names what failed
        return {"<head failed>": str(e)}


def check_store(h, what, store, store_name, expected, run):
    actual = h.read_store(store, store_name)
    d = h.diff_widgets(expected, actual)
    h.check(not d, "%s: %s store equals the oracle's over the other requests (%d widgets)" % (what, store, len(expected)),
            "\n".join("  " + line for line in d) + "\n  log: %s" % run.log_path)


def case_unreadable(h, store):
    tag = "unr-%s-%s" % (h.s3_server, store)
    k = lambda n: "%s-%04d" % (tag, n)  # noqa: E731
    requests = {
        k(1): body(type="create", requestId="r1", widgetId="w1", owner="Ann Lee", label="one"),
        k(2): body(type="update", requestId="r2", widgetId="w1", owner="Ann Lee", label="archived"),
        k(3): body(type="update", requestId="r3", widgetId="w1", owner="Ann Lee", description="after"),
        k(4): body(type="create", requestId="r4", widgetId="w2", owner="Bo Chen", label="two"),
        k(5): body(type="update", requestId="r5", widgetId="w2", owner="Bo Chen", label="encrypted"),
        k(6): body(type="update", requestId="r6", widgetId="w2", owner="Bo Chen", description="later"),
        # Over 256 KiB: read as too large, so set aside by CopyObject, which S3 refuses (over 5 GiB there).
        k(7): body(type="update", requestId="r7", widgetId="w1", owner="Ann Lee", description="x" * 300_000),
        k(8): body(type="update", requestId="r8", widgetId="w1", owner="Ann Lee", label="last"),
        k(9): b"{not json",
    }
    unreadable = {k(2): "GLACIER", k(5): "SSE-C", k(7): "TOO_LARGE_TO_COPY"}
    causes = {k(2): ("archived storage class GLACIER", "archived storage class GLACIER"), k(5): ("customer-provided", "SSE-C"), k(7): ("too large", "CopyObject")}
    readable = {key: v for key, v in requests.items() if key not in unreadable}
    expected, dead, warnings = h.oracle(readable, store)

    bucket = h.create_bucket(tag + "-req")
    store_name = h.create_store(store, tag)
    h.load(bucket, requests)
    with fx.FaultProxy(h.s3_endpoint(), unreadable=unreadable, name="fp-" + tag) as fp:
        env = h.widgetd_env({"AWS_ENDPOINT_URL_S3": fp.endpoint})
        run = h.run_widgetd(h.old_flags(bucket, store, store_name) + ["--once"], name=tag + "-first", env=env)
        ops1 = fp.snapshot()["unreadable_ops"]
        listing = fp.snapshot()["by_op"].get("ListObjectsV2", 0)
        h.check(not run.timed_out and run.rc == 0, "%s: --once exits 0 (%s)" % (tag, run.rc),
                "  log: %s\n%s" % (run.log_path, run.tail()))
        check_store(h, tag, store, store_name, expected, run)
        left = sorted(x for x in h.list_keys(bucket) if not x.startswith(DEAD))
        h.check(left == sorted(unreadable), "%s: only the unreadable requests are left in the bucket" % tag,
                "  left: %s" % left)
        for key in unreadable:
            obj = h.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            h.check(obj == requests[key], "%s: %s is untouched" % (tag, key))
        letters = h.read_dead_letters(bucket)
        for key, why in dead:
            h.check(key in letters and letters[key][1] == requests[key] and letters[key][0],
                    "%s: bad request %s is dead-lettered as before (%s)" % (tag, key, why))
        for key, (word, word2) in causes.items():
            meta = head_meta(h, bucket, DEAD + key)
            reason = meta.get("widgetd-error", "")
            h.check(word.lower() in reason.lower() or word2.lower() in reason.lower(),
                    "%s: the marker %s%s names the cause (%s)" % (tag, DEAD, key, word), "  metadata: %r" % meta)
            h.check(meta.get("widgetd-original-key") == key, "%s: the marker holds the original key" % tag,
                    "  metadata: %r" % meta)
            gets = ops1.get(key, {}).get("GetObject", 0)
            # An archived class shows in the listing: no GET at all. The others are tried once.
            want = 0 if unreadable[key] in ("GLACIER", "DEEP_ARCHIVE") else 1
            h.check(gets == want, "%s: %s was read %d time(s) in the first run (%d GETs, %d listings)"
                    % (tag, key, want, gets, listing))
            h.check(any(line.startswith("<3>") and ("'%s'" % key) in line and "'%s%s'" % (DEAD, key) in line
                        for line in run.lines),
                    "%s: an error line names %s and its marker" % (tag, key), "  log: %s" % run.log_path)
        extra = set(letters) - {x for x, _ in dead} - set(unreadable)
        h.check(not extra, "%s: nothing else in the dead-letter location" % tag, "  extra: %s" % sorted(extra))
        stats = fx.parse_exit_line(run.stderr) or {}
        h.check(stats.get("applied") == len(readable) - len(dead) and stats.get("failed") == 0,
                "%s: the exit line counts %d applied and no failure" % (tag, len(readable) - len(dead)),
                "  %s" % stats)

        # A restart: new requests of the same widgets; the unreadable ones are not set aside again.
        later = {k(10): body(type="update", requestId="r10", widgetId="w2", owner="Bo Chen", label="restart")}
        h.load(bucket, later, verify=False)  # the unreadable ones and the dead letters are listed too
        markers_before = {key: h.s3.head_object(Bucket=bucket, Key=DEAD + key)["LastModified"] for key in unreadable}
        fp.reset_counters()
        run2 = h.run_widgetd(h.old_flags(bucket, store, store_name) + ["--once"], name=tag + "-restart", env=env)
        ops2 = fp.snapshot()["unreadable_ops"]
    h.check(not run2.timed_out and run2.rc == 0, "%s: the restart's --once exits 0 (%s)" % (tag, run2.rc),
            "  log: %s\n%s" % (run2.log_path, run2.tail()))
    expected2, _, _ = h.oracle(dict(readable, **later), store)
    check_store(h, tag + " restart", store, store_name, expected2, run2)
    for key in unreadable:
        gets = ops2.get(key, {}).get("GetObject", 0)
        want = 0 if unreadable[key] in ("GLACIER", "DEEP_ARCHIVE") else 1
        h.check(gets <= want, "%s: after the restart %s is read at most %d time(s) (%d GETs)" % (tag, key, want, gets))
        h.check(h.s3.head_object(Bucket=bucket, Key=DEAD + key)["LastModified"] == markers_before[key],
                "%s: the marker of %s is not written again" % (tag, key))
    h.check(not any(line.startswith("<3>") for line in run2.lines), "%s: the restart logs no error line" % tag,
            "  log: %s" % run2.log_path)


def case_long_name(h, store):
    tag = "long-%s-%s" % (h.s3_server, store)
    # 1,020 bytes: a valid key; "dead-letter/" + it is not. Slashes keep s3rver's file names short.
    long_key = "/".join(["%s-%03d" % (tag, i) + "x" * (90 - len(tag)) for i in range(11)])[:1020]
    requests = {
        tag + "-0001": body(type="create", requestId="r1", widgetId="w1", owner="Ann Lee", label="one"),
        long_key: b'{"type": "update", "widgetId": "w1"',
        tag + "-zz-0003": body(type="update", requestId="r3", widgetId="w1", owner="Ann Lee", label="after"),
    }
    readable = {key: v for key, v in requests.items() if key != long_key}
    expected, _, _ = h.oracle(readable, store)
    bucket = h.create_bucket(tag + "-req")
    store_name = h.create_store(store, tag)
    h.load(bucket, requests)
    with fx.FaultProxy(h.s3_endpoint(), key_limit=True, name="fp-" + tag) as fp:
        env = h.widgetd_env({"AWS_ENDPOINT_URL_S3": fp.endpoint})
        run = h.run_widgetd(h.old_flags(bucket, store, store_name) + ["--once"], name=tag, env=env)
        refused = fp.snapshot()["unreadable_ops"].get("<too long>", {})
    h.check(not run.timed_out and run.rc == 0, "%s: --once exits 0 (%s)" % (tag, run.rc),
            "  log: %s\n%s" % (run.log_path, run.tail()))
    h.check(not refused, "%s: no PUT or copy to a name over 1,024 bytes (%s)" % (tag, refused))
    check_store(h, tag, store, store_name, expected, run)
    left = [x for x in h.list_keys(bucket) if not x.startswith(DEAD)]
    h.check(not left, "%s: requests bucket drained" % tag, "  left: %s" % [x[:60] for x in left])
    names = h.list_keys(bucket, DEAD)
    h.check(len(names) == 1 and len(names[0].encode()) <= 1024, "%s: one dead letter, its name fits" % tag,
            "  names: %s" % [(n[:40], len(n.encode())) for n in names])
    if names:
        meta = head_meta(h, bucket, names[0])
        h.check(meta.get("widgetd-original-key") == long_key and meta.get("widgetd-error"),
                "%s: the dead letter holds the whole key and the reason" % tag, "  metadata: %r" % meta)
        got = h.s3.get_object(Bucket=bucket, Key=names[0])["Body"].read()
        h.check(got == requests[long_key], "%s: the dead letter holds the request's bytes" % tag)
        h.check(any(line.startswith("<3>") and names[0][:60] in line for line in run.lines),
                "%s: an error line names the shortened dead-letter name" % tag, "  log: %s" % run.log_path)


def main():
    h = wdtest.Harness(__doc__, rgw=True)
    # Copies, metadata, markers and dead letters are S3's wire format: on s3rver and on Ceph RGW.
    for server in h.s3_servers():
        h.use_s3(server)
        for store in ("s3", "dynamodb"):
            name = store if server == "s3rver" else "%s-rgw" % store
            with h.case("unreadable-%s" % name) as selected:
                if selected:
                    case_unreadable(h, store)
            with h.case("long-name-%s" % name) as selected:
                if selected:
                    case_long_name(h, store)
    h.use_s3("s3rver")
    h.finish()


if __name__ == "__main__":
    main()
