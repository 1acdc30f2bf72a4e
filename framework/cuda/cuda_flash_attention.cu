/* cuda_flash_attention.cu — fused ("flash") attention on the GPU, in fp32.
 *
 * The same function as cpu_flash_attention.c (its reference): no [B,NH,T,T]
 * tensor; the forward keeps each row's log-sum-exp, the backward recomputes the
 * probabilities from q, k and it. Tiles of FA_TILE = 32 query rows or keys (one
 * per lane of a warp); a block of FA_WARPS warps handles one (batch, head, tile),
 * each warp FA_ROWS = 4 rows (or keys) of it, with the tiles it reads staged in
 * shared memory (rows read one per lane are padded by one float: no bank
 * conflicts for even head sizes).
 *   forward   (batch, head, query tile): key tiles in order through shared memory;
 *             per query row, lane j scores key j, the warp updates the running max
 *             m and sum l (online softmax) and, with lanes over the head
 *             dimension, the running output.
 *   backward  two kernels, no atomics, so every gradient element is written by one
 *             thread in a fixed order (deterministic):
 *             dq (batch, head, query tile): over key tiles, lane j forms
 *               dS_tj = P_tj (dP_tj - D_t) and the warp sums dS_tj k_j;
 *             dk/dv (batch, key/value group, key tile): over the group's query
 *               heads in order and their query tiles, lane i forms P_ij, Pd_ij
 *               and dS_ij and the warp sums Pd_ij dout_i and dS_ij q_i;
 *             D_t = dout_t . out_t (= rowsum(P * dP)) is recomputed where needed
 *             (HS multiply-adds per row and tile: cheap next to the tile's work).
 * Grouped-query attention (backend.h's qkv layout, R = NH/NG query heads per
 * key/value head): query head h reads the k and v of group h / R; with R = 1
 * every kernel does exactly the multi-head arithmetic.
 * Dropout: element (b, h, t, j) keeps cuda_keep(key, ((b*NH + h)*T + t)*T + j), the
 * index attention_forward uses. Head sizes up to FA_MAX_HS (the output and
 * gradient rows live in registers, ceil(HS/32) per lane); a larger one records an
 * error. Plain fp32 arithmetic and shuffles: no sm_80-only instructions. */
#include "cuda_ops.cuh"
#include "cuda_rng.cuh"

#include <math.h>
#include <stdio.h>

#define FA_TILE 32
#define FA_WARPS 8
#define FA_THREADS (FA_WARPS * 32)
#define FA_ROWS (FA_TILE / FA_WARPS)
#define FA_MAX_HS 256
#define FA_FULL 0xffffffffu

/* columns of query head h's q and of its group's k in a qkv row (v follows k);
 * QR = NH/NG query heads per group (R is the kernels' register-row count) */
static __device__ __forceinline__ size_t fa_q_col(int h, int QR, int HS) {
    return ((size_t)(h / QR) * (QR + 2) + h % QR) * HS;
}
static __device__ __forceinline__ size_t fa_k_col(int g, int QR, int HS) { return ((size_t)g * (QR + 2) + QR) * HS; }

/* key j of batch b may be attended at all (the causal test is per row) */
static __device__ __forceinline__ int fa_key_ok(const float *key_mask, int T, int b, int j) {
    return j < T && !(key_mask && key_mask[(size_t)b * T + j] == 0.0f);
}

/* rows [0, FA_TILE) of dst (row stride `stride`) = rows r0.. of src (row stride
 * `ld`, HS wide); rows at or past T are zeroed */
static __device__ __forceinline__ void fa_load_tile(float *dst, int stride, const float *src, size_t ld, int r0,
                                                    int T, int HS) {
    for (int e = threadIdx.x; e < FA_TILE * HS; e += FA_THREADS) {
        int r = e / HS, d = e - r * HS;
        dst[r * stride + d] = r0 + r < T ? src[(size_t)(r0 + r) * ld + d] : 0.0f;
    }
}

/* a . b over HS elements (b in shared memory) */
static __device__ __forceinline__ float fa_dot(const float *a, const float *b, int HS) {
    float s = 0.0f;
    for (int d = 0; d < HS; d++) s += a[d] * b[d];
    return s;
}

/* D = dout_t . out_t for one row, lanes over the head dimension (dO in shared
 * memory, O in global memory); every lane gets the same value */
template <int R>
static __device__ __forceinline__ float fa_row_delta(const float *dO, const float *O, int HS, int lane) {
    float part = 0.0f;
#pragma unroll
    for (int c = 0; c < R; c++) {
        int d = lane + 32 * c;
        if (d < HS) part += dO[d] * O[d];
    }
    return warp_sum(part);
}

/* ---------------------------------------------------------------- forward */

template <int R>
static __global__ void __launch_bounds__(FA_THREADS)
    flash_forward_kernel(float *out, float *lse, const float *qkv, const float *key_mask, int causal, int T, int NH,
                         int QR, int HS, float scale, float drop, rng_key_t key) {
    extern __shared__ float fa_smem[];
    const int P = HS + 1, ntiles = (T + FA_TILE - 1) / FA_TILE;
    const int qt = (int)(blockIdx.x % (unsigned)ntiles), bh = (int)(blockIdx.x / (unsigned)ntiles);
    const int b = bh / NH, h = bh % NH, ld = (NH + 2 * (NH / QR)) * HS, C = NH * HS;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, q0 = qt * FA_TILE;
    float *sq = fa_smem;              /* [FA_TILE][HS]  rows read by the whole warp */
    float *sk = sq + FA_TILE * HS;    /* [FA_TILE][P]   row j read by lane j        */
    float *sv = sk + FA_TILE * P;     /* [FA_TILE][HS]  lanes over the head dim      */
    const float *qb = qkv + (size_t)b * T * ld + fa_q_col(h, QR, HS), *kb = qkv + (size_t)b * T * ld + fa_k_col(h / QR, QR, HS);
    const float dscale = drop > 0.0f ? 1.0f / (1.0f - drop) : 1.0f;
    fa_load_tile(sq, HS, qb, (size_t)ld, q0, T, HS);

    float m[FA_ROWS], l[FA_ROWS], acc[FA_ROWS][R];
#pragma unroll
    for (int rr = 0; rr < FA_ROWS; rr++) {
        m[rr] = -INFINITY, l[rr] = 0.0f;
#pragma unroll
        for (int c = 0; c < R; c++) acc[rr][c] = 0.0f;
    }
    const int qlast = (q0 + FA_TILE < T ? q0 + FA_TILE : T) - 1;
    const int kend = causal ? qlast + 1 : T;
    for (int k0 = 0; k0 < kend; k0 += FA_TILE) {
        __syncthreads(); /* the previous tile's readers are done */
        fa_load_tile(sk, P, kb, (size_t)ld, k0, T, HS);
        fa_load_tile(sv, HS, kb + HS, (size_t)ld, k0, T, HS);
        __syncthreads();
        const int j = k0 + lane, jok = fa_key_ok(key_mask, T, b, j);
#pragma unroll
        for (int rr = 0; rr < FA_ROWS; rr++) {
            const int r = warp * FA_ROWS + rr, t = q0 + r;
            if (t >= T) continue; /* warp-uniform */
            const int ok = jok && !(causal && j > t);
            const float sc = ok ? scale * fa_dot(sq + r * HS, sk + lane * P, HS) : -INFINITY;
            const float mnew = fmaxf(m[rr], warp_max(sc));
            if (mnew == -INFINITY) continue; /* no allowed key so far: warp-uniform */
            const float corr = expf(m[rr] - mnew); /* 0 while m is -inf */
            const float p = ok ? expf(sc - mnew) : 0.0f;
            l[rr] = l[rr] * corr + warp_sum(p);
            float pd = p;
            if (drop > 0.0f && ok) pd = cuda_keep(key, ((uint64_t)bh * T + t) * T + j, drop) ? p * dscale : 0.0f;
#pragma unroll
            for (int c = 0; c < R; c++) acc[rr][c] *= corr;
            for (int jj = 0; jj < FA_TILE; jj++) {
                const float w = __shfl_sync(FA_FULL, pd, jj);
#pragma unroll
                for (int c = 0; c < R; c++) {
                    int d = lane + 32 * c;
                    if (d < HS) acc[rr][c] += w * sv[jj * HS + d];
                }
            }
            m[rr] = mnew;
        }
    }
#pragma unroll
    for (int rr = 0; rr < FA_ROWS; rr++) {
        const int t = q0 + warp * FA_ROWS + rr;
        if (t >= T) continue;
        const float inv = l[rr] > 0.0f ? 1.0f / l[rr] : 0.0f;
        float *o = out + ((size_t)b * T + t) * C + (size_t)h * HS;
#pragma unroll
        for (int c = 0; c < R; c++) {
            int d = lane + 32 * c;
            if (d < HS) o[d] = acc[rr][c] * inv;
        }
        if (lane == 0) lse[(size_t)bh * T + t] = l[rr] > 0.0f ? m[rr] + logf(l[rr]) : -INFINITY;
    }
}

/* ---------------------------------------------------------------- backward: dq */

template <int R>
static __global__ void __launch_bounds__(FA_THREADS)
    flash_backward_dq_kernel(float *dqkv, const float *dout, const float *qkv, const float *out, const float *lse,
                             const float *key_mask, int causal, int T, int NH, int QR, int HS, float scale, float drop,
                             rng_key_t key) {
    extern __shared__ float fa_smem[];
    const int P = HS + 1, ntiles = (T + FA_TILE - 1) / FA_TILE;
    const int qt = (int)(blockIdx.x % (unsigned)ntiles), bh = (int)(blockIdx.x / (unsigned)ntiles);
    const int b = bh / NH, h = bh % NH, ld = (NH + 2 * (NH / QR)) * HS, C = NH * HS;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, q0 = qt * FA_TILE;
    float *sq = fa_smem;              /* [FA_TILE][HS] */
    float *sdo = sq + FA_TILE * HS;   /* [FA_TILE][HS] */
    float *sk = sdo + FA_TILE * HS;   /* [FA_TILE][P]  */
    float *sv = sk + FA_TILE * P;     /* [FA_TILE][P]  */
    const float *qb = qkv + (size_t)b * T * ld + fa_q_col(h, QR, HS), *kb = qkv + (size_t)b * T * ld + fa_k_col(h / QR, QR, HS);
    const float dscale = drop > 0.0f ? 1.0f / (1.0f - drop) : 1.0f;
    fa_load_tile(sq, HS, qb, (size_t)ld, q0, T, HS);
    fa_load_tile(sdo, HS, dout + (size_t)b * T * C + (size_t)h * HS, (size_t)C, q0, T, HS);
    __syncthreads();

    float lr[FA_ROWS], D[FA_ROWS], dq[FA_ROWS][R];
#pragma unroll
    for (int rr = 0; rr < FA_ROWS; rr++) {
        const int r = warp * FA_ROWS + rr, t = q0 + r;
        lr[rr] = t < T ? lse[(size_t)bh * T + t] : -INFINITY;
        D[rr] = t < T ? fa_row_delta<R>(sdo + r * HS, out + ((size_t)b * T + t) * C + (size_t)h * HS, HS, lane)
                      : 0.0f;
#pragma unroll
        for (int c = 0; c < R; c++) dq[rr][c] = 0.0f;
    }
    const int qlast = (q0 + FA_TILE < T ? q0 + FA_TILE : T) - 1;
    const int kend = causal ? qlast + 1 : T;
    for (int k0 = 0; k0 < kend; k0 += FA_TILE) {
        __syncthreads();
        fa_load_tile(sk, P, kb, (size_t)ld, k0, T, HS);
        fa_load_tile(sv, P, kb + HS, (size_t)ld, k0, T, HS);
        __syncthreads();
        const int j = k0 + lane, jok = fa_key_ok(key_mask, T, b, j);
#pragma unroll
        for (int rr = 0; rr < FA_ROWS; rr++) {
            const int r = warp * FA_ROWS + rr, t = q0 + r;
            if (t >= T || lr[rr] == -INFINITY) continue; /* warp-uniform; a row that saw no key has no gradient */
            float ds = 0.0f;
            if (jok && !(causal && j > t)) {
                const float p = expf(scale * fa_dot(sq + r * HS, sk + lane * P, HS) - lr[rr]);
                float dp = fa_dot(sdo + r * HS, sv + lane * P, HS);
                if (drop > 0.0f) dp = cuda_keep(key, ((uint64_t)bh * T + t) * T + j, drop) ? dp * dscale : 0.0f;
                ds = p * (dp - D[rr]);
            }
            for (int jj = 0; jj < FA_TILE; jj++) {
                const float w = __shfl_sync(FA_FULL, ds, jj);
#pragma unroll
                for (int c = 0; c < R; c++) {
                    int d = lane + 32 * c;
                    if (d < HS) dq[rr][c] += w * sk[jj * P + d];
                }
            }
        }
    }
#pragma unroll
    for (int rr = 0; rr < FA_ROWS; rr++) {
        const int t = q0 + warp * FA_ROWS + rr;
        if (t >= T) continue;
        float *g = dqkv + ((size_t)b * T + t) * ld + fa_q_col(h, QR, HS);
#pragma unroll
        for (int c = 0; c < R; c++) {
            int d = lane + 32 * c;
            if (d < HS) g[d] += scale * dq[rr][c];
        }
    }
}

/* ---------------------------------------------------------------- backward: dk, dv */

template <int R>
static __global__ void __launch_bounds__(FA_THREADS)
    flash_backward_dkv_kernel(float *dqkv, const float *dout, const float *qkv, const float *out, const float *lse,
                              const float *key_mask, int causal, int T, int NH, int QR, int HS, float scale, float drop,
                              rng_key_t key) {
    extern __shared__ float fa_smem[];
    const int P = HS + 1, ntiles = (T + FA_TILE - 1) / FA_TILE, NG = NH / QR;
    const int kt = (int)(blockIdx.x % (unsigned)ntiles), bg = (int)(blockIdx.x / (unsigned)ntiles);
    const int b = bg / NG, g = bg % NG, ld = (NH + 2 * NG) * HS, C = NH * HS;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, k0 = kt * FA_TILE;
    float *sk = fa_smem;              /* [FA_TILE][HS] key rows, read by the warp owning them */
    float *sv = sk + FA_TILE * HS;    /* [FA_TILE][HS] */
    float *sq = sv + FA_TILE * HS;    /* [FA_TILE][P]  query row i read by lane i             */
    float *sdo = sq + FA_TILE * P;    /* [FA_TILE][P]  */
    float *slse = sdo + FA_TILE * P;  /* [FA_TILE]     */
    float *sD = slse + FA_TILE;       /* [FA_TILE]     */
    const float *kb = qkv + (size_t)b * T * ld + fa_k_col(g, QR, HS);
    const float dscale = drop > 0.0f ? 1.0f / (1.0f - drop) : 1.0f;
    fa_load_tile(sk, HS, kb, (size_t)ld, k0, T, HS);
    fa_load_tile(sv, HS, kb + HS, (size_t)ld, k0, T, HS);

    int kok[FA_ROWS];
    float dk[FA_ROWS][R], dv[FA_ROWS][R];
#pragma unroll
    for (int rr = 0; rr < FA_ROWS; rr++) {
        kok[rr] = fa_key_ok(key_mask, T, b, k0 + warp * FA_ROWS + rr);
#pragma unroll
        for (int c = 0; c < R; c++) dk[rr][c] = dv[rr][c] = 0.0f;
    }
    for (int h = g * QR; h < (g + 1) * QR; h++) { /* the group's query heads, in order */
        const int bh = b * NH + h;
        const float *qb = qkv + (size_t)b * T * ld + fa_q_col(h, QR, HS);
        const float *dO0 = dout + (size_t)b * T * C + (size_t)h * HS;
        /* causal: queries before this tile's first key see none of its keys */
        for (int qs = causal ? k0 : 0; qs < T; qs += FA_TILE) {
            __syncthreads();
            fa_load_tile(sq, P, qb, (size_t)ld, qs, T, HS);
            fa_load_tile(sdo, P, dO0, (size_t)C, qs, T, HS);
            __syncthreads();
#pragma unroll
            for (int rr = 0; rr < FA_ROWS; rr++) {
                const int r = warp * FA_ROWS + rr, i = qs + r;
                float Di = 0.0f, li = -INFINITY;
                if (i < T) {
                    Di = fa_row_delta<R>(sdo + r * P, out + ((size_t)b * T + i) * C + (size_t)h * HS, HS, lane);
                    li = lse[(size_t)bh * T + i];
                }
                if (lane == 0) sD[r] = Di, slse[r] = li;
            }
            __syncthreads();
            const int i = qs + lane;
            const float li = slse[lane], Di = sD[lane];
            const int iok = i < T && li != -INFINITY;
#pragma unroll
            for (int rr = 0; rr < FA_ROWS; rr++) {
                const int jr = warp * FA_ROWS + rr, j = k0 + jr;
                if (!kok[rr]) continue; /* warp-uniform: a key nobody attends has no gradient */
                float pd = 0.0f, ds = 0.0f;
                if (iok && !(causal && j > i)) {
                    const float p = expf(scale * fa_dot(sq + lane * P, sk + jr * HS, HS) - li);
                    float dp = fa_dot(sdo + lane * P, sv + jr * HS, HS);
                    pd = p;
                    if (drop > 0.0f) {
                        const int keep = cuda_keep(key, ((uint64_t)bh * T + i) * T + j, drop);
                        pd = keep ? p * dscale : 0.0f;
                        dp = keep ? dp * dscale : 0.0f;
                    }
                    ds = p * (dp - Di);
                }
                for (int ii = 0; ii < FA_TILE; ii++) {
                    const float wv = __shfl_sync(FA_FULL, pd, ii), wk = __shfl_sync(FA_FULL, ds, ii);
#pragma unroll
                    for (int c = 0; c < R; c++) {
                        int d = lane + 32 * c;
                        if (d < HS) {
                            dv[rr][c] += wv * sdo[ii * P + d];
                            dk[rr][c] += wk * sq[ii * P + d];
                        }
                    }
                }
            }
        }
    }
#pragma unroll
    for (int rr = 0; rr < FA_ROWS; rr++) {
        const int j = k0 + warp * FA_ROWS + rr;
        if (!kok[rr]) continue;
        float *gk = dqkv + ((size_t)b * T + j) * ld + fa_k_col(g, QR, HS);
#pragma unroll
        for (int c = 0; c < R; c++) {
            int d = lane + 32 * c;
            if (d < HS) {
                gk[d] += scale * dk[rr][c];
                gk[HS + d] += dv[rr][c];
            }
        }
    }
}

/* ---------------------------------------------------------------- launches */

/* dynamic shared memory of each kernel, in bytes */
static size_t fa_forward_smem(int HS) { return sizeof(float) * (size_t)FA_TILE * (3 * (size_t)HS + 1); }
static size_t fa_dq_smem(int HS) { return sizeof(float) * (size_t)FA_TILE * (4 * (size_t)HS + 2); }
static size_t fa_dkv_smem(int HS) { return sizeof(float) * (size_t)FA_TILE * (4 * (size_t)HS + 4); }

/* raises a kernel's dynamic shared-memory limit past the default 48 KB when needed */
template <typename K>
static int fa_smem_limit(backend_t *be, const char *op, K kernel, size_t bytes) {
    if (bytes <= 48 * 1024) return 1;
    return cuda_check(be, cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes),
                      op, "cudaFuncSetAttribute(MaxDynamicSharedMemorySize)");
}

/* ceil(HS/32) rounded up to a power of two (the register rows per lane); 0: too large */
static int fa_regs(int HS) { return HS <= 32 ? 1 : HS <= 64 ? 2 : HS <= 128 ? 4 : HS <= FA_MAX_HS ? 8 : 0; }

template <int R>
static void fa_forward(backend_t *be, float *out, float *lse, const float *qkv, const attn_shape_t *s,
                       unsigned blocks) {
    size_t smem = fa_forward_smem(s->HS);
    if (!fa_smem_limit(be, "flash_attention_forward", flash_forward_kernel<R>, smem)) return;
    flash_forward_kernel<R><<<blocks, FA_THREADS, smem>>>(out, lse, qkv, s->key_mask, s->causal, s->T, s->NH,
                                                          s->NH / attn_groups(s), s->HS, 1.0f / sqrtf((float)s->HS),
                                                          s->dropout, s->key);
    cuda_launched(be, "flash_attention_forward", "flash_forward_kernel");
}

template <int R>
static void fa_backward(backend_t *be, float *dqkv, const float *dout, const float *qkv, const float *out,
                        const float *lse, const attn_shape_t *s, unsigned blocks) {
    const char *op = "flash_attention_backward";
    const float scale = 1.0f / sqrtf((float)s->HS);
    const int QR = s->NH / attn_groups(s);
    size_t smem = fa_dq_smem(s->HS);
    if (!fa_smem_limit(be, op, flash_backward_dq_kernel<R>, smem)) return;
    flash_backward_dq_kernel<R><<<blocks, FA_THREADS, smem>>>(dqkv, dout, qkv, out, lse, s->key_mask, s->causal,
                                                              s->T, s->NH, QR, s->HS, scale, s->dropout, s->key);
    if (!cuda_launched(be, op, "flash_backward_dq_kernel")) return;
    smem = fa_dkv_smem(s->HS);
    if (!fa_smem_limit(be, op, flash_backward_dkv_kernel<R>, smem)) return;
    /* one block per (batch, key/value group, key tile) */
    flash_backward_dkv_kernel<R><<<blocks / (unsigned)QR, FA_THREADS, smem>>>(
        dqkv, dout, qkv, out, lse, s->key_mask, s->causal, s->T, s->NH, QR, s->HS, scale, s->dropout, s->key);
    cuda_launched(be, op, "flash_backward_dkv_kernel");
}

/* blocks of one (batch, query head, tile) each; 0 when there is nothing to do or the
 * head size is unsupported (recorded) */
static unsigned fa_blocks(backend_t *be, const char *op, const attn_shape_t *s) {
    if (s->B <= 0 || s->T <= 0 || s->NH <= 0 || s->HS <= 0) return 0;
    if (s->NH % attn_groups(s) != 0) {
        cuda_record(be, op, "launch", "the query groups do not divide the heads");
        return 0;
    }
    if (!fa_regs(s->HS)) {
        char why[96];
        snprintf(why, sizeof why, "head size %d exceeds the fused kernel's %d", s->HS, FA_MAX_HS);
        cuda_record(be, op, "launch", why);
        return 0;
    }
    return (unsigned)((size_t)s->B * s->NH * ((s->T + FA_TILE - 1) / FA_TILE));
}

void cuda_flash_attention_forward(backend_t *be, float *out, float *lse, const float *qkv, const attn_shape_t *s) {
    unsigned blocks = fa_blocks(be, "flash_attention_forward", s);
    if (!blocks) return;
    switch (fa_regs(s->HS)) {
    case 1: fa_forward<1>(be, out, lse, qkv, s, blocks); break;
    case 2: fa_forward<2>(be, out, lse, qkv, s, blocks); break;
    case 4: fa_forward<4>(be, out, lse, qkv, s, blocks); break;
    default: fa_forward<8>(be, out, lse, qkv, s, blocks); break;
    }
}

void cuda_flash_attention_backward(backend_t *be, float *dqkv, const float *dout, const float *qkv, const float *out,
                                   const float *lse, const attn_shape_t *s) {
    unsigned blocks = fa_blocks(be, "flash_attention_backward", s);
    if (!blocks) return;
    switch (fa_regs(s->HS)) {
    case 1: fa_backward<1>(be, dqkv, dout, qkv, out, lse, s, blocks); break;
    case 2: fa_backward<2>(be, dqkv, dout, qkv, out, lse, s, blocks); break;
    case 4: fa_backward<4>(be, dqkv, dout, qkv, out, lse, s, blocks); break;
    default: fa_backward<8>(be, dqkv, dout, qkv, out, lse, s, blocks); break;
    }
}
