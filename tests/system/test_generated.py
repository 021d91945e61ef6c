#!/usr/bin/env python3
"""System test: 2000 generated requests (../shared/baseline/gen_requests.py) drained by widgetd --once into
each store, judged by the oracle; prints the wall time of each drain."""
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
    h = wdtest.Harness(__doc__, extra_args=lambda p: (
        p.add_argument("--count", type=int, default=COUNT), p.add_argument("--seed", type=int, default=SEED)))
    requests = generated_requests(h.shared_dir, h.args.count, h.args.seed)
    for store in ("s3", "dynamodb"):
        with h.case("generated-%s" % store) as selected:
            if not selected:
                continue
            run = h.drain_and_judge("%d generated requests, %s store" % (len(requests), store), store, requests,
                                    tag="gen-" + store)
            print("drained %d requests into %s in %.2fs (%.0f requests/s)"
                  % (len(requests), store, run.elapsed, len(requests) / max(run.elapsed, 1e-9)), flush=True)
    h.finish()


if __name__ == "__main__":
    main()
