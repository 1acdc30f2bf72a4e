#!/usr/bin/env bash
# test_megatron.sh MEGAC MEGAC_LOGITS WCOMPARE — Megatron-LM checkpoints in and out,
# against megatron-core itself on the CPU (issue 21):
#  1. megatron-core builds a small GPT-2 style GPTModel at TP=1 and at TP=2
#     (torchrun, 2 gloo processes) and saves it in the legacy and the torch_dist
#     format; `megac ckpt import-megatron` reads each, and megac's logits and loss
#     on the same tokens agree with megatron-core's forward (<= 1e-5 relative, fp32);
#     the TP=1 model takes one Adam step first: the torch_dist import carries its step,
#     betas, eps, weight decay and moments (bit-exact), the legacy one says weights only;
#  2. `megac ckpt export-megatron` writes legacy (TP 1 and TP 2) and torch_dist;
#     megatron-core loads each at TP=1 and TP=2, its forward agrees with megac's;
#  3. megac -> Megatron -> megac is bit-exact (wcompare TOL 0), through legacy at
#     TP 1, TP 2 and TP 2 x PP 2, and through torch_dist;
#  4. a truncated .pt, a missing rank and mismatched TP shards give one line, exit 1;
#  and for megatron-core's BertModel at TP=2 (pre-LN, sentence head): 1 to 3, with
#  megac's masked-LM and sentence losses against megatron-core's.
# Needs Python >= 3.12 with torch and megatron-core: installed with pip once into
# out/megatron-venv or ~/.cache/megac/megatron-venv (MEGAC_MEGATRON_VENV); exit 77
# only when that cannot be done.
set -u
MEGAC=$1 LOGITS=$2 WCOMPARE=$3
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# out/megatron-venv when a checkout has one (developers), else a per-user cache, so
# CI's fresh clones install the 3 GB once per machine
VENV=${MEGAC_MEGATRON_VENV:-$ROOT/out/megatron-venv}
[ -n "${MEGAC_MEGATRON_VENV:-}" ] || [ -x "$VENV/bin/python" ] || VENV=${XDG_CACHE_HOME:-$HOME/.cache}/megac/megatron-venv
PINS="torch==2.15.0 megatron-core==0.19.2 psutil numpy h5py"
W=$(mktemp -d "${TMPDIR:-/tmp}/megac-megatron-test.XXXXXX")
trap 'rm -rf "$W"' EXIT
FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
t0=$SECONDS

# ---------------------------------------------------------------- the environment
if ! "$VENV/bin/python" -c 'import torch, megatron.core, psutil, numpy, h5py' 2> /dev/null; then
  PYBASE=
  for p in python3.12 python3.13 "$HOME"/.pyenv/versions/3.1[2-9]*/bin/python3; do
    if command -v "$p" > /dev/null 2>&1 && "$p" -c 'import sys; assert sys.version_info >= (3, 12)' 2> /dev/null; then
      PYBASE=$p; break
    fi
  done
  [ -n "$PYBASE" ] || { echo "SKIP: megatron-core needs Python >= 3.12 and none is installed"; exit 77; }
  echo "installing $PINS into $VENV (once; about 3 GB, torch's CUDA wheel runs on the CPU)"
  s=$SECONDS
  if ! { [ -x "$VENV/bin/pip" ] || "$PYBASE" -m venv "$VENV"; } || ! "$VENV/bin/pip" install -q --disable-pip-version-check $PINS; then
    echo "SKIP: pip install $PINS failed (see above)"; exit 77
  fi
  echo "installed in $((SECONDS - s)) s"
fi
PY=$VENV/bin/python
export MEGAC_PYTHON=$PY OMP_NUM_THREADS=1
"$PY" -c 'import torch, megatron.core as m; print("torch %s, megatron-core %s" % (torch.__version__, m.__version__))'
mcore() { "$PY" -W ignore "$HERE/mcore_tool.py" "$@"; }
mcore2() { "$VENV/bin/torchrun" --nproc-per-node 2 --master-port $((20000 + RANDOM % 20000)) "$HERE/mcore_tool.py" "$@"; }

# megac's logits of checkpoint $1 on tokens of $2 (a mcore_tool output dir) -> $3.npy;
# compared with $2/logits.npy and its loss
compare() {
  "$PY" -c 'import numpy as np, sys; np.load(sys.argv[1]).astype(np.int32).tofile(sys.argv[2])' "$2/tokens.npy" "$W/tok.bin"
  "$LOGITS" "$1" "$W/tok.bin" "$W/logits.bin" > "$W/loss.txt" 2>&1 || { fail "megac_logits $1: $(cat "$W/loss.txt")"; return; }
  "$PY" - "$W/logits.bin" "$2/logits.npy" "$W/loss.txt" "$3" "$4" <<'PY' || fail "$4"
import sys, numpy as np
got_path, ref_path, loss_path, save, what = sys.argv[1:6]
ref = np.load(ref_path).astype(np.float64)
got = np.fromfile(got_path, "<f4").reshape(ref.shape).astype(np.float64)
np.save(save, got.astype(np.float32))
rel = np.linalg.norm(got - ref) / np.linalg.norm(ref)
# the loss megac printed against the cross-entropy of megatron-core's logits
B, T, V = ref.shape
tok = np.load(ref_path.replace("logits.npy", "tokens.npy"))
tgt = np.concatenate([tok[:, 1:], tok[:, :1]], 1)
lse = np.log(np.exp(ref - ref.max(-1, keepdims=True)).sum(-1)) + ref.max(-1)
ref_loss = float((lse - np.take_along_axis(ref, tgt[..., None], -1)[..., 0]).mean())
loss = float(open(loss_path).read().split()[1])
lrel = abs(loss - ref_loss) / abs(ref_loss)
print("%s: logits relative error %.3g, loss %.7f vs megatron-core %.7f (relative %.3g)" % (what, rel, loss, ref_loss, lrel))
assert rel <= 1e-5 and lrel <= 1e-5, "over 1e-5"
PY
}

# ---------------------------------------------------------------- 1. import
mcore make "$W/m1" --optim || { fail "megatron-core could not make the TP=1 checkpoints"; }
mcore2 make "$W/m2" > "$W/make2.log" 2>&1 || { tail -5 "$W/make2.log"; fail "megatron-core could not make the TP=2 checkpoints"; }
grep '^made' "$W/make2.log"
for tp in 1 2; do
  for f in legacy torch_dist; do
    if "$MEGAC" ckpt import-megatron "$W/m$tp/$f" "$W/ck_${tp}_$f" > "$W/imp.log" 2>&1; then
      cp "$W/imp.log" "$W/imp_${tp}_$f.log"
      cat "$W/imp.log"
      compare "$W/ck_${tp}_$f" "$W/m$tp" "$W/megac_${tp}_$f" "import TP=$tp $f"
    else
      fail "import-megatron TP=$tp $f: $(cat "$W/imp.log")"
    fi
  done
done
"$WCOMPARE" "$W/ck_2_legacy" "$W/ck_2_torch_dist" 0 > /dev/null || fail "the TP=2 legacy and torch_dist imports differ"
# the TP=1 model took one Adam step: its torch_dist checkpoint holds megatron-core's optimizer state
"$MEGAC" ckpt inspect "$W/ck_1_torch_dist" | grep -q '^optimizer: adamw, step 1, beta1 0.9, beta2 0.95, eps 1e-08, weight decay 0.01; moments in the model files' ||
  fail "the torch_dist import lacks the Adam step or hyperparameters: $("$MEGAC" ckpt inspect "$W/ck_1_torch_dist" | grep optimizer)"
"$PY" - "$W/ck_1_torch_dist/iter_0000010/mp_rank_00.h5" "$W/m1/exp_avg_sq_qkv1.npy" <<'PY' || fail "the imported Adam moments differ from megatron-core's"
import sys, h5py, numpy as np
got = h5py.File(sys.argv[1], "r")["optimizer/exp_avg_sq/layers/01/attention/qkv/weight"][()]
ref = np.load(sys.argv[2])
assert got.shape == ref.shape and np.array_equal(got, ref) and np.abs(ref).max() > 0
print("torch_dist import: Adam step 1 and moments (exp_avg_sq of layer 1's QKV) bit-exact with megatron-core's")
PY
grep -q "weights only" "$W/imp_1_legacy.log" || fail "the legacy import does not say it is weights only"

# ---------------------------------------------------------------- 2. export, 3. round trip
CK=$W/ck_2_legacy
for spec in "legacy 1 1" "legacy 2 1" "legacy 2 2" "torch_dist 1 1"; do
  set -- $spec
  out=$W/ex_$1_tp$2
  [ "$3" = 1 ] || out=${out}_pp$3
  "$MEGAC" ckpt export-megatron "$CK" "$out" --format "$1" --tensor-model-parallel-size "$2" \
    --pipeline-model-parallel-size "$3" > "$W/ex.log" 2>&1 ||
    { fail "export-megatron $spec: $(cat "$W/ex.log")"; continue; }
  cat "$W/ex.log"
  "$MEGAC" ckpt import-megatron "$out" "$W/rt_$1_$2_$3" > "$W/rt.log" 2>&1 || { fail "re-import $spec: $(cat "$W/rt.log")"; continue; }
  "$WCOMPARE" "$CK" "$W/rt_$1_$2_$3" 0 > "$W/wc.log" 2>&1 && echo "round trip megac -> Megatron $spec -> megac: bit-exact" ||
    fail "round trip $spec is not bit-exact: $(tail -2 "$W/wc.log")"
done
CHECK=(--tokens "$W/m2/tokens.npy" --logits "$W/megac_2_legacy.npy" --padded-vocab 256)
mcore check --load "legacy:$W/ex_legacy_tp1" --load "torch_dist:$W/ex_torch_dist_tp1" "${CHECK[@]}" ||
  fail "megatron-core TP=1 loads of the exports"
mcore2 check --load "legacy:$W/ex_legacy_tp2" --load "torch_dist:$W/ex_torch_dist_tp1" "${CHECK[@]}" > "$W/ck.log" 2>&1 ||
  { tail -5 "$W/ck.log"; fail "megatron-core TP=2 loads of the exports"; }
grep '^megatron-core' "$W/ck.log"

# ---------------------------------------------------------------- BERT, at TP=2
# megatron-core's BertModel (pre-LN, sentence head): its masked-LM and sentence losses
mcore2 make "$W/b2" --bert > "$W/makeb.log" 2>&1 || { tail -5 "$W/makeb.log"; fail "megatron-core could not make the BERT"; }
grep '^made' "$W/makeb.log"
bert_losses() { # CKPT WHAT: megac's losses against $W/b2/losses.npy
  "$PY" -c 'import numpy as np, sys; np.load(sys.argv[1]).astype(np.int32).tofile(sys.argv[2])' "$W/b2/tokens.npy" "$W/tokb.bin"
  "$LOGITS" "$1" "$W/tokb.bin" "$W/lossb.bin" > "$W/lossb.txt" 2>&1 || { fail "megac_logits $1: $(cat "$W/lossb.txt")"; return; }
  "$PY" - "$W/lossb.bin" "$W/b2/losses.npy" "$2" "$W/megac_bert.npy" <<'PY' || fail "$2"
import sys, numpy as np
got, ref = np.fromfile(sys.argv[1], "<f8"), np.load(sys.argv[2])
np.save(sys.argv[4], got)
rel = np.abs(got - ref) / np.abs(ref)
print("%s: masked-LM loss %.7f vs megatron-core %.7f, sentence loss %.7f vs %.7f (relative %.3g, %.3g)" %
      (sys.argv[3], got[0], ref[0], got[1], ref[1], rel[0], rel[1]))
assert rel.max() <= 1e-5
PY
}
for f in legacy torch_dist; do
  "$MEGAC" ckpt import-megatron "$W/b2/$f" "$W/cb_$f" > "$W/imp.log" 2>&1 && bert_losses "$W/cb_$f" "BERT import TP=2 $f" ||
    fail "BERT import-megatron $f: $(cat "$W/imp.log")"
done
for spec in "legacy 2" "torch_dist 1"; do
  set -- $spec
  "$MEGAC" ckpt export-megatron "$W/cb_legacy" "$W/eb_$1" --format "$1" --tensor-model-parallel-size "$2" > "$W/ex.log" 2>&1 &&
    "$MEGAC" ckpt import-megatron "$W/eb_$1" "$W/rb_$1" > "$W/rt.log" 2>&1 &&
    "$WCOMPARE" "$W/cb_legacy" "$W/rb_$1" 0 > /dev/null && echo "BERT round trip megac -> Megatron $1 -> megac: bit-exact" ||
    fail "BERT export/round trip $spec: $(cat "$W/ex.log" "$W/rt.log" | tail -2)"
done
bert_losses "$W/cb_legacy" "BERT import" > /dev/null # megac's losses for the check below
mcore2 check --bert --load "legacy:$W/eb_legacy" --load "torch_dist:$W/eb_torch_dist" --tokens "$W/b2/tokens.npy" \
  --logits "$W/megac_bert.npy" --padded-vocab 256 > "$W/ck.log" 2>&1 || { tail -5 "$W/ck.log"; fail "megatron-core TP=2 loads of the BERT exports"; }
grep '^megatron-core' "$W/ck.log"

# ---------------------------------------------------------------- 4. bad inputs
one_line_error() { # what, expected text, command...
  local what=$1 want=$2; shift 2
  "$@" > "$W/bad.out" 2> "$W/bad.err"
  local rc=$?
  if [ $rc -ne 1 ] || [ "$(wc -l < "$W/bad.err")" -ne 1 ] || [ -s "$W/bad.out" ] || ! grep -q -- "$want" "$W/bad.err"; then
    fail "$what: exit $rc, stdout $(wc -l < "$W/bad.out") lines, stderr: $(head -c 600 "$W/bad.err")"
  else
    echo "$what: exit 1, $(cat "$W/bad.err")"
  fi
}
cp -r "$W/m2/legacy" "$W/trunc"
pt=$W/trunc/iter_0000010/mp_rank_01/model_optim_rng.pt
head -c $(($(stat -c %s "$pt") / 2)) "$pt" > "$pt.x" && mv "$pt.x" "$pt"
one_line_error "truncated .pt" "mp_rank_01/model_optim_rng.pt: cannot read" "$MEGAC" ckpt import-megatron "$W/trunc" "$W/bad1"
cp -r "$W/m2/legacy" "$W/missing"
rm -rf "$W/missing/iter_0000010/mp_rank_01"
mkdir -p "$W/missing/iter_0000010/mp_rank_02"
cp "$W/m2/legacy/iter_0000010/mp_rank_00/model_optim_rng.pt" "$W/missing/iter_0000010/mp_rank_02/"
one_line_error "missing rank" "mp_rank_01 is missing" "$MEGAC" ckpt import-megatron "$W/missing" "$W/bad2"
cp -r "$W/m2/legacy" "$W/mism"
"$PY" -c 'import sys, torch
p = sys.argv[1]; sd = torch.load(p, weights_only=False); k = "decoder.layers.1.mlp.linear_fc1.weight"
sd["model"][k] = sd["model"][k][:-8].clone(); torch.save(sd, p)' "$W/mism/iter_0000010/mp_rank_01/model_optim_rng.pt"
one_line_error "mismatched TP shards" "mismatched TP shards: decoder.layers.1.mlp.linear_fc1.weight" "$MEGAC" ckpt import-megatron "$W/mism" "$W/bad3"
[ ! -e "$W/bad1" ] && [ ! -e "$W/bad2/latest_checkpointed_iteration.txt" ] || fail "a refused import left a checkpoint"

echo "test_megatron: $((SECONDS - t0)) s"
if [ $FAILS -ne 0 ]; then echo "test_megatron: $FAILS failed"; exit 1; fi
echo "test_megatron: all passed"
