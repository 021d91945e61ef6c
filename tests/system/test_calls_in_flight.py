#!/usr/bin/env python3
"""System test (issue 16): the calls in flight follow the round trip, within calls_in_flight.

widgetd adapts how many calls it keeps in flight (lib/limit.c, unit-tested in tests/unit/test_limit.c):
from 16 it grows while the calls' waits stay near the round trip without a queue. Here the wiring is
checked end to end, from the waits that the HTTP pool measures to the tasks the scheduler lets run:
2,000 generated requests, S3 store, drained with --once through tests/bench/delay_proxy.py in front of
s3rver; the exit line gives the most calls that were in flight.

  far-s3    100 ms added each way, calls_in_flight = 128: the calls in flight grew past 32 (two doublings
            from 16: a limit stuck at its start would show 17 at most, a page's LIST beside 16 tasks), and
            stayed within 128 + 1 (the next page's LIST); the oracle judges the store and the bucket.
  fixed-s3  no delay, calls_in_flight = 6 (under the least the limit adapts from): at most 6 + 1 in
            flight; the oracle judges.
"""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faultproxy as fx  # noqa: E402
import wdtest  # noqa: E402

COUNT = 2000
SEED = 1616
IN_FLIGHT_RE = re.compile(r"exiting: .*, at most (\d+) calls in flight \(limit (\d+) of (\d+) at the end\)")


class DelayProxy:
    """tests/bench/delay_proxy.py in front of an endpoint, for the duration of a with block."""

    def __init__(self, h, endpoint, delay_ms):
        host_port = endpoint.split("//", 1)[1].rstrip("/")
        self.args = [sys.executable, os.path.join(h.source_dir, "tests", "bench", "delay_proxy.py"), "--port", "0",
                     "--upstream-port", host_port.rsplit(":", 1)[1], "--delay-ms", str(delay_ms)]

    def __enter__(self):
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        if not m:
            self.proc.kill()
            raise RuntimeError("delay_proxy did not start: %r" % line)
        self.endpoint = "http://127.0.0.1:%s" % m.group(1)
        return self

    def __exit__(self, *exc):
        wdtest.end_process(self.proc)


def drain(h, requests, tag, calls_in_flight, delay_ms):
    """Loads the requests, drains them with --once (through a delay proxy when delay_ms), judges the state;
    returns the exit line's (most in flight, limit at the end, configured) or None."""
    bucket = h.create_bucket("cif-%s-req" % tag)
    store_name = h.create_store("s3", "cif-%s" % tag)
    h.load(bucket, requests, threads=32)
    conf = fx.write_config(os.path.join(h.workdir, "cif-%s.conf" % tag), bucket, "s3", store_name,
                           calls_in_flight=calls_in_flight)
    env = h.widgetd_env()
    if delay_ms:
        with DelayProxy(h, h.env["WD_S3_ENDPOINT"], delay_ms) as proxy:
            env = h.widgetd_env({"AWS_ENDPOINT_URL_S3": proxy.endpoint})
            run = h.run_widgetd(["-c", conf, "--once"], name="cif-%s" % tag, env=env)
    else:
        run = h.run_widgetd(["-c", conf, "--once"], name="cif-%s" % tag, env=env)
    h.check(not run.timed_out and run.rc == 0, "--once exits 0 (in %.1fs)" % run.elapsed,
            "  exit %s\n%s" % (run.rc, run.tail()))
    fx.check_log_clean(h, "--once", run.stderr)
    fx.judge_state(h, tag, requests, bucket, "s3", store_name)
    found = [m for m in (IN_FLIGHT_RE.search(x) for x in run.stderr.split("\n")) if m]
    if not h.check(found, "the exit line gives the calls in flight", "\n%s" % run.tail()):
        return None
    return tuple(int(x) for x in found[-1].groups())


def main():
    h = wdtest.Harness(__doc__)
    requests = fx.mixed_requests(h.shared_dir, COUNT, SEED, bad_every=100)
    with h.case("far-s3") as selected:
        if selected:
            got = drain(h, requests, "far", 128, 100)
            if got:
                peak, limit, of = got
                h.check(32 < peak <= 129 and of == 128,
                        "with 100 ms each way the calls in flight grew from 16 to %d (limit %d of %d at the end)"
                        % (peak, limit, of))
    with h.case("fixed-s3") as selected:
        if selected:
            got = drain(h, requests, "fixed", 6, 0)
            if got:
                peak, limit, of = got
                h.check(peak <= 7 and limit == 6 and of == 6,
                        "calls_in_flight = 6 is used as it is: at most %d in flight (limit %d of %d)"
                        % (peak, limit, of))
    h.finish()


if __name__ == "__main__":
    main()
