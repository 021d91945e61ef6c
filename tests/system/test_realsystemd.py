#!/usr/bin/env python3
"""System test of the Debian package under a real systemd 252, as an operator uses it: the package is
installed, configured, started, reloaded, watched, upgraded and purged inside a systemd booted by
../shared/realsystemd (PID 1 of its own namespaces on a throwaway copy-on-write view of the host's root;
the only way this project boots systemd), with the stand-ins on the host's 127.0.0.1 (RS_NET=host) and
widgetd's store judged by the oracle:

- `apt-get install` of the .deb that scripts/package builds: the postinst's daemon-reload runs (the unit,
  unknown to systemd before, is loaded), nothing is enabled or started;
- /etc/widgetd/widgetd.conf edited, `systemctl enable --now widgetd` before the credential exists: the
  service runs, `waiting for AWS credentials` in STATUS=, logged once, no restart; a credential in
  /etc/credstore (LoadCredential=) and a restart: active only after READY=1 (after widgetd's start line),
  requests drained, the store equals the oracle's, `systemctl status` shows the figures of STATUS=;
- journalctl: one line per request, `-p warning` shows exactly the problems (bad requests, missing
  widgets), REQUEST_ID=, REQUEST_KEY= and WIDGET_ID= select one request's (or widget's) lines;
- `systemctl reload` with a good and a bad file (the bad one logs file:line, the service keeps running);
  `systemctl stop` in the middle of a drain: stopped within its bound, nothing lost;
- a configuration error: status=78/CONFIG, no restart loop; `systemctl kill -s KILL`: restarted by
  Restart=on-failure, nothing lost; a wedged call (the fault proxy stalls every S3 call; WatchdogSec=3s
  in a drop-in of this test only): systemd's watchdog kills widgetd and restarts it, nothing lost;
- hardening for real: a copy of the installed unit whose ExecStart is a probe finds nothing writable but
  its private /tmp, /var/tmp, /dev/shm and /dev/mqueue (POSIX message queues, removed at stop by
  RemoveIPC=), not /run, /run/lock, /etc, /var..., nothing it wrote outlives it, and no AF_PACKET,
  AF_NETLINK... socket; the running widgetd has no capability, no_new_privs, a seccomp filter, a
  read-only /run; `systemd-analyze security widgetd` rates the running unit at 1.2 or lower;
- an upgrade to a newer build (the same tree with a higher project(VERSION)) while widgetd drains:
  restarted on the new binary, the local edit of widgetd.conf kept, nothing lost;
- `apt-get purge`: no unit, no configuration, no process left.

Every test setting stays away from the instance-metadata address (a drop-in sets
AWS_EC2_METADATA_DISABLED=true). The .debs reach the container through RS_RO_BINDS (its /tmp, /var/tmp
and /run are fresh); a Docker-style /usr/sbin/policy-rc.d is removed inside. Whatever happens, systemd
is powered off, nothing of it is left running, and its state folder is removed (atexit). Needs root,
../shared/realsystemd (or WD_REALSYSTEMD_DIR), unshare/nsenter (util-linux), systemd, and what
scripts/package needs. The --widgetd binary (ctest passes the test build) is not used: the package's is.
"""
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wdtest  # noqa: E402
from faultproxy import FaultProxy  # noqa: E402

UNIT = "widgetd.service"
MAX_EXPOSURE = 1.2
STOP_BOUND = 30          # s for `systemctl stop` mid-drain (the unit's TimeoutStopSec= is 60 s)
DRAIN_TIMEOUT = 60       # s for a batch to be drained
DEADLINE_S = 780         # s for the whole suite, below ctest's TIMEOUT of 900 s
BAD = [b'{"type": "create", "requestId": "rs-bad-1", "widgetId": "rs-bad", "owner": "R2D2"}',
       b'{"type": "update", "requestId": "rs-bad-2", "widgetId": "rs-bad", "owner": "Mary Matthews", "label": 7}']
PROBE = r'''
import errno, json, os, socket
found = []
for top in ("/", "/run", "/var", "/etc", "/usr", "/srv", "/opt", "/home", "/root", "/boot", "/mnt", "/media",
            "/dev", "/proc", "/sys"):
    for base, dirs, _ in os.walk(top):
        depth = base.count("/") - (0 if top == "/" else top.count("/"))
        if top == "/" and base != "/":
            dirs[:] = []
        if depth >= 3 or base.startswith(("/proc/", "/sys/")) and depth >= 1:
            dirs[:] = []
        found.append(base)
writable = []
for d in sorted(set(found)):
    p = os.path.join(d, ".widgetd-probe-left")
    try:
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError:
        continue
    os.close(fd)   # left there: whatever outlives the service is found afterwards
    writable.append(d)
fams = {}
for name in ("AF_PACKET", "AF_NETLINK", "AF_BLUETOOTH", "AF_VSOCK", "AF_INET", "AF_INET6", "AF_UNIX"):
    try:
        socket.socket(getattr(socket, name), socket.SOCK_RAW if name in ("AF_PACKET", "AF_NETLINK") else
                      socket.SOCK_STREAM).close()
        fams[name] = "ok"
    except OSError as e:
        fams[name] = errno.errorcode.get(e.errno, str(e.errno))
print("PROBE " + json.dumps({"uid": os.getuid(), "writable": writable, "families": fams}))
'''


class RealSystemd:
    """One systemd booted by ../shared/realsystemd's boot.sh, state in a folder of its own."""

    def __init__(self, rs_dir, binds):
        self.rs_dir = rs_dir
        self.state = tempfile.mkdtemp(prefix="widgetd-realsystemd.", dir="/run")
        self.env = dict(os.environ, RS_STATE=self.state, RS_NET="host", RS_RO_BINDS=" ".join(binds),
                        TERM="dumb")
        self.pid = None

    def boot(self):
        t = time.monotonic()
        r = subprocess.run(["bash", os.path.join(self.rs_dir, "boot.sh")], env=self.env, capture_output=True,
                           text=True, timeout=180)
        m = re.search(r"^PID=(\d+)$", self._instance(), re.M)
        self.pid = int(m.group(1)) if m else None
        return r, time.monotonic() - t

    def _instance(self):
        try:
            with open(os.path.join(self.state, "state", "instance"), encoding="utf-8") as f:
                return f.read()
        except OSError:
            return ""

    def sh(self, script, input=None, timeout=120):
        """Runs a bash script inside (as root); returns CompletedProcess with text stdout/stderr."""
        return subprocess.run(["bash", os.path.join(self.rs_dir, "run-inside.sh"), "bash", "-c", script],
                              env=self.env, input=input, capture_output=True, text=True, timeout=timeout)

    def _orphans(self):
        """The launchers (unshare) of boots with our RS_STATE that boot.sh gave up on without recording them:
        under a heavy load it can lose track of a boot that goes on (seen once: systemd up, no instance)."""
        mine = ("RS_STATE=%s" % self.state).encode()
        found = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/comm" % d) as f:
                    comm = f.read().strip()
                with open("/proc/%s/environ" % d, "rb") as f:
                    env = f.read().split(b"\0")
            except OSError:
                continue
            if comm == "unshare" and mine in env:
                found.append(int(d))
        return found

    def _record_orphan(self, upid):
        """Writes the state/instance and state/cgroups that boot.sh would have written for the boot launched
        by upid, so that stop.sh tears it down; returns False when it has no systemd (yet) to power off."""
        try:
            with open("/proc/%d/task/%d/children" % (upid, upid)) as f:
                kids = [int(x) for x in f.read().split()]
            pid = next(k for k in kids if open("/proc/%d/comm" % k).read().strip() == "systemd")
            with open("/proc/%d/stat" % pid) as f:
                start = f.read().rsplit(")", 1)[1].split()[19]
            pidns = os.readlink("/proc/%d/ns/pid" % pid)
            with open("/proc/%d/cgroup" % upid) as f:
                cgroups = [line.rstrip("\n").split(":", 2) for line in f]
        except (OSError, StopIteration, IndexError, ValueError):
            return False
        tag = next((os.path.basename(p) for _, _, p in cgroups if os.path.basename(p).startswith("realsystemd-")), None)
        if tag is None:
            return False
        dirs = []
        with open("/proc/mounts") as f:
            mounts = [line.split() for line in f]
        for _, ctrls, path in cgroups:
            if ctrls:
                mp = next((m[1] for m in mounts if m[2] == "cgroup" and ctrls in m[3].split(",")), None)
            else:
                mp = next((m[1] for m in mounts if m[2] == "cgroup2"), None)
            if mp and path.endswith("/" + tag):
                dirs.append(mp + path)
        os.makedirs(os.path.join(self.state, "state"), exist_ok=True)
        with open(os.path.join(self.state, "state", "instance"), "w") as f:
            f.write("PID=%d\nUPID=%d\nSTART=%s\nPIDNS='%s'\nTAG=%s\n" % (pid, upid, start, pidns, tag))
        with open(os.path.join(self.state, "state", "cgroups"), "w") as f:
            f.write("".join(d + "\n" for d in dirs))
        return True

    def stop(self):
        """Powers it off (stop.sh: SIGKILL after 20 s, checks that no process is left) and removes the state."""
        out = ""
        if not os.path.exists(os.path.join(self.state, "state", "instance")):
            for upid in self._orphans():
                if self._record_orphan(upid):
                    out += "an unrecorded boot (unshare %d) found: stopping it with stop.sh\n" % upid
                    break
                out += "an unrecorded boot (unshare %d) without systemd: SIGKILL\n" % upid
                os.kill(upid, 9)   # --kill-child takes its namespace's PID 1 along
        if os.path.exists(os.path.join(self.state, "state", "instance")):
            r = subprocess.run(["bash", os.path.join(self.rs_dir, "stop.sh")], env=self.env, capture_output=True,
                               text=True, timeout=120)
            out += r.stdout + r.stderr
            if r.returncode != 0:
                return False, out
        left = self._orphans()
        if left:
            return False, out + "\nlaunchers of this state still running: %s (state kept)" % left
        mnt = os.path.join(self.state, "mnt")
        if os.path.ismount(mnt):
            return False, out + "\n%s is still a mount point: state kept" % mnt
        shutil.rmtree(self.state, ignore_errors=True)
        return True, out


class Suite:
    def __init__(self, h):
        self.h = h
        self.rs = None
        self.requests = {}       # every request loaded, for the oracle
        self.next_key = 0
        self.seed = 9100
        self.cursor = None

    # ----- inside -----
    def sh(self, script, input=None, timeout=120):
        return self.rs.sh(script, input=input, timeout=timeout)

    def ok(self, script, what, input=None, timeout=120):
        r = self.sh(script, input=input, timeout=timeout)
        self.h.check(r.returncode == 0, what, "  exit %d\n%s%s" % (r.returncode, r.stdout[-1500:], r.stderr[-1500:]))
        return r

    def write(self, path, text, mode="0644"):
        r = self.sh('install -D -m %s /dev/stdin "%s"' % (mode, path), input=text)
        if r.returncode != 0:
            raise wdtest.HarnessError("cannot write %s inside: %s" % (path, r.stderr))

    def show(self, *props):
        r = self.sh("systemctl show -p %s %s" % (",".join(props), UNIT))
        return dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)

    def wait_show(self, pred, timeout, *props):
        deadline = time.monotonic() + timeout
        while True:
            s = self.show(*props)
            if pred(s) or time.monotonic() > deadline:
                return s, pred(s)
            time.sleep(0.3)

    def journal(self, args="", since_cursor=True):
        """widgetd's journal entries (dicts) after self.cursor, with systemd's messages about the unit.
        journalctl 252's --after-cursor skips the first entry that matches, taking it for the cursor's own
        even when a match (-p, FIELD=value) excludes the cursor's entry: --cursor (inclusive) is used,
        and the cursor's entry dropped here."""
        cur = "--cursor='%s'" % self.cursor if since_cursor and self.cursor else ""
        r = self.sh("journalctl --no-pager -o json -u %s %s %s" % (UNIT, cur, args))
        out = []
        for line in r.stdout.splitlines():
            try:
                e = json.loads(line)
            except ValueError:
                continue
            if not (cur and e.get("__CURSOR") == self.cursor):
                out.append(e)
        return out

    def mark(self):
        """Remembers the journal's end: later journal() calls see only what comes after."""
        self.sh("journalctl --flush 2>/dev/null || true")
        r = self.sh("journalctl --no-pager -n 0 --show-cursor -q | sed -n 's/^-- cursor: //p'")
        self.cursor = r.stdout.strip() or self.cursor

    def wait_journal(self, pred, timeout, args=""):
        deadline = time.monotonic() + timeout
        while True:
            entries = self.journal(args)
            if any(pred(e) for e in entries) or time.monotonic() > deadline:
                return [e for e in entries if pred(e)]
            time.sleep(0.3)

    # ----- requests and the store -----
    def batch(self, n, bad=()):
        import gen_requests
        reqs, _ = gen_requests.generate(n, self.seed)
        self.seed += 1
        out = {"%010d" % (self.next_key + i): json.dumps(r).encode() for i, r in enumerate(reqs)}
        for j, body in enumerate(bad):
            out["%010d" % (self.next_key + n + j)] = body
        self.next_key += n + len(bad)
        self.requests.update(out)
        return out

    def left(self):
        return [k for k in self.h.list_keys(self.bucket) if not k.startswith(wdtest.DEAD_PREFIX)]

    def wait_taken(self, count, timeout=30):
        """Waits until at least count requests of the bucket are gone; returns how many are left."""
        deadline = time.monotonic() + timeout
        total = len(self.left())
        while True:
            n = len(self.left())
            if total - n >= count or time.monotonic() > deadline:
                return n
            time.sleep(0.1)

    def wait_drained(self, timeout=DRAIN_TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            left = self.left()
            if not left or time.monotonic() > deadline:
                return left
            time.sleep(0.3)

    def judge(self, what):
        """The intake is empty and the store and the dead letters are the oracle's, for every request so far."""
        left = self.wait_drained()
        self.h.check(not left, "%s: every request is taken from the bucket" % what, "  left: %s" % left[:8])
        expected, dead, warnings = self.h.oracle(self.requests, "dynamodb")
        actual = self.h.read_store("dynamodb", self.table)
        d = self.h.diff_widgets(expected, actual)
        self.h.check(not d, "%s: nothing lost: the store equals the oracle's (%d widgets, %d requests)"
                     % (what, len(expected), len(self.requests)), "\n".join("  " + x for x in d))
        dead_keys = {k for k, _ in dead}
        have = {k[len(wdtest.DEAD_PREFIX):] for k in self.h.list_keys(self.bucket, wdtest.DEAD_PREFIX)}
        self.h.check(have == dead_keys, "%s: the dead letters are the oracle's (%d)" % (what, len(dead_keys)),
                     "  want %s, have %s" % (sorted(dead_keys)[:6], sorted(have)[:6]))
        return expected, dead, warnings

    def conf(self, **changes):
        """The packaged widgetd.conf as an operator edits it: the given keys set (uncommented)."""
        lines = []
        for line in self.packaged_conf.splitlines():
            m = re.match(r"^#?([a-z_0-9]+) =", line)
            if m and m.group(1) in changes:
                value = changes.pop(m.group(1))
                line = "%s = %s" % (m.group(1), value)
            lines.append(line)
        if changes:
            raise wdtest.HarnessError("keys not in the packaged widgetd.conf: %s" % sorted(changes))
        return "\n".join(lines) + "\n"

    def good_conf(self, **extra):
        keys = dict(bucket=self.bucket, kind="dynamodb", name=self.table, region=self.h.env["AWS_REGION"],
                    s3_endpoint=self.proxy.endpoint, dynamodb_endpoint=self.h.env["WD_DDB_PROXY_ENDPOINT"],
                    path_style="yes", poll_max_interval_ms="1000", calls_in_flight="8")
        keys.update(extra)
        return "# local edit (test_realsystemd)\n" + self.conf(**keys)

    def restart_when_stopped(self, reqs):
        """Stops widgetd, loads reqs (in parallel: nobody drains meanwhile), starts it again."""
        self.ok("systemctl stop %s" % UNIT, "systemctl stop (idle) before loading a batch")
        self.h.load(self.bucket, reqs, verify=False)   # the bucket holds dead letters too
        self.ok("systemctl start %s" % UNIT, "systemctl start with %d requests waiting" % len(reqs))


def build_packages(h, debs):
    """The .deb of this tree (scripts/package), and a copy of the tree with project(VERSION) one component
    higher for a newer build. Returns (deb, version, a function that starts the newer build in the
    background and returns its Popen, the copy's folder)."""
    env = dict(os.environ)
    if not env.get("SOURCE_DATE_EPOCH"):
        r = subprocess.run(["git", "-C", h.source_dir, "log", "-1", "--format=%ct"], capture_output=True, text=True)
        if r.returncode == 0 and r.stdout.strip():
            env["SOURCE_DATE_EPOCH"] = r.stdout.strip()
    r = subprocess.run(["bash", os.path.join(h.source_dir, "scripts", "package")], capture_output=True, text=True,
                       env=env, timeout=900)
    if r.returncode != 0:
        raise wdtest.HarnessError("scripts/package failed:\n%s" % r.stderr[-3000:])
    built = r.stdout.strip().splitlines()[-1]
    deb = os.path.join(debs, os.path.basename(built))
    shutil.copy(built, deb)
    os.chmod(deb, 0o644)
    version = re.match(r"widgetd_([^_]+)_", os.path.basename(deb)).group(1)

    tree = os.path.join(debs, "newer-src")
    shutil.copytree(h.source_dir, tree, symlinks=True,
                    ignore=shutil.ignore_patterns("build", "build-*", "node_modules", ".git", ".run"))
    cml = os.path.join(tree, "CMakeLists.txt")
    with open(cml, encoding="utf-8") as f:
        text = f.read()
    text, n = re.subn(r"(project\(widgetd VERSION )([0-9.]+)", lambda m: m.group(1) + m.group(2) + ".1", text)
    if n != 1:
        raise wdtest.HarnessError("no project(widgetd VERSION x.y.z) in CMakeLists.txt")
    with open(cml, "w", encoding="utf-8") as f:
        f.write(text)
    env["WD_PACKAGE_BUILD_DIR"] = os.path.join(tree, "build-package")

    def start():
        log = open(os.path.join(debs, "newer-build.log"), "wb")
        return subprocess.Popen(["nice", "bash", os.path.join(tree, "scripts", "package")], stdout=subprocess.PIPE,
                                stderr=log, env=env, cwd=tree)
    return deb, version, start, tree


def main():
    h = wdtest.Harness(__doc__)
    sys.path.insert(0, os.path.join(h.shared_dir, "baseline"))
    t0 = time.monotonic()
    rs_dir = os.environ.get("WD_REALSYSTEMD_DIR") or os.path.join(h.shared_dir, "realsystemd")
    s = Suite(h)
    newer = None
    proxy = None

    def cleanup():
        if newer is not None and newer.poll() is None:
            newer.kill()
            newer.wait()
        if s.rs is not None:
            t = time.monotonic()
            ok, out = s.rs.stop()
            h.check(ok, "cleanup: systemd powered off, no process left in its namespace, state removed (%.1fs)"
                    % (time.monotonic() - t), "\n".join("  " + x for x in out.splitlines()[-12:]))
            s.rs = None
        if proxy is not None:
            proxy.stop()

    @contextlib.contextmanager
    def case(name):
        t = time.monotonic()
        with h.case(name) as selected:
            yield selected
        print("# %s: %.1fs" % (name, time.monotonic() - t), flush=True)

    import atexit
    atexit.register(cleanup)  # after the harness's: runs first, while the stand-ins are still up
    # ctest's TIMEOUT (900 s) would kill this process without a cleanup: end it ourselves first (the
    # harness turns SIGTERM into an exit, so the atexit cleanup powers systemd off).
    import signal
    import threading
    deadline = threading.Timer(DEADLINE_S, lambda: os.kill(os.getpid(), signal.SIGTERM))
    deadline.daemon = True
    deadline.start()

    with case("preconditions") as selected:
        missing = [t for t in ("unshare", "nsenter", "setpriv", "systemctl", "dpkg-query")
                   if shutil.which(t) is None]
        if os.geteuid() != 0 or missing or not os.path.exists(os.path.join(rs_dir, "boot.sh")):
            h.check(False, "root, %s/boot.sh, unshare/nsenter/setpriv and systemd are there" % rs_dir,
                    "  euid %d, missing tools %s" % (os.geteuid(), missing))
            h.finish()
        host_before = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Status}", "widgetd"], capture_output=True,
                                     text=True).stdout.strip()

    debs = os.path.join(h.workdir, "debs")
    os.makedirs(debs)
    os.chmod(h.workdir, 0o755)
    os.chmod(debs, 0o755)
    with case("build") as selected:
        t = time.monotonic()
        deb, version, start_newer, newer_tree = build_packages(h, debs)
        h.check(True, "scripts/package built %s (%.1fs)" % (os.path.basename(deb), time.monotonic() - t))
    if h.failed:
        h.finish()

    s.bucket = h.create_bucket("rs-req")
    s.table = h.create_store("dynamodb", "rs")
    proxy = FaultProxy(h.s3_endpoint(), p=0.0, service="s3", name="rs-s3-proxy").start()
    s.proxy = proxy
    inside_debs = "/run/host" + debs

    with case("boot") as selected:
        s.rs = RealSystemd(rs_dir, [debs])
        r, took = s.rs.boot()
        if r.returncode != 0 and s.rs.pid is None:
            # boot.sh removed what it made; a second try tells a passing hiccup from a broken boot.
            print("# boot failed once (%.1fs), trying again:\n#   %s" % (took, (r.stdout + r.stderr)[-600:].replace(
                "\n", "\n#   ")), flush=True)
            s.rs.stop()
            s.rs = RealSystemd(rs_dir, [debs])
            r, took = s.rs.boot()
        state = s.sh("systemctl is-system-running").stdout.strip() if s.rs.pid else ""
        try:
            with open(os.path.join(s.rs.state, "state", "console.log"), errors="replace") as f:
                console = f.read()[-3000:]
        except OSError:
            console = "(no console.log)"
        if not h.check(r.returncode == 0 and s.rs.pid and state in ("running", "degraded"),
                       "systemd 252 booted as PID 1 of its own namespaces (%s, %.1fs)" % (state, took),
                       r.stdout[-2000:] + r.stderr[-2000:] + "\n  console:\n" + console):
            h.finish()
        pid1 = s.sh("cat /proc/1/comm; systemctl --version | head -1").stdout.split("\n")
        h.check(pid1[0] == "systemd", "PID 1 inside is systemd (%s)" % pid1[1] if len(pid1) > 1 else "", str(pid1))
        # Docker-style images forbid maintainer scripts to start or stop units (exit 101): not an operator's host.
        s.sh("rm -f /usr/sbin/policy-rc.d")
        s.ok("mkdir -p /var/log/apt /var/log/journal", "log folders for apt inside (/var/log is fresh)")
        # After the boot, not during it: boot.sh is slower to find systemd's PID under load.
        newer = start_newer()
        # man-db's trigger would rebuild its whole index inside at every install (tens of seconds).
        s.sh("rm -f /var/lib/man-db/auto-update")

    with case("install") as selected:
        before = s.show("LoadState").get("LoadState")  # systemd now caches "not-found" until a daemon-reload
        r = s.ok("DEBIAN_FRONTEND=noninteractive apt-get install -y -q %s/%s" % (inside_debs, os.path.basename(deb)),
                 "apt-get install ./%s" % os.path.basename(deb), timeout=300)
        st = s.show("LoadState", "UnitFileState", "ActiveState", "FragmentPath", "NeedDaemonReload")
        h.check(before == "not-found" and st.get("LoadState") == "loaded" and st.get("NeedDaemonReload") == "no",
                "the postinst's daemon-reload ran: the unit, not-found before, is loaded", str((before, st)))
        h.check(st.get("FragmentPath") == "/lib/systemd/system/widgetd.service", "unit at /lib/systemd/system",
                str(st))
        h.check(st.get("UnitFileState") == "disabled" and st.get("ActiveState") == "inactive",
                "installed, neither enabled nor started", str(st))
        h.check("systemctl enable --now widgetd" in r.stdout, "the first install says how to start it", r.stdout[-600:])
        s.packaged_conf = s.sh("cat /etc/widgetd/widgetd.conf").stdout
        ver = s.sh("widgetd --version").stdout.strip()
        h.check(ver == "widgetd %s" % version, "widgetd --version: %s" % ver)
    if h.failed:
        h.finish()

    with case("start-without-credentials") as selected:
        # The operator's drop-in for the test: never near the instance-metadata address.
        s.write("/etc/systemd/system/widgetd.service.d/test-env.conf",
                "[Service]\nEnvironment=AWS_EC2_METADATA_DISABLED=true\n")
        s.write("/etc/widgetd/widgetd.conf", s.good_conf())
        s.ok("widgetd --check-config", "widgetd --check-config accepts the edited file")
        s.ok("systemctl daemon-reload", "daemon-reload (the drop-in)")
        s.mark()
        s.ok("systemctl enable --now %s" % UNIT, "systemctl enable --now widgetd (no credential yet)", timeout=60)
        st, waiting = s.wait_show(lambda x: x.get("StatusText", "").startswith("waiting for AWS credentials"), 10,
                                  "StatusText", "ActiveState", "MainPID")
        h.check(waiting and "no AWS credentials" in st.get("StatusText", ""),
                "no credentials: active, STATUS= says it waits for AWS credentials and why", str(st))
        pid = st.get("MainPID")
        time.sleep(3)
        st = s.show("ActiveState", "SubState", "MainPID", "NRestarts", "UnitFileState")
        h.check(st.get("ActiveState") == "active" and st.get("MainPID") == pid and st.get("NRestarts") == "0",
                "3 s later: still running, same process, no restart (not exit 78)", str(st))
        h.check(st.get("UnitFileState") == "enabled", "enabled", str(st))
        lines = [e for e in s.journal() if "no AWS credentials" in str(e.get("MESSAGE"))]
        h.check(len(lines) == 1 and lines[0].get("PRIORITY") == "4", "logged once, as a warning (%d lines)"
                % len(lines), "\n".join("  %s" % e.get("MESSAGE") for e in lines[:3]))

    with case("credential-ready-drain") as selected:
        creds = "[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n" % (
            h.env["AWS_ACCESS_KEY_ID"], h.env["AWS_SECRET_ACCESS_KEY"])
        s.ok("install -d -m 0700 /etc/credstore && install -m 0600 /dev/stdin /etc/credstore/widgetd.aws-credentials",
             "the credential in /etc/credstore (0600)", input=creds)
        s.mark()
        # Is it active only after READY=1? widgetd reads its file before it says READY=1: a FIFO in its place
        # holds it there until the test writes the file into it.
        s.ok("systemctl stop %s && rm /etc/widgetd/widgetd.conf && mkfifo -m 0644 /etc/widgetd/widgetd.conf && "
             "systemctl start --no-block %s" % (UNIT, UNIT), "systemctl start --no-block with the file a FIFO")
        states = set()
        for _ in range(8):
            states.add(s.show("ActiveState")["ActiveState"])
            time.sleep(0.25)
        # Into the FIFO (install(1) would replace it): widgetd reads the file to its end and goes on.
        s.ok("cat > /etc/widgetd/widgetd.conf", "the file written into the FIFO", input=s.good_conf(), timeout=20)
        st, active = s.wait_show(lambda x: x.get("ActiveState") == "active", 15, "ActiveState", "Type", "StatusText")
        h.check(st.get("Type") == "notify" and states == {"activating"} and active,
                "Type=notify: 'activating' while widgetd has not said READY=1 (2 s), 'active' once it has",
                "  before: %s; after: %s" % (states, st))
        s.ok("rm /etc/widgetd/widgetd.conf", "the FIFO removed")
        s.write("/etc/widgetd/widgetd.conf", s.good_conf())
        found = [e for e in s.journal() if str(e.get("MESSAGE", "")).startswith("AWS credentials from ")]
        h.check(found and "/run/credentials/widgetd.service/aws-credentials" in found[0]["MESSAGE"],
                "credentials from $CREDENTIALS_DIRECTORY/aws-credentials", str([e.get("MESSAGE") for e in found]))
        perms = s.sh("stat -c '%%a %%U' /run/credentials/%s/aws-credentials" % UNIT).stdout.strip()
        h.check(re.match(r"^[46]00 ", perms) is not None, "the credential's copy is private to the service (%s)" % perms)
        reqs = s.batch(300, bad=BAD)
        h.load(s.bucket, reqs, threads=1, verify=False)   # in key order, as a producer writes while it drains
        expected, dead, warnings = s.judge("first drain")
        # STATUS= after the last poll: the oracle's figures.
        missing = [k for k, w in warnings if w.endswith("widget not found")]
        applied = len(reqs) - len(dead) - len(missing)
        want = "%d applied, %d not found, %d dead-lettered, 0 failed" % (applied, len(missing), len(dead))
        st, ok = s.wait_show(lambda x: want in x.get("StatusText", ""), 12, "StatusText")
        h.check(ok, "STATUS= counts what the oracle expects (%s)" % want, str(st))
        out = s.sh("systemctl status --no-pager -n 0 %s" % UNIT).stdout
        h.check(re.search(r'Status: "idle: %s' % re.escape(want), out) is not None,
                "systemctl status shows the STATUS= figures", out[-800:])

    with case("journal") as selected:
        entries = [e for e in s.journal() if e.get("SYSLOG_IDENTIFIER") == "widgetd"]
        per_key = {}
        for e in entries:
            if "REQUEST_KEY" in e:
                per_key.setdefault(e["REQUEST_KEY"], []).append(e)
        multi = {k: [e["MESSAGE"] for e in v] for k, v in per_key.items() if len(v) != 1}
        h.check(set(per_key) == set(reqs) and not multi, "one journal line per request (%d requests, %d keys with "
                "lines)" % (len(reqs), len(per_key)), "  not one: %s; none: %s" % (
                    list(multi.items())[:3], sorted(set(reqs) - set(per_key))[:5]))
        problems = {k for k, _ in dead} | set(missing)
        warn = s.journal("-p warning")
        warn_keys = {e.get("REQUEST_KEY") for e in warn}
        h.check(warn_keys == problems and len(warn) == len(problems),
                "journalctl -p warning shows exactly the problems (%d: %d bad, %d missing widgets)"
                % (len(problems), len(dead), len(missing)),
                "\n".join("  %s %s" % (e.get("PRIORITY"), e.get("MESSAGE")) for e in warn if
                          e.get("REQUEST_KEY") not in problems)[:1500] + "\n  missing: %s" % sorted(problems - warn_keys)[:5])
        key = sorted(k for k in reqs if k not in problems)[len(reqs) // 2]
        body = json.loads(reqs[key])
        one = s.journal("REQUEST_ID=%s" % body["requestId"], since_cursor=False)
        h.check(len(one) == 1 and body["requestId"] in one[0]["MESSAGE"] and one[0].get("REQUEST_KEY") == key,
                "REQUEST_ID=%s selects its one line" % body["requestId"], str([e.get("MESSAGE") for e in one]))
        one = s.journal("REQUEST_KEY=%s" % key, since_cursor=False)
        h.check(len(one) == 1 and key in one[0]["MESSAGE"], "REQUEST_KEY=%s selects its one line" % key,
                str([e.get("MESSAGE") for e in one]))
        by_widget = {}
        for k, b in reqs.items():
            try:
                by_widget.setdefault(json.loads(b)["widgetId"], []).append(k)
            except (ValueError, KeyError):
                pass
        wid = max((w for w, ks in by_widget.items() if not set(ks) & problems), key=lambda w: len(by_widget[w]))
        lines = s.journal("WIDGET_ID=%s" % wid, since_cursor=False)
        h.check(sorted(e.get("REQUEST_KEY") for e in lines) == sorted(by_widget[wid]),
                "WIDGET_ID=%s selects the lines of its %d requests" % (wid, len(by_widget[wid])),
                str([e.get("MESSAGE") for e in lines]))

    with case("reload") as selected:
        pid = s.show("MainPID")["MainPID"]
        s.write("/etc/widgetd/widgetd.conf", s.good_conf(poll_max_interval_ms="1500"))
        s.mark()
        s.ok("systemctl reload %s" % UNIT, "systemctl reload widgetd (good file)")
        got = s.wait_journal(lambda e: str(e.get("MESSAGE", "")).startswith("configuration reloaded"), 10)
        h.check(bool(got) and s.show("MainPID")["MainPID"] == pid, "good file: 'configuration reloaded', same process")
        bad = s.good_conf(poll_max_interval_ms="1500").replace("[daemon]\n", "[daemon]\nno_such_key = 1\n")
        n = bad.split("\n").index("no_such_key = 1") + 1
        s.write("/etc/widgetd/widgetd.conf", bad)
        s.mark()
        s.ok("systemctl reload %s" % UNIT, "systemctl reload widgetd (bad file)")
        got = s.wait_journal(lambda e: "/etc/widgetd/widgetd.conf:%d:" % n in str(e.get("MESSAGE", "")), 10)
        st = s.show("ActiveState", "MainPID")
        h.check(bool(got) and got[0].get("PRIORITY") == "3" and "keeping the running configuration" in got[0]["MESSAGE"],
                "bad file: an error naming widgetd.conf:%d, keeping the running configuration" % n,
                str([e.get("MESSAGE") for e in s.journal()]))
        h.check(st.get("ActiveState") == "active" and st.get("MainPID") == pid, "bad file: still running, same process",
                str(st))
        s.write("/etc/widgetd/widgetd.conf", s.good_conf())
        s.ok("systemctl reload %s" % UNIT, "systemctl reload widgetd (good file again)")

    with case("stop-mid-drain") as selected:
        reqs = s.batch(800)
        s.restart_when_stopped(reqs)
        left = s.wait_taken(100)
        t = time.monotonic()
        s.ok("systemctl stop %s" % UNIT, "systemctl stop in the middle of a drain (%d of %d left)" % (left, len(reqs)),
             timeout=STOP_BOUND + 70)
        took = time.monotonic() - t
        st = s.show("ActiveState", "Result", "ExecMainStatus")
        left = len(s.left())
        h.check(took < STOP_BOUND and st.get("Result") == "success" and st.get("ExecMainStatus") == "0",
                "stopped within %d s (%.1fs), exit 0, %d requests left for later" % (STOP_BOUND, took, left), str(st))
        h.check(left > 0, "the stop came mid-drain (requests were left)")
        s.ok("systemctl start %s" % UNIT, "systemctl start")
        s.judge("after a stop mid-drain")

    with case("config-error") as selected:
        s.write("/etc/widgetd/widgetd.conf", s.good_conf().replace("[store]\n", "[store]\nkind = nosql\n", 1))
        s.mark()
        r = s.sh("systemctl restart %s" % UNIT)
        st, _ = s.wait_show(lambda x: x.get("ActiveState") == "failed", 10, "ActiveState", "Result", "ExecMainStatus",
                            "NRestarts")
        out = s.sh("systemctl status --no-pager -n 3 %s" % UNIT).stdout
        h.check(r.returncode != 0 and st.get("ExecMainStatus") == "78" and "status=78/CONFIG" in out,
                "a configuration error: the start fails with status=78/CONFIG", out[-800:])
        time.sleep(7)   # past RestartSec=5s
        st = s.show("ActiveState", "NRestarts")
        h.check(st.get("ActiveState") == "failed" and st.get("NRestarts") == "0", "no restart loop (7 s later)",
                str(st))
        errs = [e for e in s.journal() if e.get("SYSLOG_IDENTIFIER") == "widgetd" and e.get("PRIORITY") == "3"]
        h.check(len(errs) == 1 and "/etc/widgetd/widgetd.conf:" in errs[0]["MESSAGE"], "one error line naming file:line",
                str([e.get("MESSAGE") for e in errs]))
        s.write("/etc/widgetd/widgetd.conf", s.good_conf())
        s.ok("systemctl start %s" % UNIT, "fixed, systemctl start")

    with case("kill") as selected:
        reqs = s.batch(400)
        s.restart_when_stopped(reqs)
        before = s.show("MainPID", "NRestarts")
        s.wait_taken(50)
        s.ok("systemctl kill -s KILL %s" % UNIT, "systemctl kill -s KILL widgetd mid-drain")
        st, ok = s.wait_show(lambda x: x.get("ActiveState") == "active" and x.get("MainPID") not in ("0", before["MainPID"]),
                             20, "ActiveState", "MainPID", "NRestarts")
        h.check(ok and int(st.get("NRestarts", "0")) == int(before["NRestarts"]) + 1,
                "restarted by Restart=on-failure (RestartSec=5s)", "  before %s, after %s" % (before, st))
        s.judge("after SIGKILL")

    with case("watchdog") as selected:
        s.write("/etc/systemd/system/widgetd.service.d/test-watchdog.conf", "[Service]\nWatchdogSec=3s\n")
        s.ok("systemctl daemon-reload", "a drop-in: WatchdogSec=3s (below the 10 s timeout_ms of a call)")
        reqs = s.batch(300)
        s.restart_when_stopped(reqs)
        before = s.show("MainPID", "NRestarts", "WatchdogUSec")
        h.check(before.get("WatchdogUSec") == "3s", "WatchdogSec=3s in force", str(before))
        s.wait_taken(50)
        s.mark()
        proxy.configure(p=1.0, kinds=("stall",))
        got = s.wait_journal(lambda e: "Watchdog timeout" in str(e.get("MESSAGE", "")), 20)
        st, ok = s.wait_show(lambda x: int(x.get("NRestarts", "0")) > int(before["NRestarts"]) and
                             x.get("ActiveState") == "active", 20, "ActiveState", "MainPID", "NRestarts")
        h.check(bool(got) and ok, "every S3 call stalled: systemd's watchdog kills widgetd and restarts it",
                "  %s\n  before %s, after %s" % ([e.get("MESSAGE") for e in got][:2], before, st))
        proxy.configure(p=0.0)
        s.judge("after the watchdog")
        s.sh("rm -f /etc/systemd/system/widgetd.service.d/test-watchdog.conf")
        s.ok("systemctl daemon-reload && systemctl restart %s" % UNIT, "the watchdog drop-in removed, restarted")

    with case("hardening") as selected:
        s.ok("systemctl start %s" % UNIT, "widgetd running")
        st = s.show("MainPID")
        pid = st["MainPID"]
        status = s.sh("cat /proc/%s/status" % pid).stdout
        field = lambda name: (re.search(r"(?m)^%s:\s*(.*)$" % name, status) or [None, ""])[1].split()
        h.check(field("Uid") and field("Uid")[0] != "0" and field("CapEff") == ["0000000000000000"] and
                field("NoNewPrivs") == ["1"] and field("Seccomp") == ["2"],
                "the running widgetd: a dynamic uid (%s), no capability, no_new_privs, a seccomp filter"
                % (field("Uid")[:1]), status[-900:])
        mounts = s.sh("cat /proc/%s/mountinfo" % pid).stdout
        run_mounts = {}
        for line in mounts.splitlines():
            f = line.split()
            if f[4] == "/run" or f[4].startswith("/run/"):
                run_mounts[f[4]] = f[5].split(",")[0]
        rw = sorted(m for m, o in run_mounts.items() if o != "ro")
        h.check("/run" in run_mounts and not rw, "the running widgetd sees /run and every mount under it read-only",
                "  read-write: %s" % rw)
        probe = "\n".join(l for l in s.sh("cat /lib/systemd/system/%s" % UNIT).stdout.splitlines()
                          if not re.match(r"^(Type|ExecStart|ExecReload|WatchdogSec|Restart\w*|TimeoutStopSec)=", l))
        probe = probe.replace("[Service]\n", "[Service]\nType=oneshot\nExecStart=/usr/bin/python3 /usr/local/lib/"
                              "widgetd-probe.py\nEnvironment=AWS_EC2_METADATA_DISABLED=true\n")
        s.write("/usr/local/lib/widgetd-probe.py", PROBE)
        s.write("/etc/systemd/system/widgetd-probe.service", probe)
        s.ok("systemctl daemon-reload && systemctl start widgetd-probe.service",
             "a probe under a copy of the installed unit's sandbox (ExecStart= replaced)", timeout=60)
        out = s.sh("journalctl --no-pager -o cat -u widgetd-probe.service | sed -n 's/^PROBE //p' | tail -1").stdout
        try:
            res = json.loads(out)
        except ValueError:
            res = None
        if h.check(res is not None, "the probe reported", out[-500:]):
            # PrivateTmp= and PrivateDevices= make the first three private; /dev/mqueue holds POSIX message
            # queues, which RemoveIPC= deletes when the service stops.
            allowed = {"/tmp", "/var/tmp", "/dev/shm", "/dev/mqueue"}
            h.check(res["uid"] != 0 and set(res["writable"]) <= allowed,
                    "as the service's user (uid %d) only %s are writable (%s)"
                    % (res["uid"], ", ".join(sorted(allowed)), ", ".join(res["writable"])),
                    "  writable: %s" % res["writable"])
            fam = res["families"]
            h.check(all(fam[f] == "EAFNOSUPPORT" for f in ("AF_PACKET", "AF_NETLINK", "AF_BLUETOOTH", "AF_VSOCK"))
                    and fam["AF_INET"] == "ok" and fam["AF_UNIX"] == "ok",
                    "forbidden socket families fail (EAFNOSUPPORT), AF_INET and AF_UNIX work", str(fam))
        leftover = s.sh("find / /tmp /var/tmp /dev /run -xdev -name .widgetd-probe-left 2>/dev/null").stdout.strip()
        h.check(not leftover, "no file the probe wrote outlives it (its files stayed where it could write them)",
                leftover[:500])
        s.sh("rm -f /etc/systemd/system/widgetd-probe.service /usr/local/lib/widgetd-probe.py; systemctl daemon-reload")
        out = s.sh("systemd-analyze security --no-pager %s" % UNIT).stdout
        m = re.search(r"Overall exposure level for %s: ([0-9.]+)" % re.escape(UNIT), out)
        h.check(m is not None and float(m.group(1)) <= MAX_EXPOSURE,
                "systemd-analyze security widgetd (running): %s <= %.1f" % (m.group(1) if m else "?", MAX_EXPOSURE),
                out[-600:])

    with case("upgrade") as selected:
        t = time.monotonic()
        try:
            out, _ = newer.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            newer.kill()
            out = b""
        built = out.decode().strip().splitlines()[-1] if out.strip() else ""
        if not h.check(newer.returncode == 0 and built.endswith(".deb"), "the newer build (%.1fs more)"
                       % (time.monotonic() - t), open(os.path.join(debs, "newer-build.log")).read()[-2000:]):
            raise wdtest.HarnessError("no newer package")
        new_deb = os.path.join(debs, os.path.basename(built))
        shutil.copy(built, new_deb)
        os.chmod(new_deb, 0o644)
        shutil.rmtree(newer_tree, ignore_errors=True)
        new_version = re.match(r"widgetd_([^_]+)_", os.path.basename(new_deb)).group(1)
        reqs = s.batch(600)
        s.restart_when_stopped(reqs)
        pid = s.show("MainPID")["MainPID"]
        s.wait_taken(50)
        s.mark()
        s.ok("DEBIAN_FRONTEND=noninteractive apt-get install -y -q %s/%s" % (inside_debs, os.path.basename(new_deb)),
             "apt-get install of the newer build (%s) while widgetd drains" % new_version, timeout=300)
        st = s.show("ActiveState", "MainPID")
        started = [e["MESSAGE"] for e in s.journal() if re.match(r"widgetd \S+ started", str(e.get("MESSAGE")))]
        exe = s.sh("readlink /proc/%s/exe" % st.get("MainPID")).stdout.strip()
        h.check(st.get("ActiveState") == "active" and st.get("MainPID") != pid and exe == "/usr/bin/widgetd" and
                started and started[-1].startswith("widgetd %s started" % new_version),
                "restarted on the new binary (%s)" % (started[-1] if started else "no start line"),
                "  %s, exe %s, pid before %s" % (st, exe, pid))
        conf = s.sh("cat /etc/widgetd/widgetd.conf; ls /etc/widgetd").stdout
        h.check(conf.startswith("# local edit (test_realsystemd)") and "dpkg-" not in conf,
                "the local edit of widgetd.conf is kept (no .dpkg-dist)", conf[-300:])
        ver = s.sh("dpkg-query -W -f='${Version}' widgetd").stdout.strip()
        h.check(ver == new_version, "dpkg says %s" % ver)
        s.judge("after the upgrade")

    with case("purge") as selected:
        s.sh("rm -rf /etc/systemd/system/widgetd.service.d")   # the operator's own drop-ins
        s.ok("DEBIAN_FRONTEND=noninteractive apt-get purge -y -q widgetd", "apt-get purge widgetd", timeout=300)
        st = s.show("LoadState", "ActiveState")
        procs = s.sh("pgrep -x widgetd || true").stdout.strip()
        files = s.sh("ls -d /lib/systemd/system/widgetd.service /etc/widgetd /usr/bin/widgetd "
                     "/etc/systemd/system/*.wants/widgetd.service 2>/dev/null || true").stdout.strip()
        h.check(st.get("LoadState") == "not-found" and st.get("ActiveState") == "inactive" and not procs and not files,
                "no unit, no configuration, no process left", "  %s, processes %r, files %r" % (st, procs, files))

    cleanup()
    host_after = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Status}", "widgetd"], capture_output=True,
                                text=True).stdout.strip()
    h.check(host_after == host_before, "the host's own dpkg database is untouched (widgetd: %r)" % host_after)
    print("# total %.1fs" % (time.monotonic() - t0), flush=True)
    h.finish()


if __name__ == "__main__":
    main()
