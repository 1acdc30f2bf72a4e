#!/usr/bin/env bash
# test_tensorboard.sh MEGAC — `--tensorboard-dir` end to end: a tiny fp16 GPT run on
# two data-parallel ranks writes one event file (the last rank's), which the
# tensorboard package's own reader (EventAccumulator) reads back; every scalar
# equals the metrics file's value at the same iteration, the throughput equals
# models/flops.h's formula over the measured time, and the log line carries
# TFLOP/s/GPU and MFU. The reader is pip-installed into out/tb-venv (exit 77,
# skipped, when that cannot be done).
set -u
MEGAC=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
venv=${MEGAC_TB_VENV:-$(cd "$here/.." && pwd)/out/tb-venv}
py=python3
if ! python3 -c 'import tensorboard' 2>/dev/null; then
  py="$venv/bin/python"
  if ! "$py" -c 'import tensorboard' 2>/dev/null; then
    echo "installing tensorboard into $venv" >&2
    if ! { python3 -m venv "$venv" && "$venv/bin/pip" install -q --disable-pip-version-check tensorboard; } >&2; then
      echo "SKIP: cannot pip-install tensorboard into $venv"
      exit 77
    fi
  fi
fi
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
for i in $(seq 1 60); do
  echo "Line $i: the quick brown fox jumps over the lazy dog; a stitch in time saves nine."
  echo "Every model is wrong, but some are useful. Measure twice and cut once, number $i."
done > "$W/text.txt"
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

ARGS=(--num-layers 2 --hidden-size 32 --num-attention-heads 4 --seq-length 32 --max-position-embeddings 32
      --micro-batch-size 2 --global-batch-size 8 --lr 3e-3 --train-iters 8 --log-interval 2 --eval-interval 4
      --eval-iters 1 --fp16 --initial-loss-scale 1048576 --peak-tflops 0.5 --data-path "$W/text.txt")
if ! timeout 300 mpirun -np 2 "$MEGAC" train gpt "${ARGS[@]}" --tensorboard-dir "$W/tb/run" \
     --metrics-file "$W/m.jsonl" > "$W/log" 2>&1; then
  cat "$W/log" >&2
  fail "training with --tensorboard-dir failed"
else
  n=$(ls "$W/tb/run" | grep -c '^events\.out\.tfevents\.')
  [ "$n" -eq 1 ] || fail "expected one event file (the last rank's), found $n: $(ls "$W/tb/run")"
  grep -q "throughput per GPU (TFLOP/s/GPU): [0-9.e+-]* | MFU: [0-9.e+-]*% | learning rate" "$W/log" \
    || fail "no TFLOP/s/GPU and MFU in the log line: $(grep -m1 ' iteration ' "$W/log")"
  params=$(sed -n 's/^megac train gpt: \([0-9]*\) parameters.*/\1/p' "$W/log")
  "$py" -B "$here/tb_read.py" "$W/tb/run" "$W/m.jsonl" "$params" || fail "the events read back differ (above)"
fi

# a --tensorboard-dir that cannot be a directory: one line naming it, before training
: > "$W/file"
out=$(timeout 120 "$MEGAC" train gpt "${ARGS[@]}" --fp16 --tensorboard-dir "$W/file" 2>&1 >/dev/null); rc=$?
if [ $rc -ne 0 ] && [ "$(printf '%s\n' "$out" | grep -c .)" -eq 1 ] && printf '%s' "$out" | grep -q -- "--tensorboard-dir.*$W/file"
then echo "ok: --tensorboard-dir on a file refused: $out"; else fail "--tensorboard-dir on a file: rc $rc: $out"; fi

[ $fails -eq 0 ] && echo "tensorboard: all checks passed"
exit $((fails > 0))
