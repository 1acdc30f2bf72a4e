/* cuda_attention.cu — multi-head and grouped-query scaled dot-product attention
 * on the GPU.
 *
 * The same computation as cpu_attention.c. The fused qkv rows hold groups of
 * [q_1..q_R k v] (backend.h; R = NH/NG query heads per key/value head, R = 1
 * for multi-head). For each batch b and each r < R, the heads g*R + r of all
 * NG groups are one cuBLAS strided-batched sgemm (group stride (R+2)*HS in the
 * qkv rows, R*T*T in probs, R*HS in out; row-major [T, HS] slices are read as
 * column-major [HS, T]); with R = 1 that is one sgemm over the NH heads. dK and
 * dV add the group's heads r = 0..R-1 in order (deterministic):
 *   forward:  S = Q K^T / sqrt(HS); P = softmax(S) over allowed keys (causal and/or
 *             key mask); Pd = dropout(P); O = Pd V
 *   backward: dPd = dO V^T; dV += Pd^T dO; dP = dropout'(dPd);
 *             dS = P * (dP - rowsum(P * dP)); dQ += dS K / sqrt(HS); dK += dS^T Q / sqrt(HS)
 * Softmax and the dS step run one warp per row of [B, NH, T, T]; the dropout
 * element index is the flat index into that tensor. */
#include "cuda_ops.cuh"
#include "cuda_rng.cuh"

/* one strided-batched sgemm over the NH heads of one batch element */
static int head_gemm(backend_t *be, const char *op, cublasOperation_t ta, cublasOperation_t tb,
                     int m, int n, int k, float alpha, const float *A, int lda, long long sa,
                     const float *Bm, int ldb, long long sb, float beta, float *Cm, int ldc,
                     long long sc, int heads) {
    return cublas_check(be,
                        cublasSgemmStridedBatched(cuda_state(be)->blas, ta, tb, m, n, k, &alpha, A,
                                                  lda, sa, Bm, ldb, sb, &beta, Cm, ldc, sc, heads),
                        op, "cublasSgemmStridedBatched");
}

/* 1 when there is work and the shape is valid; 0 for an empty shape (nothing to
 * do) or when NG does not divide NH (recorded) */
static int attn_dims_ok(backend_t *be, const char *op, const attn_shape_t *s) {
    if (s->B <= 0 || s->T <= 0 || s->NH <= 0 || s->HS <= 0) return 0;
    if (s->NH % attn_groups(s) != 0) {
        cuda_record(be, op, "launch", "the query groups do not divide the heads");
        return 0;
    }
    return 1;
}

static __device__ __forceinline__ int key_allowed(const float *key_mask, int causal, int T, int b,
                                                  int t, int j) {
    if (causal && j > t) return 0;
    if (key_mask && key_mask[(size_t)b * T + j] == 0.0f) return 0;
    return 1;
}

/* probs rows hold the scaled scores on entry and the softmax on exit; with
 * dropout, scratch gets the dropped probabilities. One warp per row. */
static __global__ void attention_softmax_kernel(float *probs, float *scratch, const float *key_mask,
                                                int causal, int NH, int T, size_t rows, float drop,
                                                rng_key_t key) {
    size_t r = (size_t)blockIdx.x * CUDA_ROWS_PER_BLOCK + threadIdx.x / 32;
    int lane = threadIdx.x % 32;
    if (r >= rows) return;
    int t = (int)(r % (size_t)T), b = (int)(r / ((size_t)T * NH));
    size_t base = r * (size_t)T;
    float *row = probs + base;
    float mx = -INFINITY;
    for (int j = lane; j < T; j += 32)
        if (key_allowed(key_mask, causal, T, b, t, j) && row[j] > mx) mx = row[j];
    mx = warp_max(mx);
    if (mx == -INFINITY) { /* no key visible (padding query): attend to nothing */
        for (int j = lane; j < T; j += 32) {
            row[j] = 0.0f;
            if (drop > 0.0f) scratch[base + j] = 0.0f;
        }
        return;
    }
    float sum = 0.0f;
    for (int j = lane; j < T; j += 32) {
        float e = key_allowed(key_mask, causal, T, b, t, j) ? expf(row[j] - mx) : 0.0f;
        row[j] = e;
        sum += e;
    }
    float inv = 1.0f / warp_sum(sum);
    float dscale = drop > 0.0f ? 1.0f / (1.0f - drop) : 1.0f;
    for (int j = lane; j < T; j += 32) {
        float p = row[j] * inv;
        row[j] = p;
        if (drop > 0.0f) scratch[base + j] = cuda_keep(key, base + j, drop) ? p * dscale : 0.0f;
    }
}

/* dS = P * (dP - rowsum(P * dP)) with dP = dropout'(dPd), in place in dp. One warp per row. */
static __global__ void attention_dsoftmax_kernel(float *dp, const float *probs, size_t rows, int T,
                                                 float drop, rng_key_t key) {
    size_t r = (size_t)blockIdx.x * CUDA_ROWS_PER_BLOCK + threadIdx.x / 32;
    int lane = threadIdx.x % 32;
    if (r >= rows) return;
    size_t base = r * (size_t)T;
    float *d = dp + base;
    const float *p = probs + base;
    float dscale = drop > 0.0f ? 1.0f / (1.0f - drop) : 1.0f;
    float dot = 0.0f;
    for (int j = lane; j < T; j += 32) {
        float v = d[j];
        if (drop > 0.0f) {
            v = cuda_keep(key, base + j, drop) ? v * dscale : 0.0f;
            d[j] = v;
        }
        dot += p[j] * v;
    }
    dot = warp_sum(dot);
    for (int j = lane; j < T; j += 32) d[j] = p[j] * (d[j] - dot);
}

void cuda_attention_forward(backend_t *be, float *out, float *probs, float *scratch,
                            const float *qkv, const attn_shape_t *s) {
    const char *op = "attention_forward";
    const int B = s->B, T = s->T, NH = s->NH, HS = s->HS, NG = attn_groups(s);
    if (!attn_dims_ok(be, op, s)) return;
    const int ld = attn_qkv_width(s), C = NH * HS, R = NH / NG;
    const float scale = 1.0f / sqrtf((float)HS);
    const long long TT = (long long)T * T, gs = (long long)(R + 2) * HS;
    const float drop = s->dropout;
    /* S^T (col-major [T,T]) = K^T Q, scaled */
    for (int b = 0; b < B; b++)
        for (int r = 0; r < R; r++) {
            const float *q = qkv + (size_t)b * T * ld + (size_t)r * HS, *k = qkv + (size_t)b * T * ld + (size_t)R * HS;
            if (!head_gemm(be, op, CUBLAS_OP_T, CUBLAS_OP_N, T, T, HS, scale, k, ld, gs, q, ld, gs, 0.0f,
                           probs + ((size_t)b * NH + r) * TT, T, R * TT, NG))
                return;
        }
    size_t rows = (size_t)B * NH * T;
    attention_softmax_kernel<<<(unsigned)((rows + CUDA_ROWS_PER_BLOCK - 1) / CUDA_ROWS_PER_BLOCK),
                               CUDA_THREADS>>>(probs, scratch, s->key_mask, s->causal, NH, T, rows,
                                               drop, s->key);
    if (!cuda_launched(be, op, "attention_softmax_kernel")) return;
    const float *pd = drop > 0.0f ? scratch : probs;
    /* O^T (col-major [HS,T], ld C) = V^T-as-stored x Pd^T-as-stored */
    for (int b = 0; b < B; b++)
        for (int r = 0; r < R; r++) {
            const float *v = qkv + (size_t)b * T * ld + (size_t)(R + 1) * HS;
            if (!head_gemm(be, op, CUBLAS_OP_N, CUBLAS_OP_N, HS, T, T, 1.0f, v, ld, gs, pd + ((size_t)b * NH + r) * TT,
                           T, R * TT, 0.0f, out + (size_t)b * T * C + (size_t)r * HS, C, (long long)R * HS, NG))
                return;
        }
}

void cuda_attention_backward(backend_t *be, float *dqkv, float *scratch, float *dscratch,
                             const float *dout, const float *qkv, const float *probs,
                             const attn_shape_t *s) {
    const char *op = "attention_backward";
    const int B = s->B, T = s->T, NH = s->NH, HS = s->HS, NG = attn_groups(s);
    if (!attn_dims_ok(be, op, s)) return;
    const int ld = attn_qkv_width(s), C = NH * HS, R = NH / NG;
    const float scale = 1.0f / sqrtf((float)HS);
    const long long TT = (long long)T * T, gs = (long long)(R + 2) * HS, os = (long long)R * HS;
    const float drop = s->dropout;
    size_t rows = (size_t)B * NH * T, total = rows * (size_t)T;
    const float *pd = probs;
    if (drop > 0.0f) {
        cuda_dropout_kernel<<<cuda_blocks((total + 3) / 4, CUDA_THREADS), CUDA_THREADS>>>(
            scratch, probs, total, drop, s->key);
        if (!cuda_launched(be, op, "cuda_dropout_kernel")) return;
        pd = scratch;
    }
    for (int b = 0; b < B; b++)
        for (int r = 0; r < R; r++) {
            const float *v = qkv + (size_t)b * T * ld + (size_t)(R + 1) * HS;
            const float *dO = dout + (size_t)b * T * C + (size_t)r * HS;
            float *dv = dqkv + (size_t)b * T * ld + (size_t)(R + 1) * HS;
            float *dp = dscratch + ((size_t)b * NH + r) * TT;
            /* dPd = dO V^T */
            if (!head_gemm(be, op, CUBLAS_OP_T, CUBLAS_OP_N, T, T, HS, 1.0f, v, ld, gs, dO, C, os, 0.0f, dp, T, R * TT,
                           NG))
                return;
            /* dV += Pd^T dO */
            if (!head_gemm(be, op, CUBLAS_OP_N, CUBLAS_OP_T, HS, T, T, 1.0f, dO, C, os,
                           pd + ((size_t)b * NH + r) * TT, T, R * TT, 1.0f, dv, ld, gs, NG))
                return;
        }
    attention_dsoftmax_kernel<<<(unsigned)((rows + CUDA_ROWS_PER_BLOCK - 1) / CUDA_ROWS_PER_BLOCK),
                                CUDA_THREADS>>>(dscratch, probs, rows, T, drop, s->key);
    if (!cuda_launched(be, op, "attention_dsoftmax_kernel")) return;
    for (int b = 0; b < B; b++)
        for (int r = 0; r < R; r++) {
            const float *q = qkv + (size_t)b * T * ld + (size_t)r * HS, *k = qkv + (size_t)b * T * ld + (size_t)R * HS;
            float *dq = dqkv + (size_t)b * T * ld + (size_t)r * HS, *dk = dqkv + (size_t)b * T * ld + (size_t)R * HS;
            const float *ds = dscratch + ((size_t)b * NH + r) * TT;
            /* dQ += dS K / sqrt(HS) */
            if (!head_gemm(be, op, CUBLAS_OP_N, CUBLAS_OP_N, HS, T, T, scale, k, ld, gs, ds, T, R * TT, 1.0f, dq, ld,
                           gs, NG))
                return;
            /* dK += dS^T Q / sqrt(HS) */
            if (!head_gemm(be, op, CUBLAS_OP_N, CUBLAS_OP_T, HS, T, T, scale, q, ld, gs, ds, T, R * TT, 1.0f, dk, ld,
                           gs, NG))
                return;
        }
}
