/* cuda_rope.cu — rotary position embedding (RoPE) on the GPU, in place on the
 * fused qkv rows; the same formulas as cpu_rope.c (its reference).
 *
 * One thread per (row, rotated head, pair i < rot_dim/2): the rotated heads of a
 * row are each group's R = NH/NG query heads and its key head (backend.h's
 * layout). theta = p * inv_freq_i, inv_freq_i = 1 / base^(2i/rot_dim), in fp32
 * (powf, cosf, sinf: the accurate library functions, no fast-math intrinsics);
 * forward rotates (x_i, x_{i+half}) by +theta, backward by -theta. Each pair is
 * read and written by one thread: in place is safe and deterministic. */
#include "cuda_ops.cuh"

static __global__ void rope_kernel(float *x, int T, int NG, int R, int HS, int half, int rot_dim, float base,
                                   int pos_offset, float sign, size_t total) {
    const int heads = NG * (R + 1), ld = (NG * R + 2 * NG) * HS;
    CUDA_FOR(e, total) {
        int i = (int)(e % (size_t)half);
        size_t rest = e / (size_t)half;
        int slot = (int)(rest % (size_t)heads);
        size_t n = rest / (size_t)heads;
        int g = slot / (R + 1), j = slot % (R + 1); /* j < R: query head, j == R: the key head */
        float *h = x + n * (size_t)ld + ((size_t)g * (R + 2) + j) * HS;
        float pos = (float)(pos_offset + (int)(n % (size_t)T));
        float inv_freq = 1.0f / powf(base, (float)(2 * i) / (float)rot_dim);
        float theta = pos * inv_freq, c = cosf(theta), sn = sign * sinf(theta);
        float x1 = h[i], x2 = h[i + half];
        h[i] = x1 * c - x2 * sn;
        h[i + half] = x2 * c + x1 * sn;
    }
}

static void rope_launch(backend_t *be, const char *op, float *x, const rope_shape_t *s, float sign) {
    const int NG = s->NG > 0 ? s->NG : s->NH, half = s->rot_dim / 2;
    if (s->B <= 0 || s->T <= 0 || s->NH <= 0 || s->HS <= 0 || half <= 0) return;
    if (s->NH % NG != 0 || s->rot_dim % 2 != 0 || s->rot_dim > s->HS) {
        cuda_record(be, op, "launch", "groups must divide the heads and rot_dim be even and <= the head size");
        return;
    }
    const int R = s->NH / NG;
    size_t total = (size_t)s->B * s->T * NG * (R + 1) * half;
    rope_kernel<<<cuda_blocks(total, CUDA_THREADS), CUDA_THREADS>>>(x, s->T, NG, R, s->HS, half, s->rot_dim, s->base,
                                                                    s->pos_offset, sign, total);
    cuda_launched(be, op, "rope_kernel");
}

void cuda_rope_forward(backend_t *be, float *qkv, const rope_shape_t *s) {
    rope_launch(be, "rope_forward", qkv, s, 1.0f);
}

void cuda_rope_backward(backend_t *be, float *dqkv, const rope_shape_t *s) {
    rope_launch(be, "rope_backward", dqkv, s, -1.0f);
}
