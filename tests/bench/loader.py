#!/usr/bin/env python3
"""loader.py: the benchmark's parallel request loader, the same objects gen_requests.py writes, fast.

gen_requests.py (../shared/baseline) PUTs through one boto3 client from 16 threads of one process: about
3 ms of Python per PUT under one GIL, so 100,000 requests took ~6 minutes. Here the requests are made
by the same generate() with the same seed, keys "%010d" and bodies json.dumps(request) with Content-Type
application/json, byte for byte what gen_requests.py uploads; they are PUT by --procs processes with
--threads keep-alive connections each, signed with a small SigV4 signer (the signing key derived once),
about a tenth of botocore's cost per PUT, so s3rver's own CPU is what bounds the load (it spends ~1.8 ms
per PUT: ~550 PUT/s on this machine, 3 minutes for 100,000).

With --files-dir (s3rver's directory of the bucket, DIR/s3data/BUCKET) the objects are written as the
files s3rver's filesystem store keeps (@20minutes/s3rver 5.0.0, lib/stores/filesystem.js: KEY._S3rver_
object, KEY._S3rver_object.md5, KEY._S3rver_metadata.json), with no HTTP at all: 100,000 requests in
seconds. For a large backlog whose drain, not its load, is measured. The bucket must exist (made through
the API); s3rver reads these files on every LIST and GET, so the consumer sees exactly what a PUT leaves.

Usage: loader.py --endpoint-url URL --bucket B -n N [--seed 1] [--procs 2] [--threads 8] [--files-dir D]
Prints "loaded N requests into B in S s (R PUT/s)" on stderr; exits 1 when a PUT fails (after retries).
Python standard library plus ../shared/baseline/gen_requests.py.
"""
import argparse
import datetime
import hashlib
import hmac
import http.client
import json
import multiprocessing
import os
import sys
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SHARED = os.environ.get("WD_SHARED_DIR") or os.path.join(os.path.dirname(ROOT), "shared")
sys.path.insert(0, os.path.join(SHARED, "baseline"))

REGION = "us-east-1"
KEY_ID = os.environ.get("AWS_ACCESS_KEY_ID", "S3RVER")
SECRET = os.environ.get("AWS_SECRET_ACCESS_KEY", "S3RVER")


def signing_key(day):
    k = ("AWS4" + SECRET).encode()
    for part in (day, REGION, "s3", "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


class Putter:
    """One keep-alive connection that PUTs signed objects."""

    def __init__(self, url):
        self.u = urllib.parse.urlsplit(url)
        self.host = self.u.netloc
        self.conn = None
        self.day = None

    def put(self, bucket, key, body):
        now = datetime.datetime.now(datetime.timezone.utc)
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        day = amz_date[:8]
        if day != self.day:
            self.day, self.key = day, signing_key(day)
        path = "/%s/%s" % (urllib.parse.quote(bucket, safe=""), urllib.parse.quote(key, safe="/~"))
        payload = hashlib.sha256(body).hexdigest()
        headers = {"content-type": "application/json", "host": self.host, "x-amz-content-sha256": payload,
                   "x-amz-date": amz_date}
        names = sorted(headers)
        canonical = "\n".join(["PUT", path, ""] + ["%s:%s" % (n, headers[n]) for n in names]
                              + ["", ";".join(names), payload])
        scope = "%s/%s/s3/aws4_request" % (day, REGION)
        to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
        sig = hmac.new(self.key, to_sign.encode(), hashlib.sha256).hexdigest()
        headers["authorization"] = "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
            KEY_ID, scope, ";".join(names), sig)
        headers["content-length"] = str(len(body))
        for attempt in range(5):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(self.u.hostname, self.u.port, timeout=60)
                self.conn.request("PUT", path, body=body, headers=headers)
                r = self.conn.getresponse()
                data = r.read()
                if r.status == 200:
                    return
                err = "HTTP %d: %s" % (r.status, data[:300])
                if r.status < 500:
                    raise RuntimeError("PUT %s: %s" % (path, err))
            except (OSError, http.client.HTTPException) as e:
                err = str(e)
                self.conn.close()
                self.conn = None
            time.sleep(0.05 * 2 ** attempt)
        raise RuntimeError("PUT %s failed 5 times: %s" % (path, err))


def write_files(d, key, body):
    """One object as s3rver's filesystem store writes it (putContent, then putMetadata)."""
    base = os.path.join(d, key)
    with open(base + "._S3rver_object", "wb") as f:
        f.write(body)
    with open(base + "._S3rver_object.md5", "w") as f:
        f.write(hashlib.md5(body).hexdigest())
    with open(base + "._S3rver_metadata.json", "w") as f:
        f.write(json.dumps({"content-type": "application/json"}, indent=2))


def work(args, part, nparts):
    """Process `part` of `nparts`: every nparts-th request from part, over args.threads connections."""
    import gen_requests
    reqs, _ = gen_requests.generate(args.n, args.seed)
    mine = list(range(part, args.n, nparts))
    failed = []
    lock = threading.Lock()

    def run(sub):
        p = Putter(args.endpoint_url)
        try:
            for i in mine[sub::args.threads]:
                body = json.dumps(reqs[i]).encode("utf-8")
                if args.files_dir:
                    write_files(args.files_dir, "%010d" % i, body)
                else:
                    p.put(args.bucket, "%010d" % i, body)
        except Exception as e:   # noqa: BLE001 (reported, the exit code says it failed)
            with lock:
                failed.append(str(e))
    ts = [threading.Thread(target=run, args=(s,)) for s in range(args.threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if failed:
        print("loader: %s" % failed[0], file=sys.stderr, flush=True)
        os._exit(1)
    os._exit(0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--endpoint-url", required=True)
    ap.add_argument("--bucket", required=True)
    ap.add_argument("-n", type=int, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--files-dir", help="write s3rver's files for the bucket here instead of PUTs")
    args = ap.parse_args()
    if args.files_dir and not os.path.isdir(args.files_dir):
        sys.exit("loader: %s: no such directory (create the bucket first)" % args.files_dir)
    t0 = time.monotonic()
    ctx = multiprocessing.get_context("fork")
    ps = [ctx.Process(target=work, args=(args, i, args.procs)) for i in range(args.procs)]
    for p in ps:
        p.start()
    rc = 0
    for p in ps:
        p.join()
        rc = rc or p.exitcode
    dt = time.monotonic() - t0
    if rc:
        sys.exit("loader: a worker failed (exit %s)" % rc)
    print("loaded %d requests into %s in %.2f s (%.0f %s/s)" % (args.n, args.bucket, dt, args.n / dt,
                                                              "objects" if args.files_dir else "PUT"),
          file=sys.stderr)


if __name__ == "__main__":
    main()
