#!/usr/bin/env python3
"""System test: fenced store writes (SPEC 9), against the stand-ins, through the store layer itself.

The daemon's [lease] section does not exist yet, so each write goes through fence_apply (a test-only
program built with the tests, tests/system/fence_apply.c): it applies one request with the library's own
store code and a fence given on its command line, and says "ok", "not_found" or "error CLASS ...".

DynamoDB store: fence items "<lease key>#fence-<i>" (i < 32) live in a lease table; a write is one
TransactWriteItems whose ConditionCheck wants the writer's leadership there. The fence items are raised
with boto3 as a new leader raises them; then a write with the old number must be refused (fenced) and the
store left as it was, a write with the new number must pass, and the same stale write with the conditions
switched off (the test-only switch) must land: the refusals came from the fence.

S3 store: each write is conditional on the object being as the store read it. s3rver ignores If-Match and
If-None-Match (../../../shared/STANDINS.md), so on s3rver these tests go through condproxy.py, which
enforces them as S3 documents; a case shows that without the proxy the stale write lands on s3rver. Ceph
RGW enforces the PUT conditions itself: the same cases run there with condproxy only for its hook (no
enforcing). "Another leader" is the hook: right after the store's read of the object (its GET or HEAD)
and before the store's write, boto3 changes the object behind its back.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import condproxy  # noqa: E402
import wdtest  # noqa: E402

SHARDS = 32
LEASE_KEY = "widgetd-fence-test"


def body(**fields):
    return json.dumps(fields).encode()


def many_attrs(n, value):
    return [{"name": "a%03d" % i, "value": value} for i in range(n)]


class Runner:
    def __init__(self, h):
        self.h = h
        self.tool = h.args.fence_apply or os.path.join(os.path.dirname(h.widgetd), "fence_apply")
        if not os.access(self.tool, os.X_OK):
            raise wdtest.HarnessError("fence_apply not found at %s (build the tests; --fence-apply PATH)" % self.tool)
        self.n = 0

    def apply(self, store, name, request, leadership=None, lease_table=None, conditions=True, s3_endpoint=None):
        """Applies request (bytes) to store; returns fence_apply's output line."""
        self.n += 1
        path = os.path.join(self.h.workdir, "request-%04d.json" % self.n)
        with open(path, "wb") as f:
            f.write(request)
        argv = [self.tool, "--store", store, "--name", name,
                "--s3-endpoint", s3_endpoint or self.h.s3_endpoint(),
                "--ddb-endpoint", self.h.env["WD_DDB_PROXY_ENDPOINT"]]
        if leadership is not None:
            argv += ["--fence-table", lease_table or "unused", "--lease-key", LEASE_KEY,
                     "--leadership", str(leadership)]
            if not conditions:
                argv.append("--no-conditions")
        r = subprocess.run(argv + [path], stdin=subprocess.DEVNULL, capture_output=True, timeout=120,
                           env=self.h.widgetd_env())
        out, err = r.stdout.decode("utf-8", "replace").strip(), r.stderr.decode("utf-8", "replace")
        bad = [p for p in wdtest.SANITIZER_PATTERNS if p in err]
        self.h.check(not bad and r.returncode in (0, 1) and out, "fence_apply ran cleanly (exit %d)" % r.returncode,
                     "  stdout: %s\n  stderr: %s" % (out, err[-2000:]))
        return out


def create_lease_table(h):
    name = h.unique_name("lease")
    h.ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                       AttributeDefinitions=[{"AttributeName": "key", "AttributeType": "S"}],
                       KeySchema=[{"AttributeName": "key", "KeyType": "HASH"}])
    h.tables.append(name)
    return name


def raise_fence(h, table, leadership):
    """What a new leader does when it acquires the lease: the lease item and every fence item, at once."""
    items = [{"Put": {"TableName": table, "Item": {"key": {"S": LEASE_KEY}, "owner": {"S": "the-new-leader"},
                                                   "leadership": {"N": str(leadership)}}}}]
    items += [{"Put": {"TableName": table, "Item": {"key": {"S": "%s#fence-%d" % (LEASE_KEY, i)},
                                                    "leadership": {"N": str(leadership)}}}} for i in range(SHARDS)]
    h.ddb.transact_write_items(TransactItems=items)


def expect(h, got, want, what):
    return h.check(got == want, "%s: %s" % (what, want), "  got: %s" % got)


def same_store(h, store, name, expected, what):
    d = h.diff_widgets(expected, h.read_store(store, name))
    return h.check(not d, what, "\n".join("  " + line for line in d))


# ----- DynamoDB -----

def case_ddb_current(h, run):
    table = h.create_store("dynamodb", "fence-cur")
    lease = create_lease_table(h)
    raise_fence(h, lease, 5)
    steps = [
        ("0001", body(type="create", requestId="r1", widgetId="w1", owner="Ann Lee", label="L",
                      otherAttributes=[{"name": "size", "value": "3"}]), "ok"),
        ("0002", body(type="update", requestId="r2", widgetId="w1", owner="Ann Lee", label="",
                      description="D", otherAttributes=[{"name": "size", "value": ""}, {"name": "x", "value": "1"}]),
         "ok"),
        ("0003", body(type="create", requestId="r3", widgetId="w2 /+%\u00e9", owner="Bo Chen"), "ok"),
        ("0004", body(type="delete", requestId="r4", widgetId="w2 /+%\u00e9", owner="Bo Chen"), "ok"),
        ("0005", body(type="update", requestId="r5", widgetId="nobody", owner="Ann Lee", label="x"), "not_found"),
        ("0006", body(type="delete", requestId="r6", widgetId="nobody", owner="Ann Lee"), "not_found"),
        # past the 4 KB expression limit: the read-modify-write fallback, fenced too
        ("0007", body(type="update", requestId="r7", widgetId="w1", owner="Ann Lee",
                      otherAttributes=many_attrs(400, "v")), "ok"),
        ("0008", body(type="update", requestId="r8", widgetId="w1", owner="Ann Lee"), "ok"),
    ]
    for key, req, want in steps:
        expect(h, run.apply("dynamodb", table, req, 5, lease), want, "request %s with the current leadership 5" % key)
    expected, _, _ = h.oracle({k: r for k, r, _ in steps}, "dynamodb")
    same_store(h, "dynamodb", table, expected,
               "the store equals the oracle, items exactly as SPEC 3 says (%d widget, no fence attribute)"
               % len(expected))


def case_ddb_deposed(h, run):
    table = h.create_store("dynamodb", "fence-old")
    lease = create_lease_table(h)
    raise_fence(h, lease, 5)
    base = {
        "0001": body(type="create", requestId="r1", widgetId="w1", owner="Ann Lee", label="L"),
        "0002": body(type="create", requestId="r2", widgetId="w2", owner="Bo Chen", label="M"),
    }
    for key, req in base.items():
        expect(h, run.apply("dynamodb", table, req, 5, lease), "ok", "request %s with leadership 5" % key)
    before = h.read_store("dynamodb", table)
    raise_fence(h, lease, 6)   # another instance took the lease over
    stale = [
        ("create over w1", body(type="create", requestId="s1", widgetId="w1", owner="Ann Lee", label="stale")),
        ("create of w3", body(type="create", requestId="s2", widgetId="w3", owner="Cy Diaz")),
        ("update of w1", body(type="update", requestId="s3", widgetId="w1", owner="Ann Lee", label="stale")),
        ("update of w1 past 4 KB", body(type="update", requestId="s4", widgetId="w1", owner="Ann Lee",
                                        otherAttributes=many_attrs(400, "stale"))),
        ("delete of w2", body(type="delete", requestId="s5", widgetId="w2", owner="Bo Chen")),
        ("update of a missing widget", body(type="update", requestId="s6", widgetId="nobody", owner="A", label="x")),
    ]
    for what, req in stale:
        out = run.apply("dynamodb", table, req, 5, lease)
        h.check(out.startswith("error fenced TransactionCanceledException") and "does not hold leadership 5" in out,
                "%s with the deposed leadership 5 is refused by the fence" % what, "  got: %s" % out)
    same_store(h, "dynamodb", table, before, "the store is unchanged by the deposed leader's writes")

    new = body(type="update", requestId="r3", widgetId="w1", owner="Ann Lee", description="new leader")
    expect(h, run.apply("dynamodb", table, new, 6, lease), "ok", "the same kind of write with leadership 6 passes")
    expected, _, _ = h.oracle(dict(base, **{"0003": new}), "dynamodb")
    same_store(h, "dynamodb", table, expected, "the store equals the oracle of the current leader's requests")

    # The control: the same stale write with the conditions switched off lands, so the refusals above
    # were the fence's doing.
    expect(h, run.apply("dynamodb", table, stale[4][1], 5, lease, conditions=False), "ok",
           "with the conditions switched off, the deposed leader's delete of w2 is made")
    h.check("w2" not in h.read_store("dynamodb", table),
            "w2 is gone: without the fence a stale write changes the store")


def case_ddb_too_large(h, run):
    table = h.create_store("dynamodb", "fence-big")
    lease = create_lease_table(h)
    raise_fence(h, lease, 3)
    # A request is at most 256 KiB, so an item grows past 400 KB over two of them.
    first = body(type="create", requestId="r1", widgetId="big", owner="Ann Lee", description="d" * (200 * 1024))
    expect(h, run.apply("dynamodb", table, first, 3, lease), "ok", "a 200 KB widget, fenced")
    before = h.read_store("dynamodb", table)
    grow = body(type="update", requestId="r2", widgetId="big", owner="Ann Lee", label="l" * (220 * 1024))
    out = run.apply("dynamodb", table, grow, 3, lease)
    h.check(out.startswith("error client ") and " rejects_content" in out and "maximum allowed size" in out,
            "an update that makes the item over 400 KB, fenced, is still the content's fault (a dead letter)",
            "  got: %s" % out[:300])
    same_store(h, "dynamodb", table, before, "and the item is unchanged")


# ----- S3 -----

class Other:
    """The other leader: after the store's read (method) of key, change the object with boto3 (direct)."""

    def __init__(self, client, bucket):
        self.client, self.bucket, self.armed, self.fired = client, bucket, None, []

    def arm(self, method, key, action):
        self.armed, self.fired = (method, key, action), []

    def __call__(self, method, bucket, key):
        if self.armed and bucket == self.bucket and (method, key) == self.armed[:2]:
            action, self.armed = self.armed[2], None
            action()
            self.fired.append((method, key))

    def put(self, key, widget):
        return lambda: self.client.put_object(Bucket=self.bucket, Key=key, Body=json.dumps(widget).encode(),
                                              ContentType="application/json")

    def delete(self, key):
        return lambda: self.client.delete_object(Bucket=self.bucket, Key=key)


W1 = "widgets/ann-lee/w1"
ORIGINAL = {"widgetId": "w1", "owner": "Ann Lee", "label": "original"}
OTHERS = {"widgetId": "w1", "owner": "Ann Lee", "label": "the other leader's"}


def s3_object(h, bucket, key):
    objects = h.read_s3_store(bucket)
    return objects.get(key)


def s3_scenarios(other):
    """(name, state before (None: absent), the read to hook, what the other leader does, request, what the
    object must then be (None: absent)). The last two are deletes."""
    upd = body(type="update", requestId="s1", widgetId="w1", owner="Ann Lee", label="stale")
    cre = body(type="create", requestId="s2", widgetId="w1", owner="Ann Lee", label="stale")
    dele = body(type="delete", requestId="s3", widgetId="w1", owner="Ann Lee")
    return [
        ("update after another leader's write", ORIGINAL, "GET", other.put(W1, OTHERS), upd, OTHERS),
        ("update after another leader's delete", ORIGINAL, "GET", other.delete(W1), upd, None),
        ("create over an object another leader rewrote", ORIGINAL, "HEAD", other.put(W1, OTHERS), cre, OTHERS),
        ("create where another leader created it meanwhile", None, "HEAD", other.put(W1, OTHERS), cre, OTHERS),
        ("delete after another leader's write", ORIGINAL, "HEAD", other.put(W1, OTHERS), dele, OTHERS),
        ("delete after another leader's delete", ORIGINAL, "HEAD", other.delete(W1), dele, None),
    ]


def s3_stale_writes(h, run, bucket, endpoint, other, server, delete_if_match=True):
    scenarios = s3_scenarios(other)
    for n, (name, before, method, action, req, after) in enumerate(scenarios):
        if before is None:
            other.delete(W1)()
        else:
            other.put(W1, before)()
        other.arm(method, W1, action)
        out = run.apply("s3", bucket, req, 9, s3_endpoint=endpoint)
        h.check(other.fired == [(method, W1)], "[%s] %s: the other leader acted right after the store's %s"
                % (server, name, method))
        if not delete_if_match and n >= len(scenarios) - 2:
            # RGW 16.2 ignores If-Match on DELETE (STANDINS.md; README "Running two instances"): the stale
            # delete is made there. Checked, so that a gateway that starts enforcing it shows up here.
            h.check(out == "ok" and s3_object(h, bucket, W1) is None,
                    "[%s] %s: not refused, %s ignores If-Match on DELETE (a gap the README names)"
                    % (server, name, server), "  got: %s" % out)
            continue
        h.check(out.startswith("error fenced ") and "changed since this instance read it (another leader wrote it)"
                in out, "[%s] %s: refused as fenced" % (server, name), "  got: %s" % out)
        got = s3_object(h, bucket, W1)
        h.check(got == after, "[%s] %s: the object is as the other leader left it (%s)"
                % (server, name, "absent" if after is None else after.get("label")), "  got: %s" % (got,))


def s3_sequence(h, run, bucket, endpoint, server):
    steps = [
        ("0001", body(type="create", requestId="r1", widgetId="w1", owner="Ann Lee", label="L"), "ok"),
        ("0002", body(type="create", requestId="r2", widgetId="w1", owner="Ann Lee", label="L2",
                      otherAttributes=[{"name": "a", "value": "1"}]), "ok"),
        ("0003", body(type="update", requestId="r3", widgetId="w1", owner="Ann Lee", description="D"), "ok"),
        ("0004", body(type="create", requestId="r4", widgetId="w2", owner="Bo Chen"), "ok"),
        ("0005", body(type="delete", requestId="r5", widgetId="w2", owner="Bo Chen"), "ok"),
        ("0006", body(type="update", requestId="r6", widgetId="w9", owner="Bo Chen", label="x"), "not_found"),
        ("0007", body(type="delete", requestId="r7", widgetId="w9", owner="Bo Chen"), "not_found"),
    ]
    for key, req, want in steps:
        expect(h, run.apply("s3", bucket, req, 9, s3_endpoint=endpoint), want,
               "[%s] request %s, fenced" % (server, key))
    expected, _, _ = h.oracle({k: r for k, r, _ in steps}, "s3")
    same_store(h, "s3", bucket, expected, "[%s] the store equals the oracle (no bookkeeping in the objects)" % server)


def case_s3rver(h, run):
    h.use_s3("s3rver")
    bucket = h.create_store("s3", "fence-s3rver")
    other = Other(h.s3, bucket)
    with condproxy.CondProxy(h.s3_endpoint(), after_read=other, name="condproxy-fencing") as cp:
        s3_sequence(h, run, bucket, cp.endpoint, "s3rver")
        snap = cp.snapshot()
        # 5 writes: create (If-None-Match), create (If-Match), update, create, delete
        h.check(snap["cond_checked"] == 5 and snap["cond_passed"] == 5,
                "every write of the sequence was conditional (condproxy checked %d, passed %d)"
                % (snap["cond_checked"], snap["cond_passed"]))
        s3_stale_writes(h, run, bucket, cp.endpoint, other, "s3rver")
        snap = cp.snapshot()
        h.check(snap["cond_refused_412"] == 4 and snap["cond_refused_404"] == 2,
                "condproxy refused 4 writes with 412 and 2 with 404 (%d, %d)"
                % (snap["cond_refused_412"], snap["cond_refused_404"]))

    # The controls: the stale update lands when the store sends no conditions, and when s3rver alone
    # judges them (it ignores them): what refused it above was the conditions, enforced by condproxy.
    upd = body(type="update", requestId="c1", widgetId="w1", owner="Ann Lee", label="stale")
    for what, enforce, conditions in (("the conditions switched off", True, False),
                                      ("s3rver alone judging the conditions", False, True)):
        other.put(W1, ORIGINAL)()
        with condproxy.CondProxy(h.s3_endpoint(), enforce=enforce, after_read=other, name="condproxy-ctl") as cp:
            other.arm("GET", W1, other.put(W1, OTHERS))
            out = run.apply("s3", bucket, upd, 9, conditions=conditions, s3_endpoint=cp.endpoint)
        got = s3_object(h, bucket, W1)
        h.check(out == "ok" and got is not None and got.get("label") == "stale",
                "control, %s: the stale update overwrites the other leader's write" % what,
                "  got: %s, object %s" % (out, got))


def case_rgw(h, run):
    h.use_s3("rgw")
    bucket = h.create_store("s3", "fence-rgw")
    other = Other(h.s3, bucket)
    with condproxy.CondProxy(h.s3_endpoint(), enforce=False, after_read=other, name="condproxy-rgw") as cp:
        s3_sequence(h, run, bucket, cp.endpoint, "rgw")
        s3_stale_writes(h, run, bucket, cp.endpoint, other, "rgw", delete_if_match=False)
        h.check(cp.snapshot()["cond_checked"] == 0, "condproxy did not judge anything: RGW refused by itself")
    h.use_s3("s3rver")


def main():
    h = wdtest.Harness(__doc__, rgw=True, extra_args=lambda p: p.add_argument(
        "--fence-apply", help="the fence_apply tool (default: beside the widgetd binary)"))
    try:
        run = Runner(h)
    except wdtest.HarnessError as e:
        h.check(False, "harness: %s" % e)
        h.finish()
    for name, fn in (("dynamodb-current-leadership", case_ddb_current),
                     ("dynamodb-deposed-leader", case_ddb_deposed),
                     ("dynamodb-too-large", case_ddb_too_large),
                     ("s3rver-condproxy", case_s3rver),
                     ("rgw", case_rgw)):
        with h.case(name) as go:
            if go:
                fn(h, run)
    h.finish()


if __name__ == "__main__":
    main()
