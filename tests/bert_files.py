"""bert_files.py OUT_DIR SEED [options] — writes a small random Hugging Face BERT
(vocabulary 40, 2 layers, width 16, 4 heads, FFN 32, 24 positions, 2 token types)
as OUT_DIR/model.safetensors + config.json, the way transformers lays it out:
separate query/key/value [out, in] weights, post-LN names, tensors in a shuffled
order. Standard library only. Options:
  --prefix      BertForPreTraining's "bert." before the encoder and pooler
  --heads       the masked-LM head (cls.predictions.*) and the sentence head (cls.seq_relationship.*)
  --decoder     with --heads: the tied decoder (cls.predictions.decoder.weight = word embeddings, .bias = bias)
  --untied      with --heads: a decoder weight that differs from the word embeddings
  --no-pooler   leave pooler.dense out
  --partial     only cls.predictions.bias of the masked-LM head
  --extra       an unknown tensor
  --position-ids  the int64 embeddings.position_ids buffer
  --relu        config.json says hidden_act relu
  --no-config   no config.json"""
import json, os, random, struct, sys

out, seed = sys.argv[1], int(sys.argv[2])
opts = set(sys.argv[3:])
rng = random.Random(seed)
V, P, C, H, L, F, T = 40, 24, 16, 4, 2, 32, 2
enc = {"embeddings.word_embeddings.weight": [V, C], "embeddings.position_embeddings.weight": [P, C],
       "embeddings.token_type_embeddings.weight": [T, C], "embeddings.LayerNorm.weight": [C],
       "embeddings.LayerNorm.bias": [C]}
for l in range(L):
    p = "encoder.layer.%d." % l
    for n in ("query", "key", "value"):
        enc[p + "attention.self.%s.weight" % n] = [C, C]
        enc[p + "attention.self.%s.bias" % n] = [C]
    enc.update({p + "attention.output.dense.weight": [C, C], p + "attention.output.dense.bias": [C],
                p + "attention.output.LayerNorm.weight": [C], p + "attention.output.LayerNorm.bias": [C],
                p + "intermediate.dense.weight": [F, C], p + "intermediate.dense.bias": [F],
                p + "output.dense.weight": [C, F], p + "output.dense.bias": [C],
                p + "output.LayerNorm.weight": [C], p + "output.LayerNorm.bias": [C]})
if "--no-pooler" not in opts:
    enc.update({"pooler.dense.weight": [C, C], "pooler.dense.bias": [C]})
heads = {}
if "--heads" in opts:
    heads = {"cls.predictions.transform.dense.weight": [C, C], "cls.predictions.transform.dense.bias": [C],
             "cls.predictions.transform.LayerNorm.weight": [C], "cls.predictions.transform.LayerNorm.bias": [C],
             "cls.predictions.bias": [V], "cls.seq_relationship.weight": [2, C], "cls.seq_relationship.bias": [2]}
if "--partial" in opts:
    heads = {"cls.predictions.bias": [V]}
if "--extra" in opts:
    heads["cls.something.weight"] = [C]


def numel(s):
    n = 1
    for d in s:
        n *= d
    return n


def values(k, n):
    if "LayerNorm.weight" in k:
        return [1.0 + 0.1 * rng.gauss(0, 1) for _ in range(n)]
    return [0.3 * rng.gauss(0, 1) for _ in range(n)]


pre = "bert." if "--prefix" in opts else ""
tensors = {}
for k in sorted(enc):
    tensors[pre + k] = ("F32", enc[k], struct.pack("<%df" % numel(enc[k]), *values(k, numel(enc[k]))))
for k in sorted(heads):
    tensors[k] = ("F32", heads[k], struct.pack("<%df" % numel(heads[k]), *values(k, numel(heads[k]))))
if "--decoder" in opts or "--untied" in opts:
    w = bytearray(tensors[pre + "embeddings.word_embeddings.weight"][2])
    if "--untied" in opts:
        w[7] ^= 1
    tensors["cls.predictions.decoder.weight"] = ("F32", [V, C], bytes(w))
    tensors["cls.predictions.decoder.bias"] = ("F32", [V], tensors["cls.predictions.bias"][2])
if "--position-ids" in opts:
    tensors[pre + "embeddings.position_ids"] = ("I64", [1, P], struct.pack("<%dq" % P, *range(P)))
order = list(tensors)
rng.shuffle(order)
header, blob = {"__metadata__": {"format": "pt"}}, b""
for k in order:
    dt, s, b = tensors[k]
    header[k] = {"dtype": dt, "shape": s, "data_offsets": [len(blob), len(blob) + len(b)]}
    blob += b
h = json.dumps(header).encode()
h += b" " * (-len(h) % 8)
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "model.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + blob)
if "--no-config" not in opts:
    cfg = {"architectures": ["BertForPreTraining" if "--prefix" in opts else "BertModel"], "model_type": "bert",
           "vocab_size": V, "hidden_size": C, "num_hidden_layers": L, "num_attention_heads": H, "intermediate_size": F,
           "hidden_act": "relu" if "--relu" in opts else "gelu", "hidden_dropout_prob": 0.1,
           "attention_probs_dropout_prob": 0.1, "max_position_embeddings": P, "type_vocab_size": T,
           "initializer_range": 0.02, "layer_norm_eps": 1e-12, "pad_token_id": 0, "position_embedding_type": "absolute"}
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f)
