#!/usr/bin/env bash
# test_eval.sh MEGAC — `megac eval gpt|bert` (training's flags with --skip-train):
# a tiny model trained and saved; its evaluation from the checkpoint gives exactly
# the validation loss the training run logged for the same weights, in the metrics
# file too; other layouts (TP 2, DP 2 under mpirun) agree to fp32 round-off; no
# step is taken (the checkpoint is unchanged, nothing saved); bad use refused.
set -u
MEGAC=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
refs=${MEGAC_REFS:-$here/../out/refs}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
val() { sed -n 's/.*"val_loss": \([^,]*\),.*/\1/p' "$1" | tail -1; }
close() { awk -v a="$1" -v b="$2" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a != "" && d <= 1e-5 * (b < 0 ? -b : b)) }'; }

for i in $(seq 1 80); do
  echo "Line $i: the quick brown fox jumps over the lazy dog; a stitch in time saves nine."
  echo "Every model is wrong, but some are useful. Measure twice and cut once, number $i."
done > "$W/text.txt"
G=(--data-path "$W/text.txt" --tokenizer-type Byte --num-layers 2 --hidden-size 32 --num-attention-heads 4
   --seq-length 32 --micro-batch-size 2 --global-batch-size 4 --eval-iters 3)
"$MEGAC" train gpt "${G[@]}" --train-iters 6 --lr 3e-3 --log-interval 3 --eval-interval 100 --save "$W/ck" \
  --metrics-file "$W/train.jsonl" > "$W/train.log" 2>&1 || fail "train gpt: $(tail -2 "$W/train.log")"
want=$(val "$W/train.jsonl")
sum_before=$(find "$W/ck" -type f -exec md5sum {} + | sort | md5sum)
"$MEGAC" eval gpt "${G[@]}" --load "$W/ck" --metrics-file "$W/eval.jsonl" > "$W/eval.log" 2>&1 \
  || fail "eval gpt: $(tail -2 "$W/eval.log")"
got=$(val "$W/eval.jsonl")
if [ -n "$want" ] && [ "$got" = "$want" ] && grep -q "validation loss at iteration 6 | lm loss value: .* | lm loss PPL:" "$W/eval.log" \
   && grep -q "^evaluation done" "$W/eval.log"; then echo "ok: eval gpt = the training run's last validation ($got)"
else fail "eval gpt: $got, training logged $want: $(tail -3 "$W/eval.log")"; fi
grep -q '"val_ppl"' "$W/eval.jsonl" && ! grep -q '"lm_loss"' "$W/eval.jsonl" || fail "eval metrics: $(cat "$W/eval.jsonl")"
[ "$(find "$W/ck" -type f -exec md5sum {} + | sort | md5sum)" = "$sum_before" ] || fail "eval changed the checkpoint"
want=$got
for tp in 2 1; do  # 2 ranks: TP 2, then DP 2
  timeout 300 mpirun -np 2 "$MEGAC" eval gpt "${G[@]}" --tensor-model-parallel-size $tp --load "$W/ck" \
    --metrics-file "$W/l.jsonl" > "$W/l.log" 2>&1 || fail "eval gpt on 2 ranks, TP $tp: $(tail -2 "$W/l.log")"
  g=$(val "$W/l.jsonl")
  close "$g" "$want" && echo "ok: eval gpt on 2 ranks, TP $tp: $g" || fail "eval gpt on 2 ranks, TP $tp: $g != $want"
done
out=$("$MEGAC" eval gpt "${G[@]}" --eval-iters 0 2>&1 >/dev/null); [ $? -ne 0 ] && printf '%s' "$out" | grep -q -- "--eval-iters" \
  && echo "ok: refused: $out" || fail "eval with --eval-iters 0: $out"
out=$("$MEGAC" eval gpt "${G[@]}" --train-iters 5 2>&1 >/dev/null); [ $? -ne 0 ] && printf '%s' "$out" | grep -q -- "--train-iters" \
  && echo "ok: refused: $out" || fail "eval with --train-iters: $out"

# BERT on real text with the real vocabulary (skipped without it)
if bash "$here/data/fetch_refs.sh" "$refs" > /dev/null 2>&1 && [ -s "$refs/bert-vocab.txt" ]; then
  V=$refs/bert-vocab.txt
  python3 "$here/../tools/fortunes_jsonl.py" "$W/f.jsonl" && "$MEGAC" preprocess --input "$W/f.jsonl" --output-prefix "$W/f" \
    --tokenizer-type BertWordPieceLowerCase --vocab-file "$V" --split-sentences --quiet > /dev/null 2>&1 || fail "BERT data"
  B=(--data-path "$W/f_text_sentence" --vocab-file "$V" --num-layers 2 --hidden-size 64 --num-attention-heads 4
     --seq-length 32 --micro-batch-size 4 --global-batch-size 8 --eval-iters 2)
  "$MEGAC" train bert "${B[@]}" --train-iters 4 --lr 1e-3 --log-interval 2 --eval-interval 100 --save "$W/bk" \
    --metrics-file "$W/btrain.jsonl" > "$W/btrain.log" 2>&1 || fail "train bert: $(tail -2 "$W/btrain.log")"
  "$MEGAC" eval bert "${B[@]}" --load "$W/bk" --metrics-file "$W/beval.jsonl" > "$W/beval.log" 2>&1 \
    || fail "eval bert: $(tail -2 "$W/beval.log")"
  want=$(val "$W/btrain.jsonl") got=$(val "$W/beval.jsonl")
  acc_t=$(grep "masked-LM accuracy" "$W/btrain.log" | tail -1 | sed 's/.*masked-LM accuracy//')
  acc_e=$(grep "masked-LM accuracy" "$W/beval.log" | tail -1 | sed 's/.*masked-LM accuracy//')
  if [ -n "$want" ] && [ "$got" = "$want" ] && [ -n "$acc_e" ] && [ "$acc_e" = "$acc_t" ]; then
    echo "ok: eval bert = the training run's last validation (loss $got; masked-LM accuracy$acc_e)"
  else fail "eval bert: loss $got vs $want; accuracy '$acc_e' vs '$acc_t'"; fi
  # the masked-LM accuracy in the metrics file: the printed value, the training run's validation record's
  macc() { grep '"val_mlm_accuracy"' "$1" | tail -1 | sed 's/.*"val_mlm_accuracy": *\([^,}]*\).*/\1/'; }
  m_e=$(macc "$W/beval.jsonl") m_t=$(macc "$W/btrain.jsonl") p_e=$(echo "$acc_e" | awk '{print $1}')
  if [ -n "$m_e" ] && [ "$m_e" = "$m_t" ] && awk -v a="$m_e" -v b="$p_e" 'BEGIN{d=a-b; exit !(d<0.00006 && d>-0.00006)}'; then
    echo "ok: eval bert --metrics-file val_mlm_accuracy $m_e (printed $p_e)"
  else fail "eval bert metrics: val_mlm_accuracy '$m_e' vs training '$m_t', printed '$p_e': $(cat "$W/beval.jsonl")"; fi
  timeout 300 mpirun -np 2 "$MEGAC" eval bert "${B[@]}" --tensor-model-parallel-size 2 --load "$W/bk" \
    --metrics-file "$W/bl.jsonl" > "$W/bl.log" 2>&1 || fail "eval bert TP 2: $(tail -2 "$W/bl.log")"
  g=$(val "$W/bl.jsonl")
  close "$g" "$want" && echo "ok: eval bert at TP 2: $g" || fail "eval bert TP 2: $g != $want"
else
  echo "note: no BERT vocabulary (tests/data/fetch_refs.sh): eval bert not checked"
fi
[ $fails -eq 0 ] && echo "eval: all checks passed"
exit $((fails > 0))
