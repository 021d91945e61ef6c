#!/usr/bin/env python3
"""System test (SPEC 5, issue 7 fault test 1): kill -9 at random moments, nothing lost.

For each store: 5000 generated requests (../shared/baseline/gen_requests.py) plus one malformed request
per 250, loaded up front. widgetd is started again and again, alternately in daemon mode and with
--once, and each run is killed with SIGKILL after a random 0.1-2 s (the upper bound shrinks when, at
the pace seen so far, the work would run out before the kills), until 22 kills landed while the
process was running and requests were left. A final --once drains what is left; then the store must
equal the oracle's widget by widget, the requests bucket be empty and the dead letters be exactly the
oracle's. Prints kills survived, requests lost (must be 0) and what it cost.

During the kills widgetd reaches s3rver through a pass-through faultproxy.FaultProxy: s3rver writes an
object's file as the body arrives (truncating it first), so a client killed in mid-PUT would leave an
empty widget there, which S3 never does (a PUT is atomic); the proxy forwards only whole requests and
completes each one, which gives s3rver S3's atomic PUT. What is killed is widgetd, not the server.
"""
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faultproxy as fx  # noqa: E402
import wdtest  # noqa: E402

COUNT = 5000
KILLS = 22
SEED = 11


def max_delay(total, done, run_time, kills_left):
    """The longest wait before the next kill: 2 s, or less when at the pace seen so far the requests left would
    be done before the kills still to make (so that every kill lands while there is work)."""
    if done <= 0 or run_time <= 1 or kills_left <= 0:
        return 2.0
    rate = done / run_time
    return max(0.3, min(2.0, 0.6 * max(total - done, 0) / rate / kills_left))


def main():
    h = wdtest.Harness(__doc__, extra_args=lambda p: (
        p.add_argument("--count", type=int, default=COUNT), p.add_argument("--kills", type=int, default=KILLS),
        p.add_argument("--seed", type=int, default=SEED)))
    requests = fx.mixed_requests(h.shared_dir, h.args.count, h.args.seed, bad_every=250)
    oracles = {}
    totals = {"kills": 0, "lost": 0}
    for store in ("s3", "dynamodb"):
        with h.case("kill9-%s" % store) as selected:
            if not selected:
                continue
            t_case = time.monotonic()
            rng = random.Random(h.args.seed + (0 if store == "s3" else 1))
            bucket = h.create_bucket("kill-%s-req" % store)
            store_name = h.create_store(store, "kill-%s" % store)
            t0 = time.monotonic()
            h.load(bucket, requests, threads=32)
            t_load = time.monotonic() - t0
            oracles[store] = h.oracle(requests, store)
            base = h.old_flags(bucket, store, store_name)
            kills, runs, exits, applied_per_run, log_problems, run_time = 0, 0, [], [], [], 0.0
            # s3rver writes an object's file as the body arrives (truncating it first), so a client killed
            # in mid-PUT leaves an empty or cut widget there, which S3 never does (a PUT is atomic). A
            # pass-through FaultProxy in front of it forwards only whole requests, and always completes
            # them, which gives s3rver S3's atomic PUT: what is killed is widgetd, not the server.
            s3proxy = fx.FaultProxy(h.env["WD_S3_ENDPOINT"], p=0.0, name="atomic-s3").start()
            env = h.widgetd_env({"AWS_ENDPOINT_URL_S3": s3proxy.endpoint})
            t0 = time.monotonic()
            while kills < h.args.kills:
                once = runs % 2 == 1
                log_path = os.path.join(h.workdir, "kill-%s-%02d.log" % (store, runs))
                d = fx.Daemon(h.widgetd, base + (["--once"] if once else []), env, log_path)
                runs += 1
                try:
                    rc = d.wait(rng.uniform(0.1, max_delay(len(requests), sum(applied_per_run), run_time,
                                                           h.args.kills - kills)))
                    if rc is None:
                        d.kill9()
                        kills += 1
                    else:
                        exits.append(rc)
                finally:
                    d.ensure_dead()
                text = d.log()
                san, bad = fx.log_problems(text, killed=rc is None)
                if san or bad:
                    log_problems.append("run %d (%s, %s): %s" % (runs, "--once" if once else "daemon", log_path,
                                                                 (san + bad)[0][:300]))
                if rc is not None and rc not in (0, 75):
                    h.check(False, "run %d exited by itself with %s (want 0 or 75, or to be killed)" % (runs, rc),
                            "  log %s:\n%s" % (log_path, "\n".join("    | " + x for x in text.split("\n")[-12:])))
                done = sum(1 for line in text.split("\n") if wdtest.INFO_RE.match(line))
                run_time += time.monotonic() - d.t0
                print("#   run %d (%s): %s after %.2fs; %d requests applied in it"
                      % (runs, "--once" if once else "daemon", "killed" if rc is None else "exit %s" % rc,
                         time.monotonic() - d.t0, done), flush=True)
                applied_per_run.append(done)
                if not h.any_request_left(bucket):
                    break
            t_kills = time.monotonic() - t0
            s3proxy.stop()
            print("# %s: %d runs, %d killed with SIGKILL, %d exited by themselves %s; requests applied per run: %s"
                  % (store, runs, kills, len(exits), exits, applied_per_run), flush=True)
            h.check(not log_problems, "no sanitizer report and only <N>-prefixed lines in the %d runs' logs" % runs,
                    "\n".join("  " + x for x in log_problems[:8]))
            h.check(kills >= h.args.kills, "%d kills landed while requests were left (want >= %d)" % (kills, h.args.kills),
                    "  the bucket drained before enough kills; requests applied per run: %s" % applied_per_run)
            t0 = time.monotonic()
            run = h.run_widgetd(base + ["--once"], name="kill-%s-final" % store, timeout=300)  # no proxy
            t_final = time.monotonic() - t0
            h.check(not run.timed_out and run.rc == 0, "the final --once exits 0",
                    "  exit %s\n%s" % (run.rc, run.tail()))
            fx.check_log_clean(h, "final --once", run.stderr)
            ok, lost = fx.judge_state(h, "after %d kills" % kills, requests, bucket, store, store_name,
                                      oracle=oracles[store])
            h.check(lost == 0, "requests lost: %d" % lost)
            totals["kills"] += kills
            totals["lost"] += lost
            print("kill9-%s: kills survived %d, requests lost %d (%d requests, %d bad; load %.1fs, kill phase %.1fs, "
                  "final --once %.1fs, case %.1fs)"
                  % (store, kills if ok else 0, lost, len(requests), len(oracles[store][1]), t_load, t_kills, t_final,
                     time.monotonic() - t_case), flush=True)
    print("kill -9 total: kills survived %d, requests lost %d" % (totals["kills"], totals["lost"]), flush=True)
    h.finish()


if __name__ == "__main__":
    main()
