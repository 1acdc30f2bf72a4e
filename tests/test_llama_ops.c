/* test_llama_ops.c — the CPU ops of Llama-shaped models (issue 20): RMSNorm,
 * rotary position embedding, SwiGLU and grouped-query attention (unfused and
 * flash), forward against the double-precision reference (ref_ops.c) and
 * backward against central finite differences of it, on fresh random inputs
 * (test_ops.c's method). Loss for gradient checks: L = sum(out * R), R random.
 * Gradients start from random values, so accumulation (+=) is checked too.
 * GQA is also checked against the multi-head ops run on k/v heads duplicated
 * per query head, and NG = NH against NG = 0 (the multi-head layout) bitwise. */
#include <string.h>

#include "framework/backend.h"
#include "ref_ops.h"
#include "fd_check.h"
#include "testing.h"

#define TOL_ELEM 1e-5
#define TOL_CHAIN 1e-4

static backend_t *be;

/* the op's accumulated gradient minus its random starting value g0 */
static void sub(float *d, const float *g0, int n) {
    for (int i = 0; i < n; i++) d[i] -= g0[i];
}

/* ---------------- RMSNorm */
typedef struct { double *inp, *w, *out; const float *R; int N, C; } rms_ctx;
static double rms_loss(void *p) {
    rms_ctx *c = p;
    ref_rmsnorm(c->out, c->inp, c->w, c->N, c->C, 1e-5);
    return dot_d(c->out, c->R, c->N * c->C);
}

static void test_rmsnorm(void) {
    enum { N = 5, C = 11 };
    float inp[N * C], w[C], out[N * C], R[N * C], rstd[N], g0[N * C], dinp[N * C], dw[C];
    fill_normal(inp, N * C, 2.0f, 101), fill_normal(w, C, 1.0f, 102), fill_normal(R, N * C, 1.0f, 103);
    fill_normal(g0, N * C, 1.0f, 104);
    for (int i = 0; i < N * C; i++) inp[i] += 0.7f; /* nonzero mean: RMSNorm does not subtract it */
    be->rmsnorm_forward(be, out, rstd, inp, w, N, C, 1e-5f);
    rms_ctx c = {to_d(inp, N * C), to_d(w, C), malloc(sizeof(double) * N * C), R, N, C};
    rms_loss(&c);
    double e = rel_err_fd(out, c.out, N * C), rs[N];
    CHECK(e < TOL_ELEM, "rmsnorm forward rel err %g", e);
    printf("rmsnorm forward rel err %.3g\n", e);
    for (int n = 0; n < N; n++) {
        double ms = 0;
        for (int k = 0; k < C; k++) ms += (double)inp[n * C + k] * inp[n * C + k];
        rs[n] = 1.0 / sqrt(ms / C + 1e-5);
    }
    e = rel_err_fd(rstd, rs, N);
    CHECK(e < TOL_ELEM, "rmsnorm rstd rel err %g", e);

    memcpy(dinp, g0, sizeof dinp), memcpy(dw, g0, sizeof dw);
    be->rmsnorm_backward(be, dinp, dw, R, inp, w, rstd, N, C);
    sub(dinp, g0, N * C), sub(dw, g0, C);
    double g[N * C];
    fd_grad(rms_loss, &c, c.inp, N * C, g);
    e = rel_err_fd(dinp, g, N * C);
    CHECK(e < TOL_CHAIN, "rmsnorm dinp rel err %g", e);
    printf("rmsnorm dinp vs finite differences rel err %.3g\n", e);
    fd_grad(rms_loss, &c, c.w, C, g);
    e = rel_err_fd(dw, g, C);
    CHECK(e < TOL_CHAIN, "rmsnorm dw rel err %g", e);
    printf("rmsnorm dw vs finite differences rel err %.3g\n", e);
    /* NULL dw: dinp alone, the same bits */
    float dinp2[N * C];
    memcpy(dinp2, g0, sizeof dinp2);
    be->rmsnorm_backward(be, dinp2, NULL, R, inp, w, rstd, N, C);
    sub(dinp2, g0, N * C);
    CHECK(memcmp(dinp, dinp2, sizeof dinp) == 0, "rmsnorm_backward with dw NULL changes dinp");
    free(c.inp), free(c.w), free(c.out);

    /* the fused residual add + RMSNorm: the same bits as add then rmsnorm */
    float res[N * C], sum[N * C], sum2[N * C], out2[N * C], rstd2[N];
    fill_normal(res, N * C, 1.0f, 105);
    be->add(be, sum, inp, res, N * C);
    be->rmsnorm_forward(be, out, rstd, sum, w, N, C, 1e-5f);
    be->residual_rmsnorm_forward(be, sum2, out2, rstd2, inp, res, w, N, C, 1e-5f);
    CHECK(memcmp(sum, sum2, sizeof sum) == 0 && memcmp(out, out2, sizeof out) == 0 &&
              memcmp(rstd, rstd2, sizeof rstd) == 0,
          "residual_rmsnorm_forward differs from add + rmsnorm_forward");
}

/* ---------------- SwiGLU */
typedef struct { double *inp, *out; const float *R; int N, C; } sw_ctx;
static double sw_loss(void *p) {
    sw_ctx *c = p;
    ref_swiglu(c->out, c->inp, c->N, c->C);
    return dot_d(c->out, c->R, c->N * c->C);
}

static void test_swiglu(void) {
    enum { N = 4, C = 9 };
    float inp[N * 2 * C], out[N * C], R[N * C], g0[N * 2 * C], d[N * 2 * C];
    fill_normal(inp, N * 2 * C, 2.5f, 111), fill_normal(R, N * C, 1.0f, 112), fill_normal(g0, N * 2 * C, 1.0f, 113);
    inp[0] = 30.0f, inp[1] = -30.0f; /* saturated gates: sigmoid 1 and 0 */
    be->swiglu_forward(be, out, inp, N, C);
    sw_ctx c = {to_d(inp, N * 2 * C), malloc(sizeof(double) * N * C), R, N, C};
    sw_loss(&c);
    double e = rel_err_fd(out, c.out, N * C);
    CHECK(e < TOL_ELEM, "swiglu forward rel err %g", e);
    printf("swiglu forward rel err %.3g\n", e);
    memcpy(d, g0, sizeof d);
    be->swiglu_backward(be, d, inp, R, N, C);
    sub(d, g0, N * 2 * C);
    double g[N * 2 * C];
    fd_grad(sw_loss, &c, c.inp, N * 2 * C, g);
    e = rel_err_fd(d, g, N * 2 * C);
    CHECK(e < TOL_ELEM * 10, "swiglu backward rel err %g", e);
    printf("swiglu backward (d gate, d up) vs finite differences rel err %.3g\n", e);
    /* the layout: gate is the first half of a row. Swapping the halves changes the output. */
    float swapped[N * 2 * C], out2[N * C];
    for (int n = 0; n < N; n++)
        for (int k = 0; k < C; k++)
            swapped[n * 2 * C + k] = inp[n * 2 * C + C + k], swapped[n * 2 * C + C + k] = inp[n * 2 * C + k];
    be->swiglu_forward(be, out2, swapped, N, C);
    CHECK(rel_err_ff(out2, out, N * C) > 0.1, "swiglu does not tell gate from up");
    free(c.inp), free(c.out);
}

/* ---------------- rotary position embedding */
typedef struct { double *qkv; const float *R; int B, T, NH, NG, HS, rot, off; double base; } rope_ctx;
static double rope_loss(void *p) {
    rope_ctx *c = p;
    int n = c->B * c->T * (c->NH + 2 * c->NG) * c->HS;
    double *x = malloc(sizeof(double) * n);
    memcpy(x, c->qkv, sizeof(double) * n);
    ref_rope(x, c->B, c->T, c->NH, c->NG, c->HS, c->rot, c->base, c->off);
    double l = dot_d(x, c->R, n);
    free(x);
    return l;
}

/* NG 0 runs the op with the multi-head default (the reference gets NG = NH) */
static void test_rope(int NH, int NG, int HS, int rot, float base, int off) {
    const int B = 2, T = 5, G = NG ? NG : NH, n = B * T * (NH + 2 * G) * HS;
    char label[96];
    snprintf(label, sizeof label, "rope(NH %d, NG %d, HS %d, rot %d, base %g, offset %d)", NH, NG, HS, rot, base, off);
    float *x = malloc(sizeof(float) * n), *x0 = malloc(sizeof(float) * n), *R = malloc(sizeof(float) * n);
    fill_normal(x0, n, 1.0f, 121), fill_normal(R, n, 1.0f, 122);
    memcpy(x, x0, sizeof(float) * n);
    rope_shape_t s = {B, T, NH, NG, HS, rot, base, off};
    be->rope_forward(be, x, &s);
    rope_ctx c = {to_d(x0, n), R, B, T, NH, G, HS, rot, off, base};
    double *ref = to_d(x0, n);
    ref_rope(ref, B, T, NH, G, HS, rot, base, off);
    double e = rel_err_fd(x, ref, n);
    CHECK(e < TOL_ELEM, "%s forward rel err %g", label, e);
    printf("%s forward rel err %.3g\n", label, e);
    /* value heads and dims past rot_dim pass through bit for bit; the rotated dims move */
    int R_ = NH / G, ld = (NH + 2 * G) * HS, pass_bad = 0, moved = 0;
    for (int r = 0; r < B * T; r++)
        for (int g = 0; g < G; g++)
            for (int j = 0; j < R_ + 2; j++)
                for (int d = 0; d < HS; d++) {
                    size_t i = (size_t)r * ld + ((size_t)g * (R_ + 2) + j) * HS + d;
                    if (j == R_ + 1 || d >= rot) pass_bad += memcmp(&x[i], &x0[i], sizeof(float)) != 0;
                    else moved += x[i] != x0[i];
                }
    CHECK(pass_bad == 0, "%s changed %d value or unrotated elements", label, pass_bad);
    CHECK(off > 0 || moved > 0, "%s rotated nothing", label);

    /* backward: the op's transpose rotation of dL/d(out) = R in place, vs finite differences */
    float *d = malloc(sizeof(float) * n);
    memcpy(d, R, sizeof(float) * n);
    be->rope_backward(be, d, &s);
    double *g = malloc(sizeof(double) * n);
    fd_grad(rope_loss, &c, c.qkv, n, g);
    e = rel_err_fd(d, g, n);
    CHECK(e < TOL_CHAIN, "%s backward rel err %g", label, e);
    printf("%s backward vs finite differences rel err %.3g\n", label, e);
    /* backward undoes forward (the rotation is orthogonal) */
    be->rope_backward(be, x, &s);
    e = rel_err_ff(x, x0, n);
    CHECK(e < TOL_ELEM, "%s backward(forward(x)) != x: rel err %g", label, e);
    free(x), free(x0), free(R), free(d), free(g), free(ref), free(c.qkv);
}

/* generation: rows at pos_offset k are rotated as rows k.. of the full sequence (bitwise) */
static void test_rope_offset(void) {
    const int T = 9, NH = 4, NG = 2, HS = 8, ld = (NH + 2 * NG) * HS, k = 6;
    float full[9 * 64], tail[3 * 64];
    fill_normal(full, T * ld, 1.0f, 131);
    memcpy(tail, full + k * ld, sizeof(float) * (T - k) * ld);
    rope_shape_t s = {1, T, NH, NG, HS, HS, 10000.0f, 0};
    be->rope_forward(be, full, &s);
    rope_shape_t st = {1, T - k, NH, NG, HS, HS, 10000.0f, k};
    be->rope_forward(be, tail, &st);
    CHECK(memcmp(tail, full + k * ld, sizeof tail) == 0, "rope with pos_offset %d differs from the full sequence", k);
}

/* ---------------- grouped-query attention */
typedef struct { double *qkv, *out; const float *R; int B, T, NH, NG, HS, causal; const float *km; double p; rng_key_t key; } gq_ctx;
static double gq_loss(void *v) {
    gq_ctx *c = v;
    ref_attention_gqa(c->out, c->qkv, c->B, c->T, c->NH, c->NG, c->HS, c->causal, c->km, c->p, c->key);
    return dot_d(c->out, c->R, c->B * c->T * c->NH * c->HS);
}

/* the multi-head qkv ([q k v] per head) whose head h has query head h's q and
 * its group's k and v */
static void gqa_to_mha(float *mha, const float *gqa, int N, int NH, int NG, int HS) {
    int R = NH / NG, lg = (NH + 2 * NG) * HS, lm = 3 * NH * HS;
    for (int n = 0; n < N; n++)
        for (int h = 0; h < NH; h++) {
            int g = h / R;
            const float *row = gqa + (size_t)n * lg;
            float *m = mha + (size_t)n * lm + (size_t)h * 3 * HS;
            memcpy(m, row + (size_t)(g * (R + 2) + h % R) * HS, sizeof(float) * HS);
            memcpy(m + HS, row + (size_t)(g * (R + 2) + R) * HS, sizeof(float) * 2 * HS);
        }
}

/* the GQA gradient from the multi-head one: q rows copied, k and v summed over the group */
static void mha_grad_to_gqa(float *gqa, const float *mha, int N, int NH, int NG, int HS) {
    int R = NH / NG, lg = (NH + 2 * NG) * HS, lm = 3 * NH * HS;
    memset(gqa, 0, sizeof(float) * (size_t)N * lg);
    for (int n = 0; n < N; n++)
        for (int h = 0; h < NH; h++) {
            int g = h / R;
            float *row = gqa + (size_t)n * lg;
            const float *m = mha + (size_t)n * lm + (size_t)h * 3 * HS;
            memcpy(row + (size_t)(g * (R + 2) + h % R) * HS, m, sizeof(float) * HS);
            for (int d = 0; d < 2 * HS; d++) row[(size_t)(g * (R + 2) + R) * HS + d] += m[HS + d];
        }
}

/* flash 0: attention_forward/backward; 1: flash_attention_forward/backward */
static void test_gqa(int flash, int NH, int NG, int T, int causal, int masked, float drop, int fd) {
    const int B = 2, HS = 4, N = B * T, C = NH * HS, lg = (NH + 2 * NG) * HS, lm = 3 * NH * HS;
    const int NQ = N * lg, NM = N * lm, NO = N * C, NP = B * NH * T * T;
    char label[128];
    snprintf(label, sizeof label, "%s GQA(NH %d, NG %d, T %d, causal %d, mask %d, dropout %g)",
             flash ? "flash" : "unfused", NH, NG, T, causal, masked, drop);
    float *qkv = malloc(sizeof(float) * NQ), *mqkv = malloc(sizeof(float) * NM), *R = malloc(sizeof(float) * NO);
    float *out = malloc(sizeof(float) * NO), *mout = malloc(sizeof(float) * NO), *lse = malloc(sizeof(float) * B * NH * T);
    float *probs = malloc(sizeof(float) * NP), *scratch = malloc(sizeof(float) * NP), *dscratch = malloc(sizeof(float) * NP);
    float *g0 = malloc(sizeof(float) * NQ), *dqkv = malloc(sizeof(float) * NQ), *mdqkv = malloc(sizeof(float) * NM);
    float *mg = malloc(sizeof(float) * NQ), *km = malloc(sizeof(float) * N);
    fill_normal(qkv, NQ, 1.0f, 141), fill_normal(R, NO, 1.0f, 142), fill_normal(g0, NQ, 1.0f, 143);
    for (int i = 0; i < N; i++) km[i] = 1.0f;
    if (masked) km[2] = km[T + 0] = km[T + 3] = 0.0f;
    rng_key_t key = {99, 7, 3};
    attn_shape_t s = {B, T, NH, HS, causal, masked ? km : NULL, drop, key, NG};
    attn_shape_t m = {B, T, NH, HS, causal, masked ? km : NULL, drop, key, 0};
    gqa_to_mha(mqkv, qkv, N, NH, NG, HS);

    /* forward: GQA op vs the MHA op on duplicated k/v heads */
    for (int i = 0; i < NO; i++) out[i] = NAN; /* every element must be written */
    if (flash) {
        be->flash_attention_forward(be, out, lse, qkv, &s);
        be->flash_attention_forward(be, mout, probs, mqkv, &m); /* probs: the MHA lse */
    } else {
        be->attention_forward(be, mout, probs, scratch, mqkv, &m);
        be->attention_forward(be, out, probs, scratch, qkv, &s); /* probs kept for backward */
    }
    double e = rel_err_ff(out, mout, NO);
    CHECK(e <= 1e-6, "%s forward vs MHA with duplicated k/v rel err %g", label, e);
    printf("%s forward vs MHA with duplicated k/v: rel err %.3g%s\n", label, e,
           memcmp(out, mout, sizeof(float) * NO) ? "" : " (bitwise equal)");

    /* backward, accumulating onto g0: GQA op vs MHA op with k/v gradients summed per group */
    memcpy(dqkv, g0, sizeof(float) * NQ);
    memset(mdqkv, 0, sizeof(float) * NM);
    if (flash) {
        be->flash_attention_backward(be, dqkv, R, qkv, out, lse, &s);
        be->flash_attention_backward(be, mdqkv, R, mqkv, mout, probs, &m);
    } else {
        be->attention_backward(be, dqkv, scratch, dscratch, R, qkv, probs, &s);
        float *mprobs = malloc(sizeof(float) * NP);
        be->attention_forward(be, mout, mprobs, scratch, mqkv, &m);
        be->attention_backward(be, mdqkv, scratch, dscratch, R, mqkv, mprobs, &m);
        free(mprobs);
    }
    sub(dqkv, g0, NQ);
    mha_grad_to_gqa(mg, mdqkv, N, NH, NG, HS);
    e = rel_err_ff(dqkv, mg, NQ);
    CHECK(e <= TOL_ELEM, "%s backward vs MHA with duplicated k/v rel err %g", label, e);
    printf("%s backward vs MHA (k/v gradients summed per group): rel err %.3g\n", label, e);

    if (fd) {
        gq_ctx c = {to_d(qkv, NQ), malloc(sizeof(double) * NO), R, B, T, NH, NG, HS, causal, s.key_mask, drop, key};
        double *g = malloc(sizeof(double) * NQ);
        gq_loss(&c);
        e = rel_err_fd(out, c.out, NO);
        CHECK(e < TOL_ELEM, "%s forward vs double reference rel err %g", label, e);
        printf("%s forward vs fp64 reference rel err %.3g\n", label, e);
        fd_grad(gq_loss, &c, c.qkv, NQ, g);
        e = rel_err_fd(dqkv, g, NQ);
        CHECK(e < TOL_CHAIN, "%s backward vs finite differences rel err %g", label, e);
        printf("%s backward vs finite differences rel err %.3g\n", label, e);
        free(c.qkv), free(c.out), free(g);
    }
    free(qkv), free(mqkv), free(R), free(out), free(mout), free(lse), free(probs), free(scratch), free(dscratch);
    free(g0), free(dqkv), free(mdqkv), free(mg), free(km);
}

/* NG = NH is the multi-head layout: the same bits as NG = 0, both ops, both directions */
static void test_gqa_equals_mha(void) {
    enum { B = 2, T = 7, NH = 3, HS = 4, NQ = B * T * 3 * NH * HS, NO = B * T * NH * HS, NP = B * NH * T * T };
    float qkv[NQ], R[NO], o1[NO], o2[NO], p1[NP], p2[NP], sc[NP], dsc[NP], d1[NQ], d2[NQ], l1[B * NH * T], l2[B * NH * T];
    fill_normal(qkv, NQ, 1.0f, 151), fill_normal(R, NO, 1.0f, 152), fill_normal(d1, NQ, 1.0f, 153);
    memcpy(d2, d1, sizeof d1);
    rng_key_t key = {5, 6, 7};
    attn_shape_t a = {B, T, NH, HS, 1, NULL, 0.1f, key, 0}, b = a;
    b.NG = NH;
    be->attention_forward(be, o1, p1, sc, qkv, &a);
    be->attention_forward(be, o2, p2, sc, qkv, &b);
    be->attention_backward(be, d1, sc, dsc, R, qkv, p1, &a);
    be->attention_backward(be, d2, sc, dsc, R, qkv, p2, &b);
    CHECK(!memcmp(o1, o2, sizeof o1) && !memcmp(p1, p2, sizeof p1) && !memcmp(d1, d2, sizeof d1),
          "attention with NG = NH differs from NG = 0");
    be->flash_attention_forward(be, o1, l1, qkv, &a);
    be->flash_attention_forward(be, o2, l2, qkv, &b);
    be->flash_attention_backward(be, d1, R, qkv, o1, l1, &a);
    be->flash_attention_backward(be, d2, R, qkv, o2, l2, &b);
    CHECK(!memcmp(o1, o2, sizeof o1) && !memcmp(l1, l2, sizeof l1) && !memcmp(d1, d2, sizeof d1),
          "flash attention with NG = NH differs from NG = 0");
}

/* Megatron's rotary dim, int(kv_channels * rotary_percent) */
static void test_rope_rot_dim(void) {
    CHECK(rope_rot_dim(128, 1.0) == 128 && rope_rot_dim(128, 0.5) == 64 && rope_rot_dim(80, 0.3) == 24 &&
              rope_rot_dim(64, 0.25) == 16,
          "rope_rot_dim differs from int(HS * percent)");
}

int main(void) {
    be = backend_cpu();
    test_rope_rot_dim();
    test_rmsnorm();
    test_swiglu();
    test_rope(4, 2, 8, 8, 10000.0f, 0);  /* GQA, full rotation */
    test_rope(4, 2, 8, 4, 10000.0f, 0);  /* --rotary-percent 0.5 */
    test_rope(3, 0, 6, 6, 100.0f, 3);    /* MHA layout, a small base (large angles), an offset */
    test_rope(4, 1, 8, 8, 500000.0f, 0); /* MQA, Llama-3's base */
    test_rope_offset();
    for (int flash = 0; flash < 2; flash++) {
        test_gqa(flash, 4, 2, 6, 1, 0, 0.0f, 1);
        test_gqa(flash, 4, 2, 6, 0, 1, 0.0f, 1);
        test_gqa(flash, 4, 2, 6, 1, 1, 0.2f, 1);
        test_gqa(flash, 6, 2, 6, 1, 0, 0.0f, 1); /* three query heads per group */
        test_gqa(flash, 4, 1, 6, 1, 0, 0.2f, 1); /* multi-query */
        test_gqa(flash, 4, 2, 70, 1, 1, 0.2f, 0); /* past the CPU flash tile of 64 keys */
    }
    test_gqa_equals_mha();
    return test_exit("test_llama_ops");
}
