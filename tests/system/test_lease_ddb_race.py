#!/usr/bin/env python3
"""System test: the lease state machine (lib/lease.c) and its DynamoDB calls (lib/lease_ddb.c) against
DynamoDB Local, through the signature proxy, without the daemon (SPEC 9). tests/system/lease_race.c runs
several machines as threads of one process, so their leaderships are compared on one monotonic clock:

- race: 8 machines start at the same moment on a fresh lease item, 10 rounds: exactly one acquisition
  each round, leadership 1, no two gates (wd_lease_may_call) open at any sampled moment, every loser
  knows the winner. Read back: each round's lease item names the winner and its 32 fence items hold 1.
- takeover: 3 machines; the leader stops dead (no release); another takes over within duration +
  renewal (+ slack), sent no earlier than the crashed leader's last permitted call could have ended;
  then the new leader releases and a standby takes the released item within about a renewal. Read back:
  the lease item names the third leader with leadership 3, not released, and every fence item holds 3.

The multi-process tests with real widgetd instances (kill -9, SIGSTOP, 8 instances x 50 rounds) are
elsewhere; this one proves the lease layer by itself, with the daemon out of the picture.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wdtest  # noqa: E402

FENCE_SHARDS = 32  # WD_FENCE_SHARDS in lib/store.h


def create_lease_table(h, tag):
    """A lease table as the operator makes it: a string hash key "key"."""
    name = h.unique_name(tag)
    try:
        h.ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                           AttributeDefinitions=[{"AttributeName": "key", "AttributeType": "S"}],
                           KeySchema=[{"AttributeName": "key", "KeyType": "HASH"}])
        h.ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    except Exception as e:
        raise wdtest.HarnessError("create table %s: %s" % (name, e))
    h.tables.append(name)
    return name


def run_race(h, args, timeout):
    binary = os.path.join(os.path.dirname(h.widgetd), "lease_race")
    if not os.access(binary, os.X_OK):
        raise wdtest.HarnessError("%s is not built (it is built next to widgetd)" % binary)
    env = dict(os.environ)
    env.update({k: h.env[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION")})
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    env.pop("AWS_SESSION_TOKEN", None)
    env.pop("AWS_PROFILE", None)
    argv = [binary] + args
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=timeout, env=env)
    with open(os.path.join(h.workdir, "lease_race-%s.log" % args[0]), "w") as f:
        f.write(r.stdout)
    fails = [line for line in r.stdout.splitlines() if line.startswith("FAIL")]
    h.check(r.returncode == 0 and not fails, "lease_race %s: every rule held (exit %d)" % (args[0], r.returncode),
            "\n".join(r.stdout.splitlines()[-40:]))
    results = [line[len("RESULT "):] for line in r.stdout.splitlines() if line.startswith("RESULT ")]
    return json.loads(results[-1]) if results else None


def get(h, table, key):
    return h.ddb.get_item(TableName=table, Key={"key": {"S": key}}, ConsistentRead=True).get("Item")


def fence_leaderships(h, table, key):
    out = []
    for i in range(FENCE_SHARDS):
        item = get(h, table, "%s#fence-%d" % (key, i))
        out.append(int(item["leadership"]["N"]) if item and "leadership" in item else None)
    return out


def check_item(h, table, key, leadership, owner=None):
    item = get(h, table, key)
    if not h.check(item is not None, "lease item %s exists" % key):
        return
    h.check(item["leadership"]["N"] == str(leadership), "lease item %s has leadership %d" % (key, leadership),
            str(item))
    h.check(item["released"]["BOOL"] is False, "lease item %s is not released" % key, str(item))
    if owner is not None:
        h.check(item["owner"]["S"] == owner, "lease item %s is held by %s" % (key, owner), str(item))
    else:
        h.check(item["owner"]["S"].startswith("racer-"), "lease item %s is held by a racer" % key, str(item))
    h.check(set(item) == {"key", "owner", "rvn", "leadership", "released", "updated"},
            "lease item %s holds the lease's attributes only" % key, str(sorted(item)))
    fences = fence_leaderships(h, table, key)
    h.check(fences == [leadership] * FENCE_SHARDS,
            "all %d fence items of %s hold leadership %d" % (FENCE_SHARDS, key, leadership), str(fences))


def main():
    h = wdtest.Harness(__doc__)
    endpoint = h.env["WD_DDB_PROXY_ENDPOINT"]
    with h.case("race") as on:
        if on:
            table = create_lease_table(h, "lease-race")
            rounds = 10
            result = run_race(h, ["race", endpoint, table, "race", "8", str(rounds)], timeout=300)
            if h.check(result is not None, "race: a result line"):
                for r in range(rounds):
                    check_item(h, table, "race-%d" % r, 1)
    with h.case("takeover") as on:
        if on:
            table = create_lease_table(h, "lease-takeover")
            result = run_race(h, ["takeover", endpoint, table, "takeover", "3"], timeout=120)
            if h.check(result is not None, "takeover: a result line"):
                h.check(result["leadership"] == 3, "takeover: three leaderships, one after the other", str(result))
                check_item(h, table, "takeover", 3, owner=result["owner"])
    h.finish()


if __name__ == "__main__":
    main()
