/* test_parallel.c — tensor parallelism inside one program, run under mpirun:
 *
 *   volume:    one forward of an L-layer GPT at TP=t issues exactly 2L TP
 *              all-reduces + 1 (embedding) + 2 (cross-entropy: max, then sum of
 *              exponentials with the target logit); backward 2L + 1 (LM head);
 *              DP issues exactly one all-reduce per gradient bucket.
 *   gradcheck: the gradients of every split tensor (column-parallel QKV and
 *              h->4h, row-parallel projections, vocab-parallel embedding tied to
 *              the LM head and cross-entropy) at TP = world size, gathered, equal
 *              the unsplit model's; replicated tensors are bitwise identical on
 *              every TP rank.
 *   bertlayout: a tiny BERT (pre-LN, padding, MLM + sentence order) trained 4
 *              iterations at (TP, DP) from the world, with Adam and LAMB, with and
 *              without ZeRO-1: per-iteration losses equal (1e-5) those of the
 *              unsplit model trained on the whole global batch on one rank.
 *   recompute: at TP = world size, a GPT and a BERT (dropout on, attention
 *              dropout included) with selective and full (uniform, block)
 *              recomputation give each rank bitwise the losses and gradients of no
 *              recomputation; a full-recompute backward re-does the recomputed
 *              layers' forward all-reduces (2 per layer), as Megatron's does.
 *   shape8b:   the true 8.3B layer dimensions (hidden 3072, 32 heads, FFN 12288,
 *              vocabulary 51,200, sequence 1024) with 2 of 72 layers at TP = world
 *              size: every rank holds exactly 1/TP of each split weight, and the
 *              loss of one training step matches the same model at TP=1.
 * Usage: mpirun -np N test_parallel MODE */
#include <mpi.h>
#include <omp.h>
#include <string.h>

#include "framework/backend.h"
#include "models/bert.h"
#include "models/gpt.h"
#include "parallel/dist_optim.h"
#include "parallel/grid.h"
#include "parallel/tp_gather.h"
#include "testing.h"

static int rank0;

static void random_tokens(int *t, int n, int vocab, uint32_t stream) {
    rng_key_t k = {42, stream, 0};
    for (int i = 0; i < n; i++) t[i] = (int)(rng_u32(k, (uint64_t)i) % (uint32_t)vocab);
}

static gpt_config_t small_config(void) {
    gpt_config_t c;
    gpt_config_defaults(&c);
    c.num_layers = 3, c.hidden_size = 24, c.num_attention_heads = 4, c.ffn_hidden_size = 40;
    c.seq_length = c.max_position_embeddings = 8;
    c.vocab_size = 37, c.make_vocab_size_divisible_by = 5; /* 37 is divisible by no 5*TP */
    c.hidden_dropout = 0.1f, c.attention_dropout = 0.0f;
    return c;
}

static void test_volume(grid_t *g) {
    enum { B = 2, T = 8 };
    gpt_config_t cfg = small_config();
    gpt_model_t m;
    err_t err;
    gpt_parallel_t par = {g->tp, 1};
    CHECK(gpt_create(&m, &cfg, backend_cpu(), B, T, &par, &err) == 0, "create: %s", err.msg);
    gpt_init_weights(&m, 3);
    int tok[B * T], tgt[B * T];
    random_tokens(tok, B * T, cfg.vocab_size, 1 + (uint32_t)g->dp_rank);
    random_tokens(tgt, B * T, cfg.vocab_size, 9 + (uint32_t)g->dp_rank);
    dist_optim_t d;
    adamw_config_t ac = {0.9f, 0.999f, 1e-8f, 0.01f, OPTIM_ADAM};
    size_t bucket = 1500;
    CHECK(dist_optim_create(&d, m.be, g, &ac, m.store.params, m.store.grads, m.store.n, m.store.param_block, m.store.grad_block,
                            m.store.numel, m.store.alloc, 0, bucket, &err) == 0, "dist_optim: %s", err.msg);
    m.grad_ready = dist_optim_grad_ready, m.grad_ready_ctx = &d;
    double loss, norm;
    comm_reset_counters(g->tp), comm_reset_counters(g->dp);
    CHECK(gpt_forward(&m, tok, tgt, NULL, B, T, 1, 0, &loss, &err) == 0, "forward: %s", err.msg);
    int64_t fwd = g->tp->calls[COMM_ALLREDUCE];
    int64_t want_fwd = g->tp_size > 1 ? 2 * cfg.num_layers + 3 : 0;
    CHECK(fwd == want_fwd, "forward at TP=%d: %lld TP all-reduces, expected %lld", g->tp_size, (long long)fwd,
          (long long)want_fwd);
    comm_reset_counters(g->tp);
    gpt_zero_grads(&m);
    dist_optim_arm(&d);
    CHECK(gpt_backward(&m, 1.0f / g->dp_size, 0, &err) == 0, "backward: %s", err.msg);
    int64_t bwd = g->tp->calls[COMM_ALLREDUCE];
    int64_t want_bwd = g->tp_size > 1 ? 2 * cfg.num_layers + 1 : 0;
    CHECK(bwd == want_bwd, "backward at TP=%d: %lld TP all-reduces, expected %lld", g->tp_size, (long long)bwd,
          (long long)want_bwd);
    int64_t during = g->dp->calls[COMM_ALLREDUCE];
    CHECK(dist_optim_finish(&d, &norm, &err) == 0, "finish: %s", err.msg);
    int64_t dpc = g->dp->calls[COMM_ALLREDUCE];
    int64_t want_dp = g->dp_size > 1 ? d.nbuckets : 0;
    CHECK(dpc == want_dp, "DP=%d: %lld all-reduces for %d buckets", g->dp_size, (long long)dpc, d.nbuckets);
    if (g->dp_size > 1)
        CHECK(during >= 1 && d.nbuckets >= 3, "buckets must start during backward: %lld of %d started before the end",
              (long long)during, d.nbuckets);
    if (rank0)
        printf("volume: TP=%d DP=%d, %d layers: forward %lld, backward %lld TP all-reduces; %lld of %d DP buckets "
               "started during backward\n", g->tp_size, g->dp_size, cfg.num_layers, (long long)fwd, (long long)bwd,
               (long long)during, d.nbuckets);
    dist_optim_destroy(&d);
    gpt_destroy(&m);
}

static double rel(const float *a, const float *b, size_t n) { return rel_err_ff(a, b, n); }

static void test_gradcheck(grid_t *g) {
    enum { B = 2, T = 8 };
    gpt_config_t cfg = small_config();
    gpt_model_t ref, m;
    err_t err;
    gpt_parallel_t par = {g->tp, 1};
    CHECK(gpt_create(&ref, &cfg, backend_cpu(), B, T, NULL, &err) == 0, "create ref: %s", err.msg);
    CHECK(gpt_create(&m, &cfg, backend_cpu(), B, T, &par, &err) == 0, "create tp: %s", err.msg);
    gpt_init_weights(&ref, 11);
    gpt_init_weights(&m, 11);
    int tok[B * T], tgt[B * T];
    random_tokens(tok, B * T, cfg.vocab_size, 3), random_tokens(tgt, B * T, cfg.vocab_size, 4);
    double l_ref, l_tp;
    gpt_zero_grads(&ref), gpt_zero_grads(&m);
    CHECK(gpt_forward(&ref, tok, tgt, NULL, B, T, 1, 5, &l_ref, &err) == 0, "forward: %s", err.msg);
    CHECK(gpt_forward(&m, tok, tgt, NULL, B, T, 1, 5, &l_tp, &err) == 0, "forward: %s", err.msg);
    CHECK(gpt_backward(&ref, 1.0f, 5, &err) == 0 && gpt_backward(&m, 1.0f, 5, &err) == 0, "backward: %s", err.msg);
    CHECK(fabs(l_ref - l_tp) / l_ref < 1e-6, "loss TP=%d %.9g vs TP=1 %.9g", g->tp_size, l_tp, l_ref);
    double worst = 0;
    for (int k = 0; k < m.store.n; k++) {
        tensor_t *t = &m.store.grads[k], *r = &ref.store.grads[k];
        size_t n = (size_t)tensor_numel(t);
        int64_t rows = t->global_shape[0], cols = t->ndim > 1 ? t->global_shape[1] : 1;
        size_t gn = (size_t)(rows * cols);
        float *glob = malloc(gn * sizeof(float));
        CHECK(tp_gather_tensor(g->tp, m.be, t, glob, &err) == 0, "gather: %s", err.msg);
        /* the TP model's vocabulary may be padded further: compare the shared rows */
        size_t cmp = (size_t)tensor_numel(r) < gn ? (size_t)tensor_numel(r) : gn;
        double e = rel(glob, r->data, cmp);
        if (e > worst) worst = e;
        CHECK(e < 1e-5, "TP=%d gradient of %s (split dim %d): rel err %g", g->tp_size, t->name, t->split_dim, e);
        if (t->split_dim >= 0) {
            CHECK(t->shape[t->split_dim] * g->tp_size == t->global_shape[t->split_dim], "%s not split evenly", t->name);
        } else { /* replicated: bitwise identical on every TP rank */
            float *mine = t->data, *other = malloc(n * sizeof(float));
            memcpy(other, mine, n * sizeof(float));
            MPI_Bcast(other, (int)n, MPI_FLOAT, 0, MPI_COMM_WORLD);
            CHECK(memcmp(other, mine, n * sizeof(float)) == 0, "replicated gradient %s differs across TP ranks", t->name);
            free(other);
        }
        free(glob);
    }
    if (rank0) printf("gradcheck: TP=%d vs unsplit: worst tensor rel err %.3g, loss %.9g vs %.9g\n", g->tp_size, worst, l_tp, l_ref);
    /* a forward shorter than the buffers (one row, fewer positions): the vocab-parallel
     * loss still all-reduces this forward's target logits */
    CHECK(gpt_forward(&ref, tok, tgt, NULL, 1, T - 3, 0, 0, &l_ref, &err) == 0 &&
              gpt_forward(&m, tok, tgt, NULL, 1, T - 3, 0, 0, &l_tp, &err) == 0,
          "short forward: %s", err.msg);
    CHECK(fabs(l_ref - l_tp) / l_ref < 1e-6, "short forward: loss TP=%d %.9g vs TP=1 %.9g", g->tp_size, l_tp, l_ref);
    gpt_destroy(&m);
    gpt_destroy(&ref);
}

/* a deterministic BERT micro-batch: global micro-batch index `gm` */
enum { BB = 2, BT = 8, BV = 29 };
typedef struct bert_data {
    int tokens[BB * BT], types[BB * BT], pos[4], labels[4], sop[BB];
    float pad[BB * BT];
    bert_batch_t batch;
} bert_data_t;

static void bert_make_batch(bert_data_t *d, int gm) {
    rng_key_t k = {5, 77, (uint32_t)gm};
    for (int i = 0; i < BB * BT; i++) {
        d->tokens[i] = (int)(rng_u32(k, (uint64_t)i) % BV);
        d->types[i] = (i % BT) >= BT / 2;
        d->pad[i] = (i % BT) < BT - (i / BT) ? 1.0f : 0.0f; /* row b has b padding tokens */
    }
    for (int i = 0; i < 4; i++) {
        d->pos[i] = (i / 2) * BT + 1 + 2 * (i % 2) + (gm % 2);
        d->labels[i] = (int)(rng_u32(k, 100 + (uint64_t)i) % BV);
    }
    for (int b = 0; b < BB; b++) d->sop[b] = (gm + b) % 2;
    d->batch = (bert_batch_t){BB, BT, d->tokens, d->types, d->pad, 4, d->pos, d->labels, d->sop};
}

static bert_config_t bert_small(void) {
    bert_config_t c;
    bert_config_defaults(&c);
    c.num_layers = 2, c.hidden_size = 16, c.num_attention_heads = 4, c.ffn_hidden_size = 24;
    c.seq_length = c.max_position_embeddings = BT, c.vocab_size = BV, c.make_vocab_size_divisible_by = 3;
    c.max_predictions_per_seq = 3, c.pre_ln = 1, c.layernorm_epsilon = 1e-5f; /* 4 of 6 masked rows used */
    c.hidden_dropout = 0.1f, c.attention_dropout = 0.0f;
    return c;
}

/* trains `iters` iterations of `micro` micro-batches per rank; losses[it] = DP mean */
static void bert_train(grid_t *g, int zero1, optim_kind_t kind, int micro, int iters, double *losses) {
    bert_config_t cfg = bert_small();
    bert_model_t m;
    err_t err;
    model_parallel_t par = {g->tp, zero1 ? g->dp_size : 1};
    CHECK(bert_create(&m, &cfg, backend_cpu(), BB, BT, &par, &err) == 0, "bert: %s", err.msg);
    bert_init_weights(&m, 21);
    adamw_config_t ac = {0.9f, 0.999f, 1e-6f, 0.01f, kind};
    dist_optim_t d;
    CHECK(dist_optim_create(&d, m.be, g, &ac, m.store.params, m.store.grads, m.store.n, m.store.param_block, m.store.grad_block,
                            m.store.numel, m.store.alloc, zero1, 500, &err) == 0, "optim: %s", err.msg);
    m.grad_ready_ctx = &d;
    for (int it = 0; it < iters; it++) {
        bert_zero_grads(&m);
        double loss = 0, norm;
        for (int k = 0; k < micro; k++) {
            int gm = (it * micro + k) * g->dp_size + g->dp_rank; /* the global micro-batch */
            bert_data_t bd;
            bert_make_batch(&bd, gm);
            bert_result_t r;
            CHECK(bert_forward(&m, &bd.batch, 1, (uint32_t)gm, &r, &err) == 0, "forward: %s", err.msg);
            if (k == micro - 1) dist_optim_arm(&d);
            m.grad_ready = k == micro - 1 ? dist_optim_grad_ready : NULL;
            CHECK(bert_backward(&m, 1.0f / (float)(micro * g->dp_size), (uint32_t)gm, &err) == 0, "backward: %s", err.msg);
            loss += (r.mlm_loss + r.sop_loss) / micro;
        }
        CHECK(dist_optim_finish(&d, &norm, &err) == 0, "finish: %s", err.msg);
        CHECK(dist_optim_step(&d, 1e-2f, optim_clip_factor(norm, 1.0f), &err) == 0, "step: %s", err.msg);
        if (g->dp_size > 1) comm_allreduce_f64(g->dp, &loss, 1, COMM_SUM, &err);
        losses[it] = loss / g->dp_size;
    }
    dist_optim_destroy(&d);
    bert_destroy(&m);
}

static void test_bert_layout(grid_t *g) {
    enum { IT = 4 };
    err_t err;
    grid_t self;
    CHECK(grid_create_self(&self, backend_cpu(), &err) == 0, "self grid: %s", err.msg);
    const char *names[2] = {"Adam", "LAMB"};
    for (int kind = 0; kind < 2; kind++)
        for (int zero1 = 0; zero1 < 2; zero1++) {
            double ref[IT], got[IT], worst = 0;
            bert_train(&self, 0, (optim_kind_t)kind, g->dp_size, IT, ref); /* whole global batch, one rank */
            bert_train(g, zero1, (optim_kind_t)kind, 1, IT, got);
            for (int i = 0; i < IT; i++) {
                double e = fabs(got[i] - ref[i]) / ref[i];
                if (e > worst) worst = e;
            }
            CHECK(worst < 1e-5, "BERT %s%s at TP=%d DP=%d: losses differ from one rank by %g", names[kind],
                  zero1 ? " ZeRO-1" : "", g->tp_size, g->dp_size, worst);
            if (rank0)
                printf("bertlayout: %s%s TP=%d DP=%d: losses %.6f..%.6f, worst rel diff %.3g vs one rank\n",
                       names[kind], zero1 ? " ZeRO-1" : "", g->tp_size, g->dp_size, got[0], got[IT - 1], worst);
        }
    grid_destroy(&self);
}

/* one GPT micro-batch at TP with recompute setting rc: losses, this rank's gradients
 * (malloc'd) and the TP all-reduces of forward and backward */
static float *recompute_gpt_run(grid_t *g, const tf_recompute_t *rc, double *loss, int64_t *fwd, int64_t *bwd,
                                size_t *n) {
    enum { B = 2, T = 8 };
    gpt_config_t cfg = small_config();
    cfg.attention_dropout = 0.1f;
    cfg.recompute = *rc;
    gpt_model_t m;
    err_t err;
    gpt_parallel_t par = {g->tp, 1};
    CHECK(gpt_create(&m, &cfg, backend_cpu(), B, T, &par, &err) == 0, "create: %s", err.msg);
    gpt_init_weights(&m, 13);
    int tok[B * T], tgt[B * T];
    random_tokens(tok, B * T, cfg.vocab_size, 5), random_tokens(tgt, B * T, cfg.vocab_size, 6);
    gpt_zero_grads(&m);
    comm_reset_counters(g->tp);
    CHECK(gpt_forward(&m, tok, tgt, NULL, B, T, 1, 2, loss, &err) == 0, "forward: %s", err.msg);
    *fwd = g->tp->calls[COMM_ALLREDUCE];
    comm_reset_counters(g->tp);
    CHECK(gpt_backward(&m, 1.0f, 2, &err) == 0, "backward: %s", err.msg);
    *bwd = g->tp->calls[COMM_ALLREDUCE];
    *n = m.store.numel;
    float *grads = malloc(*n * sizeof(float));
    memcpy(grads, m.store.grad_block, *n * sizeof(float));
    gpt_destroy(&m);
    return grads;
}

static float *recompute_bert_run(grid_t *g, const tf_recompute_t *rc, double *loss, size_t *n) {
    bert_config_t cfg = bert_small();
    cfg.attention_dropout = 0.1f;
    cfg.recompute = *rc;
    bert_model_t m;
    err_t err;
    model_parallel_t par = {g->tp, 1};
    CHECK(bert_create(&m, &cfg, backend_cpu(), BB, BT, &par, &err) == 0, "bert: %s", err.msg);
    bert_init_weights(&m, 23);
    bert_data_t bd;
    bert_make_batch(&bd, 3);
    bert_result_t r;
    bert_zero_grads(&m);
    CHECK(bert_forward(&m, &bd.batch, 1, 3, &r, &err) == 0, "forward: %s", err.msg);
    CHECK(bert_backward(&m, 1.0f, 3, &err) == 0, "backward: %s", err.msg);
    *loss = r.mlm_loss + r.sop_loss;
    *n = m.store.numel;
    float *grads = malloc(*n * sizeof(float));
    memcpy(grads, m.store.grad_block, *n * sizeof(float));
    bert_destroy(&m);
    return grads;
}

static void test_recompute(grid_t *g) {
    static const struct { const char *gran, *method; int n, recomputed; } set[] = {
        {NULL, NULL, 0, 0}, {"selective", NULL, 0, 0}, {"full", "uniform", 2, 3}, {"full", "uniform", 1, 3},
        {"full", "block", 1, 1},
    };
    enum { NSET = sizeof set / sizeof set[0] };
    int L = small_config().num_layers;
    double gl0 = 0, bl0 = 0;
    float *g0 = NULL, *b0 = NULL;
    size_t gn0 = 0, bn0 = 0;
    for (int i = 0; i < NSET; i++) {
        tf_recompute_t rc;
        err_t err;
        CHECK(tf_recompute_parse(&rc, 0, set[i].gran, set[i].method, set[i].n, &err) == 0, "parse: %s", err.msg);
        char d[64];
        tf_recompute_describe(&rc, d, sizeof d);
        double gl, bl;
        int64_t fwd, bwd;
        size_t gn, bn;
        float *gg = recompute_gpt_run(g, &rc, &gl, &fwd, &bwd, &gn);
        float *bg = recompute_bert_run(g, &rc, &bl, &bn);
        int64_t want_fwd = g->tp_size > 1 ? 2 * L + 3 : 0;
        int64_t want_bwd = g->tp_size > 1 ? 2 * L + 1 + 2 * set[i].recomputed : 0;
        CHECK(fwd == want_fwd && bwd == want_bwd, "GPT %s at TP=%d: %lld + %lld TP all-reduces, expected %lld + %lld",
              d, g->tp_size, (long long)fwd, (long long)bwd, (long long)want_fwd, (long long)want_bwd);
        int same = 1;
        if (i == 0) {
            g0 = gg, b0 = bg, gl0 = gl, bl0 = bl, gn0 = gn, bn0 = bn;
        } else {
            int gsame = gl == gl0 && gn == gn0 && memcmp(gg, g0, gn * sizeof(float)) == 0;
            int bsame = bl == bl0 && bn == bn0 && memcmp(bg, b0, bn * sizeof(float)) == 0;
            CHECK(gsame, "GPT %s at TP=%d rank %d: loss %.17g vs %.17g, gradients rel err %g", d, g->tp_size,
                  g->tp_rank, gl, gl0, gn == gn0 ? rel(gg, g0, gn) : -1.0);
            CHECK(bsame, "BERT %s at TP=%d rank %d: loss %.17g vs %.17g, gradients rel err %g", d, g->tp_size,
                  g->tp_rank, bl, bl0, bn == bn0 ? rel(bg, b0, bn) : -1.0);
            same = gsame && bsame;
            free(gg), free(bg);
        }
        if (rank0)
            printf("recompute: %-34s TP=%d: GPT loss %.9f, %lld + %lld TP all-reduces; BERT loss %.9f; %s\n", d,
                   g->tp_size, gl, (long long)fwd, (long long)bwd, bl,
                   i == 0 ? "the reference" : same ? "bitwise equal to it (rank 0)" : "DIFFERENT (rank 0)");
    }
    free(g0), free(b0);
}

static void test_shape8b(grid_t *g) {
    enum { B = 1 };
    gpt_config_t cfg;
    err_t err;
    gpt_config_preset(&cfg, "gpt-8.3b", &err);
    cfg.num_layers = 2;
    cfg.hidden_dropout = cfg.attention_dropout = 0.0f;
    int T = cfg.seq_length;
    gpt_model_t m;
    gpt_parallel_t par = {g->tp, 1};
    CHECK(gpt_config_validate(&cfg, g->tp_size, &err) == 0, "config: %s", err.msg);
    CHECK(gpt_padded_vocab(&cfg, g->tp_size) == (g->tp_size == 8 ? 51200 : gpt_padded_vocab(&cfg, g->tp_size)),
          "vocabulary padded to %d", gpt_padded_vocab(&cfg, g->tp_size));
    CHECK(gpt_create(&m, &cfg, backend_cpu(), B, T, &par, &err) == 0, "create: %s", err.msg);
    gpt_init_weights(&m, 1);
    int64_t local = 0;
    for (int k = 0; k < m.store.n; k++) {
        tensor_t *t = &m.store.params[k];
        local += tensor_numel(t);
        if (t->split_dim >= 0)
            CHECK(t->shape[t->split_dim] * g->tp_size == t->global_shape[t->split_dim] &&
                  t->split_offset == (int64_t)g->tp_rank * t->shape[t->split_dim],
                  "%s: rank %d holds %lld of %lld rows/cols at %lld", t->name, g->tp_rank,
                  (long long)t->shape[t->split_dim], (long long)t->global_shape[t->split_dim], (long long)t->split_offset);
    }
    int *tok = malloc(sizeof(int) * (T + 1));
    random_tokens(tok, T + 1, cfg.vocab_size, 77);
    double loss_tp, norm;
    dist_optim_t d;
    adamw_config_t ac = {0.9f, 0.999f, 1e-8f, 0.01f, OPTIM_ADAM};
    CHECK(dist_optim_create(&d, m.be, g, &ac, m.store.params, m.store.grads, m.store.n, m.store.param_block, m.store.grad_block,
                            m.store.numel, m.store.alloc, 0, 0, &err) == 0, "optim: %s", err.msg);
    gpt_zero_grads(&m);
    CHECK(gpt_forward(&m, tok, tok + 1, NULL, B, T, 1, 0, &loss_tp, &err) == 0, "forward: %s", err.msg);
    CHECK(gpt_backward(&m, 1.0f, 0, &err) == 0, "backward: %s", err.msg);
    CHECK(dist_optim_finish(&d, &norm, &err) == 0 && dist_optim_step(&d, 1e-4f, 1.0f, &err) == 0, "step: %s", err.msg);
    dist_optim_destroy(&d);
    gpt_destroy(&m);
    int64_t total_local = local;
    MPI_Allreduce(&local, &total_local, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
    /* the same 2-layer model unsplit, on rank 0 only (forward: the step's loss) */
    double loss_ref = 0;
    if (rank0) {
        gpt_model_t r;
        CHECK(gpt_create(&r, &cfg, backend_cpu(), B, T, NULL, &err) == 0, "create ref: %s", err.msg);
        gpt_init_weights(&r, 1);
        CHECK(gpt_forward(&r, tok, tok + 1, NULL, B, T, 0, 0, &loss_ref, &err) == 0, "ref forward: %s", err.msg);
        gpt_destroy(&r);
        CHECK(fabs(loss_ref - loss_tp) / loss_ref < 1e-5, "8.3B shape: TP=%d loss %.9g vs TP=1 %.9g", g->tp_size,
              loss_tp, loss_ref);
        printf("shape8b: hidden 3072, 32 heads, FFN 12288, vocab 51,200, seq 1024, 2 layers at TP=%d: "
               "%lld parameters per rank (sum %lld); step loss %.7f vs TP=1 %.7f\n",
               g->tp_size, (long long)local, (long long)total_local, loss_tp, loss_ref);
    }
    free(tok);
}

int main(int argc, char **argv) {
    err_t err;
    if (parallel_init(&argc, &argv, &err) != 0) return 1;
    const char *mode = argc > 1 ? argv[1] : "volume";
    int tp = argc > 2 ? atoi(argv[2]) : parallel_world_size();
    grid_t g;
    if (grid_create(&g, tp, backend_cpu(), &err) != 0) {
        fprintf(stderr, "grid: %s\n", err.msg);
        parallel_finalize();
        return 1;
    }
    rank0 = g.world_rank == 0;
    if (strcmp(mode, "volume") == 0) test_volume(&g);
    else if (strcmp(mode, "gradcheck") == 0) test_gradcheck(&g);
    else if (strcmp(mode, "shape8b") == 0) test_shape8b(&g);
    else if (strcmp(mode, "bertlayout") == 0) test_bert_layout(&g);
    else if (strcmp(mode, "recompute") == 0) test_recompute(&g);
    else CHECK(0, "unknown mode %s", mode);
    int mine = test_failures, all = 0;
    MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    grid_destroy(&g);
    parallel_finalize();
    if (all) {
        if (rank0) fprintf(stderr, "test_parallel %s: %d check(s) failed across ranks\n", mode, all);
        return 1;
    }
    if (rank0) printf("test_parallel %s: all checks passed\n", mode);
    return 0;
}
