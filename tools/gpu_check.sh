#!/usr/bin/env bash
# gpu_check.sh — the GPU check, on a machine with one NVIDIA GPU, the CUDA toolkit,
# meson and ninja (pip) and nothing else of megac's dependencies: they come as
# Debian packages in .deps/debs (tools/gpu_prepare.sh, run beforehand where the
# network is). Finishes in a few minutes and prints a table last:
#  1. builds megac with -Dcuda=enabled;
#  2. every op forward and backward on the GPU against the CPU backend
#     (tests/test_backend_parity: fp32 1e-5 elementwise, 1e-4 GEMM chains, NaN fails);
#  3. 50 iterations of a tiny GPT on the GPU against the same on the CPU (fp32: 1e-4;
#     --bf16 and --fp16 bookkeeping: 1e-2, the same skipped iterations), full
#     recomputation on the GPU against none (1e-6), --use-flash-attn on the GPU
#     against the unfused CPU run (1e-4), and 10 iterations of a tiny
#     BERT with LAMB, GPU vs CPU (1e-4);
#  4. the parity test under compute-sanitizer (memcheck and racecheck);
#  5. TP=2 with two ranks on the one GPU (MPI over host staging) against TP=1.
# Works in /tmp/megac-gpu-check; when $OUT is set (the device tool's output folder,
# which brings back few files) it gets table.md and logs.tar.gz (every log and metrics file).
set -u
cd "$(dirname "$0")/.."
OUTDIR=/tmp/megac-gpu-check
mkdir -p "$OUTDIR"
. tools/gpu_env.sh
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUTDIR/gpu.txt"
card=$(head -1 "$OUTDIR/gpu.txt" | cut -d, -f1)
declare -a rows
row() { rows+=("$(printf '| %-44s | %-10s | %s |' "$1" "$2" "$3")"); }

# 1. build
t0=$(date +%s)
if gpu_build "$OUTDIR"; then
  row "build -Dcuda=enabled (sm_90)" "ok" "$(( $(date +%s) - t0 )) s, $(grep -ci warning "$OUTDIR/build.log") warnings"
else
  tail -20 "$OUTDIR/setup.log" "$OUTDIR/build.log" 2>/dev/null; row "build -Dcuda=enabled" "FAIL" "see setup.log/build.log"
  printf '%s\n' "${rows[@]}"; exit 1
fi
M=./build-gpu/megac

# 2. op parity
./build-gpu/tests/test_backend_parity > "$OUTDIR/parity.log" 2>&1; rc=$?
n_pass=$(grep -c 'PASS' "$OUTDIR/parity.log"); n_fail=$(grep -c 'FAIL' "$OUTDIR/parity.log")
row "op parity GPU vs CPU (every op, fwd+bwd)" "$([ $rc -eq 0 ] && echo ok || echo FAIL)" "$n_pass pass, $n_fail fail"

# 3. tiny GPT, 50 iterations, CPU vs GPU
for i in $(seq 1 300); do echo "Line $i: the quick brown fox jumps over the lazy dog, $((i * 37 % 101)) times."; done > "$OUTDIR/text.txt"
GPT=(--data-path "$OUTDIR/text.txt" --num-layers 2 --hidden-size 64 --num-attention-heads 4 --seq-length 64
     --micro-batch-size 4 --global-batch-size 8 --train-iters 50 --lr 1e-3 --log-interval 1 --eval-iters 0
     --hidden-dropout 0.1 --attention-dropout 0.1)
OMP_NUM_THREADS=8 $M train gpt "${GPT[@]}" --device cpu --metrics-file "$OUTDIR/cpu.jsonl" > "$OUTDIR/gpt_cpu.log" 2>&1
$M train gpt "${GPT[@]}" --device cuda --metrics-file "$OUTDIR/gpu.jsonl" > "$OUTDIR/gpt_gpu.log" 2>&1
losses() { grep '"lm_loss"' "$1" | sed 's/.*"lm_loss": \([^,]*\),.*/\1/'; }
worst=$(paste <(losses "$OUTDIR/cpu.jsonl") <(losses "$OUTDIR/gpu.jsonl") |
        awk '{d=($1-$2)/$1; if(d<0)d=-d; if(d>w)w=d; n++} END {if (n != 50) print "n=" n; else printf "%.2e", w}')
ok=$(awk -v w="$worst" 'BEGIN { print (w ~ /^n=/ || w > 1e-4) ? "FAIL" : "ok" }')
row "GPT 50 iters fp32, GPU vs CPU losses" "$ok" "max rel diff $worst (limit 1e-4)"

# compare TAG_A TAG_B N LIMIT NAME: the losses of two metrics files
compare() {
  local w ok
  w=$(paste <(losses "$OUTDIR/$1.jsonl") <(losses "$OUTDIR/$2.jsonl") |
      awk -v n="$3" '{d=($1-$2)/$1; if(d<0)d=-d; if(d>w)w=d; k++} END {if (k != n) print "n=" k; else printf "%.2e", w}')
  ok=$(awk -v w="$w" -v l="$4" 'BEGIN { print (w ~ /^n=/ || w > l) ? "FAIL" : "ok" }')
  row "$5" "$ok" "max rel diff $w (limit $4)"
}
skips() { grep -o '"skipped_iterations": [0-9]*' "$1" | awk '{ s += $2 } END { print s + 0 }'; }
for p in bf16 fp16; do
  OMP_NUM_THREADS=8 $M train gpt "${GPT[@]}" --$p --device cpu --metrics-file "$OUTDIR/cpu_$p.jsonl" > "$OUTDIR/gpt_cpu_$p.log" 2>&1
  $M train gpt "${GPT[@]}" --$p --device cuda --metrics-file "$OUTDIR/gpu_$p.jsonl" > "$OUTDIR/gpt_gpu_$p.log" 2>&1
  compare cpu_$p gpu_$p 50 1e-2 "GPT 50 iters --$p, GPU vs CPU losses"
done
row "fp16 skipped iterations GPU / CPU" "$([ "$(skips "$OUTDIR/gpu_fp16.jsonl")" = "$(skips "$OUTDIR/cpu_fp16.jsonl")" ] && echo ok || echo FAIL)" \
  "$(skips "$OUTDIR/gpu_fp16.jsonl") / $(skips "$OUTDIR/cpu_fp16.jsonl")"
$M train gpt "${GPT[@]}" --device cuda --recompute-granularity full --recompute-method uniform --recompute-num-layers 1 \
  --metrics-file "$OUTDIR/gpu_rc.jsonl" > "$OUTDIR/gpt_gpu_rc.log" 2>&1
compare gpu gpu_rc 50 1e-6 "GPT full recomputation vs none (GPU)"
$M train gpt "${GPT[@]}" --device cuda --use-flash-attn --metrics-file "$OUTDIR/gpu_fa.jsonl" > "$OUTDIR/gpt_gpu_fa.log" 2>&1
compare cpu gpu_fa 50 1e-4 "GPT --use-flash-attn (GPU) vs unfused CPU"

# a tiny BERT (made-up WordPiece vocabulary, LAMB, dropout), GPU vs CPU
python3 - "$OUTDIR" <<'PY'
import json, random, sys
w = sys.argv[1]
rng = random.Random(5)
words = sorted({"".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 7))) for _ in range(400)})[:300]
open(w + "/vocab.txt", "w").write("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "."] + words) + "\n")
with open(w + "/corpus.jsonl", "w") as f:
    for d in range(300):
        topic = rng.sample(words, 40)
        sents = []
        for s in range(rng.randint(4, 9)):
            ws = [rng.choice(topic) for _ in range(rng.randint(4, 10))]
            sents.append(" ".join([ws[0].capitalize()] + ws[1:]) + ".")  # capitalised: the splitter sees sentences
        f.write(json.dumps({"text": " ".join(sents)}) + "\n")
PY
$M preprocess --input "$OUTDIR/corpus.jsonl" --output-prefix "$OUTDIR/bc" --tokenizer-type BertWordPieceLowerCase \
  --vocab-file "$OUTDIR/vocab.txt" --split-sentences --workers 1 > "$OUTDIR/bert_pre.log" 2>&1
BERT=(--data-path "$OUTDIR/bc_text_sentence" --vocab-file "$OUTDIR/vocab.txt" --num-layers 2 --hidden-size 64
      --num-attention-heads 4 --seq-length 64 --micro-batch-size 4 --global-batch-size 8 --optimizer lamb --lr 1e-2
      --lr-warmup-iters 2 --train-iters 10 --log-interval 1 --eval-iters 0)
OMP_NUM_THREADS=8 $M train bert "${BERT[@]}" --device cpu --metrics-file "$OUTDIR/bert_cpu.jsonl" > "$OUTDIR/bert_cpu.log" 2>&1
$M train bert "${BERT[@]}" --device cuda --metrics-file "$OUTDIR/bert_gpu.jsonl" > "$OUTDIR/bert_gpu.log" 2>&1
compare bert_cpu bert_gpu 10 1e-4 "BERT 10 iters LAMB, GPU vs CPU losses"

# 4. compute-sanitizer
for tool in memcheck racecheck; do
  compute-sanitizer --tool $tool --error-exitcode 9 ./build-gpu/tests/test_backend_parity > "$OUTDIR/sanitizer_$tool.log" 2>&1; rc=$?
  errs=$(grep -o 'ERROR SUMMARY: [0-9]* error' "$OUTDIR/sanitizer_$tool.log" | tail -1)
  row "compute-sanitizer $tool on the parity test" "$([ $rc -eq 0 ] && echo ok || echo FAIL)" "${errs:-no summary (exit $rc)}"
done

# 5. TP=2, two ranks on one GPU (host-staged MPI) vs TP=1
TP=("${GPT[@]}" --train-iters 10 --attention-dropout 0)
$M train gpt "${TP[@]}" --device cuda --metrics-file "$OUTDIR/tp1.jsonl" > "$OUTDIR/tp1.log" 2>&1
"$root/usr/bin/mpirun.openmpi" -np 2 -x MEGAC_COMM=mpi -x LD_LIBRARY_PATH -x OPAL_PREFIX $M train gpt "${TP[@]}" --device cuda \
  --tensor-model-parallel-size 2 --metrics-file "$OUTDIR/tp2.jsonl" > "$OUTDIR/tp2.log" 2>&1
worst=$(paste <(losses "$OUTDIR/tp1.jsonl") <(losses "$OUTDIR/tp2.jsonl") |
        awk '{d=($1-$2)/$1; if(d<0)d=-d; if(d>w)w=d; n++} END {if (n != 10) print "n=" n; else printf "%.2e", w}')
ok=$(awk -v w="$worst" 'BEGIN { print (w ~ /^n=/ || w > 1e-5) ? "FAIL" : "ok" }')
row "TP=2 (2 ranks, one GPU) vs TP=1 losses" "$ok" "max rel diff $worst (limit 1e-5)"

echo
echo "megac GPU check — $card — $(date -u +%Y-%m-%d)"
printf '| %-44s | %-10s | %s |\n' "check" "result" "numbers"
printf '|%s|%s|%s|\n' "----------------------------------------------" "------------" "--------------------------------"
printf '%s\n' "${rows[@]}"
if [ -n "${OUT:-}" ]; then
  { echo "megac GPU check — $card — $(date -u +%Y-%m-%d)"; printf '%s\n' "${rows[@]}"; } > "$OUT/table.md"
  (cd "$OUTDIR" && tar -czf "$OUT/logs.tar.gz" $(ls *.log *.jsonl *.txt 2>/dev/null))
fi
