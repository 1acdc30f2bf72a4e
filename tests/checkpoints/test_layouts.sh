#!/usr/bin/env bash
# test_layouts.sh MEGAC WCOMPARE CKPT_EDIT — a checkpoint saved at (TP,DP) = (4,2),
# with and without ZeRO-1, loads at (1,1), (2,1) and (2,4), with and without
# ZeRO-1 on the loading side (the Adam moments re-split for the new layout), and
# the next 4 iterations' losses agree with the run that wrote it to a relative
# 1e-5 (fp32 round-off of different reduction orders). `megac ckpt reshard` to
# TP 2 moves every tensor and moment bit for bit, and training continues from it.
. "$(dirname "$0")/common.sh"
# attention dropout draws per-TP-rank streams (Megatron's rule), so layouts with
# different TP sizes drop different attention weights; compare without it
MODEL+=(--attention-dropout 0)
# relative difference of the last 4 logged losses of two runs
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
for src in 0 1; do
  S=(--tensor-model-parallel-size 4)
  [ $src = 1 ] && S+=(--use-distributed-optimizer)
  run 8 src$src "${S[@]}" --train-iters 8 --save "$W/src$src" --save-interval 4 || continue
  for target in "1 1 0" "2 1 1" "2 4 0" "2 4 1"; do
    set -- $target
    tag="src${src}_tp$1_dp$2_z$3"
    T=(--tensor-model-parallel-size "$1")
    [ "$3" = 1 ] && T+=(--use-distributed-optimizer)
    run $(($1 * $2)) "$tag" "${T[@]}" --train-iters 8 --load "$W/src$src/iter_0000004" || continue
    grep -q "saved at (TP, DP) = (4, 2).*optimizer state loaded" "$W/$tag.log" || fail "$tag: no load report"
    check_close "(4,2) ZeRO-1=$src -> (TP,DP)=($1,$2) ZeRO-1=$3" "$W/src$src.jsonl" "$W/$tag.jsonl"
  done
done

# offline resharding: (4,2) with ZeRO-1 shards -> TP 2 model files, bit for bit
if out=$("$MEGAC" ckpt reshard "$W/src1/iter_0000004" "$W/resharded" --tensor-model-parallel-size 2 2>&1); then
  echo "ok: $out"
  cmp=$("$WCOMPARE" "$W/src1/iter_0000004" "$W/resharded" 0 --optimizer 2>&1) && echo "ok: resharded checkpoint bitwise equal: $cmp" ||
    fail "resharded checkpoint differs: $cmp"
  n=$(ls "$W/resharded/iter_0000004" | tr '\n' ' ')
  [ "$n" = "mp_rank_00.h5 mp_rank_01.h5 " ] && echo "ok: resharded files: $n" || fail "resharded files: $n"
  run 2 resharded_tp2 --tensor-model-parallel-size 2 --train-iters 8 --load "$W/resharded" &&
    check_close "reshard to TP 2 -> (2,1)" "$W/src1.jsonl" "$W/resharded_tp2.jsonl"
else
  fail "reshard failed: $out"
fi
expect_error "reshard to a TP size that does not divide the heads" "--tensor-model-parallel-size 3 does not divide" -- \
  "$MEGAC" ckpt reshard "$W/src1" "$W/bad" --tensor-model-parallel-size 3
[ ! -e "$W/bad/iter_0000008" ] || fail "a failed reshard left $W/bad/iter_0000008"
finish test_layouts
