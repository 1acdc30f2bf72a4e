#!/usr/bin/env bash
# test_split.sh MEGAC — --split with a zero weight trains, as in Megatron, which builds no
# dataset for it; so does the default 969,30,1 on a dataset too small for a test split,
# since training never reads the test split (issue 17, item 17: both were refused with
# "the test split is empty"). A split that is read (validation, with --eval-iters > 0)
# and holds nothing is still refused in one line.
set -u
MEGAC=$(realpath "$1")
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
cd "$W"
printf '%s\n' '[PAD]' '[UNK]' '[CLS]' '[SEP]' '[MASK]' the quick brown fox jumps over lazy dog . a b c > vocab.txt
for i in $(seq 1 50); do
  echo '{"text": "The quick brown fox jumps over the lazy dog. A b c the dog. The fox jumps over a dog."}'
done > in.jsonl
P=(--tokenizer-type BertWordPieceLowerCase --vocab-file vocab.txt --log-interval 0)
"$MEGAC" preprocess --input in.jsonl --output-prefix d "${P[@]}" >/dev/null 2>&1 || fail "preprocess (documents)"
"$MEGAC" preprocess --input in.jsonl --output-prefix s --split-sentences "${P[@]}" >/dev/null 2>&1 ||
  fail "preprocess (sentences)"
T=(--num-layers 1 --hidden-size 16 --num-attention-heads 2 --seq-length 16 --micro-batch-size 2 --global-batch-size 2
   --train-iters 2 --lr 1e-3 --eval-interval 1 --eval-iters 1 --tokenizer-type BertWordPieceLowerCase
   --vocab-file vocab.txt)
run() { # run NAME EXPECT(ok|refused) PATTERN -- command...
  local name=$1 want=$2 pattern=$3
  shift 4
  local out rc
  out=$(timeout 120 "$@" 2>&1)
  rc=$?
  if [ "$want" = ok ]; then
    [ $rc -eq 0 ] && printf '%s' "$out" | grep -q "training done" && echo "ok: $name trains" ||
      fail "$name: exit $rc: $(printf '%s' "$out" | tail -1)"
  else
    [ $rc -eq 1 ] && printf '%s' "$out" | tail -1 | grep -q -- "$pattern" && echo "ok: $name -> $(printf '%s' "$out" | tail -1)" ||
      fail "$name: exit $rc, expected a refusal mentioning '$pattern': $(printf '%s' "$out" | tail -1)"
  fi
}
for model in gpt bert; do
  data=d_text_document
  [ $model = bert ] && data=s_text_sentence
  run "$model --split 90,10,0" ok "" -- "$MEGAC" train $model "${T[@]}" --data-path $data --split 90,10,0
  run "$model default split (969,30,1) on 50 documents" ok "" -- "$MEGAC" train $model "${T[@]}" --data-path $data
  run "$model --split 90,0,10 --eval-iters 0" ok "" -- \
    "$MEGAC" train $model "${T[@]}" --data-path $data --split 90,0,10 --eval-iters 0
  run "$model --split 90,0,10 with validation" refused "--eval-iters 0" -- \
    "$MEGAC" train $model "${T[@]}" --data-path $data --split 90,0,10
done
if [ $fails -ne 0 ]; then echo "$fails check(s) failed" >&2; exit 1; fi
echo "test_split: all checks passed"
