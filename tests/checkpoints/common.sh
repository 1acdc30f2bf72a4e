# common.sh — sourced by the checkpoint tests: arguments (MEGAC WCOMPARE
# CKPT_EDIT), a scratch directory, a small corpus, the tiny model's flags, and
# helpers to run training and to expect one-line errors.
set -u
MEGAC=$(realpath "$1"); WCOMPARE=$(realpath "$2"); CKPT_EDIT=$(realpath "$3")
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 OMP_NUM_THREADS=1
fails=0
finish() { # name
  [ $fails -eq 0 ] && echo "$1: all checks passed" || echo "$1: $fails check(s) failed"
  exit $((fails > 0))
}

for i in $(seq 1 400); do echo "Sentence $i: pack my box with five dozen liquor jugs, then $((i * 7 % 13)) more."; done > "$W/text.txt"

# The vocabulary (256, padded by 100 x TP) divides by no padding multiple, so TP
# sizes pad differently; heads 4 and FFN 52 split over TP 1, 2 and 4.
MODEL=(--data-path "$W/text.txt" --num-layers 2 --hidden-size 24 --num-attention-heads 4 --ffn-hidden-size 52
       --seq-length 16 --micro-batch-size 2 --global-batch-size 24 --lr 3e-3 --lr-warmup-iters 2
       --lr-decay-style cosine --lr-decay-iters 8 --log-interval 1 --eval-iters 1 --eval-interval 4
       --make-vocab-size-divisible-by 100 --hidden-dropout 0.1 --attention-dropout 0.1 --ddp-bucket-size 2000)

# run NP TAG ARGS...: training under mpirun; metrics in $W/TAG.jsonl, log in $W/TAG.log
run() {
  local np=$1 tag=$2
  shift 2
  if ! timeout 120 mpirun -np "$np" "$MEGAC" train gpt "${MODEL[@]}" --metrics-file "$W/$tag.jsonl" "$@" > "$W/$tag.log" 2>&1; then
    fail "$tag did not run: $(tail -2 "$W/$tag.log")"
    return 1
  fi
}

# the metric lines without their timings (iteration, samples, loss, lr, grad norm; validation)
metrics() { sed 's/, "ms_per_iter".*/}/' "$@"; }
losses() { grep '"lm_loss"' "$@" | sed 's/.*"lm_loss": \([^,]*\),.*/\1/'; }

. "$(dirname "${BASH_SOURCE[0]}")/../expect.sh"  # fail, expect_error

# a fingerprint of every file under a directory (to prove nothing was modified)
tree_sum() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16); }
