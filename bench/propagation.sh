#!/usr/bin/env bash
# propagation.sh - how long a profile write through cameo instance A takes to
# be seen on instance B (the invalidation bus: A deletes the Redis key and
# PUBLISHes on cameo:v1:invalidate before acknowledging; B drops its memory
# copy when the event arrives), with B under a read load.
#
# Setup: one redis-server and two cameo instances A and B (--workers 1,
# --redis, one shared --data directory), all three pinned to CPU 1
# (SERVER_CPU); the clients on CPU 0: the read load (wrk -t1 -c16 -s
# bench/redis_random.lua, GET of random /v1/users/u{i} among USERS, answered
# from B's memory) and the measuring client bench/propagation_probe.py
# (python3 stdlib, one keep-alive connection to each instance): per sample
# GET u from B (cached there), PUT {"name":"v<k>"} to A, then GET u from B
# as fast as possible until it answers v<k>; propagation = when that answer
# arrived - when A's acknowledgement arrived. After that 5 more GETs of u
# from B; any answer older than a version B already showed counts as a
# stale-after-fresh read (must be 0). Measured users: u0..u{PROBE_USERS-1},
# in turn. A reference phase with B idle runs first.
#
# usage: bench/propagation.sh
#   SAMPLES  samples under load (default 1000)  IDLE_SAMPLES (default 300)
#   USERS    seeded profiles (default 5000)     PROBE_USERS (default 20)
#   LOAD_CONNS wrk connections of the read load (default 16)
#   CAMEO_BIN, CONTENDED_PCT as in lib.sh
# Runtime with the defaults: about 20 s. Prints markdown tables.
set -euo pipefail

SAMPLES=${SAMPLES:-1000}
IDLE_SAMPLES=${IDLE_SAMPLES:-300}
USERS=${USERS:-5000}
PROBE_USERS=${PROBE_USERS:-20}
LOAD_CONNS=${LOAD_CONNS:-16}
PYTHON=${PYTHON:-/usr/bin/python3}

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=redis_lib.sh
. "$(dirname "$0")/redis_lib.sh"

redis_init propagation
bench=$root/bench
start_redis
A='' B='' A_pid='' B_pid='' # set by start_cameo_l2
start_cameo_l2 A "$tmp/shared-data"
start_cameo_l2 B "$tmp/shared-data"

"$PYTHON" "$bench/redis_seed.py" seed "$A" "$USERS" 0 "$tmp" >/dev/null
# B reads everything once: its memory holds every profile.
taskset -c "$CLIENT_CPU" env REDIS_PATHS="$tmp/profile_paths" \
    wrk -t1 -c"$LOAD_CONNS" -d2s -s "$bench/redis_random.lua" "$B" >/dev/null

cmdline="SAMPLES=$SAMPLES IDLE_SAMPLES=$IDLE_SAMPLES USERS=$USERS PROBE_USERS=$PROBE_USERS LOAD_CONNS=$LOAD_CONNS bench/propagation.sh"
echo "# command: $cmdline"
echo "# A, B (cameo --workers 1 --redis, shared --data) and redis-server pinned with taskset -c $SERVER_CPU;" \
    "load: taskset -c $CLIENT_CPU wrk -t1 -c$LOAD_CONNS -s bench/redis_random.lua on B; probe: $PYTHON on CPU $CLIENT_CPU"
host_line "$(redis-server --version | awk '{ print $1, $3 }')"

# bus_events URL: the instance's bus events count (from /readyz).
bus_events() {
    curl -s "$1/readyz" | sed -n 's/.*bus events \([0-9]*\).*/\1/p'
}

# counters: on one line, what a phase takes the difference of: CPU ticks of
# A, B and redis-server, CPU 1's busy ticks, bus events on B (0 when /readyz
# does not say), B's memory hits and misses, B's store reads.
counters() {
    local events
    events=$(bus_events "$B")
    echo "$(cpu_ticks "$A_pid" "$B_pid" "$redis_pid")" "$(cpu1_busy_ticks)" "${events:-0}" \
        "$(metric "$B" cameo_tier_hits_total '{tier="memory"}')" \
        "$(metric "$B" cameo_tier_misses_total '{tier="memory"}')" \
        "$(metric "$B" cameo_origin_requests_total '{origin="local",op="get_profiles"}')"
}

# phase LABEL N LOAD: one probe of N samples, with the read load on B when
# LOAD is 1. Prints the probe's line, then "load_rps b_memory_hit_pct
# b_store_reads server_ticks cpu1_ticks bus_events_on_b".
phase() {
    local label=$1 n=$2 load=$3 wrk_pid='' t0 t1 b0 b1 e0 e1 h0 h1 m0 m1 o0 o1 probe rps=0
    read -r t0 b0 e0 h0 m0 o0 <<<"$(counters)"
    if [ "$load" = 1 ]; then
        REDIS_PATHS=$tmp/profile_paths taskset -c "$CLIENT_CPU" wrk -t1 -c"$LOAD_CONNS" -d120s \
            -s "$bench/redis_random.lua" "$B" >"$tmp/wrk-$label.out" 2>&1 &
        wrk_pid=$!
        extra_pids+=("$wrk_pid")
        sleep 1
    fi
    probe=$(taskset -c "$CLIENT_CPU" "$PYTHON" "$bench/propagation_probe.py" "$A" "$B" "$n" "$PROBE_USERS" "$label")
    if [ -n "$wrk_pid" ]; then
        kill -INT "$wrk_pid"
        wait "$wrk_pid" || true
        grep -q -e 'Non-2xx' -e 'Socket errors' "$tmp/wrk-$label.out" && {
            cat "$tmp/wrk-$label.out" >&2
            die "errors in the read load"
        }
        rps=$(awk '/^Requests\/sec:/ { print $2 }' "$tmp/wrk-$label.out")
    fi
    read -r t1 b1 e1 h1 m1 o1 <<<"$(counters)"
    echo "$probe"
    awk -v r="$rps" -v h=$((h1 - h0)) -v m=$((m1 - m0)) -v o=$((o1 - o0)) -v t=$((t1 - t0)) -v b=$((b1 - b0)) \
        -v e=$((e1 - e0)) 'BEGIN { printf "%.0f %.2f %d %d %d %d\n", r, h * 100 / (h + m), o, t, b, e }'
}

out=$tmp/phases
: >"$out"
{
    phase idle "$IDLE_SAMPLES" 0
    phase "B-under-load" "$SAMPLES" 1
} >"$out"

echo
echo "| B | samples | p50 ms | p90 ms | p99 ms | max ms | mean ms | fresh at B's first poll | B poll RTT p50 ms | stale after fresh | older than previous | timeouts | load rps on B | B memory hit | B store reads | bus events on B | CPU 1 busy on other work |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
# Lines come in pairs: the probe's "LABEL key=value..." then the phase's numbers.
bench_awk '
NR % 2 == 1 {
    label = $1
    for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    next
}
{
    printf "| %s | %d | %.2f | %.2f | %.2f | %.2f | %.2f | %d | %.3f | %d | %d | %d | %s | %s%% | %d | %d | %s |\n",
        label, v["samples"], v["p50_ms"], v["p90_ms"], v["p99_ms"], v["max_ms"], v["mean_ms"],
        v["first_poll_fresh"], v["poll_rtt_p50_ms"], v["stale_after_fresh"], v["older_than_previous"],
        v["timeouts"], ($1 > 0 ? $1 : "-"), $2, $3, $6, contention_cell($4, $5)
    if (label == "B-under-load") {
        p99 = v["p99_ms"]; stale = v["stale_after_fresh"] + v["older_than_previous"] + v["timeouts"]
        cont = other_pct($4, $5) > lim
    }
}
END {
    printf "\nUnder load: p99 %.2f ms against the target of 50 ms: %s. Stale reads after B showed the new version: %d (must be 0).%s\n",
        p99, (p99 <= 50) ? "met" : "NOT met", stale, cont ? " (contended run: other work on CPU " cpu ")" : ""
}' <"$out"
