#!/usr/bin/env python3
"""count_proxy.py: a loopback HTTP/1.1 keep-alive forwarder in front of s3rver that counts S3 calls.

Every request is forwarded byte for byte (headers untouched, so SigV4 signatures stay valid; the Host
header is the client's, which s3rver verifies as sent) over one persistent upstream connection per
client connection, and counted by method and query shape:

  GET  with list-type=2 in the query, or GET of a bucket (no key)   LIST
  GET  of a key                                                      GET
  HEAD                                                               HEAD
  PUT  with an x-amz-copy-source header                              COPY
  PUT  of a key                                                      PUT
  POST                                                               POST   (DeleteObjects, ...)
  DELETE of a key                                                    DELETE
  PUT/DELETE of a bucket (no key)                                    BUCKET (CreateBucket, DeleteBucket)

An `Expect: 100-continue` is answered by the proxy itself and not forwarded (neither botocore nor a
SigV4 signer signs it). Counts are kept by class, by class + status code and by bucket + class (a
backlog run reads its progress from the DELETEs of the requests bucket); the time of each LIST is
recorded (the last 100,000) so an idle consumer's poll intervals can be read back.

Control endpoints (handled locally, never forwarded):
  GET /__count/counts  -> {"by_op": {...}, "by_op_status": {...}, "by_bucket_op": {"BUCKET OP": N},
                           "total": N, "list_times": [...]}
  GET /__count/brief   -> the same without list_times (cheap enough to poll several times a second)
  GET /__count/reset   -> the counts before the reset, then zero

Usage: count_proxy.py --port 0 --upstream-port N [--upstream-host 127.0.0.1]
Prints "count_proxy listening on 127.0.0.1:PORT" once bound. Python standard library only.
"""
import argparse
import json
import signal
import socket
import sys
import threading
import time
from collections import deque

HOP = (b"connection", b"keep-alive", b"proxy-connection")


class Counts:
    def __init__(self):
        self.lock = threading.Lock()
        self.zero()

    def zero(self):
        self.by_op, self.by_op_status, self.by_bucket_op, self.total = {}, {}, {}, 0
        self.list_times = deque(maxlen=100000)

    def add(self, op, status, bucket):
        with self.lock:
            k = "%s %s" % (bucket, op)
            self.by_bucket_op[k] = self.by_bucket_op.get(k, 0) + 1
            self.total += 1
            self.by_op[op] = self.by_op.get(op, 0) + 1
            k = "%s %s" % (op, status)
            self.by_op_status[k] = self.by_op_status.get(k, 0) + 1
            if op == "LIST":
                self.list_times.append(time.time())

    def snapshot(self, reset=False, brief=False):
        with self.lock:
            snap = {"total": self.total, "by_op": dict(self.by_op), "by_op_status": dict(self.by_op_status),
                    "by_bucket_op": dict(self.by_bucket_op), "now": time.time()}
            if not brief:
                snap["list_times"] = list(self.list_times)
            if reset:
                self.zero()
        return snap


COUNTS = Counts()
UPSTREAM = ("127.0.0.1", 0)


def classify(method, target, headers):
    path, _, query = target.partition(b"?")
    # path style: /bucket or /bucket/ is the bucket, /bucket/key... an object
    parts = path.lstrip(b"/").split(b"/", 1)
    has_key = len(parts) == 2 and parts[1] != b""
    params = set(p.split(b"=", 1)[0] for p in query.split(b"&") if p)
    if method == b"GET":
        if b"list-type" in params or not has_key:
            return "LIST"
        return "GET"
    if method == b"HEAD":
        return "HEAD"
    if method == b"PUT":
        if b"x-amz-copy-source" in headers:
            return "COPY"
        return "PUT" if has_key else "BUCKET"
    if method == b"POST":
        return "POST"
    if method == b"DELETE":
        return "DELETE" if has_key else "BUCKET"
    return "OTHER"


class Closed(Exception):
    pass


def read_head(f):
    """(start line, [(name lower, raw line)]) of one HTTP message head, or raises Closed at EOF."""
    line = f.readline(65537)
    while line in (b"\r\n", b"\n"):   # tolerate stray CRLF between messages
        line = f.readline(65537)
    if not line:
        raise Closed()
    headers = []
    while True:
        h = f.readline(65537)
        if not h:
            raise Closed()
        if h in (b"\r\n", b"\n"):
            break
        name = h.split(b":", 1)[0].strip().lower()
        headers.append((name, h))
    return line, headers


def header_value(headers, name):
    for n, raw in headers:
        if n == name:
            return raw.split(b":", 1)[1].strip()
    return None


def relay_body(src, dst, headers, no_body=False, to_eof=False):
    """Copies one message body from the file src to the socket dst (Content-Length, chunked, or to EOF)."""
    if no_body:
        return
    te = header_value(headers, b"transfer-encoding")
    if te is not None and b"chunked" in te.lower():
        while True:
            line = src.readline(65537)
            if not line:
                raise Closed()
            dst.sendall(line)
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while True:   # trailers up to the empty line
                    t = src.readline(65537)
                    if not t:
                        raise Closed()
                    dst.sendall(t)
                    if t in (b"\r\n", b"\n"):
                        return
            left = size + 2   # data + CRLF
            while left:
                chunk = src.read(min(left, 65536))
                if not chunk:
                    raise Closed()
                dst.sendall(chunk)
                left -= len(chunk)
        return
    cl = header_value(headers, b"content-length")
    if cl is not None:
        left = int(cl)
        while left:
            chunk = src.read(min(left, 65536))
            if not chunk:
                raise Closed()
            dst.sendall(chunk)
            left -= len(chunk)
        return
    if to_eof:
        while True:
            chunk = src.read1(65536)
            if not chunk:
                return
            dst.sendall(chunk)


def control(client, target):
    if target.startswith(b"/__count/counts"):
        body = COUNTS.snapshot()
    elif target.startswith(b"/__count/brief"):
        body = COUNTS.snapshot(brief=True)
    elif target.startswith(b"/__count/reset"):
        body = COUNTS.snapshot(reset=True)
    else:
        return False
    data = (json.dumps(body) + "\n").encode()
    client.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                   % len(data) + data)
    return True


def serve(client):
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    cf = client.makefile("rb", buffering=65536)
    up = uf = None
    try:
        while True:
            line, headers = read_head(cf)
            try:
                method, target, _ = line.split(b" ", 2)
            except ValueError:
                return
            if method == b"GET" and target.startswith(b"/__count/") and control(client, target):
                continue
            names = set(n for n, _ in headers)
            expect = header_value(headers, b"expect")
            if up is None:
                up = socket.create_connection(UPSTREAM)
                up.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                uf = up.makefile("rb", buffering=65536)
            head = [line] + [raw for n, raw in headers if n != b"expect"] + [b"\r\n"]
            up.sendall(b"".join(head))
            if expect is not None and expect.lower() == b"100-continue":
                client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            relay_body(cf, up, headers)
            # the response (skipping any 1xx the upstream sends on its own)
            while True:
                sline, sheaders = read_head(uf)
                status = int(sline.split(b" ", 2)[1])
                if 100 <= status < 200:
                    continue
                break
            client.sendall(sline + b"".join(raw for _, raw in sheaders) + b"\r\n")
            conn_hdr = (header_value(sheaders, b"connection") or b"").lower()
            no_body = method == b"HEAD" or status in (204, 304)
            close_after = b"close" in conn_hdr or b"close" in (header_value(headers, b"connection") or b"").lower()
            has_len = header_value(sheaders, b"content-length") is not None or \
                header_value(sheaders, b"transfer-encoding") is not None
            relay_body(uf, client, sheaders, no_body=no_body, to_eof=not has_len)
            bucket = target.partition(b"?")[0].lstrip(b"/").split(b"/", 1)[0].decode("utf-8", "replace")
            COUNTS.add(classify(method, target, names), status, bucket)
            if close_after or (not no_body and not has_len):
                return
    except (Closed, OSError, ValueError):
        return
    finally:
        for s in (up, client):
            if s is not None:
                try:
                    s.close()
                except OSError:
                    pass


def main():
    global UPSTREAM
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--upstream-host", default="127.0.0.1")
    ap.add_argument("--upstream-port", type=int, required=True)
    args = ap.parse_args()
    if args.host not in ("127.0.0.1", "localhost") or args.upstream_host not in ("127.0.0.1", "localhost"):
        sys.exit("count_proxy: loopback only")
    UPSTREAM = (args.upstream_host, args.upstream_port)
    sys.setswitchinterval(0.0002)   # 32 connection threads: hand the GIL over quickly (default 5 ms)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((args.host, args.port))
    ls.listen(512)
    print("count_proxy listening on %s:%d" % ls.getsockname(), flush=True)
    while True:
        c, _ = ls.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


if __name__ == "__main__":
    main()
