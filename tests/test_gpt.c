/* test_gpt.c — the whole GPT: parameter gradients of a tiny model against central
 * finite differences of an independent double-precision forward (ref_ops.c),
 * dropout on; the untrained loss is ln(vocab); a tiny model overfits one batch;
 * two runs with the same seed are bitwise identical, with 1 and 2 threads. */
#include <omp.h>
#include <string.h>

#include "framework/backend.h"
#include "framework/optim.h"
#include "models/gpt.h"
#include "ref_ops.h"
#include "testing.h"

enum { P_PER_LAYER = 12 };

typedef struct ref_gpt {
    const gpt_model_t *m;
    double **p;           /* double copy of every parameter tensor */
    const int *tokens, *targets;
    int B, T;
    uint32_t step;
    uint64_t seed;
} ref_gpt_t;

static rng_key_t dkey(const ref_gpt_t *r, uint32_t site) {
    rng_key_t k = {r->seed, rng_stream(RNG_PURPOSE_DROPOUT, site, 0), r->step};
    return k;
}

/* the documented GPT forward, in double, straight from the formulas */
static double ref_gpt_loss(void *ctx) {
    ref_gpt_t *r = ctx;
    const gpt_config_t *c = &r->m->cfg;
    int B = r->B, T = r->T, N = B * T, C = c->hidden_size, F = 4 * C, NH = c->num_attention_heads;
    int Vp = r->m->V_padded;
    double hd = c->hidden_dropout, ad = c->attention_dropout;
    double *x = malloc(sizeof(double) * N * C), *ln = malloc(sizeof(double) * N * C);
    double *qkv = malloc(sizeof(double) * N * 3 * C), *att = malloc(sizeof(double) * N * C);
    double *h = malloc(sizeof(double) * N * F), *hg = malloc(sizeof(double) * N * F);
    double *br = malloc(sizeof(double) * N * C), *logits = malloc(sizeof(double) * N * Vp);
    double *losses = malloc(sizeof(double) * N);
    ref_embedding(x, r->tokens, r->p[0], N, C, 0, Vp);
    ref_position_add(x, r->p[1], B, T, C);
    ref_dropout(x, N * C, hd, dkey(r, 0));
    for (int l = 0; l < c->num_layers; l++) {
        double **w = r->p + 2 + l * P_PER_LAYER;
        ref_layernorm(ln, x, w[0], w[1], N, C, c->layernorm_epsilon);
        ref_matmul(qkv, ln, w[2], w[3], N, C, 3 * C);
        ref_attention(att, qkv, B, T, NH, C / NH, 1, NULL, ad, dkey(r, 1 + 3 * (uint32_t)l));
        ref_matmul(br, att, w[4], w[5], N, C, C);
        ref_dropout(br, N * C, hd, dkey(r, 2 + 3 * (uint32_t)l));
        for (int i = 0; i < N * C; i++) x[i] += br[i];
        ref_layernorm(ln, x, w[6], w[7], N, C, c->layernorm_epsilon);
        ref_matmul(h, ln, w[8], w[9], N, C, F);
        ref_gelu(hg, h, N * F, 1);
        ref_matmul(br, hg, w[10], w[11], N, F, C);
        ref_dropout(br, N * C, hd, dkey(r, 3 + 3 * (uint32_t)l));
        for (int i = 0; i < N * C; i++) x[i] += br[i];
    }
    double **f = r->p + 2 + c->num_layers * P_PER_LAYER;
    ref_layernorm(ln, x, f[0], f[1], N, C, c->layernorm_epsilon);
    ref_matmul(logits, ln, r->p[0], NULL, N, C, Vp);
    ref_xent(losses, logits, r->targets, N, Vp, c->vocab_size);
    double loss = 0;
    for (int i = 0; i < N; i++) loss += losses[i];
    free(x), free(ln), free(qkv), free(att), free(h), free(hg), free(br), free(logits), free(losses);
    return loss / N;
}

static void random_tokens(int *t, int n, int vocab, uint32_t stream) {
    rng_key_t k = {42, stream, 0};
    for (int i = 0; i < n; i++) t[i] = (int)(rng_u32(k, (uint64_t)i) % (uint32_t)vocab);
}

static gpt_config_t tiny_config(int layers, int hidden, int heads, int T, int vocab, float dropout) {
    gpt_config_t c;
    gpt_config_defaults(&c);
    c.num_layers = layers, c.hidden_size = hidden, c.num_attention_heads = heads;
    c.seq_length = c.max_position_embeddings = T;
    c.vocab_size = vocab, c.make_vocab_size_divisible_by = 8;
    c.hidden_dropout = c.attention_dropout = dropout;
    return c;
}

static void test_gradients(void) {
    enum { B = 2, T = 5 };
    gpt_config_t cfg = tiny_config(2, 8, 2, T, 11, 0.1f); /* vocab 11 padded to 16 */
    gpt_model_t m;
    err_t err;
    CHECK(gpt_create(&m, &cfg, backend_cpu(), B, T, NULL, &err) == 0, "create: %s", err.msg);
    gpt_init_weights(&m, 7);
    /* larger weights than the init so every path carries signal */
    for (int k = 0; k < m.store.n; k++) {
        tensor_t *t = &m.store.params[k];
        int n = (int)tensor_numel(t);
        float *d = t->data;
        float *noise = malloc(sizeof(float) * n);
        fill_normal(noise, n, 0.3f, 1000 + k);
        for (int i = 0; i < n; i++) d[i] += noise[i];
        if (k == 0) /* padded vocabulary rows stay 0 in the model; keep them so */
            for (int i = 11 * 8; i < n; i++) d[i] = 0.0f;
        free(noise);
    }
    int tokens[B * T], targets[B * T];
    random_tokens(tokens, B * T, 11, 1), random_tokens(targets, B * T, 11, 2);
    double loss;
    gpt_zero_grads(&m);
    CHECK(gpt_forward(&m, tokens, targets, NULL, B, T, 1, 3, &loss, &err) == 0, "forward: %s", err.msg);
    CHECK(gpt_backward(&m, 1.0f, 3, &err) == 0, "backward: %s", err.msg);

    ref_gpt_t r = {&m, calloc((size_t)m.store.n, sizeof(double *)), tokens, targets, B, T, 3, 7};
    for (int k = 0; k < m.store.n; k++) {
        int n = (int)tensor_numel(&m.store.params[k]);
        r.p[k] = malloc(sizeof(double) * n);
        for (int i = 0; i < n; i++) r.p[k][i] = ((float *)m.store.params[k].data)[i];
    }
    double ref = ref_gpt_loss(&r);
    CHECK(fabs(ref - loss) / ref < 1e-5, "loss %.9g vs double reference %.9g", loss, ref);
    double worst = 0;
    for (int k = 0; k < m.store.n; k++) {
        int n = (int)tensor_numel(&m.store.params[k]);
        double *g = malloc(sizeof(double) * n);
        for (int i = 0; i < n; i++) {
            double s = r.p[k][i];
            r.p[k][i] = s + 1e-5;
            double lp = ref_gpt_loss(&r);
            r.p[k][i] = s - 1e-5;
            double lm = ref_gpt_loss(&r);
            r.p[k][i] = s;
            g[i] = (lp - lm) / 2e-5;
        }
        if (k == 0) /* padded rows: the model gives them no gradient, by design */
            for (int i = 11 * 8; i < n; i++) g[i] = 0.0;
        double e = rel_err_fd(m.store.grads[k].data, g, (size_t)n);
        if (getenv("TEST_VERBOSE")) {
            double a = 0, b = 0;
            for (int i = 0; i < n; i++) a += (double)((float *)m.store.grads[k].data)[i] * ((float *)m.store.grads[k].data)[i], b += g[i] * g[i];
            printf("%s |analytic|^2 %g |fd|^2 %g\n", m.store.params[k].name, a, b);
        }
        if (e > worst || isnan(e)) worst = e;
        CHECK(e < 1e-4, "gradient of %s: rel err %g", m.store.params[k].name, e);
        free(g);
    }
    for (int k = 0; k < m.store.n; k++) free(r.p[k]);
    printf("tiny GPT gradients vs double finite differences: worst tensor rel err %.3g\n", worst);
    free(r.p);
    gpt_destroy(&m);
}

static void test_initial_loss(void) {
    enum { B = 4, T = 32 };
    gpt_config_t cfg = tiny_config(2, 64, 4, T, 256, 0.0f);
    gpt_model_t m;
    err_t err;
    CHECK(gpt_create(&m, &cfg, backend_cpu(), B, T, NULL, &err) == 0, "create: %s", err.msg);
    gpt_init_weights(&m, 1);
    int tokens[B * T], targets[B * T];
    random_tokens(tokens, B * T, 256, 3), random_tokens(targets, B * T, 256, 4);
    double loss;
    CHECK(gpt_forward(&m, tokens, targets, NULL, B, T, 0, 0, &loss, &err) == 0, "forward: %s", err.msg);
    CHECK(fabs(loss - log(256.0)) < 0.05, "untrained loss %.4f, expected ln(256) = %.4f", loss, log(256.0));
    printf("untrained loss %.4f vs ln(256) %.4f\n", loss, log(256.0));
    gpt_destroy(&m);
}

/* trains `steps` AdamW steps on one fixed batch; returns losses and the final weights */
static void train_fixed(int steps, float dropout, double *losses, float **weights, size_t *nweights) {
    enum { B = 4, T = 16 };
    gpt_config_t cfg = tiny_config(2, 32, 4, T, 256, dropout);
    gpt_model_t m;
    optimizer_t o;
    err_t err;
    CHECK(gpt_create(&m, &cfg, backend_cpu(), B, T, NULL, &err) == 0, "create: %s", err.msg);
    gpt_init_weights(&m, 5);
    adamw_config_t ac = {0.9f, 0.95f, 1e-8f, 0.0f, OPTIM_ADAM};
    CHECK(optim_create(&o, m.be, &ac, m.store.params, m.store.grads, m.store.n, &err) == 0, "optim: %s", err.msg);
    int tokens[B * T + 1];
    random_tokens(tokens, B * T + 1, 256, 5);
    for (int s = 0; s < steps; s++) {
        gpt_zero_grads(&m);
        CHECK(gpt_forward(&m, tokens, tokens + 1, NULL, B, T, 1, (uint32_t)s, &losses[s], &err) == 0, "forward: %s", err.msg);
        CHECK(gpt_backward(&m, 1.0f, (uint32_t)s, &err) == 0, "backward: %s", err.msg);
        double norm = sqrt(optim_grad_sumsq(&o, 0));
        optim_step(&o, 3e-3f, optim_clip_factor(norm, 1.0f));
    }
    if (weights) {
        *nweights = m.store.numel;
        *weights = malloc(sizeof(float) * m.store.numel);
        memcpy(*weights, m.store.param_block, sizeof(float) * m.store.numel);
    }
    optim_destroy(&o);
    gpt_destroy(&m);
}

static void test_overfit(void) {
    double losses[300];
    train_fixed(300, 0.0f, losses, NULL, NULL);
    printf("overfit one batch: loss %.4f -> %.4f after 300 steps\n", losses[0], losses[299]);
    CHECK(losses[299] < 0.05, "a tiny model did not overfit one batch: final loss %.4f", losses[299]);
}

static void test_determinism(void) {
    enum { S = 6 };
    double a[S], b[S], c[S];
    float *wa, *wb, *wc;
    size_t na, nb, nc;
    int threads = omp_get_max_threads();
    omp_set_num_threads(2);
    train_fixed(S, 0.1f, a, &wa, &na);
    train_fixed(S, 0.1f, b, &wb, &nb);
    omp_set_num_threads(1);
    train_fixed(S, 0.1f, c, &wc, &nc);
    omp_set_num_threads(threads);
    CHECK(memcmp(a, b, sizeof a) == 0, "two runs with the same seed gave different losses");
    CHECK(na == nb && memcmp(wa, wb, na * sizeof(float)) == 0, "two runs with the same seed gave different weights");
    CHECK(memcmp(a, c, sizeof a) == 0, "1 and 2 threads gave different losses (%.17g vs %.17g at step 5)", c[5], a[5]);
    CHECK(na == nc && memcmp(wa, wc, na * sizeof(float)) == 0, "1 and 2 threads gave different weights");
    free(wa), free(wb), free(wc);
}

int main(void) {
    test_gradients();
    test_initial_loss();
    test_overfit();
    test_determinism();
    return test_exit("test_gpt");
}
