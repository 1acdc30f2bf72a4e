/* test_backend_parity.c — every op of the CUDA backend against the CPU reference.
 *
 * Each op runs on both backends with the same random inputs (fixed seed, odd
 * sizes such as N=37, C=70); the result is compared by relative error
 * ||cuda - cpu|| / ||cpu||: at most 1e-5 for elementwise and normalisation ops,
 * 1e-4 for matmul and attention; NaN never passes. Backward ops start their
 * gradient buffers from random values, so accumulation (+=) is checked too.
 * Dropout masks, casts and copies must match exactly, and the reductions and
 * the fused attention must give bitwise-identical results when run twice on the GPU.
 * The Llama-shaped ops (RMSNorm, RoPE, SwiGLU, grouped-query attention) follow.
 * Prints one line per op, `op  rel_err  PASS|FAIL`; exits 1 on any failure and
 * 77 (meson's skip code) when there is no CUDA backend or device. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/backend.h"
#include "framework/rng.h"
#include "framework/tensor.h"

#define TOL_ELEM 1e-5
#define TOL_GEMM 1e-4
#define SEED 20240607u

static backend_t *be[2]; /* 0: cpu (reference), 1: cuda */
static int failures;
static uint32_t next_stream = 1;

#define EACH(s) for (int s = 0; s < 2; s++)

/* ---------------------------------------------------------------- buffers on both backends */

typedef struct buf {
    void *p[2];
    size_t bytes;
} buf_t;

#define F(b, s) ((float *)(b).p[s])
#define I(b, s) ((int *)(b).p[s])

static void *xmalloc(size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "out of host memory (%zu bytes)\n", bytes);
        exit(1);
    }
    return p;
}

static buf_t buf_new(size_t bytes) {
    buf_t b = {{NULL, NULL}, bytes};
    err_t err;
    EACH(s) {
        if (be[s]->alloc(be[s], &b.p[s], bytes, &err) != 0) {
            fprintf(stderr, "%s\n", err.msg);
            exit(1);
        }
    }
    return b;
}

/* both sides = host */
static void buf_set(buf_t b, const void *host) {
    EACH(s) be[s]->copy_to_device(be[s], b.p[s], host, b.bytes);
}

static buf_t buf_from(const void *host, size_t bytes) {
    buf_t b = buf_new(bytes);
    buf_set(b, host);
    return b;
}

/* a host copy of side s (caller frees) */
static void *buf_get(buf_t b, int s) {
    void *h = xmalloc(b.bytes);
    be[s]->copy_to_host(be[s], h, b.p[s], b.bytes);
    return h;
}

static void buf_free(buf_t *b) {
    EACH(s) be[s]->free(be[s], b->p[s]);
    b->p[0] = b->p[1] = NULL;
}

/* ---------------------------------------------------------------- random inputs */

static rng_key_t fresh_key(void) {
    rng_key_t k = {SEED, next_stream++, 0};
    return k;
}

static float *host_randn(size_t n, float scale, float shift) {
    float *h = xmalloc(n * sizeof(float));
    rng_key_t k = fresh_key();
    for (size_t i = 0; i < n; i++) h[i] = (float)(shift + scale * rng_normal(k, i));
    return h;
}

static int *host_ids(size_t n, int lo, int hi) {
    int *h = xmalloc(n * sizeof(int));
    rng_key_t k = fresh_key();
    for (size_t i = 0; i < n; i++) h[i] = lo + (int)(rng_u32(k, i) % (uint32_t)(hi - lo));
    return h;
}

static buf_t rand_buf(size_t n, float scale, float shift) {
    float *h = host_randn(n, scale, shift);
    buf_t b = buf_from(h, n * sizeof(float));
    free(h);
    return b;
}

/* ---------------------------------------------------------------- comparisons */

static double worse(double a, double b) {
    if (isnan(a) || isnan(b)) return NAN;
    return a > b ? a : b;
}

/* ||got - ref|| / ||ref||; NaN when either side holds a NaN */
static double rel_err(const float *ref, const float *got, size_t n) {
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(ref[i]) || isnan(got[i])) return NAN;
        double d = (double)got[i] - (double)ref[i];
        num += d * d;
        den += (double)ref[i] * ref[i];
    }
    if (den == 0.0) return num == 0.0 ? 0.0 : INFINITY;
    return sqrt(num / den);
}

/* relative error of a float buffer, cuda vs cpu */
static double buf_rel(buf_t b) {
    float *c = buf_get(b, 0), *g = buf_get(b, 1);
    double e = rel_err(c, g, b.bytes / sizeof(float));
    free(c);
    free(g);
    return e;
}

/* fraction of elements of `width` bytes whose bits differ between the sides */
static double buf_bits_diff(buf_t b, size_t width) {
    unsigned char *c = buf_get(b, 0), *g = buf_get(b, 1);
    size_t n = b.bytes / width, bad = 0;
    for (size_t i = 0; i < n; i++) bad += memcmp(c + i * width, g + i * width, width) != 0;
    free(c);
    free(g);
    return n ? (double)bad / (double)n : 0.0;
}

/* fraction of floats that are zero on one side only */
static double buf_zeros_diff(buf_t b) {
    float *c = buf_get(b, 0), *g = buf_get(b, 1);
    size_t n = b.bytes / sizeof(float), bad = 0;
    for (size_t i = 0; i < n; i++) bad += (c[i] == 0.0f) != (g[i] == 0.0f);
    free(c);
    free(g);
    return n ? (double)bad / (double)n : 0.0;
}

static void report(const char *name, double err, double tol) {
    int ok = err <= tol; /* false for NaN */
    printf("%-60s %10.3e  %s\n", name, err, ok ? "PASS" : "FAIL");
    fflush(stdout);
    failures += !ok;
}

/* the GPU side of b equals `first` bit for bit */
static void report_repeat(const char *name, buf_t b, const void *first) {
    void *g = buf_get(b, 1);
    char line[128];
    snprintf(line, sizeof line, "%s (bitwise repeat)", name);
    report(line, memcmp(g, first, b.bytes) == 0 ? 0.0 : 1.0, 0.0);
    free(g);
}

/* ---------------------------------------------------------------- memory */

static void test_memory(void) {
    const size_t n = 1037;
    float *h = host_randn(n, 1.0f, 0.0f);
    buf_t b = buf_from(h, n * sizeof(float));
    float *back = buf_get(b, 1);
    report("copy_to_device + copy_to_host", memcmp(back, h, n * sizeof(float)) ? 1.0 : 0.0, 0.0);
    free(back);

    buf_t c = buf_new(n * sizeof(float));
    EACH(s) be[s]->copy(be[s], c.p[s], b.p[s], n * sizeof(float));
    report("copy", buf_bits_diff(c, 4), 0.0);
    /* overlapping ranges (memmove), forwards and backwards */
    EACH(s) be[s]->copy(be[s], F(c, s) + 5, F(c, s), (n - 5) * sizeof(float));
    EACH(s) be[s]->copy(be[s], F(c, s), F(c, s) + 300, (n - 300) * sizeof(float));
    report("copy (overlapping)", buf_bits_diff(c, 4), 0.0);
    EACH(s) be[s]->memset_zero(be[s], F(c, s) + 10, 100 * sizeof(float));
    report("memset_zero", buf_bits_diff(c, 4), 0.0);
    buf_free(&b);
    buf_free(&c);
    free(h);
}

/* ---------------------------------------------------------------- embeddings */

static void test_embedding(int N, int C, int vstart, int vend, int idmax) {
    char name[128];
    int *ids = host_ids((size_t)N, 0, idmax);
    ids[N - 1] = ids[0] = vstart; /* at least one repeated in-range token */
    buf_t tok = buf_from(ids, (size_t)N * sizeof(int));
    size_t rows = (size_t)(vend - vstart);
    buf_t wte = rand_buf(rows * C, 0.5f, 0.0f);
    buf_t out = buf_new((size_t)N * C * sizeof(float));
    EACH(s) be[s]->embedding_forward(be[s], F(out, s), I(tok, s), F(wte, s), N, C, vstart, vend);
    snprintf(name, sizeof name, "embedding_forward N=%d C=%d", N, C);
    report(name, buf_rel(out), TOL_ELEM);

    float *start = host_randn(rows * C, 1.0f, 0.0f);
    buf_t dwte = buf_from(start, rows * C * sizeof(float));
    buf_t dout = rand_buf((size_t)N * C, 1.0f, 0.0f);
    EACH(s) be[s]->embedding_backward(be[s], F(dwte, s), F(dout, s), I(tok, s), N, C, vstart, vend);
    snprintf(name, sizeof name, "embedding_backward N=%d C=%d", N, C);
    report(name, buf_rel(dwte), TOL_ELEM);
    void *first = buf_get(dwte, 1);
    be[1]->copy_to_device(be[1], dwte.p[1], start, dwte.bytes);
    be[1]->embedding_backward(be[1], F(dwte, 1), F(dout, 1), I(tok, 1), N, C, vstart, vend);
    report_repeat(name, dwte, first);
    free(first);
    free(start);
    free(ids);
    buf_free(&tok), buf_free(&wte), buf_free(&out), buf_free(&dwte), buf_free(&dout);
}

static void test_position(int B, int T, int C) {
    char name[128];
    size_t n = (size_t)B * T * C;
    buf_t out = rand_buf(n, 1.0f, 0.0f), wpe = rand_buf((size_t)T * C, 0.5f, 0.0f);
    EACH(s) be[s]->position_forward(be[s], F(out, s), F(wpe, s), B, T, C);
    snprintf(name, sizeof name, "position_forward B=%d T=%d C=%d", B, T, C);
    report(name, buf_rel(out), TOL_ELEM);

    float *start = host_randn((size_t)T * C, 1.0f, 0.0f);
    buf_t dwpe = buf_from(start, (size_t)T * C * sizeof(float));
    buf_t dout = rand_buf(n, 1.0f, 0.0f);
    EACH(s) be[s]->position_backward(be[s], F(dwpe, s), F(dout, s), B, T, C);
    snprintf(name, sizeof name, "position_backward B=%d T=%d C=%d", B, T, C);
    report(name, buf_rel(dwpe), TOL_ELEM);
    void *first = buf_get(dwpe, 1);
    be[1]->copy_to_device(be[1], dwpe.p[1], start, dwpe.bytes);
    be[1]->position_backward(be[1], F(dwpe, 1), F(dout, 1), B, T, C);
    report_repeat(name, dwpe, first);
    free(first);
    free(start);
    buf_free(&out), buf_free(&wpe), buf_free(&dwpe), buf_free(&dout);
}

/* ---------------------------------------------------------------- LayerNorm */

static void test_layernorm(int N, int C) {
    char name[128];
    size_t n = (size_t)N * C;
    buf_t inp = rand_buf(n, 2.0f, 0.5f), w = rand_buf((size_t)C, 0.3f, 1.0f);
    buf_t b = rand_buf((size_t)C, 0.3f, 0.0f);
    buf_t out = buf_new(n * sizeof(float)), mean = buf_new((size_t)N * sizeof(float));
    buf_t rstd = buf_new((size_t)N * sizeof(float));
    EACH(s) {
        be[s]->layernorm_forward(be[s], F(out, s), F(mean, s), F(rstd, s), F(inp, s), F(w, s),
                                 F(b, s), N, C, 1e-5f);
    }
    snprintf(name, sizeof name, "layernorm_forward N=%d C=%d", N, C);
    report(name, worse(buf_rel(out), worse(buf_rel(mean), buf_rel(rstd))), TOL_ELEM);
    float *fo = buf_get(out, 1), *fm = buf_get(mean, 1), *fr = buf_get(rstd, 1);
    be[1]->layernorm_forward(be[1], F(out, 1), F(mean, 1), F(rstd, 1), F(inp, 1), F(w, 1),
                             F(b, 1), N, C, 1e-5f);
    report_repeat("layernorm_forward out", out, fo);
    report_repeat("layernorm_forward mean", mean, fm);
    report_repeat("layernorm_forward rstd", rstd, fr);
    free(fo), free(fm), free(fr);
    buf_t res = rand_buf(n, 1.0f, 0.0f), sum = buf_new(n * sizeof(float)), out2 = buf_new(n * sizeof(float));
    buf_t mean2 = buf_new((size_t)N * sizeof(float)), rstd2 = buf_new((size_t)N * sizeof(float));
    EACH(s) {
        be[s]->residual_layernorm_forward(be[s], F(sum, s), F(out2, s), F(mean2, s), F(rstd2, s), F(inp, s),
                                          F(res, s), F(w, s), F(b, s), N, C, 1e-5f);
    }
    snprintf(name, sizeof name, "residual_layernorm_forward N=%d C=%d", N, C);
    report(name, worse(buf_rel(sum), worse(buf_rel(out2), worse(buf_rel(mean2), buf_rel(rstd2)))), TOL_ELEM);
    buf_free(&res), buf_free(&sum), buf_free(&out2), buf_free(&mean2), buf_free(&rstd2);

    /* backward from the CPU's statistics on both sides */
    float *hm = buf_get(mean, 0), *hr = buf_get(rstd, 0);
    buf_set(mean, hm);
    buf_set(rstd, hr);
    float *s_dinp = host_randn(n, 1.0f, 0.0f), *s_dw = host_randn((size_t)C, 1.0f, 0.0f);
    float *s_db = host_randn((size_t)C, 1.0f, 0.0f);
    buf_t dinp = buf_from(s_dinp, n * sizeof(float));
    buf_t dw = buf_from(s_dw, (size_t)C * sizeof(float));
    buf_t db = buf_from(s_db, (size_t)C * sizeof(float));
    buf_t dout = rand_buf(n, 1.0f, 0.0f);
    EACH(s) {
        be[s]->layernorm_backward(be[s], F(dinp, s), F(dw, s), F(db, s), F(dout, s), F(inp, s),
                                  F(w, s), F(mean, s), F(rstd, s), N, C);
    }
    snprintf(name, sizeof name, "layernorm_backward N=%d C=%d", N, C);
    report(name, worse(buf_rel(dinp), worse(buf_rel(dw), buf_rel(db))), TOL_ELEM);
    float *fw = buf_get(dw, 1), *fb = buf_get(db, 1), *fi = buf_get(dinp, 1);
    be[1]->copy_to_device(be[1], dinp.p[1], s_dinp, dinp.bytes);
    be[1]->copy_to_device(be[1], dw.p[1], s_dw, dw.bytes);
    be[1]->copy_to_device(be[1], db.p[1], s_db, db.bytes);
    be[1]->layernorm_backward(be[1], F(dinp, 1), F(dw, 1), F(db, 1), F(dout, 1), F(inp, 1),
                              F(w, 1), F(mean, 1), F(rstd, 1), N, C);
    report_repeat("layernorm_backward dinp", dinp, fi);
    report_repeat("layernorm_backward dw", dw, fw);
    report_repeat("layernorm_backward db", db, fb);
    free(fw), free(fb), free(fi), free(hm), free(hr), free(s_dinp), free(s_dw), free(s_db);
    buf_free(&inp), buf_free(&w), buf_free(&b), buf_free(&out), buf_free(&mean), buf_free(&rstd);
    buf_free(&dinp), buf_free(&dw), buf_free(&db), buf_free(&dout);
}

/* ---------------------------------------------------------------- linear */

static void test_matmul(int N, int IC, int OC) {
    char name[128];
    buf_t inp = rand_buf((size_t)N * IC, 1.0f, 0.0f), w = rand_buf((size_t)OC * IC, 0.2f, 0.0f);
    buf_t bias = rand_buf((size_t)OC, 1.0f, 0.0f), out = buf_new((size_t)N * OC * sizeof(float));
    EACH(s) be[s]->matmul_forward(be[s], F(out, s), F(inp, s), F(w, s), F(bias, s), N, IC, OC);
    snprintf(name, sizeof name, "matmul_forward +bias N=%d IC=%d OC=%d", N, IC, OC);
    report(name, buf_rel(out), TOL_GEMM);
    EACH(s) be[s]->matmul_forward(be[s], F(out, s), F(inp, s), F(w, s), NULL, N, IC, OC);
    snprintf(name, sizeof name, "matmul_forward no bias N=%d IC=%d OC=%d", N, IC, OC);
    report(name, buf_rel(out), TOL_GEMM);

    float *s_dinp = host_randn((size_t)N * IC, 1.0f, 0.0f);
    float *s_dw = host_randn((size_t)OC * IC, 1.0f, 0.0f);
    float *s_db = host_randn((size_t)OC, 1.0f, 0.0f);
    buf_t dinp = buf_from(s_dinp, (size_t)N * IC * sizeof(float));
    buf_t dw = buf_from(s_dw, (size_t)OC * IC * sizeof(float));
    buf_t db = buf_from(s_db, (size_t)OC * sizeof(float));
    buf_t dout = rand_buf((size_t)N * OC, 1.0f, 0.0f);
    EACH(s) {
        be[s]->matmul_backward(be[s], F(dinp, s), F(dw, s), F(db, s), F(dout, s), F(inp, s),
                               F(w, s), N, IC, OC);
    }
    snprintf(name, sizeof name, "matmul_backward N=%d IC=%d OC=%d", N, IC, OC);
    report(name, worse(buf_rel(dinp), worse(buf_rel(dw), buf_rel(db))), TOL_GEMM);
    float *fi = buf_get(dinp, 1), *fw = buf_get(dw, 1), *fb = buf_get(db, 1);
    be[1]->copy_to_device(be[1], dinp.p[1], s_dinp, dinp.bytes);
    be[1]->copy_to_device(be[1], dw.p[1], s_dw, dw.bytes);
    be[1]->copy_to_device(be[1], db.p[1], s_db, db.bytes);
    be[1]->matmul_backward(be[1], F(dinp, 1), F(dw, 1), F(db, 1), F(dout, 1), F(inp, 1), F(w, 1),
                           N, IC, OC);
    report_repeat("matmul_backward dinp", dinp, fi);
    report_repeat("matmul_backward dw", dw, fw);
    report_repeat("matmul_backward dbias", db, fb);

    /* NULL terms are skipped: only dinp, then only dw */
    buf_set(dinp, s_dinp), buf_set(dw, s_dw), buf_set(db, s_db);
    EACH(s) {
        be[s]->matmul_backward(be[s], F(dinp, s), NULL, NULL, F(dout, s), F(inp, s), F(w, s), N,
                               IC, OC);
        be[s]->matmul_backward(be[s], NULL, F(dw, s), NULL, F(dout, s), F(inp, s), F(w, s), N, IC,
                               OC);
    }
    float *gdb = buf_get(db, 1);
    snprintf(name, sizeof name, "matmul_backward NULL terms N=%d IC=%d OC=%d", N, IC, OC);
    double untouched = memcmp(gdb, s_db, db.bytes) ? 1.0 : 0.0;
    report(name, worse(untouched, worse(buf_rel(dinp), buf_rel(dw))), TOL_GEMM);
    free(gdb), free(fi), free(fw), free(fb), free(s_dinp), free(s_dw), free(s_db);
    buf_free(&inp), buf_free(&w), buf_free(&bias), buf_free(&out);
    buf_free(&dinp), buf_free(&dw), buf_free(&db), buf_free(&dout);
}

/* ---------------------------------------------------------------- attention */

/* mask_kind 0: none; 1: some keys masked in each batch; 2: batch 0's key 0 masked, so
 * (with causal) its first query sees no key, and batch 1's second half masked */
static void test_attention(int causal, int mask_kind, float drop) {
    const int B = 2, T = 37, NH = 3, HS = 8, ld = 3 * NH * HS, C = NH * HS;
    const size_t nqkv = (size_t)B * T * ld, nout = (size_t)B * T * C;
    const size_t nprob = (size_t)B * NH * T * T;
    char label[96], name[160];
    snprintf(label, sizeof label, "causal=%d mask=%s p=%.1f", causal,
             mask_kind == 0 ? "none" : mask_kind == 1 ? "some" : "row0", drop);

    float hmask[2 * 37];
    for (int i = 0; i < B * T; i++) hmask[i] = 1.0f;
    if (mask_kind == 1) hmask[3] = hmask[7] = hmask[36] = hmask[T + 0] = hmask[T + 1] = 0.0f;
    if (mask_kind == 2) {
        hmask[0] = 0.0f;
        for (int j = T / 2; j < T; j++) hmask[T + j] = 0.0f;
    }
    buf_t mask = buf_from(hmask, sizeof(float) * (size_t)B * T);
    buf_t qkv = rand_buf(nqkv, 1.0f, 0.0f), out = buf_new(nout * sizeof(float));
    buf_t probs = buf_new(nprob * sizeof(float)), scratch = buf_new(nprob * sizeof(float));
    buf_t dscratch = buf_new(nprob * sizeof(float));
    rng_key_t key = {SEED | (0xabcdull << 40), rng_stream(RNG_PURPOSE_DROPOUT, 4, 1), 11};
    attn_shape_t sh[2];
    EACH(s) {
        attn_shape_t a = {B, T, NH, HS, causal, mask_kind ? F(mask, s) : NULL, drop, key, 0};
        sh[s] = a;
    }
    EACH(s) {
        be[s]->attention_forward(be[s], F(out, s), F(probs, s), F(scratch, s), F(qkv, s),
                                 &sh[s]);
    }
    snprintf(name, sizeof name, "attention_forward %s", label);
    report(name, worse(buf_rel(out), buf_rel(probs)), TOL_GEMM);
    if (drop > 0.0f) {
        snprintf(name, sizeof name, "attention_forward %s dropout mask", label);
        report(name, buf_zeros_diff(scratch), 0.0);
    }

    /* backward from the CPU's probabilities on both sides */
    float *hp = buf_get(probs, 0);
    buf_set(probs, hp);
    float *start = host_randn(nqkv, 1.0f, 0.0f);
    buf_t dqkv = buf_from(start, nqkv * sizeof(float)), dout = rand_buf(nout, 1.0f, 0.0f);
    EACH(s) {
        be[s]->attention_backward(be[s], F(dqkv, s), F(scratch, s), F(dscratch, s), F(dout, s),
                                  F(qkv, s), F(probs, s), &sh[s]);
    }
    snprintf(name, sizeof name, "attention_backward %s", label);
    report(name, buf_rel(dqkv), TOL_GEMM);
    void *first = buf_get(dqkv, 1);
    be[1]->copy_to_device(be[1], dqkv.p[1], start, dqkv.bytes);
    be[1]->attention_backward(be[1], F(dqkv, 1), F(scratch, 1), F(dscratch, 1), F(dout, 1),
                              F(qkv, 1), F(probs, 1), &sh[1]);
    report_repeat(name, dqkv, first);
    free(first), free(start), free(hp);
    buf_free(&mask), buf_free(&qkv), buf_free(&out), buf_free(&probs), buf_free(&scratch);
    buf_free(&dscratch), buf_free(&dqkv), buf_free(&dout);
}

/* Fused attention with the attention test's shapes and masks, plus T = 70 (three
 * 32-row tiles, the last partial) and head sizes 8, 40 and 64 (one, two and two
 * register rows per lane). lse rows that see no key must be -inf on both sides;
 * the rest are compared by relative error. Backward runs from the CPU's out and
 * lse on both sides, accumulating onto random dqkv, and must repeat bitwise. */
static double lse_rel(buf_t b) {
    float *c = buf_get(b, 0), *g = buf_get(b, 1);
    size_t n = b.bytes / sizeof(float), bad = 0;
    for (size_t i = 0; i < n; i++) {
        if ((c[i] == -INFINITY) != (g[i] == -INFINITY)) bad++;
        if (c[i] == -INFINITY) c[i] = g[i] = 0.0f;
    }
    double e = bad ? INFINITY : rel_err(c, g, n);
    free(c), free(g);
    return e;
}

static void test_flash_attention(int T, int HS, int causal, int mask_kind, float drop) {
    const int B = 2, NH = 3, ld = 3 * NH * HS, C = NH * HS;
    const size_t nqkv = (size_t)B * T * ld, nout = (size_t)B * T * C, nlse = (size_t)B * NH * T;
    char label[96], name[160];
    snprintf(label, sizeof label, "T=%d HS=%d causal=%d mask=%s p=%.1f", T, HS, causal,
             mask_kind == 0 ? "none" : mask_kind == 1 ? "some" : "row0", drop);
    float *hmask = xmalloc(sizeof(float) * (size_t)B * T);
    for (int i = 0; i < B * T; i++) hmask[i] = 1.0f;
    if (mask_kind == 1) hmask[3] = hmask[7] = hmask[T - 1] = hmask[T + 0] = hmask[T + 1] = 0.0f;
    if (mask_kind == 2) {
        hmask[0] = 0.0f;
        for (int j = T / 2; j < T; j++) hmask[T + j] = 0.0f;
    }
    buf_t mask = buf_from(hmask, sizeof(float) * (size_t)B * T);
    buf_t qkv = rand_buf(nqkv, 1.0f, 0.0f), out = buf_new(nout * sizeof(float));
    buf_t lse = buf_new(nlse * sizeof(float)), ref = buf_new(nout * sizeof(float));
    buf_t probs = buf_new((size_t)B * NH * T * T * sizeof(float));
    buf_t scratch = buf_new((size_t)B * NH * T * T * sizeof(float));
    rng_key_t key = {SEED | (0xabcdull << 40), rng_stream(RNG_PURPOSE_DROPOUT, 4, 1), 11};
    attn_shape_t sh[2];
    EACH(s) {
        attn_shape_t a = {B, T, NH, HS, causal, mask_kind ? F(mask, s) : NULL, drop, key, 0};
        sh[s] = a;
    }
    /* poison: every output element must be written */
    float *nan = xmalloc(nout * sizeof(float));
    for (size_t i = 0; i < nout; i++) nan[i] = NAN;
    buf_set(out, nan);
    EACH(s) be[s]->flash_attention_forward(be[s], F(out, s), F(lse, s), F(qkv, s), &sh[s]);
    snprintf(name, sizeof name, "flash_attention_forward %s", label);
    report(name, worse(buf_rel(out), lse_rel(lse)), TOL_GEMM);
    /* the GPU's fused op against the CPU's unfused one: the same dropout mask */
    be[0]->attention_forward(be[0], F(ref, 0), F(probs, 0), F(scratch, 0), F(qkv, 0), &sh[0]);
    float *href = buf_get(ref, 0), *gout = buf_get(out, 1);
    snprintf(name, sizeof name, "flash_attention_forward %s vs attention", label);
    report(name, rel_err(href, gout, nout), TOL_GEMM);
    free(href), free(gout);
    void *ofirst = buf_get(out, 1), *lfirst = buf_get(lse, 1);
    be[1]->flash_attention_forward(be[1], F(out, 1), F(lse, 1), F(qkv, 1), &sh[1]);
    snprintf(name, sizeof name, "flash_attention_forward %s out", label);
    report_repeat(name, out, ofirst);
    snprintf(name, sizeof name, "flash_attention_forward %s lse", label);
    report_repeat(name, lse, lfirst);
    free(ofirst), free(lfirst);

    /* backward from the CPU's out and lse on both sides */
    float *ho = buf_get(out, 0), *hl = buf_get(lse, 0);
    buf_set(out, ho), buf_set(lse, hl);
    float *start = host_randn(nqkv, 1.0f, 0.0f);
    buf_t dqkv = buf_from(start, nqkv * sizeof(float)), dout = rand_buf(nout, 1.0f, 0.0f);
    EACH(s) be[s]->flash_attention_backward(be[s], F(dqkv, s), F(dout, s), F(qkv, s), F(out, s), F(lse, s), &sh[s]);
    snprintf(name, sizeof name, "flash_attention_backward %s", label);
    report(name, buf_rel(dqkv), TOL_GEMM);
    void *first = buf_get(dqkv, 1);
    be[1]->copy_to_device(be[1], dqkv.p[1], start, dqkv.bytes);
    be[1]->flash_attention_backward(be[1], F(dqkv, 1), F(dout, 1), F(qkv, 1), F(out, 1), F(lse, 1), &sh[1]);
    report_repeat(name, dqkv, first);
    free(first), free(start), free(ho), free(hl), free(nan), free(hmask);
    buf_free(&mask), buf_free(&qkv), buf_free(&out), buf_free(&lse), buf_free(&ref), buf_free(&probs);
    buf_free(&scratch), buf_free(&dqkv), buf_free(&dout);
}

/* ---------------------------------------------------------------- elementwise */

static void test_elementwise(size_t n) {
    char name[128];
    buf_t inp = rand_buf(n, 2.0f, 0.0f), out = buf_new(n * sizeof(float));
    for (int form = 1; form >= 0; form--) {
        const char *fname = form ? "tanh" : "erf";
        EACH(s) be[s]->gelu_forward(be[s], F(out, s), F(inp, s), n, form);
        snprintf(name, sizeof name, "gelu_forward %s n=%zu", fname, n);
        report(name, buf_rel(out), TOL_ELEM);
        buf_t dinp = rand_buf(n, 1.0f, 0.0f), dout = rand_buf(n, 1.0f, 0.0f);
        EACH(s) be[s]->gelu_backward(be[s], F(dinp, s), F(inp, s), F(dout, s), n, form);
        snprintf(name, sizeof name, "gelu_backward %s n=%zu", fname, n);
        report(name, buf_rel(dinp), TOL_ELEM);
        buf_free(&dinp), buf_free(&dout);
    }

    EACH(s) be[s]->tanh_forward(be[s], F(out, s), F(inp, s), n);
    snprintf(name, sizeof name, "tanh_forward n=%zu", n);
    report(name, buf_rel(out), TOL_ELEM);
    {
        buf_t dinp = rand_buf(n, 1.0f, 0.0f), dout = rand_buf(n, 1.0f, 0.0f);
        EACH(s) be[s]->tanh_backward(be[s], F(dinp, s), F(out, s), F(dout, s), n);
        snprintf(name, sizeof name, "tanh_backward n=%zu", n);
        report(name, buf_rel(dinp), TOL_ELEM);
        buf_free(&dinp), buf_free(&dout);
    }

    buf_t a = rand_buf(n, 1.0f, 0.0f), b = rand_buf(n, 1.0f, 0.0f);
    EACH(s) be[s]->add(be[s], F(out, s), F(a, s), F(b, s), n);
    snprintf(name, sizeof name, "add n=%zu", n);
    report(name, buf_rel(out), TOL_ELEM);
    EACH(s) be[s]->axpy(be[s], F(a, s), F(b, s), n, 0.37f);
    snprintf(name, sizeof name, "axpy n=%zu", n);
    report(name, buf_rel(a), TOL_ELEM);

    /* a key with every Philox input nonzero, including the seed's high word */
    rng_key_t key = {SEED | (0x1234ull << 32), rng_stream(RNG_PURPOSE_DROPOUT, 5, 1), 9};
    const float ps[2] = {0.1f, 0.0f};
    for (int k = 0; k < 2; k++) {
        float p = ps[k];
        buf_t x = rand_buf(n, 1.0f, 0.0f);
        EACH(s) be[s]->dropout_forward(be[s], F(x, s), n, p, key);
        snprintf(name, sizeof name, "dropout_forward p=%.1f n=%zu", p, n);
        report(name, buf_rel(x), TOL_ELEM);
        snprintf(name, sizeof name, "dropout_forward p=%.1f n=%zu mask", p, n);
        report(name, buf_zeros_diff(x), 0.0);
        buf_t dinp = rand_buf(n, 1.0f, 0.0f), dout = rand_buf(n, 1.0f, 0.0f);
        EACH(s) be[s]->dropout_backward(be[s], F(dinp, s), F(dout, s), n, p, key);
        snprintf(name, sizeof name, "dropout_backward p=%.1f n=%zu", p, n);
        report(name, buf_rel(dinp), TOL_ELEM);
        /* from a zero gradient, the dropped positions stay exactly zero on both sides */
        EACH(s) be[s]->memset_zero(be[s], dinp.p[s], dinp.bytes);
        EACH(s) be[s]->dropout_backward(be[s], F(dinp, s), F(dout, s), n, p, key);
        snprintf(name, sizeof name, "dropout_backward p=%.1f n=%zu mask", p, n);
        report(name, buf_zeros_diff(dinp), 0.0);
        buf_free(&x), buf_free(&dinp), buf_free(&dout);
    }
    buf_free(&inp), buf_free(&out), buf_free(&a), buf_free(&b);
}

/* ---------------------------------------------------------------- cross-entropy */

static void test_xent(int N, int V, int vstart, int vocab) {
    char label[64], name[128];
    snprintf(label, sizeof label, "N=%d V=%d vstart=%d vocab=%d", N, V, vstart, vocab);
    size_t n = (size_t)N * V, rb = (size_t)N * sizeof(float);
    float *hl = host_randn(n, 3.0f, 0.0f);
    int *ht = host_ids((size_t)N, 0, vocab);
    buf_t logits = buf_from(hl, n * sizeof(float)), targets = buf_from(ht, (size_t)N * sizeof(int));
    buf_t rowmax = buf_new(rb), sumexp = buf_new(rb), tlogit = buf_new(rb), losses = buf_new(rb);
    buf_t dloss = rand_buf((size_t)N, 1.0f, 0.0f);

    EACH(s) be[s]->xent_max(be[s], F(rowmax, s), F(logits, s), N, V, vstart, vocab);
    snprintf(name, sizeof name, "xent_max %s", label);
    report(name, buf_rel(rowmax), TOL_ELEM);
    float *h = buf_get(rowmax, 1);
    be[1]->xent_max(be[1], F(rowmax, 1), F(logits, 1), N, V, vstart, vocab);
    report_repeat(name, rowmax, h);
    free(h);
    h = buf_get(rowmax, 0);
    buf_set(rowmax, h);
    free(h);

    EACH(s) {
        be[s]->xent_sumexp(be[s], F(sumexp, s), F(tlogit, s), F(logits, s), F(rowmax, s),
                           I(targets, s), N, V, vstart, vocab);
    }
    snprintf(name, sizeof name, "xent_sumexp %s", label);
    report(name, worse(buf_rel(sumexp), buf_rel(tlogit)), TOL_ELEM);
    void *first = buf_get(sumexp, 1);
    be[1]->xent_sumexp(be[1], F(sumexp, 1), F(tlogit, 1), F(logits, 1), F(rowmax, 1),
                       I(targets, 1), N, V, vstart, vocab);
    report_repeat(name, sumexp, first);
    free(first);
    h = buf_get(sumexp, 0);
    buf_set(sumexp, h);
    free(h);
    h = buf_get(tlogit, 0);
    buf_set(tlogit, h);
    free(h);

    EACH(s) be[s]->xent_loss(be[s], F(losses, s), F(rowmax, s), F(sumexp, s), F(tlogit, s), N);
    snprintf(name, sizeof name, "xent_loss %s", label);
    report(name, buf_rel(losses), TOL_ELEM);

    EACH(s) {
        be[s]->xent_backward(be[s], F(logits, s), F(rowmax, s), F(sumexp, s), I(targets, s),
                             F(dloss, s), N, V, vstart, vocab);
    }
    snprintf(name, sizeof name, "xent_backward %s", label);
    report(name, buf_rel(logits), TOL_ELEM);
    free(hl), free(ht);
    buf_free(&logits), buf_free(&targets), buf_free(&rowmax), buf_free(&sumexp);
    buf_free(&tlogit), buf_free(&losses), buf_free(&dloss);
}

/* ---------------------------------------------------------------- reductions, optimizer */

static void test_reductions(size_t n) {
    char name[128];
    buf_t x = rand_buf(n, 1.0f, 0.3f);
    for (int sq = 1; sq >= 0; sq--) {
        double r[2], again;
        EACH(s) r[s] = sq ? be[s]->sumsq(be[s], F(x, s), n) : be[s]->sum(be[s], F(x, s), n);
        again = sq ? be[1]->sumsq(be[1], F(x, 1), n) : be[1]->sum(be[1], F(x, 1), n);
        snprintf(name, sizeof name, "%s n=%zu", sq ? "sumsq" : "sum", n);
        double err = isnan(r[0]) || isnan(r[1]) ? NAN : fabs(r[1] - r[0]) / fabs(r[0]);
        report(name, err, TOL_ELEM);
        snprintf(name, sizeof name, "%s n=%zu (bitwise repeat)", sq ? "sumsq" : "sum", n);
        report(name, memcmp(&r[1], &again, sizeof again) == 0 ? 0.0 : 1.0, 0.0);
    }
    buf_free(&x);
}

static void test_adamw(size_t n) {
    char name[128];
    buf_t p = rand_buf(n, 1.0f, 0.0f), g = rand_buf(n, 1.0f, 0.0f), m = rand_buf(n, 0.1f, 0.0f);
    float *hv = host_randn(n, 0.1f, 0.0f);
    for (size_t i = 0; i < n; i++) hv[i] = hv[i] * hv[i];
    buf_t v = buf_from(hv, n * sizeof(float));
    float b1 = 0.9f, b2 = 0.95f;
    float bc1 = 1.0f - b1 * b1 * b1, bc2 = 1.0f - b2 * b2 * b2; /* step 3 */
    EACH(s) {
        be[s]->adamw(be[s], F(p, s), F(g, s), F(m, s), F(v, s), n, 3e-4f, b1, b2, 1e-8f, 0.1f, bc1,
                     bc2, 0.5f);
    }
    snprintf(name, sizeof name, "adamw n=%zu", n);
    report(name, worse(buf_rel(p), worse(buf_rel(m), buf_rel(v))), TOL_ELEM);
    /* LAMB's moments and update direction, written over the gradient */
    EACH(s) {
        be[s]->lamb_moments(be[s], F(p, s), F(g, s), F(m, s), F(v, s), F(g, s), n, b1, b2, 1e-6f, 0.01f, bc1,
                            bc2, 0.5f);
    }
    snprintf(name, sizeof name, "lamb_moments n=%zu", n);
    report(name, worse(buf_rel(g), worse(buf_rel(m), buf_rel(v))), TOL_ELEM);
    /* the one-pass forms over three weight-decay runs (each side's table in its memory) */
    optim_segment_t hs[3] = {{0, n / 3, 0.1f, 0.0f}, {n / 3, n / 3 + 7, 0.0f, 0.0f}, {n / 3 + 7, n, 0.1f, 0.0f}};
    buf_t segs = buf_from(hs, sizeof hs);
    EACH(s) {
        const optim_segment_t *sg = (const optim_segment_t *)segs.p[s];
        be[s]->adamw_multi(be[s], F(p, s), F(g, s), F(m, s), F(v, s), n, sg, 3, 3e-4f, b1, b2, 1e-8f, bc1, bc2, 0.5f);
        be[s]->lamb_moments_multi(be[s], F(p, s), F(g, s), F(m, s), F(v, s), F(g, s), n, sg, 3, b1, b2, 1e-6f, bc1, bc2,
                                  0.5f);
    }
    snprintf(name, sizeof name, "adamw_multi + lamb_moments_multi n=%zu", n);
    report(name, worse(buf_rel(p), worse(buf_rel(g), worse(buf_rel(m), buf_rel(v)))), TOL_ELEM);
    buf_free(&segs);
    free(hv);
    buf_free(&p), buf_free(&g), buf_free(&m), buf_free(&v);
}

static void test_has_inf_nan(size_t n) {
    float *h = host_randn(n, 1.0f, 0.0f);
    buf_t x = buf_from(h, n * sizeof(float));
    const float bad[3] = {NAN, INFINITY, -INFINITY};
    const size_t where[3] = {n / 2, n - 1, 0};
    int mismatch = 0, r[2];
    EACH(s) r[s] = be[s]->has_inf_nan(be[s], F(x, s), n);
    mismatch += r[0] != 0 || r[1] != 0;
    for (int k = 0; k < 3; k++) {
        h[where[k]] = bad[k];
        buf_set(x, h);
        EACH(s) r[s] = be[s]->has_inf_nan(be[s], F(x, s), n);
        mismatch += r[0] != 1 || r[1] != 1;
        h[where[k]] = 1.0f;
    }
    report("has_inf_nan (clean, NaN, +inf, -inf)", mismatch, 0.0);
    free(h);
    buf_free(&x);
}

static void test_cast(size_t n) {
    char name[128];
    float *h = host_randn(n, 1.0f, 0.0f);
    /* magnitudes from fp16 subnormals to past fp16 overflow, plus specials and ties */
    const float scales[6] = {1e-7f, 1e-5f, 1.0f, 300.0f, 7e4f, 1e30f};
    for (size_t i = 0; i < n; i++) h[i] *= scales[i % 6];
    const float special[8] = {NAN, INFINITY, -INFINITY, -0.0f, 65520.0f, 65519.0f,
                              1.0f + 1.0f / 2048.0f, 1.0f + 1.0f / 256.0f};
    for (int k = 0; k < 8 && (size_t)k < n; k++) h[k] = special[k];
    buf_t src = buf_from(h, n * sizeof(float));
    const dtype_t types[3] = {DTYPE_BF16, DTYPE_F16, DTYPE_F32};
    for (int k = 0; k < 3; k++) {
        size_t w = dtype_size(types[k]);
        buf_t dst = buf_new(n * w);
        EACH(s) be[s]->cast_from_f32(be[s], dst.p[s], types[k], F(src, s), n);
        snprintf(name, sizeof name, "cast_from_f32 %s n=%zu (bits)", dtype_name(types[k]), n);
        report(name, buf_bits_diff(dst, w), 0.0);
        buf_free(&dst);
    }
    free(h);
    buf_free(&src);
}

/* the same inputs rounded to bf16/f16 values in fp32 storage, in place and not */
static void test_round_to(size_t n) {
    char name[128];
    float *h = host_randn(n, 1.0f, 0.0f);
    const float scales[5] = {1e-7f, 1e-5f, 1.0f, 7e4f, 1e30f};
    for (size_t i = 0; i < n; i++) h[i] *= scales[i % 5];
    const float special[6] = {NAN, INFINITY, -0.0f, 65520.0f, 65519.0f, 1.0f + 1.0f / 2048.0f};
    for (int k = 0; k < 6 && (size_t)k < n; k++) h[k] = special[k];
    const dtype_t types[3] = {DTYPE_BF16, DTYPE_F16, DTYPE_F32};
    for (int k = 0; k < 3; k++) {
        buf_t src = buf_from(h, n * sizeof(float)), dst = buf_new(n * sizeof(float));
        EACH(s) be[s]->round_to(be[s], F(dst, s), F(src, s), n, types[k]);
        EACH(s) be[s]->round_to(be[s], F(src, s), F(src, s), n, types[k]);
        snprintf(name, sizeof name, "round_to %s n=%zu (bits, copy and in place)", dtype_name(types[k]), n);
        report(name, buf_bits_diff(dst, sizeof(float)) + buf_bits_diff(src, sizeof(float)), 0.0);
        buf_free(&dst);
        buf_free(&src);
    }
    free(h);
}

/* ---------------------------------------------------------------- Llama-shaped ops (issue 20) */

static void test_rmsnorm(int N, int C) {
    char name[128];
    size_t n = (size_t)N * C;
    buf_t inp = rand_buf(n, 2.0f, 0.5f), w = rand_buf((size_t)C, 0.3f, 1.0f);
    buf_t out = buf_new(n * sizeof(float)), rstd = buf_new((size_t)N * sizeof(float));
    EACH(s) be[s]->rmsnorm_forward(be[s], F(out, s), F(rstd, s), F(inp, s), F(w, s), N, C, 1e-5f);
    snprintf(name, sizeof name, "rmsnorm_forward N=%d C=%d", N, C);
    report(name, worse(buf_rel(out), buf_rel(rstd)), TOL_ELEM);
    float *fo = buf_get(out, 1);
    be[1]->rmsnorm_forward(be[1], F(out, 1), F(rstd, 1), F(inp, 1), F(w, 1), N, C, 1e-5f);
    report_repeat(name, out, fo);
    free(fo);
    buf_t res = rand_buf(n, 1.0f, 0.0f), sum = buf_new(n * sizeof(float)), out2 = buf_new(n * sizeof(float));
    buf_t rstd2 = buf_new((size_t)N * sizeof(float));
    EACH(s) {
        be[s]->residual_rmsnorm_forward(be[s], F(sum, s), F(out2, s), F(rstd2, s), F(inp, s), F(res, s), F(w, s), N,
                                        C, 1e-5f);
    }
    snprintf(name, sizeof name, "residual_rmsnorm_forward N=%d C=%d", N, C);
    report(name, worse(buf_rel(sum), worse(buf_rel(out2), buf_rel(rstd2))), TOL_ELEM);
    buf_free(&res), buf_free(&sum), buf_free(&out2), buf_free(&rstd2);

    /* backward from the CPU's rstd on both sides, accumulating onto random values */
    float *hr = buf_get(rstd, 0);
    buf_set(rstd, hr);
    float *s_dinp = host_randn(n, 1.0f, 0.0f), *s_dw = host_randn((size_t)C, 1.0f, 0.0f);
    buf_t dinp = buf_from(s_dinp, n * sizeof(float)), dw = buf_from(s_dw, (size_t)C * sizeof(float));
    buf_t dout = rand_buf(n, 1.0f, 0.0f);
    EACH(s) be[s]->rmsnorm_backward(be[s], F(dinp, s), F(dw, s), F(dout, s), F(inp, s), F(w, s), F(rstd, s), N, C);
    snprintf(name, sizeof name, "rmsnorm_backward N=%d C=%d", N, C);
    report(name, worse(buf_rel(dinp), buf_rel(dw)), TOL_ELEM);
    float *fi = buf_get(dinp, 1), *fw = buf_get(dw, 1);
    be[1]->copy_to_device(be[1], dinp.p[1], s_dinp, dinp.bytes);
    be[1]->copy_to_device(be[1], dw.p[1], s_dw, dw.bytes);
    be[1]->rmsnorm_backward(be[1], F(dinp, 1), F(dw, 1), F(dout, 1), F(inp, 1), F(w, 1), F(rstd, 1), N, C);
    report_repeat("rmsnorm_backward dinp", dinp, fi);
    report_repeat("rmsnorm_backward dw", dw, fw);
    free(fi), free(fw), free(hr), free(s_dinp), free(s_dw);
    buf_free(&inp), buf_free(&w), buf_free(&out), buf_free(&rstd), buf_free(&dinp), buf_free(&dw), buf_free(&dout);
}

static void test_swiglu(int N, int C) {
    char name[128];
    size_t n = (size_t)N * C;
    buf_t inp = rand_buf(2 * n, 2.5f, 0.0f), out = buf_new(n * sizeof(float));
    EACH(s) be[s]->swiglu_forward(be[s], F(out, s), F(inp, s), N, C);
    snprintf(name, sizeof name, "swiglu_forward N=%d C=%d", N, C);
    report(name, buf_rel(out), TOL_ELEM);
    buf_t dinp = rand_buf(2 * n, 1.0f, 0.0f), dout = rand_buf(n, 1.0f, 0.0f);
    EACH(s) be[s]->swiglu_backward(be[s], F(dinp, s), F(inp, s), F(dout, s), N, C);
    snprintf(name, sizeof name, "swiglu_backward N=%d C=%d", N, C);
    report(name, buf_rel(dinp), TOL_ELEM);
    buf_free(&inp), buf_free(&out), buf_free(&dinp), buf_free(&dout);
}

static void test_rope(int B, int T, int NH, int NG, int HS, int rot, float base, int off) {
    char name[160];
    const int G = NG ? NG : NH;
    size_t n = (size_t)B * T * (NH + 2 * G) * HS;
    rope_shape_t rs = {B, T, NH, NG, HS, rot, base, off};
    buf_t x = rand_buf(n, 1.0f, 0.0f);
    EACH(s) be[s]->rope_forward(be[s], F(x, s), &rs);
    snprintf(name, sizeof name, "rope_forward B=%d T=%d NH=%d NG=%d HS=%d rot=%d base=%g off=%d", B, T, NH, NG, HS,
             rot, base, off);
    report(name, buf_rel(x), TOL_ELEM);
    buf_t d = rand_buf(n, 1.0f, 0.0f);
    EACH(s) be[s]->rope_backward(be[s], F(d, s), &rs);
    snprintf(name, sizeof name, "rope_backward B=%d T=%d NH=%d NG=%d HS=%d rot=%d base=%g off=%d", B, T, NH, NG, HS,
             rot, base, off);
    report(name, buf_rel(d), TOL_ELEM);
    buf_free(&x), buf_free(&d);
}

/* grouped-query attention, unfused and flash, against the CPU (backward from the
 * CPU's probabilities / out and lse on both sides, onto random gradients) */
static void test_attention_gqa(int T, int HS, int NH, int NG, int causal, int masked, float drop) {
    const int B = 2, ld = (NH + 2 * NG) * HS, C = NH * HS;
    const size_t nqkv = (size_t)B * T * ld, nout = (size_t)B * T * C, nprob = (size_t)B * NH * T * T;
    const size_t nlse = (size_t)B * NH * T;
    char label[96], name[160];
    snprintf(label, sizeof label, "GQA NH=%d NG=%d T=%d HS=%d causal=%d mask=%d p=%.1f", NH, NG, T, HS, causal, masked,
             drop);
    float *hmask = xmalloc(sizeof(float) * (size_t)B * T);
    for (int i = 0; i < B * T; i++) hmask[i] = 1.0f;
    if (masked) hmask[3] = hmask[T - 1] = hmask[T + 0] = 0.0f;
    buf_t mask = buf_from(hmask, sizeof(float) * (size_t)B * T);
    buf_t qkv = rand_buf(nqkv, 1.0f, 0.0f), out = buf_new(nout * sizeof(float)), lse = buf_new(nlse * sizeof(float));
    buf_t probs = buf_new(nprob * sizeof(float)), scratch = buf_new(nprob * sizeof(float));
    buf_t dscratch = buf_new(nprob * sizeof(float));
    rng_key_t key = {SEED | (0xabcdull << 40), rng_stream(RNG_PURPOSE_DROPOUT, 4, 1), 13};
    attn_shape_t sh[2];
    EACH(s) {
        attn_shape_t a = {B, T, NH, HS, causal, masked ? F(mask, s) : NULL, drop, key, NG};
        sh[s] = a;
    }
    float *start = host_randn(nqkv, 1.0f, 0.0f);
    buf_t dqkv = buf_from(start, nqkv * sizeof(float)), dout = rand_buf(nout, 1.0f, 0.0f);

    EACH(s) be[s]->attention_forward(be[s], F(out, s), F(probs, s), F(scratch, s), F(qkv, s), &sh[s]);
    snprintf(name, sizeof name, "attention_forward %s", label);
    report(name, worse(buf_rel(out), buf_rel(probs)), TOL_GEMM);
    float *hp = buf_get(probs, 0);
    buf_set(probs, hp);
    EACH(s) {
        be[s]->attention_backward(be[s], F(dqkv, s), F(scratch, s), F(dscratch, s), F(dout, s), F(qkv, s),
                                  F(probs, s), &sh[s]);
    }
    snprintf(name, sizeof name, "attention_backward %s", label);
    report(name, buf_rel(dqkv), TOL_GEMM);
    void *first = buf_get(dqkv, 1);
    be[1]->copy_to_device(be[1], dqkv.p[1], start, dqkv.bytes);
    be[1]->attention_backward(be[1], F(dqkv, 1), F(scratch, 1), F(dscratch, 1), F(dout, 1), F(qkv, 1), F(probs, 1),
                              &sh[1]);
    report_repeat(name, dqkv, first);
    free(first), free(hp);

    EACH(s) be[s]->flash_attention_forward(be[s], F(out, s), F(lse, s), F(qkv, s), &sh[s]);
    snprintf(name, sizeof name, "flash_attention_forward %s", label);
    report(name, worse(buf_rel(out), lse_rel(lse)), TOL_GEMM);
    float *ho = buf_get(out, 0), *hl = buf_get(lse, 0);
    buf_set(out, ho), buf_set(lse, hl);
    buf_set(dqkv, start);
    EACH(s) be[s]->flash_attention_backward(be[s], F(dqkv, s), F(dout, s), F(qkv, s), F(out, s), F(lse, s), &sh[s]);
    snprintf(name, sizeof name, "flash_attention_backward %s", label);
    report(name, buf_rel(dqkv), TOL_GEMM);
    first = buf_get(dqkv, 1);
    be[1]->copy_to_device(be[1], dqkv.p[1], start, dqkv.bytes);
    be[1]->flash_attention_backward(be[1], F(dqkv, 1), F(dout, 1), F(qkv, 1), F(out, 1), F(lse, 1), &sh[1]);
    report_repeat(name, dqkv, first);
    free(first), free(ho), free(hl), free(start), free(hmask);
    buf_free(&mask), buf_free(&qkv), buf_free(&out), buf_free(&lse), buf_free(&probs), buf_free(&scratch);
    buf_free(&dscratch), buf_free(&dqkv), buf_free(&dout);
}

/* ---------------------------------------------------------------- main */

int main(void) {
    err_t err = {{0}};
    be[0] = backend_cpu();
    be[1] = backend_cuda(&err);
    if (!be[1]) {
        printf("SKIP: %s\n", err.msg);
        return 77;
    }

    test_memory();
    test_embedding(37, 70, 10, 50, 64);
    test_embedding(300, 300, 0, 64, 80);
    test_position(3, 13, 70);
    test_layernorm(37, 70);
    test_layernorm(300, 300);
    test_matmul(37, 70, 45);
    test_matmul(300, 130, 257);
    for (int k = 0; k < 2; k++) {
        float drop = k ? 0.1f : 0.0f;
        test_attention(1, 0, drop);
        test_attention(0, 1, drop);
        test_attention(1, 2, drop);
        test_flash_attention(37, 8, 1, 0, drop);
        test_flash_attention(37, 8, 0, 1, drop);
        test_flash_attention(37, 8, 1, 2, drop);
        test_flash_attention(70, 40, 1, 1, drop);
        test_flash_attention(70, 64, 0, 2, drop);
        test_flash_attention(70, 64, 1, 0, drop);
    }
    test_elementwise(37 * 70);
    test_xent(37, 70, 35, 90);
    test_xent(37, 70, 0, 70);
    test_reductions(37);
    test_reductions(3000017);
    test_adamw(37 * 70);
    test_has_inf_nan(37 * 70);
    test_cast(37 * 70);
    test_round_to(37 * 70);
    test_rmsnorm(37, 70);
    test_rmsnorm(300, 300);
    test_swiglu(37, 70);
    test_rope(2, 37, 6, 2, 64, 64, 10000.0f, 0);
    test_rope(2, 37, 4, 0, 40, 20, 10000.0f, 5);
    test_rope(1, 70, 8, 1, 128, 128, 500000.0f, 0);
    for (int k = 0; k < 2; k++) {
        float drop = k ? 0.1f : 0.0f;
        test_attention_gqa(37, 8, 6, 2, 1, 0, drop);
        test_attention_gqa(37, 8, 4, 1, 0, 1, drop);
        test_attention_gqa(70, 64, 4, 2, 1, 1, drop);
    }

    int rc = be[1]->sync(be[1], &err);
    report("sync (no recorded device error)", rc == 0 ? 0.0 : 1.0, 0.0);
    if (rc != 0) printf("  %s\n", err.msg);
    printf("%s: %d failure(s)\n", failures ? "FAIL" : "PASS", failures);
    return failures ? 1 : 0;
}
