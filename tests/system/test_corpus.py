#!/usr/bin/env python3
"""System test: the hand-written corpus (tests/system/corpus) drained by widgetd --once into each store and
judged by the oracle, with the requests bucket (and the S3 store) on each S3 server: s3rver and Ceph RGW.
corpus/common goes to both stores; corpus/dynamodb-only (widget IDs s3rver cannot hold as keys: ".", "..",
empty segments, 512-byte segments, "&") to DynamoDB only, merged in key order.

corpus/intent.tsv says, per request and store, what its author meant: ok (applied), warn (done with a
warning), dead (dead-lettered). The test first checks that the oracle agrees with that intent, so a typo
in the corpus cannot silently change what it covers. `test_corpus.py --check-corpus` runs only that
check (no widgetd, no stand-ins)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wdtest  # noqa: E402

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def corpus_for(store):
    requests = wdtest.read_corpus(os.path.join(CORPUS, "common"))
    if store == "dynamodb":
        only = wdtest.read_corpus(os.path.join(CORPUS, "dynamodb-only"))
        clash = set(only) & set(requests)
        assert not clash, "keys in both corpus folders: %s" % sorted(clash)
        requests.update(only)
    return requests


def read_intent():
    """{store: {key: ok|warn|dead}}."""
    intent = {"s3": {}, "dynamodb": {}}
    with open(os.path.join(CORPUS, "intent.tsv"), encoding="utf-8") as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            key, _folder, s3, ddb = line.rstrip("\n").split("\t")[:4]
            if s3 != "-":
                intent["s3"][key] = s3
            if ddb != "-":
                intent["dynamodb"][key] = ddb
    return intent


def classify(oracle_result, requests):
    _, dead, warnings = oracle_result
    dead_keys, warn_keys = {k for k, _ in dead}, {k for k, _ in warnings}
    return {k: "dead" if k in dead_keys else "warn" if k in warn_keys else "ok" for k in requests}


def intent_problems(store, requests, got, intent):
    problems = []
    for k in sorted(set(requests) | set(intent[store]), key=lambda k: k.encode()):
        want = intent[store].get(k, "<not in intent.tsv>")
        have = got.get(k, "<not in corpus folder>")
        if want != have:
            problems.append("  %s: intent %s, oracle says %s" % (k, want, have))
    return problems


def check_corpus_only(shared_dir):
    oracle_path = os.path.join(shared_dir, "oracle", "widget_oracle.py")
    intent, failed = read_intent(), 0
    for store in ("s3", "dynamodb"):
        requests = corpus_for(store)
        result = wdtest.run_oracle(oracle_path, requests, store)
        got = classify(result, requests)
        problems = intent_problems(store, requests, got, intent)
        counts = {c: sum(1 for v in got.values() if v == c) for c in ("ok", "warn", "dead")}
        print("%s %s: %d requests, %s, %d widgets expected" % ("FAIL" if problems else "ok  ", store, len(requests),
                                                               counts, len(result[0])))
        for p in problems:
            print(p)
        failed += bool(problems)
    print("%d passed, %d failed" % (2 - failed, failed))
    return 1 if failed else 0


def main():
    if "--check-corpus" in sys.argv:
        here = os.path.dirname(os.path.abspath(__file__))
        shared = os.environ.get("WD_SHARED_DIR") or os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(here))),
                                                                "shared")
        sys.exit(check_corpus_only(shared))
    h = wdtest.Harness(__doc__, rgw=True)
    intent = read_intent()
    for server in h.s3_servers():
        for store in ("s3", "dynamodb"):
            name = "corpus-%s" % store + ("" if server == "s3rver" else "-" + server)
            with h.case(name) as selected:
                if not selected:
                    continue
                h.use_s3(server)
                requests = corpus_for(store)
                result = h.oracle(requests, store)
                got = classify(result, requests)
                problems = intent_problems(store, requests, got, intent)
                h.check(not problems, "the oracle classifies all %d corpus requests as intent.tsv says"
                        % len(requests), "\n".join(problems[:20]))
                h.drain_and_judge("corpus on %s, %s store" % (server, store), store, requests, tag=name)
    h.use_s3("s3rver")
    h.finish()


if __name__ == "__main__":
    main()
