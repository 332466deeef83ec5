#!/bin/sh
# presign.sh - presigned S3 GET URLs (--avatar-delivery presigned): us per
# URL and URLs per second, against the same signer deriving its signing key
# for every URL (no per-day key cache); then the daemon's path with its
# table of URLs signed per bucket, against signing every URL. Target: < 10 us
# per URL.
#
# Builds bench/presign.c with the S3 client (src/origin/origin_s3*.c and what
# it links: origin_curl, core_loopmap, core_log, core_error, core_media; gcc -O2) into
# bench/out/ (git-ignored) and runs it. Bounded: < 60 s.
#
# usage: bench/presign.sh [URLS]   (default 1000000 per phase)
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/bench/out"
mkdir -p "$out"
# pkg-config prints several flags: splitting them into words is the point.
# shellcheck disable=SC2046
gcc -std=c11 -D_GNU_SOURCE -O2 -DNDEBUG -Wall -Wextra -Werror -I"$root/include" -I"$root/src" \
    "$root/bench/presign.c" "$root/src/origin/origin_s3_sign.c" "$root/src/origin/origin_s3.c" \
    "$root/src/origin/origin_curl.c" "$root/src/core/core_loopmap.c" "$root/src/core/core_log.c" \
    "$root/src/core/core_error.c" "$root/src/core/core_media.c" \
    $(pkg-config --cflags --libs libcrypto libcurl libxxhash) -lpthread -o "$out/presign"

echo "# bench/presign.sh on $(uname -sr), $(nproc) CPUs, $(date -u +%Y-%m-%d)"
"$out/presign" "${1:-1000000}"
