#!/usr/bin/env bash
# test_bench.sh MEGAC [torch] — `megac bench --json` and issue 9's table tools on CPU:
# one JSON line per run with the documented fields and FLOP formulas (recomputed
# here independently), --max-memory-gib picking the micro-batch that megac's memory
# estimate allows, a failed run still giving a JSON line, an unknown model refused,
# and tools/bench_table.py turning megac + PyTorch records into the table with the
# right ratios. With `torch`: tools/bench_torch.py on tiny shapes gives the same
# parameter counts and model FLOPs as megac for the same shapes (exit 77, skipped,
# when PyTorch is not installed; GPU_BENCH_PYTHON names the Python that has it).
set -u
MEGAC=$(realpath "$1")
MODE=${2:-megac}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
export OMP_NUM_THREADS=1
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# check FILE PYTHON-EXPR...: each expression, with r = the file's JSON record, is true
check() {
  local f=$1
  shift
  python3 - "$f" "$@" <<'EOF' || fail "$(basename "$f"): $(cat "$f" | head -c 300)"
import json, math, sys
lines = [l for l in open(sys.argv[1]) if l.startswith("{")]
assert len(lines) == 1, f"{len(lines)} JSON lines"
r = json.loads(lines[0])
def gpt_flops(L, C, V, pos, T, B, train=True):
    P = V * C + pos * C + L * (12 * C * C + 13 * C) + 2 * C
    a = 6 if train else 2
    return a * (P - pos * C) * B * T + 2 * a * L * C * T * B * T
def bert_flops(L, C, V, T, B, M, train=True):
    layer = 12 * C * C + 13 * C
    a = 6 if train else 2
    f = a * L * layer * B * T + 2 * a * L * C * T * B * T
    return f + (6 * B * M * (C * C + C * V) + 6 * B * (C * C + 2 * C) if train else 0)
for e in sys.argv[2:]:
    assert eval(e), f"{e} is false for {r}"
EOF
}
close() { python3 -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); sys.exit(abs(a - b) > 1e-6 * abs(b))" "$1" "$2"; }

if [ "$MODE" = megac ]; then
  G=(--num-layers 2 --seq-length 32 --micro-batch-size 2 --iters 2 --warmup 1 --peak-tflops 0.5 --json)
  "$MEGAC" bench "${G[@]}" > "$W/gpt.json" 2> "$W/err" || fail "gpt bench: $(cat "$W/err")"
  check "$W/gpt.json" 'r["tool"] == "megac" and r["kind"] == "train" and r["precision"] == "fp32" and r["status"] == "ok"' \
    'r["micro_batch"] == 2 and r["seq"] == 32 and r["tokens_per_step"] == 64 and r["vocab_padded"] == 50304' \
    'r["params"] == 50304 * 768 + 1024 * 768 + 2 * (12 * 768**2 + 13 * 768) + 2 * 768' \
    'abs(r["model_flops_per_step"] - gpt_flops(2, 768, 50304, 1024, 32, 2)) < 1e-5 * r["model_flops_per_step"]' \
    'abs(r["tokens_per_s"] - 64e3 / r["step_ms"]) < 1e-3 * r["tokens_per_s"]' \
    'abs(r["tflops"] - r["model_flops_per_step"] / r["step_ms"] / 1e9) < 1e-3 * r["tflops"]' \
    'abs(r["mfu"] - r["tflops"] / 0.5) < 1e-3 * r["mfu"] and r["peak_source"] == "given"'
  "$MEGAC" bench "${G[@]}" --inference > "$W/gpt_inf.json" 2> "$W/err" || fail "gpt inference: $(cat "$W/err")"
  check "$W/gpt_inf.json" 'r["kind"] == "infer" and r["latency_ms"] == r["step_ms"] and r["latency_ms_min"] <= r["latency_ms"]' \
    'abs(r["model_flops_per_step"] - gpt_flops(2, 768, 50304, 1024, 32, 2, False)) < 1e-5 * r["model_flops_per_step"]'
  B=(--model bert-large --num-layers 2 --seq-length 32 --micro-batch-size 2 --iters 2 --warmup 1 --json)
  "$MEGAC" bench "${B[@]}" > "$W/bert.json" 2> "$W/err" || fail "bert bench: $(cat "$W/err")"
  check "$W/bert.json" 'r["model"] == "bert-large" and r["hidden"] == 1024 and r["vocab_padded"] == 30592' \
    'abs(r["model_flops_per_step"] - bert_flops(2, 1024, 30592, 32, 2, 5)) < 1e-5 * r["model_flops_per_step"]' \
    'r["peak_source"] == "OpenBLAS sgemm" and r["peak_tflops"] > 0'
  "$MEGAC" bench "${B[@]}" --inference --micro-batch-size 1 > "$W/bert_inf.json" 2> "$W/err" ||
    fail "bert inference: $(cat "$W/err")"
  check "$W/bert_inf.json" 'r["kind"] == "infer" and r["micro_batch"] == 1' \
    'abs(r["model_flops_per_step"] - bert_flops(2, 1024, 30592, 32, 1, 5, False)) < 1e-5 * r["model_flops_per_step"]'

  # --max-memory-gib: the largest micro-batch whose estimate (train gpt --print-params) fits
  F=(--num-layers 1 --seq-length 64)
  est() { "$MEGAC" train gpt --preset gpt2-124m "${F[@]}" --micro-batch-size "$1" --print-params | sed -n 's/.*: \([0-9.]*\) GiB$/\1/p'; }
  lim=$(awk -v a="$(est 4)" -v b="$(est 5)" 'BEGIN { printf "%.4f", (a + b) / 2 }')
  "$MEGAC" bench "${F[@]}" --micro-batch-size 6 --max-memory-gib "$lim" --iters 1 --warmup 0 --json \
    > "$W/fit.json" 2> "$W/fit.err" || fail "fit: $(cat "$W/fit.err")"
  check "$W/fit.json" 'r["micro_batch"] == 4'
  [ "$(grep -c 'over --max-memory-gib' "$W/fit.err")" -eq 2 ] || fail "fit: expected two skipped sizes: $(cat "$W/fit.err")"

  # a failed run still gives its JSON line (here: 4.9 GB of parameters refused by a 4 GB
  # address-space limit; sanitizer builds reserve terabytes of shadow space: not there)
  if ! ldd "$MEGAC" 2>/dev/null | grep -q libasan; then
    (ulimit -v 4000000; "$MEGAC" bench --model gpt-1.2b --json > "$W/bad.json" 2> "$W/bad.err")
    [ $? -eq 1 ] || fail "out-of-memory run: expected exit 1"
    check "$W/bad.json" 'r["status"] == "error" and "out of host memory" in r["error"] and r["model"] == "gpt-1.2b"'
  fi
  out=$("$MEGAC" bench --model gpt-9b 2>&1 >/dev/null)
  [ $? -eq 1 ] && [ "$(printf '%s\n' "$out" | grep -c .)" -eq 1 ] && printf '%s' "$out" | grep -q "unknown preset 'gpt-9b'" ||
    fail "unknown model: '$out'"
  "$MEGAC" bench --peak-only --sgemm-size 128 --json > "$W/peak.json" || fail "peak-only"
  check "$W/peak.json" 'r["kind"] == "peak" and r["tool"] == "megac" and r["tflops"] > 0'

  # the table: megac's records plus PyTorch records with known throughputs
  cat "$W/gpt.json" "$W/bert.json" "$W/bert_inf.json" "$W/peak.json" > "$W/all.jsonl"
  python3 - "$W/gpt.json" "$W/bert_inf.json" >> "$W/all.jsonl" <<'EOF'
import json, sys
g = json.loads(open(sys.argv[1]).read())
i = json.loads(open(sys.argv[2]).read())
base = {"tool": "torch", "torch": "test", "device_name": "Test GPU", "status": "ok"}
print(json.dumps(dict(base, kind="peak", precision="bf16", size=8192, tflops=1.0)))
for mode, f in (("eager", 2.0), ("compile", 4.0)):
    print(json.dumps(dict(base, kind="train", model="gpt2-124m", precision="fp32", mode=mode, seq=g["seq"],
                          micro_batch=2, tokens_per_s=g["tokens_per_s"] / f, tflops=0.25)))
    print(json.dumps(dict(base, kind="infer", model="bert-base", precision="fp32", mode=mode, seq=i["seq"],
                          micro_batch=1, latency_ms=i["latency_ms"] * f)))
print(json.dumps(dict(base, kind="train", model="gpt2-124m", precision="bf16", mode="eager", seq=g["seq"],
                      status="error", error="CUDA out of memory")))
print("not json")
EOF
  python3 "$ROOT/tools/bench_table.py" "$W/all.jsonl" > "$W/table.md" 2> "$W/err" || fail "bench_table: $(cat "$W/err")"
  grep -q '^| gpt2-124m | 32 | fp32 | 2 | .* | 0.250 | 2.00 | 4.00 |$' "$W/table.md" ||
    fail "table: gpt2 fp32 row: $(grep 'gpt2-124m | 32 | fp32' "$W/table.md")"
  grep -q '^| gpt2-124m | 32 | bf16 | .*no bf16 kernels yet).* | OOM |' "$W/table.md" ||
    fail "table: bf16 row: $(grep 'bf16' "$W/table.md")"
  grep -q 'bf16 matmul peak 1.0 TFLOP/s' "$W/table.md" || fail "table: peak line"
  grep -q '^- gpt2-124m fp32 megac >= 1.2x PyTorch eager: 2.00x, met; >= 1.0x PyTorch torch.compile: 4.00x, met$' "$W/table.md" ||
    fail "table: goals: $(grep '^- gpt2' "$W/table.md")"
  grep -q '^| bert-large | 32 | fp32 | 2 |' "$W/table.md" || fail "table: bert-large row"
else
  PY=${GPU_BENCH_PYTHON:-python3}
  if ! "$PY" -c 'import torch' 2> /dev/null; then
    echo "test_bench: PyTorch is not installed for $PY: skipped"
    exit 77
  fi
  T=(--device cpu --threads 1 --num-layers 2 --seq-length 32 --iters 1 --warmup 1)
  for m in gpt2-124m bert-large; do
    "$PY" "$ROOT/tools/bench_torch.py" train --model "$m" "${T[@]}" --micro-batch-size 2 --precision fp32,bf16 \
      --check-loss > "$W/t_$m.jsonl" 2> "$W/err" || fail "bench_torch train $m: $(tail -3 "$W/err")"
    "$MEGAC" bench --model "$m" --num-layers 2 --seq-length 32 --micro-batch-size 2 --iters 1 --warmup 0 \
      --peak-tflops 1 --json > "$W/m_$m.json" 2> "$W/err" || fail "megac bench $m: $(cat "$W/err")"
    python3 - "$W/m_$m.json" "$W/t_$m.jsonl" <<'EOF' || fail "$m: PyTorch and megac disagree"
import json, math, sys
m = json.loads(open(sys.argv[1]).read())
ts = [json.loads(l) for l in open(sys.argv[2]) if l.startswith("{")]
assert [t["precision"] for t in ts] == ["fp32", "bf16"], ts
for t in ts:
    assert t["status"] == "ok", t
    for k in ("params", "model_flops_per_step", "tokens_per_step", "vocab_padded", "layers", "hidden", "seq"):
        assert t[k] == m[k] or abs(t[k] - m[k]) < 1e-6 * abs(m[k]), (k, t[k], m[k])
    assert math.isfinite(t["loss"]) and 4 < t["loss"] < 15, t["loss"]  # near ln(vocab) after one step
EOF
  done
  "$PY" "$ROOT/tools/bench_torch.py" infer --model bert-base "${T[@]}" --micro-batch-size 1 > "$W/ti.jsonl" 2> "$W/err" ||
    fail "bench_torch infer: $(tail -3 "$W/err")"
  "$MEGAC" bench --model bert-base --num-layers 2 --seq-length 32 --micro-batch-size 1 --inference --iters 1 \
    --peak-tflops 1 --json > "$W/mi.json" 2> "$W/err" || fail "megac bench inference: $(cat "$W/err")"
  python3 -c "
import json, sys
m = json.loads(open('$W/mi.json').read()); t = json.loads(open('$W/ti.jsonl').readline())
assert t['status'] == 'ok' and t['model_flops_per_step'] == m['model_flops_per_step'], (t, m)
" || fail "inference FLOPs differ"
  "$PY" "$ROOT/tools/bench_torch.py" peak --device cpu --threads 1 --size 128 --iters 2 --warmup 1 > "$W/tp.jsonl" ||
    fail "bench_torch peak"
  [ "$(grep -c '"kind": "peak"' "$W/tp.jsonl")" -eq 2 ] || fail "bench_torch peak: $(cat "$W/tp.jsonl")"
fi

[ $fails -eq 0 ] && echo "test_bench ($MODE): all checks passed" || echo "test_bench ($MODE): $fails check(s) failed"
exit $((fails > 0))
