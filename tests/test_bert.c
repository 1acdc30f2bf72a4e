/* test_bert.c — a tiny BERT (post-LN and pre-LN, padding mask, dropout on, masked
 * LM at a few positions, sentence-order head): every parameter gradient against
 * central finite differences of an independent double-precision forward. */
#include <string.h>

#include "framework/backend.h"
#include "framework/optim.h"
#include "models/bert.h"
#include "ref_ops.h"
#include "testing.h"

typedef struct ref_bert {
    const bert_model_t *m;
    double **p;
    const bert_batch_t *b;
    uint32_t step;
} ref_bert_t;

static rng_key_t dkey(const ref_bert_t *r, uint32_t site) {
    rng_key_t k = {r->m->seed, rng_stream(RNG_PURPOSE_DROPOUT, site, 0), r->step};
    return k;
}

static void add_into(double *y, const double *x, int n) {
    for (int i = 0; i < n; i++) y[i] += x[i];
}

static double ref_bert_loss(void *ctx) {
    ref_bert_t *r = ctx;
    const bert_model_t *m = r->m;
    const bert_config_t *c = &m->cfg;
    const bert_batch_t *b = r->b;
    int B = b->B, T = b->T, N = B * T, C = c->hidden_size, F = 4 * C, NH = c->num_attention_heads;
    int Vp = m->V_padded, n = b->n_mlm;
    double eps = c->layernorm_epsilon, hd = c->hidden_dropout, ad = c->attention_dropout;
    double *x = calloc((size_t)N * C, sizeof(double)), *t = malloc(sizeof(double) * N * C);
    double *u = malloc(sizeof(double) * N * C), *qkv = malloc(sizeof(double) * N * 3 * C);
    double *att = malloc(sizeof(double) * N * C), *h = malloc(sizeof(double) * N * F);
    double *hg = malloc(sizeof(double) * N * F);
    /* embeddings */
    ref_embedding(x, b->tokens, r->p[m->p_wte], N, C, 0, Vp);
    ref_position_add(x, r->p[m->p_wpe], B, T, C);
    ref_embedding(t, b->types, r->p[m->p_type], N, C, 0, c->type_vocab_size);
    add_into(x, t, N * C);
    if (!c->pre_ln) {
        ref_layernorm(t, x, r->p[m->p_emb_ln], r->p[m->p_emb_ln + 1], N, C, eps);
        memcpy(x, t, sizeof(double) * N * C);
    }
    ref_dropout(x, N * C, hd, dkey(r, 0));
    for (int l = 0; l < c->num_layers; l++) {
        double **w = r->p + m->p_layers + l * TF_LAYER_PARAMS;
        rng_key_t ka = dkey(r, 1 + 3 * (uint32_t)l), k1 = dkey(r, 2 + 3 * (uint32_t)l), k2 = dkey(r, 3 + 3 * (uint32_t)l);
        if (c->pre_ln) {
            ref_layernorm(t, x, w[0], w[1], N, C, eps);
            ref_matmul(qkv, t, w[2], w[3], N, C, 3 * C);
        } else {
            ref_matmul(qkv, x, w[2], w[3], N, C, 3 * C);
        }
        ref_attention(att, qkv, B, T, NH, C / NH, 0, b->pad_mask, ad, ka);
        ref_matmul(u, att, w[4], w[5], N, C, C);
        ref_dropout(u, N * C, hd, k1);
        add_into(x, u, N * C); /* x = x + attn */
        double *mlp_in = x;
        if (c->pre_ln) {
            ref_layernorm(t, x, w[6], w[7], N, C, eps);
            mlp_in = t;
        } else {
            ref_layernorm(t, x, w[0], w[1], N, C, eps); /* post-LN: LN1 after the sum */
            memcpy(x, t, sizeof(double) * N * C);
        }
        ref_matmul(h, mlp_in, w[8], w[9], N, C, F);
        ref_gelu(hg, h, N * F, 0);
        ref_matmul(u, hg, w[10], w[11], N, F, C);
        ref_dropout(u, N * C, hd, k2);
        add_into(x, u, N * C);
        if (!c->pre_ln) {
            ref_layernorm(t, x, w[6], w[7], N, C, eps);
            memcpy(x, t, sizeof(double) * N * C);
        }
    }
    if (c->pre_ln) {
        ref_layernorm(t, x, r->p[m->p_final_ln], r->p[m->p_final_ln + 1], N, C, eps);
        memcpy(x, t, sizeof(double) * N * C);
    }
    double loss = 0;
    /* masked LM */
    double *g = malloc(sizeof(double) * n * C), *d = malloc(sizeof(double) * n * C), *e = malloc(sizeof(double) * n * C);
    double *logits = malloc(sizeof(double) * n * Vp), *l = malloc(sizeof(double) * n);
    ref_embedding(g, b->mlm_pos, x, n, C, 0, N);
    ref_matmul(d, g, r->p[m->p_lm_dense], r->p[m->p_lm_dense + 1], n, C, C);
    ref_gelu(e, d, n * C, 0);
    ref_layernorm(d, e, r->p[m->p_lm_ln], r->p[m->p_lm_ln + 1], n, C, eps);
    ref_matmul(logits, d, r->p[m->p_wte], r->p[m->p_lm_bias], n, C, Vp);
    ref_xent(l, logits, b->mlm_labels, n, Vp, c->vocab_size);
    for (int i = 0; i < n; i++) loss += l[i] / n;
    /* sentence order on [CLS] */
    int cls[16];
    for (int i = 0; i < B; i++) cls[i] = i * T;
    double pc[16 * 64], pp[16 * 64], sl[32], ls[16];
    ref_embedding(pc, cls, x, B, C, 0, N);
    ref_matmul(pp, pc, r->p[m->p_pooler], r->p[m->p_pooler + 1], B, C, C);
    for (int i = 0; i < B * C; i++) pp[i] = tanh(pp[i]);
    ref_matmul(sl, pp, r->p[m->p_binary], r->p[m->p_binary + 1], B, C, 2);
    ref_xent(ls, sl, b->sop_labels, B, 2, 2);
    for (int i = 0; i < B; i++) loss += ls[i] / B;
    free(x), free(t), free(u), free(qkv), free(att), free(h), free(hg), free(g), free(d), free(e), free(logits), free(l);
    return loss;
}

static void check_model(int pre_ln) {
    enum { B = 2, T = 6 };
    bert_config_t cfg;
    bert_config_defaults(&cfg);
    cfg.num_layers = 2, cfg.hidden_size = 8, cfg.num_attention_heads = 2;
    cfg.seq_length = cfg.max_position_embeddings = T;
    cfg.vocab_size = 13, cfg.make_vocab_size_divisible_by = 8, cfg.max_predictions_per_seq = 2;
    cfg.pre_ln = pre_ln, cfg.layernorm_epsilon = 1e-5f;
    bert_model_t m;
    err_t err;
    CHECK(bert_create(&m, &cfg, backend_cpu(), B, T, NULL, &err) == 0, "create: %s", err.msg);
    bert_init_weights(&m, 9);
    for (int k = 0; k < m.store.n; k++) { /* larger weights so every path carries signal */
        tensor_t *tt = &m.store.params[k];
        int nn = (int)tensor_numel(tt);
        float *dd = tt->data, *noise = malloc(sizeof(float) * nn);
        fill_normal(noise, nn, 0.3f, 2000 + k);
        for (int i = 0; i < nn; i++) dd[i] += noise[i];
        if (k == m.p_wte) for (int i = 13 * 8; i < nn; i++) dd[i] = 0.0f;
        free(noise);
    }
    int tokens[B * T] = {1, 5, 7, 2, 11, 3, 1, 9, 4, 4, 12, 0}, types[B * T] = {0, 0, 0, 1, 1, 1, 0, 0, 1, 1, 0, 0};
    float pad[B * T] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0}; /* the second sequence has 2 padding tokens */
    int pos[3] = {1, 4, 8}, labels[3] = {6, 10, 3}, sop[B] = {1, 0};
    bert_batch_t batch = {B, T, tokens, types, pad, 3, pos, labels, sop};
    bert_result_t res;
    bert_zero_grads(&m);
    CHECK(bert_forward(&m, &batch, 1, 4, &res, &err) == 0, "forward: %s", err.msg);
    CHECK(bert_backward(&m, 1.0f, 4, &err) == 0, "backward: %s", err.msg);
    ref_bert_t r = {&m, calloc((size_t)m.store.n, sizeof(double *)), &batch, 4};
    for (int k = 0; k < m.store.n; k++) {
        int nn = (int)tensor_numel(&m.store.params[k]);
        r.p[k] = malloc(sizeof(double) * nn);
        for (int i = 0; i < nn; i++) r.p[k][i] = ((float *)m.store.params[k].data)[i];
    }
    double ref = ref_bert_loss(&r), got = res.mlm_loss + res.sop_loss;
    CHECK(fabs(ref - got) / ref < 1e-5, "%s loss %.9g vs double reference %.9g", pre_ln ? "pre-LN" : "post-LN", got, ref);
    double worst = 0;
    for (int k = 0; k < m.store.n; k++) {
        int nn = (int)tensor_numel(&m.store.params[k]);
        double *gd = malloc(sizeof(double) * nn);
        for (int i = 0; i < nn; i++) {
            double s = r.p[k][i];
            r.p[k][i] = s + 1e-5;
            double lp = ref_bert_loss(&r);
            r.p[k][i] = s - 1e-5;
            double lm = ref_bert_loss(&r);
            r.p[k][i] = s;
            gd[i] = (lp - lm) / 2e-5;
        }
        if (k == m.p_wte || k == m.p_lm_bias) /* padded vocabulary: no gradient by design */
            for (int i = (k == m.p_wte ? 13 * 8 : 13); i < nn; i++) gd[i] = 0.0;
        double e = rel_err_fd(m.store.grads[k].data, gd, (size_t)nn);
        if (e > worst || isnan(e)) worst = e;
        CHECK(e < 1e-4, "%s gradient of %s: rel err %g", pre_ln ? "pre-LN" : "post-LN", m.store.params[k].name, e);
        free(gd);
    }
    printf("tiny BERT (%s) gradients vs double finite differences: worst tensor rel err %.3g; loss %.6f\n",
           pre_ln ? "pre-LN" : "post-LN", worst, got);
    for (int k = 0; k < m.store.n; k++) free(r.p[k]);
    free(r.p);
    bert_destroy(&m);
}

/* A context task: every odd position is [MASK]ed and must be predicted from its
 * left neighbour, which only attention can carry. Both orderings must learn it. */
static void check_learns_context(int pre_ln) {
    enum { B = 16, T = 16, V = 40, STEPS = 400 };
    bert_config_t c;
    bert_config_defaults(&c);
    c.num_layers = 2, c.hidden_size = 64, c.num_attention_heads = 4, c.seq_length = c.max_position_embeddings = T;
    c.vocab_size = V, c.make_vocab_size_divisible_by = 8, c.max_predictions_per_seq = T / 2;
    c.hidden_dropout = c.attention_dropout = 0.0f, c.pre_ln = pre_ln;
    bert_model_t m;
    optimizer_t o;
    err_t err;
    CHECK(bert_create(&m, &c, backend_cpu(), B, T, NULL, &err) == 0, "create: %s", err.msg);
    bert_init_weights(&m, 3);
    adamw_config_t ac = {0.9f, 0.999f, 1e-8f, 0.0f, OPTIM_ADAM};
    CHECK(optim_create(&o, m.be, &ac, m.store.params, m.store.grads, m.store.n, &err) == 0, "optim: %s", err.msg);
    int tok[B * T], types[B * T] = {0}, pos[B * T / 2], lab[B * T / 2], sop[B] = {0};
    float pad[B * T];
    bert_result_t r = {0};
    int n = 0;
    for (int s = 0; s < STEPS; s++) {
        rng_key_t k = {1, 2, (uint32_t)s};
        n = 0;
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t += 2) {
                int x = 2 + (int)(rng_u32(k, (uint64_t)(b * T + t)) % (V - 2));
                tok[b * T + t] = x, tok[b * T + t + 1] = 1; /* 1 plays [MASK] */
                pos[n] = b * T + t + 1, lab[n] = x, n++;
            }
        for (int i = 0; i < B * T; i++) pad[i] = 1.0f;
        bert_batch_t bb = {B, T, tok, types, pad, n, pos, lab, sop};
        bert_zero_grads(&m);
        CHECK(bert_forward(&m, &bb, 1, (uint32_t)s, &r, &err) == 0, "forward: %s", err.msg);
        CHECK(bert_backward(&m, 1.0f, (uint32_t)s, &err) == 0, "backward: %s", err.msg);
        optim_step(&o, 1e-3f, 1.0f);
    }
    double acc = (double)r.mlm_correct / n;
    CHECK(acc > 0.95, "%s BERT did not learn the context task: accuracy %.3f", pre_ln ? "pre-LN" : "post-LN", acc);
    printf("tiny BERT (%s) learns a context-only masked-LM task: accuracy %.3f after %d steps (chance %.3f)\n",
           pre_ln ? "pre-LN" : "post-LN", acc, STEPS, 1.0 / (V - 2));
    optim_destroy(&o);
    bert_destroy(&m);
}

int main(void) {
    check_model(0);
    check_model(1);
    check_learns_context(0);
    check_learns_context(1);
    return test_exit("test_bert");
}
