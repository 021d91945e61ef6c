#!/usr/bin/env python3
"""System test: 2000 generated requests (../shared/baseline/gen_requests.py) drained by widgetd --once into
each store, judged by the oracle: two listing pages, so the second starts where the first ended. The requests
bucket is on s3rver for both stores, and on Ceph RGW for the S3 store (the store on RGW too): what the
DynamoDB store would add on RGW (the same LIST, GET and DELETE) is not worth its half a minute. Prints the
wall time of each drain."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wdtest  # noqa: E402

COUNT = 2000
SEED = 7


def generated_requests(shared_dir, count, seed):
    """{key: body} as gen_requests.py uploads them: zero-padded sequence keys, json.dumps bodies."""
    sys.path.insert(0, os.path.join(shared_dir, "baseline"))
    import gen_requests
    requests, _ = gen_requests.generate(count, seed)
    return {"%010d" % i: json.dumps(r).encode("utf-8") for i, r in enumerate(requests)}


def main():
    h = wdtest.Harness(__doc__, rgw=True, extra_args=lambda p: (
        p.add_argument("--count", type=int, default=COUNT), p.add_argument("--seed", type=int, default=SEED)))
    requests = generated_requests(h.shared_dir, h.args.count, h.args.seed)
    for server in h.s3_servers():
        for store in ("s3", "dynamodb") if server == "s3rver" else ("s3",):
            suffix = "" if server == "s3rver" else "-" + server
            with h.case("generated-%s%s" % (store, suffix)) as selected:
                if not selected:
                    continue
                h.use_s3(server)
                run = h.drain_and_judge("%d generated requests on %s, %s store" % (len(requests), server, store),
                                        store, requests, tag="gen-%s%s" % (store, suffix))
                print("drained %d requests from %s into %s in %.2fs (%.0f requests/s)"
                      % (len(requests), server, store, run.elapsed, len(requests) / max(run.elapsed, 1e-9)),
                      flush=True)
    h.use_s3("s3rver")
    h.finish()


if __name__ == "__main__":
    main()
