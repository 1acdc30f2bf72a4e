/* cpu_flash_attention.c — fused ("flash") attention on the CPU: the reference for
 * the CUDA kernels of cuda_flash_attention.cu.
 *
 * The same function as cpu_attention.c without the [B,NH,T,T] probabilities. For
 * each (batch, head) and query row t, with s_j = q_t . k_j / sqrt(HS) over the
 * allowed keys j:
 *   forward:  keys in tiles of FLASH_TILE with the online softmax: a running max
 *             m, a running sum l = sum_j exp(s_j - m) and a running output
 *             o = sum_j keep_j/(1-p) exp(s_j - m) v_j, both rescaled by
 *             exp(m_old - m_new) when a tile raises the max; out_t = o / l and
 *             lse_t = m + log(l).
 *   backward: P_tj = exp(s_j - lse_t) again; dP_tj = keep_tj/(1-p) dout_t . v_j;
 *             rowsum(P * dP) = dout_t . out_t (= D_t, as out_t = sum_j Pd_tj v_j);
 *             dS = P (dP - D); dq_t += dS k / sqrt(HS); dk_j += dS q_t / sqrt(HS);
 *             dv_j += Pd_tj dout_t.
 * With grouped-query attention (backend.h's layout) query head h reads the
 * k and v of its group h / (NH/NG); dk and dv sum over the group's heads.
 * The dropout index of (b, h, t, j) is attention_forward's, ((b*NH + h)*T + t)*T + j,
 * so both ops drop the same probabilities. Forward runs the (batch, head) pairs
 * in parallel, backward the (batch, group) pairs with the group's heads in
 * order, each in a fixed order, so results do not depend on the thread count. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "cpu_ops.h"

#define FLASH_TILE 64

/* column of query head h's q in a qkv row, and of its group's k (v follows k) */
static inline size_t q_col(int h, int R, int HS) { return ((size_t)(h / R) * (R + 2) + h % R) * HS; }
static inline size_t k_col(int g, int R, int HS) { return ((size_t)g * (R + 2) + R) * HS; }

static inline int key_allowed(const attn_shape_t *s, int b, int t, int j) {
    if (s->causal && j > t) return 0;
    if (s->key_mask && s->key_mask[(size_t)b * s->T + j] == 0.0f) return 0;
    return 1;
}

/* rng_keep(key, idx, p) with the last Philox block cached (consecutive indices
 * share one call per four elements) */
typedef struct keep_cache {
    uint64_t block;
    uint32_t w[4];
} keep_cache_t;

static inline int keep_at(keep_cache_t *c, rng_key_t key, uint64_t idx, float p) {
    if ((idx >> 2) != c->block) {
        c->block = idx >> 2;
        rng_philox(key, c->block, c->w);
    }
    return rng_uniform_from_u32(c->w[idx & 3]) >= p;
}

static inline float dot(const float *a, const float *b, int n) {
    float s = 0.0f;
    for (int d = 0; d < n; d++) s += a[d] * b[d];
    return s;
}

void cpu_flash_attention_forward(backend_t *be, float *out, float *lse, const float *qkv,
                                 const attn_shape_t *s) {
    (void)be;
    const int B = s->B, T = s->T, NH = s->NH, HS = s->HS, R = NH / attn_groups(s);
    const int ld = attn_qkv_width(s), C = NH * HS;
    const float scale = 1.0f / sqrtf((float)HS), drop = s->dropout;
    const float dscale = drop > 0.0f ? 1.0f / (1.0f - drop) : 1.0f;
#pragma omp parallel for schedule(static)
    for (int bh = 0; bh < B * NH; bh++) {
        int b = bh / NH, h = bh % NH;
        const float *q0 = qkv + (size_t)b * T * ld + q_col(h, R, HS);
        const float *k0 = qkv + (size_t)b * T * ld + k_col(h / R, R, HS); /* v at k0 + HS */
        keep_cache_t kc = {UINT64_MAX, {0}};
        for (int t = 0; t < T; t++) {
            const float *q = q0 + (size_t)t * ld;
            float *o = out + ((size_t)b * T + t) * C + (size_t)h * HS; /* the running output */
            uint64_t row = ((uint64_t)bh * T + t) * T;
            int jend = s->causal ? t + 1 : T;
            float m = -INFINITY, l = 0.0f, sc[FLASH_TILE];
            memset(o, 0, sizeof(float) * HS);
            for (int j0 = 0; j0 < jend; j0 += FLASH_TILE) {
                int jn = jend - j0 < FLASH_TILE ? jend - j0 : FLASH_TILE;
                float tmax = -INFINITY;
                for (int jj = 0; jj < jn; jj++) {
                    int j = j0 + jj;
                    sc[jj] = key_allowed(s, b, t, j) ? scale * dot(q, k0 + (size_t)j * ld, HS) : -INFINITY;
                    if (sc[jj] > tmax) tmax = sc[jj];
                }
                if (tmax == -INFINITY) continue; /* no allowed key in this tile */
                float mnew = tmax > m ? tmax : m;
                float corr = expf(m - mnew); /* 0 while m is -inf */
                l *= corr;
                for (int d = 0; d < HS; d++) o[d] *= corr;
                for (int jj = 0; jj < jn; jj++) {
                    if (sc[jj] == -INFINITY) continue;
                    int j = j0 + jj;
                    float e = expf(sc[jj] - mnew);
                    l += e;
                    if (drop > 0.0f && !keep_at(&kc, s->key, row + (uint64_t)j, drop)) continue;
                    float w = e * dscale;
                    const float *v = k0 + (size_t)j * ld + HS;
                    for (int d = 0; d < HS; d++) o[d] += w * v[d];
                }
                m = mnew;
            }
            float *ls = lse + (size_t)bh * T + t;
            if (l > 0.0f) {
                float inv = 1.0f / l;
                for (int d = 0; d < HS; d++) o[d] *= inv;
                *ls = m + logf(l);
            } else { /* no key visible (padding query): attend to nothing */
                *ls = -INFINITY;
            }
        }
    }
}

void cpu_flash_attention_backward(backend_t *be, float *dqkv, const float *dout, const float *qkv,
                                  const float *out, const float *lse, const attn_shape_t *s) {
    (void)be;
    const int B = s->B, T = s->T, NH = s->NH, HS = s->HS, NG = attn_groups(s), R = NH / NG;
    const int ld = attn_qkv_width(s), C = NH * HS;
    const float scale = 1.0f / sqrtf((float)HS), drop = s->dropout;
    const float dscale = drop > 0.0f ? 1.0f / (1.0f - drop) : 1.0f;
#pragma omp parallel for schedule(static)
    for (int bg = 0; bg < B * NG; bg++) {
        int b = bg / NG, g = bg % NG;
        const float *k0 = qkv + (size_t)b * T * ld + k_col(g, R, HS); /* v at k0 + HS */
        float *dk0 = dqkv + (size_t)b * T * ld + k_col(g, R, HS);
        for (int h = g * R; h < (g + 1) * R; h++) { /* the group's query heads, in order */
            int bh = b * NH + h;
            const float *q0 = qkv + (size_t)b * T * ld + q_col(h, R, HS);
            float *dq0 = dqkv + (size_t)b * T * ld + q_col(h, R, HS);
            keep_cache_t kc = {UINT64_MAX, {0}};
            for (int t = 0; t < T; t++) {
                float lt = lse[(size_t)bh * T + t];
                if (lt == -INFINITY) continue; /* the row saw no key: no gradient */
                const float *q = q0 + (size_t)t * ld;
                float *dq = dq0 + (size_t)t * ld;
                const float *dO = dout + ((size_t)b * T + t) * C + (size_t)h * HS;
                const float *O = out + ((size_t)b * T + t) * C + (size_t)h * HS;
                uint64_t row = ((uint64_t)bh * T + t) * T;
                float D = dot(dO, O, HS);
                int jend = s->causal ? t + 1 : T;
                for (int j = 0; j < jend; j++) {
                    if (!key_allowed(s, b, t, j)) continue;
                    const float *k = k0 + (size_t)j * ld, *v = k + HS;
                    float *dk = dk0 + (size_t)j * ld, *dv = dk + HS;
                    float p = expf(scale * dot(q, k, HS) - lt);
                    float dp = dot(dO, v, HS), pd = p;
                    if (drop > 0.0f) {
                        int keep = keep_at(&kc, s->key, row + (uint64_t)j, drop);
                        dp = keep ? dp * dscale : 0.0f;
                        pd = keep ? p * dscale : 0.0f;
                    }
                    float ds = scale * p * (dp - D);
                    for (int d = 0; d < HS; d++) {
                        dv[d] += pd * dO[d];
                        dq[d] += ds * k[d];
                        dk[d] += ds * q[d];
                    }
                }
            }
        }
    }
}
