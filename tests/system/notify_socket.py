"""Playing systemd's side of sd_notify(3) in a system test: a unix datagram socket whose path goes into the
service's NOTIFY_SOCKET, and a thread that records every datagram with its arrival time.

    ns = NotifySocket()
    env = dict(env, NOTIFY_SOCKET=ns.path)           # start the service with it
    i, msg = ns.wait_for(lambda m: m.has("READY"), timeout=10)
    msg.get("STATUS"), msg.t (time.monotonic() at arrival), ns.messages(since=i)
    ns.close()

Each datagram is newline-separated KEY=VALUE lines (sd_notify(3)); a Message keeps them in order.
"""
import os
import shutil
import socket
import tempfile
import threading
import time


class Message:
    def __init__(self, t, raw):
        self.t = t
        self.raw = raw
        self.text = raw.decode("utf-8", "replace")
        self.fields = []
        for line in self.text.split("\n"):
            if line:
                k, _, v = line.partition("=")
                self.fields.append((k, v))

    def get(self, key, default=None):
        for k, v in self.fields:
            if k == key:
                return v
        return default

    def has(self, key, value=None):
        return any(k == key and (value is None or v == value) for k, v in self.fields)

    def __repr__(self):
        return "Message(t=%.3f, %r)" % (self.t, self.text)


class NotifySocket:
    def __init__(self):
        # sun_path holds 108 bytes: keep the path short whatever TMPDIR is.
        base = "/tmp" if os.path.isdir("/tmp") else None
        self._dir = tempfile.mkdtemp(prefix="wdn-", dir=base)
        self.path = os.path.join(self._dir, "notify")
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(self.path)
        self._sock.settimeout(0.1)
        self._msgs = []
        self._cond = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="notify-socket", daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop:
            try:
                data = self._sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            msg = Message(time.monotonic(), data)
            with self._cond:
                self._msgs.append(msg)
                self._cond.notify_all()

    def messages(self, since=0):
        with self._cond:
            return list(self._msgs[since:])

    def count(self):
        with self._cond:
            return len(self._msgs)

    def wait_for(self, pred, timeout, since=0):
        """Waits for the first message from index `since` on that satisfies pred. Returns (index, Message)
        or (None, None) after timeout seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            i = since
            while True:
                while i < len(self._msgs):
                    if pred(self._msgs[i]):
                        return i, self._msgs[i]
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0:
                    return None, None
                self._cond.wait(left)

    def close(self):
        self._stop = True
        self._thread.join(timeout=2)
        self._sock.close()
        shutil.rmtree(self._dir, ignore_errors=True)
