#!/bin/sh
# hitratio.sh - miss ratios of S3-FIFO and S3-FIFO + TinyLFU admission
# (s3fifo-tlfu) against LRU (the baseline), through the cache engine itself
# (cameo-sim, unit_charge, one shard), on the real key traces and on three
# synthetic ones written by bench/hitratio_synth.py (deterministic). For each
# trace, caches of 0.1%, 1% and 10% of its distinct keys; engine defaults
# (move_to_main 2, small queue 10%). Prints markdown tables with the reduction
# in misses against LRU per row and on average. Asserts nothing.
#
# usage: bench/hitratio.sh
#   CAMEO_SIM      path to cameo-sim (default: build/cameo-sim)
#   CAMEO_TRACES   trace folder (default: ../shared/traces from the repo root)
#   SMALL_RATIO    S3-FIFO small queue share, passed as --small-ratio (default: the engine's)
#   MOVE_TO_MAIN   S3-FIFO move_to_main, passed as --move-to-main (default: the engine's)
#   PYTHON         interpreter for the generator (default: /usr/bin/python3)
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
sim=${CAMEO_SIM:-$root/build/cameo-sim}
traces=${CAMEO_TRACES:-$root/../shared/traces}
python=${PYTHON:-/usr/bin/python3}
extra="${SMALL_RATIO:+--small-ratio $SMALL_RATIO} ${MOVE_TO_MAIN:+--move-to-main $MOVE_TO_MAIN}"

if [ ! -x "$sim" ]; then
    echo "hitratio.sh: $sim is not executable; build it (cmake --build build --target cameo-sim) or set CAMEO_SIM" >&2
    exit 1
fi
synth=$(mktemp -d)
trap 'rm -rf "$synth"' EXIT INT TERM
"$python" "$root/bench/hitratio_synth.py" "$synth"

# misses <args...>: prints the miss count of one run.
misses() {
    "$sim" "$@" | sed -n 's/.*misses=\([0-9]*\) .*/\1/p'
}

# ratio <misses> <requests>
ratio() {
    awk -v m="$1" -v r="$2" 'BEGIN { printf "%.4f", m / r }'
}

# fewer <lru misses> <other misses>: percent fewer misses than LRU.
fewer() {
    awk -v l="$1" -v o="$2" 'BEGIN { printf "%.2f", (l - o) * 100 / l }'
}

# table <trace files...>: one markdown table, rows per trace and cache size.
table() {
    echo "| trace | distinct | cache | LRU miss | S3-FIFO miss | fewer misses S3-FIFO | S3-FIFO-TLFU miss | fewer misses S3-FIFO-TLFU |"
    echo "|---|---|---|---|---|---|---|---|"
    sum1=0
    sum2=0
    rows=0
    for trace in "$@"; do
        if [ ! -r "$trace" ]; then
            echo "hitratio.sh: cannot read $trace" >&2
            exit 1
        fi
        name=$(basename "$trace" | sed 's/\.keys\(\.gz\)*$//')
        distinct=$(zcat -f "$trace" | LC_ALL=C sort -u | wc -l)
        requests=$(zcat -f "$trace" | grep -c .)
        for per_mille in 1 10 100; do
            cap=$((distinct * per_mille / 1000))
            [ "$cap" -ge 1 ] || cap=1
            pct=$(awk -v p="$per_mille" 'BEGIN { printf "%g%%", p / 10 }')
            lru=$(misses --capacity "$cap" --policy lru "$trace")
            # shellcheck disable=SC2086 # $extra is empty or flags
            m1=$(misses --capacity "$cap" --policy s3fifo $extra "$trace")
            # shellcheck disable=SC2086
            m2=$(misses --capacity "$cap" --policy s3fifo-tlfu $extra "$trace")
            f1=$(fewer "$lru" "$m1")
            f2=$(fewer "$lru" "$m2")
            echo "| $name | $distinct | $cap ($pct) | $(ratio "$lru" "$requests") | $(ratio "$m1" "$requests") | $f1% | $(ratio "$m2" "$requests") | $f2% |"
            sum1=$(awk -v s="$sum1" -v f="$f1" 'BEGIN { print s + f }')
            sum2=$(awk -v s="$sum2" -v f="$f2" 'BEGIN { print s + f }')
            rows=$((rows + 1))
        done
    done
    echo "| **average** | | | | | **$(awk -v s="$sum1" -v n="$rows" 'BEGIN { printf "%.2f", s / n }')%** | | **$(awk -v s="$sum2" -v n="$rows" 'BEGIN { printf "%.2f", s / n }')%** |"
}

echo "sim: $sim $extra"
echo
echo "Real traces:"
echo
table "$traces/web07.keys.gz" "$traces/scarab-recs.keys.gz"
echo
echo "Synthetic traces (bench/hitratio_synth.py):"
echo
table "$synth/synth-recency.keys" "$synth/synth-shift.keys" "$synth/synth-zipf.keys"
