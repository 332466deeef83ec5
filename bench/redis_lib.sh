# shellcheck shell=bash
# redis_lib.sh - what bench/redis_l2.sh, bench/redis_outage.sh and
# bench/propagation.sh share on top of bench/lib.sh (source lib.sh first,
# then this, then call redis_init NAME instead of bench_init). Provides:
#   redis_init NAME   bench_init NAME, redis-server and redis-benchmark (Debian
#                     redis-server / redis-tools) installed if missing, a check
#                     that cameo knows --redis, and an EXIT trap that also stops
#                     every process started here (redis_pids, extra_pids)
#   local_port        a free TCP port below the ephemeral range (no socket in
#                     any state uses it: an outgoing connection's local port
#                     can take a port lib.sh's free_port sees as free)
#   start_redis       redis-server pinned to SERVER_CPU, no persistence; sets
#                     redis_pid and rport
#   spawn_redis       another redis-server like start_redis's, on the same
#                     port (after the first one died), without waiting for it;
#                     sets redis_pid
#   start_cameo_l2 VAR DATA [FLAG...]  cameo --workers 1 --redis pinned to
#                     SERVER_CPU with data in DATA (shared dirs allowed); sets
#                     VAR_pid and VAR (its base URL); log in $tmp/VAR.log
#   metric URL NAME LABELS  one value of URL/metrics (0 when absent)
#   rcli ARG...       redis-cli against the bench's redis-server
# shellcheck disable=SC2034 # globals used by the scripts
# shellcheck disable=SC2154 # tmp, cameo_bin: set by lib.sh

redis_pids=()
extra_pids=()

redis_cleanup() {
    local p
    for p in "${extra_pids[@]}" "${redis_pids[@]}"; do
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    cleanup
}

redis_init() {
    bench_init "$1"
    need redis-server redis-server
    need redis-benchmark redis-tools
    need redis-cli redis-tools
    trap redis_cleanup EXIT
    "$cameo_bin" --help 2>&1 | grep -- '--redis ' >/dev/null ||
        die "$cameo_bin has no --redis: rebuild it (cmake --build build -j2)"
}

local_port() {
    local p
    for _ in $(seq 1 200); do
        p=$((20000 + RANDOM % 12000))
        if [ -z "$(ss -Htan "( sport = :$p or dport = :$p )")" ]; then
            echo "$p"
            return
        fi
    done
    die "no free port found"
}

rport=
redis_pid=
rcli() {
    redis-cli -h 127.0.0.1 -p "$rport" "$@"
}

spawn_redis() {
    taskset -c "$SERVER_CPU" redis-server --bind 127.0.0.1 --port "$rport" --save '' --appendonly no \
        --dir "$tmp/redis" --databases 4 >>"$tmp/redis.log" 2>&1 &
    redis_pid=$!
    redis_pids+=("$redis_pid")
}

start_redis() {
    rport=$(local_port)
    mkdir -p "$tmp/redis"
    spawn_redis
    for _ in $(seq 1 100); do
        [ "$(rcli ping 2>/dev/null)" = PONG ] && return
        sleep 0.1
    done
    cat "$tmp/redis.log" >&2
    die "redis-server did not come up"
}

start_cameo_l2() {
    local var=$1 data=$2 port pid
    shift 2
    port=$(local_port)
    mkdir -p "$data"
    taskset -c "$SERVER_CPU" "$cameo_bin" serve --listen "127.0.0.1:$port" --data "$data" --workers 1 \
        --admin-token "$TOKEN" --log-level warn --redis "redis://127.0.0.1:$rport" "$@" \
        >"$tmp/$var.log" 2>&1 &
    pid=$!
    extra_pids+=("$pid")
    printf -v "$var" '%s' "http://127.0.0.1:$port"
    printf -v "${var}_pid" '%s' "$pid"
    wait_up "http://127.0.0.1:$port/healthz" "cameo $var"
    # Ready means the Redis connections and the bus subscription are up.
    for _ in $(seq 1 50); do
        curl -s "http://127.0.0.1:$port/readyz" | grep '"status":"ready"' >/dev/null && return
        sleep 0.1
    done
    curl -s "http://127.0.0.1:$port/readyz" >&2
    die "cameo $var is not ready (Redis)"
}

metric() {
    curl -s "$1/metrics" | awk -v n="$2" -v l="$3" '$1 == n l { v = $2 } END { print v + 0 }'
}
