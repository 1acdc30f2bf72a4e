/* cuda_dense.cu — embeddings, LayerNorm, RMSNorm and linear layers on the GPU.
 *
 * Linear layers go through cuBLAS sgemm: a row-major [R, K] matrix is the
 * column-major [K, R] matrix at the same address, so each product is written
 * transposed. Reductions over rows never use atomics:
 *  - embedding and position gradients walk the rows of one output element in
 *    row order, exactly as the CPU does (bitwise-identical results);
 *  - bias and LayerNorm/RMSNorm weight gradients split the rows of each column over
 *    COL_LANES threads by a fixed stride and add the partials in lane order. */
#include "cuda_ops.cuh"

/* Column-reduction tile: COL_TILE columns by COL_LANES row lanes per block. */
#define COL_TILE 32
#define COL_LANES 32

/* ---------------------------------------------------------------- embeddings */

static __global__ void embedding_forward_kernel(float *out, const int *tokens, const float *wte,
                                                int C, int vstart, int vend, size_t total) {
    CUDA_FOR(i, total) {
        size_t n = i / (size_t)C, c = i % (size_t)C;
        int id = tokens[n];
        out[i] = (id >= vstart && id < vend) ? wte[(size_t)(id - vstart) * C + c] : 0.0f;
    }
}

void cuda_embedding_forward(backend_t *be, float *out, const int *tokens, const float *wte, int N,
                            int C, int vstart, int vend) {
    size_t total = (size_t)N * C;
    if (total == 0) return;
    embedding_forward_kernel<<<cuda_blocks(total, CUDA_THREADS), CUDA_THREADS>>>(
        out, tokens, wte, C, vstart, vend, total);
    cuda_launched(be, "embedding_forward", "embedding_forward_kernel");
}

/* Block (n, column tile): only the first position holding a token does the work;
 * it adds the gradients of every position with that token, in position order. */
static __global__ void embedding_backward_kernel(float *dwte, const float *dout, const int *tokens,
                                                 int N, int C, int vstart, int vend) {
    int n = blockIdx.x;
    int tok = tokens[n];
    if (tok < vstart || tok >= vend) return; /* uniform over the block */
    int seen = 0;
    for (int m = threadIdx.x; m < n && !seen; m += blockDim.x) seen = tokens[m] == tok;
    if (__syncthreads_or(seen)) return;
    int c = blockIdx.y * blockDim.x + threadIdx.x;
    if (c >= C) return;
    float *d = dwte + (size_t)(tok - vstart) * C + c;
    float acc = *d;
    for (int m = n; m < N; m++)
        if (tokens[m] == tok) acc += dout[(size_t)m * C + c];
    *d = acc;
}

void cuda_embedding_backward(backend_t *be, float *dwte, const float *dout, const int *tokens,
                             int N, int C, int vstart, int vend) {
    if (N <= 0 || C <= 0) return;
    dim3 grid((unsigned)N, (unsigned)((C + CUDA_THREADS - 1) / CUDA_THREADS));
    embedding_backward_kernel<<<grid, CUDA_THREADS>>>(dwte, dout, tokens, N, C, vstart, vend);
    cuda_launched(be, "embedding_backward", "embedding_backward_kernel");
}

static __global__ void position_forward_kernel(float *out, const float *wpe, int T, int C,
                                               size_t total) {
    CUDA_FOR(i, total) {
        size_t row = i / (size_t)C, c = i % (size_t)C;
        size_t t = row % (size_t)T;
        out[i] += wpe[t * C + c];
    }
}

void cuda_position_forward(backend_t *be, float *out, const float *wpe, int B, int T, int C) {
    size_t total = (size_t)B * T * C;
    if (total == 0) return;
    position_forward_kernel<<<cuda_blocks(total, CUDA_THREADS), CUDA_THREADS>>>(out, wpe, T, C,
                                                                                total);
    cuda_launched(be, "position_forward", "position_forward_kernel");
}

/* one thread per (t, c), batches in order */
static __global__ void position_backward_kernel(float *dwpe, const float *dout, int B, int T,
                                                int C) {
    size_t TC = (size_t)T * C;
    CUDA_FOR(i, TC) {
        float acc = dwpe[i];
        for (int b = 0; b < B; b++) acc += dout[(size_t)b * TC + i];
        dwpe[i] = acc;
    }
}

void cuda_position_backward(backend_t *be, float *dwpe, const float *dout, int B, int T, int C) {
    size_t TC = (size_t)T * C;
    if (TC == 0 || B <= 0) return;
    position_backward_kernel<<<cuda_blocks(TC, CUDA_THREADS), CUDA_THREADS>>>(dwpe, dout, B, T, C);
    cuda_launched(be, "position_backward", "position_backward_kernel");
}

/* ---------------------------------------------------------------- LayerNorm */

/* one warp per row; with `a2`, the row is first written as inp + a2 into `sum`
 * (the fused residual add) and normalised from there */
static __global__ void layernorm_forward_kernel(float *out, float *mean, float *rstd, float *sum,
                                                const float *inp, const float *a2, const float *w,
                                                const float *b, int N, int C, float eps) {
    int row = blockIdx.x * CUDA_ROWS_PER_BLOCK + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= N) return;
    const float *x = inp + (size_t)row * C;
    if (a2) {
        const float *y = a2 + (size_t)row * C;
        float *s = sum + (size_t)row * C;
        for (int c = lane; c < C; c += 32) s[c] = x[c] + y[c];
        __syncwarp();
        x = s;
    }
    float *o = out + (size_t)row * C;
    float total = 0.0f;
    for (int c = lane; c < C; c += 32) total += x[c];
    float m = warp_sum(total) / (float)C;
    float var = 0.0f;
    for (int c = lane; c < C; c += 32) {
        float d = x[c] - m;
        var += d * d;
    }
    var = warp_sum(var) / (float)C;
    float s = 1.0f / sqrtf(var + eps);
    for (int c = lane; c < C; c += 32) o[c] = (x[c] - m) * s * w[c] + b[c];
    if (lane == 0) {
        mean[row] = m;
        rstd[row] = s;
    }
}

void cuda_layernorm_forward(backend_t *be, float *out, float *mean, float *rstd, const float *inp,
                            const float *w, const float *b, int N, int C, float eps) {
    if (N <= 0 || C <= 0) return;
    layernorm_forward_kernel<<<cuda_row_blocks(N), CUDA_THREADS>>>(out, mean, rstd, NULL, inp, NULL, w, b,
                                                                   N, C, eps);
    cuda_launched(be, "layernorm_forward", "layernorm_forward_kernel");
}

void cuda_residual_layernorm_forward(backend_t *be, float *sum, float *out, float *mean, float *rstd,
                                     const float *a, const float *b, const float *w, const float *bias,
                                     int N, int C, float eps) {
    if (N <= 0 || C <= 0) return;
    layernorm_forward_kernel<<<cuda_row_blocks(N), CUDA_THREADS>>>(out, mean, rstd, sum, a, b, w, bias,
                                                                   N, C, eps);
    cuda_launched(be, "residual_layernorm_forward", "layernorm_forward_kernel");
}

/* input gradient, one warp per row */
static __global__ void layernorm_backward_inp_kernel(float *dinp, const float *dout,
                                                     const float *inp, const float *w,
                                                     const float *mean, const float *rstd, int N,
                                                     int C) {
    int row = blockIdx.x * CUDA_ROWS_PER_BLOCK + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= N) return;
    const float *x = inp + (size_t)row * C, *g = dout + (size_t)row * C;
    float *d = dinp + (size_t)row * C;
    float m = mean[row], s = rstd[row];
    float dmean = 0.0f, dnorm_mean = 0.0f;
    for (int c = lane; c < C; c += 32) {
        float norm = (x[c] - m) * s;
        float dnorm = w[c] * g[c];
        dmean += dnorm;
        dnorm_mean += dnorm * norm;
    }
    dmean = warp_sum(dmean) / (float)C;
    dnorm_mean = warp_sum(dnorm_mean) / (float)C;
    for (int c = lane; c < C; c += 32) {
        float norm = (x[c] - m) * s;
        float dnorm = w[c] * g[c];
        d[c] += (dnorm - dmean - norm * dnorm_mean) * s;
    }
}

/* weight and bias gradients: block = COL_TILE columns x COL_LANES row lanes */
static __global__ void layernorm_backward_wb_kernel(float *dw, float *db, const float *dout,
                                                    const float *inp, const float *mean,
                                                    const float *rstd, int N, int C) {
    __shared__ float sw[COL_LANES][COL_TILE + 1], sb[COL_LANES][COL_TILE + 1];
    int tx = threadIdx.x, ty = threadIdx.y;
    int c = blockIdx.x * COL_TILE + tx;
    float aw = 0.0f, ab = 0.0f;
    if (c < C)
        for (int n = ty; n < N; n += COL_LANES) {
            size_t i = (size_t)n * C + c;
            float g = dout[i];
            aw += (inp[i] - mean[n]) * rstd[n] * g;
            ab += g;
        }
    sw[ty][tx] = aw;
    sb[ty][tx] = ab;
    __syncthreads();
    if (ty != 0 || c >= C) return;
    float tw = 0.0f, tb = 0.0f;
    for (int y = 0; y < COL_LANES; y++) {
        tw += sw[y][tx];
        tb += sb[y][tx];
    }
    if (dw) dw[c] += tw;
    if (db) db[c] += tb;
}

void cuda_layernorm_backward(backend_t *be, float *dinp, float *dw, float *db, const float *dout,
                             const float *inp, const float *w, const float *mean, const float *rstd,
                             int N, int C) {
    if (N <= 0 || C <= 0) return;
    if (dinp) {
        layernorm_backward_inp_kernel<<<cuda_row_blocks(N), CUDA_THREADS>>>(dinp, dout, inp, w,
                                                                            mean, rstd, N, C);
        if (!cuda_launched(be, "layernorm_backward", "layernorm_backward_inp_kernel")) return;
    }
    if (dw || db) {
        dim3 block(COL_TILE, COL_LANES);
        unsigned grid = (unsigned)((C + COL_TILE - 1) / COL_TILE);
        layernorm_backward_wb_kernel<<<grid, block>>>(dw, db, dout, inp, mean, rstd, N, C);
        cuda_launched(be, "layernorm_backward", "layernorm_backward_wb_kernel");
    }
}

/* ---------------------------------------------------------------- RMSNorm */

/* y = x * rstd * w, rstd = 1/sqrt(mean(x^2) + eps); one warp per row; with `a2`,
 * the row is first written as inp + a2 into `sum` (the fused residual add) */
static __global__ void rmsnorm_forward_kernel(float *out, float *rstd, float *sum, const float *inp, const float *a2,
                                              const float *w, int N, int C, float eps) {
    int row = blockIdx.x * CUDA_ROWS_PER_BLOCK + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= N) return;
    const float *x = inp + (size_t)row * C;
    if (a2) {
        const float *y = a2 + (size_t)row * C;
        float *s = sum + (size_t)row * C;
        for (int c = lane; c < C; c += 32) s[c] = x[c] + y[c];
        __syncwarp();
        x = s;
    }
    float *o = out + (size_t)row * C;
    float ms = 0.0f;
    for (int c = lane; c < C; c += 32) ms += x[c] * x[c];
    ms = warp_sum(ms) / (float)C;
    float s = 1.0f / sqrtf(ms + eps);
    for (int c = lane; c < C; c += 32) o[c] = x[c] * s * w[c];
    if (lane == 0) rstd[row] = s;
}

void cuda_rmsnorm_forward(backend_t *be, float *out, float *rstd, const float *inp, const float *w, int N, int C,
                          float eps) {
    if (N <= 0 || C <= 0) return;
    rmsnorm_forward_kernel<<<cuda_row_blocks(N), CUDA_THREADS>>>(out, rstd, NULL, inp, NULL, w, N, C, eps);
    cuda_launched(be, "rmsnorm_forward", "rmsnorm_forward_kernel");
}

void cuda_residual_rmsnorm_forward(backend_t *be, float *sum, float *out, float *rstd, const float *a, const float *b,
                                   const float *w, int N, int C, float eps) {
    if (N <= 0 || C <= 0) return;
    rmsnorm_forward_kernel<<<cuda_row_blocks(N), CUDA_THREADS>>>(out, rstd, sum, a, b, w, N, C, eps);
    cuda_launched(be, "residual_rmsnorm_forward", "rmsnorm_forward_kernel");
}

/* input gradient, one warp per row: dx = s * (w*g - xhat * mean(w*g*xhat)), xhat = x*s */
static __global__ void rmsnorm_backward_inp_kernel(float *dinp, const float *dout, const float *inp, const float *w,
                                                   const float *rstd, int N, int C) {
    int row = blockIdx.x * CUDA_ROWS_PER_BLOCK + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= N) return;
    const float *x = inp + (size_t)row * C, *g = dout + (size_t)row * C;
    float *d = dinp + (size_t)row * C;
    float s = rstd[row], dnorm_norm_mean = 0.0f;
    for (int c = lane; c < C; c += 32) dnorm_norm_mean += w[c] * g[c] * (x[c] * s);
    dnorm_norm_mean = warp_sum(dnorm_norm_mean) / (float)C;
    for (int c = lane; c < C; c += 32) d[c] += (w[c] * g[c] - x[c] * s * dnorm_norm_mean) * s;
}

/* weight gradient: block = COL_TILE columns x COL_LANES row lanes */
static __global__ void rmsnorm_backward_w_kernel(float *dw, const float *dout, const float *inp, const float *rstd,
                                                 int N, int C) {
    __shared__ float sw[COL_LANES][COL_TILE + 1];
    int tx = threadIdx.x, ty = threadIdx.y;
    int c = blockIdx.x * COL_TILE + tx;
    float aw = 0.0f;
    if (c < C)
        for (int n = ty; n < N; n += COL_LANES) {
            size_t i = (size_t)n * C + c;
            aw += inp[i] * rstd[n] * dout[i];
        }
    sw[ty][tx] = aw;
    __syncthreads();
    if (ty != 0 || c >= C) return;
    float tw = 0.0f;
    for (int y = 0; y < COL_LANES; y++) tw += sw[y][tx];
    dw[c] += tw;
}

void cuda_rmsnorm_backward(backend_t *be, float *dinp, float *dw, const float *dout, const float *inp, const float *w,
                           const float *rstd, int N, int C) {
    if (N <= 0 || C <= 0) return;
    if (dinp) {
        rmsnorm_backward_inp_kernel<<<cuda_row_blocks(N), CUDA_THREADS>>>(dinp, dout, inp, w, rstd, N, C);
        if (!cuda_launched(be, "rmsnorm_backward", "rmsnorm_backward_inp_kernel")) return;
    }
    if (dw) {
        dim3 block(COL_TILE, COL_LANES);
        unsigned grid = (unsigned)((C + COL_TILE - 1) / COL_TILE);
        rmsnorm_backward_w_kernel<<<grid, block>>>(dw, dout, inp, rstd, N, C);
        cuda_launched(be, "rmsnorm_backward", "rmsnorm_backward_w_kernel");
    }
}

/* ---------------------------------------------------------------- linear */

/* C (col-major [m,n], ldc) = alpha op(A) op(B) + beta C; records a failure as <op>: <call> */
static int sgemm(backend_t *be, const char *op, const char *call, cublasOperation_t ta,
                 cublasOperation_t tb, int m, int n, int k, float alpha, const float *A, int lda,
                 const float *Bm, int ldb, float beta, float *Cm, int ldc) {
    return cublas_check(
        be,
        cublasSgemm(cuda_state(be)->blas, ta, tb, m, n, k, &alpha, A, lda, Bm, ldb, &beta, Cm, ldc),
        op, call);
}

static __global__ void broadcast_rows_kernel(float *out, const float *bias, int OC, size_t total) {
    CUDA_FOR(i, total) out[i] = bias[i % (size_t)OC];
}

void cuda_matmul_forward(backend_t *be, float *out, const float *inp, const float *w,
                         const float *bias, int N, int IC, int OC) {
    if (N <= 0 || OC <= 0) return;
    if (bias && cuda_lt_matmul_bias(be, out, inp, w, bias, N, IC, OC)) return;
    float beta = 0.0f;
    if (bias) {
        size_t total = (size_t)N * OC;
        broadcast_rows_kernel<<<cuda_blocks(total, CUDA_THREADS), CUDA_THREADS>>>(out, bias, OC,
                                                                                  total);
        if (!cuda_launched(be, "matmul_forward", "broadcast_rows_kernel")) return;
        beta = 1.0f;
    }
    /* out^T (col-major [OC,N]) = w^T (w is col-major [IC,OC]) x inp^T (col-major [IC,N]) */
    sgemm(be, "matmul_forward", "cublasSgemm", CUBLAS_OP_T, CUBLAS_OP_N, OC, N, IC, 1.0f, w, IC,
          inp, IC, beta, out, OC);
}

/* dbias[c] += sum over rows of g[n, c]: block = COL_TILE columns x COL_LANES row lanes */
static __global__ void column_sum_kernel(float *dbias, const float *g, int N, int C) {
    __shared__ float sh[COL_LANES][COL_TILE + 1];
    int tx = threadIdx.x, ty = threadIdx.y;
    int c = blockIdx.x * COL_TILE + tx;
    float acc = 0.0f;
    if (c < C)
        for (int n = ty; n < N; n += COL_LANES) acc += g[(size_t)n * C + c];
    sh[ty][tx] = acc;
    __syncthreads();
    if (ty != 0 || c >= C) return;
    float t = 0.0f;
    for (int y = 0; y < COL_LANES; y++) t += sh[y][tx];
    dbias[c] += t;
}

void cuda_matmul_backward(backend_t *be, float *dinp, float *dw, float *dbias, const float *dout,
                          const float *inp, const float *w, int N, int IC, int OC) {
    const char *op = "matmul_backward";
    if (N <= 0 || IC <= 0 || OC <= 0) return;
    /* dinp^T (col-major [IC,N]) += w (col-major [IC,OC]) x dout^T (col-major [OC,N]) */
    if (dinp && !sgemm(be, op, "cublasSgemm (dinp)", CUBLAS_OP_N, CUBLAS_OP_N, IC, N, OC, 1.0f, w,
                       IC, dout, OC, 1.0f, dinp, IC))
        return;
    /* dw^T (col-major [IC,OC]) += inp^T (col-major [IC,N]) x dout (dout^T is col-major [OC,N]) */
    if (dw && !sgemm(be, op, "cublasSgemm (dw)", CUBLAS_OP_N, CUBLAS_OP_T, IC, OC, N, 1.0f, inp, IC,
                     dout, OC, 1.0f, dw, IC))
        return;
    if (dbias) {
        dim3 block(COL_TILE, COL_LANES);
        unsigned grid = (unsigned)((OC + COL_TILE - 1) / COL_TILE);
        column_sum_kernel<<<grid, block>>>(dbias, dout, N, OC);
        cuda_launched(be, op, "column_sum_kernel");
    }
}
