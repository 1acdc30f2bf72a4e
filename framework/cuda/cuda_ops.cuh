/* cuda_ops.cuh — the CUDA backend's op functions, shared by its source files
 * (the same families and signatures as framework/cpu/cpu_ops.h):
 * cuda_dense.cu (embeddings, LayerNorm, RMSNorm, linear), cuda_attention.cu,
 * cuda_flash_attention.cu (the fused attention), cuda_rope.cu (rotary position
 * embedding), cuda_elementwise.cu (GELU, SwiGLU, dropout, add, cross-entropy,
 * reductions, AdamW, casts). cuda_backend.cu assembles the table. */
#ifndef MEGAC_CUDA_OPS_CUH
#define MEGAC_CUDA_OPS_CUH

#include "cuda_common.cuh"

void cuda_embedding_forward(backend_t *be, float *out, const int *tokens, const float *wte, int N,
                            int C, int vstart, int vend);
void cuda_embedding_backward(backend_t *be, float *dwte, const float *dout, const int *tokens,
                             int N, int C, int vstart, int vend);
void cuda_position_forward(backend_t *be, float *out, const float *wpe, int B, int T, int C);
void cuda_position_backward(backend_t *be, float *dwpe, const float *dout, int B, int T, int C);
void cuda_layernorm_forward(backend_t *be, float *out, float *mean, float *rstd, const float *inp,
                            const float *w, const float *b, int N, int C, float eps);
void cuda_residual_layernorm_forward(backend_t *be, float *sum, float *out, float *mean, float *rstd,
                                     const float *a, const float *b, const float *w, const float *bias,
                                     int N, int C, float eps);
void cuda_layernorm_backward(backend_t *be, float *dinp, float *dw, float *db, const float *dout,
                             const float *inp, const float *w, const float *mean, const float *rstd,
                             int N, int C);
void cuda_rmsnorm_forward(backend_t *be, float *out, float *rstd, const float *inp, const float *w, int N, int C,
                          float eps);
void cuda_residual_rmsnorm_forward(backend_t *be, float *sum, float *out, float *rstd, const float *a, const float *b,
                                   const float *w, int N, int C, float eps);
void cuda_rmsnorm_backward(backend_t *be, float *dinp, float *dw, const float *dout, const float *inp, const float *w,
                           const float *rstd, int N, int C);
/* cuBLASLt (cuda_lt.cu): 1 once its handle and workspace exist (MEGAC_CUBLASLT=0: never) */
int cuda_lt_init(void);
/* out = inp @ w^T + bias in one cuBLASLt call; 0 when cuBLASLt cannot (the caller uses sgemm) */
int cuda_lt_matmul_bias(backend_t *be, float *out, const float *inp, const float *w, const float *bias, int N,
                        int IC, int OC);
void cuda_matmul_forward(backend_t *be, float *out, const float *inp, const float *w,
                         const float *bias, int N, int IC, int OC);
void cuda_matmul_backward(backend_t *be, float *dinp, float *dw, float *dbias, const float *dout,
                          const float *inp, const float *w, int N, int IC, int OC);

void cuda_attention_forward(backend_t *be, float *out, float *probs, float *scratch,
                            const float *qkv, const attn_shape_t *s);
void cuda_attention_backward(backend_t *be, float *dqkv, float *scratch, float *dscratch,
                             const float *dout, const float *qkv, const float *probs,
                             const attn_shape_t *s);
/* cuda_flash_attention.cu */
void cuda_flash_attention_forward(backend_t *be, float *out, float *lse, const float *qkv, const attn_shape_t *s);
void cuda_flash_attention_backward(backend_t *be, float *dqkv, const float *dout, const float *qkv, const float *out,
                                   const float *lse, const attn_shape_t *s);

/* cuda_rope.cu */
void cuda_rope_forward(backend_t *be, float *qkv, const rope_shape_t *s);
void cuda_rope_backward(backend_t *be, float *dqkv, const rope_shape_t *s);

void cuda_gelu_forward(backend_t *be, float *out, const float *inp, size_t n, int tanh_form);
void cuda_gelu_backward(backend_t *be, float *dinp, const float *inp, const float *dout, size_t n,
                        int tanh_form);
void cuda_swiglu_forward(backend_t *be, float *out, const float *inp, int N, int C);
void cuda_swiglu_backward(backend_t *be, float *dinp, const float *inp, const float *dout, int N, int C);
void cuda_tanh_forward(backend_t *be, float *out, const float *inp, size_t n);
void cuda_tanh_backward(backend_t *be, float *dinp, const float *out, const float *dout, size_t n);
void cuda_add(backend_t *be, float *out, const float *a, const float *b, size_t n);
void cuda_dropout_forward(backend_t *be, float *x, size_t n, float p, rng_key_t key);
void cuda_dropout_backward(backend_t *be, float *dinp, const float *dout, size_t n, float p,
                           rng_key_t key);
void cuda_axpy(backend_t *be, float *y, const float *x, size_t n, float alpha);
void cuda_xent_max(backend_t *be, float *rowmax, const float *logits, int N, int V, int vstart,
                   int vocab);
void cuda_xent_sumexp(backend_t *be, float *sumexp, float *tlogit, const float *logits,
                      const float *rowmax, const int *targets, int N, int V, int vstart, int vocab);
void cuda_xent_loss(backend_t *be, float *losses, const float *rowmax, const float *sumexp,
                    const float *tlogit, int N);
void cuda_xent_backward(backend_t *be, float *logits, const float *rowmax, const float *sumexp,
                        const int *targets, const float *dloss, int N, int V, int vstart,
                        int vocab);
double cuda_sumsq(backend_t *be, const float *x, size_t n);
double cuda_sum(backend_t *be, const float *x, size_t n);
void cuda_adamw(backend_t *be, float *p, const float *g, float *m, float *v, size_t n, float lr,
                float beta1, float beta2, float eps, float weight_decay, float bc1, float bc2,
                float grad_scale);
void cuda_lamb_moments(backend_t *be, const float *p, const float *g, float *m, float *v, float *u, size_t n,
                       float beta1, float beta2, float eps, float weight_decay, float bc1, float bc2,
                       float grad_scale);
void cuda_adamw_multi(backend_t *be, float *p, const float *g, float *m, float *v, size_t n,
                      const optim_segment_t *segs, int nseg, float lr, float beta1, float beta2, float eps,
                      float bc1, float bc2, float grad_scale);
void cuda_lamb_moments_multi(backend_t *be, const float *p, const float *g, float *m, float *v, float *u, size_t n,
                             const optim_segment_t *segs, int nseg, float beta1, float beta2, float eps, float bc1,
                             float bc2, float grad_scale);
int cuda_has_inf_nan(backend_t *be, const float *x, size_t n);
void cuda_cast_from_f32(backend_t *be, void *dst, dtype_t dst_type, const float *src, size_t n);
void cuda_round_to(backend_t *be, float *dst, const float *src, size_t n, dtype_t type);

#endif
