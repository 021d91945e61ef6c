#!/usr/bin/env python3
"""System test (issue 7, bad input): a 20,000-request run under LeakSanitizer, file descriptors flat.

widgetd (the ASan build; ASAN_OPTIONS=detect_leaks=1, which the harness sets) runs in daemon mode on
the DynamoDB store (the S3 store costs s3rver twice the CPU per request). 20,000 generated requests,
one malformed per 500, all loaded before widgetd starts (s3rver lists an object, and serves it empty,
while its PUT is still being written, which S3 never does; a producer writing while widgetd runs would
get requests dead-lettered as empty here). Every second the number of open file
descriptors (/proc/PID/fd) is sampled: after a 10 s warm-up it must stay within 40 of its minimum and
not drift up (the last fifth of the samples no higher on average than the first fifth + 10). Once the
bucket is empty: SIGTERM, exit 0, no LeakSanitizer (or other sanitizer) report; a final --once finds
nothing to do; the oracle judges the store, the intake and the dead letters. Prints what it cost.
"""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faultproxy as fx  # noqa: E402
import wdtest  # noqa: E402

COUNT = 20000
SEED = 41
WARMUP_S = 10
FD_SPREAD = 40


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def main():
    h = wdtest.Harness(__doc__, extra_args=lambda p: (
        p.add_argument("--count", type=int, default=COUNT), p.add_argument("--seed", type=int, default=SEED),
        p.add_argument("--store", choices=("s3", "dynamodb"), default="dynamodb")))
    store = h.args.store
    with h.case("soak-%s" % store) as selected:
        if selected:
            soak(h, store)
    h.finish()


def soak(h, store):
    t_case = time.monotonic()
    requests = fx.mixed_requests(h.shared_dir, h.args.count, h.args.seed, bad_every=500)
    keys = sorted(requests)
    bucket = h.create_bucket("soak-req")
    store_name = h.create_store(store, "soak")
    t0 = time.monotonic()
    h.load(bucket, requests, threads=32)
    t_preload = time.monotonic() - t0
    print("# loaded %d requests in %.1fs" % (len(keys), t_preload), flush=True)
    # 32 calls in flight: the kept-alive connections (up to two per call in flight, one to each host) are
    # all open within seconds, so a growing count of open files after that is a leak. At the default 256,
    # bursts big enough to open the last of them come minutes apart, and look like one.
    conf = fx.write_config(os.path.join(h.workdir, "soak.conf"), bucket, store, store_name,
                           poll_interval_ms=100, poll_max_interval_ms=1000, calls_in_flight=32)

    d = fx.Daemon(h.widgetd, ["-c", conf], h.widgetd_env(), os.path.join(h.workdir, "soak-daemon.log"))
    samples = []   # (seconds since start, fds, rss kB)
    try:
        t_start = time.monotonic()
        last_check, drained = 0.0, False
        while d.alive():
            time.sleep(1.0)
            now = time.monotonic() - t_start
            fds = d.fd_count()
            if fds is not None:
                samples.append((now, fds, rss_kb(d.pid)))
            if now - last_check >= 3:
                last_check = now
                if not h.any_request_left(bucket):
                    drained = True
                    break
            if now > h.args.timeout:
                break
        t_drain = time.monotonic() - t_start
        h.check(drained and d.alive(), "the daemon drained %d requests (%.1fs after it started)" % (len(keys), t_drain),
                "  %s; log %s" % ("running" if d.alive() else "exited %s" % d.proc.poll(), d.log_path))
        fd_before_stop = d.fd_count()
        rc, t_stop = d.stop(timeout=120)
        h.check(rc == 0, "SIGTERM: exit 0 (in %.1fs)" % t_stop, "  exit %s; log %s" % (rc, d.log_path))
    finally:
        d.ensure_dead()

    text = d.log()
    fx.check_log_clean(h, "daemon (LeakSanitizer at exit)", text)
    h.check("LeakSanitizer" not in text and "detected memory leaks" not in text, "no leak report at exit")
    counts = fx.parse_exit_line(text) or {}
    print("# exit line: %s" % counts, flush=True)

    warm = [s for s in samples if s[0] >= WARMUP_S]
    fds = [s[1] for s in warm]
    if len(fds) >= 10:
        n = max(1, len(fds) // 5)
        first, last = sum(fds[:n]) / n, sum(fds[-n:]) / n
        spread = max(fds) - min(fds)
        h.check(spread <= FD_SPREAD, "open fds stay flat after %ds: min %d, max %d (spread <= %d), %d samples"
                % (WARMUP_S, min(fds), max(fds), FD_SPREAD, len(fds)),
                "  samples (s, fds): %s" % [(round(t), f) for t, f, _ in warm][::max(1, len(warm) // 40)])
        h.check(last <= first + 10, "no upward drift of open fds: first fifth %.1f, last fifth %.1f" % (first, last))
    else:
        h.check(False, "enough fd samples after the warm-up (%d)" % len(fds))
    rss = [s[2] for s in warm if s[2]]
    print("# fds: %s; RSS MB first/max/last: %s; fds just before SIGTERM: %s"
          % ("min %d max %d" % (min(fds), max(fds)) if fds else "-",
             "%.0f/%.0f/%.0f" % (rss[0] / 1024, max(rss) / 1024, rss[-1] / 1024) if rss else "-", fd_before_stop),
          flush=True)

    run = h.run_widgetd(h.old_flags(bucket, store, store_name) + ["--once"], name="soak-final")
    h.check(not run.timed_out and run.rc == 0, "the final --once exits 0", "  exit %s\n%s" % (run.rc, run.tail()))
    fx.check_log_clean(h, "final --once", run.stderr)
    t0 = time.monotonic()
    _, lost = fx.judge_state(h, "%d requests in daemon mode" % len(keys), requests, bucket, store, store_name)
    h.check(lost == 0, "requests lost: %d" % lost)
    print("soak-%s: %d requests (loaded in %.0fs), drained %.0fs after start (%.0f requests/s), "
          "fds min %s max %s, requests lost %d, judged in %.0fs, case %.0fs"
          % (store, len(keys), t_preload, t_drain, len(keys) / max(t_drain, 1e-9),
             min(fds) if fds else "-", max(fds) if fds else "-", lost, time.monotonic() - t0,
             time.monotonic() - t_case), flush=True)


if __name__ == "__main__":
    main()
