/* cpu_dense.c — embeddings, LayerNorm, RMSNorm and linear layers on the CPU.
 *
 * Linear layers go through OpenBLAS sgemm (OpenMP build: called inside our own
 * parallel regions it runs single-threaded, outside it uses all threads).
 * Reductions over rows (bias, norm weight and embedding gradients) are split by
 * column blocks and walk the rows in order, so results do not depend on the
 * thread count. */
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "cpu_ops.h"

void cpu_embedding_forward(backend_t *be, float *out, const int *tokens, const float *wte, int N,
                           int C, int vstart, int vend) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        int id = tokens[n];
        float *o = out + (size_t)n * C;
        if (id >= vstart && id < vend) memcpy(o, wte + (size_t)(id - vstart) * C, sizeof(float) * C);
        else memset(o, 0, sizeof(float) * C);
    }
}

void cpu_embedding_backward(backend_t *be, float *dwte, const float *dout, const int *tokens, int N,
                            int C, int vstart, int vend) {
    (void)be;
    int nblk = (C + CPU_COL_BLOCK - 1) / CPU_COL_BLOCK;
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < nblk; blk++) {
        int c0 = blk * CPU_COL_BLOCK, c1 = c0 + CPU_COL_BLOCK < C ? c0 + CPU_COL_BLOCK : C;
        for (int n = 0; n < N; n++) {
            int id = tokens[n];
            if (id < vstart || id >= vend) continue;
            float *d = dwte + (size_t)(id - vstart) * C;
            const float *g = dout + (size_t)n * C;
            for (int c = c0; c < c1; c++) d[c] += g[c];
        }
    }
}

void cpu_position_forward(backend_t *be, float *out, const float *wpe, int B, int T, int C) {
    (void)be;
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            float *o = out + ((size_t)b * T + t) * C;
            const float *p = wpe + (size_t)t * C;
            for (int c = 0; c < C; c++) o[c] += p[c];
        }
}

void cpu_position_backward(backend_t *be, float *dwpe, const float *dout, int B, int T, int C) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++) {
        float *d = dwpe + (size_t)t * C;
        for (int b = 0; b < B; b++) {
            const float *g = dout + ((size_t)b * T + t) * C;
            for (int c = 0; c < C; c++) d[c] += g[c];
        }
    }
}

/* one row: statistics in fp32 in index order (what both LayerNorm entries do) */
static void layernorm_row(float *o, float *mean, float *rstd, const float *x, const float *w, const float *b, int C,
                          float eps) {
    float m = 0.0f;
    for (int c = 0; c < C; c++) m += x[c];
    m /= (float)C;
    float var = 0.0f;
    for (int c = 0; c < C; c++) {
        float d = x[c] - m;
        var += d * d;
    }
    var /= (float)C;
    float s = 1.0f / sqrtf(var + eps);
    for (int c = 0; c < C; c++) o[c] = (x[c] - m) * s * w[c] + b[c];
    *mean = m;
    *rstd = s;
}

void cpu_layernorm_forward(backend_t *be, float *out, float *mean, float *rstd, const float *inp,
                           const float *w, const float *b, int N, int C, float eps) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++)
        layernorm_row(out + (size_t)n * C, &mean[n], &rstd[n], inp + (size_t)n * C, w, b, C, eps);
}

void cpu_residual_layernorm_forward(backend_t *be, float *sum, float *out, float *mean, float *rstd, const float *a,
                                    const float *b, const float *w, const float *bias, int N, int C, float eps) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        size_t r = (size_t)n * C;
        for (int c = 0; c < C; c++) sum[r + c] = a[r + c] + b[r + c];
        layernorm_row(out + r, &mean[n], &rstd[n], sum + r, w, bias, C, eps);
    }
}

void cpu_layernorm_backward(backend_t *be, float *dinp, float *dw, float *db, const float *dout,
                            const float *inp, const float *w, const float *mean, const float *rstd,
                            int N, int C) {
    (void)be;
    /* input gradient: rows are independent */
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C, *g = dout + (size_t)n * C;
        float *d = dinp + (size_t)n * C;
        float m = mean[n], s = rstd[n];
        float dnorm_mean = 0.0f, dnorm_norm_mean = 0.0f;
        for (int c = 0; c < C; c++) {
            float norm = (x[c] - m) * s;
            float dnorm = w[c] * g[c];
            dnorm_mean += dnorm;
            dnorm_norm_mean += dnorm * norm;
        }
        dnorm_mean /= (float)C;
        dnorm_norm_mean /= (float)C;
        for (int c = 0; c < C; c++) {
            float norm = (x[c] - m) * s;
            float dnorm = w[c] * g[c];
            d[c] += (dnorm - dnorm_mean - norm * dnorm_norm_mean) * s;
        }
    }
    /* weight and bias gradients: column blocks, rows in order */
    int nblk = (C + CPU_COL_BLOCK - 1) / CPU_COL_BLOCK;
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < nblk; blk++) {
        int c0 = blk * CPU_COL_BLOCK, c1 = c0 + CPU_COL_BLOCK < C ? c0 + CPU_COL_BLOCK : C;
        float aw[CPU_COL_BLOCK] = {0}, ab[CPU_COL_BLOCK] = {0};
        for (int n = 0; n < N; n++) {
            const float *x = inp + (size_t)n * C, *g = dout + (size_t)n * C;
            float m = mean[n], s = rstd[n];
            for (int c = c0; c < c1; c++) {
                aw[c - c0] += (x[c] - m) * s * g[c];
                ab[c - c0] += g[c];
            }
        }
        for (int c = c0; c < c1; c++) {
            if (dw) dw[c] += aw[c - c0];
            if (db) db[c] += ab[c - c0];
        }
    }
}

/* ---- RMSNorm: y = x * rstd * w, rstd = 1/sqrt(mean(x^2) + eps) (no mean, no bias) */

/* one row: the mean square in fp32 in index order (both forward entries) */
static void rmsnorm_row(float *o, float *rstd, const float *x, const float *w, int C, float eps) {
    float ms = 0.0f;
    for (int c = 0; c < C; c++) ms += x[c] * x[c];
    ms /= (float)C;
    float s = 1.0f / sqrtf(ms + eps);
    for (int c = 0; c < C; c++) o[c] = x[c] * s * w[c];
    *rstd = s;
}

void cpu_rmsnorm_forward(backend_t *be, float *out, float *rstd, const float *inp, const float *w, int N, int C,
                         float eps) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) rmsnorm_row(out + (size_t)n * C, &rstd[n], inp + (size_t)n * C, w, C, eps);
}

void cpu_residual_rmsnorm_forward(backend_t *be, float *sum, float *out, float *rstd, const float *a, const float *b,
                                  const float *w, int N, int C, float eps) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        size_t r = (size_t)n * C;
        for (int c = 0; c < C; c++) sum[r + c] = a[r + c] + b[r + c];
        rmsnorm_row(out + r, &rstd[n], sum + r, w, C, eps);
    }
}

/* with xhat = x * s and dn = w * dout: dx = s * (dn - xhat * mean(dn * xhat));
 * dw = sum over rows of xhat * dout (NULL dinp or dw skips that term) */
void cpu_rmsnorm_backward(backend_t *be, float *dinp, float *dw, const float *dout, const float *inp, const float *w,
                          const float *rstd, int N, int C) {
    (void)be;
    if (dinp) {
#pragma omp parallel for schedule(static)
        for (int n = 0; n < N; n++) {
            const float *x = inp + (size_t)n * C, *g = dout + (size_t)n * C;
            float *d = dinp + (size_t)n * C;
            float s = rstd[n], dnorm_norm_mean = 0.0f;
            for (int c = 0; c < C; c++) dnorm_norm_mean += w[c] * g[c] * (x[c] * s);
            dnorm_norm_mean /= (float)C;
            for (int c = 0; c < C; c++) d[c] += (w[c] * g[c] - x[c] * s * dnorm_norm_mean) * s;
        }
    }
    if (!dw) return;
    /* weight gradient: column blocks, rows in order */
    int nblk = (C + CPU_COL_BLOCK - 1) / CPU_COL_BLOCK;
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < nblk; blk++) {
        int c0 = blk * CPU_COL_BLOCK, c1 = c0 + CPU_COL_BLOCK < C ? c0 + CPU_COL_BLOCK : C;
        float aw[CPU_COL_BLOCK] = {0};
        for (int n = 0; n < N; n++) {
            const float *x = inp + (size_t)n * C, *g = dout + (size_t)n * C;
            float s = rstd[n];
            for (int c = c0; c < c1; c++) aw[c - c0] += x[c] * s * g[c];
        }
        for (int c = c0; c < c1; c++) dw[c] += aw[c - c0];
    }
}

void cpu_matmul_forward(backend_t *be, float *out, const float *inp, const float *w,
                        const float *bias, int N, int IC, int OC) {
    (void)be;
    float beta = 0.0f;
    if (bias) {
#pragma omp parallel for schedule(static)
        for (int n = 0; n < N; n++) memcpy(out + (size_t)n * OC, bias, sizeof(float) * OC);
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, IC, 1.0f, inp, IC, w, IC, beta, out,
                OC);
}

void cpu_matmul_backward(backend_t *be, float *dinp, float *dw, float *dbias, const float *dout,
                         const float *inp, const float *w, int N, int IC, int OC) {
    (void)be;
    if (dinp)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, IC, OC, 1.0f, dout, OC, w, IC,
                    1.0f, dinp, IC);
    if (dw)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, IC, N, 1.0f, dout, OC, inp, IC,
                    1.0f, dw, IC);
    if (dbias) {
        int nblk = (OC + CPU_COL_BLOCK - 1) / CPU_COL_BLOCK;
#pragma omp parallel for schedule(static)
        for (int blk = 0; blk < nblk; blk++) {
            int c0 = blk * CPU_COL_BLOCK, c1 = c0 + CPU_COL_BLOCK < OC ? c0 + CPU_COL_BLOCK : OC;
            float acc[CPU_COL_BLOCK] = {0};
            for (int n = 0; n < N; n++) {
                const float *g = dout + (size_t)n * OC;
                for (int c = c0; c < c1; c++) acc[c - c0] += g[c];
            }
            for (int c = c0; c < c1; c++) dbias[c] += acc[c - c0];
        }
    }
}
