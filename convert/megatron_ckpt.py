"""megatron_ckpt.py — Megatron-LM checkpoints <-> megac's interchange directory.

megac keeps no Python dependency: `megac ckpt import-megatron` / `export-megatron`
run this file (with an interpreter that has torch; MEGAC_PYTHON) and write or
read the megac checkpoint themselves. The interchange directory holds

  tensors.safetensors   float32 tensors under megac's names: model/<name>
                        (e.g. model/layers/00/attention/qkv/weight, global shapes,
                        the vocabulary as stored below), optimizer/exp_avg/<name>,
                        optimizer/exp_avg_sq/<name>
  config.json           {"model_type": "gpt", "model_config": "model=gpt\\n...",
                         "iteration": N, "optimizer_step": S or null, "origin": ...}

Usage:
  python3 megatron_ckpt.py read SRC OUT [--vocab-size N]
      SRC: a Megatron-LM checkpoint root (latest_checkpointed_iteration.txt) or an
      iteration directory, in the legacy per-rank format
      (iter_N/mp_rank_TT[_PPP]/model_optim_rng.pt, any TP and PP) or the
      torch_dist format (iter_N/.metadata + *.distcp, stacked layer keys).
  python3 megatron_ckpt.py write IN DST --format legacy|torch_dist [--tp N] [--pp P]

Models: GPT-2 style GPT (megatron-core's GPTModel) and BERT (its pre-LN BertModel:
encoder.*, lm_head.*, output_layer.bias, pooler, binary_head). Both directions
read megatron-core's names (decoder.layers.N.self_attention.linear_qkv.weight ...)
and write them; read also accepts Megatron-LM's older GPT names
(language_model.encoder.layers.N.self_attention.query_key_value.weight). The
optimizer state is read from torch_dist (optimizer.state.exp_avg[_sq].<name>,
common_step, param_groups' betas/eps/weight decay); legacy files index it by
parameter position, so a legacy import is weights only; writing is weights only.
The fused QKV rows are grouped per head as [q k v] in Megatron and megac alike,
so no regrouping is needed (multi-head attention only). Megatron pads the
vocabulary to a multiple of make_vocab_size_divisible_by x TP and its softmax
runs over the padded rows too: the import keeps them as vocabulary (megac's
loss then equals Megatron's) unless --vocab-size drops them. Errors: one line on
stderr, exit 1."""
import argparse
import json
import os
import re
import struct
import sys

try:
    import numpy as np
except ImportError as _e:
    print("error: this converter needs NumPy and PyTorch (pip install numpy torch; MEGAC_PYTHON names the Python): %s"
          % _e, file=sys.stderr)
    sys.exit(1)


class ConvertError(Exception):
    pass


def fail(msg):
    raise ConvertError(msg)


def import_torch():
    try:
        import torch  # noqa: F401
    except ImportError as e:
        fail("this converter needs PyTorch (pip install torch; MEGAC_PYTHON names the Python): %s" % e)
    import torch
    return torch


# ---------------------------------------------------------------- safetensors (no package needed)

def st_write(path, tensors):
    """tensors: list of (name, float32 ndarray)"""
    header, off = {}, 0
    for name, a in tensors:
        n = a.size * 4
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + n]}
        off += n
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for _, a in tensors:
            f.write(np.ascontiguousarray(a, dtype="<f4").tobytes())
    os.replace(tmp, path)


def st_read(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__", None)
    out = {}
    for k, v in header.items():
        if v["dtype"] != "F32":
            fail("%s: tensor %s is %s, not F32" % (path, k, v["dtype"]))
        b, e = v["data_offsets"]
        out[k] = np.frombuffer(raw[8 + n + b: 8 + n + e], "<f4").reshape(v["shape"]).copy()
    return out


# ---------------------------------------------------------------- locating a checkpoint

def locate(src):
    """the iteration directory and its iteration number"""
    if not os.path.isdir(src):
        fail("%s: no such directory" % src)
    ptr = os.path.join(src, "latest_checkpointed_iteration.txt")
    if os.path.exists(ptr):
        text = open(ptr).read().strip()
        if text == "release":
            return os.path.join(src, "release"), 0
        if not text.isdigit():
            fail("%s: '%s' is not an iteration number" % (ptr, text))
        d = os.path.join(src, "iter_%07d" % int(text))
        if not os.path.isdir(d):
            fail("%s names iteration %s but %s does not exist" % (ptr, text, d))
        return d, int(text)
    m = re.search(r"iter_(\d+)/*$", src)
    return src, int(m.group(1)) if m else 0


# ---------------------------------------------------------------- Megatron names

# megatron-core's per-layer names (local layer spec; the Transformer-Engine spec
# folds the LayerNorms into the next linear layer) -> megac's
LAYER_MAP = [
    ("input_layernorm.weight", "input_layernorm/weight"),
    ("input_layernorm.bias", "input_layernorm/bias"),
    ("self_attention.linear_qkv.layer_norm_weight", "input_layernorm/weight"),
    ("self_attention.linear_qkv.layer_norm_bias", "input_layernorm/bias"),
    ("self_attention.linear_qkv.weight", "attention/qkv/weight"),
    ("self_attention.linear_qkv.bias", "attention/qkv/bias"),
    ("self_attention.linear_proj.weight", "attention/dense/weight"),
    ("self_attention.linear_proj.bias", "attention/dense/bias"),
    ("pre_mlp_layernorm.weight", "post_attention_layernorm/weight"),
    ("pre_mlp_layernorm.bias", "post_attention_layernorm/bias"),
    ("mlp.linear_fc1.layer_norm_weight", "post_attention_layernorm/weight"),
    ("mlp.linear_fc1.layer_norm_bias", "post_attention_layernorm/bias"),
    ("mlp.linear_fc1.weight", "mlp/dense_h_to_4h/weight"),
    ("mlp.linear_fc1.bias", "mlp/dense_h_to_4h/bias"),
    ("mlp.linear_fc2.weight", "mlp/dense_4h_to_h/weight"),
    ("mlp.linear_fc2.bias", "mlp/dense_4h_to_h/bias"),
]
LAYER_TO_MEGAC = dict(LAYER_MAP)
# the names export writes (the local layer spec's, which the TE spec also loads)
MEGAC_TO_LAYER = {}
for mk, cn in LAYER_MAP:
    if "layer_norm_" not in mk:
        MEGAC_TO_LAYER[cn] = mk
GLOBAL_TO_MEGAC = {
    "embedding.word_embeddings.weight": "embedding/word_embeddings/weight",
    "embedding.position_embeddings.weight": "embedding/position_embeddings/weight",
    "decoder.final_layernorm.weight": "final_layernorm/weight",
    "decoder.final_layernorm.bias": "final_layernorm/bias",
}
# BERT (megatron-core's BertModel: pre-LN layers under encoder., the LM head's dense
# + LayerNorm, the output bias of the tied decoder, the pooler and sentence head)
BERT_TO_MEGAC = {
    "embedding.word_embeddings.weight": "embedding/word_embeddings/weight",
    "embedding.position_embeddings.weight": "embedding/position_embeddings/weight",
    "embedding.tokentype_embeddings.weight": "embedding/tokentype_embeddings/weight",
    "encoder.final_layernorm.weight": "final_layernorm/weight",
    "encoder.final_layernorm.bias": "final_layernorm/bias",
    "lm_head.dense.weight": "lm_head/dense/weight",
    "lm_head.dense.bias": "lm_head/dense/bias",
    "lm_head.layer_norm.weight": "lm_head/layernorm/weight",
    "lm_head.layer_norm.bias": "lm_head/layernorm/bias",
    "output_layer.bias": "lm_head/bias",
    "pooler.dense.weight": "pooler/dense/weight",
    "pooler.dense.bias": "pooler/dense/bias",
    "binary_head.weight": "binary_head/weight",
    "binary_head.bias": "binary_head/bias",
}
MEGAC_TO_GLOBAL = {v: k for k, v in GLOBAL_TO_MEGAC.items()}
MEGAC_TO_BERT = {v: k for k, v in BERT_TO_MEGAC.items()}

# Megatron-LM's names before megatron-core (language_model.*) -> megatron-core's
OLD_LAYER = {
    "input_layernorm": "input_layernorm", "self_attention.query_key_value": "self_attention.linear_qkv",
    "attention.query_key_value": "self_attention.linear_qkv", "self_attention.dense": "self_attention.linear_proj",
    "attention.dense": "self_attention.linear_proj", "post_attention_layernorm": "pre_mlp_layernorm",
    "mlp.dense_h_to_4h": "mlp.linear_fc1", "mlp.dense_4h_to_h": "mlp.linear_fc2",
}

# tensor-parallel split dimension of megatron-core's names (None: replicated)
def tp_split_dim(key):
    if key.endswith("word_embeddings.weight") or key in ("output_layer.weight", "output_layer.bias"):
        return 0
    if "linear_qkv.weight" in key or "linear_qkv.bias" in key or "linear_fc1.weight" in key or "linear_fc1.bias" in key:
        return 0
    if "linear_proj.weight" in key or "linear_fc2.weight" in key:
        return 1
    return None


def flatten_old(model):
    """Megatron-LM's nested language_model dict -> megatron-core's flat names"""
    lm = model.get("language_model", model)
    out = {}
    emb = lm.get("embedding", {})
    for k, v in emb.items():
        if isinstance(v, dict):
            for kk, vv in v.items():
                out["embedding.%s.%s" % (k, kk)] = vv
        else:
            out["embedding." + k] = v
    enc = lm.get("encoder", lm.get("transformer", {}))
    for k, v in enc.items():
        m = re.match(r"layers\.(\d+)\.(.+)\.(weight|bias)$", k)
        if m:
            base = OLD_LAYER.get(m.group(2))
            if base is None:
                fail("tensor language_model.encoder.%s: megac knows no such layer tensor" % k)
            out["decoder.layers.%s.%s.%s" % (m.group(1), base, m.group(3))] = v
        elif k.startswith("final_layernorm."):
            out["decoder." + k] = v
        else:
            fail("tensor language_model.encoder.%s: megac knows no such tensor" % k)
    if "output_layer" in lm:
        out["output_layer.weight"] = lm["output_layer"]["weight"]
    return out


# ---------------------------------------------------------------- reading

def check_args(args, where):
    """what megac's GPT computes: reject the rest in one line"""
    if args is None:
        return
    g = lambda k, d=None: getattr(args, k, d)
    bad = []
    if g("group_query_attention") or (g("num_query_groups") not in (None, g("num_attention_heads"))):
        bad.append("grouped-query attention")
    if g("normalization", "LayerNorm") != "LayerNorm":
        bad.append("normalization %s" % g("normalization"))
    if g("position_embedding_type", "learned_absolute") != "learned_absolute":
        bad.append("position embeddings %s" % g("position_embedding_type"))
    if g("swiglu"):
        bad.append("SwiGLU")
    if g("add_bias_linear") is False:
        bad.append("linear layers without biases")
    if g("untie_embeddings_and_output_weights"):
        bad.append("an output layer untied from the embedding")
    if g("num_layers_per_virtual_pipeline_stage") or g("virtual_pipeline_model_parallel_size"):
        bad.append("a virtual pipeline")
    if bad:
        fail("%s: the model has %s; megac's GPT computes multi-head attention, LayerNorm, learned positions, "
             "GELU and a tied output layer" % (where, ", ".join(bad)))


def torch_load(torch, path):
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:
        why = str(e).splitlines()[0].split(". ")[0] if str(e) else type(e).__name__
        fail("%s: cannot read it as a PyTorch file (%s)" % (path, why))


def read_legacy(torch, it_dir):
    ranks = {}
    for name in sorted(os.listdir(it_dir)):
        m = re.fullmatch(r"mp_rank_(\d\d)(?:_(\d\d\d))?", name)
        if m and os.path.isdir(os.path.join(it_dir, name)):
            ranks[(int(m.group(1)), int(m.group(2) or 0))] = os.path.join(it_dir, name)
    if not ranks:
        fail("%s: no mp_rank_TT[_PPP] directories and no .metadata (not a Megatron checkpoint)" % it_dir)
    TP = max(t for t, _ in ranks) + 1
    PP = max(p for _, p in ranks) + 1
    for p in range(PP):
        for t in range(TP):
            if (t, p) not in ranks:
                fail("%s: the checkpoint has TP %d x PP %d ranks but mp_rank_%02d%s is missing" %
                     (it_dir, TP, PP, t, "_%03d" % p if PP > 1 else ""))
    shards, args, iteration, optim_note = {}, None, None, None
    for (t, p), d in sorted(ranks.items(), key=lambda x: (x[0][1], x[0][0])):
        path = os.path.join(d, "model_optim_rng.pt")
        if not os.path.exists(path):
            fail("%s: missing (the rank's model_optim_rng.pt)" % path)
        sd = torch_load(torch, path)
        if not isinstance(sd, dict) or not any(k in sd for k in ("model", "model0")):
            fail("%s: holds no 'model' state dict" % path)
        if "model0" in sd:
            fail("%s: a virtual-pipeline checkpoint (model0, model1 ...); megac reads one model chunk per rank" % path)
        if args is None:
            args = sd.get("args")
            iteration = sd.get("iteration")
        a = sd.get("args")
        if a is not None:
            for k, want in (("tensor_model_parallel_size", TP), ("pipeline_model_parallel_size", PP)):
                if getattr(a, k, want) != want:
                    fail("%s: its args say %s %s but the directory holds %d" % (path, k, getattr(a, k), want))
        if sd.get("optimizer") is not None and optim_note is None:
            optim_note = ("the optimizer state of legacy checkpoints is indexed by parameter position, not name: "
                          "weights only")
        model = sd["model"]
        if "language_model" in model:
            model = flatten_old(model)
        shards[(t, p)] = {k: v for k, v in model.items() if not k.endswith("_extra_state") and v is not None}
    check_args(args, os.path.join(ranks[(0, 0)], "model_optim_rng.pt"))
    if optim_note is None:
        optim_note = "the checkpoint holds no optimizer state: weights only"
    # merge over TP, renumber layers over PP
    merged, layer_base = {}, 0
    for p in range(PP):
        keys = list(shards[(0, p)].keys())
        nl = 0
        for t in range(1, TP):
            if set(shards[(t, p)].keys()) != set(keys):
                diff = sorted(set(shards[(t, p)].keys()) ^ set(keys))
                fail("%s: mismatched TP shards: TP ranks 0 and %d of stage %d hold different tensors (%s)" %
                     (it_dir, t, p, diff[0]))
        for k in keys:
            parts = [shards[(t, p)][k] for t in range(TP)]
            sdim = tp_split_dim(k)
            for t in range(1, TP):
                if tuple(parts[t].shape) != tuple(parts[0].shape):
                    fail("%s: mismatched TP shards: %s is %s on TP rank 0 and %s on TP rank %d" %
                         (it_dir, k, list(parts[0].shape), list(parts[t].shape), t))
            full = parts[0] if sdim is None or TP == 1 else torch.cat(parts, dim=sdim)
            m = re.match(r"(decoder|encoder)\.layers\.(\d+)\.(.+)$", k)
            if m:
                nl = max(nl, int(m.group(2)) + 1)
                k = "%s.layers.%d.%s" % (m.group(1), layer_base + int(m.group(2)), m.group(3))
            if k == "output_layer.weight" and PP > 1 and "embedding.word_embeddings.weight" in merged:
                continue  # the last stage's copy of the tied embedding
            merged[k] = full
        layer_base += nl
    return merged, args, iteration, optim_note, "legacy, TP %d x PP %d" % (TP, PP)


def read_torch_dist(torch, it_dir):
    import io
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint import FileSystemReader
    reader = FileSystemReader(it_dir)
    try:
        md = reader.read_metadata()
    except Exception as e:
        fail("%s/.metadata: cannot read it (%s)" % (it_dir, str(e).splitlines()[0] if str(e) else type(e).__name__))
    sd, common = {}, []
    for k, v in md.state_dict_metadata.items():
        if hasattr(v, "size"):
            if k.endswith("_extra_state"):
                continue
            sd[k] = torch.empty(tuple(v.size), dtype=v.properties.dtype)
        elif k.startswith("common_state/"):
            sd[k] = io.BytesIO()
            common.append(k)
    for f in sorted({it.relative_path for it in md.storage_data.values()} if md.storage_data else []):
        if not os.path.exists(os.path.join(it_dir, f)):
            fail("%s: missing (a shard file .metadata names)" % os.path.join(it_dir, f))
    try:
        dcp.load(sd, storage_reader=reader, no_dist=True)
    except Exception as e:
        fail("%s: cannot read the shards (%s)" % (it_dir, str(e).splitlines()[0][:300] if str(e) else type(e).__name__))
    args, iteration, optim_note, adam = None, None, None, None
    step = None
    for k in common:
        c = sd.pop(k)
        if isinstance(c, io.BytesIO):
            c.seek(0)
            c = torch_load(torch, c)
        c = c[0] if isinstance(c, list) and c else c
        if isinstance(c, dict):
            args, iteration = c.get("args", args), c.get("iteration", iteration)
            # megatron-core's optimizer: the step and hyperparameters are common state
            opt = c.get("optimizer")
            if isinstance(opt, dict):
                st = opt.get("state", {})
                if isinstance(st, dict) and "common_step" in st:
                    step = int(torch.as_tensor(st["common_step"]).reshape(-1)[0].item())
                pg = opt.get("param_groups")
                if isinstance(pg, list) and pg and isinstance(pg[0], dict) and "betas" in pg[0]:
                    adam = {"beta1": float(pg[0]["betas"][0]), "beta2": float(pg[0]["betas"][1]),
                            "eps": float(pg[0].get("eps", 1e-8)), "weight_decay": float(pg[0].get("weight_decay", 0))}
    check_args(args, it_dir)
    merged = {}
    exp = {"exp_avg": {}, "exp_avg_sq": {}}
    for k, v in sd.items():
        m = re.match(r"optimizer\.state\.(exp_avg|exp_avg_sq)\.(?:module\.)?(.+)$", k)
        if m:
            exp[m.group(1)][m.group(2)] = v
            continue
        if k.startswith("optimizer."):
            if k.endswith(".step") or k == "optimizer.state.step":
                step = int(v.reshape(-1)[0].item())
            continue
        merged[k] = v
    if not exp["exp_avg"]:
        optim_note = "the checkpoint holds no optimizer state: weights only"
    elif step is None:
        fail("%s: Adam moments without megatron-core's optimizer step (common_step)" % it_dir)
    # unstack the layer keys: decoder.layers.X [L, ...] -> decoder.layers.i.X
    out, moments = {}, {"exp_avg": {}, "exp_avg_sq": {}}
    for src, dst in [(merged, out)] + [(exp[n], moments[n]) for n in exp]:
        for k, v in src.items():
            m = re.match(r"(decoder|encoder)\.layers\.(?!\d+\.)(.+)$", k)
            if m:
                for i in range(v.shape[0]):
                    dst["%s.layers.%d.%s" % (m.group(1), i, m.group(2))] = v[i]
            else:
                dst[k] = v
    return out, args, iteration, (optim_note, moments, step, adam), "torch_dist"


def to_megac(key, bert):
    names = BERT_TO_MEGAC if bert else GLOBAL_TO_MEGAC
    if key in names:
        return names[key]
    m = re.match(r"%s\.layers\.(\d+)\.(.+)$" % ("encoder" if bert else "decoder"), key)
    if m and m.group(2) in LAYER_TO_MEGAC:
        return "layers/%02d/%s" % (int(m.group(1)), LAYER_TO_MEGAC[m.group(2)])
    return None


def cmd_read(a):
    torch = import_torch()
    it_dir, it_from_dir = locate(a.src)
    fmt = "torch_dist" if os.path.exists(os.path.join(it_dir, ".metadata")) else "legacy"
    moments, step, adam = None, None, None
    if fmt == "legacy":
        merged, args, iteration, note, desc = read_legacy(torch, it_dir)
    else:
        merged, args, iteration, (note, moments, step, adam), desc = read_torch_dist(torch, it_dir)
        if not moments["exp_avg"]:
            moments = None
    iteration = iteration if isinstance(iteration, int) else it_from_dir
    bert = any(k.startswith("encoder.") or k.startswith("lm_head.") for k in merged)
    if "output_layer.weight" in merged:
        if "embedding.word_embeddings.weight" in merged and torch.equal(merged["output_layer.weight"],
                                                                        merged["embedding.word_embeddings.weight"]):
            del merged["output_layer.weight"]
        else:
            fail("%s: the output layer is not tied to the word embedding (megac's GPT ties them)" % it_dir)
    tensors = {}
    for k, v in merged.items():
        n = to_megac(k, bert)
        if n is None:
            fail("%s: tensor %s is not part of a %s megac knows" % (it_dir, k, "BERT" if bert else "GPT"))
        if n in tensors:
            fail("%s: tensor %s appears twice (as %s)" % (it_dir, n, k))
        tensors[n] = v.float().numpy()
    wte = tensors.get("embedding/word_embeddings/weight")
    wpe = tensors.get("embedding/position_embeddings/weight")
    if wte is None or wpe is None or "layers/00/attention/qkv/weight" not in tensors:
        fail("%s: no word/position embeddings and transformer layers (not a GPT or BERT)" % it_dir)
    L = 0
    while "layers/%02d/attention/qkv/weight" % L in tensors:
        L += 1
    Vpad, C = wte.shape
    F = tensors["layers/00/mlp/dense_h_to_4h/weight"].shape[0]
    g = (lambda k, d: getattr(args, k, d) if args is not None and getattr(args, k, None) is not None else d)
    heads = a.num_attention_heads or g("num_attention_heads", 0)
    if not heads:
        fail("%s: the checkpoint stores no args; give --num-attention-heads" % it_dir)
    if g("num_layers", L) != L or g("hidden_size", C) != C:
        fail("%s: args say %d layers of width %d, the tensors %d of width %d" %
             (it_dir, g("num_layers", L), g("hidden_size", C), L, C))
    vocab = a.vocab_size or Vpad
    if vocab > Vpad:
        fail("--vocab-size %d: the checkpoint's word embedding has %d rows" % (vocab, Vpad))
    tensors["embedding/word_embeddings/weight"] = wte[:vocab]
    if bert:
        if "lm_head/bias" not in tensors or "embedding/tokentype_embeddings/weight" not in tensors:
            fail("%s: a BERT without the LM head's output bias or token-type embeddings" % it_dir)
        tensors["lm_head/bias"] = tensors["lm_head/bias"][:vocab]
    cfg = {
        "num_layers": L, "hidden_size": C, "num_attention_heads": heads, "ffn_hidden_size": F,
        "seq_length": g("seq_length", wpe.shape[0]), "max_position_embeddings": wpe.shape[0], "vocab_size": vocab,
        "make_vocab_size_divisible_by": g("make_vocab_size_divisible_by", 128),
        "hidden_dropout": g("hidden_dropout", 0.1), "attention_dropout": g("attention_dropout", 0.1),
        "layernorm_epsilon": g("layernorm_epsilon", 1e-5), "init_method_std": g("init_method_std", 0.02),
    }
    if bert:
        cfg["type_vocab_size"] = tensors["embedding/tokentype_embeddings/weight"].shape[0]
        cfg["pre_ln"] = 1
        cfg["binary_head"] = int("binary_head/weight" in tensors)
        cfg["max_predictions_per_seq"] = min(g("max_predictions_per_seq", 80), cfg["seq_length"])
    text = "model=%s\n" % ("bert" if bert else "gpt") + "".join("%s=%s\n" % (k, repr(float(v)) if isinstance(v, float) else int(v))
                                   for k, v in cfg.items())
    out = [("model/" + n, tensors[n]) for n in sorted(tensors)]
    notes = []
    if note:
        notes.append(note)
    if moments:
        notes.append("Adam moments of %d tensors, step %d" % (len(moments["exp_avg"]), step))
        for kind in ("exp_avg", "exp_avg_sq"):
            if set(moments[kind]) != set(merged) - {"output_layer.weight"}:
                missing = sorted((set(merged) - {"output_layer.weight"}) ^ set(moments[kind]))
                fail("%s: optimizer.state.%s does not cover the parameters exactly (%s)" % (it_dir, kind, missing[0]))
            for k, v in moments[kind].items():
                n = to_megac(k, bert)
                if n is None:
                    fail("%s: optimizer state of %s, which is not part of a GPT megac knows" % (it_dir, k))
                v = v.float().numpy()
                if n in ("embedding/word_embeddings/weight", "lm_head/bias"):
                    v = v[:vocab]
                out.append(("optimizer/%s/%s" % (kind, n), v))
    if not bert and args is not None and not getattr(args, "openai_gelu", False) and not getattr(args, "bias_gelu_fusion", False):
        notes.append("the args do not say --openai-gelu: megac computes GELU's tanh form, Megatron's default is erf "
                     "(outputs differ by about 1e-3)")
    os.makedirs(a.out, exist_ok=True)
    st_write(os.path.join(a.out, "tensors.safetensors"), out)
    meta = {"model_type": "bert" if bert else "gpt", "model_config": text, "iteration": int(iteration),
            "optimizer_step": step if moments else None, "adam": adam if moments else None, "origin": "Megatron-LM %s checkpoint %s" % (desc, it_dir),
            "notes": notes}
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print("read %s (%s %s): %d layers, hidden %d, %d heads, vocabulary %d, iteration %d%s" %
          (it_dir, "BERT" if bert else "GPT", desc, L, C, heads, vocab, iteration, "; " + "; ".join(notes) if notes else ""))


# ---------------------------------------------------------------- writing

def parse_config(text):
    cfg = {}
    for line in text.splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            cfg[k] = v
    if cfg.get("model") not in ("gpt", "bert"):
        fail("the checkpoint's model is '%s'; export-megatron writes GPT and BERT models" % cfg.get("model"))
    ints = ("num_layers", "hidden_size", "num_attention_heads", "ffn_hidden_size", "seq_length",
            "max_position_embeddings", "vocab_size", "make_vocab_size_divisible_by")
    if cfg["model"] == "bert":
        ints += ("type_vocab_size", "pre_ln", "binary_head")
    out = {k: int(cfg[k]) for k in ints}
    out["model"] = cfg["model"]
    if out.get("pre_ln") == 0:
        fail("the BERT is post-LN (--bert-layernorm-order post); megatron-core's BertModel is pre-LN")
    for k in ("hidden_dropout", "attention_dropout", "layernorm_epsilon", "init_method_std"):
        out[k] = float(cfg[k])
    if out["ffn_hidden_size"] <= 0:
        out["ffn_hidden_size"] = 4 * out["hidden_size"]
    return out


def megatron_args(c, tp, pp, padded, iteration):
    return argparse.Namespace(
        num_layers=c["num_layers"], hidden_size=c["hidden_size"], ffn_hidden_size=c["ffn_hidden_size"],
        num_attention_heads=c["num_attention_heads"], num_query_groups=c["num_attention_heads"],
        group_query_attention=False, kv_channels=c["hidden_size"] // c["num_attention_heads"],
        max_position_embeddings=c["max_position_embeddings"], seq_length=c["seq_length"], padded_vocab_size=padded,
        vocab_size=c["vocab_size"], make_vocab_size_divisible_by=c["make_vocab_size_divisible_by"],
        tensor_model_parallel_size=tp, pipeline_model_parallel_size=pp, layernorm_epsilon=c["layernorm_epsilon"],
        hidden_dropout=c["hidden_dropout"], attention_dropout=c["attention_dropout"],
        init_method_std=c["init_method_std"], normalization="LayerNorm", position_embedding_type="learned_absolute",
        openai_gelu=c["model"] == "gpt", bert_binary_head=bool(c.get("binary_head")), swiglu=False, add_bias_linear=True, untie_embeddings_and_output_weights=False,
        iteration=iteration)


def cmd_write(a):
    torch = import_torch()
    meta = json.load(open(os.path.join(a.src, "config.json")))
    c = parse_config(meta["model_config"])
    st = st_read(os.path.join(a.src, "tensors.safetensors"))
    iteration = int(meta.get("iteration") or 0)
    tp, pp = a.tp, a.pp
    L, H, C, F = c["num_layers"], c["num_attention_heads"], c["hidden_size"], c["ffn_hidden_size"]
    bert = c["model"] == "bert"
    stack = "encoder" if bert else "decoder"
    if tp < 1 or pp < 1:
        fail("--tensor-model-parallel-size and --pipeline-model-parallel-size must be positive")
    if a.format == "torch_dist" and (tp != 1 or pp != 1):
        pass  # torch_dist stores global tensors: any TP/PP loads it
    if H % tp or F % tp:
        fail("--tensor-model-parallel-size %d does not divide the %d heads and FFN %d" % (tp, H, F))
    if L % pp:
        fail("--pipeline-model-parallel-size %d does not divide the %d layers" % (pp, L))
    mult = c["make_vocab_size_divisible_by"] * tp
    padded = (c["vocab_size"] + mult - 1) // mult * mult
    # megatron-core names, global tensors
    g = {}
    for name, v in st.items():
        if not name.startswith("model/"):
            continue
        n = name[len("model/"):]
        names = MEGAC_TO_BERT if bert else MEGAC_TO_GLOBAL
        if n in names:
            k = names[n]
        else:
            m = re.match(r"layers/(\d+)/(.+)$", n)
            if not m or m.group(2) not in MEGAC_TO_LAYER:
                fail("%s: tensor %s is not part of a GPT" % (a.src, n))
            k = "%s.layers.%d.%s" % (stack, int(m.group(1)), MEGAC_TO_LAYER[m.group(2)])
        t = torch.from_numpy(v.copy())
        if k in ("embedding.word_embeddings.weight", "output_layer.bias"):
            t = torch.cat([t, torch.zeros((padded - t.shape[0],) + tuple(t.shape[1:]))], 0)
        g[k] = t
    os.makedirs(a.dst, exist_ok=True)
    it_dir = os.path.join(a.dst, "iter_%07d" % iteration)
    args = megatron_args(c, tp, pp, padded, iteration)
    if a.format == "legacy":
        per = L // pp
        for p in range(pp):
            for t in range(tp):
                sd = {}
                for k, v in g.items():
                    m = re.match(r"(?:de|en)coder\.layers\.(\d+)\.(.+)$", k)
                    if m:
                        l = int(m.group(1))
                        if not (p * per <= l < (p + 1) * per):
                            continue
                        k = "%s.layers.%d.%s" % (stack, l - p * per, m.group(2))
                    elif k.startswith("embedding.") and p != 0:
                        continue
                    elif not k.startswith("embedding.") and p != pp - 1:
                        continue  # the final LayerNorm and the heads live on the last stage
                    sdim = tp_split_dim(k)
                    sd[k] = (v.chunk(tp, dim=sdim)[t] if sdim is not None else v).clone()
                if pp > 1 and p == pp - 1:  # the last stage's copy of the tied embedding
                    sd["output_layer.weight"] = g["embedding.word_embeddings.weight"].chunk(tp, 0)[t].clone()
                d = os.path.join(it_dir, "mp_rank_%02d" % t + ("_%03d" % p if pp > 1 else ""))
                os.makedirs(d, exist_ok=True)
                torch.save({"args": args, "checkpoint_version": 3.0, "iteration": iteration, "model": sd},
                           os.path.join(d, "model_optim_rng.pt"))
    else:
        import torch.distributed.checkpoint as dcp
        from torch.distributed.checkpoint import DefaultSavePlanner, FileSystemWriter
        sd = {}
        stacked = {}
        for k, v in g.items():
            m = re.match(r"(?:de|en)coder\.layers\.(\d+)\.(.+)$", k)
            if m:
                rest = m.group(2)
                # megatron-core's sharded names fold the LayerNorms into the next linear layer
                rest = {"input_layernorm.weight": "self_attention.linear_qkv.layer_norm_weight",
                        "input_layernorm.bias": "self_attention.linear_qkv.layer_norm_bias",
                        "pre_mlp_layernorm.weight": "mlp.linear_fc1.layer_norm_weight",
                        "pre_mlp_layernorm.bias": "mlp.linear_fc1.layer_norm_bias"}.get(rest, rest)
                stacked.setdefault(rest, [None] * L)[int(m.group(1))] = v
            else:
                sd[k] = v
        for rest, vs in stacked.items():
            sd["%s.layers.%s" % (stack, rest)] = torch.stack(vs)
        os.makedirs(it_dir, exist_ok=True)
        # megatron-core's ShardedObjects, each stored as a pickled [object]: the common
        # state, and the linear layers' _extra_state (None without Transformer Engine)
        sd["common_state/shard_0_1"] = [{"args": args, "checkpoint_version": 3.0, "iteration": iteration}]
        for lin in ("self_attention.linear_qkv", "self_attention.linear_proj", "mlp.linear_fc1", "mlp.linear_fc2"):
            for i in range(L):
                sd["%s.layers.%s._extra_state/shard_%d_%d" % (stack, lin, i, L)] = [None]
        if bert:
            sd["output_layer._extra_state/shard_0_1"] = [None]
        dcp.save(sd, storage_writer=FileSystemWriter(it_dir), planner=DefaultSavePlanner(flatten_state_dict=False),
                 no_dist=True)
        with open(os.path.join(it_dir, "metadata.json"), "w") as f:
            json.dump({"sharded_backend": "torch_dist", "sharded_backend_version": 1, "common_backend": "torch",
                       "common_backend_version": 1}, f)
    with open(os.path.join(a.dst, "latest_checkpointed_iteration.txt"), "w") as f:
        f.write("%d" % iteration)
    print("wrote %s (Megatron-LM %s%s), iteration %d, padded vocabulary %d" %
          (it_dir, a.format, ", TP %d x PP %d" % (tp, pp) if a.format == "legacy" else "", iteration, padded))


def main(argv):
    p = argparse.ArgumentParser(prog="megatron_ckpt.py")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("read")
    r.add_argument("src")
    r.add_argument("out")
    r.add_argument("--vocab-size", type=int, default=0)
    r.add_argument("--num-attention-heads", type=int, default=0)
    w = sub.add_parser("write")
    w.add_argument("src")
    w.add_argument("dst")
    w.add_argument("--format", choices=["legacy", "torch_dist"], required=True)
    w.add_argument("--tp", type=int, default=1)
    w.add_argument("--pp", type=int, default=1)
    a = p.parse_args(argv)
    try:
        (cmd_read if a.cmd == "read" else cmd_write)(a)
    except ConvertError as e:
        print("error: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
