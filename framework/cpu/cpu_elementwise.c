/* cpu_elementwise.c — GELU, SwiGLU, dropout, add/axpy, softmax cross-entropy passes,
 * deterministic reductions, AdamW and precision casts on the CPU. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "cpu_ops.h"

#define GELU_K 0.7978845608028654f /* sqrt(2/pi) */

void cpu_gelu_forward(backend_t *be, float *out, const float *inp, size_t n, int tanh_form) {
    (void)be;
    if (tanh_form) {
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++) {
            float x = inp[i];
            out[i] = 0.5f * x * (1.0f + tanhf(GELU_K * (x + 0.044715f * x * x * x)));
        }
    } else {
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++) {
            float x = inp[i];
            out[i] = 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
        }
    }
}

void cpu_gelu_backward(backend_t *be, float *dinp, const float *inp, const float *dout, size_t n,
                       int tanh_form) {
    (void)be;
    if (tanh_form) {
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++) {
            float x = inp[i];
            float u = GELU_K * (x + 0.044715f * x * x * x);
            float th = tanhf(u);
            float sech2 = 1.0f - th * th;
            float du = GELU_K * (1.0f + 3.0f * 0.044715f * x * x);
            dinp[i] += (0.5f * (1.0f + th) + 0.5f * x * sech2 * du) * dout[i];
        }
    } else {
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++) {
            float x = inp[i];
            float cdf = 0.5f * (1.0f + erff(x * 0.70710678118654752f));
            float pdf = 0.3989422804014327f * expf(-0.5f * x * x);
            dinp[i] += (cdf + x * pdf) * dout[i];
        }
    }
}

/* SwiGLU over rows [gate(C) | up(C)]: out = silu(gate) * up, silu(x) = x * sigmoid(x);
 * silu'(x) = sigmoid(x) * (1 + x * (1 - sigmoid(x))) */
void cpu_swiglu_forward(backend_t *be, float *out, const float *inp, int N, int C) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *gate = inp + (size_t)n * 2 * C, *up = gate + C;
        float *o = out + (size_t)n * C;
        for (int c = 0; c < C; c++) {
            float x = gate[c], sig = 1.0f / (1.0f + expf(-x));
            o[c] = x * sig * up[c];
        }
    }
}

void cpu_swiglu_backward(backend_t *be, float *dinp, const float *inp, const float *dout, int N, int C) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *gate = inp + (size_t)n * 2 * C, *up = gate + C, *g = dout + (size_t)n * C;
        float *dgate = dinp + (size_t)n * 2 * C, *dup = dgate + C;
        for (int c = 0; c < C; c++) {
            float x = gate[c], sig = 1.0f / (1.0f + expf(-x));
            dgate[c] += g[c] * up[c] * sig * (1.0f + x * (1.0f - sig));
            dup[c] += g[c] * x * sig;
        }
    }
}

void cpu_tanh_forward(backend_t *be, float *out, const float *inp, size_t n) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) out[i] = tanhf(inp[i]);
}

void cpu_tanh_backward(backend_t *be, float *dinp, const float *out, const float *dout, size_t n) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) dinp[i] += (1.0f - out[i] * out[i]) * dout[i];
}

void cpu_add(backend_t *be, float *out, const float *a, const float *b, size_t n) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

void cpu_axpy(backend_t *be, float *y, const float *x, size_t n, float alpha) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) y[i] += alpha * x[i];
}

/* Dropout works in blocks of four elements, one Philox call each. */
void cpu_dropout_forward(backend_t *be, float *x, size_t n, float p, rng_key_t key) {
    (void)be;
    if (p <= 0.0f) return;
    float scale = 1.0f / (1.0f - p);
    size_t nb = (n + 3) / 4;
#pragma omp parallel for schedule(static)
    for (size_t blk = 0; blk < nb; blk++) {
        uint32_t w[4];
        rng_philox(key, blk, w);
        for (size_t l = 0; l < 4 && blk * 4 + l < n; l++) {
            size_t i = blk * 4 + l;
            x[i] = rng_uniform_from_u32(w[l]) >= p ? x[i] * scale : 0.0f;
        }
    }
}

void cpu_dropout_backward(backend_t *be, float *dinp, const float *dout, size_t n, float p,
                          rng_key_t key) {
    (void)be;
    if (p <= 0.0f) {
        cpu_axpy(be, dinp, dout, n, 1.0f);
        return;
    }
    float scale = 1.0f / (1.0f - p);
    size_t nb = (n + 3) / 4;
#pragma omp parallel for schedule(static)
    for (size_t blk = 0; blk < nb; blk++) {
        uint32_t w[4];
        rng_philox(key, blk, w);
        for (size_t l = 0; l < 4 && blk * 4 + l < n; l++) {
            size_t i = blk * 4 + l;
            if (rng_uniform_from_u32(w[l]) >= p) dinp[i] += dout[i] * scale;
        }
    }
}

/* number of valid (non-padding) columns of this rank's vocabulary slice */
static inline int valid_cols(int V, int vstart, int vocab) {
    int v = vocab - vstart;
    return v < 0 ? 0 : (v > V ? V : v);
}

void cpu_xent_max(backend_t *be, float *rowmax, const float *logits, int N, int V, int vstart,
                  int vocab) {
    (void)be;
    int nv = valid_cols(V, vstart, vocab);
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *l = logits + (size_t)n * V;
        float m = -INFINITY;
        for (int j = 0; j < nv; j++) m = l[j] > m ? l[j] : m;
        rowmax[n] = m;
    }
}

void cpu_xent_sumexp(backend_t *be, float *sumexp, float *tlogit, const float *logits,
                     const float *rowmax, const int *targets, int N, int V, int vstart, int vocab) {
    (void)be;
    int nv = valid_cols(V, vstart, vocab);
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *l = logits + (size_t)n * V;
        /* accumulated in double: with a 50k vocabulary and nearly equal logits a float sum
         * grows to ~5e4 and drops the low bits of every later term (the loss came out 5.6e-5
         * low); the double sum rounds once, to float, at the end */
        float m = rowmax[n];
        double s = 0.0;
        for (int j = 0; j < nv; j++) s += (double)expf(l[j] - m);
        sumexp[n] = (float)s;
        int t = targets[n] - vstart;
        tlogit[n] = (t >= 0 && t < nv) ? l[t] : 0.0f;
    }
}

void cpu_xent_loss(backend_t *be, float *losses, const float *rowmax, const float *sumexp,
                   const float *tlogit, int N) {
    (void)be;
    for (int n = 0; n < N; n++) losses[n] = logf(sumexp[n]) + rowmax[n] - tlogit[n];
}

void cpu_xent_backward(backend_t *be, float *logits, const float *rowmax, const float *sumexp,
                       const int *targets, const float *dloss, int N, int V, int vstart, int vocab) {
    (void)be;
    int nv = valid_cols(V, vstart, vocab);
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        float *l = logits + (size_t)n * V;
        float m = rowmax[n], inv = 1.0f / sumexp[n], g = dloss[n];
        int t = targets[n] - vstart;
        for (int j = 0; j < nv; j++) {
            float p = expf(l[j] - m) * inv;
            l[j] = (p - (j == t ? 1.0f : 0.0f)) * g;
        }
        for (int j = nv; j < V; j++) l[j] = 0.0f;
    }
}

/* Deterministic reductions: fixed blocks summed in double, partials added in
 * order. Groups of blocks bound the stack space. */
#define REDUCE_GROUP 256

static double reduce(const float *x, size_t n, int square) {
    size_t nblk = (n + CPU_REDUCE_BLOCK - 1) / CPU_REDUCE_BLOCK;
    double total = 0.0;
    for (size_t g0 = 0; g0 < nblk; g0 += REDUCE_GROUP) {
        size_t gn = nblk - g0 < REDUCE_GROUP ? nblk - g0 : REDUCE_GROUP;
        double part[REDUCE_GROUP];
#pragma omp parallel for schedule(static)
        for (size_t bi = 0; bi < gn; bi++) {
            size_t i0 = (g0 + bi) * CPU_REDUCE_BLOCK;
            size_t i1 = i0 + CPU_REDUCE_BLOCK < n ? i0 + CPU_REDUCE_BLOCK : n;
            double acc = 0.0;
            if (square)
                for (size_t i = i0; i < i1; i++) acc += (double)x[i] * x[i];
            else
                for (size_t i = i0; i < i1; i++) acc += x[i];
            part[bi] = acc;
        }
        for (size_t bi = 0; bi < gn; bi++) total += part[bi];
    }
    return total;
}

double cpu_sumsq(backend_t *be, const float *x, size_t n) {
    (void)be;
    return reduce(x, n, 1);
}

double cpu_sum(backend_t *be, const float *x, size_t n) {
    (void)be;
    return reduce(x, n, 0);
}

/* Adam's moment update at one element, returning the decoupled-decay update
 * direction m^/(sqrt(v^)+eps) + wd*p (AdamW applies it, LAMB scales it first) */
static inline float adam_direction(float p, float g, float *m, float *v, float beta1, float beta2, float eps,
                                   float weight_decay, float bc1, float bc2) {
    float mi = beta1 * *m + (1.0f - beta1) * g;
    float vi = beta2 * *v + (1.0f - beta2) * g * g;
    *m = mi;
    *v = vi;
    return (mi / bc1) / (sqrtf(vi / bc2) + eps) + weight_decay * p;
}

void cpu_adamw(backend_t *be, float *p, const float *g, float *m, float *v, size_t n, float lr,
               float beta1, float beta2, float eps, float weight_decay, float bc1, float bc2,
               float grad_scale) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++)
        p[i] -= lr * adam_direction(p[i], g[i] * grad_scale, &m[i], &v[i], beta1, beta2, eps, weight_decay, bc1, bc2);
}

void cpu_lamb_moments(backend_t *be, const float *p, const float *g, float *m, float *v, float *u, size_t n,
                      float beta1, float beta2, float eps, float weight_decay, float bc1, float bc2,
                      float grad_scale) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++)
        u[i] = adam_direction(p[i], g[i] * grad_scale, &m[i], &v[i], beta1, beta2, eps, weight_decay, bc1, bc2);
}

void cpu_adamw_multi(backend_t *be, float *p, const float *g, float *m, float *v, size_t n,
                     const optim_segment_t *segs, int nseg, float lr, float beta1, float beta2, float eps, float bc1,
                     float bc2, float grad_scale) {
    (void)n;
    for (int s = 0; s < nseg; s++) {
        size_t a = (size_t)segs[s].begin;
        cpu_adamw(be, p + a, g + a, m + a, v + a, (size_t)segs[s].end - a, lr, beta1, beta2, eps,
                  segs[s].weight_decay, bc1, bc2, grad_scale);
    }
}

void cpu_lamb_moments_multi(backend_t *be, const float *p, const float *g, float *m, float *v, float *u, size_t n,
                            const optim_segment_t *segs, int nseg, float beta1, float beta2, float eps, float bc1,
                            float bc2, float grad_scale) {
    (void)n;
    for (int s = 0; s < nseg; s++) {
        size_t a = (size_t)segs[s].begin;
        cpu_lamb_moments(be, p + a, g + a, m + a, v + a, u + a, (size_t)segs[s].end - a, beta1, beta2, eps,
                         segs[s].weight_decay, bc1, bc2, grad_scale);
    }
}

int cpu_has_inf_nan(backend_t *be, const float *x, size_t n) {
    (void)be;
    int bad = 0;
#pragma omp parallel for schedule(static) reduction(| : bad)
    for (size_t i = 0; i < n; i++) bad |= !isfinite(x[i]);
    return bad;
}

void cpu_cast_from_f32(backend_t *be, void *dst, dtype_t dst_type, const float *src, size_t n) {
    (void)be;
    uint16_t *d = dst;
    if (dst_type == DTYPE_BF16) {
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++) d[i] = f32_to_bf16(src[i]);
    } else if (dst_type == DTYPE_F16) {
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++) d[i] = f32_to_f16(src[i]);
    } else if (dst_type == DTYPE_F32) {
        memcpy(dst, src, n * sizeof(float));
    }
}

void cpu_round_to(backend_t *be, float *dst, const float *src, size_t n, dtype_t type) {
    (void)be;
    if (type == DTYPE_BF16) {
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++) dst[i] = bf16_to_f32(f32_to_bf16(src[i]));
    } else if (type == DTYPE_F16) {
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++) dst[i] = f16_to_f32(f32_to_f16(src[i]));
    } else if (dst != src) {
        memmove(dst, src, n * sizeof(float));
    }
}
