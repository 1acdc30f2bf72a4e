"""st_compare.py A B — two .safetensors files hold the same tensors (names,
dtypes, shapes, bytes), whatever their order; B declares {"format": "pt"}.
Standard library only."""
import json, struct, sys

def load(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    return meta, {k: (v["dtype"], v["shape"], raw[base + v["data_offsets"][0]: base + v["data_offsets"][1]]) for k, v in header.items()}

ma, a = load(sys.argv[1])
mb, b = load(sys.argv[2])
assert mb.get("format") == "pt", mb
assert set(a) == set(b), sorted(set(a) ^ set(b))
for k in a:
    assert a[k][0] == b[k][0] and a[k][1] == b[k][1], (k, a[k][:2], b[k][:2])
    assert a[k][2] == b[k][2], k + ": bytes differ"
print("%d tensors identical in dtype, shape and every byte" % len(a))
