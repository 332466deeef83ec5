#!/usr/bin/env bash
# redis_l2.sh - reads that miss cameo's memory tier and hit Redis (L2):
# requests per CPU-second of cameo + Redis against redis-benchmark GETs of
# values of the same sizes, in the same run: the cost of the extra HTTP hop.
#
# Setup: redis-server (no persistence) and cameo --workers 1 --redis
# --mem-limit 64KiB, both pinned to CPU 1 (SERVER_CPU); every client (wrk,
# redis-benchmark) pinned to CPU 0. USERS profiles (~300-byte bodies) and
# AVATARS 4 KiB avatars are PUT through the API and read once, so the store
# reads fill Redis. The memory tier holds ~100 profiles (~15 avatars), so
# uniformly random reads miss it and hit Redis: each run checks with
# /metrics that Redis answered >= 90% of the requests and the store none.
#
#   cameo target:  wrk -t1 -c64 --latency -s bench/redis_random.lua (GET of a
#                  random /v1/users/u{i} or /v1/avatars/a{i}/{V}); CPU = cameo
#                  + redis-server (utime+stime from /proc) per request.
#   redis target:  redis-benchmark -t get -c 64 -P 1 -r KEYS -d SIZE over
#                  keys key:%012d set (in db 1 and 2) to values of exactly the
#                  size cameo's values have in Redis (STRLEN: the HTTP body
#                  plus cameo's entry header); CPU = redis-server per GET.
#
# Rounds interleave the two targets (order rotating); medians; a run where
# more than CONTENDED_PCT percent of CPU 1's busy time went to other work is
# marked contended and left out of the medians (unless all are), as in
# bench/load.sh.
#
# usage: bench/redis_l2.sh
#   DURATION seconds per measured run (default 4)   ROUNDS (default 3)
#   WARMUP   seconds of warm-up per target (default 2)
#   USERS    profiles (default 20000)   AVATARS 4 KiB avatars (default 2000)
#   MEM_LIMIT cameo --mem-limit (default 64KiB)   CONNS (default 64)
#   CAMEO_BIN, CONTENDED_PCT as in lib.sh
# Runtime with the defaults: about 90 s. Prints markdown tables.
set -euo pipefail

DURATION=${DURATION:-4}
ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-2}
USERS=${USERS:-20000}
AVATARS=${AVATARS:-2000}
MEM_LIMIT=${MEM_LIMIT:-64KiB}
CONNS=${CONNS:-64}
PYTHON=${PYTHON:-/usr/bin/python3}

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=redis_lib.sh
. "$(dirname "$0")/redis_lib.sh"

redis_init redis_l2
bench=$root/bench
start_redis
start_cameo_l2 cameo "$tmp/cameo-data" --mem-limit "$MEM_LIMIT"

# ---- seed: the store reads fill Redis ----
t0=$(date +%s)
read -r profile_body avatar_body <<<"$("$PYTHON" "$bench/redis_seed.py" seed "$cameo" "$USERS" "$AVATARS" "$tmp")"
seed_s=$(($(date +%s) - t0))
keys=$(rcli -n 0 dbsize)
[ "$keys" -ge $((USERS + AVATARS)) ] || die "Redis holds $keys keys after seeding, want >= $((USERS + AVATARS))"
# strlen_of PATHFILE PREFIX: the median Redis STRLEN of the cameo keys of 50 paths.
strlen_of() {
    local p k
    for p in $(awk 'NR % 40 == 1' "$1" | head -50); do
        k=${p#/v1/users/}
        k=${k#/v1/avatars/}
        rcli -n 0 strlen "cameo:v1:$2$k"
    done | bench_awk '{ l = l " " $1 } END { printf "%d\n", median(l) }'
}
profile_value=$(strlen_of "$tmp/profile_paths" p:)
avatar_value=$(strlen_of "$tmp/avatar_paths" b:)
if [ "$profile_value" -eq 0 ] || [ "$avatar_value" -eq 0 ]; then
    die "cameo's keys are not in Redis"
fi

# The redis-benchmark keyspaces: db 1 for profiles, db 2 for avatars.
"$PYTHON" "$bench/redis_seed.py" resp "$USERS" "$profile_value" | rcli -n 1 --pipe >/dev/null
"$PYTHON" "$bench/redis_seed.py" resp "$AVATARS" "$avatar_value" | rcli -n 2 --pipe >/dev/null
if [ "$(rcli -n 1 dbsize)" -ne "$USERS" ] || [ "$(rcli -n 2 dbsize)" -ne "$AVATARS" ]; then
    die "redis-benchmark keyspaces not populated"
fi

echo "# seeded in ${seed_s}s: $USERS profiles (GET body $profile_body B, Redis value $profile_value B)," \
    "$AVATARS avatars (body $avatar_body B, Redis value $avatar_value B); Redis db0 holds $keys keys"

db_of() { if [ "$1" = profile ]; then echo 1; else echo 2; fi; }
keys_of() { if [ "$1" = profile ]; then echo "$USERS"; else echo "$AVATARS"; fi; }
size_of() { if [ "$1" = profile ]; then echo "$profile_value"; else echo "$avatar_value"; fi; }

# tier_counts: "memory_hits redis_hits redis_misses origin_reads coalesced"
# of cameo (coalesced: reads that joined a lookup already in flight).
tier_counts() {
    curl -s "$cameo/metrics" | awk '
        $1 == "cameo_tier_hits_total{tier=\"memory\"}" { m = $2 }
        $1 == "cameo_tier_hits_total{tier=\"redis\"}" { h = $2 }
        $1 == "cameo_tier_misses_total{tier=\"redis\"}" { x = $2 }
        $1 ~ /^cameo_origin_requests_total\{origin="local",op="get_(profiles|avatar)"\}$/ { o += $2 }
        $1 == "cameo_coalesced_total" { j = $2 }
        END { print m + 0, h + 0, x + 0, o + 0, j + 0 }'
}

# run_cameo OBJ SECONDS: one wrk run against cameo over OBJ's paths. Prints
# "rps p50 p99 requests ticks busy cameo_ticks redis_ticks mem_hits
# redis_hits redis_misses origin_reads coalesced" (ticks: cameo + redis-server).
run_cameo() {
    local c0 c1 m0 m1 out
    c0=$(cpu_ticks "$cameo_pid")
    read -r -a m0 <<<"$(tier_counts)"
    out=$(REDIS_PATHS=$tmp/$1_paths wrk_run "cameo $1" "$cameo_pid $redis_pid" "$CONNS" "$2" \
        -s "$bench/redis_random.lua" "$cameo")
    c1=$(cpu_ticks "$cameo_pid")
    read -r -a m1 <<<"$(tier_counts)"
    awk -v c=$((c1 - c0)) -v m="$((m1[0] - m0[0])) $((m1[1] - m0[1])) $((m1[2] - m0[2])) $((m1[3] - m0[3])) $((m1[4] - m0[4]))" \
        '{ print $0, c, $5 - c, m }' <<<"$out"
}

# run_rb OBJ COUNT: one redis-benchmark run of COUNT GETs over OBJ's keyspace,
# same output (cameo_ticks 0, tier counts 0).
run_rb() {
    local t0 t1 b0 b1 out
    t0=$(cpu_ticks "$redis_pid")
    b0=$(cpu1_busy_ticks)
    out=$(taskset -c "$CLIENT_CPU" redis-benchmark -h 127.0.0.1 -p "$rport" --dbnum "$(db_of "$1")" -t get \
        -r "$(keys_of "$1")" -d "$(size_of "$1")" -c "$CONNS" -n "$2" -P 1 --csv 2>&1)
    t1=$(cpu_ticks "$redis_pid")
    b1=$(cpu1_busy_ticks)
    # "GET","rps","avg","min","p50","p95","p99","max"
    awk -F'"' -v n="$2" -v t=$((t1 - t0)) -v b=$((b1 - b0)) \
        '$2 == "GET" { print $4, $10, $14, n, t, b, 0, t, 0, 0, 0, 0, 0; ok = 1 }
         END { if (!ok) exit 1 }' <<<"$out" || die "redis-benchmark failed: $out"
}

# ---- measure ----
cmdline="DURATION=$DURATION ROUNDS=$ROUNDS WARMUP=$WARMUP USERS=$USERS AVATARS=$AVATARS MEM_LIMIT=$MEM_LIMIT CONNS=$CONNS bench/redis_l2.sh"
echo "# command: $cmdline"
echo "# cameo: taskset -c $CLIENT_CPU wrk -t1 -c$CONNS -d${DURATION}s --latency -s bench/redis_random.lua (REDIS_PATHS=profile or avatar paths)"
echo "# redis: taskset -c $CLIENT_CPU redis-benchmark -t get -c $CONNS -P 1 -r KEYS -d SIZE -n COUNT --csv (COUNT: ${DURATION}s at the warm-up rate)"
echo "# cameo --workers 1 --mem-limit $MEM_LIMIT and redis-server both pinned with taskset -c $SERVER_CPU"
host_line "$(redis-server --version | awk '{ print $1, $3 }')"

declare -A count
for obj in profile avatar; do
    run_cameo "$obj" "$WARMUP" >/dev/null
    read -r rps _ <<<"$(run_rb "$obj" 100000)"
    count[$obj]=$(awk -v r="$rps" -v d="$DURATION" 'BEGIN { printf "%d", r * d }')
done

results=$tmp/results
: >"$results"
echo
echo "| round | object | target | rps | p99 ms | requests | µs CPU/req (cameo + redis) | cameo µs | redis µs | memory hits | Redis hits | coalesced | store reads | CPU 1 busy on other work |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for round in $(seq 1 "$ROUNDS"); do
    for obj in profile avatar; do
        for i in 0 1; do
            if [ $(((i + round) % 2)) -eq 1 ]; then
                t=cameo
                line=$(run_cameo "$obj" "$DURATION")
            else
                t=redis-benchmark
                line=$(run_rb "$obj" "${count[$obj]}")
            fi
            echo "$obj $t $line" >>"$results"
            bench_awk -v r="$round" '{
                n = $6; us = $7 / hz * 1e6 / n
                hits = ($2 == "cameo") ? sprintf("%.1f%%", $11 * 100 / n) : "-"
                rh = ($2 == "cameo") ? sprintf("%.1f%%", $12 * 100 / n) : "-"
                co = ($2 == "cameo") ? sprintf("%.1f%%", $15 * 100 / n) : "-"
                st = ($2 == "cameo") ? $14 : "-"
                printf "| %d | %s | %s | %.0f | %.2f | %d | %.2f | %.2f | %.2f | %s | %s | %s | %s | %s |\n",
                    r, $1, $2, $3, $5, n, us, $9 / hz * 1e6 / n, $10 / hz * 1e6 / n, hits, rh, co, st,
                    contention_cell($7, $8)
                if ($2 == "cameo" && ($12 < 0.9 * n || $14 > 0))
                    bad = 1
            } END { exit bad }' <<<"$obj $t $line" ||
                die "the run above was not served from Redis (Redis hits < 90% or store reads > 0)"
        done
    done
done

echo
# shellcheck disable=SC2016 # awk fields, not shell expansions
summarize "$results" '
# Per key: medians of the cameo and redis parts of the CPU per request over
# the runs used (same rule as the totals).
{
    clean = other_pct($7, $8) <= lim
    for (set = 0; set <= clean; set++) {
        cu[key SUBSEP set] = cu[key SUBSEP set] " " ($9 / hz) * 1e6 / $6
        ru[key SUBSEP set] = ru[key SUBSEP set] " " ($10 / hz) * 1e6 / $6
    }
}
END {
    print "| object | target | runs used | median rps | median p99 ms | median µs CPU/req | of which cameo | of which redis | req per CPU-s |"
    print "|---|---|---|---|---|---|---|---|---|"
    for (i = 1; i <= nk; i++) {
        k = order[i]; split(k, ks, " ")
        k2 = runs_key(k)
        R[k] = median(rps[k2]); P[k] = median(p99[k2]); U[k] = median(us[k2])
        printf "| %s | %s | %s | %.0f | %.2f | %.2f | %.2f | %.2f | %.0f |\n", ks[1], ks[2], runs_used(k),
            R[k], P[k], U[k], median(cu[k2]), median(ru[k2]), 1e6 / U[k]
    }
    print ""
    print "| object | req per CPU-s cameo / redis-benchmark | rps cameo / redis-benchmark | extra CPU per request (µs) | p99 cameo / redis-benchmark |"
    print "|---|---|---|---|---|"
    split("profile avatar", objs, " ")
    for (o = 1; o <= 2; o++) {
        c = objs[o] " cameo"; r = objs[o] " redis-benchmark"
        printf "| %s | %.3f (1 : %.1f) | %.2f | %.2f | %.2f |\n", objs[o], U[r] / U[c], U[c] / U[r],
            R[c] / R[r], U[c] - U[r], P[c] / P[r]
    }
    print ""
    print "Ratios of the medians. req per CPU-s: redis µs/GET over (cameo + redis) µs/request; extra CPU: the difference."
    warn_contended()
}'
