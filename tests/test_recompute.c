/* test_recompute.c — activation recomputation (Megatron's --recompute-granularity):
 *   parse:   the flag combinations Megatron accepts, and a one-line error naming
 *            the flag for each one it refuses;
 *   gpt/bert: a tiny GPT and BERT (post-LN and pre-LN), dropout on, two
 *            accumulated micro-batches of different shapes: losses and every
 *            gradient with selective and full (uniform and block) recomputation are
 *            bitwise identical to keeping all activations, and the activation
 *            arena is smaller (but for uniform with N = layers: one group of all);
 *   flash:   the same models with flash attention (--use-flash-attn), under every
 *            recompute setting: losses and gradients within 1e-5 of the unfused
 *            model's, bitwise equal across the recompute settings, and an arena
 *            without the [B,NH,T,T] tensors (selective is flash's own arena);
 *   memory:  the arena at GPT-2 124M and BERT-Large training shapes, per setting. */
#include <string.h>

#include "framework/backend.h"
#include "models/bert.h"
#include "models/gpt.h"
#include "testing.h"

/* ---------------------------------------------------------------- parsing */

static void expect_error(int act, const char *gran, const char *method, int n, const char *needle) {
    tf_recompute_t r;
    err_t err = {0};
    int rc = tf_recompute_parse(&r, act, gran, method, n, &err);
    CHECK(rc != 0, "parse(%d, %s, %s, %d) accepted", act, gran ? gran : "-", method ? method : "-", n);
    CHECK(rc == 0 || (strstr(err.msg, needle) && !strchr(err.msg, '\n')), "parse(%d, %s, %s, %d): '%s' lacks '%s'",
          act, gran ? gran : "-", method ? method : "-", n, err.msg, needle);
}

static tf_recompute_t parse_ok(int act, const char *gran, const char *method, int n) {
    tf_recompute_t r;
    err_t err = {0};
    CHECK(tf_recompute_parse(&r, act, gran, method, n, &err) == 0, "parse(%d, %s, %s, %d): %s", act,
          gran ? gran : "-", method ? method : "-", n, err.msg);
    return r;
}

static void test_parse(void) {
    tf_recompute_t r = parse_ok(0, NULL, NULL, 0);
    CHECK(r.granularity == TF_RECOMPUTE_NONE, "no flags: not none");
    r = parse_ok(1, NULL, NULL, 0);
    CHECK(r.granularity == TF_RECOMPUTE_SELECTIVE, "--recompute-activations alone: not selective");
    r = parse_ok(1, "selective", NULL, 0);
    CHECK(r.granularity == TF_RECOMPUTE_SELECTIVE, "--recompute-activations --recompute-granularity selective");
    r = parse_ok(0, "full", "uniform", 2);
    CHECK(r.granularity == TF_RECOMPUTE_FULL && r.method == TF_RECOMPUTE_UNIFORM && r.num_layers == 2, "full uniform 2");
    r = parse_ok(0, "full", "block", 1);
    CHECK(r.granularity == TF_RECOMPUTE_FULL && r.method == TF_RECOMPUTE_BLOCK && r.num_layers == 1, "full block 1");
    char d[64];
    tf_recompute_describe(&r, d, sizeof d);
    CHECK(strcmp(d, "full (block, first 1 layer)") == 0, "describe: '%s'", d);

    expect_error(0, "partial", NULL, 0, "--recompute-granularity: unknown value 'partial'");
    expect_error(1, "full", "uniform", 1, "conflicts with --recompute-granularity full");
    expect_error(0, "full", "spread", 1, "--recompute-method: unknown value 'spread'");
    expect_error(0, "full", NULL, 1, "needs --recompute-method");
    expect_error(0, "full", "uniform", 0, "needs --recompute-num-layers");
    expect_error(0, "full", "block", -2, "--recompute-num-layers must be positive");
    expect_error(0, "selective", "uniform", 0, "--recompute-method needs --recompute-granularity full");
    expect_error(1, NULL, NULL, 2, "--recompute-num-layers needs --recompute-granularity full");
    expect_error(0, NULL, "block", 0, "--recompute-method needs --recompute-granularity full");

    /* against the model: N in 1..layers, through the config validation */
    gpt_config_t c;
    gpt_config_defaults(&c);
    c.num_layers = 4;
    c.recompute = parse_ok(0, "full", "uniform", 5);
    err_t err = {0};
    CHECK(gpt_config_validate(&c, 1, &err) != 0 && strstr(err.msg, "--recompute-num-layers 5 must be in 1..4"),
          "GPT: N=5 of 4 layers: '%s'", err.msg);
    bert_config_t b;
    bert_config_defaults(&b);
    b.num_layers = 2;
    b.recompute = parse_ok(0, "full", "block", 3);
    CHECK(bert_config_validate(&b, 1, &err) != 0 && strstr(err.msg, "--recompute-num-layers 3 must be in 1..2"),
          "BERT: N=3 of 2 layers: '%s'", err.msg);
    b.recompute = parse_ok(0, "full", "block", 2);
    CHECK(bert_config_validate(&b, 1, &err) == 0, "BERT: block 2 of 2 layers: %s", err.msg);
}

/* ---------------------------------------------------------------- settings */

typedef struct setting {
    const char *gran, *method;
    int n;
} setting_t;

/* none first: the reference */
static const setting_t settings[] = {
    {NULL, NULL, 0},          {"selective", NULL, 0}, {"full", "uniform", 1}, {"full", "uniform", 2},
    {"full", "uniform", 3},   {"full", "uniform", 4}, {"full", "block", 1},   {"full", "block", 2},
    {"full", "block", 4},
};
enum { NSET = sizeof settings / sizeof settings[0], LAYERS = 4 };

static tf_recompute_t setting(int i) { return parse_ok(0, settings[i].gran, settings[i].method, settings[i].n); }

/* what one setting produced */
typedef struct outcome {
    double loss[3];
    float *grads;
    size_t n, act_bytes;
} outcome_t;

static void compare(const char *model, int i, const outcome_t *o, const outcome_t *ref) {
    char d[64];
    tf_recompute_t r = setting(i);
    tf_recompute_describe(&r, d, sizeof d);
    CHECK(memcmp(o->loss, ref->loss, sizeof o->loss) == 0, "%s %s: losses %.17g %.17g %.17g vs %.17g %.17g %.17g",
          model, d, o->loss[0], o->loss[1], o->loss[2], ref->loss[0], ref->loss[1], ref->loss[2]);
    size_t diff = 0;
    for (size_t k = 0; o->n == ref->n && k < o->n; k++) diff += memcmp(&o->grads[k], &ref->grads[k], sizeof(float)) != 0;
    CHECK(o->n == ref->n && diff == 0, "%s %s: %zu of %zu gradient elements differ (rel err %g)", model, d, diff,
          o->n, o->n == ref->n ? rel_err_ff(o->grads, ref->grads, o->n) : -1.0);
    /* uniform with N = L is one group of every layer: recomputing it needs all of
     * their activations at once, so it saves nothing; every other setting does */
    int whole = r.granularity == TF_RECOMPUTE_FULL && r.method == TF_RECOMPUTE_UNIFORM && r.num_layers == LAYERS;
    if (whole)
        CHECK(o->act_bytes == ref->act_bytes, "%s %s: activation arena %zu bytes, not %zu", model, d, o->act_bytes,
              ref->act_bytes);
    else if (i > 0)
        CHECK(o->act_bytes < ref->act_bytes, "%s %s: activation arena %zu bytes, not below %zu", model, d,
              o->act_bytes, ref->act_bytes);
    printf("  %-34s arena %7zu bytes (%5.1f%%), losses and %zu gradients %s\n", d, o->act_bytes,
           100.0 * (double)o->act_bytes / (double)ref->act_bytes, o->n,
           i == 0 ? "(reference)" : diff == 0 ? "bitwise equal" : "DIFFER");
}

/* ---------------------------------------------------------------- GPT */

static void random_tokens(int *t, int n, int vocab, uint32_t stream) {
    rng_key_t k = {42, stream, 0};
    for (int i = 0; i < n; i++) t[i] = (int)(rng_u32(k, (uint64_t)i) % (uint32_t)vocab);
}

static void gpt_run(int i, int flash, outcome_t *o) {
    enum { B = 2, T = 8, V = 37 };
    gpt_config_t cfg;
    gpt_config_defaults(&cfg);
    cfg.num_layers = LAYERS, cfg.hidden_size = 16, cfg.num_attention_heads = 2;
    cfg.seq_length = cfg.max_position_embeddings = T;
    cfg.vocab_size = V, cfg.make_vocab_size_divisible_by = 8;
    cfg.hidden_dropout = 0.1f, cfg.attention_dropout = 0.2f;
    cfg.recompute = setting(i);
    cfg.use_flash_attn = flash;
    gpt_model_t m;
    err_t err;
    memset(o, 0, sizeof *o);
    if (gpt_create(&m, &cfg, backend_cpu(), B, T, NULL, &err) != 0) {
        CHECK(0, "GPT create (setting %d): %s", i, err.msg);
        return;
    }
    gpt_init_weights(&m, 7);
    int tok[B * T + 1];
    random_tokens(tok, B * T + 1, V, 1);
    gpt_zero_grads(&m);
    /* two micro-batches accumulate: the full buffers, then a smaller shape */
    CHECK(gpt_forward(&m, tok, tok + 1, NULL, B, T, 1, 3, &o->loss[0], &err) == 0, "forward: %s", err.msg);
    CHECK(gpt_backward(&m, 0.5f, 3, &err) == 0, "backward: %s", err.msg);
    CHECK(gpt_forward(&m, tok + 3, tok + 4, NULL, 1, T - 2, 1, 4, &o->loss[1], &err) == 0, "forward: %s", err.msg);
    CHECK(gpt_backward(&m, 0.5f, 4, &err) == 0, "backward: %s", err.msg);
    CHECK(gpt_forward(&m, tok, tok + 1, NULL, B, T, 0, 0, &o->loss[2], &err) == 0, "eval forward: %s", err.msg);
    o->n = m.store.numel;
    o->grads = malloc(o->n * sizeof(float));
    memcpy(o->grads, m.store.grad_block, o->n * sizeof(float));
    o->act_bytes = m.act_bytes;
    CHECK(m.act_bytes == gpt_activation_bytes(&cfg, B, T, 1), "gpt_activation_bytes disagrees with gpt_create");
    gpt_destroy(&m);
}

static void test_gpt(void) {
    outcome_t o[NSET];
    printf("tiny GPT (%d layers, dropout on), two micro-batches, against no recomputation:\n", LAYERS);
    for (int i = 0; i < NSET; i++) {
        gpt_run(i, 0, &o[i]);
        if (o[i].grads) compare("GPT", i, &o[i], &o[0]);
    }
    for (int i = 0; i < NSET; i++) free(o[i].grads);
}

/* ---------------------------------------------------------------- BERT */

static void bert_run(int pre_ln, int i, int flash, outcome_t *o) {
    enum { B = 2, T = 8, V = 29 };
    bert_config_t cfg;
    bert_config_defaults(&cfg);
    cfg.num_layers = LAYERS, cfg.hidden_size = 16, cfg.num_attention_heads = 2;
    cfg.seq_length = cfg.max_position_embeddings = T;
    cfg.vocab_size = V, cfg.make_vocab_size_divisible_by = 8, cfg.max_predictions_per_seq = 2;
    cfg.pre_ln = pre_ln, cfg.layernorm_epsilon = 1e-5f;
    cfg.hidden_dropout = 0.1f, cfg.attention_dropout = 0.2f;
    cfg.recompute = setting(i);
    cfg.use_flash_attn = flash;
    bert_model_t m;
    err_t err;
    memset(o, 0, sizeof *o);
    if (bert_create(&m, &cfg, backend_cpu(), B, T, NULL, &err) != 0) {
        CHECK(0, "BERT create (setting %d): %s", i, err.msg);
        return;
    }
    bert_init_weights(&m, 9);
    int tok[B * T], types[B * T], pos[3] = {1, 4, 10}, labels[3] = {6, 10, 3}, sop[B] = {1, 0};
    float pad[B * T];
    random_tokens(tok, B * T, V, 2);
    for (int k = 0; k < B * T; k++) types[k] = (k % T) >= T / 2, pad[k] = k < B * T - 3 ? 1.0f : 0.0f;
    bert_batch_t full = {B, T, tok, types, pad, 3, pos, labels, sop};
    bert_batch_t part = {1, T - 2, tok + 2, types + 2, pad, 2, pos, labels, sop}; /* smaller, 2 padding rows */
    bert_result_t r;
    bert_zero_grads(&m);
    CHECK(bert_forward(&m, &full, 1, 5, &r, &err) == 0, "forward: %s", err.msg);
    o->loss[0] = r.mlm_loss + r.sop_loss;
    CHECK(bert_backward(&m, 0.5f, 5, &err) == 0, "backward: %s", err.msg);
    CHECK(bert_forward(&m, &part, 1, 6, &r, &err) == 0, "forward: %s", err.msg);
    o->loss[1] = r.mlm_loss + r.sop_loss;
    CHECK(bert_backward(&m, 0.5f, 6, &err) == 0, "backward: %s", err.msg);
    CHECK(bert_forward(&m, &full, 0, 0, &r, &err) == 0, "eval forward: %s", err.msg);
    o->loss[2] = r.mlm_loss + r.sop_loss;
    o->n = m.store.numel;
    o->grads = malloc(o->n * sizeof(float));
    memcpy(o->grads, m.store.grad_block, o->n * sizeof(float));
    o->act_bytes = m.act_bytes;
    CHECK(m.act_bytes == bert_activation_bytes(&cfg, B, T, 1), "bert_activation_bytes disagrees with bert_create");
    bert_destroy(&m);
}

static void test_bert(int pre_ln) {
    outcome_t o[NSET];
    const char *name = pre_ln ? "BERT pre-LN" : "BERT post-LN";
    printf("tiny %s (%d layers, padding, dropout on), two micro-batches, against no recomputation:\n", name, LAYERS);
    for (int i = 0; i < NSET; i++) {
        bert_run(pre_ln, i, 0, &o[i]);
        if (o[i].grads) compare(name, i, &o[i], &o[0]);
    }
    for (int i = 0; i < NSET; i++) free(o[i].grads);
}

/* ---------------------------------------------------------------- flash attention */

#define TOL_FLASH 1e-5

static double loss_rel(const outcome_t *o, const outcome_t *ref) {
    double num = 0, den = 0;
    for (int k = 0; k < 3; k++) num += (o->loss[k] - ref->loss[k]) * (o->loss[k] - ref->loss[k]), den += ref->loss[k] * ref->loss[k];
    return sqrt(num / den);
}

/* run(i, flash, o) for every setting with flash on, against the unfused model
 * without recomputation (ref) and flash without recomputation (o[0]) */
static void flash_compare(const char *model, const outcome_t *ref, outcome_t *o, const outcome_t *ref_sel) {
    for (int i = 0; i < NSET; i++) {
        char d[64];
        tf_recompute_t r = setting(i);
        tf_recompute_describe(&r, d, sizeof d);
        if (!o[i].grads || !ref->grads) continue;
        double el = loss_rel(&o[i], ref), eg = o[i].n == ref->n ? rel_err_ff(o[i].grads, ref->grads, ref->n) : INFINITY;
        CHECK(el <= TOL_FLASH && eg <= TOL_FLASH, "%s flash, %s: losses rel err %g, gradients rel err %g vs unfused", model,
              d, el, eg);
        size_t diff = 0;
        for (size_t k = 0; o[i].n == o[0].n && k < o[i].n; k++)
            diff += memcmp(&o[i].grads[k], &o[0].grads[k], sizeof(float)) != 0;
        CHECK(o[i].n == o[0].n && diff == 0 && memcmp(o[i].loss, o[0].loss, sizeof o[i].loss) == 0,
              "%s flash, %s: %zu gradient elements (or the losses) differ from flash without recomputation", model, d,
              diff);
        /* no [B,NH,T,T]: smaller than unfused with the same setting (but selective,
         * which already shares one; flash + selective is flash alone) */
        if (r.granularity == TF_RECOMPUTE_SELECTIVE) {
            CHECK(o[i].act_bytes == o[0].act_bytes, "%s flash, selective: arena %zu bytes, not flash's %zu", model,
                  o[i].act_bytes, o[0].act_bytes);
            CHECK(o[i].act_bytes < ref_sel->act_bytes, "%s flash, selective: arena %zu bytes, not below %zu", model,
                  o[i].act_bytes, ref_sel->act_bytes);
        }
        printf("  flash + %-34s arena %7zu bytes (%5.1f%% of unfused none), losses %.1e gradients %.1e%s\n", d,
               o[i].act_bytes, 100.0 * (double)o[i].act_bytes / (double)ref->act_bytes, el, eg,
               i == 0 ? "" : diff == 0 ? ", bitwise flash's" : ", DIFFER from flash's");
    }
}

static void test_flash(void) {
    outcome_t ref, sel, o[NSET];
    printf("tiny GPT (%d layers, dropout on) with flash attention, against the unfused model:\n", LAYERS);
    gpt_run(0, 0, &ref), gpt_run(1, 0, &sel);
    for (int i = 0; i < NSET; i++) gpt_run(i, 1, &o[i]);
    flash_compare("GPT", &ref, o, &sel);
    for (int i = 0; i < NSET; i++) {
        tf_recompute_t r = setting(i);
        if (r.granularity != TF_RECOMPUTE_SELECTIVE && o[i].grads) {
            outcome_t un;
            gpt_run(i, 0, &un);
            CHECK(o[i].act_bytes < un.act_bytes, "GPT flash setting %d: arena %zu bytes, not below unfused %zu", i,
                  o[i].act_bytes, un.act_bytes);
            free(un.grads);
        }
    }
    free(ref.grads), free(sel.grads);
    for (int i = 0; i < NSET; i++) free(o[i].grads);
    for (int pre_ln = 0; pre_ln < 2; pre_ln++) {
        const char *name = pre_ln ? "BERT pre-LN" : "BERT post-LN";
        printf("tiny %s (%d layers, padding, dropout on) with flash attention, against the unfused model:\n", name,
               LAYERS);
        bert_run(pre_ln, 0, 0, &ref), bert_run(pre_ln, 1, 0, &sel);
        for (int i = 0; i < NSET; i++) bert_run(pre_ln, i, 1, &o[i]);
        flash_compare(name, &ref, o, &sel);
        for (int i = 0; i < NSET; i++) {
            tf_recompute_t r = setting(i);
            if (r.granularity != TF_RECOMPUTE_SELECTIVE && o[i].grads) {
                outcome_t un;
                bert_run(pre_ln, i, 0, &un);
                CHECK(o[i].act_bytes < un.act_bytes, "%s flash setting %d: arena %zu bytes, not below unfused %zu",
                      name, i, o[i].act_bytes, un.act_bytes);
                free(un.grads);
            }
        }
        free(ref.grads), free(sel.grads);
        for (int i = 0; i < NSET; i++) free(o[i].grads);
    }
}

/* ---------------------------------------------------------------- memory at real shapes */

static void test_memory(void) {
    static const setting_t real[] = {
        {NULL, NULL, 0}, {"selective", NULL, 0}, {"full", "uniform", 1}, {"full", "uniform", 4}, {"full", "block", 1},
        {"full", "block", 6},
    };
    enum { NREAL = sizeof real / sizeof real[0] };
    gpt_config_t g;
    bert_config_t b;
    err_t err;
    CHECK(gpt_config_preset(&g, "gpt2-124m", &err) == 0, "%s", err.msg);
    CHECK(bert_config_preset(&b, "bert-large", &err) == 0, "%s", err.msg);
    printf("activation arena (MiB) at training shapes:\n  %-34s %22s %22s\n", "recompute",
           "gpt2-124m B=8 T=1024", "bert-large B=8 T=512");
    size_t g0 = 0, b0 = 0;
    for (int i = 0; i < NREAL; i++) {
        g.recompute = b.recompute = parse_ok(0, real[i].gran, real[i].method, real[i].n);
        CHECK(gpt_config_validate(&g, 1, &err) == 0 && bert_config_validate(&b, 1, &err) == 0, "%s", err.msg);
        size_t ga = gpt_activation_bytes(&g, 8, 1024, 1), ba = bert_activation_bytes(&b, 8, 512, 1);
        if (i == 0) g0 = ga, b0 = ba;
        char d[64];
        tf_recompute_describe(&g.recompute, d, sizeof d);
        printf("  %-34s %10.1f (%5.1f%%)     %10.1f (%5.1f%%)\n", d, ga / 1048576.0, 100.0 * ga / g0, ba / 1048576.0,
               100.0 * ba / b0);
        if (i > 0) CHECK(ga < g0 && ba < b0, "%s: the arena did not shrink (%zu vs %zu, %zu vs %zu)", d, ga, g0, ba, b0);
    }
    /* flash attention: no [B,NH,T,T] probabilities or workspaces */
    static const setting_t flash[] = {{NULL, NULL, 0}, {"full", "uniform", 1}, {"full", "block", 6}};
    g.use_flash_attn = b.use_flash_attn = 1;
    for (int i = 0; i < 3; i++) {
        g.recompute = b.recompute = parse_ok(0, flash[i].gran, flash[i].method, flash[i].n);
        size_t ga = gpt_activation_bytes(&g, 8, 1024, 1), ba = bert_activation_bytes(&b, 8, 512, 1);
        char d[64], f[80];
        tf_recompute_describe(&g.recompute, d, sizeof d);
        snprintf(f, sizeof f, "flash + %s", d);
        printf("  %-42s %10.1f (%5.1f%%)     %10.1f (%5.1f%%)\n", f, ga / 1048576.0, 100.0 * ga / g0, ba / 1048576.0,
               100.0 * ba / b0);
        CHECK(ga < g0 && ba < b0, "%s: the arena did not shrink (%zu vs %zu, %zu vs %zu)", f, ga, g0, ba, b0);
    }
}

int main(void) {
    test_parse();
    test_gpt();
    test_bert(0);
    test_bert(1);
    test_flash();
    test_memory();
    return test_exit("test_recompute");
}
