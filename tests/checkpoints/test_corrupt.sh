#!/usr/bin/env bash
# test_corrupt.sh MEGAC WCOMPARE CKPT_EDIT — bad checkpoints are refused with one
# clear line naming the file and the problem, by `ckpt verify`, `generate --load`
# and `train gpt --load` alike; nothing crashes and nothing on disk changes:
# a truncated file, a flipped byte inside a dataset (model and optimizer shard),
# a missing rank file, a file from another checkpoint, a model of another shape,
# a newer format version, a pointer to a missing or garbled iteration, and
# safetensors files with overlapping, out-of-range or missing bytes.
. "$(dirname "$0")/common.sh"
run 4 good --tensor-model-parallel-size 2 --use-distributed-optimizer --train-iters 4 --save "$W/good" --save-interval 2 ||
  finish test_corrupt
TRAIN=(mpirun -q -np 2 "$MEGAC" train gpt "${MODEL[@]}" --tensor-model-parallel-size 2 --train-iters 6)
fresh() { rm -rf "$W/c"; cp -a "$W/good" "$W/c"; }
# unchanged NAME -- command...: expect_error, then check the checkpoint is untouched
refused() {
  local name=$1 pattern=$2 before
  before=$(tree_sum "$W/c")
  expect_error "$@"
  [ "$(tree_sum "$W/c")" = "$before" ] || fail "$name: the checkpoint directory changed"
}
I=$W/c/iter_0000004
# byte offset of the first chunk of a dataset, from `megac ckpt inspect --boxes`
chunk_offset() { # file dataset
  "$MEGAC" ckpt inspect "$W/c" --boxes | grep "$1:$2 " | sed 's/.*first at byte \([0-9]*\).*/\1/'
}
flip() { printf "\\x$(printf %02x $(( ($(od -An -tu1 -j "$2" -N1 "$1") ^ 0x5a) )))" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null; }

fresh
"$MEGAC" ckpt verify "$W/c" > /dev/null || fail "the intact checkpoint does not verify"
"$MEGAC" generate --load "$W/c" --max-new-tokens 4 > /dev/null 2>&1 || fail "generate from the intact checkpoint failed"

fresh; truncate -s $(( $(stat -c %s "$I/mp_rank_01.h5") / 2 )) "$I/mp_rank_01.h5"
refused "truncated file: verify" "mp_rank_01.h5.*truncated" -- "$MEGAC" ckpt verify "$W/c"
refused "truncated file: generate" "mp_rank_01.h5.*truncated" -- "$MEGAC" generate --load "$W/c"
refused "truncated file: train" "mp_rank_01.h5.*truncated" -- "${TRAIN[@]}" --load "$W/c"

fresh; off=$(chunk_offset mp_rank_00.h5 model/layers/00/attention/qkv/weight)
[ -n "$off" ] && flip "$I/mp_rank_00.h5" $((off + 100))
refused "flipped byte in a dataset: verify" "mp_rank_00.h5: model/layers/00/attention/qkv/weight: checksum mismatch" -- "$MEGAC" ckpt verify "$W/c"
refused "flipped byte in a dataset: generate" "mp_rank_00.h5: model/layers/00/attention/qkv/weight: checksum mismatch" -- "$MEGAC" generate --load "$W/c"
refused "flipped byte in a dataset: train" "qkv/weight: checksum mismatch" -- "${TRAIN[@]}" --load "$W/c"

fresh; off=$(chunk_offset mp_rank_00_dp_001_optim.h5 optimizer/exp_avg_sq/layers/01/mlp/dense_h_to_4h/weight)
[ -n "$off" ] && flip "$I/mp_rank_00_dp_001_optim.h5" $((off + 8))
refused "flipped byte in an optimizer shard: verify" "mp_rank_00_dp_001_optim.h5: optimizer/exp_avg_sq/.*checksum mismatch" -- "$MEGAC" ckpt verify "$W/c"
refused "flipped byte in an optimizer shard: train" "mp_rank_00_dp_001_optim.h5: optimizer/exp_avg_sq/.*checksum mismatch" -- "${TRAIN[@]}" --load "$W/c"
"$MEGAC" generate --load "$W/c" --max-new-tokens 4 > /dev/null 2>&1 && echo "ok: generate (weights only) still loads past a bad optimizer shard" ||
  fail "generate needs no optimizer shard but failed"

fresh; rm "$I/mp_rank_01.h5"
refused "missing rank file: verify" "mp_rank_01.h5: missing" -- "$MEGAC" ckpt verify "$W/c"
refused "missing rank file: train" "mp_rank_01.h5: missing" -- "${TRAIN[@]}" --load "$W/c"
fresh; rm "$I/mp_rank_01_dp_000_optim.h5"
refused "missing optimizer shard: train" "mp_rank_01_dp_000_optim.h5: missing" -- "${TRAIN[@]}" --load "$W/c"

fresh; cp "$W/c/iter_0000002/mp_rank_01.h5" "$I/mp_rank_01.h5"
refused "a rank file from another checkpoint" "mp_rank_01.h5: metadata differs from .*mp_rank_00.h5" -- "$MEGAC" ckpt verify "$W/c"
fresh
refused "a model of another shape" "checkpoint's model has --hidden-size 24, this run 32" -- "${TRAIN[@]}" --load "$W/c" --hidden-size 32
refused "another FFN size" "checkpoint's model has --ffn-hidden-size 52, this run 96" -- "${TRAIN[@]}" --load "$W/c" --ffn-hidden-size 96

fresh; "$CKPT_EDIT" "$I/mp_rank_00.h5" format_version 2 > /dev/null
refused "newer format version: verify" "mp_rank_00.h5: checkpoint format version 2 is newer than this megac reads (1)" -- "$MEGAC" ckpt verify "$W/c"
refused "newer format version: train" "format version 2 is newer" -- "${TRAIN[@]}" --load "$W/c"
fresh; "$CKPT_EDIT" "$I/mp_rank_00.h5" iteration 3 > /dev/null
refused "inconsistent metadata" "mp_rank_00.h5: metadata: rng/data positions disagree with iteration 3" -- "$MEGAC" ckpt verify "$W/c"
fresh; mv "$I" "$W/c/iter_0000005"; echo 5 > "$W/c/latest_checkpointed_iteration.txt"
refused "an iteration directory renamed" "iter_0000005/mp_rank_00.h5: holds iteration 4, the directory name says 5" -- "$MEGAC" ckpt verify "$W/c"

fresh; echo 9 > "$W/c/latest_checkpointed_iteration.txt"
refused "pointer to a missing iteration: train" "latest_checkpointed_iteration.txt names iteration 9 but .*iter_0000009 does not exist" -- "${TRAIN[@]}" --load "$W/c"
refused "pointer to a missing iteration: generate" "iter_0000009 does not exist" -- "$MEGAC" generate --load "$W/c"
fresh; echo "four" > "$W/c/latest_checkpointed_iteration.txt"
refused "garbled pointer" "latest_checkpointed_iteration.txt: 'four" -- "$MEGAC" ckpt verify "$W/c"

# safetensors: well-formed but wrong files, one per problem
python3 - "$W" <<'PY'
import json, struct, sys
d = sys.argv[1]
def write(name, header, data, hlen=None):
    h = json.dumps(header).encode()
    with open(f"{d}/{name}.safetensors", "wb") as f:
        f.write(struct.pack("<Q", len(h) if hlen is None else hlen) + h + data)
t = lambda s, b, e: {"dtype": "F32", "shape": s, "data_offsets": [b, e]}
write("overlap", {"wte.weight": t([2, 2], 0, 16), "wpe.weight": t([2, 2], 8, 24)}, bytes(24))
write("outside", {"wte.weight": t([2, 2], 0, 16), "wpe.weight": t([2, 2], 16, 32)}, bytes(24))
write("gap", {"wte.weight": t([2, 2], 0, 16)}, bytes(20))
write("size", {"wte.weight": t([2, 3], 0, 16)}, bytes(16))
write("header", {"wte.weight": t([2, 2], 0, 16)}, bytes(16), hlen=1 << 20)
PY
rm -rf "$W/c"; mkdir "$W/c"; cp "$W"/*.safetensors "$W/c/"
refused "safetensors: overlapping offsets" "overlap.safetensors: tensor wpe.weight \[8, 24) overlaps tensor wte.weight \[0, 16)" -- "$MEGAC" ckpt import-hf "$W/c/overlap.safetensors" "$W/hf"
refused "safetensors: offsets past the data" "outside.safetensors: tensor wpe.weight: data_offsets \[16, 32\] lie outside the 24 data bytes" -- "$MEGAC" ckpt import-hf "$W/c/outside.safetensors" "$W/hf"
refused "safetensors: bytes of no tensor" "gap.safetensors: data bytes \[16, 20) belong to no tensor" -- "$MEGAC" ckpt import-hf "$W/c/gap.safetensors" "$W/hf"
refused "safetensors: size against shape" "size.safetensors: tensor wte.weight: data_offsets \[0, 16\] hold 16 bytes, its F32 shape needs 24" -- "$MEGAC" ckpt import-hf "$W/c/size.safetensors" "$W/hf"
refused "safetensors: header past the end" "header.safetensors: header length 1048576 exceeds the file" -- "$MEGAC" ckpt import-hf "$W/c/header.safetensors" "$W/hf"
[ ! -e "$W/hf" ] && echo "ok: no refused import created $W/hf" || fail "a refused import created $W/hf"
finish test_corrupt
