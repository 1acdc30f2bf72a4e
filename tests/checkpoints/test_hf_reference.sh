#!/usr/bin/env bash
# test_hf_reference.sh MEGAC WCOMPARE CKPT_EDIT — the conversion means what
# Hugging Face means: a random GPT-2 written in transformers' layout (Conv1D
# weights, c_attn columns [q | k | v]) is imported, and `megac generate
# --temperature 0` continues a prompt with the same greedy tokens as a NumPy
# float64 GPT-2 (gelu_new, pre-LN, tied head) run on the original file. Needs
# NumPy (installed with pip when missing; exit 77 only when it cannot be).
. "$(dirname "$0")/common.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
PY=$(bash "$HERE/py_env.sh") || { echo "SKIP: numpy could not be installed (see py_env lines above)"; exit 77; }
python3 "$HERE/gpt2_files.py" "$W/hf" 11 || { fail "could not write the GPT-2 test file"; finish test_hf_reference; }
"$MEGAC" ckpt import-hf "$W/hf" "$W/ck" > "$W/import.log" 2>&1 || { fail "import-hf: $(cat "$W/import.log")"; finish test_hf_reference; }
"$PY" - "$MEGAC" "$W/hf/model.safetensors" "$W/ck" <<'PY' || fail "megac and the NumPy GPT-2 disagree"
import json, struct, subprocess, sys
import numpy as np
megac, path, ck = sys.argv[1:4]
raw = open(path, "rb").read()
(n,) = struct.unpack("<Q", raw[:8])
hdr = json.loads(raw[8:8 + n]); hdr.pop("__metadata__", None)
t = {k: np.frombuffer(raw[8 + n + v["data_offsets"][0]: 8 + n + v["data_offsets"][1]], "<f4").reshape(v["shape"]).astype(np.float64)
     for k, v in hdr.items()}
H, L = 4, 2
def ln(x, w, b):
    m = x.mean(-1, keepdims=True); v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + 1e-5) * w + b
def gelu(x): return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))
def logits(tokens):
    T = len(tokens); x = t["wte.weight"][tokens] + t["wpe.weight"][:T]
    C = x.shape[1]; hs = C // H
    for l in range(L):
        p = "h.%d." % l
        h = ln(x, t[p + "ln_1.weight"], t[p + "ln_1.bias"])
        q, k, v = np.split(h @ t[p + "attn.c_attn.weight"] + t[p + "attn.c_attn.bias"], 3, axis=-1)
        q, k, v = (a.reshape(T, H, hs).transpose(1, 0, 2) for a in (q, k, v))
        att = q @ k.transpose(0, 2, 1) / np.sqrt(hs) + np.triu(np.full((T, T), -np.inf), 1)
        att = np.exp(att - att.max(-1, keepdims=True)); att /= att.sum(-1, keepdims=True)
        y = (att @ v).transpose(1, 0, 2).reshape(T, C)
        x = x + y @ t[p + "attn.c_proj.weight"] + t[p + "attn.c_proj.bias"]
        h = ln(x, t[p + "ln_2.weight"], t[p + "ln_2.bias"])
        x = x + gelu(h @ t[p + "mlp.c_fc.weight"] + t[p + "mlp.c_fc.bias"]) @ t[p + "mlp.c_proj.weight"] + t[p + "mlp.c_proj.bias"]
    return ln(x, t["ln_f.weight"], t["ln_f.bias"])[-1] @ t["wte.weight"].T
prompt, steps = b"The quick", 24
toks, gaps = list(prompt), []
for _ in range(steps):
    z = logits(toks); top = np.sort(z)[-2:]
    gaps.append(top[1] - top[0]); toks.append(int(np.argmax(z)))
ref = bytes(toks[len(prompt):])
out = subprocess.run([megac, "generate", "--load", ck, "--prompt", prompt.decode(), "--max-new-tokens", str(steps),
                      "--temperature", "0"], capture_output=True, check=True).stdout
got = out[len(prompt):len(prompt) + steps]
# compare up to the first near-tie of the reference (fp32 may break it either way)
upto = next((i for i, g in enumerate(gaps) if g < 1e-4), steps)
assert upto >= 12, "reference has a near-tie at step %d" % upto
assert got[:upto] == ref[:upto], "megac %r, NumPy %r" % (got[:upto], ref[:upto])
print("ok: %d greedy tokens agree with the NumPy GPT-2 (smallest top-2 logit gap %.3g)" % (upto, min(gaps[:upto])))
PY
finish test_hf_reference
