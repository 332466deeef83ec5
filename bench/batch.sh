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
WARMUP=2
BATCH=50

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
bench=$root/bench

bench_init batch

# ---- cameo with 50 users ----
start_cameo

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

echo "# command: DURATION=$DURATION ROUNDS=$ROUNDS bench/batch.sh"
echo "# each run: taskset -c $CLIENT_CPU wrk -t1 -cN -d${DURATION}s --latency -s bench/batch_post.lua" \
    "$cameo/v1/users:batch (BATCH_BODY=50 ids) or -s bench/batch_get.lua $cameo/ (BATCH_IDS=the 50 ids);" \
    "cameo --workers 1 pinned with taskset -c $SERVER_CPU"
# shellcheck disable=SC2119 # nothing to add to the host line
host_line

# run KIND CONNS SECONDS: one wrk run (wrk_run) of the batch or the single GETs.
run() {
    local script url
    if [ "$1" = batch ]; then
        script=$bench/batch_post.lua url=$cameo/v1/users:batch
    else
        script=$bench/batch_get.lua url=$cameo/
    fi
    BATCH_BODY=$body_file BATCH_IDS=$ids wrk_run "$1 -c$2" "$cameo_pid" "$2" "$3" -s "$script" "$url"
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
        bench_awk -v r="$round" -v k="$kind" -v c="$conns" -v rps="$rps" -v p50="$p50" -v p99="$p99" \
            -v n="$reqs" -v t="$ticks" -v b="$busy" 'BEGIN {
            printf "| %d | %s | %d | %.0f | %.3f | %.3f | %d | %.2f | %.2f | %s |\n",
                r, (k == "batch") ? "POST batch of 50" : "GET one profile", c, rps, p50, p99, n,
                t / hz, t / hz * 1e6 / n, contention_cell(t, b) }'
    done
done

echo
summarize "$results" -v nb="$BATCH" '
END {
    print "| request | conns | runs used | median rps | median p50 ms | median p99 ms | µs CPU/req | µs CPU per 50 profiles | µs CPU per profile |"
    print "|---|---|---|---|---|---|---|---|---|"
    for (i = 1; i <= nk; i++) {
        k = order[i]; split(k, ks, " ")
        k2 = runs_key(k)
        U[k] = median(us[k2])
        per50 = (ks[1] == "batch") ? U[k] : U[k] * nb
        printf "| %s | %s | %s | %.0f | %.3f | %.3f | %.2f | %.1f | %.2f |\n",
            (ks[1] == "batch") ? "POST batch of 50" : "GET one profile", ks[2], runs_used(k), median(rps[k2]),
            median(p50[k2]), median(p99[k2]), U[k], per50, per50 / nb
    }
    print ""
    for (c = 1; c <= 2; c++) {
        conns = (c == 1) ? 1 : 16
        b = "batch " conns; g = "get " conns
        printf "-c%d: one batch of %d costs %.1f µs of server CPU (%.2f µs per profile); %d single GETs cost %.1f µs: the batch is %.1fx cheaper.\n",
            conns, nb, U[b], U[b] / nb, nb, U[g] * nb, U[g] * nb / U[b]
    }
    warn_contended()
}'
