/* transformer.h — one transformer layer, forward and backward, shared by GPT and
 * BERT: self-attention and an MLP with residual connections, in either ordering:
 *   pre-LN  (GPT-2, Megatron BERT): x + drop(attn(LN1(x)));  then  m + drop(mlp(LN2(m)))
 *   post-LN (original BERT):        LN1(x + drop(attn(x)));  then  LN2(m + drop(mlp(m)))
 * Tensor parallel as Megatron's mpu: QKV and h->4h column-parallel (local heads and
 * FFN slice), the attention projection and 4h->h row-parallel (partial sums
 * all-reduced over the TP group, biases added once by TP rank 0); backward
 * all-reduces the input gradients of the column-parallel layers. So a layer costs
 * two TP all-reduces forward and two backward. */
#ifndef MEGAC_TRANSFORMER_H
#define MEGAC_TRANSFORMER_H

#include "../framework/backend.h"
#include "../framework/rng.h"
#include "../parallel/comm.h"

/* How a model is split: the tensor-parallel group (NULL: one rank) and the
 * multiple the flat parameter/gradient blocks are padded to (the DP size under
 * ZeRO-1, so they reduce-scatter evenly; 1 otherwise). */
typedef struct model_parallel {
    comm_t *tp;
    int param_pad;
} model_parallel_t;

/* Called during backward when parameters [first, last] have their final
 * gradients (data-parallel reduction starts its buckets from it). */
typedef void (*model_grad_ready_fn)(void *ctx, int first, int last);

/* A layer's weights (this rank's shards) — or their gradients. */
typedef struct tf_layer {
    float *ln1_w, *ln1_b;
    float *qkv_w, *qkv_b;       /* [3C_local, C], [3C_local]          */
    float *proj_w, *proj_b;     /* [C, C_local], [C]                  */
    float *ln2_w, *ln2_b;
    float *fc_w, *fc_b;         /* [F_local, C], [F_local]            */
    float *fcproj_w, *fcproj_b; /* [C, F_local], [C]                  */
} tf_layer_t;

/* What a layer keeps from forward for backward ([B*T, ...] rows). */
typedef struct tf_layer_acts {
    float *ln1, *ln1_mean, *ln1_rstd; /* pre-LN: LN1(x); post-LN: LN1(x + attn) */
    float *qkv, *atty, *probs;
    float *mid;                       /* pre-LN: x + attn; post-LN: x + attn (LN1's input) */
    float *ln2, *ln2_mean, *ln2_rstd; /* pre-LN: LN2(mid); post-LN: unused (output = LN2(sum2)) */
    float *sum2;                      /* post-LN only: LN1(..) + mlp, LN2's input */
    float *fch, *fch_gelu;
} tf_layer_acts_t;

/* Shapes, parallel context, numerics and the workspaces all layers share. */
typedef struct tf_ctx {
    backend_t *be;
    comm_t *tp;                       /* NULL or size 1: no tensor parallelism */
    int tp_rank;
    int B, T, C, NH, HS, F;           /* NH and F are this rank's heads and FFN slice */
    int pre_ln, causal, gelu_tanh;
    const float *key_mask;            /* [B, T] device array or NULL (padding mask) */
    float eps, hidden_dropout, attention_dropout; /* 0 when not training */
    uint64_t seed;
    uint32_t step;                    /* dropout stream position (the micro-step) */
    /* workspaces: [B*T, C] tmp, dtmp, dln, dsum; [B*T, NH*HS] datty; [B*T, 3*NH*HS] dqkv;
     * [B*T, F] dfch, dfch_gelu; [B, NH, T, T] attn_scratch, attn_dscratch */
    float *tmp, *dtmp, *dln, *dsum, *datty, *dqkv, *dfch, *dfch_gelu, *attn_scratch, *attn_dscratch;
} tf_ctx_t;

/* Dropout sites: 0 is the embeddings'; layer l uses 1+3l (attention
 * probabilities, a per-TP-rank stream), 2+3l and 3+3l (the two residual branches,
 * one stream for all TP ranks). Models may use sites above 3L+3 for heads. */
rng_key_t tf_dropout_key(uint64_t seed, uint32_t site, uint32_t tp_rank, uint32_t step);

/* all-reduce over the TP group (a no-op without one) */
int tf_tp_reduce(const tf_ctx_t *c, float *buf, size_t n, comm_op_t op, err_t *err);

/* out = layer(x); x and out are [B*T, C] and must differ. */
int tf_layer_forward(const tf_ctx_t *c, int l, const tf_layer_t *w, tf_layer_acts_t *a, const float *x,
                     float *out, err_t *err);
/* On entry dx holds d(loss)/d(out); on return d(loss)/d(x). Weight gradients
 * accumulate into g. */
int tf_layer_backward(const tf_ctx_t *c, int l, const tf_layer_t *w, tf_layer_t *g, tf_layer_acts_t *a,
                      const float *x, float *dx, err_t *err);

#endif
