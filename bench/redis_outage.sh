#!/usr/bin/env bash
# redis_outage.sh - Redis killed, restarted and hung under read load: does
# any request fail, how slow do reads get, and how soon does cameo use Redis
# again? Target (the issue): killing redis-server during a load test gives
# zero 5xx and p99 under 100 ms; after it comes back cameo uses it again
# within 2 s.
#
# Setup: redis-server (no persistence) and cameo --workers 1 --redis
# --mem-limit MEM_LIMIT, both pinned to CPU 1 (SERVER_CPU); wrk and the
# poller pinned to CPU 0. USERS profiles are PUT through the API and read
# once (bench/redis_seed.py), so Redis holds them all and the memory tier a
# small share: random reads mostly hit Redis while it is there.
#
# Load: wrk -t1 -cCONNS --latency with a Lua script (written to $tmp) that
# GETs a random /v1/users/u{i} (bench/redis_random.lua) and counts the
# responses by status code; its done() writes the counts, wrk's error
# counters and the whole latency distribution, so the runs of a phase are
# also summed up together. Percentiles are per response: wrk 4 adds
# coordinated-omission samples to its distribution before printing it (a
# response of L ms adds samples at L - e, L - 2e, ... ms, e = run time /
# (responses / CONNS)); the report takes them out again and also shows the
# p99 wrk prints.
#
#   kill phase:  BEFORE s (Redis up) | OUTAGE s, SIGKILL of redis-server
#                FAULT_AT s into it | AFTER s, started right after
#                redis-server is restarted on the same port (empty).
#   stop phase:  BEFORE s | OUTAGE s, SIGSTOP FAULT_AT s into it (hung,
#                not dead: connections are accepted, nothing is answered) |
#                AFTER s, right after SIGCONT.
#
# Then CYCLES more kills and restarts without load, for more reconnection
# times. A poller (bench/redis_outage_poll.py, every POLL_MS, on CPU 0)
# records /readyz, cameo's Redis counters and request-duration buckets
# (/metrics) and Redis's DBSIZE; with cameo's log (--log-level info, ms
# timestamps of its Redis connection and bus subscription coming up): the
# /readyz timeline and the time from the restart (SIGCONT) until cameo's
# data connection is up, until its Redis tier answers a lookup, and until
# /readyz says "ready" again. A run where more than CONTENDED_PCT percent of CPU
# 1's busy time went to other work than cameo and redis-server is marked
# contended (lib.sh's rule).
#
# usage: bench/redis_outage.sh
#   USERS (default 20000)   MEM_LIMIT cameo --mem-limit (default 1MiB)
#   CONNS (default 32)      BEFORE, OUTAGE, AFTER seconds (default 4 5 6)
#   FAULT_AT seconds into the outage run (default 0.25)
#   CYCLES kill / OUTAGE s / restart cycles without load at the end, for
#          more reconnection times (default 3)
#   POLL_MS (default 50)    CAMEO_BIN, CONTENDED_PCT as in lib.sh
#   KEEP_DIR: copy the work files (wrk outputs, samples, logs) there at exit
# Runtime with the defaults: about 75 s. Prints markdown tables; exits 1
# when a response was 5xx or wrk had socket errors or timeouts.
set -euo pipefail

USERS=${USERS:-20000}
MEM_LIMIT=${MEM_LIMIT:-1MiB}
CONNS=${CONNS:-32}
BEFORE=${BEFORE:-4}
OUTAGE=${OUTAGE:-5}
AFTER=${AFTER:-6}
FAULT_AT=${FAULT_AT:-0.25}
POLL_MS=${POLL_MS:-50}
CYCLES=${CYCLES:-3}
PYTHON=${PYTHON:-/usr/bin/python3}

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=redis_lib.sh
. "$(dirname "$0")/redis_lib.sh"

redis_init redis_outage
bench=$root/bench

# A stopped redis-server takes no SIGTERM until it runs again: continue
# every one before redis_lib.sh's cleanup stops them.
outage_cleanup() {
    local p
    for p in "${redis_pids[@]}"; do
        kill -CONT "$p" 2>/dev/null || true
    done
    if [ -n "${KEEP_DIR:-}" ] && [ -n "$tmp" ]; then
        cp -r "$tmp/." "$KEEP_DIR/" || true
    fi
    redis_cleanup
}
trap outage_cleanup EXIT

start_redis
# --log-level info (the last flag wins): the log has cameo's Redis
# connections' and the bus's ups, with ms timestamps.
start_cameo_l2 cameo "$tmp/cameo-data" --mem-limit "$MEM_LIMIT" --log-level info

# ---- seed ----
t0=$(date +%s)
"$PYTHON" "$bench/redis_seed.py" seed "$cameo" "$USERS" 0 "$tmp" >/dev/null
seed_s=$(($(date +%s) - t0))
keys=$(rcli dbsize)
# (The last writes' second deletes, 1 s after each PUT, remove some of the
# keys the read-back filled; the warm-up's reads fill them again.)
[ "$keys" -ge $((USERS * 95 / 100)) ] || die "Redis holds $keys keys after seeding, want >= 95% of $USERS"

cat >"$tmp/outage.lua" <<'EOF'
-- GET a random path of REDIS_PATHS (bench/redis_random.lua); count the
-- responses by status; done() writes the counts, the error counters and
-- the latency distribution (µs, count) to OUTAGE_HIST.
dofile(os.getenv("OUTAGE_RANDOM"))
local threads = {}
function setup(thread)
    threads[#threads + 1] = thread
end
function init(args)
    codes = {}
end
function response(status, headers, body)
    codes[status] = (codes[status] or 0) + 1
end
function done(summary, latency, requests)
    local all = {}
    for _, t in ipairs(threads) do
        for k, v in pairs(t:get("codes")) do
            all[k] = (all[k] or 0) + v
        end
    end
    local f = assert(io.open(os.getenv("OUTAGE_HIST"), "w"))
    local e = summary.errors
    f:write(string.format("summary %d %d %d %d %d %d %d\n", summary.requests, summary.duration,
        e.connect, e.read, e.write, e.status, e.timeout))
    local line, bad = "codes", 0
    for k, v in pairs(all) do
        line = line .. " " .. k .. "=" .. v
        if k < 200 or k > 299 then
            bad = bad + v
        end
    end
    f:write(line .. "\n")
    for i = 1, #latency do
        local v, c = latency(i)
        f:write(string.format("%d %d\n", v, c))
    end
    f:close()
    print(string.format("status codes:%s (non-2xx: %d)", line:sub(6), bad))
end
EOF

events=$tmp/events
runs=$tmp/runs
samples=$tmp/samples
: >"$events"
: >"$runs"
: >"$samples"
event() { echo "$EPOCHREALTIME $1 ${2:-load}" >>"$events"; }

# redis_ticks: CPU ticks of the current redis-server (0 when it is gone).
redis_ticks() {
    if [ -r "/proc/$redis_pid/stat" ]; then cpu_ticks "$redis_pid"; else echo 0; fi
}

# run PHASE WINDOW SECONDS [ACTION]: one wrk run; ACTION (a command) runs
# FAULT_AT s into it. Appends to $runs; wrk's output in $tmp/wrk.PHASE.WINDOW.
run() {
    local phase=$1 window=$2 secs=$3 action=${4:-} c0 r0 b0 c1 r1 b1 ts te wpid rk=
    local hist=$tmp/hist.$phase.$window
    c0=$(cpu_ticks "$cameo_pid")
    r0=$(redis_ticks)
    b0=$(cpu1_busy_ticks)
    ts=$EPOCHREALTIME
    OUTAGE_RANDOM=$bench/redis_random.lua OUTAGE_HIST=$hist REDIS_PATHS=$tmp/profile_paths \
        taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"$secs"s --latency -s "$tmp/outage.lua" "$cameo" \
        >"$tmp/wrk.$phase.$window" 2>&1 &
    wpid=$!
    extra_pids+=("$wpid")
    if [ -n "$action" ]; then
        sleep "$FAULT_AT"
        rk=$(redis_ticks) # before a kill takes them away
        "$action"
    fi
    wait "$wpid" || die "wrk failed: $(cat "$tmp/wrk.$phase.$window")"
    te=$EPOCHREALTIME
    c1=$(cpu_ticks "$cameo_pid")
    b1=$(cpu1_busy_ticks)
    if [ "$action" = kill_redis ]; then r1=$rk; else r1=$(redis_ticks); fi
    echo "$phase $window $ts $te $((c1 - c0 + r1 - r0)) $((b1 - b0)) $hist" >>"$runs"
    [ -s "$hist" ] || die "wrk wrote no results: $(cat "$tmp/wrk.$phase.$window")"
}

kill_redis() {
    event kill "${1:-load}"
    kill -KILL "$redis_pid"
    wait "$redis_pid" 2>/dev/null || true
}
stop_redis() {
    event stop
    kill -STOP "$redis_pid"
}

# wait_ready: up to 10 s for /readyz to say "ready" (Redis and the bus back).
wait_ready() {
    for _ in $(seq 1 100); do
        curl -s "$cameo/readyz" | grep '"status":"ready"' >/dev/null && return
        sleep 0.1
    done
    die "cameo did not become ready again: $(curl -s "$cameo/readyz")"
}

# ---- measure ----
cmdline="USERS=$USERS MEM_LIMIT=$MEM_LIMIT CONNS=$CONNS BEFORE=$BEFORE OUTAGE=$OUTAGE AFTER=$AFTER FAULT_AT=$FAULT_AT POLL_MS=$POLL_MS CYCLES=$CYCLES bench/redis_outage.sh"
echo "# command: $cmdline"
echo "# load: taskset -c $CLIENT_CPU wrk -t1 -c$CONNS -dSECONDSs --latency -s (bench/redis_random.lua + status counts) over $USERS profiles (default --timeout 2s)"
echo "# cameo --workers 1 --mem-limit $MEM_LIMIT --redis (default --redis-timeout 50ms) and redis-server both pinned with taskset -c $SERVER_CPU;" \
    "seeded in ${seed_s}s, Redis held $keys keys"
host_line "$(redis-server --version | awk '{ print $1, $3 }')"

taskset -c "$CLIENT_CPU" "$PYTHON" "$bench/redis_outage_poll.py" poll "$cameo" "$rport" "$samples" "$POLL_MS" &
extra_pids+=("$!")
poll_pid=$!

# warm-up: the memory tier fills with what random reads keep
OUTAGE_RANDOM=$bench/redis_random.lua OUTAGE_HIST=$tmp/hist.warmup REDIS_PATHS=$tmp/profile_paths \
    taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d2s -s "$tmp/outage.lua" "$cameo" >/dev/null

run kill before "$BEFORE"
run kill outage "$OUTAGE" kill_redis
spawn_redis # no wait: the poller sees when it answers
event restart
run kill after "$AFTER"
wait_ready
sleep 1

run stop before "$BEFORE"
run stop outage "$OUTAGE" stop_redis
kill -CONT "$redis_pid"
event cont
run stop after "$AFTER"

# reconnections without load: kill, OUTAGE s away, restart
for _ in $(seq 1 "$CYCLES"); do
    wait_ready
    sleep 0.5
    kill_redis idle
    sleep "$OUTAGE"
    spawn_redis
    event restart idle
done
wait_ready
sleep 0.3
kill "$poll_pid" 2>/dev/null || true
wait "$poll_pid" || true

echo
"$PYTHON" "$bench/redis_outage_poll.py" report "$samples" "$events" "$runs" "$tmp/cameo.log" "$CONNS" "$CONTENDED_PCT"
echo
echo "# redis-server restarts: $(grep -c 'Ready to accept connections' "$tmp/redis.log") starts in redis.log;" \
    "cameo log lines: $(wc -l <"$tmp/cameo.log") ($(grep -c redis_disconnected "$tmp/cameo.log" || true) redis_disconnected," \
    "$(grep -c redis_connect_failed "$tmp/cameo.log" || true) redis_connect_failed, $(grep -c redis_bus_down "$tmp/cameo.log" || true) redis_bus_down)"
echo "# final /readyz: $(curl -s "$cameo/readyz" | head -c 600)"

bad=$(cat "$tmp"/hist.kill.* "$tmp"/hist.stop.* | awk '
    $1 == "summary" { b += $4 + $5 + $6 + $8 }
    $1 == "codes" { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] >= 500) b += kv[2] } }
    END { print b + 0 }')
if [ "$bad" -ne 0 ]; then
    echo "FAIL: $bad responses were 5xx or socket errors/timeouts" >&2
    exit 1
fi
