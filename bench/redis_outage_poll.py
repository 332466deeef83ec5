#!/usr/bin/python3
"""redis_outage_poll.py - the poller and the report of bench/redis_outage.sh.

  redis_outage_poll.py poll BASE_URL REDIS_PORT OUT [INTERVAL_MS]
      Every INTERVAL_MS (default 50) until SIGTERM: GET /readyz and
      /metrics from cameo (one keep-alive connection, 1 s timeout) and
      DBSIZE from redis-server 127.0.0.1:REDIS_PORT (a new connection each
      time, 100 ms timeout: "-" when refused, "hung" when it does not
      answer). Appends one line per sample to OUT:
        t readyz_code readyz_status mem_hits redis_hits redis_misses
        redis_errors redis_timeouts store_reads dbsize requests
        requests_le_25ms requests_le_50ms requests_le_100ms
      t: wall clock (s since the epoch, time.time()) after the last answer;
      store_reads: cameo_origin_requests_total of get_profiles; requests*:
      cameo_request_duration_seconds (count, buckets); "-" for a
      value that could not be read.

  redis_outage_poll.py report SAMPLES EVENTS RUNS CAMEO_LOG CONNS CONTENDED_PCT
      Markdown tables from the poller's SAMPLES, the script's EVENTS ("t
      name load" lines: kill, restart, stop, cont; load or idle), RUNS
      ("phase window t_start t_end server_ticks cpu1_ticks histfile" lines;
      histfile: the wrk Lua script's "summary", "codes" and "latency_us
      count" lines), cameo's log (--log-level info: the redis_connected and
      redis_bus_up lines) and wrk's connection count CONNS. Latency
      percentiles are per response: wrk 4's coordinated-omission samples
      (which its own printed percentiles include) are taken out again; the
      p99 as wrk prints it is shown too.

Python 3 standard library only.
"""
import datetime
import http.client
import json
import signal
import socket
import sys
import time

METRICS = {
    'cameo_tier_hits_total{tier="memory"}': 0,
    'cameo_tier_hits_total{tier="redis"}': 1,
    'cameo_tier_misses_total{tier="redis"}': 2,
    'cameo_tier_errors_total{tier="redis"}': 3,
    'cameo_tier_timeouts_total{tier="redis"}': 4,
    'cameo_origin_requests_total{origin="local",op="get_profiles"}': 5,
    'cameo_request_duration_seconds_count': 6,
    'cameo_request_duration_seconds_bucket{le="0.025"}': 7,
    'cameo_request_duration_seconds_bucket{le="0.05"}': 8,
    'cameo_request_duration_seconds_bucket{le="0.1"}': 9,
}


def dbsize(port):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=0.1)
    except OSError:
        return "-"
    try:
        s.sendall(b"*1\r\n$6\r\nDBSIZE\r\n")
        data = b""
        while not data.endswith(b"\r\n"):
            chunk = s.recv(64)
            if not chunk:
                return "-"
            data += chunk
        return data[1:-2].decode() if data.startswith(b":") else "-"
    except socket.timeout:
        return "hung"
    except OSError:
        return "-"
    finally:
        s.close()


def poll(base, port, out, interval_ms):
    host, _, hport = base.split("//", 1)[1].partition(":")
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    conn = None
    f = open(out, "a", buffering=1)
    nxt = time.monotonic()
    while not stop:
        code, status, vals = "-", "-", ["-"] * len(METRICS)
        try:
            if conn is None:
                conn = http.client.HTTPConnection(host, int(hport), timeout=1)
            conn.request("GET", "/readyz")
            r = conn.getresponse()
            body = r.read()
            code = str(r.status)
            status = json.loads(body).get("status", "?")
            conn.request("GET", "/metrics")
            r = conn.getresponse()
            for line in r.read().decode().splitlines():
                name, _, v = line.partition(" ")
                if name in METRICS:
                    vals[METRICS[name]] = v
        except (OSError, http.client.HTTPException, ValueError):
            if conn is not None:
                conn.close()
            conn = None
        db = dbsize(port)
        f.write("%.4f %s %s %s %s %s\n" % (time.time(), code, status, " ".join(vals[:6]), db, " ".join(vals[6:])))
        nxt += interval_ms / 1000.0
        delay = nxt - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:
            nxt = time.monotonic()
    f.close()


# ---- report ----

def percentile(hist, p):
    """hist: sorted [(value, count)]; wrk's rule: the smallest value with at
    least p% of the samples at or below it."""
    total = sum(c for _, c in hist)
    if total == 0:
        return float("nan")
    want = total * p / 100.0
    acc = 0
    for v, c in hist:
        acc += c
        if acc >= want:
            return v
    return hist[-1][0]


def read_hist(path):
    summ, codes, hist = None, {}, {}
    with open(path) as f:
        for line in f:
            w = line.split()
            if not w:
                continue
            if w[0] == "summary":
                summ = [int(float(x)) for x in w[1:]]
            elif w[0] == "codes":
                for kv in w[1:]:
                    k, _, v = kv.partition("=")
                    codes[int(k)] = int(v)
            else:
                v, c = int(float(w[0])), int(float(w[1]))
                hist[v] = hist.get(v, 0) + c
    return summ, codes, hist


def num(x):
    try:
        return float(x)
    except ValueError:
        return None


def at(samples, t, col):
    """The value of column col in the last sample at or before t (else the first)."""
    best = None
    for s in samples:
        if s[0] <= t and num(s[col]) is not None:
            best = s
    if best is None:
        best = next((s for s in samples if num(s[col]) is not None), None)
    return num(best[col]) if best else float("nan")


def raw_hist(hist, req, dur_us, conns):
    """wrk 4 adds coordinated-omission samples before done() (stats_correct:
    for a latency n >= 2e, one more sample at n - e, n - 2e, ... while > e,
    e = duration / (requests / connections)); takes them out again."""
    if req // conns == 0:
        return dict(hist)
    e = dur_us // (req // conns)
    raw, cum = {}, {}
    for m in sorted(hist, reverse=True):
        above = cum.get(m + e, 0) if m > e else 0
        raw[m] = hist[m] - above
        cum[m] = raw[m] + cum.get(m + e, 0)
    return raw


def log_times(path, msg):
    out = []
    with open(path) as f:
        for line in f:
            w = line.split()
            if len(w) >= 3 and w[0].startswith("ts=") and w[2] == "msg=" + msg:
                d = datetime.datetime.strptime(w[0][3:], "%Y-%m-%dT%H:%M:%S.%fZ")
                out.append(d.replace(tzinfo=datetime.timezone.utc).timestamp())
    return out


def ms(x):
    return "%.2f" % (x / 1e3)


def report(samples_path, events_path, runs_path, log_path, conns, lim):
    samples = []
    with open(samples_path) as f:
        for line in f:
            w = line.split()
            if len(w) == 14:
                samples.append([float(w[0])] + w[1:])
    events = []
    with open(events_path) as f:
        for line in f:
            t, name, load = line.split()
            events.append((float(t), name, load))
    runs = []
    with open(runs_path) as f:
        for line in f:
            w = line.split()
            runs.append(dict(phase=w[0], window=w[1], t0=float(w[2]), t1=float(w[3]),
                             ticks=int(w[4]), busy=int(w[5]), hist=w[6]))

    # Columns of a sample: 0 t, 1 code, 2 status, 3 mem hits, 4 redis hits,
    # 5 redis misses, 6 redis errors, 7 redis timeouts, 8 store reads, 9 dbsize,
    # 10 requests, 11 <= 25 ms, 12 <= 50 ms, 13 <= 100 ms.
    print("| phase | window | s | requests | rps | 5xx | other non-2xx | socket errors / timeouts | "
          "p50 ms | p99 ms | p99.9 ms | max ms | p99 ms as wrk prints it | cameo-side > 50 ms / > 100 ms | "
          "memory hits | Redis hits | store reads | Redis errors / timeouts | CPU 1 busy on other work |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    phases = {}
    for r in runs:
        summ, codes, hist = read_hist(r["hist"])
        req, dur_us, e_conn, e_read, e_write, _e_status, e_to = summ
        n5 = sum(c for k, c in codes.items() if 500 <= k <= 599)
        nother = sum(c for k, c in codes.items() if not (200 <= k <= 299) and not 500 <= k <= 599)
        raw = raw_hist(hist, req, dur_us, conns)
        h = sorted(raw.items())
        hc = sorted(hist.items())
        if sum(raw.values()) != req:
            print("(%s %s: %d latency samples after taking out wrk's corrections, %d responses)"
                  % (r["phase"], r["window"], sum(raw.values()), req))
        d = dict((c, at(samples, r["t1"], c) - at(samples, r["t0"], c)) for c in range(3, 14))
        other = (r["busy"] - r["ticks"]) * 100.0 / r["busy"] if r["busy"] > r["ticks"] else 0.0
        mark = " (contended)" if other > lim else ""
        print("| %s | %s | %.1f | %d | %.0f | %d | %d | %d / %d | %s | %s | %s | %s | %s | %d / %d | %.1f%% | %.1f%% | %.1f%% | %d / %d | %.0f%%%s |"
              % (r["phase"], r["window"], dur_us / 1e6, req, req / (dur_us / 1e6), n5, nother,
                 e_conn + e_read + e_write, e_to, ms(percentile(h, 50)), ms(percentile(h, 99)),
                 ms(percentile(h, 99.9)), ms(h[-1][0]), ms(percentile(hc, 99)),
                 d[10] - d[12], d[10] - d[13], d[3] * 100.0 / req, d[4] * 100.0 / req, d[8] * 100.0 / req,
                 d[6], d[7], other, mark))
        p = phases.setdefault(r["phase"], dict(req=0, dur=0, n5=0, nother=0, err=0, to=0, raw={}, hist={}))
        p["req"] += req
        p["dur"] += dur_us
        p["n5"] += n5
        p["nother"] += nother
        p["err"] += e_conn + e_read + e_write
        p["to"] += e_to
        for v, c in raw.items():
            p["raw"][v] = p["raw"].get(v, 0) + c
        for v, c in hist.items():
            p["hist"][v] = p["hist"].get(v, 0) + c
    print()
    print("| phase | all three runs: s | requests | 5xx | other non-2xx | socket errors / timeouts | "
          "p50 ms | p99 ms | p99.9 ms | max ms | p99 ms with wrk's corrections |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, p in phases.items():
        h = sorted(p["raw"].items())
        print("| %s | %.1f | %d | %d | %d | %d / %d | %s | %s | %s | %s | %s |"
              % (name, p["dur"] / 1e6, p["req"], p["n5"], p["nother"], p["err"], p["to"],
                 ms(percentile(h, 50)), ms(percentile(h, 99)), ms(percentile(h, 99.9)), ms(h[-1][0]),
                 ms(percentile(sorted(p["hist"].items()), 99))))
    print()

    # Recovery: from the event that gives Redis back (restart, cont).
    connected = log_times(log_path, "redis_connected")
    bus_up = log_times(log_path, "redis_bus_up")
    iv = sorted(b[0] - a[0] for a, b in zip(samples, samples[1:]))
    print("| fault | load | Redis away for s | Redis answers (poller) | cameo's data connection up (log) | "
          "bus subscription up (log) | first Redis answer to cameo (poller) | /readyz ready (poller) |")
    print("|---|---|---|---|---|---|---|---|")
    worst = 0.0
    for k, (tf, name, load) in enumerate(events):
        if name not in ("kill", "stop") or k + 1 >= len(events):
            continue
        tb, back, _ = events[k + 1]
        after = [s for s in samples if s[0] > tb]
        before = [s for s in samples if s[0] <= tb and num(s[4]) is not None]

        def first(pred):
            s = next((s for s in after if pred(s)), None)
            return "%.0f ms" % ((s[0] - tb) * 1000) if s else "not seen"

        def first_log(ts):
            t = next((t for t in ts if t >= tb - 0.0005), None)
            return (t - tb) * 1000 if t is not None else None

        base = num(before[-1][4]) + num(before[-1][5]) if before else 0
        c, b = first_log(connected), first_log(bus_up)
        if c is not None:
            worst = max(worst, c)
        print("| %s, then %s | %s | %.2f | %s | %s | %s | %s | %s |"
              % (name, back, load, tb - tf, first(lambda s: num(s[9]) is not None),
                 "%.0f ms" % c if c is not None else "not seen", "%.0f ms" % b if b is not None else "not seen",
                 first(lambda s: num(s[4]) is not None and num(s[4]) + num(s[5]) > base)
                 if load == "load" else "- (no reads)",
                 first(lambda s: s[2] == "ready")))
    print()
    print("Times after Redis came back (the restart's spawn, or SIGCONT). Log: cameo's ms timestamps; "
          "poller: the first sample that showed it, an upper bound (samples every %.0f ms, median; "
          "max gap %.0f ms). Slowest data connection: %.0f ms."
          % (iv[len(iv) // 2] * 1000 if iv else 0, iv[-1] * 1000 if iv else 0, worst))
    print()

    # /readyz transitions of the phases under load, relative to the fault.
    print("| phase | /readyz (s after the fault: status, HTTP code) | events |")
    print("|---|---|---|")
    for phase in phases:
        t_lo = min(r["t0"] for r in runs if r["phase"] == phase)
        t_hi = max(r["t1"] for r in runs if r["phase"] == phase)
        evs = [(t, n) for t, n, _ in events if t_lo <= t <= t_hi]
        tf = next((t for t, n in evs if n in ("kill", "stop")), t_lo)
        marks, prev = [], None
        for s in samples:
            if not t_lo <= s[0] <= t_hi:
                continue
            st = "%s %s" % (s[2], s[1])
            if st != prev:
                marks.append("%+.2f %s" % (s[0] - tf, st))
                prev = st
        print("| %s | %s | %s |" % (phase, " → ".join(marks), ", ".join("%s %+.2f" % (n, t - tf) for t, n in evs)))


def main(argv):
    if len(argv) in (5, 6) and argv[1] == "poll":
        poll(argv[2], int(argv[3]), argv[4], float(argv[5]) if len(argv) == 6 else 50.0)
    elif len(argv) == 8 and argv[1] == "report":
        report(argv[2], argv[3], argv[4], argv[5], int(argv[6]), float(argv[7]))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
