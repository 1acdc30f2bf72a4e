/* cpu_backend.c — the CPU reference backend: host memory and the op table. */
#include <stdlib.h>
#include <string.h>

#include "cpu_ops.h"

static int cpu_alloc(backend_t *be, void **ptr, size_t bytes, err_t *err) {
    (void)be;
    *ptr = NULL;
    if (bytes == 0) bytes = 1;
    size_t rounded = (bytes + 63) / 64 * 64;
    void *p = aligned_alloc(64, rounded);
    if (!p) return err_set(err, "cpu backend: out of host memory allocating %zu bytes", bytes);
    *ptr = p;
    return 0;
}

static void cpu_free(backend_t *be, void *ptr) {
    (void)be;
    free(ptr);
}

static void cpu_memset_zero(backend_t *be, void *ptr, size_t bytes) {
    (void)be;
    memset(ptr, 0, bytes);
}

static void cpu_copy(backend_t *be, void *dst, const void *src, size_t bytes) {
    (void)be;
    if (dst != src) memmove(dst, src, bytes);
}

static int cpu_sync(backend_t *be, err_t *err) {
    (void)be;
    (void)err;
    return 0;
}

static backend_t cpu_table = {
    .name = "cpu",
    .device = DEVICE_CPU,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .memset_zero = cpu_memset_zero,
    .copy_to_device = cpu_copy,
    .copy_to_host = cpu_copy,
    .copy = cpu_copy,
    .sync = cpu_sync,
    .embedding_forward = cpu_embedding_forward,
    .embedding_backward = cpu_embedding_backward,
    .position_forward = cpu_position_forward,
    .position_backward = cpu_position_backward,
    .layernorm_forward = cpu_layernorm_forward,
    .residual_layernorm_forward = cpu_residual_layernorm_forward,
    .layernorm_backward = cpu_layernorm_backward,
    .rmsnorm_forward = cpu_rmsnorm_forward,
    .residual_rmsnorm_forward = cpu_residual_rmsnorm_forward,
    .rmsnorm_backward = cpu_rmsnorm_backward,
    .matmul_forward = cpu_matmul_forward,
    .matmul_backward = cpu_matmul_backward,
    .attention_forward = cpu_attention_forward,
    .attention_backward = cpu_attention_backward,
    .flash_attention_forward = cpu_flash_attention_forward,
    .flash_attention_backward = cpu_flash_attention_backward,
    .rope_forward = cpu_rope_forward,
    .rope_backward = cpu_rope_backward,
    .gelu_forward = cpu_gelu_forward,
    .gelu_backward = cpu_gelu_backward,
    .swiglu_forward = cpu_swiglu_forward,
    .swiglu_backward = cpu_swiglu_backward,
    .tanh_forward = cpu_tanh_forward,
    .tanh_backward = cpu_tanh_backward,
    .add = cpu_add,
    .dropout_forward = cpu_dropout_forward,
    .dropout_backward = cpu_dropout_backward,
    .axpy = cpu_axpy,
    .xent_max = cpu_xent_max,
    .xent_sumexp = cpu_xent_sumexp,
    .xent_loss = cpu_xent_loss,
    .xent_backward = cpu_xent_backward,
    .sumsq = cpu_sumsq,
    .sum = cpu_sum,
    .adamw = cpu_adamw,
    .lamb_moments = cpu_lamb_moments,
    .adamw_multi = cpu_adamw_multi,
    .lamb_moments_multi = cpu_lamb_moments_multi,
    .has_inf_nan = cpu_has_inf_nan,
    .cast_from_f32 = cpu_cast_from_f32,
    .round_to = cpu_round_to,
    .impl = NULL,
};

backend_t *backend_cpu(void) { return &cpu_table; }
