/* cpu_ops.h — the CPU backend's op functions, shared by its source files.
 * Each file implements one family: cpu_dense.c (embeddings, LayerNorm, RMSNorm,
 * linear), cpu_attention.c, cpu_flash_attention.c (the fused attention),
 * cpu_rope.c (rotary position embedding), cpu_elementwise.c (GELU, SwiGLU,
 * dropout, add, cross-entropy, reductions, AdamW, casts). cpu_backend.c
 * assembles the table. */
#ifndef MEGAC_CPU_OPS_H
#define MEGAC_CPU_OPS_H

#include "../backend.h"

/* Work split: blocks of a fixed size, independent of the thread count. */
#define CPU_REDUCE_BLOCK 16384
#define CPU_COL_BLOCK 64

void cpu_embedding_forward(backend_t *be, float *out, const int *tokens, const float *wte, int N,
                           int C, int vstart, int vend);
void cpu_embedding_backward(backend_t *be, float *dwte, const float *dout, const int *tokens, int N,
                            int C, int vstart, int vend);
void cpu_position_forward(backend_t *be, float *out, const float *wpe, int B, int T, int C);
void cpu_position_backward(backend_t *be, float *dwpe, const float *dout, int B, int T, int C);
void cpu_layernorm_forward(backend_t *be, float *out, float *mean, float *rstd, const float *inp,
                           const float *w, const float *b, int N, int C, float eps);
void cpu_residual_layernorm_forward(backend_t *be, float *sum, float *out, float *mean, float *rstd, const float *a,
                                    const float *b, const float *w, const float *bias, int N, int C, float eps);
void cpu_layernorm_backward(backend_t *be, float *dinp, float *dw, float *db, const float *dout,
                            const float *inp, const float *w, const float *mean, const float *rstd,
                            int N, int C);
void cpu_rmsnorm_forward(backend_t *be, float *out, float *rstd, const float *inp, const float *w, int N, int C,
                         float eps);
void cpu_residual_rmsnorm_forward(backend_t *be, float *sum, float *out, float *rstd, const float *a, const float *b,
                                  const float *w, int N, int C, float eps);
void cpu_rmsnorm_backward(backend_t *be, float *dinp, float *dw, const float *dout, const float *inp, const float *w,
                          const float *rstd, int N, int C);
void cpu_matmul_forward(backend_t *be, float *out, const float *inp, const float *w,
                        const float *bias, int N, int IC, int OC);
void cpu_matmul_backward(backend_t *be, float *dinp, float *dw, float *dbias, const float *dout,
                         const float *inp, const float *w, int N, int IC, int OC);

void cpu_attention_forward(backend_t *be, float *out, float *probs, float *scratch,
                           const float *qkv, const attn_shape_t *s);
void cpu_attention_backward(backend_t *be, float *dqkv, float *scratch, float *dscratch,
                            const float *dout, const float *qkv, const float *probs,
                            const attn_shape_t *s);
void cpu_flash_attention_forward(backend_t *be, float *out, float *lse, const float *qkv,
                                 const attn_shape_t *s);
void cpu_flash_attention_backward(backend_t *be, float *dqkv, const float *dout, const float *qkv,
                                  const float *out, const float *lse, const attn_shape_t *s);

/* cpu_rope.c */
void cpu_rope_forward(backend_t *be, float *qkv, const rope_shape_t *s);
void cpu_rope_backward(backend_t *be, float *dqkv, const rope_shape_t *s);

void cpu_gelu_forward(backend_t *be, float *out, const float *inp, size_t n, int tanh_form);
void cpu_gelu_backward(backend_t *be, float *dinp, const float *inp, const float *dout, size_t n,
                       int tanh_form);
void cpu_swiglu_forward(backend_t *be, float *out, const float *inp, int N, int C);
void cpu_swiglu_backward(backend_t *be, float *dinp, const float *inp, const float *dout, int N, int C);
void cpu_tanh_forward(backend_t *be, float *out, const float *inp, size_t n);
void cpu_tanh_backward(backend_t *be, float *dinp, const float *out, const float *dout, size_t n);
void cpu_add(backend_t *be, float *out, const float *a, const float *b, size_t n);
void cpu_dropout_forward(backend_t *be, float *x, size_t n, float p, rng_key_t key);
void cpu_dropout_backward(backend_t *be, float *dinp, const float *dout, size_t n, float p,
                          rng_key_t key);
void cpu_axpy(backend_t *be, float *y, const float *x, size_t n, float alpha);
void cpu_xent_max(backend_t *be, float *rowmax, const float *logits, int N, int V, int vstart,
                  int vocab);
void cpu_xent_sumexp(backend_t *be, float *sumexp, float *tlogit, const float *logits,
                     const float *rowmax, const int *targets, int N, int V, int vstart, int vocab);
void cpu_xent_loss(backend_t *be, float *losses, const float *rowmax, const float *sumexp,
                   const float *tlogit, int N);
void cpu_xent_backward(backend_t *be, float *logits, const float *rowmax, const float *sumexp,
                       const int *targets, const float *dloss, int N, int V, int vstart, int vocab);
double cpu_sumsq(backend_t *be, const float *x, size_t n);
double cpu_sum(backend_t *be, const float *x, size_t n);
void cpu_adamw(backend_t *be, float *p, const float *g, float *m, float *v, size_t n, float lr,
               float beta1, float beta2, float eps, float weight_decay, float bc1, float bc2,
               float grad_scale);
void cpu_lamb_moments(backend_t *be, const float *p, const float *g, float *m, float *v, float *u, size_t n,
                      float beta1, float beta2, float eps, float weight_decay, float bc1, float bc2,
                      float grad_scale);
void cpu_adamw_multi(backend_t *be, float *p, const float *g, float *m, float *v, size_t n,
                     const optim_segment_t *segs, int nseg, float lr, float beta1, float beta2, float eps, float bc1,
                     float bc2, float grad_scale);
void cpu_lamb_moments_multi(backend_t *be, const float *p, const float *g, float *m, float *v, float *u, size_t n,
                            const optim_segment_t *segs, int nseg, float beta1, float beta2, float eps, float bc1,
                            float bc2, float grad_scale);
int cpu_has_inf_nan(backend_t *be, const float *x, size_t n);
void cpu_cast_from_f32(backend_t *be, void *dst, dtype_t dst_type, const float *src, size_t n);
void cpu_round_to(backend_t *be, float *dst, const float *src, size_t n, dtype_t type);

#endif
