#!/usr/bin/env bash
# test_precision.sh MEGAC WCOMPARE CKPT_EDIT — mixed precision and recomputation
# through `megac train gpt`:
#  - fp16 from Megatron's 2^32 scale at (TP,DP) = (1,2): overflowing iterations
#    are skipped and logged, the scale backs off, the loss still falls;
#  - resuming is exact: fp16 with its scaler state and skipped-iteration count
#    (DDP), and bf16 under ZeRO-1 at (2,2) with its fp32 master weights (what the
#    checkpoint holds), give the metrics of a straight run;
#  - bf16 follows fp32's losses; a checkpoint holds the masters, not rounded values;
#  - full and selective recomputation give the losses of none, bitwise, and
#    --use-flash-attn those of unfused attention to 1e-6;
#  - bad flags are refused in one line.
. "$(dirname "$0")/common.sh"
# the metric lines without their timings (loss scale and skipped count kept)
exact() { sed -E 's/"ms_per_iter": [^,]*, "tokens_per_sec": [^,}]*(, "tflops_per_gpu": [^,}]*)?(, "mfu": [^,}]*)?//' "$@"; }
worst() { paste <(losses "$1") <(losses "$2") |
          awk '{ d = ($1 - $2) / $1; if (d < 0) d = -d; if (d > w) w = d } END { printf "%.3g", w }'; }

# fp16 from 2^32: the first iterations overflow
run 2 fp16 --fp16 --train-iters 40 --eval-iters 0 &&
  { skipped=$(grep -o '"skipped_iterations": [0-9]*' "$W/fp16.jsonl" | awk '{ s += $2 } END { print s }')
    scale=$(grep -o '"loss_scale": [0-9.e+]*' "$W/fp16.jsonl" | tail -1 | awk '{ print $2 }')
    first=$(losses "$W/fp16.jsonl" | head -1); last=$(losses "$W/fp16.jsonl" | tail -1)
    grep -q "number of skipped iterations:" "$W/fp16.log" || fail "fp16: the log line has no skipped-iterations field"
    awk -v s="$skipped" -v c="$scale" -v a="$first" -v b="$last" 'BEGIN { exit !(s >= 5 && s < 35 && c < 4294967296 && b < a) }' &&
      echo "ok: fp16 from 2^32: $skipped skipped iterations, scale now $scale, loss $first -> $last" ||
      fail "fp16: skipped $skipped, scale $scale, loss $first -> $last"; }

# exact resume: fp16 (DP=2; from 2^20 iterations 1-3 and 5 overflow, so skips, the
# hysteresis tracker and the growth tracker all cross the restart) and bf16 (TP=2 x DP=2, ZeRO-1)
N=4 # a multiple of --eval-interval: the first half ends with the validation the straight run also does
for case in "fp16 2 --fp16 --initial-loss-scale 1048576 --loss-scale-window 3" \
            "bf16 4 --bf16 --tensor-model-parallel-size 2 --use-distributed-optimizer"; do
  set -- $case
  tag=$1 np=$2
  shift 2
  run "$np" "s_$tag" "$@" --train-iters $((2 * N)) --save "$W/s_$tag" || continue
  run "$np" "a_$tag" "$@" --train-iters $N --save "$W/r_$tag" || continue
  run "$np" "b_$tag" "$@" --train-iters $((2 * N)) --load "$W/r_$tag" --save "$W/r_$tag" || continue
  if cmp -s <(exact "$W/s_$tag.jsonl") <(exact "$W/a_$tag.jsonl" "$W/b_$tag.jsonl"); then
    echo "ok: $tag: $((2 * N)) iterations straight and $N + restart + $N log identical metrics (loss scale and skips included)"
  else
    fail "$tag: metrics differ: $(diff <(exact "$W/s_$tag.jsonl") <(exact "$W/a_$tag.jsonl" "$W/b_$tag.jsonl") | head -4)"
  fi
  out=$("$WCOMPARE" "$W/s_$tag" "$W/r_$tag" 0 --optimizer 2>&1) && echo "ok: $tag: final checkpoints bitwise identical" ||
    fail "$tag: final checkpoints differ: $out"
done
"$MEGAC" ckpt inspect "$W/r_fp16" > "$W/inspect.txt" 2>&1 && grep -q "^precision: fp16; loss scale" "$W/inspect.txt" &&
  echo "ok: ckpt inspect: $(grep '^precision' "$W/inspect.txt")" || fail "ckpt inspect does not show the fp16 scaler: $(tail -3 "$W/inspect.txt")"

# bf16 vs fp32 losses, and the checkpoint holds fp32 masters (not bf16-rounded values)
run 1 fp32 --train-iters 12 --save "$W/c_fp32" && run 1 bf16 --bf16 --train-iters 12 --save "$W/c_bf16" &&
  { w=$(worst "$W/fp32.jsonl" "$W/bf16.jsonl")
    awk -v w="$w" 'BEGIN { exit !(w > 0 && w < 2e-2) }' && echo "ok: bf16 follows fp32 (largest relative loss difference $w)" ||
      fail "bf16 vs fp32 losses differ by $w"
    python3 - "$W/c_bf16" <<'EOF' && echo "ok: the bf16 checkpoint holds fp32 master weights" || fail "bf16 checkpoint weights are bf16-rounded"
import glob, struct, sys
try:
    import h5py, numpy as np
except ImportError:
    sys.exit(0)  # h5py is checked by ckpt_h5py; without it this check is vacuous here
f = sorted(glob.glob(sys.argv[1] + "/iter_*/*.h5"))[0]
off = 0
with h5py.File(f, "r") as h:
    def walk(g):
        global off
        for k, v in g.items():
            if isinstance(v, h5py.Dataset) and v.dtype == np.float32 and v.size > 64:
                a = np.asarray(v).ravel().view(np.uint32)
                off += int(np.count_nonzero(a & 0xFFFF))
            elif isinstance(v, h5py.Group):
                walk(v)
    walk(h)
sys.exit(0 if off > 0 else 1)
EOF
  }

# recomputation changes nothing
run 2 rc_none --tensor-model-parallel-size 2 --train-iters 4 --eval-iters 0 &&
for r in "--recompute-activations" "--recompute-granularity full --recompute-method uniform --recompute-num-layers 1" \
         "--recompute-granularity full --recompute-method block --recompute-num-layers 1"; do
  run 2 rc --tensor-model-parallel-size 2 --train-iters 4 --eval-iters 0 $r || continue
  cmp -s <(losses "$W/rc_none.jsonl") <(losses "$W/rc.jsonl") && echo "ok: $r: the losses of no recomputation, bitwise" ||
    fail "$r: losses differ: $(paste <(losses "$W/rc_none.jsonl") <(losses "$W/rc.jsonl") | head -2)"
done

# flash attention: the same losses to fp32 rounding (the softmax is summed in another order)
run 2 fa --tensor-model-parallel-size 2 --train-iters 4 --eval-iters 0 --use-flash-attn &&
  { w=$(worst "$W/rc_none.jsonl" "$W/fa.jsonl")
    awk -v w="$w" 'BEGIN { exit !(w < 1e-6) }' && echo "ok: --use-flash-attn: the losses of unfused attention (largest relative difference $w)" ||
      fail "--use-flash-attn: losses differ by $w"; }

B=("$MEGAC" train gpt "${MODEL[@]}" --train-iters 2)
expect_error "fp16 and bf16" "--fp16 and --bf16" -- "${B[@]}" --fp16 --bf16
expect_error "negative loss scale" "--loss-scale must be positive" -- "${B[@]}" --fp16 --loss-scale -4
expect_error "loss scale in fp32" "--loss-scale needs --fp16 or --bf16" -- "${B[@]}" --loss-scale 8
expect_error "zero hysteresis" "--hysteresis 0 must be positive" -- "${B[@]}" --fp16 --hysteresis 0
expect_error "min above initial" "--min-loss-scale" -- "${B[@]}" --fp16 --initial-loss-scale 4 --min-loss-scale 8
expect_error "unknown granularity" "--recompute-granularity: unknown value 'some'" -- "${B[@]}" --recompute-granularity some
expect_error "full without method" "--recompute-granularity full needs --recompute-method" -- "${B[@]}" --recompute-granularity full
expect_error "too many recomputed layers" "--recompute-num-layers 5" -- "${B[@]}" --recompute-granularity full \
  --recompute-method block --recompute-num-layers 5
finish test_precision
