#!/usr/bin/env bash
# test_plan_cli.sh MEGAC — `megac plan` end to end: plans that fit print a report
# and exit 0; bad layouts give exactly one line on stderr and exit 1.
set -u
megac=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

ok() { # ok NAME EXPECTED-STDOUT-TEXT ARGS...
    local name=$1 want=$2; shift 2
    if ! "$megac" plan "$@" >"$tmp/out" 2>"$tmp/err"; then
        echo "FAIL $name: exit $? ($(head -c 300 "$tmp/err"))"; fails=$((fails + 1)); return
    fi
    if ! grep -qF -- "$want" "$tmp/out"; then
        echo "FAIL $name: output lacks '$want'"; fails=$((fails + 1)); return
    fi
    echo "ok   $name"
}

refused() { # refused NAME EXPECTED-STDERR-TEXT ARGS...
    local name=$1 want=$2; shift 2
    "$megac" plan "$@" >"$tmp/out" 2>"$tmp/err"
    local rc=$?
    if [ "$rc" -ne 1 ]; then echo "FAIL $name: exit $rc, expected 1"; fails=$((fails + 1)); return; fi
    if [ "$(wc -l <"$tmp/err")" -ne 1 ]; then
        echo "FAIL $name: stderr is not one line:"; cat "$tmp/err"; fails=$((fails + 1)); return
    fi
    if ! grep -qF -- "$want" "$tmp/err"; then
        echo "FAIL $name: stderr '$(cat "$tmp/err")' lacks '$want'"; fails=$((fails + 1)); return
    fi
    echo "ok   $name: $(cat "$tmp/err")"
}

paper="--preset gpt-8.3b --vocab-size 51200 --tensor-model-parallel-size 8 --world-size 512 --micro-batch-size 8 \
--global-batch-size 512 --recompute-granularity full"
# shellcheck disable=SC2086
ok "8.3B on 512 V100s fits" "fits," $paper --software megatron-2019
# shellcheck disable=SC2086
ok "8.3B on 512 V100s: aggregate" "PFLOP/s aggregate" $paper
ok "BERT-Large record" "predicted time to train" --bert-record
ok "BERT-3.9B plan" "parameters:" --model bert --preset bert-3.9b --tensor-model-parallel-size 8 --world-size 512 \
    --micro-batch-size 4 --recompute-granularity full
ok "A100 plan" "A100-80GB" --gpu A100-80GB --preset gpt-8.3b --tensor-model-parallel-size 8 --world-size 64 \
    --micro-batch-size 4 --global-batch-size 512 --precision bf16 --use-distributed-optimizer
ok "custom GPU" "my-gpu" --gpu my-gpu --gpu-peak-tflops 200 --gpu-memory-gb 48 --gpu-memory-bandwidth 1500 \
    --gpus-per-node 8 --preset gpt2-345m --world-size 8 --micro-batch-size 4
ok "dry run (GPT): counts equal gpt_param_count" "= gpt_param_count" --preset gpt-8.3b --dry-run \
    --tensor-model-parallel-size 8 --world-size 512 --micro-batch-size 8 --global-batch-size 512
ok "dry run (BERT)" "lm_head/bias" --model bert --preset bert-large --dry-run --tensor-model-parallel-size 2 \
    --world-size 8 --micro-batch-size 8
ok "help" "--tensor-model-parallel-size" --help

refused "does not fit, by how much" "does not fit: " --preset gpt-8.3b --micro-batch-size 8
refused "does not fit names the short-fall" "short by" --preset gpt-8.3b --tensor-model-parallel-size 8 \
    --world-size 8 --micro-batch-size 8
refused "heads not divisible" "--tensor-model-parallel-size 3 does not divide --num-attention-heads 32" \
    --preset gpt-8.3b --tensor-model-parallel-size 3
refused "world size not divisible" "--world-size 12 is not a multiple of --tensor-model-parallel-size 8" \
    --preset gpt-8.3b --tensor-model-parallel-size 8 --world-size 12
refused "global batch not divisible" "--global-batch-size 100 is not a multiple" --preset gpt-1.2b \
    --world-size 16 --micro-batch-size 8 --global-batch-size 100
refused "BERT heads not divisible" "does not divide --num-attention-heads 16" --model bert --preset bert-large \
    --tensor-model-parallel-size 3
refused "dry run world size" "--world-size 10 is not a multiple" --preset gpt-8.3b --dry-run \
    --tensor-model-parallel-size 8 --world-size 10
refused "unknown GPU" "--gpu: 'X100'" --gpu X100
refused "unknown flag" "unknown flag '--tensor-parallel'" --tensor-parallel 2
refused "bad precision" "--precision: unknown value 'fp8'" --precision fp8

if [ "$fails" -ne 0 ]; then echo "$fails failure(s)"; exit 1; fi
echo "all passed"
