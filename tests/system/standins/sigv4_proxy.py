#!/usr/bin/env python3
"""sigv4_proxy.py: a loopback proxy in front of DynamoDB Local that verifies every SigV4 signature.

DynamoDB Local accepts any well-formed Authorization header, so on its own it proves nothing about a
client's request signing. This proxy re-computes each request's signature with botocore's own SigV4
implementation (an implementation independent of widgetd's C code), using the request's X-Amz-Date,
the region from its credential scope and exactly the headers it lists in SignedHeaders, and compares.

  match     -> the request is forwarded to DynamoDB Local (one persistent upstream connection per
               client connection) and the status, headers and body are relayed back.
  mismatch  -> 400 {"__type":"com.amazon.coral.service#InvalidSignatureException","message":...}
               and a line (with the canonical request it expected) in DIR/proxy-rejections.log.
  no header -> 400 MissingAuthenticationTokenException (what DynamoDB answers);
  bad key   -> 400 UnrecognizedClientException (what DynamoDB answers for an unknown access key);
  stale     -> 400 InvalidSignatureException "Signature expired" when X-Amz-Date is off by > --max-skew.
  no upstream -> 503 ServiceUnavailableException (DynamoDB Local not reachable).

It also checks that an x-amz-content-sha256 header, when sent, is the SHA-256 of the body (botocore
would otherwise trust the header), and that host and x-amz-date are among the signed headers.

Counters: requests by X-Amz-Target, by status, and rejections, are kept in DIR/proxy-counts.json
(rewritten at most every 0.2 s while requests arrive, and at exit). Control endpoints (GET only,
never forwarded, no signature needed):
  GET /__proxy/counts  -> the counters as JSON (and flushes the file)
  GET /__proxy/reset   -> zeroes the counters (returns the counters before the reset)
  GET /__proxy/health  -> {"ok": true}
  GET /__proxy/listen?delay_ms=D -> {"port": P}: a further listener on the same host whose requests are
                          passed on D ms after they were read and whose answers are sent D ms after they
                          came (a new connection's first request a round trip later still, its TCP
                          handshake), counted with the rest: scripts/bench's latency mode, without a delay
                          proxy's further loopback hop. Repeated for the same D, the same listener.

Usage:
  sigv4_proxy.py --port N --upstream-port M --dir DIR [--host 127.0.0.1] [--upstream-host 127.0.0.1]
                 [--access-key S3RVER] [--secret-key S3RVER] [--max-skew 900] [--verbose]
Python standard library + botocore only. HTTP/1.1 with keep-alive towards the client.
"""

import argparse
import datetime
import hashlib
import http.client
import json
import os
import re
import signal
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials

AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256\s+"
    r"Credential=(?P<cred>[^,\s]+)\s*,\s*"
    r"SignedHeaders=(?P<signed>[^,\s]+)\s*,\s*"
    r"Signature=(?P<sig>[0-9a-f]{64})\s*$"
)
AMZ_DATE_RE = re.compile(r"^\d{8}T\d{6}Z$")
HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
    "transfer-encoding", "upgrade", "expect", "proxy-connection",
}
SIG_MISMATCH_MSG = (
    "The request signature we calculated does not match the signature you provided. Check your AWS "
    "Secret Access Key and signing method. Consult the service documentation for details."
)


class ExactHeadersSigV4(SigV4Auth):
    """botocore's SigV4 computation, signing exactly the headers the client says it signed.

    Stock SigV4Auth signs every header of the request except a fixed deny-list (user-agent, expect,
    ...). A verifier must instead use the client's SignedHeaders list, as AWS does. Everything else
    (canonical request, header value trimming, string to sign, key derivation) is botocore's.
    """

    def __init__(self, credentials, service_name, region_name, signed_names):
        super().__init__(credentials, service_name, region_name)
        self._signed_names = signed_names

    def headers_to_sign(self, request):
        header_map = HTTPHeaders()
        for name in self._signed_names:
            for value in request.headers.get_all(name) or []:
                header_map[name] = value
        return header_map


class Rejection(Exception):
    def __init__(self, error_type, message, detail=""):
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.detail = detail


class Counters:
    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.dirty = threading.Event()
        self._zero()

    def _zero(self):
        self.data = {"total": 0, "forwarded": 0, "rejected": 0, "upstream_errors": 0,
                     "by_target": {}, "by_status": {}, "rejected_by_target": {}}

    def count(self, target, status, rejected=False, upstream_error=False):
        with self.lock:
            d = self.data
            d["total"] += 1
            d["by_target"][target] = d["by_target"].get(target, 0) + 1
            d["by_status"][str(status)] = d["by_status"].get(str(status), 0) + 1
            if rejected:
                d["rejected"] += 1
                d["rejected_by_target"][target] = d["rejected_by_target"].get(target, 0) + 1
            elif upstream_error:
                d["upstream_errors"] += 1
            else:
                d["forwarded"] += 1
        self.dirty.set()

    def snapshot(self):
        with self.lock:
            return json.loads(json.dumps(self.data))

    def reset(self):
        with self.lock:
            old = json.loads(json.dumps(self.data))
            self._zero()
        self.flush()
        return old

    def flush(self):
        snap = self.snapshot()
        snap["updated"] = time.time()
        tmp = f"{self.path}.{os.getpid()}.{threading.get_ident()}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(snap, f, indent=1, sort_keys=True)
            f.write("\n")
        os.replace(tmp, self.path)
        return snap

    def flusher(self):
        while True:
            self.dirty.wait()
            time.sleep(0.2)
            self.dirty.clear()
            try:
                self.flush()
            except OSError as e:
                print(f"sigv4_proxy: cannot write {self.path}: {e}", file=sys.stderr, flush=True)


class Config:
    access_key = "S3RVER"
    secret_key = "S3RVER"
    upstream = ("127.0.0.1", 8000)
    max_skew = 900
    verbose = False
    counters = None
    rejections_path = None
    rejections_lock = threading.Lock()
    host = "127.0.0.1"
    delayed = {}  # delay (s) -> port of its listener
    delayed_lock = threading.Lock()


def verify(method, path, headers, body):
    """Raise Rejection unless the request carries a valid SigV4 signature for Config's credentials."""
    auth = headers.get("Authorization")
    if auth is None:
        raise Rejection("com.amazon.coral.service#MissingAuthenticationTokenException",
                        "Request is missing Authentication Token")
    m = AUTH_RE.match(auth.strip())
    if not m:
        raise Rejection("com.amazon.coral.service#InvalidSignatureException",
                        "Authorization header is not a well-formed AWS4-HMAC-SHA256 header.",
                        f"header={auth!r}")
    cred = m.group("cred").split("/")
    if len(cred) != 5 or cred[4] != "aws4_request":
        raise Rejection("com.amazon.coral.service#InvalidSignatureException",
                        "Credential should be scoped to a valid region, service and aws4_request.",
                        f"credential={m.group('cred')!r}")
    key_id, scope_date, region, service, _ = cred
    if key_id != Config.access_key:
        raise Rejection("com.amazon.coral.service#UnrecognizedClientException",
                        "The security token included in the request is invalid.",
                        f"access key {key_id!r}")
    if service != "dynamodb":
        raise Rejection("com.amazon.coral.service#InvalidSignatureException",
                        f"Credential should be scoped to correct service: 'dynamodb'.",
                        f"service={service!r}")
    signed_names = m.group("signed").split(";")
    if signed_names != sorted(signed_names) or any(n != n.lower() or not n for n in signed_names):
        raise Rejection("com.amazon.coral.service#InvalidSignatureException", SIG_MISMATCH_MSG,
                        f"SignedHeaders not lowercase and sorted: {m.group('signed')!r}")
    for required in ("host", "x-amz-date"):
        if required not in signed_names:
            raise Rejection("com.amazon.coral.service#InvalidSignatureException",
                            f"'{required.title()}' must be a signed header.",
                            f"SignedHeaders={m.group('signed')!r}")
    for name in signed_names:
        if headers.get(name) is None:
            raise Rejection("com.amazon.coral.service#InvalidSignatureException", SIG_MISMATCH_MSG,
                            f"signed header {name!r} is not in the request")
    amz_date = headers.get("X-Amz-Date", "").strip()
    if not AMZ_DATE_RE.match(amz_date):
        raise Rejection("com.amazon.coral.service#InvalidSignatureException",
                        "X-Amz-Date must be in the ISO8601 basic format YYYYMMDD'T'HHMMSS'Z'.",
                        f"x-amz-date={amz_date!r}")
    if scope_date != amz_date[:8]:
        raise Rejection("com.amazon.coral.service#InvalidSignatureException",
                        f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of "
                        f"date from HTTP: '{scope_date}' != '{amz_date[:8]}'")
    if Config.max_skew > 0:
        when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(
            tzinfo=datetime.timezone.utc)
        now = datetime.datetime.now(datetime.timezone.utc)
        if abs((now - when).total_seconds()) > Config.max_skew:
            raise Rejection("com.amazon.coral.service#InvalidSignatureException",
                            f"Signature expired: {amz_date} is now earlier/later than "
                            f"{now.strftime('%Y%m%dT%H%M%SZ')} +/- {Config.max_skew} s.")
    content_sha = headers.get("X-Amz-Content-SHA256")
    if content_sha is not None and content_sha.strip() != hashlib.sha256(body).hexdigest():
        raise Rejection("com.amazon.coral.service#InvalidSignatureException",
                        "The provided 'x-amz-content-sha256' header does not match what was computed.",
                        f"header={content_sha!r} body sha256={hashlib.sha256(body).hexdigest()}")

    # Re-compute with botocore, from the request exactly as received.
    req = AWSRequest(method=method, url=f"http://{headers.get('Host', '')}{path}", data=body)
    req.headers = HTTPHeaders()
    for name, value in headers.items():
        req.headers[name] = value
    req.context["timestamp"] = amz_date
    signer = ExactHeadersSigV4(Credentials(Config.access_key, Config.secret_key), "dynamodb", region,
                               signed_names)
    canonical = signer.canonical_request(req)
    string_to_sign = signer.string_to_sign(req, canonical)
    expected = signer.signature(string_to_sign, req)
    if expected != m.group("sig"):
        raise Rejection("com.amazon.coral.service#InvalidSignatureException", SIG_MISMATCH_MSG,
                        f"got {m.group('sig')} expected {expected}; canonical request "
                        f"{json.dumps(canonical)}; string to sign {json.dumps(string_to_sign)}")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "sigv4-proxy"
    sys_version = ""
    delay = 0.0  # seconds each way (a delayed listener's handlers)

    def setup(self):
        super().setup()
        # a new connection costs a round trip (SYN, SYN-ACK) before its first request can leave
        self._first_at = time.monotonic() + 2 * self.delay

    def _wait_delay(self):
        """Holds a request that was just read for the delay (a new connection's first, a round trip more)."""
        if self.delay:
            now = time.monotonic()
            time.sleep(max(now, self._first_at) + self.delay - now)

    def log_message(self, fmt, *args):  # noqa: N802 (BaseHTTPRequestHandler API)
        if Config.verbose:
            sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))

    def _read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, status, body, headers=(), relayed=False):
        if self.delay:
            time.sleep(self.delay)
        if relayed:  # DynamoDB Local's own Date/Server headers are relayed as they are
            self.log_request(status)
            self.send_response_only(status)
        else:
            self.send_response(status)
        sent = set()
        for name, value in headers:
            self.send_header(name, value)
            sent.add(name.lower())
        if "content-length" not in sent:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json_error(self, status, error_type, message):
        body = json.dumps({"__type": error_type, "message": message}).encode()
        self._send(status, body, [("Content-Type", "application/x-amz-json-1.0"),
                                  ("x-amzn-RequestId", uuid.uuid4().hex.upper())])

    def _control(self):
        counters = Config.counters
        if self.path == "/__proxy/counts":
            data = counters.flush()
        elif self.path == "/__proxy/reset":
            data = counters.reset()
        elif self.path == "/__proxy/health":
            data = {"ok": True}
        elif self.path.startswith("/__proxy/listen?delay_ms="):
            data = {"port": listen_delayed(float(self.path.split("=", 1)[1]) / 1000.0)}
        else:
            return False
        self._send(200, (json.dumps(data, sort_keys=True) + "\n").encode(),
                   [("Content-Type", "application/json")])
        return True

    def _upstream(self, fresh=False):
        conn = getattr(self, "_upconn", None)
        if conn is None or fresh:
            if conn is not None:
                conn.close()
            conn = http.client.HTTPConnection(*Config.upstream, timeout=120)
            self._upconn = conn
            self._upconn_used = False
        return conn

    def _forward(self, body):
        headers = {}
        for name, value in self.headers.items():
            if name.lower() in HOP_BY_HOP or name.lower() == "content-length":
                continue
            headers[name] = value if name not in headers else headers[name] + ", " + value
        headers["Content-Length"] = str(len(body))
        for attempt in (0, 1):
            conn = self._upstream(fresh=attempt > 0)
            reused = self._upconn_used
            try:
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self._upconn_used = True
                return resp.status, resp.getheaders(), data
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError,
                    http.client.CannotSendRequest):
                # A kept-alive upstream connection that DynamoDB Local closed while idle: retry once
                # on a new connection. A fresh connection failing is an upstream error.
                conn.close()
                self._upconn = None
                if not reused or attempt:
                    raise
        raise AssertionError("unreachable")

    def _handle(self):
        if self.command == "GET" and self.path.startswith("/__proxy/") and self._control():
            return
        body = self._read_body()
        self._wait_delay()
        target = self.headers.get("X-Amz-Target") or "(none)"
        try:
            verify(self.command, self.path, self.headers, body)
        except Rejection as r:
            Config.counters.count(target, 400, rejected=True)
            line = (f"{datetime.datetime.now(datetime.timezone.utc).isoformat()} "
                    f"{self.client_address[0]}:{self.client_address[1]} {self.command} {self.path} "
                    f"target={target} {r.error_type.split('#')[-1]}: {r.message} {r.detail}\n")
            with Config.rejections_lock:
                with open(Config.rejections_path, "a", encoding="utf-8") as f:
                    f.write(line)
            if Config.verbose:
                sys.stderr.write(line)
            self._send_json_error(400, r.error_type, r.message)
            return
        try:
            status, headers, data = self._forward(body)
        except (OSError, http.client.HTTPException) as e:
            Config.counters.count(target, 503, upstream_error=True)
            print(f"sigv4_proxy: upstream {Config.upstream[0]}:{Config.upstream[1]} failed: {e!r}",
                  file=sys.stderr, flush=True)
            self._upconn = None
            self._send_json_error(503, "com.amazonaws.dynamodb.v20120810#ServiceUnavailableException",
                                  f"DynamoDB Local is unavailable ({e.__class__.__name__})")
            return
        Config.counters.count(target, status)
        relay = [(n, v) for n, v in headers if n.lower() not in HOP_BY_HOP
                 and n.lower() != "content-length"]
        relay.append(("Content-Length", str(len(data))))
        self._send(status, data, relay, relayed=True)

    do_POST = do_GET = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _handle

    def finish(self):
        conn = getattr(self, "_upconn", None)
        if conn is not None:
            conn.close()
        super().finish()


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256


def listen_delayed(delay):
    """The port of a listener whose messages each take `delay` seconds more each way (started on first use)."""
    with Config.delayed_lock:
        if delay not in Config.delayed:
            # hundreds of connections open at once as widgetd's limit doubles: a short accept queue would
            # drop SYNs, each then retried a second later
            server = type("DelayedServer", (Server,), {"request_queue_size": 4096})(
                (Config.host, 0), type("DelayedHandler", (Handler,), {"delay": delay}))
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.5}, daemon=True).start()
            Config.delayed[delay] = server.server_address[1]
        return Config.delayed[delay]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--upstream-host", default="127.0.0.1")
    ap.add_argument("--upstream-port", type=int, required=True)
    ap.add_argument("--dir", required=True, help="where proxy-counts.json and proxy-rejections.log go")
    ap.add_argument("--access-key", default=os.environ.get("WD_PROXY_ACCESS_KEY", "S3RVER"))
    ap.add_argument("--secret-key", default=os.environ.get("WD_PROXY_SECRET_KEY", "S3RVER"))
    ap.add_argument("--max-skew", type=int, default=900,
                    help="reject an X-Amz-Date further than this many seconds from now (0: off)")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()

    os.makedirs(a.dir, exist_ok=True)
    Config.access_key, Config.secret_key = a.access_key, a.secret_key
    Config.upstream = (a.upstream_host, a.upstream_port)
    Config.max_skew, Config.verbose = a.max_skew, a.verbose
    Config.host = a.host
    Config.counters = Counters(os.path.join(a.dir, "proxy-counts.json"))
    Config.rejections_path = os.path.join(a.dir, "proxy-rejections.log")
    open(Config.rejections_path, "a").close()
    Config.counters.flush()

    try:
        server = Server((a.host, a.port), Handler)
    except OSError as e:
        print(f"sigv4_proxy: cannot listen on {a.host}:{a.port}: {e}", file=sys.stderr)
        return 1
    threading.Thread(target=Config.counters.flusher, daemon=True).start()

    def stop(signum, frame):
        try:
            Config.counters.flush()
        finally:
            os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"sigv4_proxy listening on {a.host}:{server.server_address[1]} -> "
          f"{a.upstream_host}:{a.upstream_port}", flush=True)
    server.serve_forever(poll_interval=0.5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
