/* backend.h — the one backend interface (a table of function pointers).
 *
 * The CPU backend (framework/cpu/) is the reference; the CUDA backend
 * (framework/cuda/) implements the same table and is tested against it.
 * Models call ops only through this table and never know the device.
 *
 * Conventions for every op:
 *  - pointers are device pointers of the backend; floats are fp32;
 *  - shapes are row-major; N = number of rows (batch * sequence);
 *  - forward ops WRITE their outputs;
 *  - backward ops ACCUMULATE (+=) into input gradients and parameter gradients,
 *    so a residual stream's gradient can be summed in place (llm.c's rule);
 *    the caller zeroes gradient buffers where a fresh value is wanted;
 *  - dropout masks come from rng_keep(key, element index) (framework/rng.h), so
 *    every backend drops the same elements;
 *  - reductions are deterministic: the same inputs give bitwise-identical
 *    outputs whatever the thread count.
 * Ops cannot fail individually; a device error is recorded and reported by sync().
 */
#ifndef MEGAC_BACKEND_H
#define MEGAC_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "rng.h"
#include "tensor.h"

typedef struct backend backend_t;

/* A run [begin, end) of a flat parameter block sharing one weight decay: the
 * multi-tensor optimizer ops take a sorted table of them (in backend memory). */
typedef struct optim_segment {
    uint64_t begin, end;
    float weight_decay;
    float pad_;
} optim_segment_t;

/* Attention shape and masking. The fused qkv rows follow Megatron-core's layout
 * [ng, (NH/ng + 2) * HS]: for each local query group g (ng = NG, or NH when NG is
 * 0), the group's R = NH/ng query heads, then its key head, then its value head:
 *   [q_{gR} .. q_{gR+R-1} k_g v_g], group g at columns g*(R+2)*HS,
 * so a row is (NH + 2*ng)*HS wide (attn_qkv_width). Query head h = g*R + r reads
 * key/value head g = h / R (grouped-query attention). With ng = NH (R = 1) this
 * is [q k v] per head (multi-head attention, GPT-2's layout). Under tensor
 * parallelism each rank holds whole groups (NH and NG are the local counts).
 * out, probs, lse and the dropout index stay per query head. */
typedef struct attn_shape {
    int B, T, NH, HS;       /* batch, sequence, local query heads, head size          */
    int causal;             /* 1: position t sees keys <= t                           */
    const float *key_mask;  /* optional [B, T] device array: 0 = key never attended  */
    float dropout;          /* attention-probability dropout                          */
    rng_key_t key;          /* dropout stream                                         */
    int NG;                 /* local query groups (key/value heads), dividing NH;
                             * 0 means NH (multi-head attention)                      */
} attn_shape_t;

/* key/value heads of an attention shape (NG, or NH when NG is 0) */
static inline int attn_groups(const attn_shape_t *s) { return s->NG > 0 ? s->NG : s->NH; }
/* floats in one qkv row: (NH + 2*groups) * HS */
static inline int attn_qkv_width(const attn_shape_t *s) { return (s->NH + 2 * attn_groups(s)) * s->HS; }

/* Rotary position embedding over a qkv buffer in the attention layout above
 * (Megatron-core / Hugging Face Llama convention, non-interleaved rotate_half).
 * For every query head and key head of row (b, t) at position p = pos_offset + t,
 * with half = rot_dim/2 and, for i < half, theta_i = p * base^(-2i/rot_dim)
 * (computed in fp32 in the op, as HF's inv_freq and freqs are):
 *   x'_i      = x_i cos theta_i - x_{i+half} sin theta_i
 *   x'_{i+half} = x_{i+half} cos theta_i + x_i sin theta_i
 * dimensions [rot_dim, HS) and the value heads pass through unchanged. */
typedef struct rope_shape {
    int B, T, NH, NG, HS;   /* as attn_shape_t (NG 0 = NH): local heads and groups    */
    int rot_dim;            /* rotated leading dims of each head: even, <= HS
                             * (rope_rot_dim: Megatron's --rotary-percent)            */
    float base;             /* --rotary-base (10000 for Llama-2, 500000 for Llama-3)  */
    int pos_offset;         /* row t is at position pos_offset + t (0 in training)     */
} rope_shape_t;

/* Megatron's rotary dim, int(HS * rotary_percent); the ops need it even and > 0,
 * so a model refuses a head size and percent that give an odd or zero value */
static inline int rope_rot_dim(int HS, double rotary_percent) {
    return rotary_percent >= 1.0 ? HS : (int)((double)HS * rotary_percent);
}

struct backend {
    const char *name;
    device_kind_t device;

    /* ---- memory ---- */
    int (*alloc)(backend_t *be, void **ptr, size_t bytes, err_t *err);
    void (*free)(backend_t *be, void *ptr);
    void (*memset_zero)(backend_t *be, void *ptr, size_t bytes);
    void (*copy_to_device)(backend_t *be, void *dst, const void *host_src, size_t bytes);
    void (*copy_to_host)(backend_t *be, void *host_dst, const void *src, size_t bytes);
    void (*copy)(backend_t *be, void *dst, const void *src, size_t bytes);
    /* waits for queued work; returns -1 with the first recorded device error */
    int (*sync)(backend_t *be, err_t *err);

    /* ---- embeddings ---- */
    /* out[n,:] = wte[tokens[n]-vstart,:] when vstart <= tokens[n] < vend, else 0 */
    void (*embedding_forward)(backend_t *be, float *out, const int *tokens, const float *wte,
                              int N, int C, int vstart, int vend);
    void (*embedding_backward)(backend_t *be, float *dwte, const float *dout, const int *tokens,
                               int N, int C, int vstart, int vend);
    /* out[b,t,:] += wpe[t,:] */
    void (*position_forward)(backend_t *be, float *out, const float *wpe, int B, int T, int C);
    void (*position_backward)(backend_t *be, float *dwpe, const float *dout, int B, int T, int C);

    /* ---- LayerNorm ---- */
    void (*layernorm_forward)(backend_t *be, float *out, float *mean, float *rstd, const float *inp,
                              const float *w, const float *b, int N, int C, float eps);
    /* the residual add fused with the LayerNorm after it: sum = a + b, then
     * out = LayerNorm(sum) (sum is kept: it is the next residual and LN's input) */
    void (*residual_layernorm_forward)(backend_t *be, float *sum, float *out, float *mean, float *rstd,
                                       const float *a, const float *b, const float *w, const float *bias,
                                       int N, int C, float eps);
    void (*layernorm_backward)(backend_t *be, float *dinp, float *dw, float *db, const float *dout,
                               const float *inp, const float *w, const float *mean,
                               const float *rstd, int N, int C);

    /* ---- RMSNorm (Llama / Megatron --normalization RMSNorm): weight, no bias ----
     * out = x * rstd * w with rstd = 1/sqrt(mean(x^2) + eps), statistics in fp32;
     * rstd[N] is kept for backward */
    void (*rmsnorm_forward)(backend_t *be, float *out, float *rstd, const float *inp, const float *w,
                            int N, int C, float eps);
    /* sum = a + b, then out = RMSNorm(sum) (as residual_layernorm_forward) */
    void (*residual_rmsnorm_forward)(backend_t *be, float *sum, float *out, float *rstd, const float *a,
                                     const float *b, const float *w, int N, int C, float eps);
    /* dinp += rstd * (w*dout - xhat * mean(w*dout*xhat)) with xhat = x*rstd;
     * dw += sum_n xhat * dout; NULL skips a term */
    void (*rmsnorm_backward)(backend_t *be, float *dinp, float *dw, const float *dout, const float *inp,
                             const float *w, const float *rstd, int N, int C);

    /* ---- linear: out[N,OC] = inp[N,IC] @ w[OC,IC]^T (+ bias[OC]) ---- */
    void (*matmul_forward)(backend_t *be, float *out, const float *inp, const float *w,
                           const float *bias, int N, int IC, int OC);
    /* dinp += dout @ w; dw += dout^T @ inp; dbias += colsum(dout); NULL skips a term */
    void (*matmul_backward)(backend_t *be, float *dinp, float *dw, float *dbias, const float *dout,
                            const float *inp, const float *w, int N, int IC, int OC);

    /* ---- attention ----
     * out[B,T,NH*HS]; probs[B,NH,T,T] keeps the softmax (before dropout) for backward;
     * scratch[B,NH,T,T] is workspace (the dropped probabilities). */
    void (*attention_forward)(backend_t *be, float *out, float *probs, float *scratch,
                              const float *qkv, const attn_shape_t *s);
    /* dqkv += ...; scratch and dscratch are [B,NH,T,T] workspaces */
    void (*attention_backward)(backend_t *be, float *dqkv, float *scratch, float *dscratch,
                               const float *dout, const float *qkv, const float *probs,
                               const attn_shape_t *s);
    /* Fused attention (Megatron's --use-flash-attn, flash-attention style): the same
     * out as attention_forward (same masking and the same dropout mask: element
     * (b, h, t, j) of the [B,NH,T,T] probabilities keeps rng_keep's index
     * ((b*NH + h)*T + t)*T + j), computed over key tiles with the online softmax, so
     * no [B,NH,T,T] tensor exists. lse[B,NH,T] gets each row's log-sum-exp of the
     * scaled scores over its allowed keys (max + log sum), the softmax's only state
     * kept for backward; -INFINITY for a row that sees no key (its out row is 0). */
    void (*flash_attention_forward)(backend_t *be, float *out, float *lse, const float *qkv,
                                    const attn_shape_t *s);
    /* dqkv += ...: the probabilities recomputed from q, k and lse, the dropout mask
     * from s->key, and rowsum(P * dP) as rowsum(dout * out) (out as forward wrote it) */
    void (*flash_attention_backward)(backend_t *be, float *dqkv, const float *dout, const float *qkv,
                                     const float *out, const float *lse, const attn_shape_t *s);

    /* ---- rotary position embedding (rope_shape_t), in place on [B*T, qkv width] ----
     * The two exceptions to the accumulate rule: forward rotates the q and k heads
     * of qkv in place (the attention ops then read the rotated buffer; the
     * unrotated values are never needed again); backward rotates dqkv's q and k
     * heads back (the transpose rotation, theta -> -theta) in place, turning the
     * attention's gradient into the gradient of the unrotated qkv. */
    void (*rope_forward)(backend_t *be, float *qkv, const rope_shape_t *s);
    void (*rope_backward)(backend_t *be, float *dqkv, const rope_shape_t *s);

    /* ---- elementwise ---- */
    /* tanh_form: 1 = GPT-2's tanh approximation, 0 = exact erf (BERT) */
    void (*gelu_forward)(backend_t *be, float *out, const float *inp, size_t n, int tanh_form);
    void (*gelu_backward)(backend_t *be, float *dinp, const float *inp, const float *dout, size_t n,
                          int tanh_form);
    /* SwiGLU (Megatron --swiglu): inp rows [gate(C) | up(C)] (the fc1 output of
     * one rank: its column-parallel halves, torch.chunk(2, dim=-1) in Megatron),
     * out[N,C] = silu(gate) * up with silu(x) = x * sigmoid(x) */
    void (*swiglu_forward)(backend_t *be, float *out, const float *inp, int N, int C);
    /* dgate += dout * up * silu'(gate); dup += dout * silu(gate), into dinp[N, 2C] */
    void (*swiglu_backward)(backend_t *be, float *dinp, const float *inp, const float *dout, int N, int C);
    /* out = tanh(inp); dinp += (1 - out^2) * dout (BERT's pooler) */
    void (*tanh_forward)(backend_t *be, float *out, const float *inp, size_t n);
    void (*tanh_backward)(backend_t *be, float *dinp, const float *out, const float *dout, size_t n);
    /* out = a + b */
    void (*add)(backend_t *be, float *out, const float *a, const float *b, size_t n);
    /* x[i] = keep(i) ? x[i]/(1-p) : 0, in place */
    void (*dropout_forward)(backend_t *be, float *x, size_t n, float p, rng_key_t key);
    /* dinp += keep(i) ? dout[i]/(1-p) : 0 */
    void (*dropout_backward)(backend_t *be, float *dinp, const float *dout, size_t n, float p,
                             rng_key_t key);
    /* y += alpha * x */
    void (*axpy)(backend_t *be, float *y, const float *x, size_t n, float alpha);

    /* ---- softmax cross-entropy over (possibly vocab-parallel) logits [N, V] ----
     * This rank holds vocabulary columns [vstart, vstart+V); columns whose global id
     * is >= vocab (padding) are ignored. The three passes let a TP model all-reduce
     * max, then sum and target logit between them (Megatron's cross_entropy.py). */
    void (*xent_max)(backend_t *be, float *rowmax, const float *logits, int N, int V, int vstart,
                     int vocab);
    /* sumexp[n] = sum_j exp(l[n,j] - rowmax[n]); tlogit[n] = l[n, target-vstart] or 0 */
    void (*xent_sumexp)(backend_t *be, float *sumexp, float *tlogit, const float *logits,
                        const float *rowmax, const int *targets, int N, int V, int vstart,
                        int vocab);
    /* losses[n] = log(sumexp[n]) + rowmax[n] - tlogit[n] */
    void (*xent_loss)(backend_t *be, float *losses, const float *rowmax, const float *sumexp,
                      const float *tlogit, int N);
    /* logits <- dloss[n] * (softmax - onehot(target)), in place (the logits are consumed) */
    void (*xent_backward)(backend_t *be, float *logits, const float *rowmax, const float *sumexp,
                          const int *targets, const float *dloss, int N, int V, int vstart,
                          int vocab);

    /* ---- reductions and optimizer ---- */
    /* sum of squares in double, deterministic (fixed blocking); result to host */
    double (*sumsq)(backend_t *be, const float *x, size_t n);
    /* sum of a vector in double, deterministic; result to host */
    double (*sum)(backend_t *be, const float *x, size_t n);
    /* AdamW (decoupled decay) on fp32 master params; g is multiplied by grad_scale
     * first (clipping and loss-scale removal). bc1 = 1-beta1^t, bc2 = 1-beta2^t. */
    void (*adamw)(backend_t *be, float *p, const float *g, float *m, float *v, size_t n, float lr,
                  float beta1, float beta2, float eps, float weight_decay, float bc1, float bc2,
                  float grad_scale);
    /* LAMB's first half: the Adam moments, then u = m^/(sqrt(v^)+eps) + wd*p written
     * to u (which may alias g); the caller scales u by the trust ratio and applies it */
    void (*lamb_moments)(backend_t *be, const float *p, const float *g, float *m, float *v, float *u,
                         size_t n, float beta1, float beta2, float eps, float weight_decay, float bc1,
                         float bc2, float grad_scale);
    /* adamw and lamb_moments over a whole block [0, n) in one pass (one launch on
     * a GPU): element i takes the weight decay of the segment holding it; segs
     * (backend memory, nseg entries, sorted) cover [0, n) */
    void (*adamw_multi)(backend_t *be, float *p, const float *g, float *m, float *v, size_t n,
                        const optim_segment_t *segs, int nseg, float lr, float beta1, float beta2, float eps,
                        float bc1, float bc2, float grad_scale);
    void (*lamb_moments_multi)(backend_t *be, const float *p, const float *g, float *m, float *v, float *u,
                               size_t n, const optim_segment_t *segs, int nseg, float beta1, float beta2,
                               float eps, float bc1, float bc2, float grad_scale);
    /* 1 when any element is inf or NaN (fp16 loss-scaling overflow check) */
    int (*has_inf_nan)(backend_t *be, const float *x, size_t n);
    /* dst (bf16 or f16 storage) = round(src) */
    void (*cast_from_f32)(backend_t *be, void *dst, dtype_t dst_type, const float *src, size_t n);
    /* dst = src rounded to the nearest `type` value (bf16 or f16; f32: a copy), kept in
     * fp32 storage; dst may alias src. What a model holding bf16/fp16 tensors sees:
     * the mixed-precision bookkeeping rounds weights and fp16 gradients with it. */
    void (*round_to)(backend_t *be, float *dst, const float *src, size_t n, dtype_t type);

    void *impl; /* backend-private state */
};

/* Backends compiled into this build. */
backend_t *backend_cpu(void);
/* NULL when megac was built without CUDA; otherwise the CUDA backend (which may
 * still fail in its init if no GPU is present). */
backend_t *backend_cuda(err_t *err);

/* "cpu", "cuda", or "auto" (or NULL): CUDA when megac was built with it and a
 * GPU is present, else the CPU. An unknown or unavailable name fills err. */
backend_t *backend_by_name(const char *name, err_t *err);

#endif
