/* test_ops.c — every CPU op, forward against the double-precision reference
 * (ref_ops.c) and backward against central finite differences of that reference,
 * on fresh random inputs. Loss for gradient checks: L = sum(out * R), R random. */
#include <string.h>

#include "framework/backend.h"
#include "ref_ops.h"
#include "fd_check.h"
#include "testing.h"

#define TOL_ELEM 1e-5
#define TOL_CHAIN 1e-4

static backend_t *be;

/* ---------------- matmul */
typedef struct { double *inp, *w, *b, *out; const float *R; int N, IC, OC; } mm_ctx;
static double mm_loss(void *p) {
    mm_ctx *c = p;
    ref_matmul(c->out, c->inp, c->w, c->b, c->N, c->IC, c->OC);
    return dot_d(c->out, c->R, c->N * c->OC);
}

static void test_matmul(void) {
    int N = 5, IC = 7, OC = 6;
    float inp[35], w[42], b[6], out[30], R[30], dinp[35], dw[42], db[6];
    fill_normal(inp, 35, 1.0f, 1), fill_normal(w, 42, 0.5f, 2), fill_normal(b, 6, 0.5f, 3), fill_normal(R, 30, 1.0f, 4);
    be->matmul_forward(be, out, inp, w, b, N, IC, OC);
    mm_ctx c = {to_d(inp, 35), to_d(w, 42), to_d(b, 6), malloc(sizeof(double) * 30), R, N, IC, OC};
    mm_loss(&c);
    double e = rel_err_fd(out, c.out, 30);
    CHECK(e < TOL_ELEM, "matmul forward rel err %g", e);
    /* gradients accumulate onto existing values: start from G0 and subtract */
    float g0[42];
    fill_normal(g0, 42, 1.0f, 5);
    memcpy(dinp, g0, sizeof dinp), memcpy(dw, g0, sizeof dw), memcpy(db, g0, sizeof db);
    be->matmul_backward(be, dinp, dw, db, R, inp, w, N, IC, OC);
    for (int i = 0; i < 35; i++) dinp[i] -= g0[i];
    for (int i = 0; i < 42; i++) dw[i] -= g0[i];
    for (int i = 0; i < 6; i++) db[i] -= g0[i];
    double gi[42];
    fd_grad(mm_loss, &c, c.inp, 35, gi);
    e = rel_err_fd(dinp, gi, 35);
    CHECK(e < TOL_CHAIN, "matmul dinp rel err %g", e);
    fd_grad(mm_loss, &c, c.w, 42, gi);
    e = rel_err_fd(dw, gi, 42);
    CHECK(e < TOL_CHAIN, "matmul dw rel err %g", e);
    fd_grad(mm_loss, &c, c.b, 6, gi);
    e = rel_err_fd(db, gi, 6);
    CHECK(e < TOL_CHAIN, "matmul dbias rel err %g", e);
    free(c.inp), free(c.w), free(c.b), free(c.out);
}

/* ---------------- layernorm */
typedef struct { double *inp, *w, *b, *out; const float *R; int N, C; } ln_ctx;
static double ln_loss(void *p) {
    ln_ctx *c = p;
    ref_layernorm(c->out, c->inp, c->w, c->b, c->N, c->C, 1e-5);
    return dot_d(c->out, c->R, c->N * c->C);
}

static void test_layernorm(void) {
    enum { N = 4, C = 9 };
    float inp[N * C], w[C], b[C], out[N * C], R[N * C], mean[N], rstd[N];
    float dinp[N * C] = {0}, dw[C] = {0}, db[C] = {0};
    fill_normal(inp, N * C, 2.0f, 11), fill_normal(w, C, 1.0f, 12), fill_normal(b, C, 1.0f, 13);
    fill_normal(R, N * C, 1.0f, 14);
    for (int i = 0; i < N * C; i++) inp[i] += 0.5f; /* nonzero mean */
    be->layernorm_forward(be, out, mean, rstd, inp, w, b, N, C, 1e-5f);
    ln_ctx c = {to_d(inp, N * C), to_d(w, C), to_d(b, C), malloc(sizeof(double) * N * C), R, N, C};
    ln_loss(&c);
    double e = rel_err_fd(out, c.out, N * C);
    CHECK(e < TOL_ELEM, "layernorm forward rel err %g", e);
    be->layernorm_backward(be, dinp, dw, db, R, inp, w, mean, rstd, N, C);
    double g[N * C];
    fd_grad(ln_loss, &c, c.inp, N * C, g);
    e = rel_err_fd(dinp, g, N * C);
    CHECK(e < TOL_CHAIN, "layernorm dinp rel err %g", e);
    fd_grad(ln_loss, &c, c.w, C, g);
    e = rel_err_fd(dw, g, C);
    CHECK(e < TOL_CHAIN, "layernorm dw rel err %g", e);
    fd_grad(ln_loss, &c, c.b, C, g);
    e = rel_err_fd(db, g, C);
    CHECK(e < TOL_CHAIN, "layernorm db rel err %g", e);
    free(c.inp), free(c.w), free(c.b), free(c.out);
    /* the fused residual add + LayerNorm: the same bits as add then layernorm */
    float res[N * C], sum[N * C], sum2[N * C], out2[N * C], mean2[N], rstd2[N];
    fill_normal(res, N * C, 1.0f, 15);
    be->add(be, sum, inp, res, N * C);
    be->layernorm_forward(be, out, mean, rstd, sum, w, b, N, C, 1e-5f);
    be->residual_layernorm_forward(be, sum2, out2, mean2, rstd2, inp, res, w, b, N, C, 1e-5f);
    CHECK(memcmp(sum, sum2, sizeof sum) == 0 && memcmp(out, out2, sizeof out) == 0 &&
              memcmp(mean, mean2, sizeof mean) == 0 && memcmp(rstd, rstd2, sizeof rstd) == 0,
          "residual_layernorm_forward differs from add + layernorm_forward");
}

/* ---------------- gelu */
typedef struct { double *inp, *out; const float *R; int n, form; } gelu_ctx;
static double gelu_loss(void *p) {
    gelu_ctx *c = p;
    ref_gelu(c->out, c->inp, c->n, c->form);
    return dot_d(c->out, c->R, c->n);
}

static void test_gelu(int form) {
    enum { n = 64 };
    float inp[n], out[n], R[n], d[n] = {0};
    fill_normal(inp, n, 2.0f, 21), fill_normal(R, n, 1.0f, 22);
    be->gelu_forward(be, out, inp, n, form);
    gelu_ctx c = {to_d(inp, n), malloc(sizeof(double) * n), R, n, form};
    gelu_loss(&c);
    double e = rel_err_fd(out, c.out, n);
    CHECK(e < TOL_ELEM, "gelu(%s) forward rel err %g", form ? "tanh" : "erf", e);
    be->gelu_backward(be, d, inp, R, n, form);
    double g[n];
    fd_grad(gelu_loss, &c, c.inp, n, g);
    e = rel_err_fd(d, g, n);
    CHECK(e < TOL_ELEM * 10, "gelu(%s) backward rel err %g", form ? "tanh" : "erf", e);
    free(c.inp), free(c.out);
}

/* ---------------- tanh (BERT's pooler) */
static void test_tanh(void) {
    enum { n = 40 };
    float inp[n], out[n], R[n], d[n] = {0};
    fill_normal(inp, n, 1.5f, 81), fill_normal(R, n, 1.0f, 82);
    be->tanh_forward(be, out, inp, n);
    double ref[n], g[n];
    for (int i = 0; i < n; i++) ref[i] = tanh((double)inp[i]), g[i] = (1 - ref[i] * ref[i]) * R[i];
    double e = rel_err_fd(out, ref, n);
    CHECK(e < TOL_ELEM, "tanh forward rel err %g", e);
    be->tanh_backward(be, d, out, R, n);
    e = rel_err_fd(d, g, n);
    CHECK(e < TOL_ELEM, "tanh backward rel err %g", e);
}

/* ---------------- attention */
typedef struct { double *qkv, *out; const float *R; int B, T, NH, HS, causal; const float *km; double p; rng_key_t key; } at_ctx;
static double at_loss(void *v) {
    at_ctx *c = v;
    ref_attention(c->out, c->qkv, c->B, c->T, c->NH, c->HS, c->causal, c->km, c->p, c->key);
    return dot_d(c->out, c->R, c->B * c->T * c->NH * c->HS);
}

static void test_attention(int causal, int masked, float drop) {
    enum { B = 2, T = 6, NH = 2, HS = 3, C = NH * HS, NQ = B * T * 3 * C, NO = B * T * C, NP = B * NH * T * T };
    float qkv[NQ], out[NO], R[NO], probs[NP], scratch[NP], dscratch[NP], dqkv[NQ] = {0};
    float km[B * T];
    fill_normal(qkv, NQ, 1.0f, 31), fill_normal(R, NO, 1.0f, 32);
    for (int i = 0; i < B * T; i++) km[i] = 1.0f;
    if (masked) km[2] = km[5] = km[T + 0] = 0.0f; /* some keys of each batch row never attended */
    attn_shape_t s = {B, T, NH, HS, causal, masked ? km : NULL, drop, {99, 7, 3}, 0};
    be->attention_forward(be, out, probs, scratch, qkv, &s);
    at_ctx c = {to_d(qkv, NQ), malloc(sizeof(double) * NO), R, B, T, NH, HS, causal, s.key_mask, drop, s.key};
    at_loss(&c);
    double e = rel_err_fd(out, c.out, NO);
    CHECK(e < TOL_CHAIN, "attention(causal %d, mask %d, dropout %g) forward rel err %g", causal, masked, drop, e);
    be->attention_backward(be, dqkv, scratch, dscratch, R, qkv, probs, &s);
    double g[NQ];
    fd_grad(at_loss, &c, c.qkv, NQ, g);
    e = rel_err_fd(dqkv, g, NQ);
    CHECK(e < TOL_CHAIN, "attention(causal %d, mask %d, dropout %g) backward rel err %g", causal, masked, drop, e);
    free(c.qkv), free(c.out);
}

/* ---------------- fused (flash) attention
 * Against the attention op (the same dropout mask, so equal to fp32 rounding),
 * lse against a double log-sum-exp, and at the small size the gradient against
 * finite differences of the double reference. T = 70 spans two of the CPU's
 * 64-key tiles. mask 1: keys 2, 5 of batch 0 and key 0 of batch 1 (with causal,
 * batch 1's first query sees no key); mask 2: every key of batch 1 (no query of
 * it sees a key). dqkv starts from random values: accumulation is checked. */
static void test_flash_attention(int T, int causal, int mask, float drop, int fd) {
    const int B = 2, NH = 2, HS = 3, C = NH * HS, NQ = B * T * 3 * C, NO = B * T * C, NP = B * NH * T * T;
    float *qkv = malloc(sizeof(float) * NQ), *R = malloc(sizeof(float) * NO), *km = malloc(sizeof(float) * B * T);
    float *out = malloc(sizeof(float) * NO), *fout = malloc(sizeof(float) * NO), *lse = malloc(sizeof(float) * B * NH * T);
    float *probs = malloc(sizeof(float) * NP), *scratch = malloc(sizeof(float) * NP), *dscratch = malloc(sizeof(float) * NP);
    float *g0 = malloc(sizeof(float) * NQ), *dqkv = malloc(sizeof(float) * NQ), *fdqkv = malloc(sizeof(float) * NQ);
    fill_normal(qkv, NQ, 1.0f, 33), fill_normal(R, NO, 1.0f, 34), fill_normal(g0, NQ, 1.0f, 35);
    for (int i = 0; i < B * T; i++) km[i] = mask == 2 && i >= T ? 0.0f : 1.0f;
    if (mask == 1) km[2] = km[5] = km[T + 0] = 0.0f;
    attn_shape_t s = {B, T, NH, HS, causal, mask ? km : NULL, drop, {99, 7, 3}, 0};
    char label[96];
    snprintf(label, sizeof label, "flash attention(T %d, causal %d, mask %d, dropout %g)", T, causal, mask, drop);

    be->attention_forward(be, out, probs, scratch, qkv, &s);
    for (int i = 0; i < NO; i++) fout[i] = NAN; /* every element must be written */
    be->flash_attention_forward(be, fout, lse, qkv, &s);
    double e = rel_err_ff(fout, out, NO);
    CHECK(e <= TOL_ELEM, "%s forward vs attention_forward rel err %g", label, e);
    /* lse: log sum_j exp(s_j) over the allowed keys, -inf where there is none */
    double *lref = malloc(sizeof(double) * B * NH * T);
    int inf_bad = 0;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int t = 0; t < T; t++) {
                const float *q = qkv + (size_t)(b * T + t) * 3 * C + h * 3 * HS;
                double mx = -INFINITY, sum = 0, sc[128];
                for (int j = 0; j < T; j++) {
                    const float *k = qkv + (size_t)(b * T + j) * 3 * C + h * 3 * HS + HS;
                    int ok = !(causal && j > t) && !(mask && km[b * T + j] == 0.0f);
                    sc[j] = -INFINITY;
                    if (ok) {
                        sc[j] = 0;
                        for (int d = 0; d < HS; d++) sc[j] += (double)q[d] * k[d];
                        sc[j] /= sqrt((double)HS);
                    }
                    if (sc[j] > mx) mx = sc[j];
                }
                for (int j = 0; j < T; j++) sum += sc[j] == -INFINITY ? 0.0 : exp(sc[j] - mx);
                int r = (b * NH + h) * T + t;
                lref[r] = sum > 0 ? mx + log(sum) : 0.0;
                if ((sum > 0) != (lse[r] != -INFINITY)) inf_bad++;
                if (sum == 0) lse[r] = 0.0f; /* compared apart */
            }
    e = rel_err_fd(lse, lref, B * NH * T);
    CHECK(inf_bad == 0 && e <= TOL_ELEM, "%s lse rel err %g, %d rows with the wrong -inf", label, e, inf_bad);
    free(lref);

    memcpy(dqkv, g0, sizeof(float) * NQ), memcpy(fdqkv, g0, sizeof(float) * NQ);
    be->attention_backward(be, dqkv, scratch, dscratch, R, qkv, probs, &s);
    be->flash_attention_forward(be, fout, lse, qkv, &s); /* lse again (the check above zeroed -inf rows) */
    be->flash_attention_backward(be, fdqkv, R, qkv, fout, lse, &s);
    for (int i = 0; i < NQ; i++) dqkv[i] -= g0[i], fdqkv[i] -= g0[i];
    e = rel_err_ff(fdqkv, dqkv, NQ);
    CHECK(e <= TOL_CHAIN, "%s backward vs attention_backward rel err %g", label, e);
    if (fd) {
        at_ctx c = {to_d(qkv, NQ), malloc(sizeof(double) * NO), R, B, T, NH, HS, causal, s.key_mask, drop, s.key};
        double *g = malloc(sizeof(double) * NQ);
        at_loss(&c);
        e = rel_err_fd(fout, c.out, NO);
        CHECK(e < TOL_ELEM, "%s forward vs double reference rel err %g", label, e);
        fd_grad(at_loss, &c, c.qkv, NQ, g);
        e = rel_err_fd(fdqkv, g, NQ);
        CHECK(e < TOL_CHAIN, "%s backward vs finite differences rel err %g", label, e);
        free(c.qkv), free(c.out), free(g);
    }
    free(qkv), free(R), free(km), free(out), free(fout), free(lse), free(probs), free(scratch), free(dscratch);
    free(g0), free(dqkv), free(fdqkv);
}

/* ---------------- embeddings */
static void test_embedding(void) {
    enum { B = 2, T = 3, N = B * T, C = 4, V = 7 };
    int tokens[N] = {0, 3, 6, 3, 5, 1};
    float wte[V * C], wpe[T * C], out[N * C], R[N * C], dwte[V * C] = {0}, dwpe[T * C] = {0};
    fill_normal(wte, V * C, 1.0f, 41), fill_normal(wpe, T * C, 1.0f, 42), fill_normal(R, N * C, 1.0f, 43);
    /* a vocabulary slice [2, 6): ids outside give zero rows and no gradient */
    be->embedding_forward(be, out, tokens, wte + 2 * C, N, C, 2, 6);
    be->position_forward(be, out, wpe, B, T, C);
    double *dw = to_d(wte, V * C), *dp = to_d(wpe, T * C), ref[N * C];
    ref_embedding(ref, tokens, dw + 2 * C, N, C, 2, 6);
    ref_position_add(ref, dp, B, T, C);
    double e = rel_err_fd(out, ref, N * C);
    CHECK(e < TOL_ELEM, "embedding forward rel err %g", e);
    be->embedding_backward(be, dwte + 2 * C, R, tokens, N, C, 2, 6);
    be->position_backward(be, dwpe, R, B, T, C);
    /* the loss is linear in the tables: the gradient is a scatter-add of R */
    double gw[V * C] = {0}, gp[T * C] = {0};
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) {
            if (tokens[n] >= 2 && tokens[n] < 6) gw[tokens[n] * C + c] += R[n * C + c];
            gp[(n % T) * C + c] += R[n * C + c];
        }
    e = rel_err_fd(dwte, gw, V * C);
    CHECK(e < TOL_ELEM, "embedding backward rel err %g", e);
    e = rel_err_fd(dwpe, gp, T * C);
    CHECK(e < TOL_ELEM, "position backward rel err %g", e);
    free(dw), free(dp);
}

/* ---------------- dropout, add, axpy */
static void test_dropout(void) {
    enum { n = 1001 };
    float x[n], ref[n], d[n] = {0}, R[n];
    fill_normal(x, n, 1.0f, 51), fill_normal(R, n, 1.0f, 52);
    memcpy(ref, x, sizeof x);
    rng_key_t key = {5, 9, 2};
    be->dropout_forward(be, x, n, 0.25f, key);
    double dref[n];
    for (int i = 0; i < n; i++) dref[i] = ref[i];
    ref_dropout(dref, n, 0.25, key);
    int zeros = 0;
    for (int i = 0; i < n; i++) zeros += x[i] == 0.0f;
    double e = rel_err_fd(x, dref, n);
    CHECK(e < TOL_ELEM, "dropout forward rel err %g", e);
    CHECK(zeros > 180 && zeros < 320, "dropout p=0.25 dropped %d of %d", zeros, n);
    be->dropout_backward(be, d, R, n, 0.25f, key);
    for (int i = 0; i < n; i++) dref[i] = R[i];
    ref_dropout(dref, n, 0.25, key);
    e = rel_err_fd(d, dref, n);
    CHECK(e < TOL_ELEM, "dropout backward rel err %g", e);
    float a[n], s[n];
    be->add(be, s, ref, R, n);
    for (int i = 0; i < n; i++) a[i] = ref[i] + R[i];
    CHECK(rel_err_ff(s, a, n) == 0.0, "add differs");
    memcpy(a, ref, sizeof a);
    be->axpy(be, a, R, n, 0.5f);
    for (int i = 0; i < n; i++) s[i] = ref[i] + 0.5f * R[i];
    CHECK(rel_err_ff(a, s, n) < 1e-7, "axpy differs");
}

/* ---------------- cross-entropy (vocab 8 padded to 10 columns) */
typedef struct { double *logits, *losses; const int *targets; const float *w; int N, V, vocab; } xe_ctx;
static double xe_loss(void *p) {
    xe_ctx *c = p;
    ref_xent(c->losses, c->logits, c->targets, c->N, c->V, c->vocab);
    return dot_d(c->losses, c->w, c->N);
}

static void test_xent(void) {
    enum { N = 5, V = 10, vocab = 8 };
    int targets[N] = {0, 7, 3, 3, 5};
    float logits[N * V], rowmax[N], sumexp[N], tl[N], losses[N], w[N];
    fill_normal(logits, N * V, 3.0f, 61), fill_normal(w, N, 1.0f, 62);
    be->xent_max(be, rowmax, logits, N, V, 0, vocab);
    be->xent_sumexp(be, sumexp, tl, logits, rowmax, targets, N, V, 0, vocab);
    be->xent_loss(be, losses, rowmax, sumexp, tl, N);
    xe_ctx c = {to_d(logits, N * V), malloc(sizeof(double) * N), targets, w, N, V, vocab};
    xe_loss(&c);
    double e = rel_err_fd(losses, c.losses, N);
    CHECK(e < TOL_ELEM, "xent loss rel err %g", e);
    double g[N * V];
    fd_grad(xe_loss, &c, c.logits, N * V, g);
    be->xent_backward(be, logits, rowmax, sumexp, targets, w, N, V, 0, vocab);
    e = rel_err_fd(logits, g, N * V);
    CHECK(e < TOL_CHAIN, "xent backward rel err %g", e);
    for (int n = 0; n < N; n++) CHECK(logits[n * V + 8] == 0.0f && logits[n * V + 9] == 0.0f, "padded column has a gradient");
    free(c.logits), free(c.losses);
}

/* ---------------- reductions, AdamW, casts */
static void test_reductions_and_adamw(void) {
    enum { n = 70001 };
    float *x = malloc(sizeof(float) * n);
    fill_normal(x, n, 1.0f, 71);
    double ss = 0, s = 0;
    for (int i = 0; i < n; i++) ss += (double)x[i] * x[i], s += x[i];
    double a = be->sumsq(be, x, n), b = be->sumsq(be, x, n);
    CHECK(fabs(a - ss) / ss < 1e-12, "sumsq %g vs %g", a, ss);
    CHECK(a == b, "sumsq not deterministic");
    CHECK(fabs(be->sum(be, x, n) - s) < 1e-9 * sqrt((double)n) * 10, "sum differs");
    CHECK(!be->has_inf_nan(be, x, n), "finite data flagged");
    x[4321] = NAN;
    CHECK(be->has_inf_nan(be, x, n), "NaN not found");
    x[4321] = INFINITY;
    CHECK(be->has_inf_nan(be, x, n), "inf not found");
    free(x);

    enum { m = 33 };
    float p[m], g[m], mm[m], vv[m];
    fill_normal(p, m, 1.0f, 72), fill_normal(g, m, 1.0f, 73), fill_normal(mm, m, 0.1f, 74);
    for (int i = 0; i < m; i++) vv[i] = fabsf(g[i]) * 0.01f + 0.001f;
    double rp[m];
    float lr = 0.01f, b1 = 0.9f, b2 = 0.95f, eps = 1e-8f, wd = 0.1f, bc1 = 1 - 0.9f * 0.9f, bc2 = 1 - 0.95f * 0.95f, gs = 0.5f;
    for (int i = 0; i < m; i++) {
        double gi = (double)g[i] * gs, mi = b1 * (double)mm[i] + (1 - b1) * gi, vi = b2 * (double)vv[i] + (1 - b2) * gi * gi;
        rp[i] = p[i] - lr * ((mi / bc1) / (sqrt(vi / bc2) + eps) + wd * p[i]);
    }
    be->adamw(be, p, g, mm, vv, m, lr, b1, b2, eps, wd, bc1, bc2, gs);
    double e = rel_err_fd(p, rp, m);
    CHECK(e < TOL_ELEM, "adamw rel err %g", e);

    float src[5] = {1.0f, -2.5f, 3.14159265f, 65504.0f, 1e-8f};
    uint16_t h[5];
    be->cast_from_f32(be, h, DTYPE_BF16, src, 5);
    CHECK(h[0] == 0x3f80 && h[1] == 0xc020 && h[2] == 0x4049, "bf16 cast bits %04x %04x %04x", h[0], h[1], h[2]);
    be->cast_from_f32(be, h, DTYPE_F16, src, 5);
    CHECK(h[0] == 0x3c00 && h[1] == 0xc100 && h[2] == 0x4248 && h[3] == 0x7bff, "f16 cast bits %04x %04x %04x %04x", h[0], h[1], h[2], h[3]);
    for (int i = 0; i < 5; i++) {
        float r = f16_to_f32(h[i]);
        CHECK(fabsf(r - src[i]) <= fabsf(src[i]) * 1e-3f + 6e-8f, "f16 round trip %g -> %g", src[i], r);
    }
}

int main(void) {
    be = backend_cpu();
    test_matmul();
    test_layernorm();
    test_gelu(1);
    test_gelu(0);
    test_tanh();
    test_attention(1, 0, 0.0f);
    test_attention(1, 0, 0.3f);
    test_attention(0, 1, 0.0f);
    test_attention(1, 1, 0.2f);
    for (int d = 0; d < 2; d++) {
        float drop = d ? 0.2f : 0.0f;
        test_flash_attention(6, 1, 0, drop, 1);
        test_flash_attention(6, 0, 1, drop, 1);
        test_flash_attention(6, 1, 1, drop, 1);
        test_flash_attention(6, 0, 2, drop, 1);
        test_flash_attention(70, 1, 1, drop, 0);
        test_flash_attention(70, 0, 1, drop, 0);
        test_flash_attention(70, 1, 2, drop, 0);
    }
    test_embedding();
    test_dropout();
    test_xent();
    test_reductions_and_adamw();
    return test_exit("test_ops");
}
