#!/usr/bin/env bash
# quickstart.sh — on a fresh Debian machine: install, build, train a small GPT
# (byte-level) on the English text of the `fortunes` package, print the falling
# loss, and sample text from the result. About 6 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
bash tools/build.sh build
out=out/quickstart
mkdir -p "$out"
corpus="$out/fortunes.txt"
if [ ! -s "$corpus" ]; then
  # every English fortune file (not the ASCII-art ones), concatenated
  for f in /usr/share/games/fortunes/*; do
    case "$f" in *.dat|*.u8|*/art|*/ascii-art|*/translate-me) continue ;; esac
    [ -f "$f" ] && cat "$f"
  done > "$corpus"
fi
echo "corpus: $corpus ($(wc -c < "$corpus") bytes)"
./build/megac train gpt \
  --data-path "$corpus" --tokenizer-type Byte \
  --num-layers 4 --hidden-size 256 --num-attention-heads 4 --seq-length 128 \
  --micro-batch-size 16 --global-batch-size 32 --train-iters 280 \
  --lr 2e-3 --min-lr 1e-4 --lr-decay-style cosine --lr-warmup-iters 20 \
  --hidden-dropout 0 --attention-dropout 0 --weight-decay 0.01 --clip-grad 1.0 \
  --log-interval 20 --eval-interval 140 --eval-iters 4 \
  --metrics-file "$out/metrics.jsonl" --save "$out/gpt.bin"
echo
echo "sample (megac generate --load $out/gpt.bin):"
./build/megac generate --load "$out/gpt.bin" --prompt "The meaning of life" --max-new-tokens 400 --temperature 0.8 --top-k 40
