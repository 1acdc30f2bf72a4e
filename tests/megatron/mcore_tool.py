"""mcore_tool.py — the Megatron-core side of test_megatron.sh, on the CPU.

  make OUT --format legacy,torch_dist [--seed S] [--bert]
      builds a small GPT-2 style GPTModel (--bert: a pre-LN BertModel with the
      sentence head; OUT/losses.npy then holds its masked-LM and sentence losses;
      --optim: one Adam step first, the torch_dist save holds the optimizer state) at this job's TP size (torchrun
      --nproc-per-node TP; gloo), initializes it randomly, saves it in each
      format under OUT/<format>/ as Megatron-LM's training loop does, and writes
      OUT/tokens.npy and OUT/logits.npy (Megatron-core's forward, gathered over TP)
  check --load FORMAT:DIR [--load ...] --tokens T.npy --logits L.npy --padded-vocab N
      loads each DIR (a checkpoint megac exported) into a fresh GPTModel at this
      job's TP size and compares its forward with L.npy (megac's), <= 1e-5 relative

CPU patches kept here (megatron-core assumes CUDA in a few places): the CUDA
RNG tracker's seeding, torch.cuda.current_device / synchronize."""
import argparse, contextlib, os, sys
import numpy as np
import torch

torch.cuda.current_device = lambda: "cpu"  # buffers (the global memory buffer) land on the CPU
torch.cuda.synchronize = lambda *a, **k: None
import torch.distributed as dist
from megatron.core import parallel_state, tensor_parallel
import megatron.core.tensor_parallel.random as mrandom
from megatron.core.models.gpt import GPTModel
from megatron.core.models.gpt.gpt_layer_specs import get_gpt_layer_local_spec
from megatron.core.transformer.transformer_config import TransformerConfig
from megatron.core import dist_checkpointing
from megatron.core.models.bert.bert_model import BertModel
from megatron.core.models.bert.bert_layer_specs import bert_layer_local_spec

L, C, H, V, POS, SEQ, B = 2, 64, 4, 100, 32, 16, 2
PAD_DIV = 128


def gelu_tanh(x):
    return torch.nn.functional.gelu(x, approximate="tanh")


def init_dist():
    if "RANK" not in os.environ:
        os.environ.update(RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(29500 + os.getpid() % 1000))
    dist.init_process_group("gloo")
    tp = dist.get_world_size()
    parallel_state.initialize_model_parallel(tensor_model_parallel_size=tp)
    return tp, dist.get_rank()


def seed_all(seed):
    torch.manual_seed(seed)
    try:
        mrandom.model_parallel_cuda_manual_seed(seed)
    except Exception:  # CPU: the tracker's CUDA state cannot be set; initialization uses the CPU generator
        pass
    # the forward forks the CUDA RNG tracker around attention dropout (0 here)
    tensor_parallel.get_cuda_rng_tracker().fork = lambda *a, **k: contextlib.nullcontext()


def build(tp, padded=None, bert=False):
    cfg = TransformerConfig(num_layers=L, hidden_size=C, num_attention_heads=H, ffn_hidden_size=4 * C,
                            use_cpu_initialization=True, hidden_dropout=0.0, attention_dropout=0.0,
                            layernorm_epsilon=1e-5, init_method_std=0.02,
                            activation_func=torch.nn.functional.gelu if bert else gelu_tanh,
                            tensor_model_parallel_size=tp, params_dtype=torch.float32, bias_activation_fusion=False,
                            masked_softmax_fusion=False, persist_layer_norm=False, bias_dropout_fusion=False,
                            apply_rope_fusion=False)
    padded = padded or (V + PAD_DIV * tp - 1) // (PAD_DIV * tp) * (PAD_DIV * tp)
    if bert:
        return BertModel(cfg, num_tokentypes=2, transformer_layer_spec=bert_layer_local_spec, vocab_size=padded,
                         max_sequence_length=POS, share_embeddings_and_output_weights=True, add_binary_head=True), padded
    m = GPTModel(cfg, get_gpt_layer_local_spec(), vocab_size=padded, max_sequence_length=POS,
                 share_embeddings_and_output_weights=True, position_embedding_type="learned_absolute")
    return m, padded


def bert_batch(tokens):
    """token types: the second half 1; masked-LM positions t % 3 == 1; sentence labels b % 2"""
    B_, T_ = tokens.shape
    types = (np.arange(T_) >= T_ // 2).astype(np.int64)[None].repeat(B_, 0)
    return types, (np.arange(T_) % 3 == 1), np.arange(B_) % 2


def bert_losses(m, tokens):
    types, pos, sop = bert_batch(tokens)
    t = torch.from_numpy(tokens).long()
    with torch.no_grad():
        loss, binary = m(t, torch.ones_like(t), tokentype_ids=torch.from_numpy(types), lm_labels=t)
    mlm = float(loss.double()[:, torch.from_numpy(pos)].mean())
    sop_loss = float(torch.nn.functional.cross_entropy(binary.double(), torch.from_numpy(sop)))
    return mlm, sop_loss


def train_step(m, tokens):
    """one Adam step through megatron-core's DDP and optimizer (torch AdamW without
    apex/TE); CPU patches: tensors it makes on 'cuda', no gradient clipping (its
    clip asserts CUDA tensors), no DDP grad sync (one rank)"""
    def cpu(f):
        return lambda *a, **k: f(*a, **({**k, "device": "cpu"} if str(k.get("device", "")).startswith("cuda") else k))
    for n in ("tensor", "zeros", "ones", "empty", "full"):
        setattr(torch, n, cpu(getattr(torch, n)))
    from megatron.core.distributed import DistributedDataParallel, DistributedDataParallelConfig
    from megatron.core.optimizer import OptimizerConfig, get_megatron_optimizer
    ddp = DistributedDataParallel(m.config, DistributedDataParallelConfig(use_distributed_optimizer=False), m)
    opt = get_megatron_optimizer(OptimizerConfig(optimizer="adam", lr=1e-3, weight_decay=0.01, adam_beta2=0.95,
                                                 params_dtype=torch.float32, clip_grad=0.0), [ddp])
    t = torch.from_numpy(tokens).long()
    pos = torch.arange(t.shape[1]).unsqueeze(0).expand_as(t)
    mask = torch.triu(torch.ones(1, 1, t.shape[1], t.shape[1], dtype=torch.bool), diagonal=1)
    ddp(t, pos, mask, labels=t).mean().backward()
    opt.step()
    return opt


def forward(m, tokens):
    t = torch.from_numpy(tokens).long()
    pos = torch.arange(t.shape[1]).unsqueeze(0).expand_as(t)
    mask = torch.triu(torch.ones(1, 1, t.shape[1], t.shape[1], dtype=torch.bool), diagonal=1)
    with torch.no_grad():
        logits = m(t, pos, mask)  # [b, s, V/tp]
        full = tensor_parallel.gather_from_tensor_model_parallel_region(logits)
    return full.float().numpy()


def megatron_args(tp, padded, iteration):
    return argparse.Namespace(num_layers=L, hidden_size=C, ffn_hidden_size=4 * C, num_attention_heads=H,
                              num_query_groups=H, group_query_attention=False, kv_channels=C // H,
                              max_position_embeddings=POS, seq_length=SEQ, padded_vocab_size=padded,
                              make_vocab_size_divisible_by=PAD_DIV, tensor_model_parallel_size=tp,
                              pipeline_model_parallel_size=1, layernorm_epsilon=1e-5, hidden_dropout=0.0,
                              attention_dropout=0.0, init_method_std=0.02, normalization="LayerNorm",
                              position_embedding_type="learned_absolute", openai_gelu=True, swiglu=False,
                              add_bias_linear=True, untie_embeddings_and_output_weights=False,
                              iteration=iteration, consumed_train_samples=iteration * 8)


def cmd_make(a):
    tp, rank = init_dist()
    seed_all(a.seed)
    m, padded = build(tp, bert=a.bert)
    # random LayerNorm parameters and biases too (Megatron initializes them to 1 and 0)
    g = torch.Generator().manual_seed(a.seed + 1)
    for name, p in m.named_parameters():
        if "norm" in name or name.endswith("bias"):
            with torch.no_grad():
                p.add_(0.1 * torch.randn(p.shape, generator=g))
    rng = np.random.default_rng(a.seed)
    tokens = rng.integers(0, V, size=(B, SEQ)).astype(np.int64)
    opt = train_step(m, tokens) if a.optim else None
    logits = bert_losses(m, tokens) if a.bert else forward(m, tokens)
    iteration = 10
    for fmt in a.format.split(","):
        root = os.path.join(a.out, fmt)
        it = os.path.join(root, "iter_%07d" % iteration)
        if fmt == "legacy":
            d = os.path.join(it, "mp_rank_%02d" % parallel_state.get_tensor_model_parallel_rank())
            os.makedirs(d, exist_ok=True)
            sd = {"args": megatron_args(tp, padded, iteration), "checkpoint_version": 3.0, "iteration": iteration,
                  "model": m.state_dict_for_save_checkpoint()}
            torch.save(sd, os.path.join(d, "model_optim_rng.pt"))
        else:
            os.makedirs(it, exist_ok=True)
            sd = m.sharded_state_dict()
            sd = {"model": sd, "args": megatron_args(tp, padded, iteration), "checkpoint_version": 3.0,
                  "iteration": iteration}
            if opt is not None:
                sd["optimizer"] = opt.sharded_state_dict(m.sharded_state_dict())
            dist_checkpointing.save(sd, it)
        dist.barrier()
        if rank == 0:
            with open(os.path.join(root, "latest_checkpointed_iteration.txt"), "w") as f:
                f.write("%d" % iteration)
    if rank == 0 and opt is not None:  # one moment tensor, for the test to find in megac's checkpoint
        st = opt.chained_optimizers[0].optimizer.state[m.decoder.layers[1].self_attention.linear_qkv.weight]
        np.save(os.path.join(a.out, "exp_avg_sq_qkv1.npy"), st["exp_avg_sq"].numpy())
    if rank == 0:
        np.save(os.path.join(a.out, "tokens.npy"), tokens)
        if a.bert:
            np.save(os.path.join(a.out, "losses.npy"), np.array(logits))  # masked-LM, sentence order
        else:
            np.save(os.path.join(a.out, "logits.npy"), logits)  # over the padded vocabulary, as Megatron's loss
        print("made TP=%d %s (%s), padded vocabulary %d" % (tp, "BERT" if a.bert else "GPT", a.format, padded))


def cmd_check(a):
    torch.serialization.add_safe_globals([argparse.Namespace])  # the args in the common state, as Megatron-LM does
    tp, rank = init_dist()
    tokens, ref = np.load(a.tokens), np.load(a.logits)
    bad = 0
    for spec in a.load:
        fmt, d = spec.split(":", 1)
        seed_all(a.seed + 99)
        m, padded = build(tp, a.padded_vocab, a.bert)
        with open(os.path.join(d, "latest_checkpointed_iteration.txt")) as f:
            it_dir = os.path.join(d, "iter_%07d" % int(f.read()))
        if fmt == "legacy":
            p = os.path.join(it_dir, "mp_rank_%02d" % parallel_state.get_tensor_model_parallel_rank(), "model_optim_rng.pt")
            sd = torch.load(p, map_location="cpu", weights_only=False)["model"]
        else:
            sd = dist_checkpointing.load({"model": m.sharded_state_dict()}, it_dir)["model"]
        m.load_state_dict(sd, strict=True)
        got = np.array(bert_losses(m, tokens)) if a.bert else forward(m, tokens)
        rel = float(np.linalg.norm(got - ref) / np.linalg.norm(ref))
        if rank == 0:
            print("megatron-core TP=%d loads megac's %s %s export: %s relative error %.3g against megac's" %
                  (tp, "BERT" if a.bert else "GPT", fmt, "losses" if a.bert else "logits", rel))
        bad += not rel <= 1e-5
    if bad:
        sys.exit(1)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    mk = sub.add_parser("make")
    mk.add_argument("out")
    mk.add_argument("--format", default="legacy,torch_dist")
    mk.add_argument("--seed", type=int, default=1234)
    mk.add_argument("--bert", action="store_true")
    mk.add_argument("--optim", action="store_true", help="one Adam step first; torch_dist saves the optimizer too")
    ck = sub.add_parser("check")
    ck.add_argument("--load", action="append", required=True, help="FORMAT:DIR, repeatable")
    ck.add_argument("--tokens", required=True)
    ck.add_argument("--logits", required=True)
    ck.add_argument("--seed", type=int, default=1234)
    ck.add_argument("--padded-vocab", type=int, required=True)
    ck.add_argument("--bert", action="store_true")
    a = p.parse_args()
    (cmd_make if a.cmd == "make" else cmd_check)(a)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
