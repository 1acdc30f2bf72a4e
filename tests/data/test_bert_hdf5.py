"""test_bert_hdf5.py REFS_DIR BERT_TOOL   (run through run_py.sh)

NVIDIA BERT HDF5 shards written with h5py in the layout of DeepLearningExamples'
create_pretraining_data (input_ids/input_mask/segment_ids [N, seq],
masked_lm_positions/masked_lm_ids [N, max_pred], next_sentence_labels [N]) are
read by megac's bert_shard reader; every field of every sample must match what
NVIDIA's loader derives (labels at the masked positions up to the first 0
position, -1 elsewhere). Broken shards (a missing dataset, mismatched shapes,
a position outside the sequence, a token past the vocabulary, not HDF5) are
refused with one line naming the file."""
import json
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

REFS, TOOL = sys.argv[1], sys.argv[2]
failures = 0


def check(cond, msg):
    global failures
    if not cond:
        failures += 1
        print("FAIL:", msg)


def make_shard(path, n, seq, max_pred, vocab, rng, dtypes=("i4", "i1", "i1", "i4", "i4", "i1")):
    ids = np.zeros((n, seq), dtype=np.int64)
    mask = np.zeros((n, seq), dtype=np.int64)
    seg = np.zeros((n, seq), dtype=np.int64)
    pos = np.zeros((n, max_pred), dtype=np.int64)
    lm = np.zeros((n, max_pred), dtype=np.int64)
    nsp = rng.integers(0, 2, size=n)
    for i in range(n):
        length = int(rng.integers(8, seq + 1))
        ids[i, :length] = rng.integers(5, vocab, size=length)
        ids[i, 0], ids[i, length - 1] = 2, 3
        cut = int(rng.integers(2, length - 1))
        ids[i, cut] = 3
        mask[i, :length] = 1
        seg[i, cut + 1:length] = 1
        k = int(rng.integers(0, max_pred + 1))
        p = np.sort(rng.choice(np.arange(1, length - 1), size=min(k, length - 2), replace=False))
        pos[i, :len(p)] = p
        lm[i, :len(p)] = ids[i, p]
        ids[i, p] = 4
    with h5py.File(path, "w") as f:
        for name, arr, dt in zip(("input_ids", "input_mask", "segment_ids", "masked_lm_positions", "masked_lm_ids",
                                  "next_sentence_labels"), (ids, mask, seg, pos, lm, nsp), dtypes):
            f.create_dataset(name, data=arr.astype(dt), compression="gzip")
    return ids, mask, seg, pos, lm, nsp


def expected(ids, mask, seg, pos, lm, nsp, i):
    labels = -np.ones(ids.shape[1], dtype=np.int64)
    index = pos.shape[1]
    zeros = np.nonzero(pos[i] == 0)[0]
    if len(zeros):
        index = zeros[0]
    labels[pos[i, :index]] = lm[i, :index]
    return {"tokens": ids[i].tolist(), "types": seg[i].tolist(), "labels": labels.tolist(),
            "padding_mask": mask[i].tolist(), "loss_mask": (labels >= 0).astype(int).tolist(), "is_random": int(nsp[i])}


def run(path, vocab):
    return subprocess.run([TOOL, path, str(vocab)], capture_output=True, text=True)


def main():
    rng = np.random.default_rng(11)
    with tempfile.TemporaryDirectory() as tmp:
        total = 0
        for k, (n, seq, mp, dtypes) in enumerate(((40, 128, 20, ("i4", "i1", "i1", "i4", "i4", "i1")),
                                                  (25, 64, 10, ("i8", "i8", "i8", "i8", "i8", "i8")),
                                                  (3, 512, 80, ("u2", "u1", "u1", "i2", "u2", "u1")))):
            path = os.path.join(tmp, f"shard{k}.hdf5")
            arrays = make_shard(path, n, seq, mp, 30522, rng, dtypes)
            r = run(path, 30522)
            check(r.returncode == 0, f"shard {k}: {r.stderr}")
            got = [json.loads(line) for line in r.stdout.splitlines()]
            check(len(got) == n, f"shard {k}: {len(got)} samples for {n}")
            bad = sum(1 for i, g in enumerate(got) if g != expected(*arrays, i))
            check(bad == 0, f"shard {k} ({dtypes[0]}): {bad} samples differ")
            total += len(got)
        print(f"HDF5 shards: {total} samples compared")

        # broken shards
        good = os.path.join(tmp, "shard0.hdf5")
        cases = []
        p = os.path.join(tmp, "missing.hdf5")
        with h5py.File(good) as src, h5py.File(p, "w") as dst:
            for name in src:
                if name != "masked_lm_ids":
                    dst.create_dataset(name, data=src[name][:])
        cases.append((p, "masked_lm_ids"))
        p = os.path.join(tmp, "shape.hdf5")
        with h5py.File(good) as src, h5py.File(p, "w") as dst:
            for name in src:
                data = src[name][:]
                dst.create_dataset(name, data=data[:, :-1] if name == "segment_ids" else data)
        cases.append((p, "segment_ids"))
        p = os.path.join(tmp, "position.hdf5")
        with h5py.File(good) as src, h5py.File(p, "w") as dst:
            for name in src:
                data = src[name][:]
                if name == "masked_lm_positions":
                    data[3, 0] = 500
                dst.create_dataset(name, data=data)
        cases.append((p, "masked_lm_positions"))
        cases.append((good, "input_ids"))  # with a vocabulary of 100: tokens past it
        p = os.path.join(tmp, "text.hdf5")
        open(p, "w").write("not hdf5\n")
        cases.append((p, "HDF5"))
        for path, needle in cases:
            r = run(path, 100 if needle == "input_ids" else 30522)
            check(r.returncode == 1 and r.stderr.count("\n") == 1 and os.path.basename(path) in r.stderr and needle in r.stderr,
                  f"broken {os.path.basename(path)}: exit {r.returncode}: {r.stderr}")
    if failures:
        print(f"test_bert_hdf5: {failures} failure(s)")
        return 1
    print("test_bert_hdf5: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
