#!/usr/bin/env bash
# test_hf.sh MEGAC WCOMPARE CKPT_EDIT — Hugging Face GPT-2 interchange. A random
# GPT-2 model.safetensors imports into a checkpoint and exports back with every
# tensor identical in dtype, shape and bytes; the "transformer."-prefixed form
# with a tied lm_head and the attention-mask buffers imports to the bitwise-same
# checkpoint; export works from any layout (after `ckpt reshard` to TP 2); the
# imported checkpoint generates and fine-tunes; without config.json the head
# count comes from --num-attention-heads; an untied lm_head is refused.
. "$(dirname "$0")/common.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
python3 "$HERE/gpt2_files.py" "$W/hf" 7 && python3 "$HERE/gpt2_files.py" "$W/hfp" 7 --prefix --lm-head --buffers &&
  python3 "$HERE/gpt2_files.py" "$W/hfn" 7 --no-config && python3 "$HERE/gpt2_files.py" "$W/hfu" 7 --untied ||
  { fail "could not write the GPT-2 test files"; finish test_hf; }
"$MEGAC" ckpt import-hf "$W/hf" "$W/ck" > "$W/import.log" 2>&1 || fail "import-hf: $(cat "$W/import.log")"
"$MEGAC" ckpt export-hf "$W/ck" "$W/out" > "$W/export.log" 2>&1 || fail "export-hf: $(cat "$W/export.log")"
out=$(python3 "$HERE/st_compare.py" "$W/hf/model.safetensors" "$W/out/model.safetensors" 2>&1) &&
  echo "ok: import -> export round trip: $out" || fail "round trip: $out"
python3 -c "import json,sys; c=json.load(open('$W/out/config.json')); sys.exit(not (c['n_head']==4 and c['n_layer']==2 and c['n_embd']==32 and c['vocab_size']==256 and c['model_type']=='gpt2'))" &&
  echo "ok: exported config.json describes the model" || fail "exported config.json: $(cat "$W/out/config.json")"

"$MEGAC" ckpt import-hf "$W/hfp/model.safetensors" "$W/ckp" > /dev/null 2>&1 || fail "import of the prefixed file failed"
cmp=$("$WCOMPARE" "$W/ck" "$W/ckp" 0 2>&1) && echo "ok: 'transformer.' prefix + tied lm_head + mask buffers import the same: $cmp" ||
  fail "prefixed import differs: $cmp"

"$MEGAC" ckpt reshard "$W/ck" "$W/ck2" --tensor-model-parallel-size 2 > /dev/null 2>&1 || fail "reshard of the import failed"
"$MEGAC" ckpt export-hf "$W/ck2" "$W/out2" > /dev/null 2>&1 || fail "export from TP 2 failed"
out=$(python3 "$HERE/st_compare.py" "$W/hf/model.safetensors" "$W/out2/model.safetensors" 2>&1) &&
  echo "ok: export from the TP 2 checkpoint: $out" || fail "export from TP 2: $out"

gen=$("$MEGAC" generate --load "$W/ck" --prompt "abc" --max-new-tokens 12 --temperature 0 2>&1) &&
  echo "ok: generate from the import: $(printf '%s' "$gen" | head -c 15 | od -An -c | tr -s ' ' | head -1)" || fail "generate: $gen"
HFMODEL=(--data-path "$W/text.txt" --num-layers 2 --hidden-size 32 --num-attention-heads 4 --seq-length 16
         --max-position-embeddings 64 --micro-batch-size 2 --global-batch-size 4 --lr 1e-4 --train-iters 2 --eval-iters 0)
"$MEGAC" train gpt "${HFMODEL[@]}" --load "$W/ck" --finetune --save "$W/ft" > "$W/ft.log" 2>&1 &&
  grep -q "loaded checkpoint .*iteration 0" "$W/ft.log" && echo "ok: fine-tuning from the import runs" || fail "finetune: $(tail -2 "$W/ft.log")"

expect_error "no config.json, no head count" "give --num-attention-heads" -- "$MEGAC" ckpt import-hf "$W/hfn" "$W/ckn"
"$MEGAC" ckpt import-hf "$W/hfn" "$W/ckn" --num-attention-heads 4 > /dev/null 2>&1 &&
  cmp=$("$WCOMPARE" "$W/ck" "$W/ckn" 0 2>&1) && echo "ok: --num-attention-heads without config.json: $cmp" || fail "import with --num-attention-heads"
expect_error "untied lm_head" "lm_head.weight differs from wte.weight" -- "$MEGAC" ckpt import-hf "$W/hfu" "$W/cku"
finish test_hf
