#!/usr/bin/env bash
# browser.sh - time to 50 avatars painted in headless Chromium: /demo through
# cameo.js (cold, warm, reload, offline) against plain <img src> of the
# redirecting avatar URL (bench/browser.mjs). Uses the Release build (built
# if missing) and the npm packages of build/npm (playwright-core: the build
# installs it only in test builds, so this script runs npm ci there when it
# is missing). Needs /usr/bin/chromium (scripts/install-deps.sh test).
#
# usage: bench/browser.sh      ROUNDS (default 5)   Runtime: about 1 minute.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${CAMEO_BIN:-$root/build/cameo}
npm_dir=$root/build/npm
[ -x "$bin" ] || make -C "$root" build
[ -x /usr/bin/chromium ] || "$root/scripts/install-deps.sh" test
if [ ! -d "$npm_dir/node_modules/playwright-core" ]; then
    mkdir -p "$npm_dir"
    cp "$root/package.json" "$root/package-lock.json" "$npm_dir/"
    (cd "$npm_dir" && npm ci --no-audit --no-fund --loglevel=error)
fi
echo "host: $(nproc) cores, $(uname -sr), chromium $(/usr/bin/chromium --version 2>/dev/null | awk '{print $2}'), cameo $bin"
CAMEO_BIN=$bin CAMEO_NPM_DIR=$npm_dir node "$root/bench/browser.mjs"
