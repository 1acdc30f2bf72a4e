#!/usr/bin/env bash
# redesign_compare.sh BASELINE_MEGAC NEW_MEGAC [OUT] — issue 15's no-behaviour-change
# evidence: the same GPT (Byte, quickstart-like; then TP 2 x DP 2 + ZeRO-1 under
# mpirun) and BERT (TP 2; DP 2 + ZeRO-1 + fp16) runs, and resumes of both from
# the checkpoints each binary wrote at another layout, with both binaries; metrics files must be identical apart
# from the timing fields, stdout apart from timings, and the checkpoints' weights
# bitwise (h5diff).
set -u
A=$(realpath "$1"); B=$(realpath "$2"); W=${3:-$(mktemp -d)}
mkdir -p "$W"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 OMP_NUM_THREADS=1
fails=0
python3 "$(dirname "$0")/../tests/word_corpus.py" "$W" || exit 1
"$A" preprocess --input "$W/corpus.jsonl" --output-prefix "$W/c" --tokenizer-type BertWordPieceLowerCase \
  --vocab-file "$W/vocab.txt" --split-sentences --workers 1 > "$W/pre.log" 2>&1 || { cat "$W/pre.log"; exit 1; }
GPT=(train gpt --data-path "$W/corpus.txt" --num-layers 2 --hidden-size 64 --num-attention-heads 4 --seq-length 64
     --micro-batch-size 4 --global-batch-size 8 --train-iters 30 --lr 3e-3 --min-lr 3e-4 --lr-decay-style cosine
     --lr-warmup-iters 5 --log-interval 5 --eval-interval 15 --eval-iters 2 --save-interval 15)
BERT=(train bert --data-path "$W/c_text_sentence" --vocab-file "$W/vocab.txt" --num-layers 2 --hidden-size 32
      --num-attention-heads 4 --ffn-hidden-size 64 --seq-length 32 --micro-batch-size 2 --global-batch-size 8
      --optimizer lamb --lr 1e-2 --lr-warmup-iters 2 --lr-decay-style cosine --train-iters 12 --log-interval 1
      --eval-iters 1 --eval-interval 4 --ddp-bucket-size 2000)
CASES=("gpt1|1|${GPT[*]} --hidden-dropout 0 --attention-dropout 0"
       "gpt_tp2dp2_zero1|4|${GPT[*]} --tensor-model-parallel-size 2 --use-distributed-optimizer --ddp-bucket-size 5000"
       "bert_tp2|2|${BERT[*]} --tensor-model-parallel-size 2"
       "bert_dp2_fp16|2|${BERT[*]} --use-distributed-optimizer --fp16"
       "gpt_resume_tp1dp2|2|${GPT[*]} --load $W/SIDE_gpt_tp2dp2_zero1.ck/iter_0000015"
       "bert_resume_tp2|2|${BERT[*]} --train-iters 16 --tensor-model-parallel-size 2 --load $W/SIDE_bert_dp2_fp16.ck")
strip() { sed -E 's/, "ms_per_iter": [^,]*, "tokens_per_sec": [^,}]*//' "$1"; }
striplog() { sed -E 's/elapsed time per iteration \(ms\): [0-9.]*|tokens per second: [0-9.]*|in [0-9.]* s|\([0-9.]* MB in [^)]*\)//g; s#'"$W"'/[ab]_#X_#g' "$1"; }
for c in "${CASES[@]}"; do
  IFS='|' read -r tag np args <<< "$c"
  for side in a b; do
    bin=$A; [ $side = b ] && bin=$B
    rm -rf "$W/${side}_$tag.ck"
    timeout 300 mpirun -np "$np" "$bin" ${args//SIDE/$side} --metrics-file "$W/${side}_$tag.jsonl" --save "$W/${side}_$tag.ck" \
      > "$W/${side}_$tag.log" 2>&1 || { echo "FAIL: $tag ($side) did not run"; tail -3 "$W/${side}_$tag.log"; fails=$((fails+1)); }
  done
  if cmp -s <(strip "$W/a_$tag.jsonl") <(strip "$W/b_$tag.jsonl") && [ -s "$W/a_$tag.jsonl" ]; then
    echo "ok: $tag metrics identical ($(wc -l < "$W/a_$tag.jsonl") records, last: $(tail -1 "$W/a_$tag.jsonl" | cut -c1-90))"
  else echo "FAIL: $tag metrics differ"; diff <(strip "$W/a_$tag.jsonl") <(strip "$W/b_$tag.jsonl") | head -5; fails=$((fails+1)); fi
  if cmp -s <(striplog "$W/a_$tag.log") <(striplog "$W/b_$tag.log"); then echo "ok: $tag stdout identical apart from timings"
  else echo "FAIL: $tag stdout differs"; diff <(striplog "$W/a_$tag.log") <(striplog "$W/b_$tag.log") | head -6; fails=$((fails+1)); fi
  n=0; bad=0
  for f in $(cd "$W/a_$tag.ck" && find . -name '*.h5' | sort); do
    n=$((n+1)); h5diff -q "$W/a_$tag.ck/$f" "$W/b_$tag.ck/$f" >/dev/null 2>&1 || { bad=$((bad+1)); echo "  differs: $f"; }
  done
  if [ $n -gt 0 ] && [ $bad -eq 0 ]; then echo "ok: $tag checkpoints: $n HDF5 files equal (h5diff)"
  else echo "FAIL: $tag checkpoints ($bad of $n differ)"; fails=$((fails+1)); fi
done
echo "work dir: $W"
[ $fails -eq 0 ]
