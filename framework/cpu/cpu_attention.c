/* cpu_attention.c — multi-head and grouped-query scaled dot-product attention
 * on the CPU.
 *
 * For each (batch, query head h), with Q the head's [T, HS] slice of the fused
 * qkv rows and K, V those of its group's key/value head (backend.h: groups of
 * [q_1..q_R k v], R = NH/NG query heads per group; R = 1 is [q k v] per head):
 *   forward:  S = Q K^T / sqrt(HS); P = softmax(S) over allowed keys (causal and/or
 *             key mask); Pd = dropout(P); O = Pd V
 *   backward: dPd = dO V^T; dV += Pd^T dO; dP = dropout'(dPd);
 *             dS = P * (dP - rowsum(P * dP)); dQ += dS K / sqrt(HS); dK += dS^T Q / sqrt(HS)
 * Forward runs the (batch, head) pairs in parallel; backward the (batch, group)
 * pairs, the group's query heads in order (they add into the same dK, dV), so
 * results do not depend on the thread count. Each calls single-threaded sgemm. */
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "cpu_ops.h"

/* column of query head h's q in a qkv row, and of its group's k (v follows k) */
static inline size_t q_col(int h, int R, int HS) { return ((size_t)(h / R) * (R + 2) + h % R) * HS; }
static inline size_t k_col(int g, int R, int HS) { return ((size_t)g * (R + 2) + R) * HS; }

static inline int key_allowed(const attn_shape_t *s, int b, int t, int j) {
    if (s->causal && j > t) return 0;
    if (s->key_mask && s->key_mask[(size_t)b * s->T + j] == 0.0f) return 0;
    return 1;
}

/* dst = dropout(src) over elements [base, base+count) of the probability tensor;
 * one Philox call per four elements, the same mask as rng_keep(key, index). */
static void dropout_span(float *dst, const float *src, size_t count, size_t base, float drop,
                         rng_key_t key) {
    float scale = 1.0f / (1.0f - drop);
    uint32_t w[4];
    uint64_t have = UINT64_MAX;
    for (size_t i = 0; i < count; i++) {
        uint64_t idx = base + i;
        if ((idx >> 2) != have) {
            have = idx >> 2;
            rng_philox(key, have, w);
        }
        dst[i] = rng_uniform_from_u32(w[idx & 3]) >= drop ? src[i] * scale : 0.0f;
    }
}

void cpu_attention_forward(backend_t *be, float *out, float *probs, float *scratch,
                           const float *qkv, const attn_shape_t *s) {
    (void)be;
    const int B = s->B, T = s->T, NH = s->NH, HS = s->HS, R = NH / attn_groups(s);
    const int ld = attn_qkv_width(s), C = NH * HS;
    const float scale = 1.0f / sqrtf((float)HS);
    const size_t TT = (size_t)T * T;
#pragma omp parallel for schedule(static)
    for (int bh = 0; bh < B * NH; bh++) {
        int b = bh / NH, h = bh % NH;
        const float *row0 = qkv + (size_t)b * T * ld;
        const float *q = row0 + q_col(h, R, HS), *k = row0 + k_col(h / R, R, HS), *v = k + HS;
        float *p = probs + (size_t)bh * TT;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, HS, scale, q, ld, k, ld, 0.0f, p,
                    T);
        for (int t = 0; t < T; t++) {
            float *row = p + (size_t)t * T;
            float mx = -INFINITY;
            for (int j = 0; j < T; j++)
                if (key_allowed(s, b, t, j) && row[j] > mx) mx = row[j];
            if (mx == -INFINITY) { /* no key visible (padding query): attend to nothing */
                memset(row, 0, sizeof(float) * T);
                continue;
            }
            float sum = 0.0f;
            for (int j = 0; j < T; j++) {
                float e = key_allowed(s, b, t, j) ? expf(row[j] - mx) : 0.0f;
                row[j] = e;
                sum += e;
            }
            float inv = 1.0f / sum;
            for (int j = 0; j < T; j++) row[j] *= inv;
        }
        const float *pd = p;
        if (s->dropout > 0.0f) {
            float *d = scratch + (size_t)bh * TT;
            dropout_span(d, p, TT, (size_t)bh * TT, s->dropout, s->key);
            pd = d;
        }
        float *o = out + (size_t)b * T * C + (size_t)h * HS;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, HS, T, 1.0f, pd, T, v, ld, 0.0f,
                    o, C);
    }
}

void cpu_attention_backward(backend_t *be, float *dqkv, float *scratch, float *dscratch,
                            const float *dout, const float *qkv, const float *probs,
                            const attn_shape_t *s) {
    (void)be;
    const int B = s->B, T = s->T, NH = s->NH, HS = s->HS, NG = attn_groups(s), R = NH / NG;
    const int ld = attn_qkv_width(s), C = NH * HS;
    const float scale = 1.0f / sqrtf((float)HS);
    const size_t TT = (size_t)T * T;
    const float drop = s->dropout;
#pragma omp parallel for schedule(static)
    for (int bg = 0; bg < B * NG; bg++) {
        int b = bg / NG, g = bg % NG;
        for (int h = g * R; h < (g + 1) * R; h++) { /* the group's query heads, in order */
            int bh = b * NH + h;
            const float *row0 = qkv + (size_t)b * T * ld;
            const float *q = row0 + q_col(h, R, HS), *k = row0 + k_col(g, R, HS), *v = k + HS;
            float *drow0 = dqkv + (size_t)b * T * ld;
            float *dq = drow0 + q_col(h, R, HS), *dk = drow0 + k_col(g, R, HS), *dv = dk + HS;
            const float *p = probs + (size_t)bh * TT;
            const float *dO = dout + (size_t)b * T * C + (size_t)h * HS;
            const float *pd = p;
            if (drop > 0.0f) {
                float *d = scratch + (size_t)bh * TT;
                dropout_span(d, p, TT, (size_t)bh * TT, drop, s->key);
                pd = d;
            }
            float *dp = dscratch + (size_t)bh * TT;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, HS, 1.0f, dO, C, v, ld, 0.0f, dp,
                        T);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, HS, T, 1.0f, pd, T, dO, C, 1.0f, dv,
                        ld);
            for (int t = 0; t < T; t++) {
                float *drow = dp + (size_t)t * T;
                const float *prow = p + (size_t)t * T;
                if (drop > 0.0f) dropout_span(drow, drow, T, (size_t)bh * TT + (size_t)t * T, drop, s->key);
                float dot = 0.0f;
                for (int j = 0; j < T; j++) dot += prow[j] * drow[j];
                for (int j = 0; j < T; j++) drow[j] = prow[j] * (drow[j] - dot);
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, HS, T, scale, dp, T, k, ld, 1.0f,
                        dq, ld);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, HS, T, scale, dp, T, q, ld, 1.0f, dk,
                        ld);
        }
    }
}
