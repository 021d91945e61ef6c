#!/usr/bin/python3
"""ceph_rgw.py: the monitor-side steps of the RGW stand-in's one-node Ceph cluster, for scripts/standins.

Usage:
  ceph_rgw.py prepare CONF OSD_UUID TIMEOUT
      Connects to the monitor of CONF as client.admin (waiting up to TIMEOUT s for it to form a quorum),
      registers OSD 0 with OSD_UUID, and creates RGW's seven pools (8 PGs, size 1, application rgw), so
      the gateway finds them at start rather than creating them one by one (3-4 s instead of 14-15 s to
      ready). Exit 0 when done, 1 with a message on stderr otherwise.

One process and one connection for all of it: each `ceph` CLI call costs about 0.4 s of Python start-up.
Runs with Debian's /usr/bin/python3, whose python3-rados (a dependency of ceph-common) provides `rados`.
"""
import json
import sys

import rados

POOLS = (".rgw.root", "default.rgw.control", "default.rgw.meta", "default.rgw.log", "default.rgw.buckets.index",
         "default.rgw.buckets.data", "default.rgw.buckets.non-ec")


def mon_command(cluster, prefix, **args):
    cmd = dict(args, prefix=prefix, format="json")
    ret, out, status = cluster.mon_command(json.dumps(cmd), b"", timeout=30)
    if ret != 0:
        raise RuntimeError("mon command %s failed (%d): %s" % (json.dumps(cmd), ret, status))
    return out


def prepare(conf, osd_uuid, timeout):
    cluster = rados.Rados(conffile=conf, name="client.admin")
    cluster.connect(timeout=timeout)
    try:
        mon_command(cluster, "osd new", uuid=osd_uuid, id=0)
        for pool in POOLS:
            mon_command(cluster, "osd pool create", pool=pool, pg_num=8, pgp_num=8)
            mon_command(cluster, "osd pool application enable", pool=pool, app="rgw")
    finally:
        cluster.shutdown()


def main(argv):
    if len(argv) != 5 or argv[1] != "prepare":
        sys.exit(__doc__)
    try:
        prepare(argv[2], argv[3], int(float(argv[4])))
    except (rados.Error, RuntimeError) as e:
        print("ceph_rgw.py: %s: %s" % (e.__class__.__name__, e), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
