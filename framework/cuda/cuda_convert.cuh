/* cuda_convert.cuh — fp32 to bf16 / fp16 rounding (nearest even) by integer bit
 * manipulation, the same bits as f32_to_bf16 / f32_to_f16 in framework/tensor.c.
 * No sm_80-only instructions; __host__ __device__ so a host program can check
 * them against tensor.c. */
#ifndef MEGAC_CUDA_CONVERT_CUH
#define MEGAC_CUDA_CONVERT_CUH

#include <math.h>
#include <stdint.h>
#include <string.h>

static __host__ __device__ __forceinline__ uint32_t cuda_f32_bits(float x) {
#ifdef __CUDA_ARCH__
    return __float_as_uint(x);
#else
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
#endif
}

static __host__ __device__ __forceinline__ float cuda_bits_f32(uint32_t u) {
#ifdef __CUDA_ARCH__
    return __uint_as_float(u);
#else
    float f;
    memcpy(&f, &u, 4);
    return f;
#endif
}

static __host__ __device__ __forceinline__ uint16_t cuda_f32_to_bf16(float x) {
    uint32_t u = cuda_f32_bits(x);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static __host__ __device__ __forceinline__ uint16_t cuda_f32_to_f16(float x) {
    uint32_t u = cuda_f32_bits(x);
    uint32_t sign = (u >> 16) & 0x8000u;
    uint32_t absu = u & 0x7fffffffu;
    if (absu > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);  /* NaN */
    if (absu >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* overflow -> inf */
    if (absu < 0x38800000u) {                                   /* subnormal or zero */
        /* scale so the subnormal unit (2^-24) becomes 1 (exact), round to nearest even */
        float scaled = cuda_bits_f32(absu) * 16777216.0f;
        uint32_t m = (uint32_t)rintf(scaled);
        return (uint16_t)(sign | m);
    }
    uint32_t e = ((absu >> 23) - 112u) << 10;
    uint32_t m = (absu >> 13) & 0x3ffu;
    uint32_t h = e | m;
    uint32_t rest = absu & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) h++;
    return (uint16_t)(sign | h);
}


static __host__ __device__ __forceinline__ float cuda_bf16_to_f32(uint16_t x) {
    return cuda_bits_f32((uint32_t)x << 16);
}

static __host__ __device__ __forceinline__ float cuda_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0) /* subnormal or zero: m * 2^-24 is exact in fp32 */
        return cuda_bits_f32(cuda_f32_bits((float)m * 5.9604644775390625e-8f) | sign);
    return cuda_bits_f32(e == 31 ? (sign | 0x7f800000u | (m << 13)) : (sign | ((e + 112u) << 23) | (m << 13)));
}

#endif
