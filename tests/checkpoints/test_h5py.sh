#!/usr/bin/env bash
# test_h5py.sh MEGAC WCOMPARE CKPT_EDIT — the files open in the standard HDF5
# tools: `h5dump -H` reads every file, and h5py (installed with pip when missing;
# exit 77 only when it cannot be) finds in every file the metadata record with a
# matching CRC32C, and in every dataset float32 chunks with Fletcher32 and the
# attributes a loader needs. With nothing but h5py and NumPy, the global tensors
# and Adam moments of a (TP,DP) = (2,2) ZeRO-1 checkpoint are assembled from their
# boxes (each element exactly once) and match a (1,1) run of the same training.
. "$(dirname "$0")/common.sh"
PY=$(bash "$(dirname "$0")/py_env.sh") || { echo "SKIP: numpy and h5py could not be installed (see py_env lines above)"; exit 77; }
command -v h5dump > /dev/null || { fail "h5dump not found (Debian: apt-get install hdf5-tools; tools/setup.sh installs it)"; finish test_h5py; }
MODEL+=(--attention-dropout 0) # layouts of different TP sizes compared
run 4 a --tensor-model-parallel-size 2 --use-distributed-optimizer --train-iters 3 --save "$W/a" || finish test_h5py
run 1 b --train-iters 3 --save "$W/b" || finish test_h5py
n=0
for f in "$W"/a/iter_*/*.h5 "$W"/b/iter_*/*.h5; do
  if h5dump -H "$f" > "$W/dump.txt" 2>&1 && grep -q 'DATASET "weight"\|DATASET "bias"' "$W/dump.txt"; then n=$((n + 1))
  else fail "h5dump -H $f: $(head -3 "$W/dump.txt")"; fi
done
echo "ok: h5dump -H reads all $n files"
"$PY" - "$W/a/iter_0000003" "$W/b/iter_0000003" <<'PY' || fail "h5py checks failed"
import glob, json, os, sys
import h5py, numpy as np

def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF

def text(v):
    """a string attribute: fixed-length strings come back as bytes"""
    return v.decode() if isinstance(v, bytes) else str(v)

def assemble(d):
    """global arrays of every tensor, per kind, from the boxes of all files"""
    out, cover = {}, {}
    for path in sorted(glob.glob(d + "/*.h5")):
        with h5py.File(path, "r") as f:
            meta = text(f.attrs["metadata"])
            assert crc32c(meta.encode()) == int(f.attrs["metadata_crc32c"]), path + ": metadata CRC32C"
            m = json.loads(meta)
            assert m["format"] == "megac-checkpoint" and m["format_version"] == 1 and m["iteration"] == 3
            def visit(name, obj):
                if not isinstance(obj, h5py.Dataset):
                    return
                a = obj.attrs
                assert obj.dtype == np.float32 and obj.fletcher32 and obj.chunks, name
                kind = next(g for g in ("model", "optimizer/exp_avg_sq", "optimizer/exp_avg") if name.startswith(g + "/"))
                assert name == kind + "/" + text(a["tensor"]) or name.startswith(kind + "/" + text(a["tensor"]) + ".part"), name
                shape = tuple(int(x) for x in a["global_shape"])
                off = tuple(int(x) for x in a["offset"])
                assert all(o + s <= g for o, s, g in zip(off, obj.shape, shape)), name
                for key in ("split_dim", "split_offset", "pad_multiple", "tp_rank", "tp_size", "dp_rank", "dp_size"):
                    assert key in a, name + ": " + key
                k = (kind, text(a["tensor"]))
                out.setdefault(k, np.zeros(shape, np.float32))
                cover.setdefault(k, np.zeros(shape, np.int32))
                sl = tuple(slice(o, o + s) for o, s in zip(off, obj.shape))
                out[k][sl] = obj[...]
                cover[k][sl] += 1
            f.visititems(visit)
    for k, c in cover.items():
        assert (c == 1).all(), "%s: elements stored %d..%d times" % (k, c.min(), c.max())
    return out, m

a, ma = assemble(sys.argv[1])
b, mb = assemble(sys.argv[2])
assert set(a) == set(b), set(a) ^ set(b)
worst = 0.0
for k in a:
    assert a[k].shape == b[k].shape, k
    e = float(np.linalg.norm(a[k] - b[k]) / max(np.linalg.norm(b[k]), 1e-30))
    worst = max(worst, e)
    assert e < 1e-4, "%s: rel err %g" % (k, e)
kinds = sorted({k[0] for k in a})
print("ok: h5py: %d tensors (%s) assembled from the (2,2) ZeRO-1 boxes, each element once, match (1,1) within %.2g; "
      "metadata: TP %d DP %d ZeRO-1 %s, step %d" % (len(a), ", ".join(kinds), worst, ma["parallel"]["tensor_model_parallel_size"],
      ma["parallel"]["data_parallel_size"], ma["parallel"]["use_distributed_optimizer"], ma["optimizer"]["step"]))
PY
finish test_h5py
