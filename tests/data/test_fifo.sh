#!/usr/bin/env bash
# test_fifo.sh MEGAC — a FIFO (or another non-regular file) given where megac reads a
# data or tokenizer file is refused at once with one line naming it; before, open()
# blocked forever waiting for a writer (issue 17, item 10). Every run has a 20 s
# timeout: a hang fails the test instead of hanging it.
set -u
MEGAC=$(realpath "$1")
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# expect_refused NAME PATTERN -- command...
expect_refused() {
  local name=$1 pattern=$2
  shift 3
  local out rc
  out=$(timeout 20 "$@" 2>&1 >/dev/null)
  rc=$?
  if [ $rc -eq 124 ]; then fail "$name: hung (killed after 20 s)"; return; fi
  if [ $rc -eq 0 ]; then fail "$name: exit 0 (expected a refusal)"; return; fi
  if [ $rc -ge 128 ]; then fail "$name: crashed with exit $rc: $out"; return; fi
  if ! printf '%s' "$out" | grep -q -- "$pattern"; then fail "$name: error '$out' does not mention '$pattern'"; return; fi
  echo "ok: $name -> $out"
}

# a small BERT vocabulary and a real indexed dataset made with it
printf '%s\n' '[PAD]' '[UNK]' '[CLS]' '[SEP]' '[MASK]' the quick brown fox jumps over lazy dog . > "$W/vocab.txt"
for i in $(seq 1 20); do echo '{"text": "the quick brown fox jumps over the lazy dog."}'; done > "$W/in.jsonl"
"$MEGAC" preprocess --input "$W/in.jsonl" --output-prefix "$W/ok" --tokenizer-type BertWordPieceLowerCase \
    --vocab-file "$W/vocab.txt" --log-interval 0 >/dev/null 2>&1 || fail "preprocessing the reference dataset"
"$MEGAC" preprocess --inspect "$W/ok_text_document" >/dev/null || fail "inspecting the reference dataset"

mkfifo "$W/fifo"
cp "$W/ok_text_document.bin" "$W/a.bin"
mkfifo "$W/a.idx"
cp "$W/ok_text_document.idx" "$W/b.idx"
mkfifo "$W/b.bin"

expect_refused ".idx is a FIFO" "a.idx: is a FIFO, not a regular file" -- \
    "$MEGAC" preprocess --inspect "$W/a"
expect_refused ".bin is a FIFO" "b.bin: is a FIFO, not a regular file" -- \
    "$MEGAC" preprocess --inspect "$W/b"
expect_refused ".idx is a directory" "is a directory, not a regular file" -- \
    bash -c "mkdir '$W/c.idx' && cp '$W/ok_text_document.bin' '$W/c.bin' && '$MEGAC' preprocess --inspect '$W/c'"
expect_refused "BERT --vocab-file is a FIFO" "--vocab-file $W/fifo: is a FIFO" -- \
    "$MEGAC" preprocess --input "$W/in.jsonl" --output-prefix "$W/x" --tokenizer-type BertWordPieceLowerCase \
    --vocab-file "$W/fifo"
expect_refused "GPT-2 --vocab-file is a FIFO" "--vocab-file $W/fifo: is a FIFO" -- \
    "$MEGAC" preprocess --input "$W/in.jsonl" --output-prefix "$W/x" --tokenizer-type GPT2BPETokenizer \
    --vocab-file "$W/fifo" --merge-file "$W/fifo"
expect_refused "--tiktoken-file is a FIFO" "--tiktoken-file $W/fifo: is a FIFO" -- \
    "$MEGAC" preprocess --input "$W/in.jsonl" --output-prefix "$W/x" --tokenizer-type GPT2BPETokenizer \
    --tiktoken-file "$W/fifo"
expect_refused "--tiktoken-file is /dev/zero" "is a character device" -- \
    "$MEGAC" preprocess --input "$W/in.jsonl" --output-prefix "$W/x" --tokenizer-type GPT2BPETokenizer \
    --tiktoken-file /dev/zero
TINY=(--num-layers 1 --hidden-size 16 --num-attention-heads 2 --seq-length 8 --micro-batch-size 2
      --global-batch-size 2 --train-iters 1 --lr 1e-3)
expect_refused "train gpt --data-path (byte text) is a FIFO" "--data-path $W/fifo: is a FIFO" -- \
    "$MEGAC" train gpt "${TINY[@]}" --tokenizer-type Byte --data-path "$W/fifo"
expect_refused "train gpt --data-path (.idx) is a FIFO" "a.idx: is a FIFO" -- \
    "$MEGAC" train gpt "${TINY[@]}" --tokenizer-type BertWordPieceLowerCase --vocab-file "$W/vocab.txt" \
    --data-path "$W/a"
ln -s "$W/fifo" "$W/shard.hdf5"
expect_refused "train bert .hdf5 shard is a FIFO" "shard.hdf5: is a FIFO" -- \
    "$MEGAC" train bert "${TINY[@]}" --vocab-file "$W/vocab.txt" --tokenizer-type BertWordPieceLowerCase \
    --data-path "$W/shard.hdf5"

# preprocess --input reads one stream front to back, so a pipe is legitimate there
# (`--input <(zcat corpus.jsonl.gz)`, or - for standard input)
out=$(timeout 20 "$MEGAC" preprocess --input <(cat "$W/in.jsonl") --output-prefix "$W/p" \
      --tokenizer-type BertWordPieceLowerCase --vocab-file "$W/vocab.txt" --log-interval 0 2>&1)
[ $? -eq 0 ] && cmp -s "$W/p_text_document.bin" "$W/ok_text_document.bin" && echo "ok: --input from a pipe" ||
  fail "--input from a pipe: $out"

if [ $fails -ne 0 ]; then echo "$fails check(s) failed" >&2; exit 1; fi
echo "test_fifo: all checks passed"
