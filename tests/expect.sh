# expect.sh — sourced by the shell tests: `fail` counts a failed check, and
# `expect_error NAME PATTERN -- command...` checks that bad input is refused as
# the brief asks: a non-zero exit without a crash or hang, exactly one line on
# stderr, and that line mentions PATTERN.
fails=${fails:-0}
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
expect_error() {
  local name=$1 pattern=$2 out rc lines
  shift 3
  out=$("$@" 2>&1 >/dev/null)
  rc=$?
  lines=$(printf '%s\n' "$out" | grep -c .)
  if [ $rc -eq 0 ]; then fail "$name: exit 0 (expected an error)"; return 1; fi
  if [ $rc -ge 124 ]; then fail "$name: crashed or hung (exit $rc): $out"; return 1; fi
  if [ "$lines" -ne 1 ]; then fail "$name: expected one error line, got $lines: $out"; return 1; fi
  if ! printf '%s' "$out" | grep -q -- "$pattern"; then fail "$name: '$out' does not mention '$pattern'"; return 1; fi
  echo "ok: $name -> $out"
}
