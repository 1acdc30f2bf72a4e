#!/usr/bin/env bash
# fuzz_libfuzzer.sh OUT_DIR [SECONDS] — builds the libFuzzer form of tests/data/fuzz_data.c
# with clang (AddressSanitizer and UBSan) into OUT_DIR/fuzz_data and runs it for SECONDS
# (default 10) on a fresh corpus. CI runs it (meson test data_fuzz_libfuzzer) so the build
# line cannot drift from the sources; by hand, for a long run:
#   bash tests/data/fuzz_libfuzzer.sh out/fuzz 600
# Exits 77 (skipped) when clang with libFuzzer is not installed.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:?usage: fuzz_libfuzzer.sh OUT_DIR [SECONDS]}
secs=${2:-10}
mkdir -p "$out"
out=$(cd "$out" && pwd)
CLANG=${CLANG:-clang}
if ! command -v "$CLANG" >/dev/null || ! echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { return 0; }' |
    "$CLANG" -x c -fsanitize=fuzzer - -o "$out/probe" 2>/dev/null; then
  echo "SKIP: no clang with libFuzzer (-fsanitize=fuzzer)"
  exit 77
fi
rm -f "$out/probe"
cd "$root"
# the data readers and what they include from framework/
src=(tests/data/fuzz_data.c data/indexed_dataset.c data/file_util.c data/bpe.c data/wordpiece.c data/tokenizer.c
     data/utf8.c framework/error.c framework/fileio.c)
# shellcheck disable=SC2046
"$CLANG" -g -O1 -fsanitize=fuzzer,address,undefined -D_DEFAULT_SOURCE -I. $(pkg-config --cflags libutf8proc libcjson) \
  "${src[@]}" $(pkg-config --libs libutf8proc libcjson) -lm -o "$out/fuzz_data" || { echo "FAIL: the libFuzzer build"; exit 1; }
mkdir -p "$out/corpus"
MEGAC_REFS=${MEGAC_REFS:-$root/out/refs} "$out/fuzz_data" -max_total_time="$secs" -rss_limit_mb=2048 "$out/corpus" \
  > "$out/fuzz.log" 2>&1
rc=$?
grep -E "^#[0-9]+.*(DONE|pulse)" "$out/fuzz.log" | tail -1
if [ $rc -ne 0 ]; then tail -40 "$out/fuzz.log"; echo "FAIL: the fuzzer found a crash (exit $rc; log $out/fuzz.log)"; exit 1; fi
echo "fuzz_data (libFuzzer): $secs s clean"
