#!/usr/bin/env python3
"""System test: request keys that XML 1.0 cannot carry, or that look like escapes (issue 13, item 1).

Each case loads requests whose keys hold control characters (U+0001, U+001F, U+007F), CR, CRLF, LF next to
CR, U+FFFE, U+FFFF, "+", "%", "%41" next to "A", "%2B", TAB, U+2028 and a 1024-byte key of controls, between
ordinary keys, with several requests of each widget interleaved (each update adds an attribute, so a request
skipped or applied out of order shows in the store) and three bad requests with hostile keys; runs widgetd
--once and judges with the oracle: exit 0, the store equals the oracle's, the requests bucket drained and
exactly the bad requests dead-lettered, byte for byte.

Without encoding-type=url such a key makes a whole page unparseable (nothing processed, --once exits 75) or
comes back from the XML as another key (a CR as LF: its GET 404s, it is taken as gone, later requests of its
widget are applied past it and --once exits 0 with it still in the bucket).

On Ceph RGW (the real S3 implementation, where the bug shows) every key is used, for both stores; once with
only the keys XML can carry (the CR ones among them, whose mix-up a U+0001 in the same page would hide); and
once with a hostile key as the 1000th of the bucket, the last of widgetd's first page: RGW writes that page's
NextContinuationToken raw, so XML cannot carry it either.
RGW escapes a CR in a raw listing as "&#x0d;", which survives XML; AWS writes it raw, and the parser turns it
into LF. So the CR keys run once more on RGW behind a proxy that answers a listing without
encoding-type=url as AWS would (a CR raw), and that counts whether widgetd ever sends one.
On s3rver only what it can hold and list: it ignores encoding-type=url and writes control characters,
U+FFFE and U+FFFF raw into its listings (which no XML parser then reads) and lists a CR as LF, and a
1024-byte path segment fails (500). Its case keeps "+", "%", "%41", "%2B", space, TAB, LF, U+007F and U+2028,
which s3rver lists raw: widgetd must then take them as they are, not decode them.
"""
import json
import os
import re
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faultproxy as fx  # noqa: E402
import wdtest  # noqa: E402

OWNER = "Mary Matthews"


def request(kind, widget, n, **fields):
    body = {"type": kind, "requestId": "req-%d" % n, "widgetId": widget, "owner": OWNER}
    body.update(fields)
    return json.dumps(body).encode()


def step(n):
    """An update that adds attribute s<n>: the widget's attributes then list, in order, every update applied."""
    return {"otherAttributes": [{"name": "s%d" % n, "value": "v%d" % n}]}


# Where a key can go: "any" S3 server (s3rver too), "xml": only where keys are listed faithfully but XML
# can carry it (CR: s3rver lists it as LF), "enc": only URL-encoded (XML 1.0 cannot carry it at all).
ANY, XML, ENC = "any", "xml", "enc"
KEY_SETS = {"all": (ANY, XML, ENC), "xml": (ANY, XML), "s3rver": (ANY,)}
# Widgets W1 "w+1%41" and W2 "w 2" are updated all along, W3 is created, updated, deleted. Rows are in key
# (byte) order.
W1, W2, W3 = "w+1%41", "w 2", "w3"
ROWS = [
    ("\x01first", ("create", W1, {"label": "start"}), ENC),
    ("first", ("create", W1, {"label": "start"}), ANY),         # the stand-in for the key above elsewhere
    ("req-0001-ordinary", ("create", W2, {}), ANY),
    ("req-0002-\x01", ("update", W1, step(2)), ENC),
    ("req-0003-\x1f", ("update", W2, step(3)), ENC),
    ("req-0004-\n", ("update", W1, step(41)), ANY),
    ("req-0004-\r", ("update", W1, step(42)), XML),             # read as the LF key above if CR turns to LF
    ("req-0004-\r\n", ("update", W2, step(43)), XML),
    ("req-0005-x", ("create", W3, {"label": "three"}), ANY),
    ("req-0005-\ufffe", ("create", W3, {"label": "three"}), ENC),
    ("req-0006-\uffff", ("update", W3, step(6)), ENC),
    ("req-0007- ", ("update", W2, step(71)), ANY),
    ("req-0007-+", ("update", W1, step(72)), ANY),
    ("req-0008-%", ("update", W1, step(81)), ANY),
    ("req-0008-%41", ("update", W2, step(82)), ANY),           # not "A": a key is never decoded twice
    ("req-0008-A", ("update", W3, step(83)), ANY),
    ("req-0009-%2B", ("update", W1, step(9)), ANY),
    ("req-0010-\t", ("update", W2, step(10)), ANY),
    ("req-0011-\x7f", ("update", W1, step(11)), ANY),
    ("req-0012-" + "\x01" * 1015, ("update", W2, step(12)), ENC),  # 1024 bytes: S3's longest key
    ("req-0013-\x01bad", (None, b"{not json"), ENC),
    ("req-0013-\rbad", (None, json.dumps({"type": "create", "requestId": "r", "widgetId": W1}).encode()), XML),
    ("req-0013-+bad%", (None, b"[]"), ANY),
    ("req-0013-\ufffebad", (None, json.dumps({"type": "explode", "requestId": "r", "widgetId": W1,
                                              "owner": OWNER}).encode()), ENC),
    ("req-0014-ok", ("delete", W3, {}), ANY),
    ("req-0015-\u00e9\u2028", ("update", W1, step(15)), ANY),
    ("req-0015-\u00e9\u2028\r", ("update", W2, step(151)), XML),
    ("zzzz-\u2028", ("update", W2, step(16)), ANY),
    ("zzzz-\uffff", ("update", W2, step(16)), ENC),
    ("\uffff", ("update", W1, step(17)), ENC),                  # the very last key
]


def requests_for(key_set):
    """{key: body} of the rows whose key the set allows."""
    assert [r[0] for r in ROWS] == sorted((r[0] for r in ROWS), key=lambda k: k.encode()), "ROWS out of order"
    out = {}
    for n, (key, what, where) in enumerate(ROWS):
        if where not in KEY_SETS[key_set]:
            continue
        out[key] = what[1] if what[0] is None else request(what[0], what[1], n, **what[2])
    return out


CR_REF = re.compile(rb"&#(?:x0*[dD]|0*13);")


class AwsLikeListings:
    """A FaultProxy rewrite hook: a ListObjectsV2 answer without encoding-type=url gets each CR raw, as AWS
    writes it (RGW writes "&#x0d;"). Counts the listings, and those sent without encoding-type=url."""

    def __init__(self):
        self.lock = threading.Lock()
        self.listings = self.unencoded = 0

    def __call__(self, req, status, body):
        method, target = req.start.split(" ")[:2]
        if method != "GET" or not re.search(r"[?&]list-type=2", target):
            return None
        with self.lock:
            self.listings += 1
            if re.search(r"[?&]encoding-type=url(&|$)", target):
                return None
            self.unencoded += 1
        return CR_REF.sub(b"\r", body)


def aws_like_case(h, store, tag):
    """The CR keys on RGW behind AwsLikeListings, judged like drain_and_judge does."""
    h.use_s3("rgw")
    requests = requests_for("xml")
    bucket = h.create_bucket(tag + "-req")
    store_name = h.create_store(store, tag)
    h.load(bucket, requests)
    hook = AwsLikeListings()
    with fx.FaultProxy(h.s3_endpoint("rgw"), rewrite=hook, service="s3", name="aws-like") as proxy:
        env = h.widgetd_env({"AWS_ENDPOINT_URL_S3": proxy.endpoint})
        args = h.old_flags(bucket, store, store_name) + ["--once"]
        run = h.run_widgetd(args, name=tag, env=env)
    print("# widgetd %s through %s: exit %s in %.2fs" % (" ".join(args), proxy.endpoint, run.rc, run.elapsed),
          flush=True)
    h.check(hook.listings > 0 and hook.unencoded == 0, "every ListObjectsV2 asks for encoding-type=url",
            "  %d of %d listings without it" % (hook.unencoded, hook.listings))
    h.judge("%d keys (CR among them), AWS-like listings, %s store" % (len(requests), store), requests, bucket,
            store, store_name, run)


def page_boundary_requests():
    """1000 ordinary creates, the last of widgetd's first page a key with U+0001, then CR and U+FFFE keys
    that update widgets of the first page."""
    reqs = {}
    for i in range(999):
        reqs["p-%04d" % i] = request("create", "pw%d" % i, i)
    reqs["p-0999-\x01"] = request("create", "pw999", 999)
    reqs["p-1000-\r"] = request("update", "pw0", 1000, **step(1000))
    reqs["p-1001-\ufffe"] = request("update", "pw999", 1001, **step(1001))
    return reqs


def main():
    h = wdtest.Harness(__doc__, rgw=True)
    # (server, store, key set): the CR keys alone show the LF mix-up, which a U+0001 in the same page hides.
    cases = [("rgw", "s3", "all"), ("rgw", "dynamodb", "all"), ("rgw", "s3", "xml"), ("s3rver", "s3", "s3rver"),
             ("s3rver", "dynamodb", "s3rver")]
    for server, store, key_set in cases:
        name = "hostile-keys-%s-%s-%s-store" % (key_set, server, store)
        with h.case(name) as selected:
            if not selected:
                continue
            h.use_s3(server)
            requests = requests_for(key_set)
            h.drain_and_judge("%d keys (%s) on %s, %s store" % (len(requests), key_set, server, store), store,
                              requests, tag=name)
    with h.case("hostile-keys-xml-awslike-rgw-s3-store") as selected:
        if selected:
            aws_like_case(h, "s3", "hostile-awslike")
    with h.case("hostile-key-ends-rgw-page") as selected:
        if selected:
            h.use_s3("rgw")
            requests = page_boundary_requests()
            h.drain_and_judge("a U+0001 key as the 1000th on rgw, dynamodb store", "dynamodb", requests,
                              tag="hostile-page-rgw")
    h.use_s3("s3rver")
    h.finish()


if __name__ == "__main__":
    main()
