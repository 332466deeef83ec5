# shellcheck shell=bash
# lib.sh - what the bench scripts that run cameo under wrk share (load.sh,
# batch.sh, propagation.sh, redis_l2.sh, redis_outage.sh); sourced by them,
# not run on its own. Provides:
#   settings  TOKEN, SERVER_CPU (1), CLIENT_CPU (0), CONTENDED_PCT (env,
#             default 10), hz, root, cameo_bin (env CAMEO_BIN)
#   die, need, bench_init PREFIX (tools, cameo build if missing, $tmp, cleanup
#             of cameo_pid and nginx_pids on exit), free_port, wait_up,
#             start_cameo, cpu_ticks, cpu1_busy_ticks, host_line
#   wrk_run   one pinned wrk run with the server's CPU and CPU 1's busy time
#   bench_awk awk with the table functions: median, contention_cell and
#             the "contended" accounting of the results file (summarize)
# shellcheck disable=SC2034 # settings and globals used by the scripts

TOKEN="bench-admin-token-0123456789"
SERVER_CPU=1
CLIENT_CPU=0
CONTENDED_PCT=${CONTENDED_PCT:-10}
hz=$(getconf CLK_TCK)

root=$(cd "$(dirname "$0")/.." && pwd)
cameo_bin=${CAMEO_BIN:-$root/build/cameo}

die() {
    echo "${0##*/}: $*" >&2
    exit 1
}

# need CMD PACKAGE: installs PACKAGE from Debian when CMD is missing.
need() {
    if command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; then
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

# bench_init NAME: installs wrk, curl and taskset if missing, builds cameo
# (Release) when CAMEO_BIN is unset and build/cameo is missing, makes $tmp
# (/tmp/cameo-NAME.XXXXXX) and stops cameo_pid and nginx_pids and removes
# $tmp on exit.
bench_init() {
    need wrk wrk
    need curl curl
    need taskset util-linux
    if [ -z "${CAMEO_BIN:-}" ] && [ ! -x "$cameo_bin" ]; then
        (cd "$root" && cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DCAMEO_SANITIZE=OFF && cmake --build build -j2)
    fi
    tmp=$(mktemp -d "/tmp/cameo-$1.XXXXXX")
    trap cleanup EXIT
    trap 'exit 130' INT TERM
}

tmp=
cameo_pid=
nginx_pids=()
cleanup() {
    if [ -n "$cameo_pid" ]; then
        kill "$cameo_pid" 2>/dev/null || true
        wait "$cameo_pid" 2>/dev/null || true
    fi
    for p in "${nginx_pids[@]}"; do
        kill -QUIT "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    if [ -n "$tmp" ]; then
        rm -rf "$tmp"
    fi
}

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

# wait_up URL [NAME]: waits up to 10 s for URL to answer; dies with
# "NAME (default URL) did not come up".
wait_up() {
    for _ in $(seq 1 100); do
        curl -s -o /dev/null "$1" && return
        sleep 0.1
    done
    die "${2:-$1} did not come up"
}

# start_cameo: cameo --workers 1 pinned to SERVER_CPU on a free port, data in
# $tmp/cameo-data, log in $tmp/cameo.log; sets cameo_pid and cameo (its base
# URL) and waits for /healthz.
start_cameo() {
    local port
    port=$(free_port)
    mkdir -p "$tmp/cameo-data"
    taskset -c "$SERVER_CPU" "$cameo_bin" serve --listen "127.0.0.1:$port" --data "$tmp/cameo-data" \
        --workers 1 --admin-token "$TOKEN" --log-level warn >"$tmp/cameo.log" 2>&1 &
    cameo_pid=$!
    cameo=http://127.0.0.1:$port
    wait_up "$cameo/healthz" cameo
}

# cpu_ticks PID...: utime+stime of the processes (all threads), in clock ticks.
cpu_ticks() {
    local total=0 p t
    for p in "$@"; do
        # Fields after "(comm) ": state is 1, utime 12, stime 13.
        t=$(sed 's/^.*) //' "/proc/$p/stat" | awk '{ print $12 + $13 }')
        total=$((total + t))
    done
    echo "$total"
}

# cpu1_busy_ticks: CPU SERVER_CPU's non-idle time, in clock ticks.
cpu1_busy_ticks() {
    awk -v cpu="cpu$SERVER_CPU" '$1 == cpu { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat
}

# host_line [WHAT...]: the "# kernel, CPUs, WHAT, date" line of the output.
host_line() {
    echo "# $(uname -sr), $(nproc) CPUs (client and server share them),${*:+ $*,} $(date -u +%Y-%m-%dT%H:%MZ)"
}

# to_ms VALUE_WITH_UNIT: wrk's latency (e.g. 612.00us, 1.20ms, 1.01s) in ms.
to_ms() {
    awk -v x="$1" 'BEGIN {
        v = x; u = x; sub(/[a-z]+$/, "", v); sub(/^[0-9.]+/, "", u)
        printf "%.3f", v * ((u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : 0) }'
}

# wrk_run LABEL PIDS CONNS SECONDS [WRK_OPTION...] URL: one run of
# "wrk -t1 -cCONNS -dSECONDSs --latency WRK_OPTION... URL" pinned to
# CLIENT_CPU, measuring the server processes PIDS (space-separated); dies on
# wrk errors ("errors in the run of LABEL"). Prints
# "rps p50_ms p99_ms requests server_ticks cpu1_ticks".
wrk_run() {
    local label=$1 conns=$3 secs=$4 pids t0 t1 b0 b1 out
    read -r -a pids <<<"$2"
    shift 4
    t0=$(cpu_ticks "${pids[@]}")
    b0=$(cpu1_busy_ticks)
    out=$(taskset -c "$CLIENT_CPU" wrk -t1 -c"$conns" -d"$secs"s --latency "$@")
    t1=$(cpu_ticks "${pids[@]}")
    b1=$(cpu1_busy_ticks)
    if grep -q -e 'Non-2xx' -e 'Socket errors' <<<"$out"; then
        echo "$out" >&2
        die "errors in the run of $label"
    fi
    echo "$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")" \
        "$(to_ms "$(awk '$1 == "50%" { print $2 }' <<<"$out")")" \
        "$(to_ms "$(awk '$1 == "99%" { print $2 }' <<<"$out")")" \
        "$(awk '/ requests in / { print $1 }' <<<"$out")" \
        $((t1 - t0)) $((b1 - b0))
}

# Awk functions put before every bench_awk program (mawk: no asort).
awk_lib='
function median(list,    a, n, i, j, v) {
    n = split(list, a, " ")
    for (i = 2; i <= n; i++) { # insertion sort, numeric
        v = a[i] + 0
        for (j = i - 1; j >= 1 && a[j] + 0 > v; j--) a[j + 1] = a[j]
        a[j + 1] = v
    }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
# other_pct(SERVER_TICKS, CPU1_TICKS): percent of CPU 1 busy time that went
# to other work than the server.
function other_pct(t, b) { return b > t ? (b - t) * 100 / b : 0 }
# contention_cell(SERVER_TICKS, CPU1_TICKS): "3%", or "12% (contended)" above lim.
function contention_cell(t, b,    o) {
    o = other_pct(t, b)
    return sprintf("%.0f%%%s", o, (o > lim) ? " (contended)" : "")
}
# runs_key(KEY): the key of the run lists to use: the uncontended runs, or all
# runs when all are contended. runs_used(KEY): "N of M" or "all M (all contended)".
function runs_key(k) { return (runs[k SUBSEP 1] > 0) ? k SUBSEP 1 : k SUBSEP 0 }
function runs_used(k,    k2) {
    k2 = runs_key(k)
    return (k2 == k SUBSEP 1) ? runs[k2] " of " runs[k SUBSEP 0] : "all " runs[k2] " (all contended)"
}
function warn_contended() {
    if (ncont > 0)
        printf "\nWARNING: %d of %d runs were contended (other work on CPU %d); rerun on a quiet machine.\n", ncont, NR, cpu
}
'

# The summary input: lines "KEY1 KEY2 rps p50_ms p99_ms requests server_ticks
# cpu1_ticks". Per key ("KEY1 KEY2", in order[1..nk]) two sets of space-separated
# lists rps, p50, p99, us (µs CPU/req) and a count runs: [key, 0] all runs,
# [key, 1] the uncontended ones; ncont counts the contended runs.
# shellcheck disable=SC2016 # awk fields, not shell expansions
awk_collect='
{
    key = $1 " " $2
    if (!(key in seen)) { seen[key] = 1; order[++nk] = key }
    clean = other_pct($7, $8) <= lim
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
'

# bench_awk [AWK_OPTION...] PROGRAM: awk PROGRAM (reading stdin if it has
# more than BEGIN) with the functions above and hz, lim (CONTENDED_PCT) and
# cpu (SERVER_CPU) set.
bench_awk() {
    awk -v hz="$hz" -v lim="$CONTENDED_PCT" -v cpu="$SERVER_CPU" "${@:1:$#-1}" "$awk_lib${!#}"
}

# summarize RESULTS [AWK_OPTION...] PROGRAM: bench_awk over the summary input
# RESULTS, collected as above before PROGRAM (an END block) runs.
summarize() {
    local results=$1
    shift
    bench_awk "${@:1:$#-1}" "$awk_collect${!#}" <"$results"
}
