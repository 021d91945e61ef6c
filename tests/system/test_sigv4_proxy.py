#!/usr/bin/env python3
"""test_sigv4_proxy.py: proves the DynamoDB signature-checking proxy accepts good and refuses bad SigV4.

DynamoDB Local verifies no signature, so the system tests rely on tests/system/standins/sigv4_proxy.py
to catch a wrong DynamoDB signature. This test checks that safety net itself:
  - a ListTables signed correctly by botocore through the proxy   -> 200
  - the same signed with a wrong secret                            -> 400 InvalidSignatureException
  - a correctly signed request whose body was changed afterwards   -> 400 InvalidSignatureException
  - a request without Authorization                                -> 400 MissingAuthenticationToken
  - each refusal adds a line to the proxy's rejection log
  - two calls on one kept-alive connection are both answered; a malformed request is answered 400 and the
    proxy goes on answering
  - a delayed listener (GET /__proxy/listen?delay_ms=100, scripts/bench's latency mode): a call on a new
    connection takes at least the two round trips it adds (handshake, then the call), is counted, and a
    bad signature is refused there too
  - every stand-in listens on 127.0.0.1 only (ss)

Usage (ctest runs it): python3 tests/system/test_sigv4_proxy.py --widgetd PATH --source-dir DIR
--widgetd is accepted and ignored. When WD_STANDINS_ENV names a stand-ins env file (scripts/test
sets it), those stand-ins are used; otherwise the test starts its own with
`scripts/standins start --auto-ports --dir TMP` and stops them at the end.
Prints one line per check and "N passed, N failed"; exits 1 if any check failed.
"""

import argparse
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

import boto3
import botocore.exceptions
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials


def read_env(path):
    env = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                k, v = line.split("=", 1)
                env[k] = v
    return env


def loopback_endpoint(url):
    host = urllib.parse.urlsplit(url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"refusing non-loopback endpoint {url}")
    return url


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print(f"PASS {name}")
        else:
            self.failed += 1
            print(f"FAIL {name}: {detail}")
        sys.stdout.flush()


def list_tables_headers(endpoint, body, secret="S3RVER"):
    """The headers of a ListTables call with body, signed by botocore."""
    req = AWSRequest(method="POST", url=endpoint.rstrip("/") + "/", data=body,
                     headers={"Content-Type": "application/x-amz-json-1.0",
                              "X-Amz-Target": "DynamoDB_20120810.ListTables"})
    SigV4Auth(Credentials("S3RVER", secret), "dynamodb", "us-east-1").add_auth(req)
    return dict(req.headers.items())


def signed_raw(endpoint, body, sign_body=None, secret="S3RVER", drop_auth=False):
    """Sign (sign_body or body) with botocore, send body; return (status, parsed JSON or raw)."""
    u = urllib.parse.urlsplit(endpoint)
    headers = list_tables_headers(endpoint, body if sign_body is None else sign_body, secret)
    if drop_auth:
        del headers["Authorization"]
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        conn.request("POST", "/", body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()
    try:
        return resp.status, json.loads(data)
    except ValueError:
        return resp.status, data


def line_count(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0


def listening_addresses(port):
    """Local addresses listening on TCP port (via ss), or None when ss is unavailable."""
    if shutil.which("ss") is None:
        return None
    out = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True).stdout
    addrs = []
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 4:
            addrs.append(fields[3].rsplit(":", 1)[0])
    return addrs


def run_checks(env, c):
    proxy = loopback_endpoint(env["WD_DDB_PROXY_ENDPOINT"])
    rejections = env.get("WD_PROXY_REJECTIONS",
                         os.path.join(env["WD_STANDINS_DIR"], "proxy-rejections.log"))
    cfg = Config(retries={"max_attempts": 1}, connect_timeout=10, read_timeout=30)

    good = boto3.client("dynamodb", endpoint_url=proxy, region_name="us-east-1",
                        aws_access_key_id="S3RVER", aws_secret_access_key="S3RVER", config=cfg)
    try:
        r = good.list_tables()
        c.check("boto3 ListTables signed correctly -> 200",
                r["ResponseMetadata"]["HTTPStatusCode"] == 200 and "TableNames" in r, r)
    except Exception as e:  # noqa: BLE001 (report any failure as a failed check)
        c.check("boto3 ListTables signed correctly -> 200", False, repr(e))

    before = line_count(rejections)
    bad = boto3.client("dynamodb", endpoint_url=proxy, region_name="us-east-1",
                       aws_access_key_id="S3RVER", aws_secret_access_key="NOT-THE-SECRET",
                       config=cfg)
    try:
        bad.list_tables()
        c.check("boto3 ListTables with a wrong secret -> 400 InvalidSignatureException", False,
                "the proxy accepted it")
    except botocore.exceptions.ClientError as e:
        status = e.response["ResponseMetadata"]["HTTPStatusCode"]
        code = e.response["Error"].get("Code")
        c.check("boto3 ListTables with a wrong secret -> 400 InvalidSignatureException",
                status == 400 and code == "InvalidSignatureException", f"{status} {code}")
    c.check("the wrong-secret refusal is in proxy-rejections.log", line_count(rejections) > before,
            f"{rejections} did not grow")

    status, data = signed_raw(proxy, b"{}")
    c.check("hand-signed ListTables -> 200", status == 200, f"{status} {data!r}")

    before = line_count(rejections)
    status, data = signed_raw(proxy, b'{"Limit": 1}', sign_body=b"{}")
    c.check("tampered body -> 400 InvalidSignatureException",
            status == 400 and isinstance(data, dict)
            and data.get("__type") == "com.amazon.coral.service#InvalidSignatureException",
            f"{status} {data!r}")
    c.check("the tampered-body refusal is in proxy-rejections.log", line_count(rejections) > before,
            f"{rejections} did not grow")

    status, data = signed_raw(proxy, b"{}", drop_auth=True)
    c.check("no Authorization -> 400 MissingAuthenticationTokenException",
            status == 400 and isinstance(data, dict)
            and data.get("__type", "").endswith("#MissingAuthenticationTokenException"),
            f"{status} {data!r}")

    # keep-alive: two signed calls on one connection, both answered (the proxy reads one message at a time).
    # http.client reopens a connection the server closed without a word, so the local port tells.
    u = urllib.parse.urlsplit(proxy)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        answers = []
        for _ in range(2):
            try:
                conn.request("POST", "/", body=b"{}", headers=list_tables_headers(proxy, b"{}"))
                resp = conn.getresponse()
                resp.read()
                answers.append((resp.status, conn.sock.getsockname()[1] if conn.sock else None))
            except (OSError, http.client.HTTPException) as e:  # the proxy closed the connection
                answers.append((repr(e), None))
        c.check("two calls on one kept-alive connection -> 200, 200 on the same connection",
                [a[0] for a in answers] == [200, 200] and answers[0][1] is not None
                and answers[0][1] == answers[1][1], answers)
    finally:
        conn.close()

    # a malformed message is answered 400 and does not stop the proxy
    with socket.create_connection((u.hostname, u.port), timeout=30) as s:
        s.sendall(b"NOT A REQUEST\r\nbad header line\r\n\r\n")
        answer = s.recv(4096)
    c.check("a malformed request -> 400", answer.startswith(b"HTTP/1.1 400 "), answer[:80])
    status, data = signed_raw(proxy, b"{}")
    c.check("... and the next call is still answered 200", status == 200, f"{status} {data!r}")

    def control(path):
        u = urllib.parse.urlsplit(proxy)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        try:
            conn.request("GET", path)
            return json.loads(conn.getresponse().read())
        finally:
            conn.close()

    port = control("/__proxy/listen?delay_ms=100")["port"]
    delayed = f"http://127.0.0.1:{port}"
    c.check("the same delayed listener for the same delay",
            control("/__proxy/listen?delay_ms=100")["port"] == port, "a second listener")
    before = control("/__proxy/counts")["by_target"].get("DynamoDB_20120810.ListTables", 0)
    t0 = time.monotonic()
    status, data = signed_raw(delayed, b"{}")
    elapsed = time.monotonic() - t0
    c.check("ListTables on the delayed listener (+100 ms each way) -> 200", status == 200, f"{status} {data!r}")
    c.check("... took at least 0.4 s on a new connection (a round trip to connect, one for the call)",
            elapsed >= 0.4, f"{elapsed:.3f} s")
    after = control("/__proxy/counts")["by_target"].get("DynamoDB_20120810.ListTables", 0)
    c.check("... and was counted", after == before + 1, f"ListTables {before} -> {after}")
    status, data = signed_raw(delayed, b'{"Limit": 1}', sign_body=b"{}")
    c.check("tampered body on the delayed listener -> 400",
            status == 400 and isinstance(data, dict) and data.get("__type", "").endswith("#InvalidSignatureException"),
            f"{status} {data!r}")
    addrs = listening_addresses(port)
    if addrs is not None:
        c.check(f"the delayed listener (port {port}) listens on 127.0.0.1 only",
                addrs and all(a in ("127.0.0.1", "[::ffff:127.0.0.1]") for a in addrs), f"listening on {addrs}")

    for key in ("WD_S3_ENDPOINT", "WD_DDB_ENDPOINT", "WD_DDB_PROXY_ENDPOINT"):
        port = urllib.parse.urlsplit(env[key]).port
        addrs = listening_addresses(port)
        if addrs is None:
            print(f"SKIP {key} bound to 127.0.0.1 only (no ss)")
            continue
        c.check(f"{key} (port {port}) listens on 127.0.0.1 only",
                addrs and all(a in ("127.0.0.1", "[::ffff:127.0.0.1]") for a in addrs),
                f"listening on {addrs}")


def main():
    ap = argparse.ArgumentParser(description="check the DynamoDB SigV4 proxy stand-in")
    ap.add_argument("--widgetd", help="ignored")
    ap.add_argument("--source-dir", default=os.path.join(os.path.dirname(__file__), "..", ".."))
    a = ap.parse_args()
    source = os.path.abspath(a.source_dir)
    standins = os.path.join(source, "scripts", "standins")

    own_dir = None
    env_path = os.environ.get("WD_STANDINS_ENV")
    if env_path:
        if not os.path.isfile(env_path):
            print(f"WD_STANDINS_ENV={env_path} does not exist: are the stand-ins running?")
            return 1
        print(f"using the running stand-ins of {env_path}")
    else:
        own_dir = tempfile.mkdtemp(prefix="wd-sigv4-")
        print(f"starting stand-ins in {own_dir}")
        r = subprocess.run(["bash", standins, "start", "--auto-ports", "--dir", own_dir],
                           stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            print("cannot start the stand-ins")
            print("0 passed, 1 failed")
            return 1
        env_path = os.path.join(own_dir, "env")

    c = Checks()
    try:
        run_checks(read_env(env_path), c)
    finally:
        if own_dir:
            subprocess.run(["bash", standins, "stop", "--dir", own_dir], stdin=subprocess.DEVNULL)
            shutil.rmtree(own_dir, ignore_errors=True)
    print(f"{c.passed} passed, {c.failed} failed")
    return 1 if c.failed or c.passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
