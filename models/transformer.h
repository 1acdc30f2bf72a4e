/* transformer.h — one transformer layer, forward and backward, shared by GPT and
 * BERT: self-attention and an MLP with residual connections, in either ordering:
 *   pre-LN  (GPT-2, Megatron BERT): x + drop(attn(LN1(x)));  then  m + drop(mlp(LN2(m)))
 *   post-LN (original BERT):        LN1(x + drop(attn(x)));  then  LN2(m + drop(mlp(m)))
 * Tensor parallel as Megatron's mpu, through parallel/tensor_parallel.h: QKV and
 * h->4h column-parallel (local heads and FFN slice), the attention projection and
 * 4h->h row-parallel (partial sums all-reduced over the TP group, biases added once
 * by TP rank 0); backward all-reduces the input gradients of the column-parallel
 * layers. So a layer costs two TP all-reduces forward and two backward.
 *
 * Activation recomputation (Megatron-LM's --recompute-granularity): a layer
 * stack (tf_stack_t) keeps what backward needs either per layer or, where the
 * setting recomputes it, in scratch shared by the layers; backward refills the
 * scratch by re-running the forward with the same dropout keys (and, under TP,
 * the same all-reduces), so the gradients are bitwise those of keeping it all.
 *
 * Flash attention (Megatron's --use-flash-attn, tf_ctx_t.use_flash_attn): the
 * backend's fused attention ops, which keep [B,NH,T] log-sum-exps instead of the
 * [B,NH,T,T] probabilities and need no [B,NH,T,T] workspaces. The same function
 * and dropout mask as the unfused ops (results equal to fp32 rounding). Selective
 * recomputation has nothing left to recompute then: flash + selective is flash. */
#ifndef MEGAC_TRANSFORMER_H
#define MEGAC_TRANSFORMER_H

#include "../framework/backend.h"
#include "../framework/rng.h"
#include "../framework/tensor.h"
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
    float *qkv, *atty, *probs;        /* probs [B,NH,T,T]; NULL with flash attention */
    float *lse;                       /* flash attention only: [B,NH,T] softmax log-sum-exp */
    float *mid;                       /* pre-LN: x + attn; post-LN: x + attn (LN1's input) */
    float *ln2, *ln2_mean, *ln2_rstd; /* pre-LN: LN2(mid); post-LN: unused (output = LN2(sum2)) */
    float *sum2;                      /* post-LN only: LN1(..) + mlp, LN2's input */
    float *fch, *fch_gelu;
} tf_layer_acts_t;

/* Activation recomputation, with Megatron-LM's meanings:
 *  selective: every layer keeps all but its core attention's [B, NH, T, T]
 *    probabilities; one shared buffer holds them in forward and backward
 *    recomputes each layer's from its kept qkv before the attention backward.
 *  full: only the inputs of checkpointed layers are kept; backward re-runs their
 *    forward into shared scratch, then runs their backward.
 *    uniform: groups of num_layers consecutive layers (the last group may be
 *      shorter); each keeps only its input, and num_layers scratch sets serve all.
 *    block: the first num_layers layers are recomputed one at a time from their
 *      own inputs; the rest keep everything. Their one scratch set is the last
 *      layer's activations when that layer is kept (dead by the time backward
 *      recomputes), so block N saves N layers' activations, like Megatron's. */
typedef enum tf_recompute_granularity {
    TF_RECOMPUTE_NONE = 0,
    TF_RECOMPUTE_SELECTIVE,
    TF_RECOMPUTE_FULL,
} tf_recompute_granularity_t;

typedef enum tf_recompute_method {
    TF_RECOMPUTE_UNIFORM = 0,
    TF_RECOMPUTE_BLOCK,
} tf_recompute_method_t;

typedef struct tf_recompute {
    tf_recompute_granularity_t granularity; /* zeroed: NONE */
    tf_recompute_method_t method;           /* full only */
    int num_layers;                         /* full only: group size (uniform), layers recomputed (block) */
} tf_recompute_t;

/* From Megatron's flags: --recompute-activations (alone it means selective),
 * --recompute-granularity full|selective, --recompute-method uniform|block,
 * --recompute-num-layers N. Pass NULL / 0 for a flag not given. Full needs a
 * method and N; selective takes neither. Fills err with a one-line message
 * naming the flag. */
int tf_recompute_parse(tf_recompute_t *r, int recompute_activations, const char *granularity,
                       const char *method, int num_layers, err_t *err);
/* Checks r against the model's layer count (N must be in 1..num_layers). */
int tf_recompute_validate(const tf_recompute_t *r, int num_layers, err_t *err);
/* "none", "selective", "full (uniform, 2 layers per group)", "full (block, first 1 layer)" */
void tf_recompute_describe(const tf_recompute_t *r, char *buf, size_t len);
/* Whether layer l of L is recomputed in full; [*first, *last) is its checkpoint group
 * (a single layer when it is not recomputed). */
int tf_recompute_group(const tf_recompute_t *r, int L, int l, int *first, int *last);

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
    int recompute_attention;          /* selective recomputation (tf_stack_backward sets it): probs
                                       * are shared scratch, refilled from qkv before the attention
                                       * backward */
    int use_flash_attn;               /* the fused attention ops: acts hold lse, not probs */
    /* workspaces: [B*T, C] tmp, dtmp, dln, dsum; [B*T, NH*HS] datty; [B*T, 3*NH*HS] dqkv;
     * [B*T, F] dfch, dfch_gelu; [B, NH, T, T] attn_scratch, attn_dscratch (NULL, and not
     * carved, with flash attention) */
    float *tmp, *dtmp, *dln, *dsum, *datty, *dqkv, *dfch, *dfch_gelu, *attn_scratch, *attn_dscratch;
} tf_ctx_t;

/* Dropout sites: 0 is the embeddings'; layer l uses 1+3l (attention
 * probabilities, a per-TP-rank stream), 2+3l and 3+3l (the two residual branches,
 * one stream for all TP ranks). Models may use sites above 3L+3 for heads. */
rng_key_t tf_dropout_key(uint64_t seed, uint32_t site, uint32_t tp_rank, uint32_t step);

/* out = layer(x); x and out are [B*T, C] and must differ. */
int tf_layer_forward(const tf_ctx_t *c, int l, const tf_layer_t *w, tf_layer_acts_t *a, const float *x,
                     float *out, err_t *err);
/* On entry dx holds d(loss)/d(out); on return d(loss)/d(x). Weight gradients
 * accumulate into g. */
int tf_layer_backward(const tf_ctx_t *c, int l, const tf_layer_t *w, tf_layer_t *g, tf_layer_acts_t *a,
                      const float *x, float *dx, err_t *err);

/* The L layers' kept activations under a recompute setting. resid[l] is layer
 * l's input and resid[L] the stack's output; acts[l] what layer l keeps. Layers
 * inside a full-recompute group point into shared scratch, which forward
 * overwrites group by group and backward refills. */
typedef struct tf_stack {
    int L;
    tf_recompute_t rc;
    float **resid;            /* L+1 */
    tf_layer_acts_t *acts;    /* L */
} tf_stack_t;

/* Host tables for L layers; 0 or -1 (out of host memory). */
int tf_stack_init(tf_stack_t *s, int L, const tf_recompute_t *rc);
void tf_stack_free(tf_stack_t *s);
/* Carves the stack's buffers for shape->B x shape->T rows (shape->C, NH, HS, F,
 * pre_ln and use_flash_attn give the rest) from ar; in measure mode (ar->base NULL) only counts.
 * -1 when the arena is too small. */
int tf_stack_carve(tf_stack_t *s, const tf_ctx_t *shape, arena_t *ar);
/* resid[L] = layers(resid[0]). */
int tf_stack_forward(const tf_ctx_t *c, tf_stack_t *s, const tf_layer_t *w, err_t *err);
/* On entry dx holds d(loss)/d(resid[L]); on return d(loss)/d(resid[0]). Weight
 * gradients accumulate into g; layer_done(ctx, l) (may be NULL) is called as soon
 * as layer l's gradients are final, layers L-1 down to 0. Re-runs the forward of
 * the groups recomputed in full (its output goes to c->dtmp: it is kept already). */
int tf_stack_backward(const tf_ctx_t *c, tf_stack_t *s, const tf_layer_t *w, tf_layer_t *g, float *dx,
                      void (*layer_done)(void *ctx, int l), void *ctx, err_t *err);

#endif
