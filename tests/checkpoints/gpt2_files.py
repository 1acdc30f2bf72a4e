"""gpt2_files.py OUT_DIR SEED [--prefix] [--lm-head] [--buffers] [--no-config] [--untied]

Writes a small random Hugging Face GPT-2 (byte vocabulary: 256 tokens, 2 layers,
width 32, 4 heads, 64 positions) as OUT_DIR/model.safetensors + config.json, the
way transformers lays it out: Conv1D weights [in, out], c_attn columns
[q | k | v]. Standard library only; tensors in a shuffled order. Options add the
"transformer." prefix, a tied lm_head.weight (or an --untied one), the attention
mask buffers, or leave config.json out."""
import json, os, random, struct, sys

out, seed = sys.argv[1], int(sys.argv[2])
opts = set(sys.argv[3:])
rng = random.Random(seed)
V, P, C, H, L, F = 256, 64, 32, 4, 2, 128
shapes = {"wte.weight": [V, C], "wpe.weight": [P, C], "ln_f.weight": [C], "ln_f.bias": [C]}
for l in range(L):
    h = "h.%d." % l
    shapes.update({h + "ln_1.weight": [C], h + "ln_1.bias": [C], h + "attn.c_attn.weight": [C, 3 * C],
                   h + "attn.c_attn.bias": [3 * C], h + "attn.c_proj.weight": [C, C], h + "attn.c_proj.bias": [C],
                   h + "ln_2.weight": [C], h + "ln_2.bias": [C], h + "mlp.c_fc.weight": [C, F], h + "mlp.c_fc.bias": [F],
                   h + "mlp.c_proj.weight": [F, C], h + "mlp.c_proj.bias": [C]})
def numel(s):
    n = 1
    for d in s:
        n *= d
    return n
data = {}
for k in sorted(shapes):
    n = numel(shapes[k])
    if k.endswith("ln_1.weight") or k.endswith("ln_2.weight") or k == "ln_f.weight":
        vals = [1.0 + 0.1 * rng.gauss(0, 1) for _ in range(n)]
    else:
        vals = [0.3 * rng.gauss(0, 1) for _ in range(n)]
    data[k] = struct.pack("<%df" % n, *vals)
pre = "transformer." if "--prefix" in opts else ""
tensors = {pre + k: (shapes[k], data[k]) for k in shapes}
if "--lm-head" in opts or "--untied" in opts:
    head = bytearray(data["wte.weight"])
    if "--untied" in opts:
        head[5] ^= 1
    tensors["lm_head.weight"] = ([V, C], bytes(head))
if "--buffers" in opts:
    for l in range(L):
        mask = struct.pack("<%df" % (P * P), *[1.0 if j <= i else 0.0 for i in range(P) for j in range(P)])
        tensors[pre + "h.%d.attn.bias" % l] = ([1, 1, P, P], mask)
order = list(tensors)
rng.shuffle(order)
header, blob = {"__metadata__": {"format": "pt"}}, b""
for k in order:
    s, b = tensors[k]
    header[k] = {"dtype": "F32", "shape": s, "data_offsets": [len(blob), len(blob) + len(b)]}
    blob += b
h = json.dumps(header).encode()
h += b" " * (-len(h) % 8)
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "model.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + blob)
if "--no-config" not in opts:
    cfg = {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "vocab_size": V, "n_positions": P, "n_ctx": P,
           "n_embd": C, "n_layer": L, "n_head": H, "n_inner": None, "activation_function": "gelu_new",
           "resid_pdrop": 0.1, "embd_pdrop": 0.1, "attn_pdrop": 0.1, "layer_norm_epsilon": 1e-5, "initializer_range": 0.02}
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f)
