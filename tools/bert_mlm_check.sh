#!/usr/bin/env bash
# bert_mlm_check.sh [MEGAC] — does a tiny BERT learn masked-LM on real text?
#
# Trains a 2-layer, hidden-128, 4-head post-LN BERT (4.4M parameters, 3.9M of them
# the tied word embeddings of the real 30,522-token uncased WordPiece vocabulary)
# with Adam on the fortunes corpus (tools/fortunes_jsonl.py, ~600k tokens; sentence
# pairs at --seq-length 64, 15% whole-word masking) for ITERS iterations of 8
# sequences (lr 1e-3, 200 warmup iterations, linear decay, no dropout), validating
# on 1,024 held-out sequences every ITERS/4 iterations. One core (OMP_NUM_THREADS=1):
# about 8-12 minutes for the default 4000 iterations on the 2-core CI machine,
# depending on its load.
#
# Asserts: the last validation's masked-LM accuracy is at least RATIO (default 1.5)
# times the majority-token baseline (the share of the most frequent masked label,
# '.', about 0.10) and above the first validation's accuracy. The issue's goal is
# 2x (RATIO=2); this budget reaches about 1.7x, ITERS=16000 about 2.05x (README, "Does a
# tiny BERT learn?"; `ITERS=16000 THREADS=2 RATIO=2`, about 17 minutes on 2 cores). The
# validation lines and the wall time are printed; the full log is kept as
# $OUT/bert_mlm_check.log (OUT defaults to out/).
#
# Environment: ITERS (4000), RATIO (1.5), THREADS (1: OMP_NUM_THREADS), MEGAC_REFS (out/refs: bert-vocab.txt,
# fetched by tests/data/fetch_refs.sh when missing), OUT (out).
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
MEGAC=$(realpath "${1:-$repo/build/megac}")
ITERS=${ITERS:-4000}
RATIO=${RATIO:-1.5}
THREADS=${THREADS:-1}
refs=${MEGAC_REFS:-$repo/out/refs}
out=${OUT:-$repo/out}
mkdir -p "$out"
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
if [ ! -s "$refs/bert-vocab.txt" ] && ! bash "$repo/tests/data/fetch_refs.sh" "$refs" >/dev/null; then
  echo "bert_mlm_check: no BERT vocabulary in $refs (tests/data/fetch_refs.sh failed)"; exit 1
fi
V=$refs/bert-vocab.txt
python3 "$here/fortunes_jsonl.py" "$W/fortunes.jsonl" >/dev/null || exit 1
"$MEGAC" preprocess --input "$W/fortunes.jsonl" --output-prefix "$W/f" --tokenizer-type BertWordPieceLowerCase \
  --vocab-file "$V" --split-sentences --workers 1 > "$W/pre.log" 2>&1 || { cat "$W/pre.log"; exit 1; }
log=$out/bert_mlm_check.log
start=$(date +%s)
OMP_NUM_THREADS=$THREADS "$MEGAC" train bert --data-path "$W/f_text_sentence" --vocab-file "$V" --num-layers 2 \
  --hidden-size 128 --num-attention-heads 4 --seq-length 64 --micro-batch-size 8 --global-batch-size 8 \
  --train-iters "$ITERS" --lr 1e-3 --lr-warmup-iters 200 --optimizer adam --lr-decay-style linear \
  --hidden-dropout 0 --attention-dropout 0 --log-interval 100 --eval-interval $((ITERS / 4)) --eval-iters 128 \
  > "$log" 2>&1 || { tail -5 "$log"; echo "bert_mlm_check: FAIL: training failed"; exit 1; }
wall=$(($(date +%s) - start))
grep "masked-LM accuracy" "$log"
first=$(grep "masked-LM accuracy" "$log" | head -1 | sed 's/.*masked-LM accuracy \([0-9.]*\).*/\1/')
acc=$(grep "masked-LM accuracy" "$log" | tail -1 | sed 's/.*masked-LM accuracy \([0-9.]*\).*/\1/')
base=$(grep "masked-LM accuracy" "$log" | tail -1 | sed 's/.*baseline \([0-9.]*\).*/\1/')
echo "bert_mlm_check: $ITERS iterations in ${wall} s ($(date -u +%Y-%m-%d), $(nproc) cores, OMP_NUM_THREADS=$THREADS):" \
  "accuracy $acc, majority baseline $base, ratio $(awk -v a="$acc" -v b="$base" 'BEGIN { printf "%.2f", a / b }')"
awk -v a="$acc" -v b="$base" -v r="$RATIO" -v f="$first" 'BEGIN { exit !(a >= r * b && a > f) }' \
  || { echo "bert_mlm_check: FAIL: accuracy $acc is not >= $RATIO x baseline $base and above the first validation's $first"; exit 1; }
echo "bert_mlm_check: ok"
