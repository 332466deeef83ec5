#!/bin/sh
# origin_calls.sh - origin calls per 1,000 reads through the HTTP
# user-service origin: 1M reads, Zipf(0.9) over 100,000 users, at a fixed
# rate, at two concurrency levels, against no cache (one origin call per
# read). Target: one origin call per key per TTL window, whatever the
# concurrency (origin reads per distinct key = 1.00). See
# bench/origin_calls.py. Needs a Release build (make build). Bounded: about
# 2 x READS / RATE seconds.
#
# usage: bench/origin_calls.sh [READS] [RATE] [CONNS,CONNS]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${CAMEO_BIN:-$root/build/cameo}
echo "# bench/origin_calls.sh on $(uname -sr), $(nproc) CPUs, $(date -u +%Y-%m-%d), $bin"
exec python3 "$root/bench/origin_calls.py" "$bin" "${1:-1000000}" "${2:-10000}" "${3:-8,64}"
