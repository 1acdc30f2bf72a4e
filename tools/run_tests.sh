#!/usr/bin/env bash
# run_tests.sh — installs, builds, and runs the whole test suite: every test in a
# release build, then the quick suite again under AddressSanitizer and
# UndefinedBehaviorSanitizer. Ends with "N passed, N failed[, N skipped]".
set -uo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }

passed=0; failed=0; skipped=0
count() { # adds a meson test summary to the totals
  local log=$1 ok fail skip timeout
  ok=$(awk '/^Ok:/ {print $2}' "$log" | tail -1)
  fail=$(awk '/^Fail:/ {print $2}' "$log" | tail -1)
  skip=$(awk '/^Skipped:/ {print $2}' "$log" | tail -1)
  timeout=$(awk '/^Timeout:/ {print $2}' "$log" | tail -1)
  passed=$((passed + ${ok:-0})); failed=$((failed + ${fail:-0} + ${timeout:-0})); skipped=$((skipped + ${skip:-0}))
}
run_pass() { # name build-dir meson-test-args...
  local name=$1 dir=$2; shift 2
  echo "== $name =="
  local log; log=$(mktemp)
  if ! meson test -C "$dir" --print-errorlogs "$@" 2>&1 | tee "$log"; then :; fi
  if ! grep -q '^Ok:' "$log"; then failed=$((failed + 1)); echo "$name: meson test did not run"; fi
  count "$log"
  rm -f "$log"
}

if bash tools/build.sh build --buildtype=release; then
  run_pass "release build: all tests" build
else
  echo "release build failed"; failed=$((failed + 1))
fi
if bash tools/build.sh build-san --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false -Dcuda=disabled; then
  # Open MPI keeps memory until exit: tests/lsan.supp names its libraries; the slow
  # unwinder and kept plugins let LeakSanitizer attribute those allocations.
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:fast_unwind_on_malloc=0 \
  LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp:print_suppressions=0 \
  OMPI_MCA_mca_base_component_disable_dlclose=1 \
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    run_pass "ASan+UBSan build: quick suite" build-san --suite quick
else
  echo "sanitizer build failed"; failed=$((failed + 1))
fi

line="$passed passed, $failed failed"
[ "$skipped" -gt 0 ] && line="$line, $skipped skipped"
echo "$line"
[ "$failed" -eq 0 ]
