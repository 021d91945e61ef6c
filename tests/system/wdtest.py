#!/usr/bin/env python3
"""Shared harness of widgetd's system tests: stand-ins, buckets and tables, loading requests, running the
real binary, reading the store back with an independent client (boto3) and judging it with the oracle.

A test file is
    h = wdtest.Harness(__doc__)
    with h.case("name"):
        ... h.check(condition, "what") / h.judge(...) ...
    h.finish()        # prints "N passed, N failed", cleans up, exits non-zero on a failure

Run as `python3 tests/system/test_X.py --widgetd PATH --source-dir DIR [-k]` (that is how ctest runs
each one). With WD_STANDINS_ENV set (scripts/test does it) the stand-ins it names are reused; without
it the harness starts its own (scripts/standins start --auto-ports, --rgw for a Harness(rgw=True)) and
stops them at exit; a Harness(rgw=True) given stand-ins without RGW starts RGW alone next to them
(--rgw-only).

Two S3 servers: s3rver (the default) and Ceph's RADOS Gateway ("rgw", WD_RGW_ENDPOINT in the stand-ins'
env). h.use_s3("rgw") points h.s3, new buckets and widgetd's S3 endpoint at RGW (h.s3_servers() lists
both, for the tests that touch S3's wire format); for a Harness made without rgw=True that is a failed
check, never a silent skip. Buckets remember their server, so cleanup deletes each where it lives.

s3rver cannot hold every legal key (../../../shared/STANDINS.md): no ".", ".." or empty path segment, no
segment over ~233 bytes, no key ending in "/", no "&", and no character XML 1.0 cannot carry (control
characters, U+FFFE, U+FFFF: it writes them raw into its listings, which then no parser reads; a CR is
listed as LF). RGW holds all of them. Keys are listed with encoding-type=url and decoded only when the
answer says so (s3rver ignores the request and sends raw keys, RGW honours it), with botocore's own
automatic decoding turned off; so they are byte-exact on both. RGW writes a page's NextContinuationToken
(and the StartAfter echo) raw, so botocore cannot read a page that ends with such a key: the harness lists
999 keys a page, so a test can end widgetd's 1000-key page with one and still list the bucket (as long as
no such key is the 999th, 1998th, ... of it).

TLS: a Harness(tls=True) needs stand-ins started with --tls (scripts/standins: nginx in front of each, a
throwaway CA); given a set without them it starts its own set with --tls. h.use_tls() points widgetd (not
the harness's own clients, which stay on plain HTTP so that the proxy's logs hold widgetd's calls alone)
at the https endpoints, with AWS_CA_BUNDLE set to the CA; h.tls_mark() and h.tls_traffic(name, mark)
read what the proxy saw since then: requests, connections (= TLS handshakes), resumed sessions, and the
connections of the refusing servers (handshakes that failed or were dropped).
"""
import argparse
import atexit
import contextlib
import json
import os
import random
import re
import shutil
import signal
import string
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore import handlers as botocore_handlers
from botocore.config import Config
from botocore.exceptions import ClientError

HERE = os.path.dirname(os.path.abspath(__file__))
DEAD_PREFIX = "dead-letter/"
SANITIZER_PATTERNS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer", "ERROR: UndefinedBehavior",
                      "SUMMARY: AddressSanitizer", "SUMMARY: UndefinedBehaviorSanitizer")
PRIORITY_RE = re.compile(r"^<[0-7]>")
INFO_RE = re.compile(r"^<6>(created|updated|deleted) widget ")
MAX_SHOWN = 8   # mismatches shown per failed check
# s3rver keeps objects as files; its DELETE removes a folder it finds empty, which can wipe the object a
# concurrent PUT just wrote into that folder (PUT answered 200, object gone). Real S3 has no folders. So
# each owner's widgets/<slug>/ folder of an S3 store gets a guard object that keeps it from ever being
# empty. Its name holds U+007F, which no widget ID may contain, so it can never be a widget.
FOLDER_GUARD = "\x7fs3rver-folder-guard"
S3_SERVERS = ("s3rver", "rgw")
S3_ENDPOINT_VAR = {"s3rver": "WD_S3_ENDPOINT", "rgw": "WD_RGW_ENDPOINT"}
S3_TLS_ENDPOINT_VAR = {"s3rver": "WD_S3_TLS_ENDPOINT", "rgw": "WD_RGW_TLS_ENDPOINT"}
# The TLS proxy's servers (scripts/standins --tls), by log name.
TLS_SERVERS = ("s3", "ddb", "rgw", "bad-ca", "wrong-name", "expired", "s3-short")
# nginx's error-log lines name their connection: "... [info] PID#TID: *N message".
NGINX_CONN_RE = re.compile(r"\[\w+\] \d+#\d+: \*(\d+) ")


class HarnessError(Exception):
    """The test could not be carried out (stand-ins, setup): not a finding about widgetd."""


def read_env_file(path):
    env = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("export "):
                line = line[len("export "):]
            k, sep, v = line.partition("=")
            if not sep:
                continue
            v = v.strip()
            if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
                v = v[1:-1]
            env[k.strip()] = v
    return env


def end_process(proc, grace=10):
    """SIGTERM to a helper process (a proxy), SIGKILL if it is still there after grace seconds; reaped."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def short(value, limit=160):
    """repr() of a value, cut to `limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 20] + "...(%d chars)" % len(text)


def ascii_anchor(key):
    """The part of a key that a log line must contain: the key itself when printable ASCII, else its
    longest printable-ASCII prefix (widgetd may escape the rest), or None when that is too short."""
    if all(0x20 <= ord(c) < 0x7f for c in key):
        return key
    prefix = ""
    for c in key:
        if not 0x20 <= ord(c) < 0x7f:
            break
        prefix += c
    return prefix if len(prefix) >= 5 else None


class Stores:
    """The two kinds of widget store, as the oracle (--store) and widgetd's old flag name them."""
    FLAG = {"s3": "wb", "dynamodb": "dwt"}


class WidgetdRun:
    def __init__(self, argv, rc, stderr, stdout, elapsed, timed_out, log_path):
        self.argv, self.rc, self.stderr, self.stdout = argv, rc, stderr, stdout
        self.elapsed, self.timed_out, self.log_path = elapsed, timed_out, log_path

    @property
    def lines(self):
        return [line for line in self.stderr.split("\n") if line.strip()]

    def tail(self, n=15):
        lines = self.stderr.split("\n")
        return "\n".join("    | " + line for line in lines[-n:]) or "    | (empty)"


class TlsTraffic:
    """What the TLS proxy logged for one server since a mark: requests passed on, the connections they came
    on (each one TLS handshake: full, or resumed when the client offered a session the server kept), and
    the connections seen in its error log (on a refusing server: one per attempt, the handshake failed or
    the client dropped it)."""

    def __init__(self, access_lines, error_lines):
        self.requests = len(access_lines)
        conns = {}
        for line in access_lines:
            f = line.split()
            if len(f) >= 3:
                conns.setdefault(f[0], f[2])
        self.connections = len(conns)
        self.resumed = sum(1 for v in conns.values() if v == "r")
        self.error_connections = len({m.group(1) for m in map(NGINX_CONN_RE.search, error_lines) if m})
        self.error_lines = error_lines

    def __str__(self):
        return "%d requests on %d connections (%d TLS sessions resumed)" % (self.requests, self.connections,
                                                                             self.resumed)


class Harness:
    def __init__(self, description, argv=None, extra_args=None, rgw=False, tls=False):
        p = argparse.ArgumentParser(description=(description or "").strip().splitlines()[0])
        p.add_argument("--widgetd", required=True, help="the widgetd binary to test")
        p.add_argument("--source-dir", default=os.path.dirname(os.path.dirname(HERE)),
                       help="the repository root (default: two levels above this file)")
        p.add_argument("-k", "--keep", action="store_true",
                       help="keep buckets, tables, logs and own stand-ins for inspection")
        p.add_argument("--only", action="append", default=[],
                       help="run only the cases whose name contains this (repeatable)")
        p.add_argument("--timeout", type=float, default=600, help="seconds one widgetd run may take")
        if extra_args:
            extra_args(p)
        self.args = p.parse_args(argv)
        self.widgetd = os.path.abspath(self.args.widgetd)
        self.source_dir = os.path.abspath(self.args.source_dir)
        self.shared_dir = os.environ.get("WD_SHARED_DIR") or os.path.join(os.path.dirname(self.source_dir), "shared")
        self.oracle_path = os.path.join(self.shared_dir, "oracle", "widget_oracle.py")
        self.keep = self.args.keep
        self.passed = self.failed = 0
        self.current_case = None
        self.buckets, self.tables = [], []
        self.bucket_server = {}   # bucket -> the S3 server it was created on (default s3rver)
        self.s3_stores = []   # S3 store buckets, which get folder guards when requests are loaded
        self.loaded = {}   # bucket -> keys put by load() (a key the stand-in lists mangled is still deletable)
        self.workdir = tempfile.mkdtemp(prefix="wdtest-%s-" % os.path.splitext(os.path.basename(sys.argv[0]))[0])
        self._lock = threading.Lock()
        self._own_standins_dirs = []
        self._finished = False
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._on_signal)
        atexit.register(self._atexit)
        if not os.access(self.widgetd, os.X_OK):
            self._fatal("widgetd binary %s is not executable" % self.widgetd)
        if not os.path.exists(self.oracle_path):
            self._fatal("oracle not found at %s (set WD_SHARED_DIR)" % self.oracle_path)
        self.want_rgw = rgw
        self.want_tls = tls
        self.tls = False   # use_tls(): widgetd talks to the https endpoints
        self._start_standins()
        self._s3_clients = {}
        self.s3_server = None
        self.use_s3("s3rver")
        self.ddb = self._ddb_client(self.env["WD_DDB_ENDPOINT"])

    # ----- stand-ins and clients -----

    def _start_standins(self):
        path = os.environ.get("WD_STANDINS_ENV")
        if path:
            if not os.path.exists(path):
                self._fatal("WD_STANDINS_ENV=%s does not exist" % path)
            self.env = read_env_file(path)
            print("# reusing stand-ins from %s" % path, flush=True)
            if self.want_tls and not self.env.get("WD_TLS_CA"):
                # A set started without --tls: a whole set of our own, with it (and RGW when wanted).
                self.env = self._own_standins("tls-standins", ["--tls"] + (["--rgw"] if self.want_rgw else []))
            elif self.want_rgw and not self.env.get("WD_RGW_ENDPOINT"):
                # A set started without --rgw: RGW alone, of our own, next to it.
                rgw_env = self._own_standins("rgw-standins", ["--rgw-only"])
                self.env["WD_RGW_ENDPOINT"] = rgw_env.get("WD_RGW_ENDPOINT", "")
        else:
            self.env = self._own_standins("standins", (["--rgw"] if self.want_rgw else []) +
                                          (["--tls"] if self.want_tls else []))
        missing = [k for k in ("WD_S3_ENDPOINT", "WD_DDB_ENDPOINT") if not self.env.get(k)]
        if missing:
            self._fatal("stand-ins env lacks %s" % ", ".join(missing))
        self.env.setdefault("WD_DDB_PROXY_ENDPOINT", self.env["WD_DDB_ENDPOINT"])
        self.env.setdefault("AWS_ACCESS_KEY_ID", "S3RVER")
        self.env.setdefault("AWS_SECRET_ACCESS_KEY", "S3RVER")
        self.env.setdefault("AWS_REGION", "us-east-1")

    def _own_standins(self, name, options):
        """Starts a stand-in set of our own in the work folder (stopped at exit); returns its env."""
        d = os.path.join(self.workdir, name)
        script = os.path.join(self.source_dir, "scripts", "standins")
        argv = [script, "start", "--auto-ports", "--dir", d] + options
        print("# starting own stand-ins: %s" % " ".join(argv), flush=True)
        self._own_standins_dirs.append(d)
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=300)
        if r.returncode != 0:
            self._fatal("scripts/standins start failed (exit %d):\n%s" % (r.returncode, r.stdout))
        return read_env_file(os.path.join(d, "env"))

    def _stop_standins(self):
        dirs, self._own_standins_dirs = self._own_standins_dirs, []
        for d in dirs:
            subprocess.run([os.path.join(self.source_dir, "scripts", "standins"), "stop", "--dir", d],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           timeout=120)

    # ----- S3 servers -----

    def has_s3(self, server):
        return bool(self.env.get(S3_ENDPOINT_VAR[server]))

    def s3_endpoint(self, server=None):
        server = server or self.s3_server
        endpoint = self.env.get(S3_ENDPOINT_VAR[server])
        if not endpoint:
            raise HarnessError("the stand-ins have no %s (%s is not in their env): make the Harness with "
                               "rgw=True, or start them with --rgw" % (server, S3_ENDPOINT_VAR[server]))
        return endpoint

    def s3_servers(self):
        """The S3 servers a wire-format test runs on: s3rver and RGW."""
        return list(S3_SERVERS)

    def use_s3(self, server):
        """Points h.s3, the buckets created from now on and widgetd's S3 endpoint at server ("s3rver" or
        "rgw"). Raises HarnessError when the stand-ins lack it."""
        if server not in S3_ENDPOINT_VAR:
            raise HarnessError("unknown S3 server %r (one of %s)" % (server, ", ".join(S3_SERVERS)))
        endpoint = self.s3_endpoint(server)
        if server not in self._s3_clients:
            self._s3_clients[server] = self._s3_client(endpoint)
        self.s3_server, self.s3 = server, self._s3_clients[server]

    # ----- TLS -----

    def use_tls(self, on=True):
        """widgetd's endpoints: the https ones of the TLS proxy (on) or the plain ones. A Harness made without
        tls=True cannot: a failed check, never a silent fall-back to plain HTTP."""
        if on and not self.env.get("WD_TLS_CA"):
            raise HarnessError("the stand-ins have no TLS proxy (WD_TLS_CA is not in their env): make the Harness "
                               "with tls=True, or start them with --tls")
        self.tls = on

    def tls_endpoint(self, name):
        """The https endpoint of a TLS server: "s3" (the current S3 server's), "ddb", "bad-ca", "wrong-name",
        "expired", "s3-short" (s3rver, each connection closed after 4 requests)."""
        var = {"s3": S3_TLS_ENDPOINT_VAR[self.s3_server], "ddb": "WD_DDB_PROXY_TLS_ENDPOINT",
               "s3-short": "WD_S3_TLS_SHORT_ENDPOINT",
               "bad-ca": "WD_TLS_BAD_CA_ENDPOINT", "wrong-name": "WD_TLS_WRONG_NAME_ENDPOINT",
               "expired": "WD_TLS_EXPIRED_ENDPOINT"}[name]
        if not self.env.get(var):
            raise HarnessError("the stand-ins have no %s" % var)
        return self.env[var]

    def _tls_logs(self, name):
        d = self.env.get("WD_TLS_LOGS")
        if not d:
            raise HarnessError("the stand-ins have no TLS proxy logs (WD_TLS_LOGS)")
        return os.path.join(d, name + ".access.log"), os.path.join(d, name + ".error.log")

    def tls_mark(self):
        """The current sizes of the TLS proxy's logs, for tls_traffic()."""
        mark = {}
        for name in TLS_SERVERS:
            for path in self._tls_logs(name):
                mark[path] = os.path.getsize(path) if os.path.exists(path) else 0
        return mark

    def tls_traffic(self, name, mark):
        """TlsTraffic of server name ("s3" means the current S3 server's: "rgw" on RGW) since mark."""
        if name == "s3" and self.s3_server == "rgw":
            name = "rgw"
        time.sleep(0.2)   # nginx writes a connection's last line when it notices the close
        out = []
        for path in self._tls_logs(name):
            lines = []
            if os.path.exists(path):
                with open(path, "rb") as f:
                    f.seek(mark.get(path, 0))
                    lines = [line for line in f.read().decode("utf-8", "replace").split("\n") if line.strip()]
            out.append(lines)
        return TlsTraffic(*out)

    def _client_for(self, bucket):
        server = self.bucket_server.get(bucket, "s3rver")
        if server not in self._s3_clients:
            self._s3_clients[server] = self._s3_client(self.s3_endpoint(server))
        return self._s3_clients[server]

    def _session(self):
        return boto3.session.Session(aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"],
                                     aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"],
                                     region_name=self.env["AWS_REGION"])

    def _s3_client(self, endpoint):
        cfg = Config(s3={"addressing_style": "path"}, max_pool_connections=32,
                     request_checksum_calculation="when_required", response_checksum_validation="when_required",
                     retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=10, read_timeout=120)
        c = self._session().client("s3", endpoint_url=endpoint, config=cfg)
        # s3rver ignores encoding-type=url but botocore would URL-decode the raw keys it returns
        # ("+" -> " ", "%41" -> "A"): list_keys asks for the encoding itself and decodes only an answer
        # that says it is encoded.
        for op in ("ListObjects", "ListObjectsV2", "ListObjectVersions"):
            c.meta.events.unregister("before-parameter-build.s3.%s" % op,
                                     botocore_handlers.set_list_objects_encoding_type_url)
        return c

    def _ddb_client(self, endpoint):
        cfg = Config(max_pool_connections=32, retries={"max_attempts": 5, "mode": "standard"},
                     connect_timeout=10, read_timeout=120)
        return self._session().client("dynamodb", endpoint_url=endpoint, config=cfg)

    # ----- results -----

    def check(self, ok, what, detail=""):
        """Records one check. Returns ok."""
        with self._lock:
            if ok:
                self.passed += 1
                print("ok   - %s%s" % (self._prefix(), what), flush=True)
            else:
                self.failed += 1
                print("FAIL - %s%s%s" % (self._prefix(), what, ("\n" + detail.rstrip()) if detail else ""),
                      flush=True)
        return ok

    def _prefix(self):
        return "[%s] " % self.current_case if self.current_case else ""

    def selected(self, name):
        return not self.args.only or any(o in name for o in self.args.only)

    @contextlib.contextmanager
    def case(self, name):
        """A named group of checks; an exception inside counts as one failed check and ends the case."""
        if not self.selected(name):
            print("skip - [%s] (not selected by --only)" % name, flush=True)
            yield False
            return
        print("# case %s" % name, flush=True)
        self.current_case = name
        try:
            yield True
        except HarnessError as e:
            self.check(False, "harness: %s" % e)
        except Exception:
            self.check(False, "unexpected exception", traceback.format_exc())
        finally:
            self.current_case = None

    def finish(self):
        """Cleans up, prints the closing line and exits (1 when a check failed)."""
        self._cleanup()
        self._finished = True
        print("%d passed, %d failed" % (self.passed, self.failed), flush=True)
        sys.exit(1 if self.failed else 0)

    def _fatal(self, msg):
        print("FAIL - harness: %s" % msg, flush=True)
        self.failed += 1
        self.finish()

    def _on_signal(self, signum, frame):
        print("# interrupted by signal %d" % signum, flush=True)
        sys.exit(128 + signum)

    def _atexit(self):
        if not self._finished:
            self._cleanup()
        if self.keep:
            for d in self._own_standins_dirs:
                print("# kept own stand-ins running: %s/env (stop: scripts/standins stop --dir %s)" % (d, d),
                      flush=True)
            self._own_standins_dirs = []
        else:
            self._stop_standins()
            if self.failed:
                print("# widgetd logs kept in %s" % self.workdir, flush=True)
            else:
                shutil.rmtree(self.workdir, ignore_errors=True)

    # ----- names, buckets, tables -----

    def unique_name(self, tag):
        """A fresh lowercase name valid as an S3 bucket and a DynamoDB table: wdt-<tag>-<random>."""
        tag = re.sub(r"[^a-z0-9-]", "-", tag.lower()).strip("-")[:30] or "t"
        suffix = "".join(random.choice(string.ascii_lowercase + string.digits) for _ in range(10))
        return "wdt-%s-%s" % (tag, suffix)

    def create_bucket(self, tag):
        name = self.unique_name(tag)
        try:
            self.s3.create_bucket(Bucket=name)
        except ClientError as e:
            raise HarnessError("create bucket %s on %s: %s" % (name, self.s3_server, e))
        self.buckets.append(name)
        self.bucket_server[name] = self.s3_server
        return name

    def create_table(self, tag):
        name = self.unique_name(tag)
        try:
            self.ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                                  AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                                  KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
            self.ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        except ClientError as e:
            raise HarnessError("create table %s: %s" % (name, e))
        self.tables.append(name)
        return name

    def create_store(self, store, tag):
        """An empty widget store of the kind ("s3" or "dynamodb"); returns its name."""
        if store != "s3":
            return self.create_table(tag + "-store")
        name = self.create_bucket(tag + "-store")
        self.s3_stores.append(name)
        return name

    def guard_folders(self, requests):
        """Puts a FOLDER_GUARD object into widgets/<owner-slug>/ of every S3 store, for each valid owner
        named by a request (see FOLDER_GUARD). Best effort: a slug s3rver cannot hold as a folder name
        (over ~233 bytes) gets none, and then cannot race either, since no widget can be stored there."""
        slugs = set()
        for body in requests.values():
            try:
                owner = json.loads(body).get("owner")
            except (ValueError, AttributeError, UnicodeDecodeError, RecursionError):
                continue
            if isinstance(owner, str) and re.fullmatch(r"[A-Za-z ]{1,200}", owner):
                slugs.add(owner.lower().replace(" ", "-"))

        def put(bucket, slug):
            try:
                self.s3.put_object(Bucket=bucket, Key="widgets/%s/%s" % (slug, FOLDER_GUARD), Body=b"")
            except ClientError as e:
                print("# folder guard for %s in %s not written: %s" % (slug, bucket, e), flush=True)
        for bucket in self.s3_stores:
            if self.bucket_server.get(bucket, "s3rver") != self.s3_server:
                continue   # only the buckets of the server being loaded
            with ThreadPoolExecutor(max_workers=16) as ex:
                list(ex.map(lambda slug: put(bucket, slug), sorted(slugs)))

    def _cleanup(self):
        if self.keep:
            if self.buckets or self.tables:
                print("# kept buckets %s, tables %s; stand-ins %s" % (self.buckets, self.tables, self.env_summary()),
                      flush=True)
            return
        for b in self.buckets:
            try:
                client = self._client_for(b)
                keys = sorted(set(self.list_keys(b)) | self.loaded.get(b, set()))
                # One DELETE per key: s3rver's DeleteObjects trims keys like "   " (XML whitespace).
                with ThreadPoolExecutor(max_workers=16) as ex:
                    list(ex.map(lambda k: client.delete_object(Bucket=b, Key=k), keys))
                client.delete_bucket(Bucket=b)
            except Exception as e:  # cleanup must not hide the results
                print("# cleanup of bucket %s failed: %s" % (b, e), flush=True)
        for t in self.tables:
            try:
                self.ddb.delete_table(TableName=t)
            except Exception as e:
                print("# cleanup of table %s failed: %s" % (t, e), flush=True)
        self.buckets, self.tables = [], []
        self.s3_stores = []   # S3 store buckets, which get folder guards when requests are loaded

    def env_summary(self):
        return "S3 %s, RGW %s, DynamoDB %s (proxy %s)" % (
            self.env["WD_S3_ENDPOINT"], self.env.get("WD_RGW_ENDPOINT", "(none)"), self.env["WD_DDB_ENDPOINT"],
            self.env["WD_DDB_PROXY_ENDPOINT"])

    # ----- requests -----

    def load(self, bucket, requests, threads=16, verify=True):
        """PUTs requests ({key: raw bytes}) in parallel. With verify, checks that the bucket then lists
        exactly these keys (else the stand-in cannot hold one: HarnessError)."""
        client = self._client_for(bucket)

        def put(item):
            key, body = item
            client.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
        self.guard_folders(requests)
        before = set(self.loaded.get(bucket, set()))
        self.loaded.setdefault(bucket, set()).update(requests)
        with ThreadPoolExecutor(max_workers=threads) as ex:
            list(ex.map(put, requests.items()))
        if verify:
            listed = set(self.list_keys(bucket)) - (before - set(requests))
            want = set(requests)
            if listed != want:
                raise HarnessError("after loading %d requests into %s the bucket lists %d keys; not listed: %s; "
                                   "unexpected: %s (a key the stand-in cannot hold?)"
                                   % (len(want), bucket, len(listed), sorted(want - listed)[:5],
                                      sorted(listed - want)[:5]))

    def list_keys(self, bucket, prefix=""):
        """Every key under prefix, byte-exact, in listing order (see the module's docstring)."""
        keys, token = [], None
        client = self._client_for(bucket)
        while True:
            # 999, not the 1000 widgetd asks for: a test may put a key XML cannot carry at the end of
            # widgetd's page, where RGW writes it raw into NextContinuationToken (botocore cannot read that).
            kw = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": 999, "EncodingType": "url"}
            if token:
                kw["ContinuationToken"] = token
            r = client.list_objects_v2(**kw)
            encoded = r.get("EncodingType") == "url"
            keys.extend(urllib.parse.unquote_plus(o["Key"], errors="strict") if encoded else o["Key"]
                        for o in r.get("Contents", []))
            if not r.get("IsTruncated"):
                return keys
            token = r["NextContinuationToken"]

    def any_request_left(self, bucket, prefix=""):
        """True when a request key (not a dead letter) is left under prefix, with one short LIST; for polling
        while widgetd runs (request keys in the tests sort before dead-letter/).

        s3rver answers 500 to a listing that races a DELETE: its directory walk stats a file just deleted, or
        every key of a full page vanished before it read their metadata (it then fails building the
        continuation token). That says nothing about what is left; the walk sees the survivors when asked
        again, so a 500 is asked again here (boto3's own five attempts come in a burst that a run deleting
        the lowest keys can fail every time). 100 keys, not 1: the keys widgetd is deleting are the lowest."""
        client = self._client_for(bucket)
        for attempt in range(10):
            try:
                r = client.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=100)
            except ClientError as e:
                if e.response.get("ResponseMetadata", {}).get("HTTPStatusCode") != 500 or attempt == 9:
                    raise
                time.sleep(0.2 * (attempt + 1))
                continue
            return any(not o["Key"].startswith(DEAD_PREFIX) for o in r.get("Contents", []))

    # ----- widgetd -----

    def widgetd_env(self, overrides=None, drop=()):
        """The environment of a widgetd run: no AWS_* from outside; stand-in endpoints and credentials."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update({
            "AWS_ENDPOINT_URL_S3": self.tls_endpoint("s3") if self.tls else self.s3_endpoint(),
            "AWS_ENDPOINT_URL_DYNAMODB": self.tls_endpoint("ddb") if self.tls else self.env["WD_DDB_PROXY_ENDPOINT"],
            "AWS_ACCESS_KEY_ID": self.env["AWS_ACCESS_KEY_ID"],
            "AWS_SECRET_ACCESS_KEY": self.env["AWS_SECRET_ACCESS_KEY"],
            "AWS_REGION": self.env["AWS_REGION"],
            "AWS_EC2_METADATA_DISABLED": "true",
            "ASAN_OPTIONS": "detect_leaks=1",
        })
        if self.tls:
            env["AWS_CA_BUNDLE"] = self.env["WD_TLS_CA"]
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        env.update(overrides or {})
        for k in drop:
            env.pop(k, None)
        return env

    def old_flags(self, requests_bucket, store, store_name):
        """The original script's command line."""
        return ["--requests_bucket", requests_bucket, "--destination_flag", Stores.FLAG[store],
                "--destination_name", store_name]

    def run_widgetd(self, args, name="widgetd", timeout=None, env=None):
        """Runs widgetd with args; stderr goes to a log file in the work folder. Returns a WidgetdRun."""
        timeout = timeout or self.args.timeout
        log_path = os.path.join(self.workdir, "%s-%d.log" % (re.sub(r"[^A-Za-z0-9_.-]", "_", name), time.time_ns()))
        argv = [self.widgetd] + list(args)
        t0 = time.monotonic()
        timed_out = False
        with open(log_path, "wb") as log, open(log_path + ".stdout", "wb") as out:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=log,
                                    env=env if env is not None else self.widgetd_env(), start_new_session=True)
            try:
                rc = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                rc = proc.returncode
            finally:
                if proc.poll() is None:   # interrupted (signal): do not leave widgetd behind
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        elapsed = time.monotonic() - t0
        with open(log_path, "rb") as f:
            stderr = f.read().decode("utf-8", "replace")
        with open(log_path + ".stdout", "rb") as f:
            stdout = f.read().decode("utf-8", "replace")
        return WidgetdRun(argv, rc, stderr, stdout, elapsed, timed_out, log_path)

    # ----- reading back -----

    def read_s3_store(self, bucket):
        """{key: widget dict} of every object under widgets/ (a body that is not JSON becomes
        {"<not JSON>": text}; a Content-Type other than application/json adds "<content-type>")."""
        keys = [k for k in self.list_keys(bucket, "widgets/") if not k.endswith("/" + FOLDER_GUARD)]
        others = [k for k in self.list_keys(bucket) if not k.startswith("widgets/")]
        client = self._client_for(bucket)

        def get(key):
            try:
                r = client.get_object(Bucket=bucket, Key=key)
            except ClientError as e:
                return key, {"<GET failed>": str(e)}
            body = r["Body"].read()
            try:
                value = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                value = {"<not JSON>": body.decode("utf-8", "replace")}
            ctype = r.get("ContentType", "")
            if not ctype.split(";")[0].strip() == "application/json" and isinstance(value, dict):
                value = dict(value, **{"<content-type>": ctype})
            return key, value
        with ThreadPoolExecutor(max_workers=16) as ex:
            store = dict(ex.map(get, keys))
        for k in others:
            store[k] = {"<object outside widgets/>": True}
        return store

    def read_ddb_store(self, table):
        """{id: item as plain name -> string map} (a non-string attribute shows as {"<T>": value})."""
        store, kw = {}, {"TableName": table, "ConsistentRead": True}
        while True:
            r = self.ddb.scan(**kw)
            for item in r.get("Items", []):
                plain = {}
                for name, av in item.items():
                    (t, v), = av.items()
                    plain[name] = v if t == "S" else {"<%s>" % t: v}
                store[item.get("id", {}).get("S", short(item.get("id")))] = plain
            if "LastEvaluatedKey" not in r:
                return store
            kw["ExclusiveStartKey"] = r["LastEvaluatedKey"]

    def read_store(self, store, name):
        return self.read_s3_store(name) if store == "s3" else self.read_ddb_store(name)

    def read_dead_letters(self, bucket, prefix=DEAD_PREFIX):
        """{original key: (reason or None, body bytes)} of the dead-letter objects under prefix."""
        keys = self.list_keys(bucket, prefix)
        client = self._client_for(bucket)

        def get(key):
            try:
                r = client.get_object(Bucket=bucket, Key=key)
            except ClientError as e:
                return key[len(prefix):], (None, ("<GET failed: %s>" % e).encode())
            return key[len(prefix):], (r.get("Metadata", {}).get("widgetd-error"), r["Body"].read())
        with ThreadPoolExecutor(max_workers=16) as ex:
            return dict(ex.map(get, keys))

    # ----- the oracle -----

    def oracle(self, requests, store):
        """run_oracle() on requests ({key: raw bytes}) for the store kind."""
        return run_oracle(self.oracle_path, requests, store, self.workdir, keep=self.keep)

    # ----- judging -----

    @staticmethod
    def diff_widgets(expected, actual):
        """Lines describing how the actual store differs from the expected one (empty: equal)."""
        out = []
        missing = [k for k in expected if k not in actual]
        extra = [k for k in actual if k not in expected]
        differ = [k for k in expected if k in actual and expected[k] != actual[k]]
        for k in missing[:MAX_SHOWN]:
            out.append("missing  %s: expected %s" % (short(k, 100), short(expected[k])))
        for k in extra[:MAX_SHOWN]:
            out.append("extra    %s: %s" % (short(k, 100), short(actual[k])))
        for k in differ[:MAX_SHOWN]:
            e, a = expected[k], actual[k]
            parts = []
            if isinstance(e, dict) and isinstance(a, dict):
                for f in list(e) + [f for f in a if f not in e]:
                    if e.get(f, "<absent>") != a.get(f, "<absent>"):
                        ev, av = e.get(f, "<absent>"), a.get(f, "<absent>")
                        if f == "otherAttributes" and isinstance(ev, list) and isinstance(av, list):
                            parts.append("otherAttributes: %s" % Harness._diff_attr_lists(ev, av))
                        else:
                            parts.append("%s: expected %s, got %s" % (short(f, 60), short(ev, 120), short(av, 120)))
            else:
                parts.append("expected %s, got %s" % (short(e), short(a)))
            out.append("differs  %s: %s" % (short(k, 100), "; ".join(parts[:6])))
        if out:
            out.insert(0, "%d missing, %d extra, %d different (of %d expected, %d found)"
                       % (len(missing), len(extra), len(differ), len(expected), len(actual)))
        return out

    @staticmethod
    def _diff_attr_lists(e, a):
        en = [x.get("name") if isinstance(x, dict) else x for x in e]
        an = [x.get("name") if isinstance(x, dict) else x for x in a]
        if en != an:
            for i in range(max(len(en), len(an))):
                if i >= len(en) or i >= len(an) or en[i] != an[i]:
                    return ("names/order differ at #%d: expected %s, got %s (expected %d entries, got %d)"
                            % (i, short(en[i:i + 4], 100), short(an[i:i + 4], 100), len(en), len(an)))
        for x, y in zip(e, a):
            if x != y:
                return "entry %s: expected %s, got %s" % (short(x.get("name"), 60), short(x, 120), short(y, 120))
        return "differ"

    def judge(self, what, requests, requests_bucket, store, store_name, run, prefix="", dead_prefix=DEAD_PREFIX,
              dead_bucket=None, oracle=None):
        """Every check of one widgetd --once run over `requests` ({key: bytes}) against the oracle:
        exit code, store content, intake (keys under prefix) drained, dead letters (in dead_bucket, default
        the requests bucket, under dead_prefix), log. Returns True when all passed."""
        dead_bucket = dead_bucket or requests_bucket
        expected, dead, warnings = oracle or self.oracle(requests, store)
        results = []
        ck = lambda ok, msg, detail="": results.append(self.check(ok, "%s: %s" % (what, msg), detail))
        log_hint = "  widgetd log (%s), last lines:\n%s" % (run.log_path, run.tail())

        ck(not run.timed_out and run.rc == 0, "widgetd --once exits 0",
           "  %s\n%s" % ("timed out after %.0fs" % run.elapsed if run.timed_out else "exit %s" % run.rc, log_hint))

        actual = self.read_store(store, store_name)
        d = self.diff_widgets(expected, actual)
        ck(not d, "%s store equals the oracle's (%d widgets)" % (store, len(expected)),
           "\n".join("  " + line for line in d) + "\n" + log_hint)

        left = [k for k in self.list_keys(requests_bucket, prefix)
                if not (dead_bucket == requests_bucket and k.startswith(dead_prefix))]
        ck(not left, "requests bucket drained%s" % (" (only %s left)" % dead_prefix if dead_bucket == requests_bucket
                                                    else ""),
           "  %d requests left, e.g. %s" % (len(left), short(left[:5], 300)))

        letters = self.read_dead_letters(dead_bucket, dead_prefix)
        want = {k for k, _ in dead}
        problems = []
        for k in sorted(want - set(letters))[:MAX_SHOWN]:
            problems.append("not dead-lettered: %s (oracle: %s)" % (short(k, 100), dict(dead)[k]))
        for k in sorted(set(letters) - want)[:MAX_SHOWN]:
            problems.append("dead-lettered but valid: %s (reason %s)" % (short(k, 100), short(letters[k][0], 200)))
        for k in sorted(want & set(letters)):
            reason, body = letters[k]
            if not reason:
                problems.append("%s%s has no widgetd-error metadata" % (dead_prefix, short(k, 100)))
            elif not all(0x20 <= ord(c) < 0x7f for c in reason) or len(reason.encode()) > 1024:
                problems.append("%s%s: reason is not printable ASCII of at most 1 KiB: %s"
                                % (dead_prefix, short(k, 100), short(reason)))
            if k in requests and body != requests[k]:
                problems.append("%s%s: body differs from the request (%d bytes, want %d)"
                                % (dead_prefix, short(k, 100), len(body), len(requests[k])))
        ck(not problems, "dead letters in s3://%s/%s are exactly the oracle's %d, each with a reason"
           % ("<requests>" if dead_bucket == requests_bucket else dead_bucket, dead_prefix, len(want)),
           "\n".join("  " + p for p in problems[:MAX_SHOWN * 2]))

        self._judge_log(ck, run, requests, dead, warnings, dead_prefix)
        return all(results)

    def _judge_log(self, ck, run, requests, dead, warnings, dead_prefix):
        lines = run.lines
        bad = [line for line in lines if not PRIORITY_RE.match(line)]
        ck(not bad, "every log line starts with <N>",
           "  %d lines without a prefix, e.g.\n%s" % (len(bad), "\n".join("    | " + short(line, 300)[1:-1] for line in bad[:5])))

        san = [line for line in lines if any(p in line for p in SANITIZER_PATTERNS)]
        ck(not san, "no sanitizer report", "  %s\n  log: %s" % ("\n  ".join(san[:5]), run.log_path))

        dead_keys = {k for k, _ in dead}
        not_found = {k for k, w in warnings if w.endswith("widget not found")}
        applied = [k for k in requests if k not in dead_keys and k not in not_found]
        info = [line for line in lines if INFO_RE.match(line)]
        problems = []
        if len(info) != len(applied):
            problems.append("%d info lines (created/updated/deleted widget), want one per applied request: %d"
                            % (len(info), len(applied)))
        # Which applied requests have no info line naming their key?
        by_key = {}
        for line in info:
            i = line.rfind("key ")
            if i >= 0:
                k = line[i + 4:].rstrip()
                k = k[:-1] if k.endswith(")") else k
                if len(k) >= 2 and k[0] == k[-1] and k[0] in "'\"":
                    k = k[1:-1]
                by_key[k] = by_key.get(k, 0) + 1
        unnamed = []
        for k in applied:
            if by_key.get(k):
                continue
            anchor = ascii_anchor(k)
            if anchor is None:
                continue
            if not any(anchor in line for line in info):
                unnamed.append(k)
        if unnamed:
            problems.append("%d applied requests have no info line naming their key, e.g. %s"
                            % (len(unnamed), short(unnamed[:5], 300)))
        twice = [k for k, n in by_key.items() if n > 1]
        if twice:
            problems.append("keys with more than one info line: %s" % short(twice[:5], 300))
        applied_set = set(applied)
        stray = [k for k in by_key if k not in applied_set and k in requests]
        if stray:
            problems.append("info lines for requests that must not be applied (dead-lettered or not found): %s"
                            % short(stray[:5], 300))
        ck(not problems, "one info line per applied request (%d)" % len(applied),
           "\n".join("  " + p for p in problems) + "\n  log: %s" % run.log_path)

        warn_lines = [line for line in lines if line.startswith("<4>")]
        problems = []
        want_keys = sorted({k for k, _ in warnings})
        for k in want_keys:
            anchor = ascii_anchor(k)
            if anchor is not None and not any(anchor in line for line in warn_lines):
                why = "; ".join(w for kk, w in warnings if kk == k)
                problems.append("no <4> line names %s (oracle: %s)" % (short(k, 100), why))
        if len(warn_lines) < len(want_keys):
            problems.append("%d <4> lines for %d requests with warnings" % (len(warn_lines), len(want_keys)))
        ck(not problems, "a warning line for each of the oracle's %d warned requests" % len(want_keys),
           "\n".join("  " + p for p in problems[:MAX_SHOWN]) + "\n  log: %s" % run.log_path)

        err_lines = [line for line in lines if line.startswith("<3>")]
        problems = []
        for k, why in dead:
            anchor = ascii_anchor(k)
            if anchor is not None and not any(anchor in line and dead_prefix.rstrip("/") in line for line in err_lines):
                problems.append("no <3> line names %s and %s (oracle: %s)" % (short(k, 100), dead_prefix, why))
        ck(not problems, "an error line for each of the %d dead-lettered requests" % len(dead),
           "\n".join("  " + p for p in problems[:MAX_SHOWN]) + "\n  log: %s" % run.log_path)

    # ----- one whole scenario -----

    def drain_and_judge(self, what, store, requests, args_fn=None, timeout=None, tag=None, env=None):
        """Creates a requests bucket and a store, loads requests, runs widgetd --once with the old flags
        (or args_fn(requests_bucket, store_name)) in env (default widgetd_env()), judges. Returns the
        WidgetdRun."""
        tag = tag or what
        bucket = self.create_bucket(tag + "-req")
        store_name = self.create_store(store, tag)
        t0 = time.monotonic()
        self.load(bucket, requests)
        print("# loaded %d requests into %s in %.2fs" % (len(requests), bucket, time.monotonic() - t0), flush=True)
        args = args_fn(bucket, store_name) if args_fn else self.old_flags(bucket, store, store_name) + ["--once"]
        run = self.run_widgetd(args, name=tag, timeout=timeout, env=env)
        print("# widgetd %s: exit %s in %.2fs" % (" ".join(args), run.rc, run.elapsed), flush=True)
        self.judge(what, requests, bucket, store, store_name, run)
        return run


def read_corpus(folder):
    """{key: raw bytes} of a corpus folder (each file's path relative to it is its key)."""
    out = {}
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in files:
            path = os.path.join(root, name)
            key = os.path.relpath(path, folder).replace(os.sep, "/")
            with open(path, "rb") as f:
                out[key] = f.read()
    return out


def read_key_rows(path, keys):
    """The oracle's "<key>\t<why>\n" rows of path as [(key, why)]. A key may itself hold TAB, LF or CR, so
    each row's key is the longest of `keys` that the row starts with, followed by a TAB (the reasons are the
    oracle's own one-line messages); the file is read without newline translation, which would turn a CR
    in a key into LF."""
    with open(path, encoding="utf-8", newline="") as f:
        text = f.read()
    by_first = {}
    for k in keys:
        by_first.setdefault(k[:1], []).append(k)
    for ks in by_first.values():
        ks.sort(key=len, reverse=True)
    out, i = [], 0
    while i < len(text):
        key = next((k for k in by_first.get(text[i:i + 1], []) if text.startswith(k + "\t", i)), None)
        if key is None:
            raise HarnessError("oracle output %s: no request key starts the row at %s" % (path, short(text[i:i + 80])))
        i += len(key) + 1
        end = text.find("\n", i)
        end = len(text) if end < 0 else end
        out.append((key, text[i:end]))
        i = end + 1
    return out


def run_oracle(oracle_path, requests, store, workdir=None, keep=False):
    """Runs the oracle on requests ({key: raw bytes}). Returns (expected store dict, [(key, reason)] dead
    letters, [(key, warning)] warnings); the expected store is keyed like Harness.read_store's (S3 key or
    DynamoDB id). Bodies that are not UTF-8 go through --jsonl with surrogate escapes: the oracle sees
    invalid UTF-8 either way (the bytes differ, the verdict does not)."""
    d = tempfile.mkdtemp(prefix="oracle-", dir=workdir)
    jsonl, dead_f, warn_f = (os.path.join(d, n) for n in ("requests.jsonl", "dead-letter.tsv", "warnings.tsv"))
    with open(jsonl, "w", encoding="utf-8") as f:
        for key, body in requests.items():
            f.write(json.dumps({"key": key, "body": body.decode("utf-8", "surrogateescape")}) + "\n")
    r = subprocess.run([sys.executable, oracle_path, "--jsonl", jsonl, "--store", store,
                        "--dead-letter", dead_f, "--warnings", warn_f],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=600,
                       env=dict(os.environ, PYTHONIOENCODING="utf-8"))
    if r.returncode != 0:
        raise HarnessError("oracle failed (exit %d): %s" % (r.returncode, r.stderr.decode("utf-8", "replace")[-2000:]))
    expected = {}
    for line in r.stdout.decode("utf-8").split("\n"):   # not splitlines(): U+2028 and U+0085 are data
        if not line.strip():
            continue
        rec = json.loads(line)
        if store == "s3":
            expected[rec["key"]] = rec["widget"]
        else:
            expected[rec["item"]["id"]] = rec["item"]
    rows = [read_key_rows(path, requests) for path in (dead_f, warn_f)]
    if not keep:
        shutil.rmtree(d, ignore_errors=True)
    return expected, rows[0], rows[1]
