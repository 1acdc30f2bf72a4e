/* ref_ops.c — double-precision reference ops (see ref_ops.h). */
#include "ref_ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void ref_embedding(double *out, const int *tokens, const double *wte, int N, int C, int vstart, int vend) {
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            out[n * C + c] = (tokens[n] >= vstart && tokens[n] < vend) ? wte[(tokens[n] - vstart) * C + c] : 0.0;
}

void ref_position_add(double *out, const double *wpe, int B, int T, int C) {
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int c = 0; c < C; c++) out[(b * T + t) * C + c] += wpe[t * C + c];
}

void ref_layernorm(double *out, const double *inp, const double *w, const double *b, int N, int C, double eps) {
    for (int n = 0; n < N; n++) {
        const double *x = inp + n * C;
        double m = 0, v = 0;
        for (int c = 0; c < C; c++) m += x[c];
        m /= C;
        for (int c = 0; c < C; c++) v += (x[c] - m) * (x[c] - m);
        v /= C;
        double s = 1.0 / sqrt(v + eps);
        for (int c = 0; c < C; c++) out[n * C + c] = (x[c] - m) * s * w[c] + b[c];
    }
}

void ref_matmul(double *out, const double *inp, const double *w, const double *bias, int N, int IC, int OC) {
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) {
            double acc = bias ? bias[o] : 0.0;
            for (int i = 0; i < IC; i++) acc += inp[n * IC + i] * w[o * IC + i];
            out[n * OC + o] = acc;
        }
}

void ref_attention(double *out, const double *qkv, int B, int T, int NH, int HS, int causal,
                   const float *key_mask, double dropout, rng_key_t key) {
    int ld = 3 * NH * HS, C = NH * HS;
    double *p = malloc(sizeof(double) * T);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int t = 0; t < T; t++) {
                const double *q = qkv + (b * T + t) * ld + h * 3 * HS;
                double mx = -INFINITY;
                for (int j = 0; j < T; j++) {
                    int ok = !(causal && j > t) && !(key_mask && key_mask[b * T + j] == 0.0f);
                    if (!ok) { p[j] = -INFINITY; continue; }
                    const double *k = qkv + (b * T + j) * ld + h * 3 * HS + HS;
                    double s = 0;
                    for (int d = 0; d < HS; d++) s += q[d] * k[d];
                    p[j] = s / sqrt((double)HS);
                    if (p[j] > mx) mx = p[j];
                }
                double sum = 0;
                for (int j = 0; j < T; j++) {
                    p[j] = (mx == -INFINITY || p[j] == -INFINITY) ? 0.0 : exp(p[j] - mx);
                    sum += p[j];
                }
                for (int j = 0; j < T; j++) {
                    p[j] = sum > 0 ? p[j] / sum : 0.0;
                    if (dropout > 0) {
                        uint64_t idx = (((uint64_t)(b * NH + h) * T) + t) * T + j;
                        p[j] = rng_keep(key, idx, (float)dropout) ? p[j] / (1.0 - (float)dropout) : 0.0;
                    }
                }
                double *o = out + (b * T + t) * C + h * HS;
                for (int d = 0; d < HS; d++) {
                    double acc = 0;
                    for (int j = 0; j < T; j++) acc += p[j] * qkv[(b * T + j) * ld + h * 3 * HS + 2 * HS + d];
                    o[d] = acc;
                }
            }
    free(p);
}

void ref_attention_gqa(double *out, const double *qkv, int B, int T, int NH, int NG, int HS, int causal,
                       const float *key_mask, double dropout, rng_key_t key) {
    int R = NH / NG, ld = (NH + 2 * NG) * HS, C = NH * HS;
    double *p = malloc(sizeof(double) * T);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++) {
            int g = h / R, qc = (g * (R + 2) + h % R) * HS, kc = (g * (R + 2) + R) * HS, vc = kc + HS;
            for (int t = 0; t < T; t++) {
                const double *q = qkv + (b * T + t) * ld + qc;
                double mx = -INFINITY;
                for (int j = 0; j < T; j++) {
                    int ok = !(causal && j > t) && !(key_mask && key_mask[b * T + j] == 0.0f);
                    if (!ok) { p[j] = -INFINITY; continue; }
                    const double *k = qkv + (b * T + j) * ld + kc;
                    double s = 0;
                    for (int d = 0; d < HS; d++) s += q[d] * k[d];
                    p[j] = s / sqrt((double)HS);
                    if (p[j] > mx) mx = p[j];
                }
                double sum = 0;
                for (int j = 0; j < T; j++) {
                    p[j] = (mx == -INFINITY || p[j] == -INFINITY) ? 0.0 : exp(p[j] - mx);
                    sum += p[j];
                }
                for (int j = 0; j < T; j++) {
                    p[j] = sum > 0 ? p[j] / sum : 0.0;
                    if (dropout > 0) {
                        uint64_t idx = (((uint64_t)(b * NH + h) * T) + t) * T + j;
                        p[j] = rng_keep(key, idx, (float)dropout) ? p[j] / (1.0 - (float)dropout) : 0.0;
                    }
                }
                double *o = out + (b * T + t) * C + h * HS;
                for (int d = 0; d < HS; d++) {
                    double acc = 0;
                    for (int j = 0; j < T; j++) acc += p[j] * qkv[(b * T + j) * ld + vc + d];
                    o[d] = acc;
                }
            }
        }
    free(p);
}

void ref_rmsnorm(double *out, const double *inp, const double *w, int N, int C, double eps) {
    for (int n = 0; n < N; n++) {
        const double *x = inp + n * C;
        double ms = 0;
        for (int c = 0; c < C; c++) ms += x[c] * x[c];
        double s = 1.0 / sqrt(ms / C + eps);
        for (int c = 0; c < C; c++) out[n * C + c] = x[c] * s * w[c];
    }
}

void ref_rope(double *qkv, int B, int T, int NH, int NG, int HS, int rot_dim, double base, int pos_offset) {
    int R = NH / NG, ld = (NH + 2 * NG) * HS, half = rot_dim / 2;
    for (int n = 0; n < B * T; n++) {
        double pos = pos_offset + n % T;
        for (int g = 0; g < NG; g++)
            for (int j = 0; j <= R; j++) { /* R query heads, then the key head; not v */
                double *x = qkv + n * ld + (g * (R + 2) + j) * HS;
                for (int i = 0; i < half; i++) {
                    double theta = pos * pow(base, -2.0 * i / rot_dim);
                    double x1 = x[i], x2 = x[i + half];
                    x[i] = x1 * cos(theta) - x2 * sin(theta);
                    x[i + half] = x2 * cos(theta) + x1 * sin(theta);
                }
            }
    }
}

void ref_swiglu(double *out, const double *inp, int N, int C) {
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) {
            double x = inp[n * 2 * C + c], up = inp[n * 2 * C + C + c];
            out[n * C + c] = x / (1.0 + exp(-x)) * up;
        }
}

void ref_gelu(double *out, const double *inp, int n, int tanh_form) {
    for (int i = 0; i < n; i++) {
        double x = inp[i];
        out[i] = tanh_form ? 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)))
                           : 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    }
}

void ref_dropout(double *x, int n, double p, rng_key_t key) {
    if (p <= 0) return;
    for (int i = 0; i < n; i++) x[i] = rng_keep(key, (uint64_t)i, (float)p) ? x[i] / (1.0 - (float)p) : 0.0;
}

void ref_xent(double *losses, const double *logits, const int *targets, int N, int V, int vocab) {
    for (int n = 0; n < N; n++) {
        const double *l = logits + (size_t)n * V;
        double mx = -INFINITY, s = 0;
        for (int j = 0; j < vocab; j++) mx = l[j] > mx ? l[j] : mx;
        for (int j = 0; j < vocab; j++) s += exp(l[j] - mx);
        losses[n] = log(s) + mx - l[targets[n]];
    }
}
