#!/usr/bin/env bash
# test_diskfull.sh MEGAC WCOMPARE CKPT_EDIT — a disk that fills up while a
# checkpoint is written (tmpfs of 40 to 200 KiB; needs root to mount, else skipped):
# the save is refused in one line, the temporary is removed, and the process
# exits 1 cleanly (issue 17 item 11: libhdf5's exit-time close of the file whose
# close had failed crashed with SIGSEGV, exit 139).
. "$(dirname "$0")/common.sh"
M=$W/full; mkdir -p "$M"
if [ "$(id -u)" != 0 ] || ! mount -t tmpfs -o size=64k tmpfs "$M" 2>/dev/null; then
  echo "skipped: mounting a small tmpfs needs root"; exit 77
fi
trap 'umount "$M" 2>/dev/null; rm -rf "$W"' EXIT
umount "$M"
# the disk fills at different points of the save (a tensor's chunks, the file's metadata at close)
TINY=(--data-path "$W/text.txt" --num-layers 1 --hidden-size 8 --num-attention-heads 2 --ffn-hidden-size 16 --seq-length 8
      --micro-batch-size 2 --global-batch-size 2 --lr 1e-3 --train-iters 1 --eval-iters 0 --save-interval 1)
for kb in 40 60 100 150 200; do
  mount -t tmpfs -o size=${kb}k tmpfs "$M" || { fail "mount ${kb}k"; continue; }
  expect_error "a save onto a full ${kb} KiB disk" "No space left on device" -- "$MEGAC" train gpt "${TINY[@]}" --save "$M/ck"
  [ -z "$(ls "$M/ck" 2>/dev/null | grep iter_)" ] || fail "${kb} KiB: the failed save left: $(ls -A "$M/ck" | tr '\n' ' ')"
  umount "$M"
done
finish test_diskfull
