#!/usr/bin/env bash
# batch.sh - server cost of POST /v1/users:batch with 50 profiles, all in
# cameo's memory tier, against 50 single GET /v1/users/{id} of the same
# profiles.
#
# Seeds 50 users (~300-byte profiles), warms them with one batch call (and
# checks that it returns all 50), then measures with wrk pinned to CPU 0 and
# cameo (--workers 1) pinned to CPU 1: the batch with one connection and with
# 16, and single GETs cycling over the 50 ids (bench/batch_get.lua) with the
# same connection counts; runs interleaved, medians. CPU = cameo's
# utime+stime from /proc/PID/stat over the run / requests completed. As in
# bench/load.sh, a run where more than CONTENDED_PCT (10) percent of CPU 1's
# busy time went to other work is marked "contended" and left out of the
# medians (unless all runs of its kind are).
#
# usage: bench/batch.sh
#   DURATION  seconds per measured run (default 5)
#   ROUNDS    interleaved rounds (default 3)
#   CAMEO_BIN path to the cameo binary (default build/cameo, built if missing)
# Runtime with the defaults: about 70 s. Prints markdown tables.
set -euo pipefail

DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
CONTENDED_PCT=${CONTENDED_PCT:-10}
WARMUP=2
BATCH=50
TOKEN="bench-admin-token-0123456789"
SERVER_CPU=1
CLIENT_CPU=0

root=$(cd "$(dirname "$0")/.." && pwd)
bench=$root/bench
cameo_bin=${CAMEO_BIN:-$root/build/cameo}

die() {
    echo "batch.sh: $*" >&2
    exit 1
}

# need CMD PACKAGE: installs PACKAGE from Debian when CMD is missing.
need() {
    if command -v "$1" >/dev/null 2>&1; then
        return
    fi
    if [ "$(id -u)" -eq 0 ]; then
        apt-get install -y "$2"
    elif command -v sudo >/dev/null 2>&1; then
        sudo apt-get install -y "$2"
    else
        die "$1 is missing and cannot be installed (not root, no sudo)"
    fi
}

need wrk wrk
need curl curl
need taskset util-linux

if [ -z "${CAMEO_BIN:-}" ] && [ ! -x "$cameo_bin" ]; then
    (cd "$root" && cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DCAMEO_SANITIZE=OFF && cmake --build build -j2)
fi

tmp=$(mktemp -d /tmp/cameo-batch.XXXXXX)
cameo_pid=
cleanup() {
    if [ -n "$cameo_pid" ]; then
        kill "$cameo_pid" 2>/dev/null || true
        wait "$cameo_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# free_port: prints a TCP port nobody listens on at the moment.
free_port() {
    local p
    for _ in $(seq 1 100); do
        p=$((20000 + RANDOM % 40000))
        if [ -z "$(ss -Hltn "sport = :$p")" ]; then
            echo "$p"
            return
        fi
    done
    die "no free port found"
}

# cpu_ticks PID: utime+stime of the process (all threads), in clock ticks.
cpu_ticks() {
    sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

# cpu1_busy_ticks: CPU SERVER_CPU's non-idle time, in clock ticks.
cpu1_busy_ticks() {
    awk -v cpu="cpu$SERVER_CPU" '$1 == cpu { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat
}

# ---- cameo with 50 users ----
port=$(free_port)
mkdir -p "$tmp/data"
taskset -c "$SERVER_CPU" "$cameo_bin" serve --listen "127.0.0.1:$port" --data "$tmp/data" --workers 1 \
    --admin-token "$TOKEN" --log-level warn >"$tmp/cameo.log" 2>&1 &
cameo_pid=$!
cameo=http://127.0.0.1:$port
for _ in $(seq 1 100); do
    curl -s -o /dev/null "$cameo/healthz" && break
    sleep 0.1
done
curl -sf -o /dev/null "$cameo/healthz" || die "cameo did not come up"

ids=$tmp/ids
: >"$ids"
for i in $(seq 1 "$BATCH"); do
    id=$(printf 'user-%04d' "$i")
    echo "$id" >>"$ids"
    body=$(printf '{"name":"Test User %d","handle":"tuser%d","email":"tuser%d@example.org","locale":"en-US","timezone":"America/New_York","bio":"Writes about distributed systems, caching and coffee; speaker at local meetups.","website":"https://example.org/~tuser%d","followers":%d,"verified":false}' \
        "$i" "$i" "$i" "$i" $((i * 37)))
    curl -sf -o /dev/null -X PUT -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
        --data "$body" "$cameo/v1/users/$id" || die "PUT $id failed"
done
body_file=$tmp/batch.json
{
    printf '{"ids":['
    paste -sd, <(sed 's/.*/"&"/' "$ids") | tr -d '\n'
    printf ']}'
} >"$body_file"

# Warm: one batch call; all 50 must come back, none missing.
curl -sf -o "$tmp/warm.json" -X POST -H 'Content-Type: application/json' --data-binary "@$body_file" \
    "$cameo/v1/users:batch" || die "the warm-up batch failed"
found=$(grep -o '"user-[0-9]*":{' "$tmp/warm.json" | wc -l)
grep -q '"missing":\[\]' "$tmp/warm.json" || die "the batch reports missing users: $(tail -c 200 "$tmp/warm.json")"
[ "$found" -eq "$BATCH" ] || die "the batch returned $found users, not $BATCH"
profile_bytes=$(curl -sf "$cameo/v1/users/user-0001" | wc -c)
echo "# batch checked: $found users, none missing, response $(wc -c <"$tmp/warm.json") bytes;" \
    "one profile $profile_bytes bytes; request body $(wc -c <"$body_file") bytes"

hz=$(getconf CLK_TCK)
echo "# command: DURATION=$DURATION ROUNDS=$ROUNDS bench/batch.sh"
echo "# each run: taskset -c $CLIENT_CPU wrk -t1 -cN -d${DURATION}s --latency -s bench/batch_post.lua" \
    "$cameo/v1/users:batch (BATCH_BODY=50 ids) or -s bench/batch_get.lua $cameo/ (BATCH_IDS=the 50 ids);" \
    "cameo --workers 1 pinned with taskset -c $SERVER_CPU"
echo "# $(uname -sr), $(nproc) CPUs (client and server share them), $(date -u +%Y-%m-%dT%H:%MZ)"

# to_ms VALUE_WITH_UNIT: wrk's latency (e.g. 612.00us, 1.20ms, 1.01s) in ms.
to_ms() {
    awk -v x="$1" 'BEGIN {
        v = x; u = x; sub(/[a-z]+$/, "", v); sub(/^[0-9.]+/, "", u)
        printf "%.3f", v * ((u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : 0) }'
}

# run KIND CONNS SECONDS: one wrk run; prints
# "rps p50_ms p99_ms requests server_ticks cpu1_ticks".
run() {
    local script url t0 t1 b0 b1 out
    if [ "$1" = batch ]; then
        script=$bench/batch_post.lua url=$cameo/v1/users:batch
    else
        script=$bench/batch_get.lua url=$cameo/
    fi
    t0=$(cpu_ticks "$cameo_pid")
    b0=$(cpu1_busy_ticks)
    out=$(BATCH_BODY=$body_file BATCH_IDS=$ids taskset -c "$CLIENT_CPU" \
        wrk -t1 -c"$2" -d"$3"s --latency -s "$script" "$url")
    t1=$(cpu_ticks "$cameo_pid")
    b1=$(cpu1_busy_ticks)
    if grep -q -e 'Non-2xx' -e 'Socket errors' <<<"$out"; then
        echo "$out" >&2
        die "errors in the run of $1 -c$2"
    fi
    echo "$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")" \
        "$(to_ms "$(awk '$1 == "50%" { print $2 }' <<<"$out")")" \
        "$(to_ms "$(awk '$1 == "99%" { print $2 }' <<<"$out")")" \
        "$(awk '/ requests in / { print $1 }' <<<"$out")" \
        $((t1 - t0)) $((b1 - b0))
}

kinds=("batch 1" "batch 16" "get 1" "get 16")
for k in "${kinds[@]}"; do
    read -r kind conns <<<"$k"
    run "$kind" "$conns" "$WARMUP" >/dev/null
done

results=$tmp/results
: >"$results"
echo
echo "| round | request | conns | rps | p50 ms | p99 ms | requests | CPU s | µs CPU/req | CPU 1 busy on other work |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for round in $(seq 1 "$ROUNDS"); do
    for k in "${kinds[@]}"; do
        read -r kind conns <<<"$k"
        read -r rps p50 p99 reqs ticks busy <<<"$(run "$kind" "$conns" "$DURATION")"
        echo "$kind $conns $rps $p50 $p99 $reqs $ticks $busy" >>"$results"
        awk -v r="$round" -v k="$kind" -v c="$conns" -v rps="$rps" -v p50="$p50" -v p99="$p99" \
            -v n="$reqs" -v t="$ticks" -v b="$busy" -v hz="$hz" -v lim="$CONTENDED_PCT" 'BEGIN {
            other = b > t ? (b - t) * 100 / b : 0
            printf "| %d | %s | %d | %.0f | %.3f | %.3f | %d | %.2f | %.2f | %.0f%%%s |\n",
                r, (k == "batch") ? "POST batch of 50" : "GET one profile", c, rps, p50, p99, n,
                t / hz, t / hz * 1e6 / n, other, (other > lim) ? " (contended)" : "" }'
    done
done

echo
awk -v hz="$hz" -v nb="$BATCH" -v lim="$CONTENDED_PCT" -v cpu="$SERVER_CPU" '
function median(list,    a, n, i, j, v) {
    n = split(list, a, " ")
    for (i = 2; i <= n; i++) { # insertion sort, numeric (mawk has no asort)
        v = a[i] + 0
        for (j = i - 1; j >= 1 && a[j] + 0 > v; j--) a[j + 1] = a[j]
        a[j + 1] = v
    }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
# Fields: kind conns rps p50 p99 requests server_ticks cpu1_ticks. Two sets
# of lists per key: all runs and the uncontended ones.
{
    key = $1 " " $2
    if (!(key in seen)) { seen[key] = 1; order[++nk] = key }
    clean = ($8 <= $7 || ($8 - $7) * 100 / $8 <= lim)
    ncont += !clean
    for (set = 0; set <= clean; set++) {
        k2 = key SUBSEP set
        rps[k2] = rps[k2] " " $3
        p50[k2] = p50[k2] " " $4
        p99[k2] = p99[k2] " " $5
        us[k2] = us[k2] " " ($7 / hz) * 1e6 / $6
        runs[k2]++
    }
}
END {
    print "| request | conns | runs used | median rps | median p50 ms | median p99 ms | µs CPU/req | µs CPU per 50 profiles | µs CPU per profile |"
    print "|---|---|---|---|---|---|---|---|---|"
    for (i = 1; i <= nk; i++) {
        k = order[i]; split(k, ks, " ")
        k2 = (runs[k SUBSEP 1] > 0) ? k SUBSEP 1 : k SUBSEP 0
        used = (k2 == k SUBSEP 1) ? runs[k2] " of " runs[k SUBSEP 0] : "all " runs[k2] " (all contended)"
        U[k] = median(us[k2])
        per50 = (ks[1] == "batch") ? U[k] : U[k] * nb
        printf "| %s | %s | %s | %.0f | %.3f | %.3f | %.2f | %.1f | %.2f |\n",
            (ks[1] == "batch") ? "POST batch of 50" : "GET one profile", ks[2], used, median(rps[k2]),
            median(p50[k2]), median(p99[k2]), U[k], per50, per50 / nb
    }
    print ""
    for (c = 1; c <= 2; c++) {
        conns = (c == 1) ? 1 : 16
        b = "batch " conns; g = "get " conns
        printf "-c%d: one batch of %d costs %.1f µs of server CPU (%.2f µs per profile); %d single GETs cost %.1f µs: the batch is %.1fx cheaper.\n",
            conns, nb, U[b], U[b] / nb, nb, U[g] * nb, U[g] * nb / U[b]
    }
    if (ncont > 0)
        printf "\nWARNING: %d of %d runs were contended (other work on CPU %d); rerun on a quiet machine.\n", ncont, NR, cpu
}' "$results"
