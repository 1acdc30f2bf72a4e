#!/usr/bin/env bash
# test_progress.sh MEGAC — progress of `megac preprocess` on a 4 MB corpus: plain lines
# (done/total MB, rate, ETA, documents) when stderr is a file, a line rewritten in
# place ("\r", erase) under a pseudo-terminal (script(1)), nothing with --quiet, and
# with the default 10 s interval nothing on a run this short (the summary line stays);
# the sample-index build of `megac train gpt` on the result, `megac ckpt reshard`, `verify`,
# `export-hf` and `import-hf` (GPT-2 and BERT), and the BERT sample-map build of `train bert`.
set -u
MEGAC=$(realpath "$1")
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
printf '[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\nquick\nbrown\nfox\njumps\nover\nlazy\ndog\n.\n' > "$W/vocab.txt"
for i in $(seq 1 40000); do echo '{"text": "the quick brown fox jumps over the lazy dog. the lazy dog."}'; done > "$W/in.jsonl"
P=(preprocess --input "$W/in.jsonl" --tokenizer-type BertWordPieceLowerCase --vocab-file "$W/vocab.txt")

MEGAC_PROGRESS_SECONDS=0 "$MEGAC" "${P[@]}" --output-prefix "$W/a" > /dev/null 2> "$W/plain.err" || fail "preprocess failed"
n=$(grep -cE '^megac preprocess: [0-9.]+/[0-9.]+ MB \([0-9]+%\), [0-9.]+ MB/s.* \| [0-9]+ documents, [0-9]+ tokens$' "$W/plain.err")
[ "$n" -ge 2 ] && ! grep -q $'\r' "$W/plain.err" && echo "ok: $n plain progress lines to a file" \
  || fail "plain lines: $n: $(head -3 "$W/plain.err")"
grep -q "100%" "$W/plain.err" || fail "the last progress line is not at 100%"

"$MEGAC" "${P[@]}" --output-prefix "$W/b" > /dev/null 2> "$W/default.err" || fail "preprocess failed"
[ "$(grep -c . "$W/default.err")" -eq 1 ] && grep -q "documents, .* tokens in" "$W/default.err" \
  && echo "ok: a short run logs its summary line only" || fail "default: $(cat "$W/default.err")"

MEGAC_PROGRESS_SECONDS=0 "$MEGAC" "${P[@]}" --output-prefix "$W/c" --quiet > /dev/null 2> "$W/quiet.err" || fail "preprocess failed"
[ "$(grep -c . "$W/quiet.err")" -eq 1 ] && echo "ok: --quiet" || fail "--quiet printed: $(cat "$W/quiet.err")"

if command -v script > /dev/null; then
  MEGAC_PROGRESS_SECONDS=0 script -qec "$(printf '%q ' "$MEGAC" "${P[@]}" --output-prefix "$W/d") 2>&1" /dev/null \
    > "$W/tty.out" < /dev/null || fail "preprocess under a terminal failed"
  n=$(grep -o $'\r\033\\[Kmegac preprocess: [0-9.]*/' "$W/tty.out" | wc -l)
  [ "$n" -ge 2 ] && echo "ok: $n in-place updates on a terminal" || fail "terminal: $n updates: $(od -c "$W/tty.out" | head -5)"
  cmp -s "$W/a_text_document.bin" "$W/d_text_document.bin" || fail "the terminal run wrote a different dataset"
else
  echo "note: no script(1): the terminal mode is not checked"
fi
# the sample index build of `megac train gpt` on that dataset (150,000 samples of 4 tokens)
MEGAC_PROGRESS_SECONDS=0 "$MEGAC" train gpt --data-path "$W/a_text_document" --tokenizer-type BertWordPieceLowerCase \
  --vocab-file "$W/vocab.txt" --num-layers 1 --hidden-size 16 --num-attention-heads 2 --seq-length 4 \
  --micro-batch-size 2 --train-iters 1 --lr 1e-3 --eval-iters 0 --split 100,0,0 --save "$W/ck" > /dev/null 2> "$W/train.err" \
  || fail "train gpt failed: $(tail -2 "$W/train.err")"
n=$(grep -cE "^building the train sample index of $W/a_text_document: [0-9]+/[0-9]+ samples \([0-9]+%\)" "$W/train.err")
[ "$n" -ge 2 ] && echo "ok: $n progress lines of the sample index build" || fail "index build: $(head -3 "$W/train.err")"

# megac ckpt reshard: tensors done of all, and --quiet
MEGAC_PROGRESS_SECONDS=0 "$MEGAC" ckpt reshard "$W/ck" "$W/ck2" --tensor-model-parallel-size 2 > /dev/null 2> "$W/rs.err" \
  || fail "reshard failed: $(cat "$W/rs.err")"
n=$(grep -cE '^megac ckpt reshard: [0-9]+/[0-9]+ tensors \([0-9]+%\)' "$W/rs.err")
[ "$n" -ge 2 ] && grep -q '100%' "$W/rs.err" && echo "ok: $n progress lines of ckpt reshard" || fail "reshard: $(head -3 "$W/rs.err")"
MEGAC_PROGRESS_SECONDS=0 "$MEGAC" ckpt reshard "$W/ck" "$W/ck3" --tensor-model-parallel-size 2 --quiet > /dev/null 2> "$W/rq.err"
[ ! -s "$W/rq.err" ] && echo "ok: ckpt reshard --quiet" || fail "reshard --quiet printed: $(cat "$W/rq.err")"

# megac ckpt verify (datasets), export-hf and import-hf (tensors): lines to a file, none with --quiet
# ckpt_lines NAME UNIT CMD...: progress lines of CMD, ending at 100%; then CMD --quiet prints nothing on stderr
ckpt_lines() {
  local name=$1 unit=$2
  shift 2
  MEGAC_PROGRESS_SECONDS=0 "$MEGAC" "$@" > /dev/null 2> "$W/cl.err" || { fail "$name failed: $(tail -2 "$W/cl.err")"; return; }
  local n
  n=$(grep -cE "^megac ckpt $name: [0-9]+/[0-9]+ $unit \([0-9]+%\)" "$W/cl.err")
  [ "$n" -ge 2 ] && grep -q "100%" "$W/cl.err" && echo "ok: $n progress lines of ckpt $name" || fail "$name: $(head -3 "$W/cl.err")"
}
ckpt_quiet() {
  local name=$1
  shift
  MEGAC_PROGRESS_SECONDS=0 "$MEGAC" "$@" --quiet > /dev/null 2> "$W/cq.err" || fail "$name --quiet failed: $(cat "$W/cq.err")"
  [ ! -s "$W/cq.err" ] && echo "ok: ckpt $name --quiet" || fail "$name --quiet printed: $(head -3 "$W/cq.err")"
}
ckpt_lines verify datasets ckpt verify "$W/ck"
ckpt_quiet verify ckpt verify "$W/ck"
ckpt_lines export-hf tensors ckpt export-hf "$W/ck" "$W/hf"
ckpt_quiet export-hf ckpt export-hf "$W/ck" "$W/hfq"
ckpt_lines import-hf tensors ckpt import-hf "$W/hf" "$W/ck4"
ckpt_quiet import-hf ckpt import-hf "$W/hf" "$W/ck5"

# the BERT sample-map build of `megac train bert` (16 samples of a sentence-split dataset), and
# export-hf / import-hf of the BERT checkpoint it saves
for i in $(seq 1 300); do echo '{"text": "The quick brown fox jumps over the lazy dog. The lazy dog. The quick fox."}'; done > "$W/s.jsonl"
"$MEGAC" preprocess --input "$W/s.jsonl" --tokenizer-type BertWordPieceLowerCase --vocab-file "$W/vocab.txt" \
  --output-prefix "$W/s" --split-sentences --quiet > /dev/null 2>&1 || fail "preprocess --split-sentences failed"
MEGAC_PROGRESS_SECONDS=0 "$MEGAC" train bert --data-path "$W/s_text_sentence" --vocab-file "$W/vocab.txt" --num-layers 1 \
  --hidden-size 16 --num-attention-heads 2 --seq-length 16 --micro-batch-size 8 --train-iters 2 --lr 1e-3 \
  --eval-iters 0 --split 100,0,0 --save "$W/bk" > /dev/null 2> "$W/bt.err" || fail "train bert failed: $(tail -2 "$W/bt.err")"
n=$(grep -cE "^building the BERT train sample map of $W/s_text_sentence: [0-9]+/16 samples \([0-9]+%\)" "$W/bt.err")
[ "$n" -ge 2 ] && grep -q "16/16 samples (100%)" "$W/bt.err" && echo "ok: $n progress lines of the BERT sample-map build" \
  || fail "BERT sample map: $(head -3 "$W/bt.err")"
ckpt_lines export-hf tensors ckpt export-hf "$W/bk" "$W/bhf"
ckpt_quiet export-hf ckpt export-hf "$W/bk" "$W/bhfq"
ckpt_lines import-hf tensors ckpt import-hf "$W/bhf" "$W/bk2"
ckpt_quiet import-hf ckpt import-hf "$W/bhf" "$W/bk3"

[ $fails -eq 0 ] && echo "progress: all checks passed"
exit $((fails > 0))
