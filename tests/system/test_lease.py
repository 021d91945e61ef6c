#!/usr/bin/env python3
"""System test (SPEC 9, issue 14): several widgetd instances with a lease: one leader, standbys that make no
request or store call, a graceful hand-over, a leader cut off from DynamoDB; and two instances without a
lease. The crash, pause and stale-write cases are in test_lease_faults.py.

Every instance runs behind proxies of its own (leasetest.Instance), so each call it made is on record;
the lease is short (3 s, renewed every 0.5 s; calls bounded by 0.5 s connect + 1.5 s) and every log line is
timestamped as the test reads it.

  start-race      20 rounds, stores alternating: three instances released at the same moment (a gate: each
                  waits on its stdin for one newline) on a fresh lease key with 30 requests. Exactly one
                  leader (leadership 1, "the lease was free"), the others standby behind it; no other role
                  change; STATUS= says the role within 1 s of its log line; the standbys' proxies saw no S3
                  call at all and no DynamoDB call that names anything but the lease table, and their exit
                  lines say "calls: none" and count lease calls; stopped standbys first, every exit 0; the
                  lease item then names the leader, released; judged by the oracle. Two rounds at a time,
                  each on its own lease key.
  race8           50 rounds against DynamoDB Local: eight instances released at the same moment on a fresh
                  lease key (a fresh requests prefix): one winner, the seven others standby behind it, the
                  lease item names it; nobody else becomes leader in the 2 s after (two renewals). Three
                  rounds at a time. Both race cases use a 10 s lease (RACE_LEASE), the others 3 s.
  sigterm-*       each store: SIGTERM of a working leader: it drains, logs that it released the lease, exits
                  0; the standby logs "handed over by" it within 5 s of the SIGTERM; the old leader's last
                  request or store call is answered before the new one's first starts; judged by the oracle.
                  The two stores' cases run at the same time.
  ddb-cut         S3 store, requests arriving at 40/s: the leader's DynamoDB traffic blackholed (round 1:
                  requests read and never answered) or refused (round 2: connections reset) for 2.5 lease
                  durations. The cut-off leader logs that it lost the lease before the lease can have
                  expired (and never that the table answers again while it does not), starts no request or
                  store call after (last lease write it got through) + lease - call bound, and its last call
                  is answered before the standby's first; the standby takes over within lease + renewal of
                  that last lease write, and not before the old lease's end; when DynamoDB is back the old
                  leader stands by behind the new one. In round 2 the roles are swapped: the new leader is
                  cut off. Judged by the oracle.
  nolease         two instances without [lease] on one bucket (SPEC 9: one per bucket is the rule): each
                  one that found requests gone between LIST and GET (seen at its proxy: a 404 GET on the
                  requests bucket) warns about another consumer, at most once per episode (polls in a row
                  that found requests gone, as its proxy saw them), not once per request.
"""
import os
import random
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faultproxy as fx  # noqa: E402
import leasetest as lt  # noqa: E402
import wdtest  # noqa: E402

SEED = 1400
TOL_S = 0.3   # a call's arrival at the proxy after widgetd started it, on a loaded machine
# The race cases test who wins, not step-down: a 10 s lease renewed every second. With the 3 s lease of
# the other cases (a leader steps down after about 1 s without a renewal), 24 sanitizer-built instances
# on two cores once kept a winner's renewals from landing in time in CI: it stepped down and took the
# lease again as leadership 2, correctly, but not what a race case is about.
RACE_LEASE = dict(duration_ms=10000, renew_ms=1000)


def agg_check(h, problems, what, limit=12):
    """One check for a property over many rounds: problems is a list of strings (empty: passed)."""
    return h.check(not problems, what, "\n".join("  " + p for p in problems[:limit]) +
                   ("\n  ... %d more" % (len(problems) - limit) if len(problems) > limit else ""))


def status_of(inst):
    return [m.get("STATUS") for m in inst.ns.messages() if m.get("STATUS")]


def status_lag(inst, want, t_role):
    """Seconds from the role's log line (as read) to the first STATUS= that begins with want (negative: before
    it), or None when there is none."""
    for m in inst.ns.messages():
        st = m.get("STATUS")
        if st and st.startswith(want):
            return m.t - t_role
    return None


def standby_problems(inst, leader_name):
    """What a standby did that it must not: any S3 call, a DynamoDB call naming more than the lease table, an
    exit line with calls."""
    out = []
    s3 = inst.s3p.snapshot_records()
    if s3:
        out.append("%s (standby) made %d S3 calls, e.g. %s" % (inst.name, len(s3), s3[:3]))
    other = [r for r in inst.ddbp.snapshot_records() if inst.kind(r) != "lease"]
    if other:
        out.append("%s (standby) made %d DynamoDB calls beyond the lease table, e.g. %s" % (inst.name, len(other),
                                                                                          other[:3]))
    ex = inst.exit_counts()
    if ex is None:
        out.append("%s (standby): no exit line" % inst.name)
    else:
        if not ex["calls_none"]:
            out.append("%s (standby): exit line counts request/store calls: %s" % (inst.name, ex["line"]))
        if not ex["lease_calls"]:
            out.append("%s (standby): exit line counts no lease calls: %s" % (inst.name, ex["line"]))
    return out


# ------------------------------------------------------------------------------------------------ start race

def start_round(h, r, lease_table, pr):
    """One round of the start race (3 instances released at once on a fresh lease key). Returns the
    winner's letter or None."""
    leader = None
    store = ("s3", "dynamodb")[r % 2]
    c = lt.Cluster(h, "sr%02d" % r, store, lease_table=lease_table, lease_opts=RACE_LEASE)
    try:
        requests = fx.mixed_requests(h.shared_dir, 30, SEED + r, bad_every=15)
        c.load(requests)
        insts = [c.spawn("sr%02d-%s" % (r, x), gate=True) for x in "abc"]
        c.open_gates(insts)
        waited = {i.name: i.wait_role(20) for i in insts}
        roles = {k: v[1] for k, v in waited.items()}
        tag = "round %d (%s)" % (r, store)
        if not all(roles.values()):
            pr["roles"].append("%s: no role logged by %s; %s" % (
                tag, [n for n, v in roles.items() if not v],
                "; ".join("%s exit %s:\n%s" % (i.name, i.proc.poll(), i.tail(4))
                          for i in insts if not roles[i.name])))
        leaders = [n for n, v in roles.items() if v and v[0] == "leader"]
        if len(leaders) != 1:
            pr["one"].append("%s: %d leaders %s; roles %s" % (tag, len(leaders), leaders, roles))
        leader = leaders[0] if len(leaders) == 1 else None
        if leader and roles[leader][1:3] != (1, "free"):
            pr["one"].append("%s: leader %s: want leadership 1, the lease was free; got %s" % (tag, leader,
                                                                                           roles[leader]))
        for n, v in roles.items():
            if leader and n != leader and v and (v[0] != "standby" or v[2] != leader or v[1] != 1):
                pr["standby"].append("%s: %s: want standby behind '%s' (leadership 1), got %s"
                                     % (tag, n, leader, v))
        drained = c.wait_drained(60)
        if not drained:
            pr["oracle"].append("%s: not drained within 60 s" % tag)
        time.sleep(2 * c.renew_s)
        for i in insts:
            lines = i.leader_lines()
            if (i.name == leader and len(lines) != 1) or (i.name != leader and lines):
                pr["changes"].append("%s: %s logged %d 'now the leader' lines: %s"
                                     % (tag, i.name, len(lines), lines))
            want = "leader since " if i.name == leader else "standby behind '%s'" % leader
            lag = status_lag(i, want, waited[i.name][0]) if leader and waited[i.name][0] else None
            if leader and (lag is None or lag > 1.0):
                pr["status"].append("%s: %s: %s STATUS= beginning %r within 1 s of its role line; got %s"
                                    % (tag, i.name, "no" if lag is None else "%.2fs late:" % lag, want,
                                       status_of(i)[-2:]))
        rcs = c.stop_all()
        if any(rc != 0 for rc in rcs.values()):
            pr["exit"].append("%s: exit codes %s" % (tag, rcs))
        for i in insts:
            if leader and i.name != leader:
                pr["standby"].extend("%s: %s" % (tag, p) for p in standby_problems(i, leader))
            elif leader:
                ex = i.exit_counts()
                if not ex or ex["calls_none"] or not ex["calls"]:
                    pr["exit"].append("%s: leader %s: exit line without its calls: %s" % (tag, i.name,
                                                                                       ex and ex["line"]))
        item = c.lease_item()
        if leader and (not item or item.get("owner") != leader or item.get("leadership") != 1
                       or item.get("released") is not True):
            pr["item"].append("%s: lease item %s = %s (want owner %s, leadership 1, released true)"
                              % (tag, c.key, item, leader))
        if not all(fx.log_problems(i.log()) == ([], []) for i in insts):
            pr["logs"].append("%s: %s" % (tag, [(i.name, fx.log_problems(i.log())) for i in insts
                                                if fx.log_problems(i.log()) != ([], [])][:2]))
        pr["oracle"].extend("%s: %s" % (tag, p) for p in c.judge_problems())
    finally:
        c.close()
    return leader[-1] if leader else None


def case_start_race(h, figures):
    lease_table = lt.create_lease_table(h)
    rounds = h.args.rounds_start
    pr = {k: [] for k in ("roles", "one", "standby", "status", "changes", "exit", "item", "oracle", "logs")}
    t_case = time.monotonic()
    leaders_seen = {}
    with ThreadPoolExecutor(max_workers=h.args.start_parallel) as ex:
        winners = list(ex.map(lambda r: start_round(h, r, lease_table, pr), range(rounds)))
    for w in winners:
        if w:
            leaders_seen[w] = leaders_seen.get(w, 0) + 1
    agg_check(h, pr["roles"], "every instance of %d rounds logged a role" % rounds)
    agg_check(h, pr["one"], "exactly one leader in each of %d rounds (leadership 1, the lease was free)" % rounds)
    agg_check(h, pr["standby"], "the others stand by behind it, make no S3 call, no DynamoDB call beyond the lease "
              "table, and their exit lines say calls: none and count lease calls")
    agg_check(h, pr["changes"], "no other role change in any round")
    agg_check(h, pr["status"], "STATUS= says leader since / standby behind NAME, within 1 s of the role's log line")
    agg_check(h, pr["exit"], "all exit 0 (standbys stopped first); the leader's exit line counts its calls")
    agg_check(h, pr["item"], "the lease item names the leader, leadership 1, released after its SIGTERM")
    agg_check(h, pr["logs"], "no sanitizer report, every line <N>-prefixed")
    agg_check(h, pr["oracle"], "each round's store equals the oracle, the intake drained, dead letters right")
    figures.append("start-race: %d rounds of 3 instances (%d at a time), wins by instance %s, %.0fs"
                   % (rounds, h.args.start_parallel, dict(sorted(leaders_seen.items())), time.monotonic() - t_case))


# ------------------------------------------------------------------------------------------------ 8-way race

def race_round(h, r, n, lease_table, bucket, store_name, pr):
    """One round of the n-way race on prefix r<r>/. Returns (winner's index or None, seconds until all roles)."""
    c = lt.Cluster(h, "r8-%02d" % r, "dynamodb", lease_table=lease_table, prefix="r%02d/" % r, bucket=bucket,
                   store_name=store_name, lease_opts=RACE_LEASE)
    tag = "round %d" % r
    try:
        insts = [c.spawn("r%02d-%d" % (r, k), gate=True) for k in range(n)]
        c.open_gates(insts)
        t0 = time.monotonic()
        roles = {i.name: i.wait_role(20)[1] for i in insts}
        t_roles = time.monotonic() - t0
        if not all(roles.values()):
            pr["roles"].append("%s: no role from %s; e.g.\n%s" % (
                tag, [k for k, v in roles.items() if not v], next(i.tail(4) for i in insts if not roles[i.name])))
        leaders = [k for k, v in roles.items() if v and v[0] == "leader"]
        if len(leaders) != 1:
            pr["one"].append("%s: %d leaders %s" % (tag, len(leaders), leaders))
            return None, t_roles
        leader = leaders[0]
        bad = {k: v for k, v in roles.items() if k != leader and v and (v[0] != "standby" or v[2] != leader)}
        if bad:
            pr["standby"].append("%s: leader %s; %s" % (tag, leader, bad))
        time.sleep(2 * c.renew_s)
        more = {i.name: i.leader_lines() for i in insts if len(i.leader_lines()) != (i.name == leader)}
        if more:
            pr["later"].append("%s: leader %s; 'now the leader' lines: %s" % (tag, leader, more))
        item = c.lease_item()
        if not item or item.get("owner") != leader or item.get("leadership") != 1:
            pr["item"].append("%s: lease item %s = %s (want owner %s, leadership 1)" % (tag, c.key, item, leader))
        return leader.rsplit("-", 1)[1], t_roles
    finally:
        for i in c.instances:
            i.kill9()
        c.close()


def case_race8(h, figures):
    lease_table = lt.create_lease_table(h)
    bucket = h.create_bucket("race8-req")
    store_name = h.create_store("dynamodb", "race8")
    rounds, n = h.args.rounds_race, 8
    pr = {k: [] for k in ("roles", "one", "standby", "later", "item")}
    t_case = time.monotonic()
    # Rounds run three at a time (each on its own lease key): a round is mostly waiting.
    with ThreadPoolExecutor(max_workers=h.args.race_parallel) as ex:
        results = list(ex.map(lambda r: race_round(h, r, n, lease_table, bucket, store_name, pr), range(rounds)))
    wins = {}
    for w, _ in results:
        if w is not None:
            wins[w] = wins.get(w, 0) + 1
    t_roles = [t for _, t in results]
    agg_check(h, pr["roles"], "every one of %d instances logged a role in each of %d rounds" % (n, rounds))
    agg_check(h, pr["one"], "one winner in each of %d rounds of %d instances" % (rounds, n))
    agg_check(h, pr["standby"], "the seven others stand by behind the winner")
    agg_check(h, pr["later"], "no second leader in the 2 s after (two renewals)")
    agg_check(h, pr["item"], "the lease item names the winner, leadership 1")
    figures.append("race8: %d rounds (%d at a time), wins by gate position %s, all roles known %.2f-%.2fs after the "
                   "gate, %.0fs" % (rounds, h.args.race_parallel, dict(sorted(wins.items())), min(t_roles or [0]),
                                    max(t_roles or [0]), time.monotonic() - t_case))


# ------------------------------------------------------------------------------------------------ SIGTERM

def start_pair(c, a="a", b="b", timeout=20):
    """A leader (started first), then a standby behind it. Returns (leader, standby) or raises HarnessError."""
    A = c.spawn(c.tag + "-" + a)
    t, role = A.wait_leader(timeout)
    if not role:
        raise wdtest.HarnessError("%s did not become the leader:\n%s" % (A.name, A.tail()))
    B = c.spawn(c.tag + "-" + b)
    t, role = B.wait_role(timeout)
    if not role or role[0] != "standby":
        raise wdtest.HarnessError("%s did not stand by (role %s):\n%s" % (B.name, role, B.tail()))
    return A, B


def no_overlap(h, what, old, new, t_event):
    """The old leader's last request/store call is answered before the new leader's first one starts. t_event:
    when the old one's end began (SIGTERM, cut), while the new one stood by: the new one's calls from then on
    are its new leadership's; the old one's are those before, or after until it leads again."""
    old_calls = old.calls(until=old.led_again(t_event))
    new_calls = new.calls(since=t_event)
    if not old_calls or not new_calls:
        return h.check(False, "%s: both leaders made calls (old %d, new %d)" % (what, len(old_calls), len(new_calls)))
    last_old = max(old_calls, key=lambda r: r.t_done or float("inf"))
    first_new = new_calls[0]
    end_old = last_old.t_done or float("inf")
    return h.check(end_old < first_new.t, "%s: the old leader's last call was answered %.3fs before the new one's "
                   "first started" % (what, first_new.t - end_old),
                   "  old: %s (answered %s)\n  new: %s" % (last_old, last_old.t_done, first_new))


def case_sigterm(h, store, figures):
    c = lt.Cluster(h, "term-" + store, store)
    try:
        requests = fx.mixed_requests(h.shared_dir, h.args.count_term, SEED + 50, bad_every=100)
        c.load(requests)
        A, B = start_pair(c)
        fx.wait_until(lambda: A.applied() >= len(requests) // 5 or not A.alive(), 60, 0.05)
        h.check(c.any_left(), "requests are left when the leader gets its SIGTERM (%d applied)" % A.applied())
        t_term = time.monotonic()
        A.proc.send_signal(15)
        t_lead, role = B.wait_leader(5 + lt.MARGIN_S + 5, since=t_term)
        dt = (t_lead - t_term) if t_lead else None
        h.check(role is not None and dt <= 5.0, "the standby takes over within 5 s of the leader's SIGTERM (%s)"
                % ("%.2fs" % dt if dt is not None else "never"), "  %s log:\n%s" % (B.name, B.tail()))
        h.check(role is not None and role[2] == "handed over" and role[3] == A.name,
                "it says the lease was handed over by %s (%s)" % (A.name, role))
        rc = A.wait_exit(60)
        h.check(rc == 0, "the old leader drains and exits 0 (%s)" % rc, A.tail())
        t_rel, m = A.watch.find(lt.RELEASED_RE)
        h.check(m is not None, "the old leader logs that it released the lease", A.tail())
        h.check(c.wait_drained(120), "the new leader drains the bucket", B.tail())
        if role:
            no_overlap(h, "hand-over", A, B, t_term)
        rcs = c.stop_all()
        h.check(rcs == {B.name: 0}, "the new leader exits 0 on SIGTERM (%s)" % rcs)
        c.check_logs(h)
        ok, lost = c.judge(h, "after a hand-over")
        h.check(lost == 0, "requests lost: %d" % lost)
        figures.append("sigterm-%s: hand-over %s after SIGTERM; old leader applied %d, new %d; lost %d"
                       % (store, "%.2fs" % dt if dt is not None else "never", A.applied(), B.applied(), lost))
    finally:
        c.close()


# ------------------------------------------------------------------------------------------------ DynamoDB cut off

ANSWERS_RE = re.compile(r"lease: the lease table answers again")


def cut_round(h, c, old, new, kind, what):
    """Cuts old's (the leader's) DynamoDB for 2.5 lease durations; checks self-fencing and the takeover; restores."""
    h.check(old.applied() > 0 and (old.role() or ("?",))[0] == "leader",
            "%s: %s is the leader and working (%d applied)" % (what, old.name, old.applied()))
    t_cut = time.monotonic()
    old.ddbp.cut(kind)
    t_new, role = new.wait_leader(c.duration_s + c.renew_s + lt.MARGIN_S + 5, since=t_cut)
    time.sleep(max(0.0, t_cut + 2.5 * c.duration_s - time.monotonic()))
    t_restore = time.monotonic()
    old.ddbp.restore()
    t_back, back = old.wait_role(c.duration_s + lt.MARGIN_S + 5, since=t_restore)
    # Nothing reaches the table from old between the cut and the restore: its last lease write that the table
    # accepted is its last renewal, and its lease is valid until (that write's start) + lease at most.
    t_r = old.last_lease_write_ok(until=t_restore)
    if t_r is None:
        return h.check(False, "%s: the old leader's lease writes are on record" % what)
    valid_until = t_r + c.duration_s
    h.check(role is not None and role[2] == "took over" and role[3] == old.name,
            "%s: %s takes over from %s (%s)" % (what, new.name, old.name, role))
    if t_new:
        h.check(t_new - t_r <= c.takeover_bound_s, "%s: within lease + renewal of the old leader's last lease "
                "write: %.2fs (<= %.1f + %.1f + margin %.1f)"
                % (what, t_new - t_r, c.duration_s, c.renew_s, lt.MARGIN_S))
        # The new leader's acquisition (its first lease write the table accepted after the cut) comes a whole
        # lease after the old one's last renewal was written: it watched that record version for a lease.
        acq = new.lease_writes_ok(since=t_cut)
        h.check(acq and acq[0] >= valid_until - 0.05, "%s: the takeover is written %.2fs after the old lease's "
                "end at the earliest (not before it)" % (what, (acq[0] - valid_until) if acq else float("nan")))
    t_lost, m = old.watch.find(lt.LOST_RE, since=t_cut)
    h.check(m is not None and t_lost <= valid_until + TOL_S,
            "%s: the cut-off leader logs that it lost the lease %s before its lease could expire"
            % (what, "%.2fs" % (valid_until - t_lost) if t_lost else "(never)"),
            "  log:\n%s" % old.tail())
    # The log tells the truth: while the table is cut off, it never says that the table answers again.
    false_news = [line for t, m in old.watch.find_all(ANSWERS_RE, since=t_cut) if t < t_restore
                  for line in [m.string]]
    h.check(not false_news, "%s: while cut off, the leader's log never says the lease table answers again" % what,
            "\n".join("  | " + x for x in false_news[:3]) + "\n  log:\n%s" % old.tail(12))
    late = [r for r in old.calls(since=t_cut) if r.t > valid_until - c.call_bound_s + TOL_S]
    after = old.calls(since=t_cut)
    h.check(not late, "%s: no request or store call starts after its last lease write + lease - call bound "
            "(%d calls after the cut, the last %.2fs before that point)"
            % (what, len(after), (valid_until - c.call_bound_s) - max([r.t for r in after] or [t_cut])),
            "  %d late calls, e.g. %s (last lease write at %.3f, valid until %.3f)" % (len(late), late[:4], t_r,
                                                                                       valid_until))
    if t_new:
        no_overlap(h, what, old, new, t_cut)
    h.check(back is not None and back[0] == "standby" and back[2] == new.name,
            "%s: with DynamoDB back, %s stands by behind %s (%s, %.2fs after)"
            % (what, old.name, new.name, back, (t_back - t_restore) if t_back else -1), old.tail())
    return t_new, t_r


def case_ddb_cut(h, figures):
    c = lt.Cluster(h, "cut", "s3")
    try:
        requests = fx.mixed_requests(h.shared_dir, h.args.count_cut, SEED + 60, bad_every=100)
        A, B = start_pair(c)
        prod = lt.Producer(h, c, requests, rate=h.args.cut_rate)
        prod.start()
        fx.wait_until(lambda: A.applied() >= 40, 60, 0.1)
        r1 = cut_round(h, c, A, B, "stall", "round 1 (blackhole)")
        fx.wait_until(lambda: B.applied() >= 40, 30, 0.1)
        r2 = cut_round(h, c, B, A, "refuse", "round 2 (refused)")
        h.check(prod.is_alive(), "requests were still arriving through both rounds (%d of %d put)"
                % (prod.done, len(requests)))
        prod.finish()
        h.check(c.wait_drained(120), "the bucket drains after the cuts")
        rcs = c.stop_all()
        h.check(all(rc == 0 for rc in rcs.values()), "both exit 0 on SIGTERM (%s)" % rcs)
        c.check_logs(h)
        ok, lost = c.judge(h, "after two DynamoDB cuts")
        h.check(lost == 0, "requests lost: %d" % lost)
        figures.append("ddb-cut: takeovers %s s after the last lease write; A applied %d, B %d; lost %d"
                       % (["%.2f" % (x[0] - x[1]) if x and x[0] else "-" for x in (r1, r2)], A.applied(),
                          B.applied(), lost))
    finally:
        c.close()


# ------------------------------------------------------------------------------------------------ no lease

CONSUMER_RE = re.compile(r"another consumer", re.IGNORECASE)


def vanish_episodes(inst):
    """Episodes of vanished requests as the instance's S3 proxy saw them: runs of consecutive polls (a poll
    begins with its ListObjectsV2; the requests here fit one page) with at least one GET answered 404."""
    polls = []
    for r in sorted(inst.s3p.snapshot_records(), key=lambda x: x.t):
        if inst.kind(r) != "requests":
            continue
        if r.op == "ListObjectsV2":
            polls.append(False)
        elif r.op == "GetObject" and r.status == 404 and polls:
            polls[-1] = True
    return sum(1 for k, v in enumerate(polls) if v and (k == 0 or not polls[k - 1]))


def case_nolease(h, figures):
    c = lt.Cluster(h, "nolease", "dynamodb", lease=False)
    try:
        requests = fx.mixed_requests(h.shared_dir, h.args.count_nolease, SEED + 70)
        c.load(requests)
        insts = [c.spawn("nl-%s" % x, gate=True) for x in "ab"]
        c.open_gates(insts)
        h.check(c.wait_drained(120), "two instances without a lease drain the bucket")
        rcs = c.stop_all()
        h.check(all(rc == 0 for rc in rcs.values()), "both exit 0 (%s)" % rcs)
        c.check_logs(h)
        gone_total = 0
        out = []
        for i in insts:
            gone = [r for r in i.s3p.snapshot_records() if i.kind(r) == "requests" and r.op == "GetObject"
                    and r.status == 404]
            gone_total += len(gone)
            episodes = vanish_episodes(i)
            warns = [line for line in i.log().split("\n") if line.startswith("<4>") and CONSUMER_RE.search(line)]
            out.append("%s: %d requests gone when read in %d episodes, %d warnings" % (i.name, len(gone), episodes,
                                                                                    len(warns)))
            if gone:
                h.check(len(warns) >= 1, "%s found %d requests gone between LIST and GET: it warns about another "
                        "consumer" % (i.name, len(gone)))
            h.check(len(warns) <= episodes, "%s: the warning once per episode (%d polls in a row that found requests "
                    "gone: %d episodes), not once per request (%d gone): %d lines"
                    % (i.name, episodes, episodes, len(gone), len(warns)),
                    "\n".join("  | " + w[:200] for w in warns[:5]))
        h.check(gone_total > 0, "the two consumers did take requests from under each other (%d 404 GETs)" % gone_total)
        figures.append("nolease: %s" % "; ".join(out))
    finally:
        c.close()


def main():
    h = wdtest.Harness(__doc__, extra_args=lambda p: (
        p.add_argument("--rounds-start", type=int, default=20),
        p.add_argument("--start-parallel", type=int, default=2),
        p.add_argument("--rounds-race", type=int, default=50),
        p.add_argument("--race-parallel", type=int, default=3),
        p.add_argument("--count-term", type=int, default=600),
        p.add_argument("--count-cut", type=int, default=1200),
        p.add_argument("--cut-rate", type=float, default=40.0),
        p.add_argument("--count-nolease", type=int, default=600)))
    random.seed(SEED)
    figures = []

    def run(name, fn, *args):
        with h.case(name) as selected:
            if selected:
                t0, n = time.monotonic(), len(figures)
                try:
                    fn(h, *args, figures)
                finally:
                    print("# %s cost %.1fs" % (name, time.monotonic() - t0), flush=True)
                    if len(figures) > n:
                        figures[-1] += " [%.0fs]" % (time.monotonic() - t0)

    run("start-race", case_start_race)
    run("race8", case_race8)
    lt.together(h, figures, [("sigterm-s3", case_sigterm, "s3"), ("sigterm-dynamodb", case_sigterm, "dynamodb")])
    run("ddb-cut", case_ddb_cut)
    run("nolease", case_nolease)
    print("figures:\n" + "\n".join("  " + f for f in figures), flush=True)
    h.finish()


if __name__ == "__main__":
    main()
