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

One thread, one asyncio event loop: a connection costs two sockets and a coroutine's state, not a thread.
The thread-per-connection version it replaces spent 0.82 ms of CPU a request in plain mode and 1.41 ms
with 512 connections at +100 ms each way, handing the interpreter lock between threads, on the same two
cores as DynamoDB Local and widgetd: scripts/bench measured that cost as widgetd's.

Usage:
  sigv4_proxy.py --port N --upstream-port M --dir DIR [--host 127.0.0.1] [--upstream-host 127.0.0.1]
                 [--access-key S3RVER] [--secret-key S3RVER] [--max-skew 900] [--verbose]
Python standard library + botocore only. HTTP/1.1 with keep-alive both ways.
"""

import argparse
import asyncio
import datetime
import email.utils
import hashlib
import json
import os
import re
import resource
import signal
import socket
import sys
import time
import uuid
from http import HTTPStatus

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
    """Updated and read by the one event loop thread: no lock."""

    def __init__(self, path):
        self.path = path
        self.dirty = asyncio.Event()
        self._zero()

    def _zero(self):
        self.data = {"total": 0, "forwarded": 0, "rejected": 0, "upstream_errors": 0,
                     "by_target": {}, "by_status": {}, "rejected_by_target": {}}

    def count(self, target, status, rejected=False, upstream_error=False):
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
        return json.loads(json.dumps(self.data))

    def reset(self):
        old = self.snapshot()
        self._zero()
        self.flush()
        return old

    def flush(self):
        snap = self.snapshot()
        snap["updated"] = time.time()
        tmp = f"{self.path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(snap, f, indent=1, sort_keys=True)
            f.write("\n")
        os.replace(tmp, self.path)
        return snap

    async def flusher(self):
        while True:
            await self.dirty.wait()
            await asyncio.sleep(0.2)
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
    counters_path = None
    rejections_path = None
    host = "127.0.0.1"
    delayed = {}  # delay (s) -> the task that starts (and then holds) its listener


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


class Headers:
    """A request's header fields in the order received: get() is case-insensitive and gives the first."""

    def __init__(self, pairs):
        self._pairs = pairs

    def get(self, name, default=None):
        name = name.lower()
        for n, v in self._pairs:
            if n.lower() == name:
                return v
        return default

    def items(self):
        return list(self._pairs)


class BadRequest(Exception):
    pass


class Closed(Exception):
    pass


MAX_BODY = 64 << 20  # a stand-in's bound: a request or answer larger than this is refused, not buffered
UPSTREAM_TIMEOUT_S = 120.0


async def read_head(reader):
    """(start line, [(name, value)]) of one HTTP message head; Closed at a clean EOF between messages."""
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as e:
        if not e.partial.strip():
            raise Closed() from None
        raise BadRequest("the message head ends early") from None
    except asyncio.LimitOverrunError:
        raise BadRequest("the message head is longer than 64 KiB") from None
    lines = raw.lstrip(b"\r\n").decode("iso-8859-1").split("\r\n")
    fields = []
    for line in lines[1:]:
        if not line:
            continue
        if line[0] in " \t" or ":" not in line:
            raise BadRequest(f"malformed header line {line[:80]!r}")
        name, value = line.split(":", 1)
        fields.append((name.strip(), value.lstrip(" \t")))
    return lines[0], fields


async def read_body(reader, headers):
    if "chunked" in (headers.get("Transfer-Encoding") or "").lower():
        chunks, total = [], 0
        while True:
            line = await reader.readuntil(b"\r\n")
            try:
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            except ValueError:
                raise BadRequest(f"bad chunk size {line[:40]!r}") from None
            if size == 0:
                while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers up to the empty line
                    pass
                return b"".join(chunks)
            total += size
            if size < 0 or total > MAX_BODY:
                raise BadRequest("chunked body larger than the proxy's bound")
            chunks.append(await reader.readexactly(size))
            await reader.readuntil(b"\r\n")
    length = headers.get("Content-Length")
    if length is None:
        return b""
    try:
        n = int(length)
    except ValueError:
        raise BadRequest(f"bad Content-Length {length[:40]!r}") from None
    if n < 0 or n > MAX_BODY:
        raise BadRequest(f"Content-Length {n} out of the proxy's bounds")
    return await reader.readexactly(n) if n else b""


def nodelay(writer):
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class Upstream:
    """One persistent connection to DynamoDB Local per client connection, opened on first use."""

    def __init__(self):
        self.reader = self.writer = None
        self.used = False

    def close(self):
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def _once(self, method, target, headers, body):
        if self.writer is None or self.reader.at_eof():
            self.close()
            self.reader, self.writer = await asyncio.open_connection(*Config.upstream, limit=65537)
            nodelay(self.writer)
            self.used = False
        head = [f"{method} {target} HTTP/1.1"] + [f"{n}: {v}" for n, v in headers] + ["", ""]
        self.writer.write("\r\n".join(head).encode("iso-8859-1") + body)
        await self.writer.drain()
        while True:  # the answer, past any 1xx DynamoDB Local sends on its own
            try:
                line, fields = await read_head(self.reader)
            except Closed:
                raise ConnectionResetError("DynamoDB Local closed the connection before answering") from None
            parts = line.split(" ", 2)
            if len(parts) < 2 or not parts[1].isdigit():
                raise BadUpstream(f"bad status line {line[:80]!r}")
            status = int(parts[1])
            if not 100 <= status < 200:
                break
        rh = Headers(fields)
        if method == "HEAD" or status in (204, 304):
            data = b""
        elif rh.get("Content-Length") is None and "chunked" not in (rh.get("Transfer-Encoding") or "").lower():
            data = await self.reader.read(MAX_BODY)  # to the end of the connection
            self.close()
        else:
            data = await read_body(self.reader, rh)
        if "close" in (rh.get("Connection") or "").lower():
            self.close()
        self.used = True
        return status, fields, data

    async def forward(self, method, target, headers, body):
        for attempt in (0, 1):
            reused = self.writer is not None and self.used
            try:
                async with asyncio.timeout(UPSTREAM_TIMEOUT_S):
                    return await self._once(method, target, headers, body)
            except (ConnectionResetError, BrokenPipeError):
                # A kept-alive upstream connection that DynamoDB Local closed while idle: retry once
                # on a new connection. A fresh connection failing is an upstream error.
                self.close()
                if not reused or attempt:
                    raise
            except BaseException:
                self.close()
                raise
        raise AssertionError("unreachable")


class BadUpstream(Exception):
    pass


class Connection:
    """One client connection: its requests one after another (keep-alive), each answered before the next is
    read; with a delay (seconds, a delayed listener), each message is passed on that long after it was read."""

    def __init__(self, reader, writer, delay):
        self.reader, self.writer, self.delay = reader, writer, delay
        self.peer = writer.get_extra_info("peername") or ("?", 0)
        self.upstream = Upstream()
        loop = asyncio.get_running_loop()
        # a new connection costs a round trip (SYN, SYN-ACK) before its first request can leave
        self.first_at = loop.time() + 2 * delay
        self.method = "GET"

    async def _send(self, status, body, headers=(), relayed=False):
        if self.delay:
            await asyncio.sleep(self.delay)
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = ""
        out = [f"HTTP/1.1 {status} {reason}"]
        if not relayed:  # DynamoDB Local's own Date/Server headers are relayed as they are
            out += [f"Server: {SERVER_NAME}", f"Date: {email.utils.formatdate(usegmt=True)}"]
        sent = set()
        for name, value in headers:
            out.append(f"{name}: {value}")
            sent.add(name.lower())
        if "content-length" not in sent:
            out.append(f"Content-Length: {len(body)}")
        out += ["", ""]
        self.writer.write("\r\n".join(out).encode("iso-8859-1") + (b"" if self.method == "HEAD" else body))
        await self.writer.drain()
        if Config.verbose:
            sys.stderr.write(f"{self.peer[0]}:{self.peer[1]} {self.method} {status}\n")

    async def _send_json_error(self, status, error_type, message):
        body = json.dumps({"__type": error_type, "message": message}).encode()
        await self._send(status, body, [("Content-Type", "application/x-amz-json-1.0"),
                                        ("x-amzn-RequestId", uuid.uuid4().hex.upper())])

    async def _control(self, path):
        counters = Config.counters
        if path == "/__proxy/counts":
            data = counters.flush()
        elif path == "/__proxy/reset":
            data = counters.reset()
        elif path == "/__proxy/health":
            data = {"ok": True}
        elif path.startswith("/__proxy/listen?delay_ms="):
            data = {"port": await listen_delayed(float(path.split("=", 1)[1]) / 1000.0)}
        else:
            return False
        await self._send(200, (json.dumps(data, sort_keys=True) + "\n").encode(),
                         [("Content-Type", "application/json")])
        return True

    async def _one(self, method, path, headers):
        if method == "GET" and path.startswith("/__proxy/") and await self._control(path):
            return
        if (headers.get("Expect") or "").lower() == "100-continue":
            self.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = await read_body(self.reader, headers)
        if self.delay:
            loop = asyncio.get_running_loop()
            await asyncio.sleep(max(loop.time(), self.first_at) + self.delay - loop.time())
        target = headers.get("X-Amz-Target") or "(none)"
        try:
            verify(method, path, headers, body)
        except Rejection as r:
            Config.counters.count(target, 400, rejected=True)
            line = (f"{datetime.datetime.now(datetime.timezone.utc).isoformat()} "
                    f"{self.peer[0]}:{self.peer[1]} {method} {path} "
                    f"target={target} {r.error_type.split('#')[-1]}: {r.message} {r.detail}\n")
            with open(Config.rejections_path, "a", encoding="utf-8") as f:
                f.write(line)
            if Config.verbose:
                sys.stderr.write(line)
            await self._send_json_error(400, r.error_type, r.message)
            return
        forward = []
        for name, value in headers.items():
            if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                forward.append((name, value))
        forward.append(("Content-Length", str(len(body))))
        try:
            status, fields, data = await self.upstream.forward(method, path, forward, body)
        except (OSError, TimeoutError, BadUpstream, BadRequest, asyncio.IncompleteReadError,
                asyncio.LimitOverrunError) as e:
            Config.counters.count(target, 503, upstream_error=True)
            print(f"sigv4_proxy: upstream {Config.upstream[0]}:{Config.upstream[1]} failed: {e!r}",
                  file=sys.stderr, flush=True)
            await self._send_json_error(503, "com.amazonaws.dynamodb.v20120810#ServiceUnavailableException",
                                        f"DynamoDB Local is unavailable ({e.__class__.__name__})")
            return
        Config.counters.count(target, status)
        relay = [(n, v) for n, v in fields if n.lower() not in HOP_BY_HOP and n.lower() != "content-length"]
        relay.append(("Content-Length", str(len(data))))
        await self._send(status, data, relay, relayed=True)

    async def run(self):
        nodelay(self.writer)
        try:
            while True:
                try:
                    line, fields = await read_head(self.reader)
                    parts = line.split(" ")
                    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
                        raise BadRequest(f"bad request line {line[:80]!r}")
                    self.method, path, version = parts
                    headers = Headers(fields)
                    await self._one(self.method, path, headers)
                except BadRequest as e:
                    await self._send(400, (str(e) + "\n").encode(), [("Connection", "close")])
                    return
                conn = (headers.get("Connection") or "").lower()
                if "close" in conn or (version == "HTTP/1.0" and "keep-alive" not in conn):
                    return
        except (Closed, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            return
        finally:
            self.upstream.close()
            self.writer.close()


SERVER_NAME = "sigv4-proxy"


async def start_listener(port, delay=0.0):
    """A listener on Config.host; hundreds of connections open at once as widgetd's limit doubles, so a
    short accept queue would drop SYNs, each then retried a second later."""
    async def serve(reader, writer):
        await Connection(reader, writer, delay).run()
    return await asyncio.start_server(serve, Config.host, port, limit=65537, backlog=4096, reuse_address=True)


async def listen_delayed(delay):
    """The port of a listener whose messages each take `delay` seconds more each way (started on first use)."""
    if delay not in Config.delayed:
        # the future is stored first, so that two requests for the same delay get one listener
        Config.delayed[delay] = asyncio.ensure_future(start_listener(0, delay))
    server = await Config.delayed[delay]
    return server.sockets[0].getsockname()[1]


async def serve_forever(port):
    Config.counters = Counters(Config.counters_path)
    Config.counters.flush()
    try:
        server = await start_listener(port)
    except OSError as e:
        print(f"sigv4_proxy: cannot listen on {Config.host}:{port}: {e}", file=sys.stderr)
        return 1
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    flusher = asyncio.ensure_future(Config.counters.flusher())
    print(f"sigv4_proxy listening on {Config.host}:{server.sockets[0].getsockname()[1]} -> "
          f"{Config.upstream[0]}:{Config.upstream[1]}", flush=True)
    await stop
    flusher.cancel()
    Config.counters.flush()
    return 0


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
    Config.counters_path = os.path.join(a.dir, "proxy-counts.json")
    Config.rejections_path = os.path.join(a.dir, "proxy-rejections.log")
    open(Config.rejections_path, "a").close()
    # two sockets per connection: a thousand calls in flight need more than the usual 1024 descriptors
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    # Not asyncio.run(): that would wait for every open connection's task to unwind; a stop is a stop.
    rc = asyncio.new_event_loop().run_until_complete(serve_forever(a.port))
    sys.stdout.flush()
    os._exit(rc)


if __name__ == "__main__":
    main()
