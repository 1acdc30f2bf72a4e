/* cuda_rng.cuh — Philox4x32-10 and the dropout keep test for CUDA kernels.
 *
 * Bit-for-bit the generator of framework/rng.c (same key and counter layout,
 * same rounds), so both backends drop the same elements. The functions are
 * __host__ __device__ so a host program can check them against rng.c. */
#ifndef MEGAC_CUDA_RNG_CUH
#define MEGAC_CUDA_RNG_CUH

#include <stdint.h>

extern "C" {
#include "../rng.h"
}

typedef struct cuda_philox_words {
    uint32_t w0, w1, w2, w3;
} cuda_philox_words_t;

/* Four words for block `counter` of key (rng_philox in rng.c). */
static __host__ __device__ __forceinline__ cuda_philox_words_t cuda_philox(rng_key_t key,
                                                                           uint64_t counter) {
    uint32_t c0 = (uint32_t)counter, c1 = (uint32_t)(counter >> 32);
    uint32_t c2 = key.step, c3 = key.stream;
    uint32_t k0 = (uint32_t)key.seed, k1 = (uint32_t)(key.seed >> 32);
#ifdef __CUDA_ARCH__
#pragma unroll
#endif
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * c0;
        uint64_t p1 = (uint64_t)0xCD9E8D57u * c2;
        uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
        uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    cuda_philox_words_t w = {c0, c1, c2, c3};
    return w;
}

/* Word `lane` (0..3) of a Philox block. */
static __host__ __device__ __forceinline__ uint32_t cuda_philox_word(cuda_philox_words_t w,
                                                                     unsigned lane) {
    return lane == 0 ? w.w0 : lane == 1 ? w.w1 : lane == 2 ? w.w2 : w.w3;
}

/* rng_u32: one word for element `index`. */
static __host__ __device__ __forceinline__ uint32_t cuda_rng_u32(rng_key_t key, uint64_t index) {
    return cuda_philox_word(cuda_philox(key, index >> 2), (unsigned)(index & 3));
}

/* rng_uniform_from_u32: uniform in [0,1) with 24 bits (exact in float). */
static __host__ __device__ __forceinline__ float cuda_uniform(uint32_t x) {
    return (float)(x >> 8) * (1.0f / 16777216.0f);
}

/* rng_keep: 1 when element `index` survives dropout with drop probability p. */
static __host__ __device__ __forceinline__ int cuda_keep(rng_key_t key, uint64_t index, float p) {
    return cuda_uniform(cuda_rng_u32(key, index)) >= p;
}

#ifdef __CUDACC__
/* dst = dropout(src) over n elements (dst may be src), one Philox block per four
 * elements per thread: the same mask as rng_keep(key, i, p). */
static __global__ void cuda_dropout_kernel(float *dst, const float *src, size_t n, float p, rng_key_t key) {
    float scale = 1.0f / (1.0f - p);
    size_t nb = (n + 3) / 4;
    for (size_t blk = (size_t)blockIdx.x * blockDim.x + threadIdx.x; blk < nb; blk += (size_t)gridDim.x * blockDim.x) {
        cuda_philox_words_t w = cuda_philox(key, blk);
#pragma unroll
        for (unsigned l = 0; l < 4; l++) {
            size_t i = blk * 4 + l;
            if (i < n) dst[i] = cuda_uniform(cuda_philox_word(w, l)) >= p ? src[i] * scale : 0.0f;
        }
    }
}
#endif

#endif
