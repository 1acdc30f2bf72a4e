#!/usr/bin/env bash
# test_fuzz.sh MEGAC WCOMPARE CKPT_EDIT FUZZ_CHECKPOINT FUZZ_HF — corrupted files
# never crash or hang megac (issue 17 item 7):
#  - every single-byte change in and just before the metadata record of a real
#    checkpoint file is refused by `ckpt verify` with one line (or still
#    verifies), never a signal or a hang (a variable-length string attribute,
#    stored in HDF5's unchecksummed global heap, crashed libhdf5 here);
#  - the fuzz targets run for a few seconds each (FUZZ_SECONDS, default 4):
#    whole checkpoint files through open/validate/verify/read, and a GPT-2
#    model.safetensors + config.json through import-hf, every input in a forked
#    child with a timeout. README's reliability section has the long runs.
. "$(dirname "$0")/common.sh"
FUZZ_CKPT=$(realpath "$4"); FUZZ_HF=$(realpath "$5")
S=${FUZZ_SECONDS:-4}
# a small model keeps every execution short
"$MEGAC" train gpt --data-path "$W/text.txt" --num-layers 1 --hidden-size 8 --num-attention-heads 2 --ffn-hidden-size 16 \
  --seq-length 8 --micro-batch-size 2 --global-batch-size 2 --lr 1e-3 --train-iters 2 --eval-iters 0 --save "$W/ck" \
  --save-interval 2 > "$W/seed.log" 2>&1 || { fail "seed run failed: $(tail -1 "$W/seed.log")"; finish test_fuzz; }
F=$W/ck/iter_0000002/mp_rank_00.h5
json=$(grep -boa 'megac-checkpoint' "$F" | head -1 | cut -d: -f1)
[ -n "$json" ] || fail "no metadata record found in $F"
flip() { python3 -c "import sys; b = bytearray(open(sys.argv[1], 'rb').read()); b[int(sys.argv[2])] ^= 0x5a; open(sys.argv[3], 'wb').write(b)" "$@"; }
mkdir -p "$W/flip/iter_0000002"; echo 2 > "$W/flip/latest_checkpointed_iteration.txt"
bad=0; refused=0
for off in $(seq $((json - 32)) $((json + 2))); do
  flip "$F" "$off" "$W/flip/iter_0000002/mp_rank_00.h5"
  out=$(timeout 20 "$MEGAC" ckpt verify "$W/flip" 2>&1 >/dev/null); rc=$?
  if [ $rc -gt 1 ]; then bad=$((bad + 1)); echo "byte $off: exit $rc: $out" >&2
  elif [ $rc -eq 1 ]; then
    refused=$((refused + 1))
    [ "$(printf '%s\n' "$out" | grep -c .)" -eq 1 ] || fail "byte $off: not one line: $out"
  fi
done
[ $bad -eq 0 ] && echo "ok: 35 single-byte changes around the metadata record: $refused refused in one line, none crashed or hung" ||
  fail "$bad of 35 single-byte changes around the metadata record crashed or hung ckpt verify"

mkdir -p "$W/seed" "$W/fz"; cp "$F" "$W/seed/"
"$FUZZ_CKPT" "$W/seed" "$W/fz" "$S" 1 || fail "fuzz_checkpoint found crashes or hangs (inputs kept in $W/fz)"
"$MEGAC" ckpt export-hf "$W/ck" "$W/hf" > /dev/null || fail "export-hf for the safetensors seed failed"
mkdir -p "$W/fh"
"$FUZZ_HF" "$W/hf" "$W/fh" "$S" 1 || fail "fuzz_hf found crashes or hangs"
finish test_fuzz
