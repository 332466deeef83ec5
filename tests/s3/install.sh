#!/usr/bin/env bash
# Installs the test tooling of tests/s3 (s3rver) with `npm ci`, exactly as
# package-lock.json pins it, unless that lock file is already installed.
# Run by CTest before the S3 integration tests (tests/CMakeLists.txt).
set -euo pipefail
cd "$(dirname "$0")"
stamp=node_modules/.cameo-installed-lock
if [ -f "$stamp" ] && cmp -s package-lock.json "$stamp"; then
  exit 0
fi
command -v npm >/dev/null || {
  echo "tests/s3: npm is missing (scripts/install-deps.sh test installs it)" >&2
  exit 1
}
npm ci --no-audit --no-fund --loglevel=error
cp package-lock.json "$stamp"
