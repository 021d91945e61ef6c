#!/usr/bin/env python3
"""condproxy.py: a test-only HTTP proxy in front of s3rver that enforces S3's conditional writes.

It exists because s3rver ignores If-Match and If-None-Match on PUT and DELETE (../../../shared/STANDINS.md):
against s3rver alone a fenced S3 store (SPEC 9) would pass every test whether its conditions were right,
wrong or missing. Ceph RGW enforces the PUT conditions itself (not If-Match on DELETE, in 16.2); tests that
run there use this proxy only for its hook (enforce=False).

What it enforces, as the S3 user guide documents it ("How to prevent object overwrites with conditional
writes", "How to perform conditional deletes"), for a PutObject (not a CopyObject) or DeleteObject that
carries the header:

  If-Match: E       the object must exist with ETag E (compared without quotes, as S3 does; "*" = any):
                    absent -> 404 NoSuchKey, another ETag -> 412 PreconditionFailed
  If-None-Match: *  no object may exist: present -> 412 PreconditionFailed (PUT only)

The current ETag comes from a HEAD of the object sent to s3rver (unsigned: s3rver allows that), and the
check and the write are one step for the test: conditional writes of one key are serialised by a lock held
from the HEAD until the forwarded write is answered. Writes that go to s3rver without the proxy (the
test's own boto3 client) are not serialised, and need not be: the tests make them from the hook below,
between a read and the write that should then fail.

A refused write is answered as S3 does (XML error, x-amz-request-id) and never reaches s3rver. Every
other request is relayed by FaultProxy (faultproxy.py), whose machinery this reuses (with no faults).

after_read(method, bucket, key), when given, runs after s3rver answered a GET or HEAD of an object and
before the answer is relayed: a "second leader" that changes the object between this client's read and
its write. Counters (snapshot()): cond_checked, cond_passed, cond_refused_412, cond_refused_404, and
after_read calls.

    with CondProxy("http://127.0.0.1:4567", after_read=hook) as cp:
        ... point the client's S3 endpoint at cp.endpoint ...
"""
import http.client
import os
import sys
import threading
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faultproxy  # noqa: E402


def _bare(etag):
    etag = etag.strip()
    if etag.startswith("W/"):
        etag = etag[2:]
    return etag[1:-1] if len(etag) >= 2 and etag[0] == etag[-1] == '"' else etag


class CondProxy(faultproxy.FaultProxy):
    def __init__(self, upstream, enforce=True, after_read=None, name="condproxy", **kw):
        super().__init__(upstream, p=0.0, service="s3", name=name, **kw)
        self.enforce, self.after_read = enforce, after_read
        self._key_locks, self._key_locks_guard = {}, threading.Lock()
        with self.lock:
            self.counters.update({"cond_checked": 0, "cond_passed": 0, "cond_refused_412": 0,
                                  "cond_refused_404": 0, "after_read": 0})

    def _count(self, name):
        with self.lock:
            self.counters[name] = self.counters.get(name, 0) + 1

    def _key_lock(self, path):
        with self._key_locks_guard:
            return self._key_locks.setdefault(path, threading.Lock())

    def _current_etag(self, path):
        """The object's ETag at path (as sent, URL-encoded), or None when there is none (404)."""
        conn = http.client.HTTPConnection(*self.upstream, timeout=30)
        try:
            conn.request("HEAD", path)
            r = conn.getresponse()
            r.read()
            if r.status == 404:
                return None
            if r.status != 200:
                raise RuntimeError("condproxy: HEAD %s answered %d" % (path, r.status))
            return r.getheader("ETag") or ""
        finally:
            conn.close()

    def _refusal(self, status, code, message, condition):
        rid = uuid.uuid4().hex[:16].upper()
        body = (faultproxy.S3_XML % (code, message, "<Condition>%s</Condition>" % condition if condition else "",
                                     rid, rid)).encode()
        reason = {404: "Not Found", 412: "Precondition Failed"}[status]
        return self._response(status, reason, body, "application/xml")

    def _verdict(self, method, req, path):
        """None when the write may go on, else the refusal to answer it with."""
        if_match, if_none_match = req.header("If-Match"), req.header("If-None-Match")
        current = self._current_etag(path)
        if if_match is not None:
            wanted = {_bare(e) for e in if_match.split(",")}
            if current is None:
                self._count("cond_refused_404")
                return self._refusal(404, "NoSuchKey", "The specified key does not exist.", "")
            if "*" not in wanted and _bare(current) not in wanted:
                self._count("cond_refused_412")
                return self._refusal(412, "PreconditionFailed",
                                     "At least one of the pre-conditions you specified did not hold", "If-Match")
        if if_none_match is not None and method == "PUT" and if_none_match.strip() == "*" and current is not None:
            self._count("cond_refused_412")
            return self._refusal(412, "PreconditionFailed",
                                 "At least one of the pre-conditions you specified did not hold", "If-None-Match")
        return None

    def _handle(self, conn, reader, req, up):
        method, target = req.start.split(" ")[:2]
        path = target.split("?")[0]
        is_object = path.count("/") >= 2 and not path.endswith("/")
        conditional = (method in ("PUT", "DELETE") and is_object and not req.header("x-amz-copy-source") and
                       (req.header("If-Match") is not None or req.header("If-None-Match") is not None))
        if self.enforce and conditional:
            with self._key_lock(path):
                self._count("cond_checked")
                refusal = self._verdict(method, req, path)
                if refusal is not None:
                    return self._send(conn, refusal)
                self._count("cond_passed")
                return super()._handle(conn, reader, req, up)
        if self.after_read is not None and method in ("GET", "HEAD") and is_object and "?" not in target:
            return self._relay_then_hook(conn, req, method, path, up)
        return super()._handle(conn, reader, req, up)

    def _relay_then_hook(self, conn, req, method, path, up):
        """Forwards a read, runs after_read once s3rver has answered it, then relays the answer."""
        try:
            resp = self._forward(req, method, up)
        except (faultproxy._Closed, OSError, ValueError, IndexError):
            faultproxy._close(up[0])
            up[0] = up[1] = None
            faultproxy._rst(conn)
            return False
        _, bucket, key = path.split("/", 2)
        self._count("after_read")
        self.after_read(method, urllib.parse.unquote(bucket), urllib.parse.unquote(key))
        if resp.until_close:
            faultproxy._close(up[0])
            up[0] = up[1] = None
        if not self._send(conn, resp.interim + resp.head + resp.body):
            return False
        return not resp.until_close and (resp.header("Connection") or "").lower() != "close"
