/* ref_ops.h — double-precision reference implementations of the forward ops,
 * written independently of the backends from the textbook formulas. Tests
 * compare the fp32 backends against them and take finite differences of them. */
#ifndef MEGAC_REF_OPS_H
#define MEGAC_REF_OPS_H

#include "framework/rng.h"

void ref_embedding(double *out, const int *tokens, const double *wte, int N, int C, int vstart, int vend);
void ref_position_add(double *out, const double *wpe, int B, int T, int C);
void ref_layernorm(double *out, const double *inp, const double *w, const double *b, int N, int C, double eps);
void ref_matmul(double *out, const double *inp, const double *w, const double *bias, int N, int IC, int OC);
void ref_attention(double *out, const double *qkv, int B, int T, int NH, int HS, int causal,
                   const float *key_mask, double dropout, rng_key_t key);
/* grouped-query attention over backend.h's qkv layout: NG groups of [q_1..q_{NH/NG} k v] */
void ref_attention_gqa(double *out, const double *qkv, int B, int T, int NH, int NG, int HS, int causal,
                       const float *key_mask, double dropout, rng_key_t key);
/* y = x / sqrt(mean(x^2) + eps) * w */
void ref_rmsnorm(double *out, const double *inp, const double *w, int N, int C, double eps);
/* rotary embedding of the q and k heads of qkv rows [B*T, (NH + 2*NG)*HS], in place:
 * rotate_half over the first rot_dim dims, theta_i = (pos_offset + t) * base^(-2i/rot_dim) */
void ref_rope(double *qkv, int B, int T, int NH, int NG, int HS, int rot_dim, double base, int pos_offset);
/* rows [gate(C) | up(C)] -> silu(gate) * up */
void ref_swiglu(double *out, const double *inp, int N, int C);
void ref_gelu(double *out, const double *inp, int n, int tanh_form);
void ref_dropout(double *x, int n, double p, rng_key_t key);
/* per-row loss over the valid columns [0, vocab) of full-vocabulary logits [N, V] */
void ref_xent(double *losses, const double *logits, const int *targets, int N, int V, int vocab);

#endif
