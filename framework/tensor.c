/* tensor.c — tensor descriptors, arenas and half-precision conversions. */
#include "tensor.h"

#include <math.h>
#include <string.h>

size_t dtype_size(dtype_t t) {
    switch (t) {
    case DTYPE_F32: return 4;
    case DTYPE_BF16: return 2;
    case DTYPE_F16: return 2;
    case DTYPE_I32: return 4;
    }
    return 0;
}

const char *dtype_name(dtype_t t) {
    switch (t) {
    case DTYPE_F32: return "f32";
    case DTYPE_BF16: return "bf16";
    case DTYPE_F16: return "f16";
    case DTYPE_I32: return "i32";
    }
    return "?";
}

int64_t tensor_numel(const tensor_t *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

size_t tensor_nbytes(const tensor_t *t) { return (size_t)tensor_numel(t) * dtype_size(t->dtype); }

void tensor_describe(tensor_t *t, const char *name, dtype_t dtype, int ndim, const int64_t *shape) {
    memset(t, 0, sizeof *t);
    strncpy(t->name, name, TENSOR_NAME_LEN - 1);
    t->dtype = dtype;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = t->global_shape[i] = shape[i];
    t->split_dim = -1;
}

void *arena_take(arena_t *a, size_t bytes) {
    size_t start = (a->used + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
    if (a->base && start + bytes > a->capacity) return NULL;
    a->used = start + bytes;
    return a->base ? a->base + start : NULL;
}

uint16_t f32_to_bf16(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

float bf16_to_f32(uint16_t x) {
    uint32_t u = (uint32_t)x << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t f32_to_f16(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    uint32_t sign = (u >> 16) & 0x8000u;
    uint32_t absu = u & 0x7fffffffu;
    if (absu > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);           /* NaN */
    if (absu >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);          /* overflow -> inf */
    if (absu < 0x38800000u) {                                            /* subnormal or zero */
        float f;
        memcpy(&f, &absu, 4);
        /* scale so the subnormal unit (2^-24) becomes 1, round to nearest even */
        float scaled = f * 16777216.0f;
        uint32_t m = (uint32_t)lrintf(scaled);
        return (uint16_t)(sign | m);
    }
    uint32_t e = ((absu >> 23) - 112u) << 10;
    uint32_t m = (absu >> 13) & 0x3ffu;
    uint32_t h = e | m;
    uint32_t rest = absu & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) h++;
    return (uint16_t)(sign | h);
}

float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    float f;
    if (e == 0) {
        f = ldexpf((float)m, -24);
        uint32_t u;
        memcpy(&u, &f, 4);
        u |= sign;
        memcpy(&f, &u, 4);
        return f;
    }
    uint32_t u = e == 31 ? (sign | 0x7f800000u | (m << 13)) : (sign | ((e + 112u) << 23) | (m << 13));
    memcpy(&f, &u, 4);
    return f;
}
