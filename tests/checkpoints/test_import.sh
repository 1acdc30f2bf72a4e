#!/usr/bin/env bash
# test_import.sh MEGAC WCOMPARE CKPT_EDIT — import-hf and its inputs (issue 17
# items 3, 9, 10, 20):
#  3. import-hf into a directory that holds a training checkpoint is refused
#     (latest would silently point to iteration 0) unless --force;
#  9. config.json numbers are validated (n_head 1e300, -4, 2.5; n_layer 1e20;
#     layer_norm_epsilon 1e300) and a NaN or Inf weight is refused, naming the
#     tensor, unless --allow-nonfinite;
# 10. a FIFO as model.safetensors or config.json, or as a checkpoint file, is
#     refused at once instead of blocking forever in open();
# 20. train --load of an imported checkpoint takes its --max-position-embeddings.
. "$(dirname "$0")/common.sh"
run 1 good --train-iters 2 --save "$W/good" --save-interval 2 --max-position-embeddings 24 || finish test_import
"$MEGAC" ckpt export-hf "$W/good" "$W/hf" > /dev/null || { fail "export-hf failed"; finish test_import; }

# 3
before=$(cat "$W/good/latest_checkpointed_iteration.txt")
expect_error "import-hf into a training checkpoint" "good: not empty (it holds a checkpoint).*--force" -- \
  "$MEGAC" ckpt import-hf "$W/hf" "$W/good"
[ "$(cat "$W/good/latest_checkpointed_iteration.txt")" = "$before" ] || fail "latest changed after a refused import"
"$MEGAC" ckpt import-hf "$W/hf" "$W/good" --force > /dev/null && [ "$(cat "$W/good/latest_checkpointed_iteration.txt")" = 0 ] &&
  echo "ok: --force imports into it (latest now 0)" || fail "import-hf --force failed"
"$MEGAC" ckpt import-hf "$W/hf" "$W/fresh" > /dev/null || fail "import-hf into a new directory failed"

# 20: train --load of an imported checkpoint takes its position table (24 here) without the flag
"$MEGAC" train gpt "${MODEL[@]}" --train-iters 2 --eval-iters 0 --load "$W/fresh" --finetune > "$W/ft.log" 2>&1 &&
  echo "ok: train --load of the import without --max-position-embeddings" ||
  fail "train --load of the import without --max-position-embeddings: $(tail -1 "$W/ft.log")"
expect_error "an explicit --max-position-embeddings still has to match" "has --max-position-embeddings 24, this run 32" -- \
  "$MEGAC" train gpt "${MODEL[@]}" --train-iters 2 --eval-iters 0 --load "$W/fresh" --finetune --max-position-embeddings 32

# 9
cfg() { # DIR KEY VALUE: a copy of the HF files with config.json's KEY set to VALUE (raw JSON text)
  rm -rf "$1"; cp -a "$W/hf" "$1"
  python3 - "$1/config.json" "$2" "$3" <<'PY'
import json, sys
p, k, v = sys.argv[1:]
c = json.load(open(p)); c[k] = "@@"
open(p, "w").write(json.dumps(c).replace('"@@"', v))
PY
}
for kv in "n_head 1e300:n_head = 1e+300 is not a whole number" "n_head -4:n_head = -4 is not a whole number" \
          "n_head 2.5:n_head = 2.5 is not a whole number" "n_layer 1e20:n_layer = 1e+20 is not a whole number" \
          "n_embd 4294967296:n_embd = 4.29497e+09 is not a whole number" \
          "layer_norm_epsilon 1e300:layer_norm_epsilon 1e+300 or initializer_range"; do
  key=${kv%% *}; rest=${kv#* }; val=${rest%%:*}; pattern=${kv#*:}
  cfg "$W/h_$key" "$key" "$val"
  expect_error "config.json $key $val" "$pattern" -- "$MEGAC" ckpt import-hf "$W/h_$key" "$W/o_$key$val"
done
nonfinite() { # DIR VALUE: a copy with the first float of wpe.weight set to VALUE
  rm -rf "$1"; cp -a "$W/hf" "$1"
  python3 - "$1/model.safetensors" "$2" <<'PY'
import json, struct, sys
p, v = sys.argv[1], float(sys.argv[2])
b = bytearray(open(p, "rb").read()); n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n]); off = 8 + n + h["wpe.weight"]["data_offsets"][0] + 4 * 5
b[off:off + 4] = struct.pack("<f", v); open(p, "wb").write(b)
PY
}
nonfinite "$W/h_nan" nan
expect_error "a NaN weight" "tensor wpe.weight holds NaN at element 5.*--allow-nonfinite" -- "$MEGAC" ckpt import-hf "$W/h_nan" "$W/o_nan"
nonfinite "$W/h_inf" inf
expect_error "an Inf weight" "tensor wpe.weight holds Inf at element 5" -- "$MEGAC" ckpt import-hf "$W/h_inf" "$W/o_inf"
"$MEGAC" ckpt import-hf "$W/h_nan" "$W/o_nan2" --allow-nonfinite > /dev/null && echo "ok: --allow-nonfinite imports it" ||
  fail "import-hf --allow-nonfinite failed"

# 10
mkdir -p "$W/fifo1" "$W/fifo2"; cp "$W/hf/config.json" "$W/fifo1/"; mkfifo "$W/fifo1/model.safetensors"
expect_error "a FIFO as model.safetensors" "model.safetensors: not a regular file" -- timeout 20 "$MEGAC" ckpt import-hf "$W/fifo1" "$W/o_f1"
cp "$W/hf/model.safetensors" "$W/fifo2/"; mkfifo "$W/fifo2/config.json"
expect_error "a FIFO as config.json" "config.json: not a regular file" -- timeout 20 "$MEGAC" ckpt import-hf "$W/fifo2" "$W/o_f2"
mkdir -p "$W/fifo3/iter_0000002"; echo 2 > "$W/fifo3/latest_checkpointed_iteration.txt"; mkfifo "$W/fifo3/iter_0000002/mp_rank_00.h5"
expect_error "a FIFO as a checkpoint file" "mp_rank_00.h5: not a regular file" -- timeout 20 "$MEGAC" ckpt verify "$W/fifo3"
finish test_import
