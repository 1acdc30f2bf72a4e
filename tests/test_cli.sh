#!/usr/bin/env bash
# test_cli.sh MEGAC — the megac command end to end: bad input gives one clear
# line and a non-zero exit before anything large is allocated; a tiny model
# trains, logs JSON metrics, saves a checkpoint, and generates from it; a
# corrupted or truncated checkpoint is refused; runs are bitwise identical
# with 1 and 2 threads.
set -u
MEGAC=$(realpath "$1")
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# A small English text: this script's own words, repeated with variations.
for i in $(seq 1 60); do
  echo "Line $i: the quick brown fox jumps over the lazy dog; a stitch in time saves nine."
  echo "Every model is wrong, but some are useful. Measure twice and cut once, number $i."
done > "$W/text.txt"
printf 'too short' > "$W/short.txt"

TINY=(--num-layers 2 --hidden-size 32 --num-attention-heads 4 --seq-length 32 --micro-batch-size 4
      --global-batch-size 8 --lr 3e-3 --train-iters 30 --log-interval 10 --eval-interval 15 --eval-iters 1)

# A 4 GB address-space limit proves nothing large is allocated; sanitizer builds
# reserve terabytes of shadow address space, so they run without it.
LIMIT="ulimit -v 4000000"
ldd "$MEGAC" 2>/dev/null | grep -q libasan && LIMIT=":"

# expect_error NAME PATTERN -- command...: non-zero exit, exactly one stderr line matching PATTERN
expect_error() {
  local name=$1 pattern=$2
  shift 3
  local out rc lines
  out=$( ($LIMIT; "$@") 2>&1 >/dev/null)
  rc=$?
  lines=$(printf '%s\n' "$out" | grep -c .)
  if [ $rc -eq 0 ]; then fail "$name: exit 0 (expected an error)"; return; fi
  if [ $rc -ge 128 ]; then fail "$name: crashed with exit $rc: $out"; return; fi
  if [ "$lines" -ne 1 ]; then fail "$name: expected one error line, got $lines: $out"; return; fi
  if ! printf '%s' "$out" | grep -q -- "$pattern"; then fail "$name: error '$out' does not mention '$pattern'"; return; fi
  echo "ok: $name -> $out"
}

expect_error "heads do not divide hidden" "--num-attention-heads 5 does not divide --hidden-size 32" -- \
  "$MEGAC" train gpt "${TINY[@]}" --num-attention-heads 5 --data-path "$W/text.txt"
expect_error "missing data file" "$W/nope.txt" -- \
  "$MEGAC" train gpt "${TINY[@]}" --data-path "$W/nope.txt"
expect_error "zero micro-batch" "--micro-batch-size must be positive" -- \
  "$MEGAC" train gpt "${TINY[@]}" --micro-batch-size 0 --data-path "$W/text.txt"
expect_error "negative micro-batch" "--micro-batch-size must be positive" -- \
  "$MEGAC" train gpt "${TINY[@]}" --micro-batch-size -2 --data-path "$W/text.txt"
expect_error "negative global batch" "--global-batch-size -8" -- \
  "$MEGAC" train gpt "${TINY[@]}" --global-batch-size -8 --data-path "$W/text.txt"
expect_error "global batch not a multiple" "--global-batch-size 6 must be a positive multiple of --micro-batch-size 4" -- \
  "$MEGAC" train gpt "${TINY[@]}" --global-batch-size 6 --data-path "$W/text.txt"
expect_error "data shorter than a sequence" "fewer than one sample" -- \
  "$MEGAC" train gpt "${TINY[@]}" --data-path "$W/short.txt"
expect_error "unknown flag" "unknown flag '--hidden-sise'" -- \
  "$MEGAC" train gpt --hidden-sise 3 --data-path "$W/text.txt"
expect_error "not a number" "--lr: 'fast' is not a number" -- \
  "$MEGAC" train gpt "${TINY[@]}" --lr fast --data-path "$W/text.txt"
expect_error "seq longer than positions" "--max-position-embeddings 16 is smaller than --seq-length 32" -- \
  "$MEGAC" train gpt "${TINY[@]}" --max-position-embeddings 16 --data-path "$W/text.txt"
expect_error "8.3B with a missing file fails before allocating" "--data-path" -- \
  "$MEGAC" train gpt --preset gpt-8.3b --train-iters 1 --lr 1e-4 --data-path "$W/nope.txt"
expect_error "8.3B that does not fit is refused before allocating" "needs" -- \
  "$MEGAC" train gpt --preset gpt-8.3b --train-iters 1 --lr 1e-4 --data-path "$W/text.txt" --micro-batch-size 512 --eval-iters 0
expect_error "unknown preset" "unknown preset 'gpt-9b'" -- \
  "$MEGAC" train gpt --preset gpt-9b --data-path "$W/text.txt"
expect_error "generate without weights" "$W/none.bin" -- \
  "$MEGAC" generate --load "$W/none.bin"

# the 8.3B parameter count, printed without allocating (4 GB address-space limit)
out=$( ($LIMIT; "$MEGAC" train gpt --preset gpt-8.3b --print-params) 2>&1)
if printf '%s' "$out" | grep -q "parameters: 8314288128 (8.314 B)"; then echo "ok: gpt-8.3b --print-params"; else fail "gpt-8.3b --print-params: $out"; fi

# the dry run at the 8.3B/512-GPU layout: one rank's exact 1/8 shards, the analytic total, nothing allocated
out=$( ($LIMIT; "$MEGAC" train gpt --preset gpt-8.3b --tensor-model-parallel-size 8 --dry-run --world-size 512) 2>&1)
if printf '%s' "$out" | grep -q "= 8317040640 = gpt_param_count"; then echo "ok: gpt-8.3b --dry-run at TP=8 x 512"
else fail "gpt-8.3b --dry-run: $(printf '%s' "$out" | tail -3)"; fi

# train, log, save, generate
if "$MEGAC" train gpt "${TINY[@]}" --data-path "$W/text.txt" --metrics-file "$W/m.jsonl" --save "$W/ck" > "$W/log.txt" 2>&1; then
  n=$(grep -c '"lm_loss"' "$W/m.jsonl")
  v=$(grep -c '"val_loss"' "$W/m.jsonl")
  first=$(grep '"lm_loss"' "$W/m.jsonl" | head -1 | sed 's/.*"lm_loss": \([^,]*\),.*/\1/')
  last=$(grep '"lm_loss"' "$W/m.jsonl" | tail -1 | sed 's/.*"lm_loss": \([^,]*\),.*/\1/')
  for key in iteration lm_loss lr grad_norm tokens_per_sec; do
    grep -q "\"$key\"" "$W/m.jsonl" || fail "metrics lack $key"
  done
  [ "$n" -eq 3 ] && [ "$v" -eq 2 ] || fail "expected 3 training and 2 validation metric lines, got $n and $v"
  awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a - 0.5) }' || fail "loss did not fall: $first -> $last"
  grep -q "validation loss at iteration 30" "$W/log.txt" || fail "no validation log line"
  echo "ok: training loss $first -> $last"
  gen=$("$MEGAC" generate --load "$W/ck" --prompt "The quick" --max-new-tokens 40 --seed 3 2>&1)
  [ $? -eq 0 ] && [ "${#gen}" -ge 49 ] || fail "generate: $gen"
  echo "ok: generated: $(printf '%s' "$gen" | head -1)"
  grep -q "successfully saved checkpoint at iteration      30" "$W/log.txt" || fail "no checkpoint saved at iteration 30"
  "$MEGAC" ckpt verify "$W/ck" > /dev/null || fail "ckpt verify of the saved checkpoint failed"
  # corrupt a byte of a tensor, and truncate the file: both refused with the file named
  F=$W/ck/iter_0000030/mp_rank_00.h5
  off=$("$MEGAC" ckpt inspect "$W/ck" --boxes | grep "mp_rank_00.h5:model/embedding/word_embeddings/weight " |
        sed 's/.*first at byte \([0-9]*\).*/\1/')
  cp -a "$W/ck" "$W/bad"
  printf '\x55' | dd of="$W/bad/iter_0000030/mp_rank_00.h5" bs=1 seek=$((off + 3000)) conv=notrunc 2>/dev/null
  expect_error "corrupted checkpoint" "mp_rank_00.h5: model/embedding/word_embeddings/weight: checksum mismatch" -- "$MEGAC" generate --load "$W/bad"
  cp -a "$W/ck" "$W/trunc"
  head -c 20000 "$F" > "$W/trunc/iter_0000030/mp_rank_00.h5"
  expect_error "truncated checkpoint" "$W/trunc/iter_0000030/mp_rank_00.h5" -- "$MEGAC" generate --load "$W/trunc"
else
  fail "training failed: $(tail -3 "$W/log.txt")"
fi

# bitwise-identical losses with 1 and 2 threads (dropout on)
strip() { sed 's/, "ms_per_iter".*//' "$1"; }
OMP_NUM_THREADS=1 "$MEGAC" train gpt "${TINY[@]}" --train-iters 6 --log-interval 1 --data-path "$W/text.txt" --metrics-file "$W/t1.jsonl" > /dev/null 2>&1
OMP_NUM_THREADS=2 "$MEGAC" train gpt "${TINY[@]}" --train-iters 6 --log-interval 1 --data-path "$W/text.txt" --metrics-file "$W/t2.jsonl" > /dev/null 2>&1
if [ -s "$W/t1.jsonl" ] && cmp -s <(strip "$W/t1.jsonl") <(strip "$W/t2.jsonl"); then
  echo "ok: 1 and 2 threads give identical losses"
else
  fail "1 and 2 threads differ: $(diff <(strip "$W/t1.jsonl") <(strip "$W/t2.jsonl") | head -4)"
fi

"$MEGAC" train gpt --help > /dev/null || fail "train gpt --help"
"$MEGAC" generate --help > /dev/null || fail "generate --help"
"$MEGAC" bench --help > /dev/null || fail "bench --help"
"$MEGAC" ckpt --help > /dev/null || fail "ckpt --help"

[ $fails -eq 0 ] && echo "test_cli: all checks passed" || echo "test_cli: $fails check(s) failed"
exit $((fails > 0))
