#!/usr/bin/env python3
"""standins_util.py: small helpers for scripts/standins (Python standard library + botocore).

Usage:
  standins_util.py free-ports N
      Print N distinct free TCP ports on 127.0.0.1, one a line (binds port 0 N times at once).
  standins_util.py wait-http URL TIMEOUT PID [PID...]
      Wait until an HTTP GET of URL gets any HTTP response. Exit 1 on timeout, 3 if a PID died.
  standins_util.py wait-ddb URL TIMEOUT PID [PID...]
      Wait until a SigV4-signed DynamoDB ListTables POST to URL answers 200 (credentials from
      AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, default S3RVER). Exit 1 on timeout, 3 if a PID died.
  standins_util.py port-free PORT
      Exit 0 if 127.0.0.1:PORT can be bound now, 1 if not.
Only loopback addresses are accepted as URLs.
"""

import http.client
import json
import os
import socket
import sys
import time
import urllib.parse


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return False


def loopback(url):
    u = urllib.parse.urlsplit(url)
    if u.hostname not in ("127.0.0.1", "localhost", "::1"):
        sys.exit(f"standins_util: refusing non-loopback URL {url}")
    return u


def free_ports(n):
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        for s in socks:
            print(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()


def port_free(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", port))
        return 0
    except OSError:
        return 1
    finally:
        s.close()


def try_get(u):
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=2)
    try:
        conn.request("GET", u.path or "/")
        resp = conn.getresponse()
        resp.read()
        return True, resp.status
    finally:
        conn.close()


def try_list_tables(url):
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    u = urllib.parse.urlsplit(url)
    body = b"{}"
    req = AWSRequest(method="POST", url=url.rstrip("/") + "/", data=body, headers={
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": "DynamoDB_20120810.ListTables",
    })
    creds = Credentials(os.environ.get("AWS_ACCESS_KEY_ID", "S3RVER"),
                        os.environ.get("AWS_SECRET_ACCESS_KEY", "S3RVER"))
    SigV4Auth(creds, "dynamodb", "us-east-1").add_auth(req)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=5)
    try:
        conn.request("POST", "/", body=body, headers=dict(req.headers.items()))
        resp = conn.getresponse()
        data = resp.read()
        if resp.status == 200:
            json.loads(data)
            return True, 200
        return False, f"{resp.status} {data[:300]!r}"
    finally:
        conn.close()


def wait(check, url, timeout, pids):
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while True:
        for pid in pids:
            if not pid_alive(pid):
                print(f"process {pid} exited; last: {last}", file=sys.stderr)
                return 3
        try:
            ok, detail = check(url)
            if ok:
                return 0
            last = str(detail)
        except (OSError, http.client.HTTPException) as e:
            last = f"{e.__class__.__name__}: {e}"
        if time.monotonic() > deadline:
            print(f"no answer from {url} within {timeout} s; last: {last}", file=sys.stderr)
            return 1
        time.sleep(0.1)


def main(argv):
    if len(argv) >= 2 and argv[0] == "free-ports":
        free_ports(int(argv[1]))
        return 0
    if len(argv) == 2 and argv[0] == "port-free":
        return port_free(int(argv[1]))
    if len(argv) >= 3 and argv[0] == "wait-http":
        u = loopback(argv[1])
        return wait(lambda _url: try_get(u), argv[1], float(argv[2]), [int(p) for p in argv[3:]])
    if len(argv) >= 3 and argv[0] == "wait-ddb":
        loopback(argv[1])
        return wait(try_list_tables, argv[1], float(argv[2]), [int(p) for p in argv[3:]])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
