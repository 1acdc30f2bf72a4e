"""bert_np.py — a float64 NumPy BERT (Devlin et al. 2019; Hugging Face's BertModel,
post-LN, erf GELU) over a .safetensors file, the reference the real-weights tests
compare megac against. Names without or with the "bert." prefix of the models with
heads; the masked-LM head as BertForMaskedLM's cls.predictions."""
import json
import struct
from math import erf, sqrt

import numpy as np

_verf = np.vectorize(erf)


def read_safetensors(path):
    """{name: float64 array} of an F32 .safetensors file"""
    raw = open(path, "rb").read()
    hlen = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + hlen])
    data = raw[8 + hlen:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__" or info["dtype"] != "F32":
            continue
        a, b = info["data_offsets"]
        out[name] = np.frombuffer(data[a:b], dtype="<f4").reshape(info["shape"]).astype(np.float64)
    return out


def write_safetensors(path, tensors):
    """{name: array} as F32"""
    header, blobs, off = {}, [], 0
    for name, a in tensors.items():
        b = np.ascontiguousarray(a, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def gelu(x):
    return 0.5 * x * (1.0 + _verf(x / sqrt(2.0)))


class Bert:
    def __init__(self, weights, cfg):
        self.w, self.cfg = weights, cfg
        self.prefix = "bert." if "bert.embeddings.word_embeddings.weight" in weights else ""
        self.eps = cfg["layer_norm_eps"]

    def W(self, name):
        return self.w[self.prefix + name]

    def ln(self, x, g, b):
        m = x.mean(-1, keepdims=True)
        v = ((x - m) ** 2).mean(-1, keepdims=True)
        return (x - m) / np.sqrt(v + self.eps) * g + b

    def encode(self, tok, types, mask):
        """hidden states [B, T, C] of token ids [B, T] with padding mask [B, T]"""
        W, cfg = self.W, self.cfg
        B, T = tok.shape
        C, NH, L = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_hidden_layers"]
        HS = C // NH
        x = W("embeddings.word_embeddings.weight")[tok] + W("embeddings.position_embeddings.weight")[:T][None] \
            + W("embeddings.token_type_embeddings.weight")[types]
        x = self.ln(x, W("embeddings.LayerNorm.weight"), W("embeddings.LayerNorm.bias"))
        for l in range(L):
            p = f"encoder.layer.{l}."

            def lin(v, n):
                return v @ W(p + n + ".weight").T + W(p + n + ".bias")
            q, k, v = (lin(x, "attention.self." + n).reshape(B, T, NH, HS).transpose(0, 2, 1, 3)
                       for n in ("query", "key", "value"))
            s = q @ k.transpose(0, 1, 3, 2) / np.sqrt(HS)
            s = np.where(mask[:, None, None, :] > 0, s, -np.inf)
            s = np.exp(s - s.max(-1, keepdims=True))
            a = ((s / s.sum(-1, keepdims=True)) @ v).transpose(0, 2, 1, 3).reshape(B, T, C)
            x = self.ln(x + lin(a, "attention.output.dense"), W(p + "attention.output.LayerNorm.weight"),
                        W(p + "attention.output.LayerNorm.bias"))
            h = gelu(lin(x, "intermediate.dense"))
            x = self.ln(x + lin(h, "output.dense"), W(p + "output.LayerNorm.weight"), W(p + "output.LayerNorm.bias"))
        return x

    def mlm_logits(self, h):
        """BertForMaskedLM's head on hidden rows [..., C]: logits over the vocabulary"""
        w = self.w
        t = gelu(h @ w["cls.predictions.transform.dense.weight"].T + w["cls.predictions.transform.dense.bias"])
        t = self.ln(t, w["cls.predictions.transform.LayerNorm.weight"], w["cls.predictions.transform.LayerNorm.bias"])
        return t @ self.W("embeddings.word_embeddings.weight").T + w["cls.predictions.bias"]
