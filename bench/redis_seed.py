#!/usr/bin/python3
"""redis_seed.py - seeding for bench/redis_l2.sh and bench/propagation.sh.

  redis_seed.py seed BASE_URL USERS AVATARS OUTDIR
      PUTs USERS profiles u0..u{USERS-1} (JSON bodies of about 300 bytes as
      GET returns them), then AVATARS users a0.. with a 4 KiB PNG avatar each
      (distinct bytes, so distinct versions), through the API (admin token
      bench-admin-token-0123456789, 4 keep-alive connections). Then reads
      every profile once (POST /v1/users:batch, 1000 ids a call) and every
      avatar version once (GET /v1/avatars/{id}/{V}), so that the store reads
      fill Redis. Writes OUTDIR/profile_paths and OUTDIR/avatar_paths (one
      URL path a line) and prints "profile_body_bytes avatar_body_bytes"
      (the median GET body sizes).

  redis_seed.py resp COUNT SIZE
      Prints the RESP of SET key:%012d (0..COUNT-1) to values of SIZE bytes,
      for redis-cli --pipe: the keys redis-benchmark -r COUNT reads.

Python 3 standard library only.
"""
import http.client
import json
import os
import random
import statistics
import sys
import threading
from urllib.parse import urlsplit

TOKEN = "bench-admin-token-0123456789"


def profile_body(i):
    d = {
        "name": "User Number %06d" % i,
        "handle": "user%06d" % i,
        "email": "user%06d@example.org" % i,
        "locale": "en-GB",
        "timezone": "Europe/London",
        "bio": "Benchmark profile %06d: writes about caches, tiers and the cost of one more hop." % i,
        "followers": (i * 7919) % 100000,
        "verified": i % 2 == 0,
    }
    return json.dumps(d, separators=(",", ":"))


def avatar_bytes(i):
    rnd = random.Random(i)
    return b"\x89PNG\r\n\x1a\n" + bytes(rnd.getrandbits(8) for _ in range(4088))


class Client:
    def __init__(self, base):
        u = urlsplit(base)
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)

    def call(self, method, path, body=None, headers=None, want=(200,)):
        self.conn.request(method, path, body, headers or {})
        r = self.conn.getresponse()
        data = r.read()
        if r.status not in want:
            raise SystemExit("redis_seed.py: %s %s answered %d: %r" % (method, path, r.status, data[:200]))
        return data


def parallel(base, items, fn, nthreads=4):
    errors = []

    def run(chunk):
        try:
            c = Client(base)
            for it in chunk:
                fn(c, it)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(items[k::nthreads],)) for k in range(nthreads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit("redis_seed.py: %s" % errors[0])


def seed(base, users, avatars, outdir):
    admin = {"Authorization": "Bearer " + TOKEN}
    json_admin = dict(admin, **{"Content-Type": "application/json"})

    def put_user(c, i):
        c.call("PUT", "/v1/users/u%d" % i, profile_body(i), json_admin, (200, 201))

    parallel(base, list(range(users)), put_user)

    versions = {}

    def put_avatar(c, i):
        c.call("PUT", "/v1/users/a%d" % i, '{"name":"Avatar Owner %d"}' % i, json_admin, (200, 201))
        out = json.loads(c.call("PUT", "/v1/users/a%d/avatar" % i, avatar_bytes(i), admin, (201,)))
        versions[i] = out["url"]

    parallel(base, list(range(avatars)), put_avatar)

    c = Client(base)
    for lo in range(0, users, 1000):
        ids = ["u%d" % i for i in range(lo, min(users, lo + 1000))]
        out = json.loads(c.call("POST", "/v1/users:batch", json.dumps({"ids": ids}),
                                {"Content-Type": "application/json"}))
        if out["missing"]:
            raise SystemExit("redis_seed.py: missing after seeding: %s" % out["missing"][:5])
    avatar_paths = [versions[i] for i in range(avatars)]

    def get_avatar(c, path):
        if len(c.call("GET", path)) != 4096:
            raise SystemExit("redis_seed.py: %s is not 4096 bytes" % path)

    parallel(base, avatar_paths, get_avatar)

    profile_paths = ["/v1/users/u%d" % i for i in range(users)]
    with open(os.path.join(outdir, "profile_paths"), "w") as f:
        f.write("\n".join(profile_paths) + "\n")
    with open(os.path.join(outdir, "avatar_paths"), "w") as f:
        f.write("\n".join(avatar_paths) + "\n")
    sizes = [len(c.call("GET", p)) for p in profile_paths[:: max(1, users // 200)]]
    print(int(statistics.median(sizes)), 4096 if avatars else 0)


def resp(count, size):
    out = sys.stdout.buffer
    value = b"x" * size
    tail = b"$%d\r\n%s\r\n" % (size, value)
    chunk = []
    for i in range(count):
        key = b"key:%012d" % i
        chunk.append(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n%s" % (len(key), key, tail))
        if len(chunk) == 1000:
            out.write(b"".join(chunk))
            chunk = []
    out.write(b"".join(chunk))


def main(argv):
    if len(argv) == 6 and argv[1] == "seed":
        seed(argv[2], int(argv[3]), int(argv[4]), argv[5])
    elif len(argv) == 4 and argv[1] == "resp":
        resp(int(argv[2]), int(argv[3]))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
