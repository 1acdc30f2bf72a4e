#!/usr/bin/env bash
# test_layouts.sh MEGAC WCOMPARE — the same tiny GPT, data and seed trained for 10
# iterations under (TP,DP) in {(1,1),(2,1),(4,1),(1,2),(2,2),(4,2),(1,3),(2,3)},
# with and without ZeRO-1: per-iteration losses agree with (1,1) to a relative
# 1e-5 and the final weights to 1e-4 (each run saves a checkpoint; wcompare
# assembles every tensor globally from whatever layout wrote it). The vocabulary
# (256, padded by 100 x TP) is divisible by no padding multiple, and at DP=3 the
# per-rank parameter count is not divisible by DP, so ZeRO-1 shards are uneven.
# Then bad parallel configurations (one clear line, every rank exits non-zero)
# and a rank killed mid-run (the job ends within seconds).
set -u
MEGAC=$(realpath "$1"); WCOMPARE=$(realpath "$2")
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 OMP_NUM_THREADS=1
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

for i in $(seq 1 400); do echo "Sentence $i: pack my box with five dozen liquor jugs, then $((i * 7 % 13)) more."; done > "$W/text.txt"

COMMON=(--data-path "$W/text.txt" --num-layers 2 --hidden-size 24 --num-attention-heads 4 --ffn-hidden-size 52
        --seq-length 16 --micro-batch-size 2 --global-batch-size 24 --train-iters 10 --lr 3e-3
        --lr-warmup-iters 2 --lr-decay-style cosine --log-interval 1 --eval-iters 1 --eval-interval 5
        --make-vocab-size-divisible-by 100 --hidden-dropout 0.1 --attention-dropout 0 --ddp-bucket-size 2000)
losses() { grep '"lm_loss"' "$1" | sed 's/.*"lm_loss": \([^,]*\),.*/\1/'; }

run() { # tp dp zero tag
  local np=$(($1 * $2)) extra=()
  [ "$3" = 1 ] && extra=(--use-distributed-optimizer)
  if ! timeout 300 mpirun -np $np "$MEGAC" train gpt "${COMMON[@]}" --tensor-model-parallel-size "$1" "${extra[@]}" \
       --metrics-file "$W/$4.jsonl" --save "$W/$4" > "$W/$4.log" 2>&1; then
    fail "TP=$1 DP=$2 ZeRO=$3 did not run: $(tail -3 "$W/$4.log")"
    return 1
  fi
}

run 1 1 0 ref || { echo "reference run failed"; exit 1; }
uneven=0
for zero in 0 1; do
  for layout in "1 1" "2 1" "4 1" "1 2" "2 2" "4 2" "1 3" "2 3"; do
    set -- $layout
    tag="tp$1_dp$2_z$zero"
    run "$1" "$2" "$zero" "$tag" || continue
    worst=$(paste <(losses "$W/ref.jsonl") <(losses "$W/$tag.jsonl") |
      awk '{ d = ($1 - $2) / $1; if (d < 0) d = -d; if (d > w) w = d; n++ } END { if (n != 10) print "count" n; else printf "%.3g", w }')
    case "$worst" in
      count*) fail "$tag: expected 10 logged iterations, got ${worst#count}" ;;
      *) awk -v w="$worst" 'BEGIN { exit !(w <= 1e-5) }' || fail "$tag: per-iteration losses differ from (1,1) by $worst" ;;
    esac
    cmp=$("$WCOMPARE" "$W/ref" "$W/$tag" 1e-4 2>&1) || fail "$tag: final weights differ: $cmp"
    per_rank=$(sed -n 's/.*parameters per rank: \([0-9]*\).*/\1/p' "$W/$tag.log")
    echo "ok: TP=$1 DP=$2 ZeRO-1=$zero ($per_rank parameters per rank, $((per_rank % $2)) left over by DP): losses within $worst of (1,1); $cmp"
    [ "$zero" = 1 ] && [ $((per_rank % $2)) -ne 0 ] && uneven=1
  done
done

[ $uneven -eq 1 ] || fail "no ZeRO-1 layout had a parameter count that DP does not divide"

# bad parallel configurations: one line on stderr (mpirun -q keeps its own
# banner out), non-zero exit
expect_error() { # name pattern np args...
  local name=$1 pattern=$2 np=$3; shift 3
  local out rc
  out=$(timeout 60 mpirun -q -np "$np" "$MEGAC" train gpt "${COMMON[@]}" "$@" 2>&1 >/dev/null); rc=$?
  local lines; lines=$(printf '%s\n' "$out" | grep -c .)
  if [ $rc -eq 0 ]; then fail "$name: exit 0"; return; fi
  if [ $rc -eq 124 ]; then fail "$name: hung"; return; fi
  if [ "$lines" -ne 1 ]; then fail "$name: expected one error line, got $lines: $out"; return; fi
  printf '%s' "$out" | grep -q -- "$pattern" || { fail "$name: '$out' lacks '$pattern'"; return; }
  echo "ok: $name -> $out"
}
expect_error "heads not divisible by TP" "--tensor-model-parallel-size 3 does not divide --num-attention-heads 4" 3 --tensor-model-parallel-size 3
expect_error "FFN not divisible by TP" "--tensor-model-parallel-size 4 does not divide the FFN size 50" 4 --tensor-model-parallel-size 4 --ffn-hidden-size 50
expect_error "world not divisible by TP" "the world size 3 is not divisible by --tensor-model-parallel-size 2" 3 --tensor-model-parallel-size 2
expect_error "global batch vs micro x DP" "--global-batch-size 24 must be a positive multiple of --micro-batch-size 2 x data-parallel size 5" 5 --tensor-model-parallel-size 1
expect_error "missing data on every rank" "--data-path $W/none.txt" 2 --data-path "$W/none.txt"

# a rank killed mid-run ends the whole job within seconds
( timeout 120 mpirun -np 2 "$MEGAC" train gpt "${COMMON[@]}" --train-iters 100000 --eval-iters 0 > "$W/kill.log" 2>&1; echo $? > "$W/kill.rc" ) &
for _ in $(seq 1 100); do grep -q "iteration" "$W/kill.log" 2>/dev/null && break; sleep 0.2; done
victim=$(pgrep -f "$W/text.txt --num-layers" | tail -1)
start=$(date +%s)
kill -9 "$victim" 2>/dev/null
wait
took=$(( $(date +%s) - start ))
rc=$(cat "$W/kill.rc")
if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && [ $took -le 20 ]; then echo "ok: killed rank ended the job in ${took}s (exit $rc)"
else fail "killed rank: exit $rc after ${took}s"; fi

[ $fails -eq 0 ] && echo "test_layouts: all checks passed" || echo "test_layouts: $fails check(s) failed"
exit $((fails > 0))
