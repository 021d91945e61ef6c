#!/usr/bin/env python3
"""leasetest.py: what the lease's system tests (test_lease.py, test_lease_faults.py) share: several real widgetd
processes on one requests bucket and store with a [lease] (SPEC 9), each behind proxies of its own, so that
every call of every instance is on record.

Cluster: one requests bucket (and prefix), one store, one lease table. cluster.spawn(name) starts an Instance:
widgetd with its own config file ([lease] name = NAME), its own RecordingProxy in front of S3 and another in
front of DynamoDB (the signature proxy of DynamoDB Local), its own NOTIFY_SOCKET, and a thread that reads its
log as it grows and timestamps each line on the test's monotonic clock. An instance may be started behind a
gate (gate=True, then cluster.open_gates(instances)): a shell that blocks on its stdin until the test writes
one newline to each, so that several start within a millisecond of each other.

RecordingProxy (a faultproxy.FaultProxy) records each request: when it arrived (monotonic), the operation, the
S3 bucket or the DynamoDB tables it names, and, once the stand-in answered, the status and when. With
hold(pred) the first request that pred accepts is held, unforwarded, until release(): a store write that is
late by as long as the test likes. The FaultProxy's own faults (configure(p=1.0, kinds=("stall",))) make the
service unreachable for one instance alone.

Classification (Instance.kind(rec)): "lease" (DynamoDB calls that name the lease table alone), "store"
(calls on the store bucket or naming the store table), "requests" (calls on the requests bucket, dead
letters included). A store write is an S3 PUT/POST/DELETE on the store bucket, or a DynamoDB write that names
the store table.

The log lines matched (one per event; only their stable parts):
  lease: now the leader (leadership N) (the lease was free) | (took over from 'NAME') | (handed over by 'NAME')
  lease: standby behind 'NAME' (leadership N)
  lease: lost the lease (leadership N): WHY; standing by
  lease: released the lease (leadership N)
  exiting: ...; calls: OP=N ... | none; lease calls: GetItem=N UpdateItem=N TransactWriteItems=N
"""
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import condproxy  # noqa: E402
import faultproxy as fx  # noqa: E402
import wdtest  # noqa: E402
from notify_socket import NotifySocket  # noqa: E402

# Short lease settings (tests only). widgetd refuses duration_ms <= renew_ms + connect_timeout_ms + timeout_ms.
LEASE_OPTS = dict(duration_ms=3000, renew_ms=500)
DAEMON_OPTS = dict(poll_interval_ms=100, poll_max_interval_ms=1000, connect_timeout_ms=500, timeout_ms=1500,
                   calls_in_flight=32)
# Slack for a loaded 2-core machine on top of the bounds SPEC 9 gives (lease + one renewal for a takeover).
MARGIN_S = 2.0

LEADER_RE = re.compile(r"lease: now the leader \(leadership (\d+)\)(?: \((?:(the lease was free)|took over from "
                       r"'([^']*)'|handed over by '([^']*)')\))?")
STANDBY_RE = re.compile(r"lease: standby behind '([^']*)' \(leadership (\d+)\)")
LOST_RE = re.compile(r"lease: lost the lease \(leadership (\d+)\): (.*); standing by")
RELEASED_RE = re.compile(r"lease: released the lease \(leadership (\d+)\)")
ROLE_RE = re.compile("|".join(r.pattern for r in (LEADER_RE, STANDBY_RE)))
EXIT_RE = re.compile(r"exiting: [^;]*; calls: ([^;]*)(?:; lease calls: ([^;]*))?")
APPLIED_RE = wdtest.INFO_RE

S3_WRITES = ("PUT", "POST", "DELETE")
DDB_WRITES = ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem")


def lease_key(bucket, prefix=""):
    """The lease item's key (SPEC 9 contract): widgetd/<requests bucket>/<requests prefix>."""
    return "widgetd/%s/%s" % (bucket, prefix)


def create_lease_table(h, tag="lease"):
    """A lease table (string hash key "key"), deleted with the harness's tables."""
    name = h.unique_name(tag)
    try:
        h.ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                           AttributeDefinitions=[{"AttributeName": "key", "AttributeType": "S"}],
                           KeySchema=[{"AttributeName": "key", "KeyType": "HASH"}])
        h.ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    except Exception as e:
        raise wdtest.HarnessError("create lease table %s: %s" % (name, e))
    h.tables.append(name)
    return name


def read_item(h, table, key):
    """The item as a plain dict (S, N as int, BOOL), or None."""
    r = h.ddb.get_item(TableName=table, Key={"key": {"S": key}}, ConsistentRead=True)
    item = r.get("Item")
    if item is None:
        return None
    out = {}
    for name, av in item.items():
        (t, v), = av.items()
        out[name] = int(v) if t == "N" else v
    return out


def parse_exit(text):
    """{"calls": {op: n}, "lease_calls": {op: n} or None, "line": str} of the last exit line, or None."""
    found = None
    for line in text.split("\n"):
        m = EXIT_RE.search(line)
        if m:
            found = (line, m)
    if not found:
        return None
    line, m = found

    def counts(s):
        out = {}
        for part in (s or "").split():
            k, _, v = part.partition("=")
            if v.isdigit():
                out[k] = int(v)
        return out
    return {"calls": counts(m.group(1)), "calls_none": m.group(1).strip() == "none",
            "lease_calls": counts(m.group(2)) if m.group(2) is not None else None, "line": line}


def write_config(path, bucket, store, store_name, lease_table=None, name=None, prefix=None, lease=None,
                 daemon=None):
    """A widgetd config file with [lease] when lease_table is given (endpoints come from the environment)."""
    lines = ["[requests]", "bucket = %s" % bucket]
    if prefix:
        lines.append("prefix = %s" % prefix)
    lines += ["", "[store]", "kind = %s" % store, "name = %s" % store_name, "", "[aws]", "region = us-east-1", "",
              "[daemon]"] + ["%s = %s" % kv for kv in dict(DAEMON_OPTS, **(daemon or {})).items()]
    if lease_table:
        lines += ["", "[lease]", "table = %s" % lease_table]
        if name:
            lines.append("name = %s" % name)
        lines += ["%s = %s" % kv for kv in dict(LEASE_OPTS, **(lease or {})).items()]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path


# ------------------------------------------------------------------------------------------------ proxy

def _tables_of(body):
    """Every TableName a DynamoDB request body names (TransactWriteItems: each item's)."""
    try:
        doc = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return set()
    out = set()

    def walk(x):
        if isinstance(x, dict):
            for k, v in x.items():
                if k == "TableName" and isinstance(v, str):
                    out.add(v)
                else:
                    walk(v)
            for k in ("RequestItems",):   # BatchWriteItem / BatchGetItem: tables are keys
                if isinstance(x.get(k), dict):
                    out.update(x[k])
        elif isinstance(x, list):
            for v in x:
                walk(v)
    walk(doc)
    return out


class Rec:
    """One request seen by a RecordingProxy."""
    __slots__ = ("t", "op", "method", "path", "bucket", "tables", "body", "status", "t_done", "resp_body", "held",
                 "t_released", "error")

    def __init__(self, t, op, method, path, bucket, tables, body):
        self.t, self.op, self.method, self.path, self.bucket, self.tables = t, op, method, path, bucket, tables
        self.body = body
        self.status = self.t_done = self.resp_body = self.t_released = self.error = None
        self.held = False

    @property
    def ok(self):
        return self.status is not None and 200 <= self.status < 300

    def __repr__(self):
        return "<%s %s %s%s -> %s at %.3f>" % (self.op, self.path[:90], ",".join(sorted(self.tables)),
                                                " held" if self.held else "", self.status or self.error, self.t)


class RecordingProxy(fx.FaultProxy):
    """A FaultProxy that records every request (Rec) and can hold one request back until release()."""

    def __init__(self, upstream, **kw):
        super().__init__(upstream, **kw)
        self.records = []
        self._rec_lock = threading.Lock()
        self._tl = threading.local()
        self._hold_pred = None
        self._held = None
        self._held_event = threading.Event()
        self._release_event = threading.Event()

    def _handle(self, conn, reader, req, up):
        method, target = req.start.split(" ")[:2]
        path = target.split("?", 1)[0]
        op = self.op_of(req)
        ddb = bool(req.header("X-Amz-Target"))
        bucket = None if ddb else (path.lstrip("/").split("/", 1)[0] or None)
        rec = Rec(time.monotonic(), op, method, target, bucket, _tables_of(req.body) if ddb else set(), req.body)
        hold = False
        with self._rec_lock:
            self.records.append(rec)
            if self._hold_pred is not None and self._held is None and self._hold_pred(rec):
                self._held = rec
                hold = True
        self._tl.rec = rec
        if hold:
            rec.held = True
            self._held_event.set()
            while not self._release_event.wait(0.05):
                if self._stop.is_set():
                    return False
            rec.t_released = time.monotonic()
        return super()._handle(conn, reader, req, up)

    def _forward(self, req, method, up):
        rec = getattr(self._tl, "rec", None)
        try:
            resp = super()._forward(req, method, up)
        except Exception as e:
            if rec is not None:
                rec.error, rec.t_done = "%s: %s" % (type(e).__name__, e), time.monotonic()
            raise
        if rec is not None:
            try:
                rec.status = int(resp.start.split(" ", 2)[1])
            except (IndexError, ValueError):
                rec.status = -1
            rec.resp_body = self._body_of(resp)[:4000]
            rec.t_done = time.monotonic()
        return resp

    def hold(self, pred):
        """Holds the first request that pred(rec) accepts until release()."""
        with self._rec_lock:
            self._hold_pred, self._held = pred, None
        self._held_event.clear()
        self._release_event.clear()

    def wait_held(self, timeout):
        """The held Rec once one is held, or None after timeout seconds."""
        return self._held if self._held_event.wait(timeout) else None

    def release(self):
        self._release_event.set()

    def snapshot_records(self):
        with self._rec_lock:
            return list(self.records)

    def cut(self, kind):
        """Makes the service unreachable for this proxy's client: "stall" (blackhole: requests read, never
        answered) or "refuse" (connections reset and refused)."""
        self.configure(p=1.0, kinds=(kind,), refuse_s=3600.0)

    def restore(self):
        self.configure(p=0.0)
        self._refuse_until = 0.0


# ------------------------------------------------------------------------------------------------ a process

class LogWatcher:
    """Reads a growing log file every 20 ms and keeps (time read, line) for each complete line."""

    def __init__(self, path):
        self.path, self.lines, self._pos, self._buf = path, [], 0, b""
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="logwatch", daemon=True)
        self._thread.start()

    def _read(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self._pos)
                data = f.read()
        except OSError:
            return
        if not data:
            return
        now = time.monotonic()
        self._pos += len(data)
        self._buf += data
        parts = self._buf.split(b"\n")
        self._buf = parts.pop()
        with self._cond:
            self.lines.extend((now, p.decode("utf-8", "replace")) for p in parts)
            self._cond.notify_all()

    def _run(self):
        while not self._stop.is_set():
            self._read()
            self._stop.wait(0.02)
        self._read()

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=2)

    def find_all(self, regex, since=None):
        with self._cond:
            return [(t, regex.search(line)) for t, line in self.lines
                    if (since is None or t >= since) and regex.search(line)]

    def find(self, regex, since=None):
        """(time, match) of the first line from `since` on that regex matches, or (None, None)."""
        r = self.find_all(regex, since)
        return r[0] if r else (None, None)

    def wait(self, regex, timeout, since=None, alive=None):
        """find(), waiting up to timeout seconds (less when alive() turns false)."""
        end = time.monotonic() + timeout
        while True:
            t, m = self.find(regex, since)
            if m or time.monotonic() >= end or (alive is not None and not alive()):
                if not m:
                    self._read()
                    t, m = self.find(regex, since)
                return t, m
            with self._cond:
                self._cond.wait(min(0.05, max(0.0, end - time.monotonic())))


GATE_SCRIPT = 'read -r _ || exit 99; exec "$0" "$@" </dev/null'


class Instance:
    """One widgetd of a Cluster with its proxies, notify socket and log watcher."""

    def __init__(self, cluster, name, env=None, gate=False, s3_upstream=None, ddb_upstream=None):
        h = cluster.h
        self.cluster, self.name = cluster, name
        self.s3p = RecordingProxy(s3_upstream or cluster.s3_upstream, name="s3-" + name).start()
        self.ddbp = RecordingProxy(ddb_upstream or h.env["WD_DDB_PROXY_ENDPOINT"], name="ddb-" + name).start()
        self.ns = NotifySocket()
        self.conf = write_config(os.path.join(h.workdir, "%s-%s.conf" % (cluster.tag, name)), cluster.bucket,
                                 cluster.store, cluster.store_name, cluster.lease_table, name, cluster.prefix,
                                 cluster.lease_opts, cluster.daemon_opts)
        self.log_path = os.path.join(h.workdir, "%s-%s.log" % (cluster.tag, name))
        full_env = h.widgetd_env(dict({"AWS_ENDPOINT_URL_S3": self.s3p.endpoint,
                                       "AWS_ENDPOINT_URL_DYNAMODB": self.ddbp.endpoint,
                                       "NOTIFY_SOCKET": self.ns.path}, **(env or {})))
        self._log = open(self.log_path, "ab")
        argv = [h.widgetd, "-c", self.conf]
        if gate:
            argv = ["/bin/sh", "-c", GATE_SCRIPT] + argv
        self.gated = gate
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE if gate else subprocess.DEVNULL, stdout=self._log,
                                     stderr=self._log, env=full_env, start_new_session=True)
        self.pid = self.proc.pid
        self.t_start = time.monotonic()
        self.watch = LogWatcher(self.log_path)
        self.stopped = False    # SIGSTOPped now
        self.killed = False
        self.rc = None

    # ----- life -----

    def open_gate(self):
        if self.gated and self.proc.stdin:
            self.t_start = time.monotonic()
            try:
                self.proc.stdin.write(b"\n")
                self.proc.stdin.close()
            except OSError:
                pass

    def alive(self):
        return self.proc.poll() is None

    def sigstop(self):
        os.kill(self.pid, signal.SIGSTOP)
        self.stopped = True
        return time.monotonic()

    def sigcont(self):
        os.kill(self.pid, signal.SIGCONT)
        self.stopped = False
        return time.monotonic()

    def kill9(self):
        t = time.monotonic()
        if self.alive():
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except OSError:
                pass
            self.killed = True
        self.proc.wait()
        self.rc = self.proc.returncode
        return t

    def terminate(self, timeout=60):
        """SIGTERM and wait: the exit code (None when it had to be killed)."""
        if self.stopped:
            self.sigcont()
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
            self.rc = None
        return self.rc

    def wait_exit(self, timeout):
        """The exit code, or None while it runs after timeout seconds."""
        try:
            self.rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.rc

    def close(self):
        """Kills what is left and stops the proxies, the socket and the watcher (idempotent)."""
        if self.alive():
            if self.stopped:
                try:
                    os.kill(self.pid, signal.SIGCONT)
                except OSError:
                    pass
            self.kill9()
        self.watch.stop()
        for p in (self.s3p, self.ddbp):
            p.release()
            p.stop()
        self.ns.close()
        if not self._log.closed:
            self._log.close()

    # ----- what it logged -----

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def role(self, since=None):
        """("leader", leadership, how, prev) or ("standby", leadership, holder) of the last role line, or None."""
        found = self.watch.find_all(ROLE_RE, since)
        lost = self.watch.find_all(LOST_RE, since)
        last = None
        for t, m in found:
            last = (t, m)
        if last is None:
            return None
        t, m = last
        if any(tl > t for tl, _ in lost):
            return ("lost",)
        return self.parse_role(m.group(0))

    @staticmethod
    def parse_role(text):
        m = LEADER_RE.search(text)
        if m:
            how = "free" if m.group(2) else "took over" if m.group(3) is not None else \
                "handed over" if m.group(4) is not None else "?"
            return ("leader", int(m.group(1)), how, m.group(3) if m.group(3) is not None else m.group(4))
        m = STANDBY_RE.search(text)
        if m:
            return ("standby", int(m.group(2)), m.group(1))
        return None

    def leader_lines(self, since=None):
        """[(time, leadership, how, previous holder)] of every "now the leader" line."""
        return [(t,) + self.parse_role(m.group(0))[1:] for t, m in self.watch.find_all(LEADER_RE, since)]

    def led_again(self, since):
        """When this instance leads again after `since` (inf: never): the answer to its next lease acquisition
        (a TransactWriteItems on the lease table), or its next "now the leader" line if that is read first.
        A log line is timestamped when the test reads it, up to the watcher's lag later, and a new leadership's
        first calls can reach the proxies before that."""
        lines = [t for t, *_ in self.leader_lines(since)]
        acquired = [r.t_done for r in self.records() if self.kind(r) == "lease" and r.op == "TransactWriteItems"
                    and r.ok and r.t_done and r.t_done > since]
        return min(lines[:1] + acquired, default=float("inf"))

    def wait_role(self, timeout, since=None):
        t, m = self.watch.wait(ROLE_RE, timeout, since, alive=self.alive)
        return (t, self.parse_role(m.group(0))) if m else (None, None)

    def wait_leader(self, timeout, since=None):
        t, m = self.watch.wait(LEADER_RE, timeout, since, alive=self.alive)
        return (t, self.parse_role(m.group(0))) if m else (None, None)

    def applied(self, since=None):
        """Requests applied (info lines), all or those logged from since on."""
        return len(self.watch.find_all(APPLIED_RE, since))

    def exit_counts(self):
        return parse_exit(self.log())

    def tail(self, n=15):
        lines = self.log().split("\n")
        return "\n".join("    | " + line for line in lines[-n:])

    # ----- what it called -----

    def kind(self, rec):
        c = self.cluster
        if rec.tables:
            if c.store == "dynamodb" and c.store_name in rec.tables:
                return "store"
            if rec.tables <= {c.lease_table}:
                return "lease"
            return "other"
        if rec.bucket == c.store_name:
            return "store"
        if rec.bucket == c.bucket:
            return "requests"
        return "other"

    def is_store_write(self, rec):
        if self.kind(rec) != "store":
            return False
        return rec.op in DDB_WRITES if rec.tables else rec.method in S3_WRITES

    def records(self):
        return self.s3p.snapshot_records() + self.ddbp.snapshot_records()

    def calls(self, kinds=("requests", "store"), since=None, until=None):
        """The records of the given kinds arriving in [since, until), in arrival order."""
        out = [r for r in self.records() if self.kind(r) in kinds and (since is None or r.t >= since)
               and (until is None or r.t < until)]
        return sorted(out, key=lambda r: r.t)

    def lease_writes_ok(self, since=None, until=None):
        """Arrival times of the lease writes (acquisitions, renewals, releases) that the table accepted."""
        return sorted(r.t for r in self.ddbp.snapshot_records() if self.kind(r) == "lease" and r.op in DDB_WRITES
                      and r.ok and (since is None or r.t >= since) and (until is None or r.t < until))

    def last_lease_write_ok(self, until=None):
        """Arrival time of the last lease write that the table accepted, before until (or None)."""
        ts = self.lease_writes_ok(until=until)
        return ts[-1] if ts else None


class Cluster:
    """A requests bucket (+ prefix), a store and a lease table shared by the instances spawned on them."""

    def __init__(self, h, tag, store, lease_table=None, prefix=None, lease_opts=None, daemon_opts=None,
                 bucket=None, store_name=None, lease=True, s3_upstream=None, cond=None):
        """cond: put a condproxy.CondProxy in front of the S3 server, which then enforces S3's conditional
        writes (If-Match, If-None-Match) as AWS does; default: for an S3 store on s3rver, which ignores them
        (a fenced S3 store is only fenced where the server checks its conditions)."""
        self.h, self.tag, self.store = h, tag, store
        self.bucket = bucket or h.create_bucket(tag + "-req")
        self.store_name = store_name or h.create_store(store, tag)
        self.lease_table = (lease_table or create_lease_table(h)) if lease else None
        self.prefix = prefix
        self.lease_opts, self.daemon_opts = lease_opts, daemon_opts
        self.s3_upstream = s3_upstream or h.s3_endpoint()
        if cond is None:
            cond = store == "s3" and self.s3_upstream == h.env["WD_S3_ENDPOINT"]
        self.condproxy = condproxy.CondProxy(self.s3_upstream, name="cond-" + tag).start() if cond else None
        if self.condproxy:
            self.s3_upstream = self.condproxy.endpoint
        self.instances = []
        self.requests = {}

    @property
    def key(self):
        return lease_key(self.bucket, self.prefix or "")

    @property
    def duration_s(self):
        return dict(LEASE_OPTS, **(self.lease_opts or {}))["duration_ms"] / 1000.0

    @property
    def renew_s(self):
        return dict(LEASE_OPTS, **(self.lease_opts or {}))["renew_ms"] / 1000.0

    @property
    def call_bound_s(self):
        d = dict(DAEMON_OPTS, **(self.daemon_opts or {}))
        return (d["connect_timeout_ms"] + d["timeout_ms"]) / 1000.0

    @property
    def takeover_bound_s(self):
        """SPEC 9: lease duration plus one renewal, plus MARGIN_S for this machine."""
        return self.duration_s + self.renew_s + MARGIN_S

    def spawn(self, name, env=None, gate=False):
        inst = Instance(self, name, env=env, gate=gate)
        self.instances.append(inst)
        return inst

    @staticmethod
    def open_gates(instances):
        for i in instances:
            i.open_gate()

    def load(self, requests, threads=32, verify=True):
        """Puts requests into the bucket, in parallel: only while no instance takes them (else load_live)."""
        self.requests.update(requests)
        self.h.load(self.bucket, requests, threads=threads, verify=verify)

    def load_live(self, requests):
        """Puts requests while an instance may be taking them: one at a time in key order (a parallel load could
        show a later request of a widget before an earlier one), each appearing whole (Producer)."""
        p = Producer(self.h, self, requests, rate=1e9)
        p.start()
        p.join()

    def intake_left(self):
        return [k for k in self.h.list_keys(self.bucket, self.prefix or "") if not k.startswith(wdtest.DEAD_PREFIX)]

    def any_left(self):
        return self.h.any_request_left(self.bucket, self.prefix or "")

    def wait_drained(self, timeout):
        return fx.wait_until(lambda: not self.any_left(), timeout, 0.25)

    def live(self):
        return [i for i in self.instances if i.alive()]

    def leaders(self, since=None):
        return [i for i in self.live() if (i.role(since) or ("?",))[0] == "leader"]

    def lease_item(self):
        return read_item(self.h, self.lease_table, self.key)

    def stop_all(self, leader_last=True, timeout=60):
        """SIGTERM the live instances, standbys first (a standby stopped after the leader would take over):
        {name: exit code}."""
        live = self.live()
        live.sort(key=lambda i: (i.role() or ("?",))[0] == "leader" if leader_last else 0)
        return {i.name: i.terminate(timeout) for i in live}

    def close(self):
        for i in self.instances:
            i.close()
        if self.condproxy:
            self.condproxy.stop()

    def check_logs(self, h, what=None):
        """Sanitizer reports and <N> prefixes in every instance's log."""
        ok = True
        for i in self.instances:
            ok &= fx.check_log_clean(h, "%s%s: log" % (what + ": " if what else "", i.name), i.log(), killed=i.killed)
        return ok

    def judge_problems(self):
        """What differs from the oracle (store, intake, dead letters), as lines; checks nothing itself (for
        tests that judge many rounds with one check)."""
        h = self.h
        expected, dead, _ = h.oracle(self.requests, self.store)
        out = h.diff_widgets(expected, h.read_store(self.store, self.store_name))
        left = self.intake_left()
        if left:
            out.append("%d requests left in the bucket, e.g. %s" % (len(left), left[:3]))
        letters = h.read_dead_letters(self.bucket)
        want = {k for k, _ in dead}
        if set(letters) != want:
            out.append("dead letters %s, want %s" % (sorted(letters)[:4], sorted(want)[:4]))
        out += ["dead-letter/%s has no reason" % k for k, (reason, _) in letters.items() if not reason]
        return out

    def judge(self, h, what):
        """fx.judge_state on the cluster's requests. Returns (ok, lost)."""
        return fx.judge_state(h, what, self.requests, self.bucket, self.store, self.store_name)


class Producer(threading.Thread):
    """Puts requests ({key: body}, put in key order, one at a time so that keys appear in arrival order) at
    `rate` per second, as a producer would, while the test does something else.

    s3rver lists an object, and serves it empty, while its PUT is still being written (../shared/STANDINS.md:
    it creates the file when the headers arrive and boto3 sends the body after "100 Continue"), which S3
    never does: widgetd would rightly dead-letter such a request as empty JSON. So each request is PUT into a
    staging bucket first and then copied into place with CopyObject, which s3rver does with one copyFile of
    the whole object: the key appears with its whole body, as S3's atomic PUT would give it."""

    def __init__(self, h, cluster, requests, rate):
        super().__init__(name="producer", daemon=True)
        self.h, self.cluster, self.rate = h, cluster, rate
        self.items = sorted(requests.items())
        self.done = 0
        self._stop_ev = threading.Event()
        server, before = h.bucket_server.get(cluster.bucket, "s3rver"), h.s3_server
        if server != before:   # the staging bucket lives where the requests bucket does (never in parallel cases)
            h.use_s3(server)
        try:
            self.staging = h.create_bucket(cluster.tag + "-stage")
        finally:
            if server != before:
                h.use_s3(before)
        cluster.requests.update(requests)
        h.guard_folders(requests)
        h.loaded.setdefault(cluster.bucket, set()).update(requests)

    def run(self):
        client = self.h._client_for(self.cluster.bucket)
        t0 = time.monotonic()
        for i, (key, body) in enumerate(self.items):
            if self._stop_ev.is_set():
                return
            wait = t0 + i / self.rate - time.monotonic()
            if wait > 0:
                self._stop_ev.wait(wait)
            client.put_object(Bucket=self.staging, Key=key, Body=body, ContentType="application/json")
            client.copy_object(Bucket=self.cluster.bucket, Key=key, CopySource={"Bucket": self.staging, "Key": key})
            self.done = i + 1

    def finish(self):
        """Puts the rest at once."""
        self.rate = 1e9
        self.join()

    def stop(self):
        self._stop_ev.set()
        self.join()


class Tagged:
    """The harness as one of several cases running at once sees it: its checks carry the case's name."""

    def __init__(self, h, tag):
        self._h, self._tag = h, tag

    def check(self, ok, what, detail=""):
        return self._h.check(ok, "%s: %s" % (self._tag, what), detail)

    def __getattr__(self, name):
        return getattr(self._h, name)


def together(h, figures, cases):
    """Runs cases [(name, fn, *args)] at once, in threads, as one harness case."""
    cases = [c for c in cases if h.selected(c[0])]
    if not cases:
        return
    name = "+".join(c[0] for c in cases)
    with h.case(name):
        t0 = time.monotonic()

        def one(case):
            tag, fn, args = case[0], case[1], case[2:]
            out = []
            try:
                fn(Tagged(h, tag), *args, out)
            except Exception:
                h.check(False, "%s: unexpected exception" % tag, traceback.format_exc())
            return ["%s [%.0fs]" % (f, time.monotonic() - t0) for f in out]
        with ThreadPoolExecutor(max_workers=len(cases)) as ex:
            for out in ex.map(one, cases):
                figures.extend(out)
        print("# %s cost %.1fs" % (name, time.monotonic() - t0), flush=True)


def request(kind, wid, owner, rid, **fields):
    """One request body."""
    d = {"type": kind, "requestId": rid, "widgetId": wid, "owner": owner}
    d.update(fields)
    return json.dumps(d).encode("utf-8")
