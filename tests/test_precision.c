/* test_precision.c — the mixed-precision bookkeeping on CPU ranks: Megatron's
 * dynamic loss scaler rule by rule; a tiny GPT trained through the real trainer
 * and distributed optimizer with overflows injected into its gradients (the
 * step is skipped: weights, Adam moments, step count and learning-rate schedule
 * untouched; the skip is logged; the scale backs off as Megatron's); fp16 from
 * the 2^32 initial scale backing off on real fp16 gradient overflows; bf16 and
 * fp16 weights are bf16/fp16 values while the fp32 masters carry the updates,
 * and the losses follow fp32's (40 iterations of a fast-falling loss: within 5%
 * for bf16's 8-bit mantissa, 1% for fp16); the masters survive a save/restore exactly. */
#include <math.h>
#include <string.h>

#include "framework/backend.h"
#include "framework/precision.h"
#include "training/trainer.h"
#include "models/gpt.h"
#include "parallel/dist_optim.h"
#include "parallel/grid.h"
#include "testing.h"

/* ---------------------------------------------------------------- the scaler */

static void test_scaler_rules(void) {
    loss_scaler_t s;
    loss_scaler_dynamic(&s, 1024.0f, 64.0f, 3, 2);
    loss_scaler_update(&s, 1); /* hysteresis 2 -> 1: no back-off yet */
    CHECK(s.scale == 1024.0f && s.hysteresis_tracker == 1, "first overflow: scale %g tracker %d", s.scale,
          s.hysteresis_tracker);
    loss_scaler_update(&s, 1); /* tracker 0: halve */
    CHECK(s.scale == 512.0f, "second overflow: scale %g", s.scale);
    loss_scaler_update(&s, 1); /* tracker stays exhausted: halve again */
    CHECK(s.scale == 256.0f && s.hysteresis_tracker == -1, "third overflow: scale %g tracker %d", s.scale,
          s.hysteresis_tracker);
    loss_scaler_update(&s, 0), loss_scaler_update(&s, 0);
    CHECK(s.scale == 256.0f && s.growth_tracker == 2, "two clean steps: scale %g growth %d", s.scale, s.growth_tracker);
    loss_scaler_update(&s, 0); /* window 3 reached: double, hysteresis refilled */
    CHECK(s.scale == 512.0f && s.growth_tracker == 0 && s.hysteresis_tracker == 2, "growth: scale %g trackers %d %d",
          s.scale, s.growth_tracker, s.hysteresis_tracker);
    loss_scaler_update(&s, 0), loss_scaler_update(&s, 1); /* an overflow resets growth; tracker 2 -> 1 */
    CHECK(s.scale == 512.0f && s.growth_tracker == 0 && s.hysteresis_tracker == 1, "after refill: %g %d %d", s.scale,
          s.growth_tracker, s.hysteresis_tracker);
    for (int i = 0; i < 10; i++) loss_scaler_update(&s, 1);
    CHECK(s.scale == 64.0f, "min scale: %g", s.scale);
    loss_scaler_t c;
    loss_scaler_constant(&c, 128.0f);
    for (int i = 0; i < 5; i++) loss_scaler_update(&c, i & 1);
    CHECK(c.scale == 128.0f, "a constant scale moved: %g", c.scale);
    loss_scaler_dynamic(&s, LOSS_SCALE_INITIAL, 1.0f, LOSS_SCALE_WINDOW, LOSS_SCALE_HYSTERESIS);
    CHECK(s.scale == 4294967296.0f, "initial scale %g", s.scale);
}

/* ---------------------------------------------------------------- a tiny GPT job */

enum { B = 4, T = 16, VOCAB = 64 };

typedef struct job {
    gpt_model_t m;
    dist_optim_t opt;
    grid_t grid;
    int tokens[B * T + 1];
    const int *inject;   /* iterations whose gradients get an inf (0-terminated) */
    int injected;
    float *snap_w, *snap_m; /* weights and moments before the iteration */
    int64_t snap_step;
    float *last_scale;   /* grad_scale seen by each iteration's micro-batch */
} job_t;

static int injected_at(const job_t *j, int64_t it) {
    for (const int *p = j->inject; p && *p; p++)
        if (*p == it) return 1;
    return 0;
}

/* one micro-batch per iteration on one rank: the trainer's dropout step is iteration - 1 */
static int job_batch(void *self, int train, int64_t first, err_t *err) {
    job_t *j = self;
    (void)first, (void)err;
    if (!train) return 0;
    size_t n = j->m.store.numel;
    memcpy(j->snap_w, j->m.store.param_block, n * sizeof(float));
    memcpy(j->snap_m, j->opt.local.m, n * sizeof(float));
    j->snap_step = dist_optim_get_step(&j->opt);
    return 0;
}

static int job_forward(void *self, int train, uint32_t step, double *loss, err_t *err) {
    job_t *j = self;
    *loss = 0.0;
    return train ? gpt_forward(&j->m, j->tokens, j->tokens + 1, NULL, B, T, 1, step + 1, loss, err) : 0;
}

static int job_backward(void *self, float gs, uint32_t step, int last, err_t *err) {
    job_t *j = self;
    int64_t it = (int64_t)step + 1;
    j->last_scale[it] = gs;
    if (last) dist_optim_arm(&j->opt);
    if (gpt_backward(&j->m, gs, (uint32_t)it, err) != 0) return -1;
    if (injected_at(j, it)) j->m.store.grad_block[j->m.store.numel / 3] = INFINITY, j->injected++;
    return 0;
}
static void job_zero(void *self) { gpt_zero_grads(&((job_t *)self)->m); }
static int job_finish(void *self, double *norm, err_t *err) { return dist_optim_finish(&((job_t *)self)->opt, norm, err); }
static int job_step(void *self, float lr, float scale, err_t *err) {
    return dist_optim_step(&((job_t *)self)->opt, lr, scale, err);
}
static int job_mean(void *self, double *v, err_t *err) {
    (void)self, (void)v, (void)err;
    return 0;
}

static void job_create(job_t *j, precision_t p, int fp32_grads, float dropout) {
    err_t err;
    memset(j, 0, sizeof *j);
    gpt_config_t c;
    gpt_config_defaults(&c);
    c.num_layers = 2, c.hidden_size = 32, c.num_attention_heads = 4;
    c.seq_length = c.max_position_embeddings = T;
    c.vocab_size = VOCAB, c.make_vocab_size_divisible_by = 8;
    c.hidden_dropout = c.attention_dropout = dropout;
    CHECK(grid_create_self(&j->grid, backend_cpu(), &err) == 0, "grid: %s", err.msg);
    CHECK(gpt_create(&j->m, &c, backend_cpu(), B, T, NULL, &err) == 0, "create: %s", err.msg);
    gpt_init_weights(&j->m, 3);
    adamw_config_t ac = {0.9f, 0.95f, 1e-8f, 0.01f, OPTIM_ADAM};
    CHECK(dist_optim_create(&j->opt, j->m.be, &j->grid, &ac, j->m.store.params, j->m.store.grads, j->m.store.n,
                            j->m.store.param_block, j->m.store.grad_block, j->m.store.numel, j->m.store.alloc, 0, 0, &err) == 0,
          "optimizer: %s", err.msg);
    dtype_t wt = precision_dtype(p), gt = p == PRECISION_FP16 && !fp32_grads ? DTYPE_F16 : DTYPE_F32;
    CHECK(dist_optim_set_precision(&j->opt, wt, gt, &err) == 0, "precision: %s", err.msg);
    rng_key_t k = {42, 9, 0};
    for (int i = 0; i < B * T + 1; i++) j->tokens[i] = (int)(rng_u32(k, (uint64_t)i) % 16u); /* a learnable stream */
    j->snap_w = malloc(j->m.store.numel * sizeof(float));
    j->snap_m = malloc(j->m.store.numel * sizeof(float));
    j->last_scale = calloc(256, sizeof(float));
}

static void job_destroy(job_t *j) {
    dist_optim_destroy(&j->opt);
    gpt_destroy(&j->m);
    grid_destroy(&j->grid);
    free(j->snap_w), free(j->snap_m), free(j->last_scale);
}

/* runs `iters` iterations; the log goes to a temporary file returned open at its start */
static int run(job_t *j, int64_t iters, loss_scaler_t *ls, double *losses, int64_t *skipped, FILE **log,
               trainer_result_t *res) {
    err_t err;
    *log = tmpfile();
    trainer_config_t tc = {.train_iters = iters, .micro_batch_size = B, .global_batch_size = B,
                           .data_parallel_size = 1, .seq_length = T, .log_interval = 1,
                           .schedule = {1e-2f, 1e-3f, 2, 10, LR_DECAY_COSINE}, .clip_grad = 1.0f,
                           .log = *log, .loss_history = losses, .scaler = ls, .skipped_iterations = skipped};
    trainer_hooks_t h = {.self = j, .batch = job_batch, .forward = job_forward, .backward = job_backward, .zero_grads = job_zero,
                         .finish_grads = job_finish, .step = job_step, .dp_mean = job_mean};
    int rc = trainer_run(&tc, &h, res, &err);
    CHECK(rc == 0, "trainer: %s", err.msg);
    rewind(*log);
    return rc;
}

static int is_rounded(const float *x, size_t n, dtype_t t) {
    float *r = malloc(n * sizeof(float));
    backend_t *be = backend_cpu();
    be->round_to(be, r, x, n, t);
    int same = memcmp(r, x, n * sizeof(float)) == 0;
    free(r);
    return same;
}

/* overflows injected into fp16 gradients at iterations 3, 4, 5 and 9 */
static void test_injected_overflow(void) {
    static const int inject[] = {3, 4, 5, 9, 0};
    job_t j;
    job_create(&j, PRECISION_FP16, 0, 0.1f);
    j.inject = inject;
    loss_scaler_t ls;
    loss_scaler_dynamic(&ls, 1024.0f, 1.0f, 4, 2);
    double losses[12];
    int64_t skipped = 0;
    FILE *log;
    trainer_result_t res;
    /* iteration by iteration, so the state after each can be checked */
    float scales[13];
    for (int64_t it = 1; it <= 12; it++) {
        scales[it] = ls.scale;
        err_t err;
        trainer_config_t tc = {.train_iters = it, .micro_batch_size = B, .global_batch_size = B,
                               .data_parallel_size = 1, .seq_length = T, .log_interval = 1,
                               .schedule = {1e-2f, 1e-3f, 2, 12, LR_DECAY_COSINE}, .clip_grad = 1.0f,
                               .start_iteration = it - 1, .consumed_samples = (it - 1) * B,
                               .loss_history = losses, .scaler = &ls, .skipped_iterations = &skipped};
        log = tmpfile();
        tc.log = log;
        trainer_hooks_t h = {.self = &j, .batch = job_batch, .forward = job_forward, .backward = job_backward, .zero_grads = job_zero,
                             .finish_grads = job_finish, .step = job_step, .dp_mean = job_mean};
        CHECK(trainer_run(&tc, &h, &res, &err) == 0, "iteration %lld: %s", (long long)it, err.msg);
        rewind(log);
        char line[1024] = "";
        if (!fgets(line, sizeof line, log)) line[0] = 0;
        fclose(log);
        int inj = injected_at(&j, it);
        size_t n = j.m.store.numel;
        int w_same = memcmp(j.snap_w, j.m.store.param_block, n * sizeof(float)) == 0;
        int m_same = memcmp(j.snap_m, j.opt.local.m, n * sizeof(float)) == 0;
        CHECK(w_same == inj && m_same == inj, "iteration %lld (overflow %d): weights unchanged %d, moments unchanged %d",
              (long long)it, inj, w_same, m_same);
        CHECK(dist_optim_get_step(&j.opt) == j.snap_step + !inj, "iteration %lld: optimizer step %lld after %lld",
              (long long)it, (long long)dist_optim_get_step(&j.opt), (long long)j.snap_step);
        CHECK(j.last_scale[it] == scales[it], /* one micro-batch, one rank */
              "iteration %lld: the micro-batch's gradient scale %g, loss scale %g", (long long)it,
              (double)j.last_scale[it], (double)scales[it]);
        CHECK(strstr(line, inj ? "number of skipped iterations:   1 |" : "number of skipped iterations:   0 |") != NULL,
              "iteration %lld log line: %s", (long long)it, line);
        CHECK((strstr(line, "grad norm:") == NULL) == inj, "iteration %lld: grad norm shown on a skipped step: %s",
              (long long)it, line);
        CHECK(is_rounded(j.m.store.param_block, n, DTYPE_F16), "iteration %lld: model weights are not fp16 values", (long long)it);
        if (it == 6) {
            char want[64];
            snprintf(want, sizeof want, "loss scale: %.1f |", 256.0);
            CHECK(strstr(line, want) != NULL, "iteration 6 should log scale 256: %s", line);
        }
    }
    /* 3: tracker 2->1, scale 1024; 4: -> 0, 512; 5: 256; 6,7,8,9? 9 overflows before the
     * window (4 clean: 6,7,8 then 9 overflows) -> 128; 10,11,12 clean */
    CHECK(ls.scale == 128.0f, "scale after the run %g, expected 128", ls.scale);
    CHECK(skipped == 4 && j.injected == 4, "skipped %lld, injected %d", (long long)skipped, j.injected);
    CHECK(dist_optim_get_step(&j.opt) == 8, "optimizer steps %lld, expected 8", (long long)dist_optim_get_step(&j.opt));
    printf("injected overflows at 3,4,5,9: skipped %lld, steps %lld, final scale %g\n", (long long)skipped,
           (long long)dist_optim_get_step(&j.opt), ls.scale);
    job_destroy(&j);
}

/* The learning-rate schedule advances on applied steps only: a run with 2
 * skipped iterations logs at iteration k+2 the lr a clean run logs at k. */
static void test_schedule_follows_steps(void) {
    static const int inject[] = {2, 3, 0};
    job_t a, b;
    job_create(&a, PRECISION_FP16, 0, 0.0f), job_create(&b, PRECISION_FP16, 0, 0.0f); /* no dropout: keyed by iteration */
    b.inject = inject;
    loss_scaler_t la, lb;
    loss_scaler_constant(&la, 256.0f), loss_scaler_constant(&lb, 256.0f);
    double l1[10], l2[12];
    int64_t s1 = 0, s2 = 0;
    FILE *f1, *f2;
    trainer_result_t r1, r2;
    run(&a, 10, &la, l1, &s1, &f1, &r1);
    run(&b, 12, &lb, l2, &s2, &f2, &r2);
    char x[1024], y[1024];
    int k = 0, mism = 0;
    while (fgets(x, sizeof x, f1)) {
        k++;
        if (k == 1) { /* b's iteration 1 equals a's; b's 2 and 3 skipped */
            if (!fgets(y, sizeof y, f2)) break;
            for (int s = 0; s < 2; s++)
                if (!fgets(y, sizeof y, f2)) break;
            continue;
        }
        if (!fgets(y, sizeof y, f2)) break;
        const char *lx = strstr(x, "learning rate:"), *ly = strstr(y, "learning rate:");
        mism += !lx || !ly || strncmp(lx, ly, 30) != 0;
    }
    CHECK(k == 10 && mism == 0, "learning rates differ on %d of %d lines", mism, k);
    /* the weights differ only by what the (identical) steps did: same steps, same data */
    CHECK(s2 == 2 && memcmp(a.m.store.param_block, b.m.store.param_block, a.m.store.numel * sizeof(float)) == 0,
          "10 applied steps with 2 skips in between differ from 10 clean steps");
    fclose(f1), fclose(f2);
    job_destroy(&a), job_destroy(&b);
}

/* fp16 from Megatron's 2^32: real fp16 gradient overflows until the scale fits */
static void test_fp16_backoff(void) {
    job_t j;
    job_create(&j, PRECISION_FP16, 0, 0.1f);
    loss_scaler_t ls;
    loss_scaler_dynamic(&ls, LOSS_SCALE_INITIAL, 1.0f, LOSS_SCALE_WINDOW, LOSS_SCALE_HYSTERESIS);
    double losses[80];
    int64_t skipped = 0;
    FILE *log;
    trainer_result_t res;
    run(&j, 80, &ls, losses, &skipped, &log, &res);
    fclose(log);
    printf("fp16 from 2^32: %lld skipped iterations, scale now 2^%.0f, loss %.4f -> %.4f\n", (long long)skipped,
           log2(ls.scale), losses[0], losses[79]);
    CHECK(skipped >= 10 && skipped < 40, "skipped %lld iterations", (long long)skipped);
    CHECK(ls.scale < 65536.0f * 64.0f && ls.scale >= 1.0f, "scale %g", ls.scale);
    CHECK(losses[79] < losses[0] - 1.0, "fp16 training did not learn: %.4f -> %.4f", losses[0], losses[79]);
    job_destroy(&j);
}

/* bf16 and fp16 (static scale) against fp32: weights are half values, the losses
 * follow; the master weights carry what rounding would lose */
static void test_against_fp32(void) {
    enum { N = 40 };
    double ref[N], lb[N], lh[N];
    job_t a, b, h;
    job_create(&a, PRECISION_FP32, 0, 0.1f), job_create(&b, PRECISION_BF16, 0, 0.1f), job_create(&h, PRECISION_FP16, 0, 0.1f);
    loss_scaler_t ls;
    loss_scaler_constant(&ls, 1024.0f);
    int64_t s0 = 0, s1 = 0, s2 = 0;
    FILE *f;
    trainer_result_t r;
    run(&a, N, NULL, ref, &s0, &f, &r), fclose(f);
    run(&b, N, NULL, lb, &s1, &f, &r), fclose(f);
    run(&h, N, &ls, lh, &s2, &f, &r), fclose(f);
    double eb = 0, eh = 0;
    for (int i = 0; i < N; i++) {
        eb = fmax(eb, fabs(lb[i] - ref[i]) / ref[i]);
        eh = fmax(eh, fabs(lh[i] - ref[i]) / ref[i]);
    }
    printf("%d iterations: loss %.4f -> %.4f (fp32); largest relative loss difference bf16 %.2e, fp16 %.2e\n", N,
           ref[0], ref[N - 1], eb, eh);
    CHECK(eb < 5e-2 && eh < 1e-2 && s2 == 0, "losses drift from fp32: bf16 %.3e fp16 %.3e (skipped %lld)", eb, eh,
          (long long)s2);
    CHECK(eb > 0 && eh > 0, "rounding had no effect at all");
    size_t n = b.m.store.numel;
    CHECK(is_rounded(b.m.store.param_block, n, DTYPE_BF16) && is_rounded(h.m.store.param_block, n, DTYPE_F16),
          "model weights are not bf16/fp16 values");
    CHECK(!is_rounded(b.opt.master, n, DTYPE_BF16), "the bf16 master weights are rounded too");
    /* save/restore of the masters: expose, then sync restores the same rounded block */
    float *before = malloc(n * sizeof(float)), *master = malloc(n * sizeof(float));
    memcpy(before, b.m.store.param_block, n * sizeof(float));
    memcpy(master, b.opt.master, n * sizeof(float));
    err_t err;
    CHECK(dist_optim_expose_master(&b.opt, &err) == 0, "expose: %s", err.msg);
    CHECK(memcmp(b.m.store.param_block, master, n * sizeof(float)) == 0, "exposed block is not the masters");
    dist_optim_sync_master(&b.opt);
    CHECK(memcmp(b.m.store.param_block, before, n * sizeof(float)) == 0 &&
              memcmp(b.opt.master, master, n * sizeof(float)) == 0,
          "expose + sync did not restore the weights and masters exactly");
    free(before), free(master);
    job_destroy(&a), job_destroy(&b), job_destroy(&h);
}

int main(int argc, char **argv) {
    err_t err;
    if (parallel_init(&argc, &argv, &err) != 0) return 1;
    test_scaler_rules();
    test_injected_overflow();
    test_schedule_follows_steps();
    test_fp16_backoff();
    test_against_fp32();
    parallel_finalize();
    return test_exit("test_precision");
}
