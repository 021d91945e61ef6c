#!/usr/bin/env python3
"""faultproxy.py: a fault-injecting HTTP/1.1 proxy on loopback, and the helpers the fault tests share.

FaultProxy sits between widgetd and one stand-in (s3rver, or the signature proxy in front of DynamoDB
Local). It reads each request (request line, headers, Content-Length or chunked body), forwards it on a
kept-alive upstream connection of its own (one per client connection), and relays the response. With
probability p per request (among the requests `match` accepts) it injects one fault, drawn from `kinds`:

  reset     read the request, then close the client connection with an RST (SO_LINGER 0); not forwarded
  truncate  forward the request (the stand-in applies it), then send the response headers and half of the
            body (half of the header block when there is no body) and close: the answer is lost
  stall     read the request and never answer, until the client gives up (closes the connection)
  refuse    RST this request and stop listening for refuse_s seconds: new connections are refused
  throttle  answer without forwarding: S3 503 SlowDown (XML), DynamoDB 400 ThrottlingException (JSON)
  auth      answer without forwarding: S3 403 InvalidAccessKeyId (XML), DynamoDB 400
            UnrecognizedClientException (JSON) (not in ALL_KINDS: a deployment fault, not a transient one)
  hugeerror answer without forwarding: 503 with a 320 KiB HTML body, as a proxy's error page may be
            (not in ALL_KINDS: a test of its own; a body that size must not pass for a large request)
  evilerror answer without forwarding: S3 503 / DynamoDB 500 whose error code and message hold newlines,
            "<0>" priority prefixes, ESC and C1 controls (S3: as XML character references, and once more as
            a raw HTML page) (not in ALL_KINDS: server text that must never shape widgetd's log)
  overfull  forward a ListObjectsV2, then relay its page with invented keys added up to 1,500 entries,
            more than any max-keys allows (not in ALL_KINDS: a broken or hostile server's answer)

Conditions mode (conditions=True) enforces S3's If-Match on DELETE, which s3rver and RGW ignore: the
proxy remembers the ETag of each object from the GET/PUT/HEAD answers it relays, and answers a DELETE
whose If-Match names another one 412 PreconditionFailed (XML) without forwarding it. after_get(path), if
given, runs after a GET is answered by the stand-in and before the answer is relayed: a producer writing
the key again in between; it returns the object's new ETag.

Unreadable objects (unreadable={key: mode}) play AWS's answers for objects that a producer with only
s3:PutObject can store but nobody can read or copy without more than widgetd has (SPEC 5). Keys are matched
on the (percent-decoded) request path's end, in any bucket:

  GLACIER, DEEP_ARCHIVE  archived: GetObject and CopyObject (as source) answer 403 InvalidObjectState with the
            <StorageClass>; ListObjectsV2 lists the key with that <StorageClass>; HeadObject works, as on AWS
  SSE-C     encrypted with a customer-provided key: GetObject and CopyObject answer 400 InvalidRequest
            "... Server Side Encryption ...", HeadObject a 400 without a body
  TOO_LARGE_TO_COPY  CopyObject (as source) answers 400 InvalidRequest "The specified copy source is larger
            than the maximum allowable size for a copy source: 5368709120"; the rest is forwarded
Counted per key and operation in snapshot()["unreadable_ops"] (answered or forwarded). With key_limit=True
a PutObject or CopyObject to a key over S3's 1,024 bytes answers 400 KeyTooLongError, as AWS does (s3rver
has no such limit).

With trace=True, proxy.trace lists every request as it arrives, in order: (operation, request target).

A rewrite hook (rewrite=f) plays a server that answers otherwise than the stand-in: f(req, status, body)
gets each forwarded response's status and body (de-chunked) and returns a new body, or None to relay the
response as it came; a new body goes out with a Content-Length in place of any chunking.

Skewed-clock mode (skew_s != 0) plays a server whose clock is skew_s seconds off: a request whose
X-Amz-Date is more than max_skew_s from that clock gets S3's 403 RequestTimeTooSkewed (XML; no body for
HEAD, as S3 does) or DynamoDB's 400 InvalidSignatureException "Signature expired" / "Signature not yet
current" (JSON), with the skewed clock in its Date header (RFC 1123); other requests are forwarded, and
their responses carry the skewed Date too.

The service (s3 or dynamodb) is taken from each request (DynamoDB requests carry X-Amz-Target) unless
given. Counters (snapshot()): requests, forwarded, injected faults by kind, skew rejections, upstream
errors, requests by operation, and attempts per call: requests with the same method, target, path,
query and body (a call and its retries) share one call key, with the history of what happened to each
attempt (call_history()); max(attempts per call) is the number of attempts of the most tried call. Two
calls that are alike (an S3 store's GET of one widget for two updates) share a key too. Bind 127.0.0.1, port 0 (or a given one). Threaded; a context manager:

    with FaultProxy("http://127.0.0.1:4567", p=0.3) as fp:
        env["AWS_ENDPOINT_URL_S3"] = fp.endpoint
        ...
        fp.configure(p=0.0)          # control while it runs
        print(fp.snapshot()["injected"])

Run as a script for manual experiments: faultproxy.py --upstream URL [--port N] [--p 0.3] [--kinds ...]
[--skew 1200]; it prints its counters every 5 s.

The second half of this file holds what the fault tests (test_kill, test_outage, test_faults, test_soak)
share besides the proxy: a widgetd running in daemon mode, a config file, the exit-line parser, and a
judge of the final state (store, intake, dead letters) that does not read one run's log.
"""
import calendar
import email.utils
import hashlib
import json
import math
import os
import random
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid

ALL_KINDS = ("reset", "truncate", "stall", "refuse", "throttle")
EXTRA_KINDS = ("auth", "hugeerror", "overfull", "evilerror")
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade"}
MAX_HEAD = 64 * 1024
S3_XML = '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code><Message>%s</Message>%s<RequestId>%s</RequestId><HostId>%s</HostId></Error>'


class _Closed(Exception):
    """The peer closed the connection (or it broke)."""


class _Reader:
    """Buffered reads from a socket."""

    def __init__(self, sock):
        self.sock, self.buf = sock, bytearray()

    def _fill(self):
        try:
            data = self.sock.recv(65536)
        except OSError as e:
            raise _Closed(str(e))
        if not data:
            raise _Closed("eof")
        self.buf += data

    def until(self, sep, limit=MAX_HEAD):
        while True:
            i = self.buf.find(sep)
            if i >= 0:
                out = bytes(self.buf[:i + len(sep)])
                del self.buf[:i + len(sep)]
                return out
            if len(self.buf) > limit:
                raise _Closed("header block too long")
            self._fill()

    def exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def rest(self):
        """Everything until the peer closes."""
        while True:
            try:
                self._fill()
            except _Closed:
                out = bytes(self.buf)
                self.buf.clear()
                return out

    def chunked(self):
        """A chunked body, raw (chunk lines, data, trailers), so it can be relayed as it came."""
        raw = bytearray()
        while True:
            line = self.until(b"\r\n")
            raw += line
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while True:
                    t = self.until(b"\r\n")
                    raw += t
                    if t == b"\r\n":
                        return bytes(raw)
            raw += self.exact(size + 2)


class _Message:
    """One HTTP request or response: the head (start line + headers) and the body, both raw."""

    def __init__(self, head, body, start, headers):
        self.head, self.body, self.start, self.headers = head, body, start, headers
        self.until_close = False
        self.interim = b""   # 1xx answers that came before this response, raw

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    @property
    def raw(self):
        return self.head + self.body


def _parse_head(head):
    lines = head.decode("latin-1").split("\r\n")
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        k, sep, v = line.partition(":")
        if sep:
            headers.append((k.strip(), v.strip()))
    return lines[0], headers


def _read_message(reader, is_response=False, request_method=None):
    head = reader.until(b"\r\n\r\n")
    while head.startswith(b"\r\n"):   # stray CRLF between messages
        head = head[2:]
    start, headers = _parse_head(head)
    msg = _Message(head, b"", start, headers)
    te = (msg.header("Transfer-Encoding") or "").lower()
    cl = msg.header("Content-Length")
    if is_response:
        status = int(start.split(" ", 2)[1])
        if request_method == "HEAD" or 100 <= status < 200 or status in (204, 304):
            return msg
    if "chunked" in te:
        msg.body = reader.chunked()
    elif cl is not None:
        msg.body = reader.exact(int(cl))
    elif is_response:
        msg.body = reader.rest()
        msg.until_close = True
    return msg


def _dechunk(raw):
    """The data of a raw chunked body (as _Reader.chunked returns it)."""
    out, i = bytearray(), 0
    while True:
        j = raw.index(b"\r\n", i)
        size = int(raw[i:j].split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            return bytes(out)
        out += raw[j + 2:j + 2 + size]
        i = j + 2 + size + 2


def _amz_date(ts):
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(ts))


def _parse_amz_date(value):
    try:
        return float(calendar.timegm(time.strptime(value, "%Y%m%dT%H%M%SZ")))
    except (TypeError, ValueError):
        return None


def _rst(sock):
    """Closes with an RST rather than a FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


def _close(sock):
    if sock is None:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


def _split_url(url):
    m = re.match(r"^https?://([^/:]+)(?::(\d+))?/?$", url)
    if not m:
        raise ValueError("upstream must be http://HOST:PORT, got %r" % url)
    return m.group(1), int(m.group(2) or 80)


class FaultProxy:
    def __init__(self, upstream, p=0.0, kinds=ALL_KINDS, service=None, seed=None, skew_s=0.0,
                 max_skew_s=900.0, refuse_s=0.5, stall_max_s=600.0, match=None, port=0, name="faultproxy",
                 conditions=False, after_get=None, unreadable=None, key_limit=False, rewrite=None, trace=False):
        self.upstream = _split_url(upstream) if isinstance(upstream, str) else tuple(upstream)
        # S3's If-Match on DELETE, which s3rver and RGW ignore: enforced here from the ETags seen.
        self.conditions, self.after_get, self._etags = conditions, after_get, {}
        self.name = name
        self.service = service
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.unreadable = dict(unreadable or {})
        self.key_limit = key_limit
        self.configure(p=p, kinds=kinds, skew_s=skew_s, max_skew_s=max_skew_s, refuse_s=refuse_s, match=match)
        self.rewrite = rewrite
        # trace: every request as it arrives, in order, as (op, request target); a list one can read
        self.trace = [] if trace else None
        self.stall_max_s = stall_max_s
        self.port = port
        self._listener = None
        self._stop = threading.Event()
        self._refuse_until = 0.0
        self._socks = set()
        self._clients = set()   # the client side of _socks
        self._threads = []
        self._accept_thread = None
        self.reset_counters()

    # ----- control -----

    _UNSET = object()

    def configure(self, p=None, kinds=None, skew_s=None, max_skew_s=None, refuse_s=None, match=_UNSET):
        """Changes the behaviour while running; arguments left out keep their value."""
        with self.lock:
            if p is not None:
                if not 0.0 <= p <= 1.0:
                    raise ValueError("p must be in [0, 1]")
                self.p = p
            if kinds is not None:
                bad = [k for k in kinds if k not in ALL_KINDS + EXTRA_KINDS]
                if bad or not kinds:
                    raise ValueError("unknown fault kinds %s" % bad)
                self.kinds = tuple(kinds)
            if skew_s is not None:
                self.skew_s = float(skew_s)
            if max_skew_s is not None:
                self.max_skew_s = float(max_skew_s)
            if refuse_s is not None:
                self.refuse_s = float(refuse_s)
            if match is not FaultProxy._UNSET:
                self.match = match

    def reset_counters(self):
        with self.lock:
            self.counters = {"requests": 0, "forwarded": 0, "connections": 0, "skew_rejected": 0,
                             "upstream_errors": 0, "injected": {k: 0 for k in ALL_KINDS + EXTRA_KINDS},
                             "by_op": {}, "by_status": {}, "unreadable_ops": {}}
            self.calls = {}

    def snapshot(self):
        """A copy of the counters, plus calls (distinct call keys), attempts_max and injected_total."""
        with self.lock:
            snap = json.loads(json.dumps(self.counters))
            attempts = [len(v) for v in self.calls.values()]
        snap["calls"] = len(attempts)
        snap["attempts_max"] = max(attempts) if attempts else 0
        snap["attempts_hist"] = {str(n): attempts.count(n) for n in sorted(set(attempts))}
        snap["injected_total"] = sum(snap["injected"].values())
        return snap

    def call_history(self):
        """{call key: [what happened to each attempt]}: "fwd" (forwarded and answered), "skew" (refused by
        the skewed clock), or the fault kind injected. A copy."""
        with self.lock:
            return {k: list(v) for k, v in self.calls.items()}

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.port

    def skewed_now(self):
        return time.time() + self.skew_s

    # ----- life cycle -----

    def start(self):
        self._listen()
        self._accept_thread = threading.Thread(target=self._accept_loop, name=self.name + "-accept", daemon=True)
        self._accept_thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._accept_thread:
            self._accept_thread.join(timeout=5)
        with self.lock:
            socks = list(self._socks)
        for s in socks:
            _close(s)
        for t in list(self._threads):
            t.join(timeout=5)

    def go_down(self):
        """An outage, as a server that stopped would show it: the port refuses new connections, and the
        connections open now are cut (shut down with an RST). What a connection's thread has already
        forwarded is left to finish upstream (its answer is then lost), so the stand-in behind never sees
        a request cut in the middle. come_up() listens on the same port again."""
        self._refuse_until = math.inf
        with self.lock:
            clients = list(self._clients)
        for s in clients:
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.shutdown(socket.SHUT_RDWR)   # wakes the thread reading it; that thread closes it
            except OSError:
                pass

    def come_up(self):
        self._refuse_until = 0.0

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def _listen(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(256)
        s.settimeout(0.05)
        self.port = s.getsockname()[1]
        self._listener = s

    def _accept_loop(self):
        while not self._stop.is_set():
            if self._refuse_until > time.monotonic():
                if self._listener is not None:
                    _rst(self._listener)     # pending connections in the backlog are reset too
                    self._listener = None
                time.sleep(0.02)
                continue
            if self._listener is None:
                try:
                    self._listen()
                except OSError:   # the port is taken meanwhile (very unlikely on loopback): try again
                    time.sleep(0.05)
                    continue
            try:
                conn, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                continue
            conn.settimeout(None)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                self.counters["connections"] += 1
                self._socks.add(conn)
                self._clients.add(conn)
            t = threading.Thread(target=self._serve, args=(conn,), name=self.name + "-conn", daemon=True)
            self._threads = [x for x in self._threads if x.is_alive()] + [t]
            t.start()
        if self._listener is not None:
            _close(self._listener)
            self._listener = None

    # ----- one client connection -----

    def _serve(self, conn):
        up = [None, None]   # upstream socket, its reader
        reader = _Reader(conn)
        try:
            while not self._stop.is_set():
                try:
                    req = _read_message(reader)
                except (_Closed, ValueError, IndexError):
                    return
                if not self._handle(conn, reader, req, up):
                    return
        finally:
            with self.lock:
                self._socks.discard(conn)
                self._clients.discard(conn)
                if up[0] is not None:
                    self._socks.discard(up[0])
            _close(up[0])
            try:
                conn.close()
            except OSError:
                pass

    def _service_of(self, req):
        if self.service:
            return self.service
        return "dynamodb" if req.header("X-Amz-Target") else "s3"

    @staticmethod
    def op_of(req):
        """A short operation name: the DynamoDB target, or the S3 method (+ list / copy)."""
        target = req.header("X-Amz-Target")
        if target:
            return target.rsplit(".", 1)[-1]
        method, target_path = req.start.split(" ")[:2]
        if method == "GET" and re.search(r"[?&]list-type=2", target_path):
            return "ListObjectsV2"
        if method == "PUT" and req.header("x-amz-copy-source"):
            return "CopyObject"
        return {"GET": "GetObject", "PUT": "PutObject", "HEAD": "HeadObject", "DELETE": "DeleteObject",
                "POST": "Post"}.get(method, method)

    @staticmethod
    def call_key(req):
        method, target_path = req.start.split(" ")[:2]
        return "%s %s %s %s" % (method, req.header("X-Amz-Target") or "", target_path,
                                hashlib.sha1(req.body).hexdigest()[:16])

    def _handle(self, conn, reader, req, up):
        """Handles one request. Returns False when the client connection is finished."""
        method = req.start.split(" ")[0]
        service = self._service_of(req)
        op = self.op_of(req)
        with self.lock:
            c = self.counters
            c["requests"] += 1
            c["by_op"][op] = c["by_op"].get(op, 0) + 1
            if self.trace is not None:
                self.trace.append((op, req.start.split(" ")[1]))
            key = self.call_key(req)
            history = self.calls.setdefault(key, [])
            skew_s, max_skew_s = self.skew_s, self.max_skew_s
            kind = None
            if self.p > 0 and (self.match is None or self.match(req)) and self.rng.random() < self.p:
                kind = self.rng.choice(self.kinds)

        answer = self._unreadable_answer(req, service, method, op) if self.unreadable or self.key_limit else None
        if answer is not None:
            with self.lock:
                history.append("unreadable")
            return self._send(conn, answer)
        if skew_s:
            answer = self._skew_check(req, service, method, skew_s, max_skew_s)
            if answer is not None:
                with self.lock:
                    self.counters["skew_rejected"] += 1
                    history.append("skew")
                return self._send(conn, answer)
        with self.lock:
            history.append(kind or "fwd")
            if kind:
                self.counters["injected"][kind] += 1

        if kind == "reset":
            _rst(conn)
            return False
        if kind == "refuse":
            self._refuse_until = time.monotonic() + self.refuse_s
            _rst(conn)
            return False
        if kind == "stall":
            deadline = time.monotonic() + self.stall_max_s
            conn.settimeout(0.2)
            while not self._stop.is_set() and time.monotonic() < deadline:
                try:
                    if not conn.recv(65536):
                        break
                except socket.timeout:
                    continue
                except OSError:
                    break
            return False
        if kind in ("throttle", "auth"):
            return self._send(conn, self._error_response(service, method, kind))
        if kind == "evilerror":
            return self._send(conn, self._evil_error(service, method))
        if kind == "hugeerror":
            body = (b"<html><head><title>503 Service Unavailable</title></head><body>"
                    + b"<!-- padding -->" * (320 * 1024 // 16) + b"</body></html>")
            return self._send(conn, self._response(503, "Service Unavailable", body, "text/html",
                                                   head_only=method == "HEAD"))

        path = req.start.split(" ")[1].split("?")[0]
        if self.conditions and method == "DELETE" and req.header("If-Match"):
            with self.lock:
                known = self._etags.get(path)
                failed = known is not None and req.header("If-Match") != known
                if failed:
                    self.counters["precondition_failed"] = self.counters.get("precondition_failed", 0) + 1
            if failed:
                rid = uuid.uuid4().hex[:16].upper()
                body = (S3_XML % ("PreconditionFailed", "At least one of the pre-conditions you specified did not hold",
                                  "<Condition>If-Match</Condition>", rid, rid)).encode()
                return self._send(conn, self._response(412, "Precondition Failed", body, "application/xml"))
        try:
            resp = self._forward(req, method, up)
        except (_Closed, OSError, ValueError, IndexError):
            with self.lock:
                self.counters["upstream_errors"] += 1
            _close(up[0])
            up[0] = up[1] = None
            _rst(conn)
            return False
        with self.lock:
            self.counters["forwarded"] += 1
            st = resp.start.split(" ", 2)[1] if " " in resp.start else "?"
            self.counters["by_status"][st] = self.counters["by_status"].get(st, 0) + 1
        if self.conditions or self.after_get:
            ok = st.startswith("2")
            with self.lock:
                if ok and method in ("GET", "PUT", "HEAD") and resp.header("ETag"):
                    self._etags[path] = resp.header("ETag")
                elif ok and method == "DELETE":
                    self._etags.pop(path, None)
            # A producer that writes the key again now, after this GET and before the client's DELETE.
            new_etag = self.after_get(path) if self.after_get and ok and method == "GET" else None
            if new_etag:
                with self.lock:
                    self._etags[path] = new_etag
        if self.unreadable and op == "ListObjectsV2":
            resp = self._with_storage_classes(resp)
        if kind == "overfull" and op == "ListObjectsV2":
            resp = self._overfull(resp)
        if self.rewrite is not None:
            self._rewritten(req, resp)
        head = resp.head
        if skew_s:
            head = self._with_date(resp, self.skewed_now())
        head = resp.interim + head
        if resp.until_close:
            _close(up[0])
            up[0] = up[1] = None
        if kind == "truncate":
            if len(resp.body) >= 2:
                data = head + resp.body[:len(resp.body) // 2]
            else:
                data = head[:len(head) // 2]
            try:
                conn.sendall(data)
            except OSError:
                pass
            _close(conn)
            return False
        try:
            conn.sendall(head + resp.body)
        except OSError:
            return False
        if resp.until_close or (resp.header("Connection") or "").lower() == "close":
            return False
        return True

    def _forward(self, req, method, up):
        """Sends the request upstream (a fresh connection when the kept one turns out dead) and reads
        the response."""
        for attempt in (0, 1):
            fresh = up[0] is None
            if fresh:
                s = socket.create_connection(self.upstream, timeout=10)
                s.settimeout(300)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                with self.lock:
                    self._socks.add(s)
                up[0], up[1] = s, _Reader(s)
            try:
                up[0].sendall(req.raw)
                interim = b""
                while True:   # relay 1xx interim answers (100 Continue) in front of the final one
                    resp = _read_message(up[1], is_response=True, request_method=method)
                    if not resp.start.split(" ", 2)[1].startswith("1") or resp.start.split(" ", 2)[1] == "101":
                        break
                    interim += resp.head
                resp.interim = interim
                return resp
            except (_Closed, OSError):
                with self.lock:
                    self._socks.discard(up[0])
                _close(up[0])
                up[0] = up[1] = None
                if fresh or attempt:
                    raise
        raise AssertionError("unreachable")

    @staticmethod
    def _body_of(resp):
        """The response's body, de-chunked."""
        if "chunked" in (resp.header("Transfer-Encoding") or "").lower():
            return _dechunk(resp.body)
        return resp.body

    @staticmethod
    def _replace_body(resp, new):
        """Gives resp the body new, sent with a Content-Length (whatever the server's framing was)."""
        lines = resp.head.decode("latin-1").split("\r\n")
        keep = [line for line in lines[1:] if line and line.split(":", 1)[0].strip().lower() not in
                ("content-length", "transfer-encoding", "content-md5", "etag")]
        resp.head = ("\r\n".join([lines[0]] + keep + ["Content-Length: %d" % len(new)]) + "\r\n\r\n").encode(
            "latin-1")
        resp.body = new

    def _rewritten(self, req, resp):
        """Applies the rewrite hook to resp in place."""
        new = self.rewrite(req, int(resp.start.split(" ", 2)[1]), self._body_of(resp))
        if new is not None:
            self._replace_body(resp, new)

    def _send(self, conn, data):
        try:
            conn.sendall(data)
            return True
        except OSError:
            return False

    @staticmethod
    def _with_date(resp, ts):
        lines = resp.head.decode("latin-1").split("\r\n")
        out = [lines[0]] + [line for line in lines[1:] if line and not line.lower().startswith("date:")]
        out.insert(1, "Date: " + email.utils.formatdate(ts, usegmt=True))
        return ("\r\n".join(out) + "\r\n\r\n").encode("latin-1")

    def _response(self, status, reason, body, ctype, extra=(), head_only=False, date_ts=None):
        headers = ["HTTP/1.1 %d %s" % (status, reason),
                   "Date: " + email.utils.formatdate(date_ts if date_ts is not None else self.skewed_now(),
                                                     usegmt=True),
                   "Content-Type: " + ctype, "Content-Length: %d" % len(body),
                   "x-amz-request-id: " + uuid.uuid4().hex[:16].upper(),
                   "x-amzn-RequestId: " + str(uuid.uuid4())]
        headers += ["%s: %s" % kv for kv in extra]
        data = ("\r\n".join(headers) + "\r\n\r\n").encode("latin-1")
        return data if head_only else data + body

    def _evil_error(self, service, method):
        forged = "\n<0>FORGED emergency line\r\n<1>FORGED \x1b[2J\x1b]0;title\x07 \u009b31m \u2028<2>FORGED"
        if service == "dynamodb":
            body = json.dumps({"__type": "com.amazon.coral.service#Evil" + forged, "message": "bad" + forged}).encode()
            return self._response(500, "Internal Server Error", body, "application/x-amz-json-1.0")
        self._evil_n = getattr(self, "_evil_n", 0) + 1
        if self._evil_n % 2:
            ref = "".join(c if c.isalnum() or c in " []" else "&#%d;" % ord(c) for c in forged if ord(c) >= 0x20 or c in "\t\n\r")
            body = (S3_XML % ("SlowDown" + ref, "Slow" + ref, "", "RID", "HID")).encode()
            ctype = "application/xml"
        else:
            body = ("<html><body>503" + forged + "</body></html>").encode()
            ctype = "text/html"
        return self._response(503, "Slow Down", body, ctype, head_only=method == "HEAD")

    def _error_response(self, service, method, kind):
        head_only = method == "HEAD"
        if service == "dynamodb":
            if kind == "throttle":
                body = json.dumps({"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException",
                                   "message": "Rate of requests exceeds the allowed throughput."}).encode()
            else:
                body = json.dumps({"__type": "com.amazon.coral.service#UnrecognizedClientException",
                                   "message": "The security token included in the request is invalid."}).encode()
            return self._response(400, "Bad Request", body, "application/x-amz-json-1.0")
        rid = uuid.uuid4().hex[:16].upper()
        if kind == "throttle":
            body = (S3_XML % ("SlowDown", "Please reduce your request rate.", "", rid, rid)).encode()
            return self._response(503, "Slow Down", body, "application/xml", head_only=head_only)
        body = (S3_XML % ("InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.",
                          "", rid, rid)).encode()
        return self._response(403, "Forbidden", body, "application/xml", head_only=head_only)

    def _unreadable_key(self, path):
        """The configured unreadable key that the (raw) request path names, or None."""
        path = urllib.parse.unquote(path.split("?", 1)[0])
        for key in self.unreadable:
            # Virtual-hosted (/key), path style (/bucket/key), or a copy source (bucket/key).
            if re.fullmatch(r"/?(?:[^/]+/)?%s" % re.escape(key), path):
                return key
        return None

    def _unreadable_answer(self, req, service, method, op):
        """AWS's answer to a call on an unreadable object (see the module's doc), or None to forward."""
        if service != "s3":
            return None
        if self.key_limit and op in ("PutObject", "CopyObject"):
            path = urllib.parse.unquote(req.start.split(" ")[1].split("?", 1)[0])
            host = (req.header("Host") or "").split(":")[0]
            # Path style: /bucket/key; virtual-hosted (bucket.host): /key.
            key = path.split("/", 2)[2] if host[:1].isdigit() or host == "localhost" else path[1:]
            if len(key.encode("utf-8")) > 1024:
                with self.lock:
                    self.counters["unreadable_ops"].setdefault("<too long>", {})[op] = \
                        self.counters["unreadable_ops"].get("<too long>", {}).get(op, 0) + 1
                rid = uuid.uuid4().hex[:16].upper()
                body = (S3_XML % ("KeyTooLongError", "Your key is too long", "<Size>%d</Size><MaxSizeAllowed>1024"
                                  "</MaxSizeAllowed>" % len(key.encode("utf-8")), rid, rid)).encode()
                return self._response(400, "Bad Request", body, "application/xml")
        if op == "CopyObject":
            key = self._unreadable_key(req.header("x-amz-copy-source") or "")
        elif op in ("GetObject", "HeadObject"):
            key = self._unreadable_key(req.start.split(" ")[1])
        else:
            return None
        if key is None:
            return None
        mode = self.unreadable[key]
        with self.lock:
            ops = self.counters["unreadable_ops"].setdefault(key, {})
            ops[op] = ops.get(op, 0) + 1
        rid = uuid.uuid4().hex[:16].upper()
        head_only = method == "HEAD"
        if mode in ("GLACIER", "DEEP_ARCHIVE") and op != "HeadObject":
            body = (S3_XML % ("InvalidObjectState", "The operation is not valid for the object's storage class",
                              "<StorageClass>%s</StorageClass>" % mode, rid, rid)).encode()
            return self._response(403, "Forbidden", body, "application/xml")
        if mode == "SSE-C":
            body = (S3_XML % ("InvalidRequest", "The object was stored using a form of Server Side Encryption. "
                              "The correct parameters must be provided to retrieve the object.", "", rid, rid)).encode()
            return self._response(400, "Bad Request", body, "application/xml", head_only=head_only)
        if mode == "TOO_LARGE_TO_COPY" and op == "CopyObject":
            body = (S3_XML % ("InvalidRequest", "The specified copy source is larger than the maximum allowable "
                              "size for a copy source: 5368709120", "", rid, rid)).encode()
            return self._response(400, "Bad Request", body, "application/xml")
        return None

    @classmethod
    def _overfull(cls, resp, entries=1500):
        """The listing page with invented keys added after the real ones, up to `entries` in all."""
        text = cls._body_of(resp).decode("utf-8", "replace")
        have = text.count("<Contents>")
        extra = "".join("<Contents><Key>zz-overfull-%05d</Key><LastModified>2026-01-01T00:00:00.000Z"
                        "</LastModified><ETag>&quot;0&quot;</ETag><Size>2</Size><StorageClass>STANDARD"
                        "</StorageClass></Contents>" % i for i in range(max(0, entries - have)))
        cls._replace_body(resp, text.replace("</ListBucketResult>", extra + "</ListBucketResult>", 1).encode("utf-8"))
        return resp

    def _with_storage_classes(self, resp):
        """The listing with the archived keys' <StorageClass> set to theirs (URL-encoded keys too)."""
        text = self._body_of(resp).decode("utf-8", "replace")
        for key, mode in self.unreadable.items():
            if mode not in ("GLACIER", "DEEP_ARCHIVE"):
                continue
            for form in {key, urllib.parse.quote(key, safe="")}:
                pattern = r"(<Key>%s</Key>(?:(?!</Contents>).)*?<StorageClass>)[^<]*(</StorageClass>)" % re.escape(form)
                text = re.sub(pattern, lambda m: m.group(1) + mode + m.group(2), text, flags=re.S)
        self._replace_body(resp, text.encode("utf-8"))
        return resp

    def _skew_check(self, req, service, method, skew_s, max_skew_s):
        """The error answer of a server whose clock is skew_s off, or None when the request's time is fine."""
        now = time.time() + skew_s
        sent = _parse_amz_date(req.header("X-Amz-Date"))
        if sent is None or abs(sent - now) <= max_skew_s:
            return None
        if service == "dynamodb":
            if sent < now:
                msg = "Signature expired: %s is now earlier than %s (%s - %d min.)" % (
                    _amz_date(sent), _amz_date(now - max_skew_s), _amz_date(now), max_skew_s // 60)
            else:
                msg = "Signature not yet current: %s is still later than %s (%s + %d min.)" % (
                    _amz_date(sent), _amz_date(now + max_skew_s), _amz_date(now), max_skew_s // 60)
            body = json.dumps({"__type": "com.amazon.coral.service#InvalidSignatureException",
                               "message": msg}).encode()
            return self._response(400, "Bad Request", body, "application/x-amz-json-1.0", date_ts=now)
        rid = uuid.uuid4().hex[:16].upper()
        extra = "<RequestTime>%s</RequestTime><ServerTime>%s</ServerTime><MaxAllowedSkewMilliseconds>%d" \
                "</MaxAllowedSkewMilliseconds>" % (_amz_date(sent), time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
                                                   int(max_skew_s * 1000))
        body = (S3_XML % ("RequestTimeTooSkewed",
                          "The difference between the request time and the current time is too large.",
                          extra, rid, rid)).encode()
        return self._response(403, "Forbidden", body, "application/xml", head_only=method == "HEAD", date_ts=now)


# =====================================================================================================
# Helpers shared by the fault tests.
# =====================================================================================================

EXIT_RE = re.compile(r"exiting: (\d+) applied, (\d+) not found, (\d+) dead-lettered, (\d+) failed attempts, "
                     r"(\d+) retries(?:, (\d+) retries refused by the retry quota)?[^;]*; calls: ([^;]*)")


def parse_exit_line(text):
    """The counts of widgetd's last "exiting:" line: dict, or None when there is none. "calls" are the request
    and store calls (a "; lease calls: ..." part after them is not counted here: leasetest.parse_exit)."""
    found = None
    for line in text.split("\n"):
        m = EXIT_RE.search(line)
        if m:
            found = m
    if not found:
        return None
    calls = {}
    for part in found.group(7).split():
        k, _, v = part.partition("=")
        if v.isdigit():
            calls[k] = int(v)
    return {"applied": int(found.group(1)), "not_found": int(found.group(2)),
            "dead_lettered": int(found.group(3)), "failed": int(found.group(4)), "retries": int(found.group(5)),
            "quota_refused": int(found.group(6)) if found.group(6) is not None else None,
            "calls": calls, "attempts": sum(calls.values())}


def write_config(path, bucket, store, store_name, s3_endpoint=None, ddb_endpoint=None, **daemon):
    """A widgetd config file. daemon: keys of [daemon] (timeout_ms=..., workers=...)."""
    lines = ["[requests]", "bucket = %s" % bucket, "", "[store]", "kind = %s" % store, "name = %s" % store_name,
             "", "[aws]", "region = us-east-1"]
    if s3_endpoint:
        lines.append("s3_endpoint = %s" % s3_endpoint)
    if ddb_endpoint:
        lines.append("dynamodb_endpoint = %s" % ddb_endpoint)
    lines += ["", "[daemon]"] + ["%s = %s" % kv for kv in daemon.items()]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path


class Daemon:
    """widgetd started in the background (daemon mode unless args say --once), stderr to a log file."""

    def __init__(self, widgetd, args, env, log_path):
        self.argv = [widgetd] + list(args)
        self.log_path = log_path
        self.t0 = time.monotonic()
        self._log = open(log_path, "ab")
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
                                     env=env, start_new_session=True)
        self.pid = self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def signal(self, sig):
        if self.alive():
            os.kill(self.pid, sig)

    def kill9(self):
        """SIGKILL; True when it was still running."""
        was = self.alive()
        if was:
            os.killpg(self.pid, signal.SIGKILL)
        self.proc.wait()
        self._log.close()
        return was

    def wait(self, timeout):
        """Exit code, or None on timeout."""
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        self._log.close()
        return rc

    def stop(self, timeout=120):
        """SIGTERM and wait: (exit code or None when it had to be killed, seconds)."""
        t = time.monotonic()
        self.signal(signal.SIGTERM)
        rc = self.wait(timeout)
        if rc is None:
            self.kill9()
        return rc, time.monotonic() - t

    def fd_count(self):
        try:
            return len(os.listdir("/proc/%d/fd" % self.pid))
        except OSError:
            return None

    def ensure_dead(self):
        if self.alive():
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except OSError:
                pass
            self.proc.wait()
        if not self._log.closed:
            self._log.close()


def wait_until(pred, timeout, step=0.25):
    """Polls pred() until it is true (returns True) or timeout seconds passed (returns False)."""
    end = time.monotonic() + timeout
    while True:
        if pred():
            return True
        if time.monotonic() >= end:
            return False
        time.sleep(step)


def intake_left(h, bucket):
    """Request keys still in the requests bucket (dead letters left out)."""
    return [k for k in h.list_keys(bucket) if not k.startswith("dead-letter/")]


def judge_state(h, what, requests, bucket, store, store_name, oracle=None):
    """The end state after any sequence of runs, against the oracle: store equal widget by widget,
    intake empty, dead letters exactly the oracle's (each with a reason and the request's body).
    Returns (all passed, number of requests lost) where lost = the oracle's widgets missing or different,
    plus dead letters missing; it reads no log (a killed run's log is not a record of what happened)."""
    expected, dead, _warnings = oracle or h.oracle(requests, store)
    ok = True
    actual = h.read_store(store, store_name)
    d = h.diff_widgets(expected, actual)
    lost = sum(1 for k in expected if actual.get(k) != expected[k]) + sum(1 for k in actual if k not in expected)
    ok &= h.check(not d, "%s: %s store equals the oracle's (%d widgets)" % (what, store, len(expected)),
                  "\n".join("  " + line for line in d))
    left = intake_left(h, bucket)
    ok &= h.check(not left, "%s: requests bucket drained" % what,
                  "  %d requests left, e.g. %s" % (len(left), left[:5]))
    letters = h.read_dead_letters(bucket)
    want = {k for k, _ in dead}
    problems = ["not dead-lettered: %s" % k for k in sorted(want - set(letters))[:8]]
    problems += ["dead-lettered but valid: %s (%s)" % (k, letters[k][0]) for k in sorted(set(letters) - want)[:8]]
    for k in sorted(want & set(letters)):
        reason, body = letters[k]
        if not reason:
            problems.append("dead-letter/%s has no widgetd-error metadata" % k)
        if k in requests and body != requests[k]:
            problems.append("dead-letter/%s: body differs from the request" % k)
    lost += len(want - set(letters))
    ok &= h.check(not problems, "%s: dead letters are exactly the oracle's %d, each with a reason" % (what, len(want)),
                  "\n".join("  " + p for p in problems[:16]))
    return ok, lost


def log_problems(text, killed=False):
    """(sanitizer lines, lines without a <N> prefix) of one widgetd log; a SIGKILLed run may end with a cut line."""
    from wdtest import PRIORITY_RE, SANITIZER_PATTERNS
    lines = [line for line in text.split("\n") if line.strip()]
    if killed and lines and not PRIORITY_RE.match(lines[-1]):
        lines = lines[:-1]
    san = [line for line in lines if any(p in line for p in SANITIZER_PATTERNS)]
    bad = [line for line in lines if not PRIORITY_RE.match(line)]
    return san, bad


def check_log_clean(h, what, text, killed=False):
    """Every line has a <N> prefix and there is no sanitizer report."""
    san, bad = log_problems(text, killed)
    ok = h.check(not san, "%s: no sanitizer report" % what, "\n".join("  " + s for s in san[:8]))
    ok &= h.check(not bad, "%s: every log line starts with <N>" % what, "\n".join("  | " + b[:300] for b in bad[:5]))
    return ok


def bad_requests(count, seed):
    """count malformed requests (each breaks SPEC 2 in one way), as {suffix: body}; the caller chooses keys."""
    rng = random.Random(seed)
    kinds = [
        b'{"type": "create", "requestId": "r", "widgetId": "w", "owner": "a1!"}',
        b'{"type": "create", "requestId": "r", "widgetId": "w"',
        b'{"type": "explode", "requestId": "r", "widgetId": "w", "owner": "Ann"}',
        b'{"type": "create", "requestId": "", "widgetId": "w", "owner": "Ann"}',
        b'{"type": "create", "requestId": "r", "owner": "Ann"}',
        b'{"type": "create", "requestId": "r", "widgetId": "w", "owner": "Ann", "owner": "Bob"}',
        b'[1, 2, 3]',
        b'\xff\xfe not json',
    ]
    return [rng.choice(kinds) for _ in range(count)]


def mixed_requests(shared_dir, count, seed, bad_every=0):
    """count generated requests (../shared/baseline/gen_requests.py) with keys %010d, plus (when
    bad_every > 0) one malformed request after every bad_every-th, keyed %010db so that it sorts right
    after it. {key: body}."""
    sys.path.insert(0, os.path.join(shared_dir, "baseline"))
    import gen_requests
    reqs, _ = gen_requests.generate(count, seed)
    out = {"%010d" % i: json.dumps(r).encode("utf-8") for i, r in enumerate(reqs)}
    if bad_every:
        n = count // bad_every
        for i, body in zip(range(n), bad_requests(n, seed)):
            out["%010db" % (i * bad_every + bad_every // 2)] = body
    return out


def _main():
    import argparse
    ap = argparse.ArgumentParser(description="fault-injecting HTTP proxy (see the module docstring)")
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--p", type=float, default=0.0)
    ap.add_argument("--kinds", default=",".join(ALL_KINDS))
    ap.add_argument("--skew", type=float, default=0.0)
    ap.add_argument("--service", choices=("s3", "dynamodb"))
    a = ap.parse_args()
    fp = FaultProxy(a.upstream, p=a.p, kinds=a.kinds.split(","), skew_s=a.skew, port=a.port, service=a.service)
    with fp:
        print("faultproxy: %s -> %s:%d" % (fp.endpoint, *fp.upstream), flush=True)
        try:
            while True:
                time.sleep(5)
                print(json.dumps(fp.snapshot(), sort_keys=True), flush=True)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    _main()
