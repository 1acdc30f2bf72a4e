/* cpu_rope.c — rotary position embedding (RoPE) on the CPU, in place on the
 * fused qkv rows (backend.h: rope_shape_t and the attention layout).
 *
 * Megatron-core's apply_rotary_pos_emb / Hugging Face Llama's, non-interleaved:
 * the first rot_dim dims of every query and key head are split into halves
 * x1 = x[0, half), x2 = x[half, rot_dim), and with theta_i = p * inv_freq_i,
 * inv_freq_i = 1 / base^(2i/rot_dim) (fp32, as HF computes inv_freq and freqs):
 *   forward:  x1' = x1 cos - x2 sin;   x2' = x2 cos + x1 sin
 *   backward: the transpose rotation (sin -> -sin) of the incoming gradient.
 * Value heads and dims [rot_dim, HS) are untouched. Rows run in parallel; each
 * element is written once from its own pair, so results do not depend on the
 * thread count. */
#include <math.h>

#include "cpu_ops.h"

/* rotates the q and k heads of rows [0, B*T) by +theta (sign 1) or -theta (sign -1) */
static void rope_apply(float *x, const rope_shape_t *s, float sign) {
    const int NG = s->NG > 0 ? s->NG : s->NH, R = s->NH / NG, HS = s->HS, half = s->rot_dim / 2;
    const int ld = (s->NH + 2 * NG) * HS, N = s->B * s->T;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        float *row = x + (size_t)n * ld;
        float pos = (float)(s->pos_offset + n % s->T);
        for (int i = 0; i < half; i++) {
            float inv_freq = 1.0f / powf(s->base, (float)(2 * i) / (float)s->rot_dim);
            float theta = pos * inv_freq, c = cosf(theta), sn = sign * sinf(theta);
            for (int g = 0; g < NG; g++)
                for (int j = 0; j <= R; j++) { /* the group's R query heads, then its key head */
                    float *h = row + ((size_t)g * (R + 2) + j) * HS;
                    float x1 = h[i], x2 = h[i + half];
                    h[i] = x1 * c - x2 * sn;
                    h[i + half] = x2 * c + x1 * sn;
                }
        }
    }
}

void cpu_rope_forward(backend_t *be, float *qkv, const rope_shape_t *s) {
    (void)be;
    rope_apply(qkv, s, 1.0f);
}

void cpu_rope_backward(backend_t *be, float *dqkv, const rope_shape_t *s) {
    (void)be;
    rope_apply(dqkv, s, -1.0f);
}
