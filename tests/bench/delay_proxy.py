#!/usr/bin/env python3
"""delay_proxy.py: a loopback TCP forwarder that adds a fixed delay to each direction, a stand-in for the
round trip to a real AWS region.

Each accepted connection gets its own upstream connection. Every chunk read from one side is delivered
to the other side --delay-ms after it was read (a pure added latency: chunks in flight overlap, so the
bandwidth is not limited, and order is kept). With --delay-ms 20 a request/response exchange takes at
least 40 ms more than without the proxy. EOF is passed on (half-close) after the same delay. A new
connection waits one round trip (2 x delay) before its first byte is forwarded: the TCP handshake (real
AWS adds TLS round trips on top; both consumers keep connections alive, so this matters little).

Usage: delay_proxy.py --port 0 --upstream-port N --delay-ms 20 [--upstream-host 127.0.0.1]
Prints "delay_proxy listening on 127.0.0.1:PORT" once bound. Python standard library only.
"""
import argparse
import collections
import signal
import socket
import sys
import threading
import time

UPSTREAM = ("127.0.0.1", 0)
DELAY = 0.0


class Pipe:
    """One direction: a reader thread stamps chunks, a writer thread delivers each at stamp + DELAY."""

    def __init__(self, src, dst, done):
        self.src, self.dst, self.done = src, dst, done
        self.q = collections.deque()
        self.cv = threading.Condition()
        threading.Thread(target=self.reader, daemon=True).start()
        threading.Thread(target=self.writer, daemon=True).start()

    def reader(self):
        while True:
            try:
                data = self.src.recv(65536)
            except OSError:
                data = b""
            with self.cv:
                self.q.append((time.monotonic() + DELAY, data))
                self.cv.notify()
            if not data:
                return

    def writer(self):
        try:
            while True:
                with self.cv:
                    while not self.q:
                        self.cv.wait()
                    due, data = self.q.popleft()
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                if not data:
                    try:
                        self.dst.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    return
                self.dst.sendall(data)
        except OSError:
            # the destination is gone: stop reading too
            for s in (self.src, self.dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        finally:
            self.done()


def handle(client):
    time.sleep(2 * DELAY)   # a new connection costs one round trip more (the TCP handshake)
    try:
        up = socket.create_connection(UPSTREAM)
    except OSError:
        client.close()
        return
    for s in (client, up):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    left = [2]
    lock = threading.Lock()

    def done():
        with lock:
            left[0] -= 1
            last = left[0] == 0
        if last:
            for s in (client, up):
                try:
                    s.close()
                except OSError:
                    pass
    Pipe(client, up, done)
    Pipe(up, client, done)


def main():
    global UPSTREAM, DELAY
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--upstream-host", default="127.0.0.1")
    ap.add_argument("--upstream-port", type=int, required=True)
    ap.add_argument("--delay-ms", type=float, default=20.0, help="added to each direction")
    args = ap.parse_args()
    if args.host not in ("127.0.0.1", "localhost") or args.upstream_host not in ("127.0.0.1", "localhost"):
        sys.exit("delay_proxy: loopback only")
    UPSTREAM = (args.upstream_host, args.upstream_port)
    DELAY = args.delay_ms / 1000.0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((args.host, args.port))
    ls.listen(512)
    print("delay_proxy listening on %s:%d (+%g ms each way)" % (ls.getsockname() + (args.delay_ms,)), flush=True)
    while True:
        c, _ = ls.accept()
        threading.Thread(target=handle, args=(c,), daemon=True).start()


if __name__ == "__main__":
    main()
