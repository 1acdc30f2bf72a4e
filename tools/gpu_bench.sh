#!/usr/bin/env bash
# gpu_bench.sh — issue 9's speed table on one GPU (H100/H200), in one go, in about
# 6-7 minutes after the build (a time budget, GPU_BENCH_BUDGET_S, default 540 s from
# the start, skips the rows it cannot fit and still prints the table). Each row runs
# megac (`megac bench --json`) and the same model in PyTorch (tools/bench_torch.py:
# eager and torch.compile, fp32 with TF32 off and bf16 autocast) one after the other
# on the same GPU:
#   0. dense matmul peaks: bf16 and fp32 (torch.matmul 8192^3), megac's fp32 matmul op;
#   1. GPT-2 124M, seq 1024, micro-batch 16, training;
#   2. the 1.2B GPT preset (gpt-1.2b: 40 layers, hidden 1536, 16 heads) at seq 2048,
#      the largest micro-batch that fits (megac: its memory estimate, then trying;
#      PyTorch: trying sizes largest first), training;
#   3. BERT-Large phase 1 (seq 128, 20 masked positions, micro-batch 64), training;
#   4. BERT-Base inference latency, batch 1, seq 128 (PyTorch compile: CUDA graphs);
#   5. PyTorch fp32 eager of the 1.2B GPT (megac's 1.2B row is fp32).
# Every training step is forward + backward + gradient clipping + AdamW, dropout 0.1.
# megac has fp32 kernels only (its bf16 is bookkeeping), so its rows are fp32 and the
# bf16 rows have PyTorch alone; the table says which precision each row used.
# Prints the markdown table last (tools/bench_table.py); writes to $OUT (the device
# tool's output folder; at most 8 files come back): bench.jsonl (every measurement),
# bench.log (every command's output), table.md, and setup.log/build.log of the build.
#
# On the GPU machine (after tools/gpu_prepare.sh here, carrying .deps):
#   bash tools/gpu_bench.sh
# Here, without a GPU, the same logic on tiny shapes (PyTorch from GPU_BENCH_PYTHON):
#   GPU_BENCH_DEVICE=cpu GPU_BENCH_PYTHON=/path/to/venv/bin/python bash tools/gpu_bench.sh
# Knobs: GPU_BENCH_ROWS (peak,gpt2,gpt1.2b,bert,infer: a rerun of some rows),
# GPU_BENCH_MODES (eager,compile), GPU_BENCH_FP32_MODES (GPU: eager — PyTorch fp32
# runs compile only in the GPT-2 row), GPU_BENCH_BUDGET_S (540).
set -u
cd "$(dirname "$0")/.."
T0=$(date +%s)
DEV=${GPU_BENCH_DEVICE:-cuda}
BUDGET=${GPU_BENCH_BUDGET_S:-540}
ROWS=${GPU_BENCH_ROWS:-peak,gpt2,gpt1.2b,bert,infer} # a subset reruns only those rows
PY=${GPU_BENCH_PYTHON:-python3}
OUTDIR=${OUT:-/tmp/megac-gpu-bench}
mkdir -p "$OUTDIR"
RES=$OUTDIR/bench.jsonl LOG=$OUTDIR/bench.log
: > "$RES"
: > "$LOG"

# PyTorch runs with the environment it came with, not .deps' libraries
if [ -n "${LD_LIBRARY_PATH:-}" ]; then TORCH_ENV=(env "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"); else TORCH_ENV=(env -u LD_LIBRARY_PATH); fi
TORCH_ENV+=("PATH=$PATH")
if [ "$DEV" = cuda ]; then
  . tools/gpu_env.sh
  if ! gpu_build "$OUTDIR"; then
    tail -20 "$OUTDIR/setup.log" "$OUTDIR/build.log" 2>/dev/null
    echo "gpu_bench: the build failed" >&2
    exit 1
  fi
  M=./build-gpu/megac
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee -a "$LOG"
  mem_mib=$(nvidia-smi --query-gpu=memory.total --format=csv,noheader,nounits | head -1)
  # megac's memory estimate covers its arenas; leave 3 GiB for the CUDA context,
  # cuBLAS/cuBLASLt workspaces and the reduction scratch
  FIT=$(awk -v m="$mem_mib" 'BEGIN { printf "%.1f", m / 1024 - 3 }')
  export OMP_NUM_THREADS=${OMP_NUM_THREADS:-8} # megac's host work: weight init, batches
  MODES=${GPU_BENCH_MODES:-eager,compile}
  # fp32 torch.compile only for GPT-2 (the cheapest compile): the others cost a minute of
  # compilation each for rows that megac's bf16 will replace
  FP32_MODES=${GPU_BENCH_FP32_MODES:-eager}
  PEAK_N=8192 PEAK_IT=20
  GPT2=(--model gpt2-124m --seq-length 1024 --micro-batch-size 16)
  GPT2_IT=(--iters 10 --warmup 3)
  BIG=(--model gpt-1.2b --seq-length 2048)
  BIG_MEGAC=(--micro-batch-size 8 --max-memory-gib "$FIT" --iters 4 --warmup 1)
  BIG_FP32=(--micro-batch-size 8,6,5,4,3,2,1 --iters 4 --warmup 2)
  BIG_BF16=(--micro-batch-size 16,12,10,8,6,4,2,1 --iters 6 --warmup 3)
  BERT=(--model bert-large --seq-length 128 --micro-batch-size 64)
  BERT_IT=(--iters 10 --warmup 3)
  INF=(--model bert-base --seq-length 128 --micro-batch-size 1)
  INF_IT=(--iters 200 --warmup 20)
  TORCH_DEV=(--device cuda)
else
  # the same rows on tiny shapes, to prove the logic, parsing and table here
  M=${MEGAC:-./build/megac}
  [ -x "$M" ] || { echo "gpu_bench: $M not built (bash tools/build.sh)" >&2; exit 1; }
  th=${GPU_BENCH_THREADS:-1}
  export OMP_NUM_THREADS=$th
  FIT=1.72 # makes megac step down from micro-batch 8 to 4 on its estimate
  MODES=${GPU_BENCH_MODES:-eager}
  FP32_MODES=${GPU_BENCH_FP32_MODES:-$MODES}
  PEAK_N=256 PEAK_IT=4
  GPT2=(--model gpt2-124m --num-layers 2 --seq-length 32 --micro-batch-size 2)
  GPT2_IT=(--iters 2 --warmup 1)
  BIG=(--model gpt-1.2b --num-layers 1 --seq-length 64)
  BIG_MEGAC=(--micro-batch-size 8 --max-memory-gib "$FIT" --iters 1 --warmup 1)
  BIG_FP32=(--micro-batch-size 2,1 --iters 1 --warmup 1)
  BIG_BF16=(--micro-batch-size 2,1 --iters 1 --warmup 1)
  BERT=(--model bert-large --num-layers 2 --seq-length 32 --micro-batch-size 2)
  BERT_IT=(--iters 2 --warmup 1)
  INF=(--model bert-base --num-layers 2 --seq-length 128 --micro-batch-size 1)
  INF_IT=(--iters 5 --warmup 2)
  TORCH_DEV=(--device cpu --threads "$th")
fi
TORCH=("${TORCH_ENV[@]}" "$PY" tools/bench_torch.py)
MEGAC=("$M" bench --device "$DEV" --json)

# run NAME LIMIT_S command...: runs within the time left (LIMIT_S at most), its output
# into bench.log, its JSON lines into bench.jsonl; one progress line
run() {
  local name=$1 limit=$2 t rc left
  shift 2
  case ",$ROWS," in *",${name%%_*},"*) ;; *) return ;; esac
  left=$((BUDGET - ($(date +%s) - T0)))
  if [ "$left" -lt 15 ]; then
    echo "gpu_bench: $name skipped (time budget of $BUDGET s spent)" | tee -a "$LOG"
    echo "{\"kind\": \"skipped\", \"row\": \"$name\"}" >> "$RES"
    return
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  t=$(date +%s)
  { echo; echo "=== $name (limit ${limit} s): $*"; } >> "$LOG"
  timeout -k 10 "$limit" "$@" > "$OUTDIR/.row.out" 2>> "$LOG"
  rc=$?
  cat "$OUTDIR/.row.out" >> "$LOG"
  grep '^{' "$OUTDIR/.row.out" >> "$RES"
  rm -f "$OUTDIR/.row.out"
  echo "gpu_bench: $name: exit $rc in $(($(date +%s) - t)) s$([ $rc -eq 124 ] && echo ' (timed out)')"
}

# the bf16 peak (measured first) is megac's MFU denominator, as in the table
run peak_torch 90 "${TORCH[@]}" peak "${TORCH_DEV[@]}" --size "$PEAK_N" --iters "$PEAK_IT" --warmup 3 --precision bf16,fp32
BF16=$(grep '"kind": "peak"' "$RES" | grep '"precision": "bf16"' | sed 's/.*"tflops": \([0-9.e+-]*\),.*/\1/' | head -1)
PEAK=()
[ -n "$BF16" ] && PEAK=(--peak-tflops "$BF16")
run peak_megac 60 "${MEGAC[@]}" --peak-only --sgemm-size "$PEAK_N"

run gpt2_megac 120 "${MEGAC[@]}" "${GPT2[@]}" "${GPT2_IT[@]}" "${PEAK[@]}"
run gpt2_torch 200 "${TORCH[@]}" train "${TORCH_DEV[@]}" "${GPT2[@]}" "${GPT2_IT[@]}" --precision fp32,bf16 --mode "$MODES"

run gpt1.2b_megac 150 "${MEGAC[@]}" "${BIG[@]}" "${BIG_MEGAC[@]}" "${PEAK[@]}"
run gpt1.2b_torch_bf16 200 "${TORCH[@]}" train "${TORCH_DEV[@]}" "${BIG[@]}" "${BIG_BF16[@]}" --precision bf16 --mode "$MODES"

run bert_megac 90 "${MEGAC[@]}" "${BERT[@]}" "${BERT_IT[@]}" "${PEAK[@]}"
run bert_torch 200 "${TORCH[@]}" train "${TORCH_DEV[@]}" "${BERT[@]}" "${BERT_IT[@]}" --precision fp32,bf16 --mode "$MODES" \
  --fp32-mode "$FP32_MODES"

run infer_megac 60 "${MEGAC[@]}" "${INF[@]}" "${INF_IT[@]}" --inference "${PEAK[@]}"
run infer_torch 150 "${TORCH[@]}" infer "${TORCH_DEV[@]}" "${INF[@]}" "${INF_IT[@]}" --precision fp32,bf16 --mode "$MODES" \
  --compile-scope full

# last (the first row the budget drops): PyTorch fp32 for megac's fp32 1.2B row
run gpt1.2b_torch_fp32 150 "${TORCH[@]}" train "${TORCH_DEV[@]}" "${BIG[@]}" "${BIG_FP32[@]}" --precision fp32 \
  --mode "$FP32_MODES"

echo
echo "megac speed (issue 9) — $(date -u +%Y-%m-%d), $(($(date +%s) - T0)) s; logs: bench.log, every number: bench.jsonl"
skipped=$(grep -c '"kind": "skipped"' "$RES")
[ "$skipped" -gt 0 ] && echo "skipped for time: $(grep '"kind": "skipped"' "$RES" | sed 's/.*"row": "\([^"]*\)".*/\1/' | tr '\n' ' ')"
"${TORCH_ENV[@]}" "$PY" tools/bench_table.py "$RES" | tee "$OUTDIR/table.md"
