#!/bin/sh
# blobstore.sh - avatar blobs in SQLite (WAL, synchronous=FULL) versus one
# file per blob (write+fsync+rename+fsync(dir)): per-op microseconds for 4 KiB,
# 64 KiB and 1 MiB writes and reads, and the ratio SQLite/files.
#
# Builds bench/blobstore.c with gcc into bench/out/ (git-ignored) and runs it
# on a scratch directory on the same file system as the repository (override
# with BENCH_DIR=/path, e.g. the real data disk). Bounded: < 60 s in total.
#
# usage: bench/blobstore.sh
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/bench/out"
mkdir -p "$out"
# pkg-config prints several flags: splitting them into words is the point.
# shellcheck disable=SC2046
gcc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror "$root/bench/blobstore.c" \
    $(pkg-config --cflags --libs sqlite3) -o "$out/blobstore"

base=${BENCH_DIR:-$out}
dir=$(mktemp -d "$base/blobstore.XXXXXX")
trap 'rm -rf "$dir"' EXIT INT TERM

echo "# bench/blobstore.sh on $(uname -sr), $(nproc) CPUs," \
    "file system $(df -T "$dir" | awk 'NR == 2 { print $2 " (" $1 ")" }'), $(date -u +%Y-%m-%d)"
"$out/blobstore" "$dir"
