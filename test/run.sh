#!/usr/bin/env bash
# The whole test suite: builds, prepares the machine (test/env.sh: packages, a throwaway dockerd,
# the busybox test image), runs unit and integration tests, cleans up, and prints one closing line.
set -uo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS

npx tsc -p tsconfig.json || { echo "build failed"; exit 1; }

STATE=${DOCKHAND_TEST_STATE:-/tmp/dockhand-test-env}
export DOCKHAND_TEST_STATE=$STATE
rm -f "$STATE/dockerd.pid"
eval "$(bash test/env.sh)" || { echo "test environment could not be prepared"; exit 1; }

cleanup() {
  # Safety net: every container a test made carries dockhand.test=1.
  ids=$(docker ps -aq --filter label=dockhand.test=1 2>/dev/null)
  [ -n "$ids" ] && docker rm -f -v $ids >/dev/null 2>&1
  if [ -f "$STATE/dockerd.pid" ]; then
    pid=$(cat "$STATE/dockerd.pid")
    kill "$pid" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null
    rm -f "$STATE/dockerd.pid"
  fi
}
trap cleanup EXIT

results=$(mktemp)
run_group() { # name concurrency files...
  local name=$1 concurrency=$2; shift 2
  [ $# -gt 0 ] || return 0
  echo "=== $name ($# files, concurrency $concurrency)"
  node --test --test-reporter=spec --test-reporter-destination=stdout \
       --test-reporter=tap --test-reporter-destination="$results.$name" \
       --test-concurrency="$concurrency" --test-timeout=600000 "$@"
  echo "$?" > "$results.$name.rc"
}

shopt -s nullglob globstar
run_group unit 2 dist/test/unit/**/*.test.js
# Integration files share one daemon; each owns its containers by label, so they run side by side.
run_group integration 3 dist/test/integration/*.test.js
# Files that restart daemons or measure memory run alone.
run_group serial 1 dist/test/integration/serial/*.test.js

pass=0; fail=0; skip=0; rc=0
for f in "$results".*; do
  case $f in
    *.rc) [ "$(cat "$f")" = 0 ] || rc=1 ;;
    *)
      p=$(grep -E '^# pass ' "$f" | awk '{s+=$3} END {print s+0}')
      x=$(grep -E '^# fail ' "$f" | awk '{s+=$3} END {print s+0}')
      s=$(grep -E '^# (skipped|skip|todo) ' "$f" | awk '{s+=$3} END {print s+0}')
      pass=$((pass + p)); fail=$((fail + x)); skip=$((skip + s)) ;;
  esac
done
rm -f "$results" "$results".*
echo "suite took $((SECONDS - start)) s"
echo "tests: $pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ] && [ "$rc" = 0 ]
