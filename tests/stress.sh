#!/usr/bin/env bash
# Runs the integration suite several times in a row while other processes keep
# every core busy, to find tests that pass only on an idle machine.
#   STRESS_RUNS   how many runs (default 5)
#   STRESS_LOAD   how many busy processes (default: one per core)
#   STRESS_TESTS  what pytest runs (default tests/integration)
# Exits non-zero at the first failing run, after printing which run failed.
set -euo pipefail
runs="${STRESS_RUNS:-5}"
load="${STRESS_LOAD:-$(nproc)}"
tests="${STRESS_TESTS:-tests/integration}"
pids=()
# A temporary folder of its own: pytest prunes old numbered folders under the shared
# /tmp/pytest-of-USER, which would pull files from under a pytest running beside this one.
basetemp="$(mktemp -d)"
stop_load() { [ "${#pids[@]}" -eq 0 ] || kill "${pids[@]}" 2>/dev/null || true; rm -rf "$basetemp"; }
trap stop_load EXIT
for _ in $(seq "$load"); do
  python3 -c 'while True: pass' &
  pids+=("$!")
done
echo "stress: $load busy processes, $runs runs of $tests"
for run in $(seq "$runs"); do
  started=$SECONDS
  if ! pytest -q -p no:cacheprovider --basetemp "$basetemp/run-$run" $tests; then
    echo "stress: run $run of $runs FAILED (after $((SECONDS - started)) s)"
    exit 1
  fi
  echo "stress: run $run of $runs passed in $((SECONDS - started)) s"
done
echo "stress: $runs passed, 0 failed"
