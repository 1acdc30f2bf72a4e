#!/usr/bin/env bash
# bench_parallel.sh [megac bench flags...] — tokens/s of the same training step at
# (TP,DP) in {(1,1),(2,1),(1,2),(2,2)} on this machine (one process per rank, the
# machine's cores split among them), with the fraction of step time spent waiting
# on communication and the throughput relative to (1,1) measured in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
MEGAC=./build/megac
[ -x "$MEGAC" ] || bash tools/build.sh build
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
cores=$(nproc)
args=("$@")
[ ${#args[@]} -eq 0 ] && args=(--num-layers 4 --seq-length 256 --micro-batch-size 4 --iters 3)
printf '| TP | DP | ranks x threads | tokens/s | comm wait | vs (1,1) |\n|----|----|-----------------|----------|-----------|----------|\n'
base=""
for layout in "1 1" "2 1" "1 2" "2 2"; do
  set -- $layout
  np=$(($1 * $2)); threads=$(( cores / np > 0 ? cores / np : 1 ))
  row=$(mpirun -q -np $np -x OMP_NUM_THREADS=$threads "$MEGAC" bench "${args[@]}" --tensor-model-parallel-size "$1" | tail -1)
  tps=$(echo "$row" | awk -F'|' '{gsub(/ /, "", $5); print $5}')
  wait=$(echo "$row" | awk -F'|' '{gsub(/ /, "", $6); print $6}')
  [ -z "$base" ] && base=$tps
  printf '| %2d | %2d | %15s | %8s | %9s | %8.3f |\n' "$1" "$2" "$np x $threads" "$tps" "$wait" "$(echo "$tps $base" | awk '{print $1 / $2}')"
done
