#!/usr/bin/env python3
"""System test (SPEC 4-5, issue 16): a backlog of several pages runs on from page to page.

widgetd lists the next page of requests while the last requests of the current one are still being read
and applied (lib/consumer.c, lib/order.c wd_order_compact), so that a page's end costs no round trips. For
each store: 2,200 generated requests (three pages) (many per widget, so that widgets run across page ends; one malformed
per 100) go through a FaultProxy in front of s3rver that traces every request in order. The S3 store only:
the run-on is the same code for both stores (the DynamoDB store's own calls do not go through the proxy).

  run-on-s3          widgetd --once: the oracle judges the store, the bucket and the dead letters; and the
                     second ListObjectsV2 arrives before the last DELETE of a first-page request (a poll
                     that listed page by page would delete the whole first page first).
  run-on-faults-s3   the same in daemon mode with 15 % of the calls reset or throttled, and one
                     first-page request's reads failing through two tries, so that failed requests and
                     their holds leave the batch while it runs on: drained, oracle judged.
"""
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faultproxy as fx  # noqa: E402
import wdtest  # noqa: E402

COUNT = 2200  # three pages: the run-on crosses two page ends
SEED = 16
PAGE = 1000
ATTEMPTS = 3  # a call's attempts (lib/retry.c)


def first_page_keys(requests):
    return set(sorted(requests)[:PAGE])


def check_run_on(h, trace, requests, bucket):
    """The second page was listed before the first page was done."""
    lists = [i for i, (op, _t) in enumerate(trace) if op == "ListObjectsV2" and "/%s" % bucket in _t]
    first = first_page_keys(requests)
    deletes = [i for i, (op, t) in enumerate(trace)
               if op == "DeleteObject" and t.split("?")[0].rsplit("/", 1)[-1] in first]
    ok = h.check(len(lists) >= 3 and deletes, "the bucket was listed page by page (%d ListObjectsV2, %d DELETEs "
                 "of first-page requests)" % (len(lists), len(deletes)))
    if ok:
        h.check(lists[1] < deletes[-1], "the second page was listed before the first page was done "
                "(request %d of %d; the first page's last DELETE was request %d)"
                % (lists[1], len(trace), deletes[-1]))


def main():
    h = wdtest.Harness(__doc__, extra_args=lambda p: (
        p.add_argument("--count", type=int, default=COUNT), p.add_argument("--seed", type=int, default=SEED)))
    requests = fx.mixed_requests(h.shared_dir, h.args.count, h.args.seed, bad_every=100)
    for store in ("s3",):
        with h.case("run-on-%s" % store) as selected:
            if not selected:
                continue
            bucket = h.create_bucket("runon-%s-req" % store)
            store_name = h.create_store(store, "runon-%s" % store)
            h.load(bucket, requests, threads=32)
            with fx.FaultProxy(h.env["WD_S3_ENDPOINT"], service="s3", trace=True, name="paging") as proxy:
                env = h.widgetd_env({"AWS_ENDPOINT_URL_S3": proxy.endpoint})
                run = h.run_widgetd(h.old_flags(bucket, store, store_name) + ["--once"], name="runon-%s" % store,
                                    env=env)
                trace = list(proxy.trace)
            h.check(not run.timed_out and run.rc == 0, "--once exits 0 (in %.1fs)" % run.elapsed,
                    "  exit %s\n%s" % (run.rc, run.tail()))
            fx.check_log_clean(h, "--once", run.stderr)
            fx.judge_state(h, "run on, %s store" % store, requests, bucket, store, store_name)
            check_run_on(h, trace, requests, bucket)

    with h.case("run-on-faults-s3") as selected:
        if selected:
            store = "s3"
            bucket = h.create_bucket("runon-faults-req")
            store_name = h.create_store(store, "runon-faults")
            h.load(bucket, requests, threads=32)
            conf = fx.write_config(os.path.join(h.workdir, "runon-faults.conf"), bucket, store, store_name,
                                   poll_interval_ms=100, poll_max_interval_ms=500, timeout_ms=5000,
                                   connect_timeout_ms=1000, calls_in_flight=64)
            log_path = os.path.join(h.workdir, "runon-faults-daemon.log")
            # 15 % of all calls fail by chance; the GET of one first-page request fails for sure, for all
            # attempts of its first two tries, so that a failed request's hold is always in the batch.
            pinned, pinned_gets, rng = sorted(requests)[PAGE // 2], [0], random.Random(h.args.seed)

            def fault(req):
                method, path = req.start.split(" ")[:2]
                if method == "GET" and path.split("?")[0].endswith("/" + pinned):
                    pinned_gets[0] += 1
                    return pinned_gets[0] <= 2 * ATTEMPTS
                return rng.random() < 0.15

            with fx.FaultProxy(h.env["WD_S3_ENDPOINT"], service="s3", p=1.0, match=fault,
                               kinds=("reset", "throttle"), seed=h.args.seed, trace=True,
                               name="paging-faults") as proxy:
                d = fx.Daemon(h.widgetd, ["-c", conf], h.widgetd_env({"AWS_ENDPOINT_URL_S3": proxy.endpoint}),
                              log_path)
                try:
                    t0 = time.monotonic()
                    drained = fx.wait_until(lambda: not fx.intake_left(h, bucket) or not d.alive(), 300, 0.5)
                    h.check(drained and d.alive(), "widgetd drains the bucket through the faults (in %.1fs)"
                            % (time.monotonic() - t0), "  %d requests left; log %s"
                            % (len(fx.intake_left(h, bucket)), log_path))
                    rc, t_stop = d.stop()
                    h.check(rc == 0, "SIGTERM: exit 0 (in %.1fs)" % t_stop, "  exit %s; log %s" % (rc, log_path))
                finally:
                    d.ensure_dead()
                injected = proxy.snapshot()["injected_total"]
                trace = list(proxy.trace)
            text = d.log()
            fx.check_log_clean(h, "daemon", text)
            counts = fx.parse_exit_line(text) or {}
            h.check(injected > 0 and counts.get("failed", 0) >= 2 and pinned_gets[0] > 2 * ATTEMPTS,
                    "faults were injected (%d) and requests failed and were tried again (%s failed; request %s "
                    "read %d times)" % (injected, counts.get("failed"), pinned, pinned_gets[0]))
            fx.judge_state(h, "run on through faults", requests, bucket, store, store_name)
            check_run_on(h, trace, requests, bucket)
    h.finish()


if __name__ == "__main__":
    main()
