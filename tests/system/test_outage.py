#!/usr/bin/env python3
"""System test (SPEC 5, issue 7 fault test 2): a stand-in stopped for 10 s mid-run; widgetd recovers.

Uses its own set of stand-ins (scripts/standins start --auto-ports in its work folder, whatever
WD_STANDINS_ENV says), so that stopping one disturbs no other test. For each store: 1000 generated
requests (one malformed per 100); widgetd in daemon mode (-c FILE: poll_max_interval_ms 2000,
timeout_ms 3000, connect_timeout_ms 1000); once a fifth of them is done, one stand-in is stopped for
10 s and started again: for the DynamoDB store, the signature proxy in front of DynamoDB Local
(`stop-one proxy`, the tables stay); for the S3 store, a FaultProxy in front of s3rver goes down (its port
refuses connections, the open ones are cut) and comes up again on the same port. Not s3rver itself:
s3rver's PutObject truncates the object's file before it writes the new body, so stopping it in the middle
of a PUT leaves an empty object where S3, whose PUT is atomic, keeps the old one. That cost a CI run two
requests (an update that then found its widget not JSON, and a create whose object a retried or cut
attempt had emptied): a fault of the stand-in, not of widgetd, and not what this test is about.
The same widgetd process must drain the bucket afterwards without a restart; SIGTERM then exits 0; a
final --once finds nothing to do; the oracle judges. Prints what each phase cost.
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.pop("WD_STANDINS_ENV", None)   # own stand-ins: this test stops one of them
import faultproxy as fx  # noqa: E402
import wdtest  # noqa: E402

COUNT = 1000
OUTAGE_S = 10.0
SEED = 21


def standins(h, *args):
    script = os.path.join(h.source_dir, "scripts", "standins")
    r = subprocess.run([script] + list(args) + ["--dir", h.env["WD_STANDINS_DIR"]], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=180)
    if r.returncode != 0:
        raise wdtest.HarnessError("scripts/standins %s failed (exit %d): %s" % (" ".join(args), r.returncode, r.stdout))
    return r.stdout


def main():
    h = wdtest.Harness(__doc__, extra_args=lambda p: (
        p.add_argument("--count", type=int, default=COUNT), p.add_argument("--seed", type=int, default=SEED),
        p.add_argument("--outage", type=float, default=OUTAGE_S)))
    requests = fx.mixed_requests(h.shared_dir, h.args.count, h.args.seed, bad_every=100)
    for store, which in (("s3", "s3-proxy"), ("dynamodb", "proxy")):
        with h.case("outage-%s" % store) as selected:
            if not selected:
                continue
            t_case = time.monotonic()
            bucket = h.create_bucket("outage-%s-req" % store)
            store_name = h.create_store(store, "outage-%s" % store)
            h.load(bucket, requests, threads=32)
            gate = fx.FaultProxy(h.env["WD_S3_ENDPOINT"], service="s3", name="outage-s3").start() \
                if which == "s3-proxy" else None
            conf = fx.write_config(os.path.join(h.workdir, "outage-%s.conf" % store), bucket, store, store_name,
                                   poll_interval_ms=100, poll_max_interval_ms=2000, timeout_ms=3000,
                                   connect_timeout_ms=1000)
            log_path = os.path.join(h.workdir, "outage-%s-daemon.log" % store)
            env = h.widgetd_env({"AWS_ENDPOINT_URL_S3": gate.endpoint} if gate else None)
            d = fx.Daemon(h.widgetd, ["-c", conf], env, log_path)
            try:
                target = len(requests) * 4 // 5
                t0 = time.monotonic()
                started = fx.wait_until(lambda: len(fx.intake_left(h, bucket)) <= target or not d.alive(), 300, 0.5)
                before = len(fx.intake_left(h, bucket))
                h.check(started and d.alive(), "widgetd is working before the outage (%d of %d requests left after %.1fs)"
                        % (before, len(requests), time.monotonic() - t0))
                t_out = time.monotonic()
                if gate:
                    gate.go_down()
                else:
                    standins(h, "stop-one", which)
                print("# stopped %s (%s store) with %d requests left" % (which, store, before), flush=True)
                alive_during = True
                while time.monotonic() - t_out < h.args.outage:
                    alive_during &= d.alive()
                    time.sleep(0.2)
                if gate:
                    gate.come_up()
                else:
                    standins(h, "start-one", which)
                t_back = time.monotonic()
                print("# started %s again after %.1fs" % (which, t_back - t_out), flush=True)
                h.check(alive_during and d.alive(), "widgetd stays up through the %.0fs outage of %s" % (h.args.outage, which),
                        "  exit %s\n  log %s" % (d.proc.poll(), log_path))
                drained = fx.wait_until(lambda: not fx.intake_left(h, bucket) or not d.alive(), 300, 0.5)
                t_recover = time.monotonic() - t_back
                h.check(drained and d.alive(), "the same widgetd process drains the bucket after the outage (in %.1fs)"
                        % t_recover, "  %d requests left; widgetd %s; log %s"
                        % (len(fx.intake_left(h, bucket)), "running" if d.alive() else "exited %s" % d.proc.poll(),
                           log_path))
                rc, t_stop = d.stop()
                h.check(rc == 0, "SIGTERM: exit 0 (in %.1fs)" % t_stop, "  exit %s; log %s" % (rc, log_path))
            finally:
                d.ensure_dead()
                if gate:
                    gate.stop()
            text = d.log()
            fx.check_log_clean(h, "daemon", text)
            lines = text.split("\n")
            problems = [x for x in lines if x.startswith(("<3>", "<4>")) and " error: " in x]
            counts = fx.parse_exit_line(text) or {}
            print("# daemon log: %d error/warning lines about failed calls, e.g. %s; exit line: %s"
                  % (len(problems), problems[:1], counts), flush=True)
            h.check(bool(problems), "the outage shows in the log (a line about the failed calls)")
            run = h.run_widgetd(h.old_flags(bucket, store, store_name) + ["--once"], name="outage-%s-final" % store)
            h.check(not run.timed_out and run.rc == 0, "the final --once exits 0", "  exit %s\n%s" % (run.rc, run.tail()))
            fx.check_log_clean(h, "final --once", run.stderr)
            ok, lost = fx.judge_state(h, "after the %s outage" % which, requests, bucket, store, store_name)
            h.check(lost == 0, "requests lost: %d" % lost)
            print("outage-%s: %s down %.0fs; recovered (bucket drained) %.1fs after it came back; requests lost %d; "
                  "case %.1fs" % (store, which, h.args.outage, t_recover, lost, time.monotonic() - t_case), flush=True)
    h.finish()


if __name__ == "__main__":
    main()
