#!/usr/bin/env bash
# Installs the Debian 12 packages cameo needs, and only those that are
# missing. Usage: scripts/install-deps.sh [build|test|bench]
#   build: compiler, CMake and the libraries cameo links (make run)
#   test:  build, plus the test framework and tools (make test), and Chromium
#          for the browser tests
#   bench: build, plus wrk, nginx-light, redis-server, curl and python3
#          (make bench)
# build and test need node and npm (the chart library, the browser tests and the S3
# tests' s3rver come from npm): Debian's nodejs and npm are installed only
# when the commands are missing, so a Node.js installed otherwise (e.g.
# nodesource) is kept. Debian 12's Node.js 18 is enough: package.json pins
# playwright-core 1.61.1, the last release that runs on 18 (1.62 and later
# refuse to start below Node.js 20).
# Runs apt-get as root, or through sudo when not root.
set -euo pipefail

mode=${1:-build}
build_pkgs=(gcc make cmake pkg-config libh2o-evloop-dev libjansson-dev libsqlite3-dev libssl-dev
  libxxhash-dev zlib1g-dev libhiredis-dev libcurl4-openssl-dev)
test_pkgs=(libcmocka-dev python3 python3-pytest clang-format clang libclang-rt-14-dev redis-server chromium)
bench_pkgs=(wrk nginx-light redis-server curl python3)

case "$mode" in
build) want=("${build_pkgs[@]}") ;;
test) want=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
bench) want=("${build_pkgs[@]}" "${bench_pkgs[@]}") ;;
*)
  echo "usage: $0 [build|test|bench]" >&2
  exit 2
  ;;
esac

# node and npm: by command, not by package (nodesource's nodejs bundles npm
# and conflicts with Debian's npm).
node_pkgs=()
command -v node >/dev/null || node_pkgs+=(nodejs)
command -v npm >/dev/null || node_pkgs+=(npm)
[ "$mode" = bench ] || want+=(${node_pkgs[@]+"${node_pkgs[@]}"})

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null; then
  sudo=(sudo)
else
  echo "install-deps: missing packages (${missing[*]}) and not root; install them or run as root" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
