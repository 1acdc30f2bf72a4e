#!/usr/bin/env bash
# test_resume.sh MEGAC WCOMPARE CKPT_EDIT — resuming at the same layout is exact.
# At (TP,DP) = (2,2), with and without ZeRO-1 (dropout on): 8 iterations straight,
# and 4 iterations + save + a new process that loads and runs 4 more, log the same
# loss, learning rate, grad norm and validation loss at every iteration, and end
# with bitwise-identical weights, Adam moments and optimizer step. A control run
# that restarts with --no-load-optim must differ (the comparison can see the
# moments). Then --keep-last keeps the newest K iteration directories.
. "$(dirname "$0")/common.sh"
N=4
for zero in 0 1; do
  Z=(--tensor-model-parallel-size 2)
  [ $zero = 1 ] && Z+=(--use-distributed-optimizer)
  run 4 straight$zero "${Z[@]}" --train-iters $((2 * N)) --save "$W/straight$zero" || continue
  run 4 first$zero "${Z[@]}" --train-iters $N --save "$W/resumed$zero" || continue
  run 4 second$zero "${Z[@]}" --train-iters $((2 * N)) --load "$W/resumed$zero" --save "$W/resumed$zero" || continue
  grep -q "loaded checkpoint .*iteration $N, .*optimizer state loaded" "$W/second$zero.log" ||
    fail "ZeRO-1=$zero: the restart did not report loading iteration $N with its optimizer state"
  if cmp -s <(metrics "$W/straight$zero.jsonl") <(metrics "$W/first$zero.jsonl" "$W/second$zero.jsonl"); then
    echo "ok: ZeRO-1=$zero: $((2 * N)) iterations straight and $N + restart + $N log identical metrics ($(losses "$W/straight$zero.jsonl" | tail -1) at the end)"
  else
    fail "ZeRO-1=$zero: metrics differ: $(diff <(metrics "$W/straight$zero.jsonl") <(metrics "$W/first$zero.jsonl" "$W/second$zero.jsonl") | head -4)"
  fi
  if out=$("$WCOMPARE" "$W/straight$zero" "$W/resumed$zero" 0 --optimizer 2>&1); then
    echo "ok: ZeRO-1=$zero: final checkpoints bitwise identical (weights, moments, step): $out"
  else
    fail "ZeRO-1=$zero: final checkpoints differ: $out"
  fi
  # control: the same restart without the Adam moments must change the losses
  run 4 control$zero "${Z[@]}" --train-iters $((2 * N)) --load "$W/resumed$zero/iter_000000$N" --no-load-optim || continue
  worst=$(paste <(losses "$W/straight$zero.jsonl" | tail -$N) <(losses "$W/control$zero.jsonl") |
    awk '{ d = ($1 - $2) / $1; if (d < 0) d = -d; if (d > w) w = d } END { printf "%.3g", w }')
  awk -v w="$worst" 'BEGIN { exit !(w > 1e-4) }' && echo "ok: ZeRO-1=$zero: control without the moments differs by $worst" ||
    fail "ZeRO-1=$zero: restarting without the Adam moments changed the losses by only $worst"
done

# --keep-last 2 with a checkpoint every iteration: the two newest remain
run 1 keep --train-iters 5 --save "$W/keep" --save-interval 1 --keep-last 2 &&
  { left=$(cd "$W/keep" && echo iter_*); latest=$(cat "$W/keep/latest_checkpointed_iteration.txt")
    [ "$left" = "iter_0000004 iter_0000005" ] && [ "$latest" = 5 ] && echo "ok: --keep-last 2 left $left, latest $latest" ||
      fail "--keep-last 2 left '$left', latest '$latest'"; }
# a run that starts at its checkpoint's end trains nothing and says so
run 1 nothing --train-iters 5 --load "$W/keep" && grep -q "nothing to train" "$W/nothing.log" &&
  echo "ok: loading iteration 5 with --train-iters 5 trains nothing" || fail "no 'nothing to train' line"
finish test_resume
