"""bert_st_compare.py ORIGINAL EXPORTED — a Hugging Face BERT exported by megac holds
every tensor of the original bit for bit: the same dtype, shape and bits under the
same name, or under "bert." when the original is a BertModel without the prefix.
The original's buffers (embeddings.position_ids) and tied decoder
(cls.predictions.decoder.*, which Hugging Face ties rather than stores) are not
expected. The exported file declares {"format": "pt"}. Reads both files with the
safetensors package when it is installed, else with NumPy and the format's
8-byte length + JSON header; compares the bits as uint32 (F32 tensors)."""
import json
import struct
import sys

import numpy as np

try:
    from safetensors.numpy import load_file
    import safetensors
    READER = "safetensors %s" % safetensors.__version__
except ImportError:
    load_file = None
    READER = "NumPy + the header (the safetensors package is not installed)"

DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16, "I64": np.int64}


def header(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(n))


def load(path):
    if load_file:
        return load_file(path)
    h = header(path)
    h.pop("__metadata__", None)
    raw = open(path, "rb").read()
    base = 8 + struct.unpack("<Q", raw[:8])[0]
    return {k: np.frombuffer(raw[base + v["data_offsets"][0]: base + v["data_offsets"][1]], DTYPES[v["dtype"]])
            .reshape(v["shape"]) for k, v in h.items()}


orig_path, exp_path = sys.argv[1], sys.argv[2]
meta = header(exp_path).get("__metadata__", {})
assert meta.get("format") == "pt", "exported metadata %r" % meta
a, b = load(orig_path), load(exp_path)
prefixed = any(k.startswith("bert.") for k in a)
checked = 0
for k, v in sorted(a.items()):
    if k.endswith("embeddings.position_ids") or k.startswith("cls.predictions.decoder."):
        assert k not in b, "%s: a buffer or tied tensor was exported" % k
        continue
    name = k if prefixed or k.startswith("cls.") else "bert." + k
    assert name in b, "%s (from %s) is missing in the export" % (name, k)
    w = b[name]
    assert v.dtype == np.float32 and w.dtype == np.float32, "%s: dtypes %s, %s" % (k, v.dtype, w.dtype)
    assert v.shape == w.shape, "%s: shapes %s, %s" % (k, v.shape, w.shape)
    diff = int(np.count_nonzero(v.view(np.uint32) != w.view(np.uint32)))
    assert diff == 0, "%s: %d of %d values differ in their bits" % (k, diff, v.size)
    checked += 1
extra = sorted(set(b) - {k if prefixed or k.startswith("cls.") else "bert." + k for k in a})
print("%d tensors bit-identical (%d parameters); the export adds %d: %s; reader: %s" % (
    checked, sum(v.size for k, v in a.items() if not k.endswith("position_ids") and ".decoder." not in k),
    len(extra), ", ".join(extra) if len(extra) <= 8 else ", ".join(extra[:8]) + ", ...", READER))
