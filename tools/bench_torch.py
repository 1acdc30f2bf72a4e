#!/usr/bin/env python3
"""bench_torch.py — the PyTorch reference for megac's speed table (issue 9).

Plain-torch GPT and BERT written to match megac's architecture, so that the same
shape can be timed in both frameworks on the same GPU:
  GPT-2  pre-LN blocks, fused QKV (per head [q k v]), causal attention, GELU (tanh
         form), dropout after the embedding / each sublayer / on the attention
         probabilities, final LayerNorm, LM head tied to the token embedding;
  BERT   post-LN blocks, GELU (erf form), word + position + token-type embeddings
         with a LayerNorm, the masked-LM head (dense, GELU, LayerNorm, tied decoder
         + bias) at the masked positions only, and the tanh pooler + 2-way sentence
         head.
The vocabulary is padded to a multiple of 128 as megac pads it (the padded logits
take part in torch's softmax; megac excludes them — the same work either way).

Subcommands, each printing one JSON line per measurement on stdout:
  peak   dense matmul rate: bf16, and fp32 with TF32 off, large square torch.matmul
  train  forward + backward + gradient clipping + AdamW steps, fp32 or bf16 autocast
         (fp32 master weights), eager and/or torch.compile
  infer  forward-only latency (BERT: the encoder; GPT: the logits)

Model FLOPs use the same formulas as `megac bench` (tools/bench.c):
  GPT   train 6 (P - P_pos) tokens + 12 L h s tokens      (P: all parameters with the
        padded vocabulary; the tied embedding counts once, as the LM head)
  BERT  train 6 P_layers tokens + 12 L h s tokens + 6 M (h^2 + h V) + 6 B (h^2 + 2h)
        (P_layers: the encoder layers' parameters; M masked positions; B sequences)
  infer one third of the matmul terms: 2 P' tokens + 4 L h s tokens (P' = P - P_pos for
        GPT, P_layers for BERT's encoder)
The attention term counts the full s x s score matrix, also for causal GPT (as
Megatron-LM and PaLM count it).

Runs on CPU with tiny shapes (--device cpu --num-layers 2 --hidden-size 64 ...) so
the script can be tested where there is no GPU.
"""
import argparse
import gc
import json
import math
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

PRESETS = {
    # name: (arch, layers, hidden, heads, seq, vocab, max_positions)
    "gpt2-124m": ("gpt", 12, 768, 12, 1024, 50257, 1024),
    "gpt2-345m": ("gpt", 24, 1024, 16, 1024, 50257, 1024),
    "gpt-1.2b": ("gpt", 40, 1536, 16, 1024, 50257, 1024),
    "gpt-2.5b": ("gpt", 54, 1920, 20, 1024, 50257, 1024),
    "bert-base": ("bert", 12, 768, 12, 512, 30522, 512),
    "bert-large": ("bert", 24, 1024, 16, 512, 30522, 512),
}


class Config:
    def __init__(self, args):
        if args.model not in PRESETS:
            sys.exit(f"bench_torch: unknown --model {args.model} (known: {' '.join(PRESETS)})")
        arch, L, C, H, seq, V, maxpos = PRESETS[args.model]
        self.arch = arch
        self.layers = args.num_layers or L
        self.hidden = args.hidden_size or C
        self.heads = args.num_attention_heads or H
        self.seq = args.seq_length or seq
        self.vocab = args.vocab_size or V
        self.vocab_padded = (self.vocab + 127) // 128 * 128
        # the preset's position table, raised to the sequence (as megac bench does)
        self.max_pos = max(maxpos, self.seq)
        self.ffn = 4 * self.hidden
        self.dropout = 0.1 if args.dropout is None else args.dropout
        self.eps = 1e-5 if arch == "gpt" else 1e-12
        self.max_pred = args.max_predictions_per_seq or math.ceil(0.15 * self.seq)
        if self.hidden % self.heads:
            sys.exit(f"bench_torch: heads {self.heads} do not divide hidden {self.hidden}")

    def layer_params(self):
        C, Fh = self.hidden, self.ffn
        return 3 * C * C + 3 * C + C * C + C + 4 * C + C * Fh + Fh + Fh * C + C

    def params(self):
        """exact parameter count, as megac's gpt_param_count / bert_param_count"""
        C, V = self.hidden, self.vocab_padded
        if self.arch == "gpt":
            return V * C + self.max_pos * C + self.layers * self.layer_params() + 2 * C
        emb = V * C + self.max_pos * C + 2 * C + 2 * C
        heads = C * C + C + 2 * C + V + C * C + C + 2 * C + 2
        return emb + self.layers * self.layer_params() + heads

    def flops(self, B, train):
        """model FLOPs of one step of micro-batch B (see the module docstring)"""
        L, C, T, V = self.layers, self.hidden, self.seq, self.vocab_padded
        tokens = B * T
        if self.arch == "gpt":
            dense = self.params() - self.max_pos * C
            return (6 if train else 2) * dense * tokens + (12 if train else 4) * L * C * T * tokens
        if not train:
            return 2 * L * self.layer_params() * tokens + 4 * L * C * T * tokens
        M = B * self.max_pred
        return (6 * L * self.layer_params() * tokens + 12 * L * C * T * tokens + 6 * M * (C * C + C * V)
                + 6 * B * (C * C + 2 * C))


class Block(nn.Module):
    """one transformer layer; pre_ln: GPT-2's ordering, else BERT's post-LN"""

    def __init__(self, cfg, pre_ln, causal, gelu):
        super().__init__()
        C = cfg.hidden
        self.H, self.pre_ln, self.causal, self.gelu = cfg.heads, pre_ln, causal, gelu
        self.p = cfg.dropout
        self.ln1 = nn.LayerNorm(C, eps=cfg.eps)
        self.qkv = nn.Linear(C, 3 * C)
        self.proj = nn.Linear(C, C)
        self.ln2 = nn.LayerNorm(C, eps=cfg.eps)
        self.fc = nn.Linear(C, cfg.ffn)
        self.fcproj = nn.Linear(cfg.ffn, C)

    def attention(self, x, mask):
        B, T, C = x.shape
        hs = C // self.H
        # megac's fused layout: for each head, [q k v] of head size hs
        q, k, v = self.qkv(x).view(B, T, self.H, 3, hs).permute(3, 0, 2, 1, 4).unbind(0)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=self.p if self.training else 0.0,
                                           is_causal=self.causal)
        y = y.transpose(1, 2).reshape(B, T, C)
        return F.dropout(self.proj(y), self.p, self.training)

    def mlp(self, x):
        return F.dropout(self.fcproj(F.gelu(self.fc(x), approximate=self.gelu)), self.p, self.training)

    def forward(self, x, mask=None):
        if self.pre_ln:
            x = x + self.attention(self.ln1(x), mask)
            return x + self.mlp(self.ln2(x))
        x = self.ln1(x + self.attention(x, mask))
        return self.ln2(x + self.mlp(x))


class GPTHead(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.lnf = nn.LayerNorm(cfg.hidden, eps=cfg.eps)

    def forward(self, x, wte, targets):
        logits = F.linear(self.lnf(x), wte)
        if targets is None:
            return logits
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


class GPT(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab_padded, cfg.hidden)
        self.wpe = nn.Embedding(cfg.max_pos, cfg.hidden)
        self.blocks = nn.ModuleList([Block(cfg, True, True, "tanh") for _ in range(cfg.layers)])
        self.head = GPTHead(cfg)
        init_weights(self, cfg, scaled=("proj.weight", "fcproj.weight"))

    def forward(self, tokens, targets=None):
        T = tokens.size(1)
        x = self.wte(tokens) + self.wpe(torch.arange(T, device=tokens.device))
        x = F.dropout(x, self.cfg.dropout, self.training)
        for b in self.blocks:
            x = b(x)
        return self.head(x, self.wte.weight, targets)


class BERTHeads(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        C = cfg.hidden
        self.mlm_dense = nn.Linear(C, C)
        self.mlm_ln = nn.LayerNorm(C, eps=cfg.eps)
        self.mlm_bias = nn.Parameter(torch.zeros(cfg.vocab_padded))
        self.pooler = nn.Linear(C, C)
        self.binary = nn.Linear(C, 2)

    def forward(self, h, wte, mlm_pos, mlm_labels, sop_labels):
        C = h.size(-1)
        t = self.mlm_ln(F.gelu(self.mlm_dense(h.reshape(-1, C)[mlm_pos])))
        loss = F.cross_entropy(F.linear(t, wte, self.mlm_bias), mlm_labels)
        pooled = torch.tanh(self.pooler(h[:, 0]))
        return loss + F.cross_entropy(self.binary(pooled), sop_labels)


class BERT(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        C = cfg.hidden
        self.wte = nn.Embedding(cfg.vocab_padded, C)
        self.wpe = nn.Embedding(cfg.max_pos, C)
        self.wtype = nn.Embedding(2, C)
        self.emb_ln = nn.LayerNorm(C, eps=cfg.eps)
        self.blocks = nn.ModuleList([Block(cfg, False, False, "none") for _ in range(cfg.layers)])
        self.heads = BERTHeads(cfg)
        init_weights(self, cfg, scaled=())

    def encode(self, tokens, types, mask=None):
        T = tokens.size(1)
        x = self.wte(tokens) + self.wpe(torch.arange(T, device=tokens.device)) + self.wtype(types)
        x = F.dropout(self.emb_ln(x), self.cfg.dropout, self.training)
        for b in self.blocks:
            x = b(x, mask)
        return x

    def forward(self, tokens, types, mlm_pos=None, mlm_labels=None, sop_labels=None, mask=None):
        h = self.encode(tokens, types, mask)
        if mlm_pos is None:
            return h
        return self.heads(h, self.wte.weight, mlm_pos, mlm_labels, sop_labels)


def init_weights(model, cfg, scaled):
    """N(0, 0.02), output projections scaled by 1/sqrt(2L) (GPT), biases 0, LayerNorm 1/0,
    padded vocabulary rows 0 — megac's initialisation"""
    std = 0.02
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 2:
                s = std / math.sqrt(2 * cfg.layers) if name.endswith(scaled) and scaled else std
                p.normal_(0.0, s)
            elif "ln" in name and name.endswith("weight"):
                p.fill_(1.0)
            else:
                p.zero_()
        model.wte.weight[cfg.vocab:].zero_()


def make_batch(cfg, B, device, gen):
    """random tokens (never zeros); BERT: two segments, 15% masked positions per
    sequence (distinct, never [CLS]), random sentence labels, no padding"""
    T = cfg.seq
    tok = torch.randint(0, cfg.vocab, (B, T), generator=gen)
    if cfg.arch == "gpt":
        tgt = torch.randint(0, cfg.vocab, (B, T), generator=gen)
        return [tok.to(device), tgt.to(device)]
    types = torch.zeros(B, T, dtype=torch.long)
    types[:, T // 2:] = 1
    pos = torch.stack([torch.randperm(T - 1, generator=gen)[:cfg.max_pred] + 1 + b * T for b in range(B)]).view(-1)
    labels = torch.randint(0, cfg.vocab, (B * cfg.max_pred,), generator=gen)
    sop = torch.randint(0, 2, (B,), generator=gen)
    return [t.to(device) for t in (tok, types, pos, labels, sop)]


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def autocast(device, precision):
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return torch.autocast(device.type, enabled=False)


def compile_model(model, scope, mode):
    """full: the whole model in one graph. regional: each block (one graph shared by
    the identical layers) and the head, the embedding eager — PyTorch's recipe to cut
    compile time of repeated blocks to one block's."""
    if scope == "full":
        return torch.compile(model, mode=mode)
    for b in model.blocks:
        b.compile(mode=mode)
    (model.head if isinstance(model, GPT) else model.heads).compile(mode=mode)
    return model


def set_fp32_matmul_ieee():
    """fp32 rows use true fp32 (no TF32), as megac's cuBLAS calls do (PyTorch's
    default; set in case the environment changed it)"""
    torch.set_float32_matmul_precision("highest")


def is_oom(e):
    return isinstance(e, torch.cuda.OutOfMemoryError) or "out of memory" in str(e)


def free_memory(device):
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def timed(fn, warmup, iters, device):
    """warm-up calls (compilation happens here), then iters calls each ended by a
    device sync; returns (warm-up seconds, list of per-call seconds)"""
    t0 = time.perf_counter()
    for _ in range(warmup):
        fn()
    sync(device)
    warm = time.perf_counter() - t0
    times = []
    for _ in range(iters):
        t = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t)
    return warm, times


def common_fields(args, cfg, device):
    return {
        "tool": "torch", "torch": torch.__version__, "model": args.model, "device": device.type,
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "layers": cfg.layers, "hidden": cfg.hidden, "heads": cfg.heads, "seq": cfg.seq,
        "vocab_padded": cfg.vocab_padded, "params": cfg.params(), "dropout": cfg.dropout,
    }


def emit(rec):
    print(json.dumps(rec), flush=True)


def build(cfg, device):
    with torch.device(device):
        model = GPT(cfg) if cfg.arch == "gpt" else BERT(cfg)
    return model


def train_once(args, cfg, device, precision, mode, B):
    """one (precision, mode, micro-batch) measurement; raises on OOM"""
    model = build(cfg, device).train()
    # weight decay on matrices, none on biases and LayerNorm (megac's AdamW groups)
    decay = [p for p in model.parameters() if p.dim() == 2]
    no_decay = [p for p in model.parameters() if p.dim() != 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-4, betas=(0.9, 0.999), eps=1e-8, fused=device.type == "cuda")
    params = list(model.parameters())
    run = compile_model(model, args.compile_scope, None) if mode == "compile" else model
    batch = make_batch(cfg, B, device, torch.Generator().manual_seed(1234))

    def step():
        with autocast(device, precision):
            loss = run(*batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    try:
        warm, times = timed(step, args.warmup, args.iters, device)
        loss = float(run(*batch).detach()) if args.check_loss else None
    finally:
        del run, model, opt, params, batch, step
    med = statistics.median(times)
    flops = cfg.flops(B, True)
    rec = {"kind": "train", "precision": precision, "mode": mode, "micro_batch": B,
           "tokens_per_step": B * cfg.seq, "step_ms": med * 1e3, "step_ms_mean": statistics.mean(times) * 1e3,
           "tokens_per_s": B * cfg.seq / med, "seqs_per_s": B / med, "model_flops_per_step": flops,
           "tflops": flops / med / 1e12, "iters": args.iters, "warmup": args.warmup, "warmup_s": warm}
    if mode == "compile":
        rec["compile_scope"] = args.compile_scope
    if loss is not None:
        rec["loss"] = loss
    return rec


def modes_of(args, precision):
    return (args.fp32_mode if precision == "fp32" and args.fp32_mode else args.mode).split(",")


def cmd_train(args, cfg, device):
    sizes = [int(s) for s in args.micro_batch_size.split(",")]
    if any(s <= 0 for s in sizes):
        sys.exit("bench_torch: --micro-batch-size takes positive sizes, largest first")
    for precision in args.precision.split(","):
        set_fp32_matmul_ieee()
        fitted = None  # the largest micro-batch eager fitted: compile starts there
        for mode in modes_of(args, precision):
            tried = [s for s in sizes if fitted is None or s <= fitted]
            done = False
            for B in tried:
                base = dict(common_fields(args, cfg, device), kind="train", precision=precision, mode=mode)
                oom = err = None
                try:
                    rec = train_once(args, cfg, device, precision, mode, B)
                except Exception as e:  # OOM: the next size; anything else: reported
                    oom, err = is_oom(e), f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"
                free_memory(device)
                if mode == "compile":
                    torch._dynamo.reset()
                if err is None:
                    emit(dict(base, **rec, status="ok"))
                    fitted = fitted or B
                    done = True
                    break
                if not oom:
                    emit(dict(base, micro_batch=B, status="error", error=err))
                    done = True
                    break
                print(f"bench_torch: {args.model} {precision} {mode}: micro-batch {B} ran out of memory",
                      file=sys.stderr, flush=True)
            if not done:
                emit(dict(common_fields(args, cfg, device), kind="train", precision=precision, mode=mode,
                          status="error", error=f"out of memory at every micro-batch {tried}"))


def cmd_infer(args, cfg, device):
    B = int(args.micro_batch_size.split(",")[0])
    gen = torch.Generator().manual_seed(99)
    host = make_batch(cfg, B, torch.device("cpu"), gen)[:2]  # tokens, and BERT's types
    if cfg.arch == "gpt":
        host = host[:1]
    for precision in args.precision.split(","):
        set_fp32_matmul_ieee()
        for mode in modes_of(args, precision):
            base = dict(common_fields(args, cfg, device), kind="infer", precision=precision, mode=mode, micro_batch=B)
            try:
                model = build(cfg, device).eval()
                cmode = args.infer_compile_mode if device.type == "cuda" else None
                run = compile_model(model, args.compile_scope, cmode) if mode == "compile" else model

                def fwd():
                    # the input crosses to the device inside the timed region, as megac's does
                    inp = [t.to(device) for t in host]
                    with torch.inference_mode(), autocast(device, precision):
                        return run(*inp)

                warm, times = timed(fwd, args.warmup, args.iters, device)
                del run, model
                med = statistics.median(times)
                flops = cfg.flops(B, False)
                rec = dict(base, latency_ms=med * 1e3, latency_ms_mean=statistics.mean(times) * 1e3,
                           latency_ms_min=min(times) * 1e3, tokens_per_s=B * cfg.seq / med, seqs_per_s=B / med,
                           model_flops_per_step=flops, tflops=flops / med / 1e12, iters=args.iters,
                           warmup=args.warmup, warmup_s=warm, status="ok")
                if mode == "compile":
                    rec.update(compile_scope=args.compile_scope, compile_mode=cmode or "default")
                emit(rec)
            except Exception as e:
                emit(dict(base, status="error", error=f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"))
            free_memory(device)
            if mode == "compile":
                torch._dynamo.reset()


def cmd_peak(args, device):
    n = args.size
    for precision in args.precision.split(","):
        set_fp32_matmul_ieee()
        dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        gen = torch.Generator(device=device).manual_seed(5)
        a = torch.randn(n, n, device=device, dtype=dtype, generator=gen)
        b = torch.randn(n, n, device=device, dtype=dtype, generator=gen)
        c = torch.empty(n, n, device=device, dtype=dtype)
        reps = args.iters if precision == "bf16" else max(3, args.iters // 4)
        warm, times = timed(lambda: torch.matmul(a, b, out=c), args.warmup, reps, device)
        del a, b, c
        free_memory(device)
        med = statistics.median(times)
        emit({"tool": "torch", "torch": torch.__version__, "kind": "peak", "precision": precision,
              "tf32": False, "device": device.type,
              "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
              "size": n, "iters": reps, "tflops": 2.0 * n ** 3 / med / 1e12,
              "tflops_best": 2.0 * n ** 3 / min(times) / 1e12, "status": "ok"})


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=["peak", "train", "infer"])
    p.add_argument("--model", default="gpt2-124m", help="preset: " + " ".join(PRESETS))
    p.add_argument("--num-layers", type=int, default=0)
    p.add_argument("--hidden-size", type=int, default=0)
    p.add_argument("--num-attention-heads", type=int, default=0)
    p.add_argument("--seq-length", type=int, default=0)
    p.add_argument("--vocab-size", type=int, default=0)
    p.add_argument("--max-predictions-per-seq", type=int, default=0, help="BERT: masked positions (ceil(0.15 seq))")
    p.add_argument("--dropout", type=float, default=None, help="hidden and attention dropout (0.1)")
    p.add_argument("--micro-batch-size", default="4",
                   help="train: sizes to try, largest first, e.g. 16,8,4 (the first that fits is timed)")
    p.add_argument("--precision", default=None,
                   help="fp32 (TF32 off) and/or bf16 (autocast), comma-separated (train/infer: fp32; peak: bf16,fp32)")
    p.add_argument("--mode", default="eager", help="eager and/or compile, comma-separated")
    p.add_argument("--fp32-mode", default=None, help="the modes of the fp32 runs, if not --mode's")
    p.add_argument("--compile-scope", default="regional", choices=["regional", "full"])
    p.add_argument("--infer-compile-mode", default="reduce-overhead",
                   help="torch.compile mode for inference on CUDA (reduce-overhead: CUDA graphs)")
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--size", type=int, default=8192, help="peak: square matmul size")
    p.add_argument("--device", default="cuda")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    p.add_argument("--check-loss", action="store_true", help="train: report the loss after the timed steps")
    args = p.parse_args()
    if args.precision is None:
        args.precision = "bf16,fp32" if args.command == "peak" else "fp32"
    if args.iters <= 0 or args.warmup < 0 or args.size <= 0:
        sys.exit("bench_torch: --iters and --size must be positive, --warmup not negative")
    for s in args.precision.split(","):
        if s not in ("fp32", "bf16"):
            sys.exit(f"bench_torch: unknown precision {s} (fp32, bf16)")
    for s in args.mode.split(",") + (args.fp32_mode or "eager").split(","):
        if s not in ("eager", "compile"):
            sys.exit(f"bench_torch: unknown mode {s} (eager, compile)")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("bench_torch: --device cuda but torch sees no GPU")
    # many identical blocks under regional compile share one graph; leave room anyway
    for k in ("recompile_limit", "cache_size_limit"):
        if hasattr(torch._dynamo.config, k):
            setattr(torch._dynamo.config, k, 64)
    if args.command == "peak":
        return cmd_peak(args, device)
    cfg = Config(args)
    torch.manual_seed(0)
    (cmd_train if args.command == "train" else cmd_infer)(args, cfg, device)


if __name__ == "__main__":
    main()
