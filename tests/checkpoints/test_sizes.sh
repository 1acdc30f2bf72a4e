#!/usr/bin/env bash
# test_sizes.sh MEGAC WCOMPARE CKPT_EDIT — absurd sizes in checkpoint metadata
# (valid CRC: rewritten by ckpt_edit) are refused in one line by `ckpt verify`,
# `ckpt reshard`, `generate --load` and `train gpt --load` alike, with no
# overflow, no huge allocation and no crash (issue 17 item 8): verify refuses
# every value a loader refuses, including a valid-looking size that does not
# match the stored tensors.
. "$(dirname "$0")/common.sh"
run 1 good --train-iters 2 --save "$W/good" --save-interval 2 || finish test_sizes
"$MEGAC" ckpt verify "$W/good" > /dev/null || fail "the intact checkpoint does not verify"
T=("$MEGAC" train gpt "${MODEL[@]}" --train-iters 4 --eval-iters 0)
for edit in "model.hidden_size 1000000000:--hidden-size 1000000000 is out of range" \
            "model.vocab_size 2147483647:vocabulary size 2147483647 is out of range" \
            "model.num_layers 2000000000:--num-layers 2000000000 is out of range" \
            "model.ffn_hidden_size 2000000000:--ffn-hidden-size 2000000000 is out of range" \
            "model.max_position_embeddings 2147483647:--max-position-embeddings 2147483647 is out of range" \
            "model.make_vocab_size_divisible_by 2147483647:--make-vocab-size-divisible-by 2147483647 is out of range" \
            "model.hidden_size 1048576:model dimensions are too large" \
            "model.hidden_size 32:the metadata describes a gpt model of" \
            "model.num_layers 3:the metadata describes a gpt model of"; do
  field=${edit%% *}; rest=${edit#* }; value=${rest%%:*}; pattern=${edit#*:}
  rm -rf "$W/c"; cp -a "$W/good" "$W/c"
  "$CKPT_EDIT" "$W/c/iter_0000002/mp_rank_00.h5" "$field" "$value" > /dev/null || { fail "ckpt_edit $field"; continue; }
  expect_error "$field $value: verify" "$pattern" -- "$MEGAC" ckpt verify "$W/c"
  expect_error "$field $value: reshard" "$pattern" -- "$MEGAC" ckpt reshard "$W/c" "$W/r_$field$value" --tensor-model-parallel-size 1
  expect_error "$field $value: generate" "" -- "$MEGAC" generate --load "$W/c" --max-new-tokens 2
  expect_error "$field $value: train --load" "" -- "${T[@]}" --load "$W/c"
done
finish test_sizes
