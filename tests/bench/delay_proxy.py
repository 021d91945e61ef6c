#!/usr/bin/env python3
"""delay_proxy.py: a loopback TCP forwarder that adds a fixed delay to each direction, a stand-in for the
round trip to a real AWS region.

Each accepted connection gets its own upstream connection. Every chunk read from one side is delivered
to the other side --delay-ms after it was read (a pure added latency: chunks in flight overlap, so the
bandwidth is not limited, and order is kept). With --delay-ms 20 a request/response exchange takes at
least 40 ms more than without the proxy. EOF is passed on (half-close) after the same delay. A new
connection waits one round trip (2 x delay) before its first byte is forwarded: the TCP handshake (real
AWS adds TLS round trips on top; both consumers keep connections alive, so this matters little).

One thread, one asyncio event loop: a connection costs two sockets and a few small objects, not threads,
so a thousand calls in flight at 100 ms each way cost the proxy about what ten do (the thread-per-
direction version it replaces spent most of its CPU handing chunks between threads, and with hundreds
of connections became the bottleneck it was meant to measure). Each direction keeps a queue of (due,
chunk) and at most one timer, for its oldest chunk; that keeps the order without relying on the timer
heap's order for equal due times. A destination that stops reading pauses the source (flow control).

Usage: delay_proxy.py --port 0 --upstream-port N --delay-ms 20 [--upstream-host 127.0.0.1]
Prints "delay_proxy listening on 127.0.0.1:PORT" once bound. On SIGTERM it prints its own rusage line
("delay_proxy rusage: user U sys S connections C") to stderr. Python standard library only.
"""
import argparse
import asyncio
import collections
import resource
import signal
import socket
import sys

UPSTREAM = ("127.0.0.1", 0)
DELAY = 0.0
STATS = {"connections": 0, "open": 0, "peak_open": 0}


class Direction:
    """Chunks read from one side, each written to the other side at its read time + DELAY. None in the
    queue is the EOF (half-close), False the end of the connection (close after what came before)."""

    def __init__(self, loop):
        self.loop = loop
        self.q = collections.deque()
        self.timer = None
        self.dst = None        # the destination's transport, once connected

    def push(self, item):
        self.q.append((self.loop.time() + DELAY, item))
        if self.timer is None and self.dst is not None:
            self.timer = self.loop.call_at(self.q[0][0], self.flush)

    def attach(self, transport):
        self.dst = transport
        if self.q and self.timer is None:
            self.timer = self.loop.call_at(self.q[0][0], self.flush)

    def flush(self):
        self.timer = None
        now = self.loop.time()
        dst = self.dst
        while self.q and self.q[0][0] <= now:
            _, item = self.q.popleft()
            if dst.is_closing():
                self.q.clear()
                return
            if item is None:
                if dst.can_write_eof():
                    dst.write_eof()
            elif item is False:
                dst.close()
                self.q.clear()
                return
            else:
                dst.write(item)
        if self.q:
            self.timer = self.loop.call_at(self.q[0][0], self.flush)

    def cancel(self):
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.q.clear()


class Side(asyncio.Protocol):
    """One socket of a pair: what it reads goes into `out` (towards the peer)."""

    def __init__(self, out, name):
        self.out = out
        self.peer = None       # the other Side
        self.transport = None
        self.name = name
        self.eof = False

    def connection_made(self, transport):
        self.transport = transport
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data):
        self.out.push(data)

    def eof_received(self):
        self.eof = True
        self.out.push(None)
        return True            # keep the transport: the other direction may still carry data

    def connection_lost(self, exc):
        # the peer is closed after what is still queued towards it has been delivered
        self.out.push(False)
        if self.peer is None or self.peer.transport is None:
            self.out.cancel()

    # flow control: when this side's write buffer is full, stop reading from the peer
    def pause_writing(self):
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self):
        if self.peer is not None and self.peer.transport is not None and not self.peer.transport.is_closing():
            self.peer.transport.resume_reading()


class Client(Side):
    def connection_made(self, transport):
        super().connection_made(transport)
        STATS["connections"] += 1
        STATS["open"] += 1
        STATS["peak_open"] = max(STATS["peak_open"], STATS["open"])
        transport.pause_reading()   # nothing is read before the upstream connection stands
        loop = asyncio.get_running_loop()
        self.up_dir = Direction(loop)      # client -> upstream
        self.down_dir = Direction(loop)    # upstream -> client
        self.out = self.up_dir
        self.down_dir.attach(transport)
        loop.create_task(self.connect())

    async def connect(self):
        loop = asyncio.get_running_loop()
        await asyncio.sleep(2 * DELAY)   # a new connection costs one round trip more (the TCP handshake)
        if self.transport.is_closing():
            return
        try:
            up_t, up = await loop.create_connection(lambda: Side(self.down_dir, "upstream"), *UPSTREAM)
        except OSError as e:
            print("delay_proxy: upstream %s:%d: %s" % (UPSTREAM + (e,)), file=sys.stderr, flush=True)
            self.transport.close()
            return
        up.peer, self.peer = self, up
        self.up_dir.attach(up_t)
        if self.transport.is_closing():
            up_t.close()
            return
        self.transport.resume_reading()

    def connection_lost(self, exc):
        STATS["open"] -= 1
        super().connection_lost(exc)


def rusage_line():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return "delay_proxy rusage: user %.3f sys %.3f connections %d peak_open %d" % (
        ru.ru_utime, ru.ru_stime, STATS["connections"], STATS["peak_open"])


async def serve(args):
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
    loop.add_signal_handler(signal.SIGINT, stop.set_result, None)
    server = await loop.create_server(lambda: Client(None, "client"), args.host, args.port, backlog=4096,
                                      reuse_address=True)
    host, port = server.sockets[0].getsockname()[:2]
    print("delay_proxy listening on %s:%d (+%g ms each way)" % (host, port, args.delay_ms), flush=True)
    await stop
    server.close()
    print(rusage_line(), file=sys.stderr, flush=True)


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
    # two sockets per connection: a thousand calls in flight need more than the usual 1024 descriptors
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
