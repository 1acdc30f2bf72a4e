#!/usr/bin/env bash
# test_train_job.sh MEGAC — the training job's guards (issue 17): a metrics file
# or log that cannot be written (a full disk: /dev/full) fails the run with one
# line instead of exiting 0; --global-batch-size 0 is refused, not taken as the
# default; an --eval-iters that would re-read a text file's validation windows
# more than 1000 times, and a generate --max-new-tokens over 1000 contexts, are
# refused at once instead of running for hours; so are an --eval-iters or
# --train-iters asking for more than 1000 epochs of an indexed GPT or BERT
# dataset's split (before any sample index is built), and sample counts that
# overflow int64; the start-up line of an indexed dataset counts training
# samples, not "tokens".
set -u
MEGAC=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
export OMP_NUM_THREADS=1
. "$here/expect.sh"
python3 "$here/word_corpus.py" "$W" || { echo "FAIL: could not write the corpus"; exit 1; }
M=(--num-layers 1 --hidden-size 32 --num-attention-heads 4 --seq-length 32 --micro-batch-size 2 --train-iters 2
   --lr 1e-3 --log-interval 1 --eval-iters 1)
G=(train gpt --data-path "$W/corpus.txt" "${M[@]}")

# item 4: every write of the metrics file and the log is checked
expect_error "metrics file on a full disk" "metrics-file /dev/full: write failed" -- "$MEGAC" "${G[@]}" --metrics-file /dev/full
out=$("$MEGAC" "${G[@]}" 2>&1 >/dev/full); rc=$?
if [ $rc -eq 1 ] && [ "$(printf '%s\n' "$out" | grep -c .)" -eq 1 ] && printf '%s' "$out" | grep -q "write failed"; then
  echo "ok: log on a full disk -> $out"
else fail "log on a full disk: exit $rc, '$out'"; fi
"$MEGAC" "${G[@]}" --metrics-file "$W/m.jsonl" > "$W/ok.log" 2>&1 && [ "$(grep -c '"lm_loss"' "$W/m.jsonl")" -eq 2 ] \
  && echo "ok: a writable metrics file still gets its records" || fail "a normal run with --metrics-file failed"

# item 14: a global batch of 0 is refused (absent, it is micro-batch x DP)
expect_error "global batch 0" "global-batch-size 0 must be a positive" -- "$MEGAC" "${G[@]}" --global-batch-size 0

# item 15: absurd validation and generation lengths are refused at once
expect_error "huge --eval-iters" "eval-iters 1000000000: one validation would read" -- \
  timeout 20 "$MEGAC" train gpt --data-path "$W/corpus.txt" "${M[@]}" --eval-iters 1000000000
"$MEGAC" "${G[@]}" --save "$W/ck" > "$W/save.log" 2>&1 || fail "could not train the checkpoint for generate"
expect_error "huge --max-new-tokens" "max-new-tokens 2000000000 is more than 1000 times the model's context of 32" -- \
  timeout 20 "$MEGAC" generate --load "$W/ck" --max-new-tokens 2000000000
"$MEGAC" generate --load "$W/ck" --max-new-tokens 40 > "$W/gen.txt" 2>&1 && echo "ok: generate within the bound runs" \
  || fail "generate --max-new-tokens 40: $(cat "$W/gen.txt")"

# item 18: an indexed dataset's start-up line counts samples, not tokens
"$MEGAC" preprocess --input "$W/corpus.jsonl" --output-prefix "$W/i" --tokenizer-type BertWordPieceLowerCase \
  --vocab-file "$W/vocab.txt" --workers 1 > "$W/pre.log" 2>&1 || { cat "$W/pre.log"; fail "preprocess"; }
"$MEGAC" train gpt --data-path "$W/i_text_document" --tokenizer-type BertWordPieceLowerCase --vocab-file "$W/vocab.txt" \
  "${M[@]}" --split 80,10,10 > "$W/idx.log" 2>&1 || fail "indexed training: $(tail -2 "$W/idx.log")"
line=$(grep '^data:' "$W/idx.log")
if printf '%s' "$line" | grep -Eq "^data: .*, [0-9]+ training samples of 33 tokens, micro-batch 2" && ! printf '%s' "$line" | grep -q "tokens (train"; then
  echo "ok: $line"
else fail "indexed start-up line: '$line'"; fi

# item 15: indexed GPT and BERT datasets: a request past 1000 epochs of a split
# is refused within seconds (the old code built the sample index for minutes)
IG=(train gpt --data-path "$W/i_text_document" --tokenizer-type BertWordPieceLowerCase --vocab-file "$W/vocab.txt"
    "${M[@]}" --split 80,10,10)
expect_error "indexed GPT: huge --eval-iters" \
  "eval-iters 10000000 .* asks for 20,000,000 validation samples, [0-9,]* epochs of the [0-9,]* windows of 33 tokens" -- \
  timeout 10 "$MEGAC" "${IG[@]}" --eval-iters 10000000
expect_error "indexed GPT: huge --train-iters" "train-iters 1000000000 .* asks for 2,000,000,000 training samples" -- \
  timeout 10 "$MEGAC" "${IG[@]}" --train-iters 1000000000
expect_error "indexed GPT: validation count past int64" "eval-iters 2147483647 .*: more than 9,223,372,036,854,775,807 validation samples is out of range" -- \
  timeout 10 "$MEGAC" "${IG[@]}" --train-iters 1000 --eval-interval 1 --eval-iters 2147483647 --global-batch-size 2000000000
"$MEGAC" preprocess --input "$W/corpus.jsonl" --output-prefix "$W/s" --tokenizer-type BertWordPieceLowerCase \
  --vocab-file "$W/vocab.txt" --split-sentences --workers 1 > "$W/pre.log" 2>&1 || { cat "$W/pre.log"; fail "preprocess"; }
B=(train bert --data-path "$W/s_text_sentence" --vocab-file "$W/vocab.txt" "${M[@]}")
expect_error "BERT: huge --eval-iters" "eval-iters 100000000 .* asks for 200,000,000 validation samples, [0-9,]* passes over the" -- \
  timeout 10 "$MEGAC" "${B[@]}" --eval-iters 100000000
expect_error "BERT: huge --train-iters" "train-iters 1000000000 .* asks for 2,000,000,000 training samples" -- \
  timeout 10 "$MEGAC" "${B[@]}" --train-iters 1000000000
timeout 60 "$MEGAC" "${B[@]}" > "$W/bert.log" 2>&1 && grep -q "validation loss at iteration 2" "$W/bert.log" \
  && echo "ok: BERT within the bound trains and validates" || fail "BERT normal run: $(tail -2 "$W/bert.log")"
grep -q "validation loss at iteration 2" "$W/idx.log" && echo "ok: indexed GPT within the bound trains and validates" \
  || fail "indexed GPT normal run: $(tail -2 "$W/idx.log")"

grep -Eq '^data: .*, [0-9]+ tokens \(train [0-9]+ windows\)' "$W/ok.log" && echo "ok: a text file's line still counts tokens and windows" \
  || fail "text start-up line: $(grep '^data:' "$W/ok.log")"
[ $fails -eq 0 ]
