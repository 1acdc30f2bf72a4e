/* flops.h — model FLOPs: one formula, used by `megac bench`, the planner (plan/)
 * and anything that reports model FLOP/s.
 *
 * Counted GEMM by GEMM, per row (token) and pass: a layer's forward is
 * 2(3h^2 + h^2 + 2hf) (QKV, projection, the two MLP GEMMs) + 4sh (QK^T and
 * attention x V over s keys, the whole s x s matrix also when causal); the LM head
 * 2hV per row it sees (BERT's MLM head adds its 2h^2 dense layer); BERT's pooler and
 * sentence head 2h^2 + 4h per sequence. Backward is twice the forward; a recomputed
 * forward adds the layers again (full) or the core attention's 4sh (selective).
 * For GPT with f = 4h and recomputation this is Narayanan et al. 2021's
 * 96 B s l h^2 (1 + s/6h + V/16lh).
 *
 * vector_params adds 2 FLOPs per token and pass for each bias and LayerNorm
 * parameter a token meets: then the count is the common "6 x parameters x tokens
 * + attention" rule (tools/bench_torch.py's), which `megac bench` reports. */
#ifndef MEGAC_FLOPS_H
#define MEGAC_FLOPS_H

#include "bert.h"
#include "gpt.h"
#include "transformer.h"

typedef struct model_flops_shape {
    int layers, hidden, ffn, seq; /* ffn: the MLP width; seq: the keys each query attends over */
    int vocab;                    /* the (padded) vocabulary: the LM head's width */
    double tokens;                /* rows through the layers */
    double head_rows;             /* rows through the LM / MLM head */
    int mlm_transform;            /* BERT: the MLM head's h x h dense layer */
    double sequences;             /* sequences through BERT's pooler and sentence head (0: none) */
    double vector_params;         /* bias and LayerNorm parameters per token (0: GEMMs only) */
} model_flops_shape_t;

/* passes: 1 forward only, 3 forward and backward (training) */
double model_flops(const model_flops_shape_t *s, int passes, tf_recompute_granularity_t recompute);

/* One micro-batch of B sequences of T tokens through the whole model (vocabulary
 * padded for one rank), as `megac bench` counts it: with the bias and LayerNorm
 * parameters, without recomputation. train: forward and backward, else forward. */
double gpt_flops_per_iteration(const gpt_config_t *c, int B, int T, int train);
/* BERT: M masked positions per sequence go through the MLM head and every sequence
 * through the sentence head when training; forward only counts the encoder. */
double bert_flops_per_iteration(const bert_config_t *c, int B, int T, int M, int train);

#endif
