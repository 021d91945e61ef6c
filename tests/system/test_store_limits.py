#!/usr/bin/env python3
"""System test: the stores' own limits. DynamoDB's 400 KB item limit is a permanent rejection of the
request's content (SPEC 5: dead-lettered with the reason, later requests of the widget still applied);
its 4 KB expression limit is a per-call limit widgetd must work within (the update falls back to
read-modify-write and is applied). Judged by the oracle, which knows neither limit: for the 400 KB case
the expected outcome is the oracle's over the requests minus the rejected one, plus that dead letter.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wdtest  # noqa: E402


def body(**fields):
    return json.dumps(fields).encode()


def main():
    h = wdtest.Harness(__doc__)

    with h.case("dynamodb-item-over-400kb") as selected:
        if selected:
            requests = {
                "0001": body(type="create", requestId="r1", widgetId="big", owner="Ann Lee", label="L",
                             description="d" * 200_000),
                # Together with the description this passes 400 KB: DynamoDB refuses it for good.
                "0002": body(type="update", requestId="r2", widgetId="big", owner="Ann Lee",
                             otherAttributes=[{"name": "more", "value": "m" * 230_000}]),
                "0003": body(type="update", requestId="r3", widgetId="big", owner="Ann Lee", label="after"),
                "0004": body(type="create", requestId="r4", widgetId="small", owner="Bo Chen", label="s"),
            }
            rejected = "0002"
            kept = {k: v for k, v in requests.items() if k != rejected}
            expected, dead, warnings = h.oracle(kept, "dynamodb")
            dead = dead + [(rejected, "DynamoDB item would exceed 400 KB")]
            bucket = h.create_bucket("limits-req")
            table = h.create_store("dynamodb", "limits")
            h.load(bucket, requests)
            run = h.run_widgetd(h.old_flags(bucket, "dynamodb", table) + ["--once"], name="item-over-400kb")
            h.judge("400 KB item", requests, bucket, "dynamodb", table, run, oracle=(expected, dead, warnings))
            letters = h.read_dead_letters(bucket)
            reason = (letters.get(rejected) or (None, b""))[0] or ""
            h.check("size" in reason.lower(), "the dead letter's reason names the size limit",
                    "  reason: %r" % reason)
            h.check(any(line.startswith("<3>") and "'0002'" in line and "rejected by the store" in line
                        for line in run.lines),
                    "an error line says the store rejected request 0002", "  log: %s" % run.log_path)

    for store in ("dynamodb", "s3"):
        with h.case("expression-over-4kb-%s" % store) as selected:
            if selected:
                # 400 attributes in one update: its UpdateExpression would pass DynamoDB's 4 KB limit.
                create_attrs = [{"name": "attr-%03d" % i, "value": "v%d" % i} for i in range(0, 400, 7)]
                update_attrs = [{"name": "attr-%03d" % i, "value": "" if i % 5 == 0 else "u%d" % i}
                                for i in range(400)]
                requests = {
                    "0001": body(type="create", requestId="r1", widgetId="wide", owner="Cy Diaz",
                                 otherAttributes=create_attrs),
                    "0002": body(type="update", requestId="r2", widgetId="wide", owner="Cy Diaz",
                                 label="many", otherAttributes=update_attrs),
                    "0003": body(type="update", requestId="r3", widgetId="wide", owner="Cy Diaz",
                                 description="then this"),
                    # An update that changes nothing still checks that the widget exists.
                    "0004": body(type="update", requestId="r4", widgetId="wide", owner="Cy Diaz"),
                    "0005": body(type="update", requestId="r5", widgetId="nowhere", owner="Cy Diaz"),
                }
                h.drain_and_judge("4 KB expression (%s)" % store, store, requests, tag="expr-" + store)

    h.finish()


if __name__ == "__main__":
    main()
