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

One thread, one asyncio event loop: a connection costs two sockets and two coroutines' state, not a
thread (the thread-per-connection version it replaces, with 500 connections at 100 ms each way, spent
1.3 ms of CPU a request handing the interpreter lock between threads, twice what it spent with 100, and
so measured its own cost as the consumer's).

Latency mode without another hop (--delay-ms D, repeatable): a further listener per D, whose requests
reach the upstream D after the proxy read them and whose answers reach the client D after the upstream's
came (and a new connection's first request a round trip later still: its TCP handshake), counted with
the rest. The same added latency as delay_proxy.py in front of this proxy, without its two extra loopback
connections per call: on this 2-core machine that proxy cost about 1.2 ms of CPU per request on the S3
store, a third of a core taken from s3rver, which is what latency mode measures widgetd against.

Usage: count_proxy.py --port 0 --upstream-port N [--upstream-host 127.0.0.1] [--delay-ms D ...]
Prints "count_proxy listening on 127.0.0.1:PORT" once bound, then a line "count_proxy delayed +D ms each
way on 127.0.0.1:PORT" per --delay-ms. Python standard library only.
"""
import argparse
import asyncio
import functools
import json
import resource
import signal
import socket
import sys
import time
from collections import deque

class Counts:
    """One event loop thread updates and reads these: no lock."""

    def __init__(self):
        self.zero()

    def zero(self):
        self.by_op, self.by_op_status, self.by_bucket_op, self.total = {}, {}, {}, 0
        self.list_times = deque(maxlen=100000)

    def add(self, op, status, bucket):
        k = "%s %s" % (bucket, op)
        self.by_bucket_op[k] = self.by_bucket_op.get(k, 0) + 1
        self.total += 1
        self.by_op[op] = self.by_op.get(op, 0) + 1
        k = "%s %s" % (op, status)
        self.by_op_status[k] = self.by_op_status.get(k, 0) + 1
        if op == "LIST":
            self.list_times.append(time.time())

    def snapshot(self, reset=False, brief=False):
        snap = {"total": self.total, "by_op": dict(self.by_op), "by_op_status": dict(self.by_op_status),
                "by_bucket_op": dict(self.by_bucket_op), "now": time.time()}
        if not brief:
            snap["list_times"] = list(self.list_times)
        if reset:
            self.zero()
        return snap


COUNTS = Counts()
UPSTREAM = ("127.0.0.1", 0)
UPSTREAM_IDLE_S = 4.0  # an upstream connection idle this long is replaced before the next request


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


async def read_head(f):
    """(start line, [(name lower, raw line)]) of one HTTP message head, or raises Closed at EOF. A line
    longer than the reader's limit (64 KiB) raises ValueError."""
    line = await f.readline()
    while line in (b"\r\n", b"\n"):   # tolerate stray CRLF between messages
        line = await f.readline()
    if not line:
        raise Closed()
    headers = []
    while True:
        h = await f.readline()
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


async def copy_exactly(src, dst, left):
    while left:
        chunk = await src.read(min(left, 65536))
        if not chunk:
            raise Closed()
        dst.write(chunk)
        left -= len(chunk)
        await dst.drain()     # flow control: returns at once unless the destination's buffer is full


async def relay_body(src, dst, headers, no_body=False, to_eof=False):
    """Copies one message body from the reader src to the writer dst (Content-Length, chunked, or to EOF)."""
    if no_body:
        return
    te = header_value(headers, b"transfer-encoding")
    if te is not None and b"chunked" in te.lower():
        while True:
            line = await src.readline()
            if not line:
                raise Closed()
            dst.write(line)
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while True:   # trailers up to the empty line
                    t = await src.readline()
                    if not t:
                        raise Closed()
                    dst.write(t)
                    if t in (b"\r\n", b"\n"):
                        return
            await copy_exactly(src, dst, size + 2)   # data + CRLF
    cl = header_value(headers, b"content-length")
    if cl is not None:
        await copy_exactly(src, dst, int(cl))
        return
    if to_eof:
        while True:
            chunk = await src.read(65536)
            if not chunk:
                return
            dst.write(chunk)
            await dst.drain()


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
    client.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                 % len(data) + data)
    return True


def nodelay(writer):
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


async def serve(cr, cw, delay=0.0):
    """One client connection: its requests one after another, each over the same upstream connection; with
    a delay (seconds), each message is passed on that long after it was read."""
    nodelay(cw)
    loop = asyncio.get_running_loop()
    handshake_done = loop.time() + 2 * delay   # SYN and SYN-ACK each take the delay on a real path
    ur = uw = None
    up_idle_since = 0.0
    try:
        while True:
            line, headers = await read_head(cr)
            if delay:
                await asyncio.sleep(max(loop.time(), handshake_done) + delay - loop.time())
            try:
                method, target, _ = line.split(b" ", 2)
            except ValueError:
                return
            if method == b"GET" and target.startswith(b"/__count/") and control(cw, target):
                await cw.drain()
                continue
            names = set(n for n, _ in headers)
            expect = header_value(headers, b"expect")
            if uw is not None and (ur.at_eof() or loop.time() - up_idle_since > UPSTREAM_IDLE_S):
                # s3rver (node) closes a connection idle for 5 s: a request sent on it would be lost, and
                # the client would retry a call this proxy never counted
                uw.close()
                uw = None
            if uw is None:
                ur, uw = await asyncio.open_connection(*UPSTREAM, limit=65537)
                nodelay(uw)
            uw.write(b"".join([line] + [raw for n, raw in headers if n != b"expect"] + [b"\r\n"]))
            if expect is not None and expect.lower() == b"100-continue":
                cw.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await relay_body(cr, uw, headers)
            await uw.drain()
            # the response (skipping any 1xx the upstream sends on its own)
            while True:
                sline, sheaders = await read_head(ur)
                status = int(sline.split(b" ", 2)[1])
                if 100 <= status < 200:
                    continue
                break
            if delay:
                await asyncio.sleep(delay)
            cw.write(sline + b"".join(raw for _, raw in sheaders) + b"\r\n")
            conn_hdr = (header_value(sheaders, b"connection") or b"").lower()
            no_body = method == b"HEAD" or status in (204, 304)
            close_after = b"close" in conn_hdr or b"close" in (header_value(headers, b"connection") or b"").lower()
            has_len = header_value(sheaders, b"content-length") is not None or \
                header_value(sheaders, b"transfer-encoding") is not None
            await relay_body(ur, cw, sheaders, no_body=no_body, to_eof=not has_len)
            await cw.drain()
            up_idle_since = loop.time()
            bucket = target.partition(b"?")[0].lstrip(b"/").split(b"/", 1)[0].decode("utf-8", "replace")
            COUNTS.add(classify(method, target, names), status, bucket)
            if close_after or (not no_body and not has_len):
                return
    except (Closed, OSError, ValueError, IndexError, asyncio.IncompleteReadError):
        return
    finally:
        for w in (uw, cw):
            if w is not None:
                w.close()


async def listen(args):
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
    loop.add_signal_handler(signal.SIGINT, stop.set_result, None)
    server = await asyncio.start_server(serve, args.host, args.port, limit=65537, backlog=4096,
                                        reuse_address=True)
    print("count_proxy listening on %s:%d" % server.sockets[0].getsockname()[:2], flush=True)
    delayed = []
    for ms in args.delay_ms:
        d = await asyncio.start_server(functools.partial(serve, delay=ms / 1000.0), args.host, 0, limit=65537,
                                       backlog=4096, reuse_address=True)
        delayed.append(d)
        host, port = d.sockets[0].getsockname()[:2]
        print("count_proxy delayed +%g ms each way on %s:%d" % (ms, host, port), flush=True)
    await stop
    for d in [server] + delayed:
        d.close()


def main():
    global UPSTREAM
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--upstream-host", default="127.0.0.1")
    ap.add_argument("--upstream-port", type=int, required=True)
    ap.add_argument("--delay-ms", type=float, action="append", default=[],
                    help="a further listener that adds this delay each way (repeatable)")
    args = ap.parse_args()
    if args.host not in ("127.0.0.1", "localhost") or args.upstream_host not in ("127.0.0.1", "localhost"):
        sys.exit("count_proxy: loopback only")
    UPSTREAM = (args.upstream_host, args.upstream_port)
    # two sockets per connection: a thousand calls in flight need more than the usual 1024 descriptors
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(listen(args))

if __name__ == "__main__":
    main()
