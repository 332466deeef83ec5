#!/usr/bin/env python3
"""Origin calls per 1,000 reads through cameo's HTTP user-service origin.

Starts a counting user service (100,000 users; GET /users/{id} and a batch
POST) and cameo in front of it (--users-url, --users-batch-url), then
replays READS reads of GET /v1/users/{id}, ids drawn from Zipf(0.9) over the
users (fixed seed), at a fixed rate over CONNS keep-alive connections. The
service counts every id it is asked for. Prints, per concurrency level:
origin calls per 1,000 reads, and origin calls per distinct key read (the
target: 1.00, one call per key per TTL window; the run is shorter than the
TTL). The baseline without a cache makes one origin call per read (1,000
per 1,000), by construction.

usage: bench/origin_calls.py CAMEO_BIN [READS] [RATE] [CONNS,CONNS...]
"""

import asyncio
import bisect
import http.server
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time

USERS = 100_000
SEED = 9


class Service(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stalls
    lock = threading.Lock()
    asked = []  # every id asked for, one entry per origin read of it
    calls = 0

    def log_message(self, *a):
        pass

    def _json(self, doc):
        body = json.dumps(doc).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        uid = self.path.rsplit("/", 1)[-1]
        with Service.lock:
            Service.calls += 1
            Service.asked.append(uid)
        self._json({"name": "User " + uid, "bio": "x" * 200})

    def do_POST(self):
        ids = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["ids"]
        with Service.lock:
            Service.calls += 1
            Service.asked.extend(ids)
        self._json({i: {"name": "User " + i, "bio": "x" * 200} for i in ids})


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def zipf_ids(n, reads, s=0.9, seed=SEED):
    rnd = random.Random(seed)
    weights = [1.0 / (k ** s) for k in range(1, n + 1)]
    cum, t = [], 0.0
    for w in weights:
        t += w
        cum.append(t)
    ranks = list(range(n))
    rnd.shuffle(ranks)  # popularity is not id order
    return ["u%06d" % ranks[bisect.bisect_left(cum, rnd.random() * t)] for _ in range(reads)]


async def replay(port, ids, rate, conns):
    t0 = time.monotonic() + 0.2
    nxt = 0
    errors = 0

    async def worker():
        nonlocal nxt, errors
        r, w = await asyncio.open_connection("127.0.0.1", port)
        while True:
            i = nxt
            if i >= len(ids):
                break
            nxt += 1
            delay = t0 + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            w.write(b"GET /v1/users/%s HTTP/1.1\r\nHost: b\r\n\r\n" % ids[i].encode())
            status = await r.readline()
            length = 0
            while True:
                line = await r.readline()
                if line in (b"\r\n", b""):
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await r.readexactly(length)
            if b" 200 " not in status:
                errors += 1
        w.close()

    await asyncio.gather(*[worker() for _ in range(conns)])
    return errors, time.monotonic() - t0


def run(cameo_bin, reads, rate, conns):
    Service.asked, Service.calls = [], 0
    http.server.ThreadingHTTPServer.request_queue_size = 1024  # cameo opens up to 16 connections a worker
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Service)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    sport = srv.server_address[1]
    port = free_port()
    data = tempfile.mkdtemp()
    proc = subprocess.Popen([cameo_bin, "serve", "--listen", "127.0.0.1:%d" % port, "--data", data,
                             "--workers", "1", "--log-level", "warn",
                             "--users-url", "http://127.0.0.1:%d/users/{id}" % sport,
                             "--users-batch-url", "http://127.0.0.1:%d/users:batch" % sport],
                            stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        ids = zipf_ids(USERS, reads)
        errors, secs = asyncio.run(replay(port, ids, rate, conns))
        distinct = len(set(ids))
        asked = len(Service.asked)
        dup = asked - len(set(Service.asked))
        return {"conns": conns, "reads": reads, "secs": secs, "errors": errors, "distinct": distinct,
                "origin_ids": asked, "origin_requests": Service.calls, "duplicate_ids": dup}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        srv.shutdown()


def main():
    cameo_bin = sys.argv[1]
    reads = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    rate = float(sys.argv[3]) if len(sys.argv) > 3 else 10_000
    levels = [int(c) for c in (sys.argv[4] if len(sys.argv) > 4 else "8,64").split(",")]
    print("| connections | reads | achieved reads/s | non-200 | distinct keys read | origin reads (ids) "
          "| origin requests | origin reads per 1,000 reads | origin reads per distinct key |")
    print("|---|---|---|---|---|---|---|---|---|")
    for c in levels:
        r = run(cameo_bin, reads, rate, c)
        print("| %d | %d | %.0f | %d | %d | %d | %d | %.1f | %.3f |" % (
            c, r["reads"], r["reads"] / r["secs"], r["errors"], r["distinct"], r["origin_ids"],
            r["origin_requests"], 1000.0 * r["origin_ids"] / r["reads"], r["origin_ids"] / r["distinct"]))
        sys.stdout.flush()
    print("\nno cache: %d origin reads per 1,000 reads (every read is one)" % 1000)


if __name__ == "__main__":
    main()
