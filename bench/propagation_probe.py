#!/usr/bin/python3
"""propagation_probe.py - the measuring client of bench/propagation.sh.

  propagation_probe.py A_URL B_URL SAMPLES USERS LABEL

For each sample k (USERS measured users u0..u{USERS-1}, in turn):
  1. GET the user from B (so B holds the current version in memory; it
     must be the version written by the previous sample on that user);
  2. PUT {"name": "v<k>"} to A (admin token); t_ack = when A's response
     arrived (after its body);
  3. GET the user from B as fast as possible, one keep-alive connection,
     until it answers name "v<k>"; t_new = when that response arrived;
     propagation = t_new - t_ack;
  4. GET it from B AFTER more times: each must still be v<k>.
Every B answer of a user older than the newest version B already showed for
that user counts as a stale-after-fresh read (must be 0). A sample not
fresh within 2 s counts as a timeout.

Prints one line:
  LABEL samples=N p50_ms=.. p90_ms=.. p99_ms=.. max_ms=.. mean_ms=..
  first_poll_fresh=N polls_p50=.. poll_rtt_p50_ms=.. stale_after_fresh=N
  older_than_previous=N timeouts=N
and writes the sorted samples (ms) to $PROBE_SAMPLES when set.
Python 3 standard library only.
"""
import http.client
import json
import os
import sys
import time
from urllib.parse import urlsplit

TOKEN = "bench-admin-token-0123456789"
AFTER = 5
TIMEOUT_S = 2.0


def conn(url):
    u = urlsplit(url)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=10)


def version_of(body):
    name = json.loads(body)["name"]
    return int(name[1:]) if name.startswith("v") and name[1:].isdigit() else -1


def quantile(sorted_xs, q):
    # nearest rank
    i = max(0, min(len(sorted_xs) - 1, int(q * len(sorted_xs) + 0.999999) - 1))
    return sorted_xs[i]


def main(argv):
    if len(argv) != 6:
        raise SystemExit(__doc__)
    a, b = conn(argv[1]), conn(argv[2])
    samples, users, label = int(argv[3]), int(argv[4]), argv[5]
    clock = time.perf_counter
    newest = {}  # user -> newest version B has shown
    stale_after_fresh = 0
    older_than_previous = 0
    timeouts = 0
    first_fresh = 0
    lat, polls_n, rtts = [], [], []
    headers = {"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json"}
    base = int(time.time() * 1000) % 10**9 * 1000  # versions grow across runs of this probe

    def get_b(user):
        nonlocal stale_after_fresh
        t0 = clock()
        b.request("GET", "/v1/users/" + user)
        r = b.getresponse()
        body = r.read()
        t1 = clock()
        if r.status != 200:
            raise SystemExit("propagation_probe.py: B answered %d for %s" % (r.status, user))
        v = version_of(body)
        if v < newest.get(user, -1):
            stale_after_fresh += 1
        newest[user] = max(newest.get(user, -1), v)
        rtts.append(t1 - t0)
        return v, t1

    prev = {}
    for k in range(samples):
        user = "u%d" % (k % users)
        v = base + k
        before, _ = get_b(user)
        if user in prev and before != prev[user]:
            older_than_previous += 1
        a.request("PUT", "/v1/users/" + user, json.dumps({"name": "v%d" % v}), headers)
        r = a.getresponse()
        r.read()
        t_ack = clock()
        if r.status != 200 and r.status != 201:
            raise SystemExit("propagation_probe.py: A answered %d to the PUT" % r.status)
        polls = 0
        while True:
            got, t_new = get_b(user)
            polls += 1
            if got == v:
                break
            if got < before:
                older_than_previous += 1
            if t_new - t_ack > TIMEOUT_S:
                timeouts += 1
                break
        if got == v:
            lat.append((t_new - t_ack) * 1000)
            polls_n.append(polls)
            first_fresh += polls == 1
        for _ in range(AFTER):
            get_b(user)
        prev[user] = v

    lat.sort()
    polls_n.sort()
    rtts.sort()
    n = len(lat)
    if n == 0:
        raise SystemExit("propagation_probe.py: no sample became fresh")
    print("%s samples=%d p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f mean_ms=%.3f first_poll_fresh=%d "
          "polls_p50=%d poll_rtt_p50_ms=%.3f stale_after_fresh=%d older_than_previous=%d timeouts=%d" % (
              label, n, quantile(lat, 0.5), quantile(lat, 0.9), quantile(lat, 0.99), lat[-1], sum(lat) / n,
              first_fresh, quantile(polls_n, 0.5), quantile(rtts, 0.5) * 1000, stale_after_fresh,
              older_than_previous, timeouts))
    out = os.environ.get("PROBE_SAMPLES")
    if out:
        with open(out, "w") as f:
            f.write("\n".join("%.3f" % x for x in lat) + "\n")


if __name__ == "__main__":
    main(sys.argv)
