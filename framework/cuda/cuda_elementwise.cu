/* cuda_elementwise.cu — GELU, SwiGLU, dropout, add/axpy, softmax cross-entropy passes,
 * deterministic reductions, AdamW, the inf/NaN check and precision casts on
 * the GPU; the same formulas as cpu_elementwise.c.
 *
 * sumsq/sum: a fixed grid of CUDA_REDUCE_GRID blocks each sums a fixed strided
 * subset in double and reduces it by a fixed tree; one block then adds the
 * partials by a fixed tree. The result never depends on timing. */
#include "cuda_convert.cuh"
#include "cuda_ops.cuh"
#include "cuda_rng.cuh"

#define GELU_K 0.7978845608028654f /* sqrt(2/pi) */

/* ---------------------------------------------------------------- GELU */

static __global__ void gelu_forward_kernel(float *out, const float *inp, size_t n, int tanh_form) {
    CUDA_FOR(i, n) {
        float x = inp[i];
        out[i] = tanh_form ? 0.5f * x * (1.0f + tanhf(GELU_K * (x + 0.044715f * x * x * x)))
                           : 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    }
}

static __global__ void gelu_backward_kernel(float *dinp, const float *inp, const float *dout,
                                            size_t n, int tanh_form) {
    CUDA_FOR(i, n) {
        float x = inp[i];
        float grad;
        if (tanh_form) {
            float u = GELU_K * (x + 0.044715f * x * x * x);
            float th = tanhf(u);
            float sech2 = 1.0f - th * th;
            float du = GELU_K * (1.0f + 3.0f * 0.044715f * x * x);
            grad = 0.5f * (1.0f + th) + 0.5f * x * sech2 * du;
        } else {
            float cdf = 0.5f * (1.0f + erff(x * 0.70710678118654752f));
            float pdf = 0.3989422804014327f * expf(-0.5f * x * x);
            grad = cdf + x * pdf;
        }
        dinp[i] += grad * dout[i];
    }
}

void cuda_gelu_forward(backend_t *be, float *out, const float *inp, size_t n, int tanh_form) {
    if (n == 0) return;
    gelu_forward_kernel<<<cuda_blocks(n, CUDA_THREADS), CUDA_THREADS>>>(out, inp, n, tanh_form);
    cuda_launched(be, "gelu_forward", "gelu_forward_kernel");
}

void cuda_gelu_backward(backend_t *be, float *dinp, const float *inp, const float *dout, size_t n,
                        int tanh_form) {
    if (n == 0) return;
    gelu_backward_kernel<<<cuda_blocks(n, CUDA_THREADS), CUDA_THREADS>>>(dinp, inp, dout, n,
                                                                         tanh_form);
    cuda_launched(be, "gelu_backward", "gelu_backward_kernel");
}

/* ---------------------------------------------------------------- SwiGLU */

/* rows [gate(C) | up(C)]: out = silu(gate) * up; silu'(x) = sig(x) (1 + x (1 - sig(x))) */
static __global__ void swiglu_forward_kernel(float *out, const float *inp, int C, size_t total) {
    CUDA_FOR(i, total) {
        size_t n = i / (size_t)C, c = i % (size_t)C;
        const float *gate = inp + n * 2 * (size_t)C;
        float x = gate[c], sig = 1.0f / (1.0f + expf(-x));
        out[i] = x * sig * gate[C + c];
    }
}

static __global__ void swiglu_backward_kernel(float *dinp, const float *inp, const float *dout, int C, size_t total) {
    CUDA_FOR(i, total) {
        size_t n = i / (size_t)C, c = i % (size_t)C;
        const float *gate = inp + n * 2 * (size_t)C;
        float *dgate = dinp + n * 2 * (size_t)C;
        float x = gate[c], sig = 1.0f / (1.0f + expf(-x)), g = dout[i];
        dgate[c] += g * gate[C + c] * sig * (1.0f + x * (1.0f - sig));
        dgate[C + c] += g * x * sig;
    }
}

void cuda_swiglu_forward(backend_t *be, float *out, const float *inp, int N, int C) {
    size_t total = (size_t)(N > 0 ? N : 0) * (size_t)(C > 0 ? C : 0);
    if (total == 0) return;
    swiglu_forward_kernel<<<cuda_blocks(total, CUDA_THREADS), CUDA_THREADS>>>(out, inp, C, total);
    cuda_launched(be, "swiglu_forward", "swiglu_forward_kernel");
}

void cuda_swiglu_backward(backend_t *be, float *dinp, const float *inp, const float *dout, int N, int C) {
    size_t total = (size_t)(N > 0 ? N : 0) * (size_t)(C > 0 ? C : 0);
    if (total == 0) return;
    swiglu_backward_kernel<<<cuda_blocks(total, CUDA_THREADS), CUDA_THREADS>>>(dinp, inp, dout, C, total);
    cuda_launched(be, "swiglu_backward", "swiglu_backward_kernel");
}

/* ---------------------------------------------------------------- tanh */

static __global__ void tanh_forward_kernel(float *out, const float *inp, size_t n) {
    CUDA_FOR(i, n) out[i] = tanhf(inp[i]);
}

static __global__ void tanh_backward_kernel(float *dinp, const float *out, const float *dout, size_t n) {
    CUDA_FOR(i, n) dinp[i] += (1.0f - out[i] * out[i]) * dout[i];
}

void cuda_tanh_forward(backend_t *be, float *out, const float *inp, size_t n) {
    if (n == 0) return;
    tanh_forward_kernel<<<cuda_blocks(n, CUDA_THREADS), CUDA_THREADS>>>(out, inp, n);
    cuda_launched(be, "tanh_forward", "tanh_forward_kernel");
}

void cuda_tanh_backward(backend_t *be, float *dinp, const float *out, const float *dout, size_t n) {
    if (n == 0) return;
    tanh_backward_kernel<<<cuda_blocks(n, CUDA_THREADS), CUDA_THREADS>>>(dinp, out, dout, n);
    cuda_launched(be, "tanh_backward", "tanh_backward_kernel");
}

/* ---------------------------------------------------------------- add, axpy */

static __global__ void add_kernel(float *out, const float *a, const float *b, size_t n) {
    CUDA_FOR(i, n) out[i] = a[i] + b[i];
}

static __global__ void axpy_kernel(float *y, const float *x, size_t n, float alpha) {
    CUDA_FOR(i, n) y[i] += alpha * x[i];
}

void cuda_add(backend_t *be, float *out, const float *a, const float *b, size_t n) {
    if (n == 0) return;
    add_kernel<<<cuda_blocks(n, CUDA_THREADS), CUDA_THREADS>>>(out, a, b, n);
    cuda_launched(be, "add", "add_kernel");
}

void cuda_axpy(backend_t *be, float *y, const float *x, size_t n, float alpha) {
    if (n == 0) return;
    axpy_kernel<<<cuda_blocks(n, CUDA_THREADS), CUDA_THREADS>>>(y, x, n, alpha);
    cuda_launched(be, "axpy", "axpy_kernel");
}

/* ---------------------------------------------------------------- dropout */

/* one Philox block (four elements) per thread */
static __global__ void dropout_backward_kernel(float *dinp, const float *dout, size_t n, float p,
                                               rng_key_t key) {
    float scale = 1.0f / (1.0f - p);
    size_t nb = (n + 3) / 4;
    CUDA_FOR(blk, nb) {
        cuda_philox_words_t w = cuda_philox(key, blk);
#pragma unroll
        for (unsigned l = 0; l < 4; l++) {
            size_t i = blk * 4 + l;
            if (i < n && cuda_uniform(cuda_philox_word(w, l)) >= p) dinp[i] += dout[i] * scale;
        }
    }
}

void cuda_dropout_forward(backend_t *be, float *x, size_t n, float p, rng_key_t key) {
    if (p <= 0.0f || n == 0) return;
    cuda_dropout_kernel<<<cuda_blocks((n + 3) / 4, CUDA_THREADS), CUDA_THREADS>>>(x, x, n, p, key);
    cuda_launched(be, "dropout_forward", "cuda_dropout_kernel");
}

void cuda_dropout_backward(backend_t *be, float *dinp, const float *dout, size_t n, float p,
                           rng_key_t key) {
    if (n == 0) return;
    if (p <= 0.0f) {
        cuda_axpy(be, dinp, dout, n, 1.0f);
        return;
    }
    dropout_backward_kernel<<<cuda_blocks((n + 3) / 4, CUDA_THREADS), CUDA_THREADS>>>(dinp, dout, n,
                                                                                      p, key);
    cuda_launched(be, "dropout_backward", "dropout_backward_kernel");
}

/* ---------------------------------------------------------------- cross-entropy */

/* number of valid (non-padding) columns of this rank's vocabulary slice */
static inline int valid_cols(int V, int vstart, int vocab) {
    int v = vocab - vstart;
    return v < 0 ? 0 : (v > V ? V : v);
}

/* one warp per row */
static __global__ void xent_max_kernel(float *rowmax, const float *logits, int N, int V, int nv) {
    int row = blockIdx.x * CUDA_ROWS_PER_BLOCK + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= N) return;
    const float *l = logits + (size_t)row * V;
    float m = -INFINITY;
    for (int j = lane; j < nv; j += 32) m = l[j] > m ? l[j] : m;
    m = warp_max(m);
    if (lane == 0) rowmax[row] = m;
}

/* one warp per row */
static __global__ void xent_sumexp_kernel(float *sumexp, float *tlogit, const float *logits,
                                          const float *rowmax, const int *targets, int N, int V,
                                          int vstart, int nv) {
    int row = blockIdx.x * CUDA_ROWS_PER_BLOCK + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= N) return;
    const float *l = logits + (size_t)row * V;
    /* each lane's partial and the butterfly are in double, rounded to float once (as on
     * the CPU: a float running sum over a 50k vocabulary biases the loss low) */
    float m = rowmax[row];
    double s = 0.0;
    for (int j = lane; j < nv; j += 32) s += (double)expf(l[j] - m);
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    if (lane == 0) {
        sumexp[row] = (float)s;
        int t = targets[row] - vstart;
        tlogit[row] = (t >= 0 && t < nv) ? l[t] : 0.0f;
    }
}

static __global__ void xent_loss_kernel(float *losses, const float *rowmax, const float *sumexp,
                                        const float *tlogit, int N) {
    CUDA_FOR(n, (size_t)N) losses[n] = logf(sumexp[n]) + rowmax[n] - tlogit[n];
}

static __global__ void xent_backward_kernel(float *logits, const float *rowmax, const float *sumexp,
                                            const int *targets, const float *dloss, int V,
                                            int vstart, int nv, size_t total) {
    CUDA_FOR(i, total) {
        size_t n = i / (size_t)V;
        int j = (int)(i % (size_t)V);
        if (j >= nv) {
            logits[i] = 0.0f;
            continue;
        }
        float inv = 1.0f / sumexp[n];
        float p = expf(logits[i] - rowmax[n]) * inv;
        int t = targets[n] - vstart;
        logits[i] = (p - (j == t ? 1.0f : 0.0f)) * dloss[n];
    }
}

void cuda_xent_max(backend_t *be, float *rowmax, const float *logits, int N, int V, int vstart,
                   int vocab) {
    if (N <= 0) return;
    xent_max_kernel<<<cuda_row_blocks(N), CUDA_THREADS>>>(rowmax, logits, N, V,
                                                          valid_cols(V, vstart, vocab));
    cuda_launched(be, "xent_max", "xent_max_kernel");
}

void cuda_xent_sumexp(backend_t *be, float *sumexp, float *tlogit, const float *logits,
                      const float *rowmax, const int *targets, int N, int V, int vstart,
                      int vocab) {
    if (N <= 0) return;
    xent_sumexp_kernel<<<cuda_row_blocks(N), CUDA_THREADS>>>(
        sumexp, tlogit, logits, rowmax, targets, N, V, vstart, valid_cols(V, vstart, vocab));
    cuda_launched(be, "xent_sumexp", "xent_sumexp_kernel");
}

void cuda_xent_loss(backend_t *be, float *losses, const float *rowmax, const float *sumexp,
                    const float *tlogit, int N) {
    if (N <= 0) return;
    xent_loss_kernel<<<cuda_blocks((size_t)N, CUDA_THREADS), CUDA_THREADS>>>(losses, rowmax, sumexp,
                                                                             tlogit, N);
    cuda_launched(be, "xent_loss", "xent_loss_kernel");
}

void cuda_xent_backward(backend_t *be, float *logits, const float *rowmax, const float *sumexp,
                        const int *targets, const float *dloss, int N, int V, int vstart,
                        int vocab) {
    size_t total = (size_t)(N > 0 ? N : 0) * (size_t)(V > 0 ? V : 0);
    if (total == 0) return;
    xent_backward_kernel<<<cuda_blocks(total, CUDA_THREADS), CUDA_THREADS>>>(
        logits, rowmax, sumexp, targets, dloss, V, vstart, valid_cols(V, vstart, vocab), total);
    cuda_launched(be, "xent_backward", "xent_backward_kernel");
}

/* ---------------------------------------------------------------- reductions */

/* partial[block] = sum over this block's fixed strided elements, tree-reduced */
static __global__ void reduce_partial_kernel(double *partial, const float *x, size_t n,
                                             int square) {
    __shared__ double sh[CUDA_REDUCE_THREADS];
    double acc = 0.0;
    for (size_t i = (size_t)blockIdx.x * CUDA_REDUCE_THREADS + threadIdx.x; i < n;
         i += (size_t)CUDA_REDUCE_GRID * CUDA_REDUCE_THREADS) {
        double v = x[i];
        acc += square ? v * v : v;
    }
    sh[threadIdx.x] = acc;
    __syncthreads();
    for (int s = CUDA_REDUCE_THREADS / 2; s > 0; s >>= 1) {
        if ((int)threadIdx.x < s) sh[threadIdx.x] += sh[threadIdx.x + s];
        __syncthreads();
    }
    if (threadIdx.x == 0) partial[blockIdx.x] = sh[0];
}

/* out = tree sum of the CUDA_REDUCE_GRID partials (one block of that many threads) */
static __global__ void reduce_final_kernel(double *out, const double *partial) {
    __shared__ double sh[CUDA_REDUCE_GRID];
    sh[threadIdx.x] = partial[threadIdx.x];
    __syncthreads();
    for (int s = CUDA_REDUCE_GRID / 2; s > 0; s >>= 1) {
        if ((int)threadIdx.x < s) sh[threadIdx.x] += sh[threadIdx.x + s];
        __syncthreads();
    }
    if (threadIdx.x == 0) *out = sh[0];
}

static double reduce(backend_t *be, const char *op, const float *x, size_t n, int square) {
    if (n == 0) return 0.0;
    double *red = cuda_state(be)->red;
    reduce_partial_kernel<<<CUDA_REDUCE_GRID, CUDA_REDUCE_THREADS>>>(red, x, n, square);
    if (!cuda_launched(be, op, "reduce_partial_kernel")) return NAN;
    reduce_final_kernel<<<1, CUDA_REDUCE_GRID>>>(red + CUDA_REDUCE_GRID, red);
    if (!cuda_launched(be, op, "reduce_final_kernel")) return NAN;
    double result = NAN;
    if (!cuda_check(
            be, cudaMemcpy(&result, red + CUDA_REDUCE_GRID, sizeof result, cudaMemcpyDeviceToHost),
            op, "cudaMemcpy"))
        return NAN;
    return result;
}

double cuda_sumsq(backend_t *be, const float *x, size_t n) { return reduce(be, "sumsq", x, n, 1); }

double cuda_sum(backend_t *be, const float *x, size_t n) { return reduce(be, "sum", x, n, 0); }

/* ---------------------------------------------------------------- optimizer, checks, casts */

/* Adam's moment update at one element, returning the decoupled-decay update
 * direction m^/(sqrt(v^)+eps) + wd*p (AdamW applies it, LAMB scales it first) */
static __device__ __forceinline__ float adam_direction(float p, float g, float *m, float *v, float beta1,
                                                       float beta2, float eps, float weight_decay, float bc1,
                                                       float bc2) {
    float mi = beta1 * *m + (1.0f - beta1) * g;
    float vi = beta2 * *v + (1.0f - beta2) * g * g;
    *m = mi;
    *v = vi;
    return (mi / bc1) / (sqrtf(vi / bc2) + eps) + weight_decay * p;
}

static __global__ void adamw_kernel(float *p, const float *g, float *m, float *v, size_t n,
                                    float lr, float beta1, float beta2, float eps,
                                    float weight_decay, float bc1, float bc2, float grad_scale) {
    CUDA_FOR(i, n) p[i] -= lr * adam_direction(p[i], g[i] * grad_scale, &m[i], &v[i], beta1, beta2, eps, weight_decay,
                                               bc1, bc2);
}

void cuda_adamw(backend_t *be, float *p, const float *g, float *m, float *v, size_t n, float lr,
                float beta1, float beta2, float eps, float weight_decay, float bc1, float bc2,
                float grad_scale) {
    if (n == 0) return;
    adamw_kernel<<<cuda_blocks(n, CUDA_THREADS), CUDA_THREADS>>>(
        p, g, m, v, n, lr, beta1, beta2, eps, weight_decay, bc1, bc2, grad_scale);
    cuda_launched(be, "adamw", "adamw_kernel");
}

static __global__ void lamb_moments_kernel(const float *p, const float *g, float *m, float *v, float *u,
                                           size_t n, float beta1, float beta2, float eps,
                                           float weight_decay, float bc1, float bc2, float grad_scale) {
    CUDA_FOR(i, n) u[i] = adam_direction(p[i], g[i] * grad_scale, &m[i], &v[i], beta1, beta2, eps, weight_decay, bc1,
                                         bc2);
}

void cuda_lamb_moments(backend_t *be, const float *p, const float *g, float *m, float *v, float *u, size_t n,
                       float beta1, float beta2, float eps, float weight_decay, float bc1, float bc2,
                       float grad_scale) {
    if (n == 0) return;
    lamb_moments_kernel<<<cuda_blocks(n, CUDA_THREADS), CUDA_THREADS>>>(
        p, g, m, v, u, n, beta1, beta2, eps, weight_decay, bc1, bc2, grad_scale);
    cuda_launched(be, "lamb_moments", "lamb_moments_kernel");
}

/* the segment holding element i (segs sorted and covering [0, n)) */
static __device__ __forceinline__ float segment_decay(const optim_segment_t *segs, int nseg, size_t i) {
    int lo = 0, hi = nseg - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (segs[mid].begin <= i) lo = mid;
        else hi = mid - 1;
    }
    return segs[lo].weight_decay;
}

static __global__ void adamw_multi_kernel(float *p, const float *g, float *m, float *v, size_t n,
                                          const optim_segment_t *segs, int nseg, float lr, float beta1,
                                          float beta2, float eps, float bc1, float bc2, float grad_scale) {
    CUDA_FOR(i, n) p[i] -= lr * adam_direction(p[i], g[i] * grad_scale, &m[i], &v[i], beta1, beta2, eps,
                                               segment_decay(segs, nseg, i), bc1, bc2);
}

void cuda_adamw_multi(backend_t *be, float *p, const float *g, float *m, float *v, size_t n,
                      const optim_segment_t *segs, int nseg, float lr, float beta1, float beta2, float eps,
                      float bc1, float bc2, float grad_scale) {
    if (n == 0 || nseg <= 0) return;
    adamw_multi_kernel<<<cuda_blocks(n, CUDA_THREADS), CUDA_THREADS>>>(p, g, m, v, n, segs, nseg, lr, beta1, beta2,
                                                                       eps, bc1, bc2, grad_scale);
    cuda_launched(be, "adamw_multi", "adamw_multi_kernel");
}

static __global__ void lamb_moments_multi_kernel(const float *p, const float *g, float *m, float *v, float *u,
                                                 size_t n, const optim_segment_t *segs, int nseg, float beta1,
                                                 float beta2, float eps, float bc1, float bc2, float grad_scale) {
    CUDA_FOR(i, n) u[i] = adam_direction(p[i], g[i] * grad_scale, &m[i], &v[i], beta1, beta2, eps,
                                         segment_decay(segs, nseg, i), bc1, bc2);
}

void cuda_lamb_moments_multi(backend_t *be, const float *p, const float *g, float *m, float *v, float *u, size_t n,
                             const optim_segment_t *segs, int nseg, float beta1, float beta2, float eps, float bc1,
                             float bc2, float grad_scale) {
    if (n == 0 || nseg <= 0) return;
    lamb_moments_multi_kernel<<<cuda_blocks(n, CUDA_THREADS), CUDA_THREADS>>>(p, g, m, v, u, n, segs, nseg, beta1,
                                                                              beta2, eps, bc1, bc2, grad_scale);
    cuda_launched(be, "lamb_moments_multi", "lamb_moments_multi_kernel");
}

/* every thread that sees a non-finite value stores 1 (the same value: no race on the result) */
static __global__ void inf_nan_kernel(int *flag, const float *x, size_t n) {
    int bad = 0;
    CUDA_FOR(i, n) bad |= (__float_as_uint(x[i]) & 0x7f800000u) == 0x7f800000u;
    if (bad) *flag = 1;
}

int cuda_has_inf_nan(backend_t *be, const float *x, size_t n) {
    const char *op = "has_inf_nan";
    if (n == 0) return 0;
    int *flag = cuda_state(be)->flag;
    if (!cuda_check(be, cudaMemsetAsync(flag, 0, sizeof(int), 0), op, "cudaMemsetAsync")) return 1;
    inf_nan_kernel<<<cuda_blocks(n, CUDA_THREADS), CUDA_THREADS>>>(flag, x, n);
    if (!cuda_launched(be, op, "inf_nan_kernel")) return 1;
    int bad = 1;
    if (!cuda_check(be, cudaMemcpy(&bad, flag, sizeof bad, cudaMemcpyDeviceToHost), op,
                    "cudaMemcpy"))
        return 1;
    return bad != 0;
}

static __global__ void cast_bf16_kernel(uint16_t *dst, const float *src, size_t n) {
    CUDA_FOR(i, n) dst[i] = cuda_f32_to_bf16(src[i]);
}

static __global__ void cast_f16_kernel(uint16_t *dst, const float *src, size_t n) {
    CUDA_FOR(i, n) dst[i] = cuda_f32_to_f16(src[i]);
}

void cuda_cast_from_f32(backend_t *be, void *dst, dtype_t dst_type, const float *src, size_t n) {
    const char *op = "cast_from_f32";
    if (n == 0) return;
    uint16_t *d = (uint16_t *)dst;
    switch (dst_type) {
    case DTYPE_BF16:
        cast_bf16_kernel<<<cuda_blocks(n, CUDA_THREADS), CUDA_THREADS>>>(d, src, n);
        cuda_launched(be, op, "cast_bf16_kernel");
        break;
    case DTYPE_F16:
        cast_f16_kernel<<<cuda_blocks(n, CUDA_THREADS), CUDA_THREADS>>>(d, src, n);
        cuda_launched(be, op, "cast_f16_kernel");
        break;
    case DTYPE_F32:
        if (dst != (const void *)src)
            cuda_check(be,
                       cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToDevice, 0),
                       op, "cudaMemcpyAsync");
        break;
    case DTYPE_I32:
        cuda_record(be, op, "cast to i32", "not a floating-point storage type");
        break;
    }
}

static __global__ void round_bf16_kernel(float *dst, const float *src, size_t n) {
    CUDA_FOR(i, n) dst[i] = cuda_bf16_to_f32(cuda_f32_to_bf16(src[i]));
}

static __global__ void round_f16_kernel(float *dst, const float *src, size_t n) {
    CUDA_FOR(i, n) dst[i] = cuda_f16_to_f32(cuda_f32_to_f16(src[i]));
}

void cuda_round_to(backend_t *be, float *dst, const float *src, size_t n, dtype_t type) {
    const char *op = "round_to";
    if (n == 0) return;
    switch (type) {
    case DTYPE_BF16:
        round_bf16_kernel<<<cuda_blocks(n, CUDA_THREADS), CUDA_THREADS>>>(dst, src, n);
        cuda_launched(be, op, "round_bf16_kernel");
        break;
    case DTYPE_F16:
        round_f16_kernel<<<cuda_blocks(n, CUDA_THREADS), CUDA_THREADS>>>(dst, src, n);
        cuda_launched(be, op, "round_f16_kernel");
        break;
    case DTYPE_F32:
        if (dst != src)
            cuda_check(be, cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToDevice, 0), op,
                       "cudaMemcpyAsync");
        break;
    case DTYPE_I32:
        cuda_record(be, op, "round to i32", "not a floating-point storage type");
        break;
    }
}
