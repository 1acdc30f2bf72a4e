/* test_plan.c — the planner against what it claims:
 *   1. the published Megatron-LM (Shoeybi et al. 2019) runs it was NOT calibrated
 *      on, each within 10%: weak scaling with model parallelism on 2/4/8 GPUs,
 *      model + data parallelism on 64/128/256/512 GPUs, the 512-GPU aggregate
 *      (15.1 PFLOP/s, 76%) and the attention-head study (Table 7);
 *   2. NVIDIA's BERT-Large record (53 minutes on 1,472 V100s), within 10%;
 *   3. parameter counts: every GPT preset's tensors and closed form against
 *      gpt_param_count at every TP size; the tensor list against the real
 *      model's (gpt_create) on every TP rank; BERT's closed form against its
 *      tensor list and the published sizes (110M, 336M, 3.9B);
 *   4. FLOPs: the GEMM-by-GEMM count against Narayanan's closed form;
 *   5. memory: the Table 1 models fit at their model-parallel size and not at
 *      half of it; 8.3B at TP 8 fits only with recomputation;
 *   6. bad layouts refused with a reason. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "framework/backend.h"
#include "models/bert.h"
#include "models/gpt.h"
#include "tests/testing.h"
#include "plan/plan_model.h"

/* ------------------------------------------------------------ helpers */

/* The Megatron-LM scaling configurations (Table 1): hidden per head 96, sequence
 * 1024, vocabulary padded to 51,200, fp16, activation checkpointing after every
 * layer (§4), Adam; the paper's own software (PLAN_SW_MEGATRON_2019). */
static void megatron_model(plan_model_t *m, int layers, int hidden, int heads) {
    memset(m, 0, sizeof *m);
    m->arch = PLAN_GPT;
    m->num_layers = layers;
    m->hidden_size = hidden;
    m->num_heads = heads;
    m->seq_length = m->max_position_embeddings = 1024;
    m->vocab_size = 51200;
    m->vocab_multiple = 128;
}

static plan_layout_t megatron_layout(int tp, int dp, int global) {
    plan_layout_t l = {tp, dp, 8, global, PLAN_FP16, 1, 0, PLAN_ADAM, PLAN_SW_MEGATRON_2019, 0};
    return l;
}

static void dgx2h(plan_machine_t *mach) {
    err_t err;
    plan_machine_preset(mach, "V100-32GB", &err);
    mach->efficiency = plan_calibrate();
}

static double rel(double predicted, double published) { return predicted / published - 1.0; }

static int within(const char *what, double predicted, double published, const char *unit) {
    double e = rel(predicted, published);
    int ok = fabs(e) <= 0.10;
    printf("  %-58s %8.1f %-7s %8.1f %-7s %+6.1f%%  %s\n", what, predicted, unit, published, unit, 100 * e,
           ok ? "ok" : "OUTSIDE 10%");
    CHECK(ok, "%s: predicted %.2f, published %.2f (%+.1f%%)", what, predicted, published, 100 * e);
    return ok;
}

/* ------------------------------------------------------------ 1. Megatron-LM */

static void test_megatron_2019(void) {
    plan_machine_t mach;
    dgx2h(&mach);
    plan_result_t base, r;
    err_t err;
    CHECK(plan_baseline(&mach, PLAN_SW_MEGATRON_2019, &base, &err) == 0, "baseline: %s", err.msg);
    printf("calibration: compute efficiency %.4f of the V100's 125 TFLOP/s makes the 1.2B single-GPU baseline "
           "%.2f TFLOP/s (published 39, section 5.1); everything below is predicted\n\n",
           mach.efficiency, base.tflops_per_gpu);
    CHECK(fabs(base.tflops_per_gpu - 39.0) < 1e-6, "calibration does not reproduce its own baseline");

    static const struct {
        int layers, hidden, heads, tp;
        double mp_published, mpdp_published; /* weak-scaling efficiency, % (Figure 5) */
    } runs[] = {
        {40, 1536, 16, 1, 100, 95}, {54, 1920, 20, 2, 96, 83}, {64, 2304, 24, 4, 82, 79}, {72, 3072, 32, 8, 77, 74},
    };
    printf("  %-58s %-16s %-16s %s\n", "Shoeybi et al. 2019 (weak scaling vs 39 TFLOP/s)", "predicted", "published",
           "error");
    for (int i = 0; i < 4; i++) {
        plan_model_t m;
        megatron_model(&m, runs[i].layers, runs[i].hidden, runs[i].heads);
        char what[96];
        if (runs[i].tp > 1) { /* model parallel only, batch 8 */
            plan_layout_t l = megatron_layout(runs[i].tp, 1, 8);
            CHECK(plan_evaluate(&m, &l, &mach, &r, &err) == 0, "%s", err.msg);
            snprintf(what, sizeof what, "%.1fB, %d GPUs, TP %d, batch 8: scaling efficiency",
                     r.params / 1e9, runs[i].tp, runs[i].tp);
            within(what, 100 * r.tflops_per_gpu / base.tflops_per_gpu, runs[i].mp_published, "%");
            CHECK(r.mem.total <= mach.memory_bytes, "%s does not fit", what);
        }
        /* model + data parallel: 64-way DP, global batch 512 */
        plan_layout_t l = megatron_layout(runs[i].tp, 64, 512);
        CHECK(plan_evaluate(&m, &l, &mach, &r, &err) == 0, "%s", err.msg);
        snprintf(what, sizeof what, "%.1fB, %d GPUs, TP %d x DP 64, batch 512: efficiency", r.params / 1e9,
                 64 * runs[i].tp, runs[i].tp);
        within(what, 100 * r.tflops_per_gpu / base.tflops_per_gpu, runs[i].mpdp_published, "%");
        CHECK(r.mem.total <= mach.memory_bytes, "%s does not fit", what);
        if (runs[i].tp == 8) { /* the abstract: 15.1 PFLOP/s, 76% of 512 x 39 TFLOP/s */
            within("8.3B on 512 GPUs: aggregate", r.pflops_total, 15.1, "PFLOP/s");
            within("8.3B on 512 GPUs: efficiency (abstract)", 100 * r.tflops_per_gpu / base.tflops_per_gpu, 76,
                   "%");
        }
    }
    /* Table 7: 8.3B on 8 GPUs with 16 and 24 heads (the model has no head-size
     * term beyond the FLOPs: the same prediction for every head count) */
    static const int heads[2] = {16, 24};
    static const double published[2] = {82, 80};
    for (int i = 0; i < 2; i++) {
        plan_model_t m;
        megatron_model(&m, 72, 3072, heads[i]);
        plan_layout_t l = megatron_layout(8, 1, 8);
        CHECK(plan_evaluate(&m, &l, &mach, &r, &err) == 0, "%s", err.msg);
        char what[96];
        snprintf(what, sizeof what, "8.3B, 8 GPUs, %d heads (Table 7): efficiency", heads[i]);
        within(what, 100 * r.tflops_per_gpu / base.tflops_per_gpu, published[i], "%");
    }
    /* Table 8, strong scaling of the 1.2B model at batch 8: printed, not checked.
     * The model keeps the calibrated efficiency however narrow the per-GPU GEMMs
     * get, so it is optimistic here (documented in `megac plan` output). */
    static const double speedup[3] = {1.64, 2.34, 2.98};
    plan_model_t m;
    megatron_model(&m, 40, 1536, 16);
    printf("  not checked (Table 8, strong scaling of the 1.2B model; the model ignores narrow-GEMM "
           "inefficiency):");
    for (int i = 0; i < 3; i++) {
        plan_layout_t l = megatron_layout(2 << i, 1, 8);
        if (plan_evaluate(&m, &l, &mach, &r, &err) == 0)
            printf(" TP %d %.2fx (published %.2fx)", 2 << i, base.t_iteration / r.t_iteration, speedup[i]);
    }
    printf("\n\n");
}

/* ------------------------------------------------------------ 2. BERT record */

static void test_bert_record(void) {
    plan_machine_t mach;
    dgx2h(&mach);
    plan_model_t m;
    err_t err;
    /* NVIDIA DeepLearningExamples, configs for 92 DGX-2H: phase 1 sequence 128, 48
     * per GPU, 7,038 steps; phase 2 sequence 512, 8 per GPU x 3 accumulation,
     * 1,450 steps; LAMB, fp16 (plan_bert_record_phase) */
    int gpus = 92 * 16;
    double minutes = 0;
    for (int p = 0; p < 2; p++) {
        plan_record_phase_t ph;
        plan_layout_t l;
        plan_result_t r;
        CHECK(plan_bert_record_phase(&mach, PLAN_SW_MEGAC, p, &ph, &m, &l, &err) == 0, "%s", err.msg);
        CHECK(l.dp == gpus && l.tp == 1, "BERT phase %d: layout TP %d x DP %d", p + 1, l.tp, l.dp);
        CHECK(plan_evaluate(&m, &l, &mach, &r, &err) == 0, "%s", err.msg);
        CHECK(r.mem.total <= mach.memory_bytes, "BERT phase %d does not fit", p + 1);
        printf("  BERT-Large phase %d: %.3f s per step x %d = %.1f minutes\n", p + 1, r.t_iteration, ph.steps,
               r.t_iteration * ph.steps / 60.0);
        minutes += r.t_iteration * ph.steps / 60.0;
    }
    within("BERT-Large on 1,472 V100s (NVIDIA record): time to train", minutes, 53.0, "min");
    /* the LAMB paper's 64K batch does not divide over 1,472 GPUs */
    plan_layout_t bad = {1, gpus, 48, 65536, PLAN_FP16, 0, 0, PLAN_LAMB, PLAN_SW_MEGAC, 0};
    plan_result_t r;
    CHECK(plan_evaluate(&m, &bad, &mach, &r, &err) != 0 && strstr(err.msg, "--global-batch-size 65536"),
          "a 65,536 global batch over 1,472 x 48 was accepted");
    printf("\n");
}

/* ------------------------------------------------------------ 3. parameter counts */

static const char *gpt_presets[] = {"gpt2-124m", "gpt2-345m", "gpt-1.2b", "gpt-2.5b", "gpt-4.2b", "gpt-8.3b"};

/* sum over TP ranks of the split slices + the replicated tensors once */
static int64_t sum_over_ranks(const plan_model_t *m, int tp, int *uneven) {
    int64_t total = 0;
    plan_tensor_t t;
    param_list_t pl;
    *uneven = 0;
    CHECK(plan_tensor_list(m, tp, &pl) == 0, "tensor list: out of memory");
    for (int r = 0; r < tp; r++) {
        for (int k = 0; k < pl.n; k++) {
            plan_tensor_get(&pl, tp, r, k, &t);
            int64_t n = t.ndim == 2 ? t.local_shape[0] * t.local_shape[1] : t.local_shape[0];
            if (t.split_dim < 0) {
                if (r == 0) total += n;
                continue;
            }
            if (t.local_shape[t.split_dim] * tp != t.global_shape[t.split_dim] ||
                t.split_offset != (int64_t)r * t.local_shape[t.split_dim])
                (*uneven)++;
            total += n;
        }
    }
    param_list_free(&pl);
    return total;
}

static void test_gpt_counts(void) {
    for (size_t i = 0; i < sizeof gpt_presets / sizeof gpt_presets[0]; i++) {
        gpt_config_t c;
        err_t err;
        CHECK(gpt_config_preset(&c, gpt_presets[i], &err) == 0, "%s", err.msg);
        plan_model_t m;
        plan_model_from_gpt(&m, &c);
        for (int tp = 1; tp <= 8; tp *= 2) {
            if (c.num_attention_heads % tp != 0) continue;
            int64_t want = gpt_param_count(&c, tp);
            int uneven;
            int64_t ranks = sum_over_ranks(&m, tp, &uneven);
            CHECK(plan_param_count(&m, tp) == want, "%s TP %d: closed form %lld, gpt_param_count %lld", gpt_presets[i],
                  tp, (long long)plan_param_count(&m, tp), (long long)want);
            CHECK(ranks == want, "%s TP %d: tensors over the ranks %lld, gpt_param_count %lld", gpt_presets[i], tp,
                  (long long)ranks, (long long)want);
            CHECK(uneven == 0, "%s TP %d: %d split tensors are not exactly 1/TP", gpt_presets[i], tp, uneven);
            for (int r = 1; r < tp; r++)
                CHECK(plan_local_param_count(&m, tp, r) == plan_local_param_count(&m, tp, 0),
                      "%s TP %d: rank %d holds a different count", gpt_presets[i], tp, r);
            /* the dry run refuses to print if its own check fails */
            FILE *devnull = fopen("/dev/null", "w");
            CHECK(devnull && plan_dry_run(&c, tp, 8 * tp, 1, 8, 0, devnull, &err) == 0, "%s TP %d dry run: %s",
                  gpt_presets[i], tp, err.msg);
            if (devnull) fclose(devnull);
        }
        printf("  %-10s %14lld parameters at TP 1 = gpt_param_count; tensors and closed form agree at TP 1..8\n",
               gpt_presets[i], (long long)gpt_param_count(&c, 1));
    }
}

/* The tensor list against the tensors the model itself creates, on every rank
 * of TP 1, 2 and 4 (a communicator descriptor carries the rank; gpt_create does not
 * communicate). The vocabulary 100 pads differently at each TP size. */
static void test_against_gpt_create(void) {
    gpt_config_t c;
    gpt_config_defaults(&c);
    c.num_layers = 2, c.hidden_size = 32, c.num_attention_heads = 4, c.seq_length = c.max_position_embeddings = 8;
    c.vocab_size = 100;
    plan_model_t m;
    plan_model_from_gpt(&m, &c);
    int compared = 0;
    for (int tp = 1; tp <= 4; tp *= 2) {
        for (int rank = 0; rank < tp; rank++) {
            comm_t tp_desc;
            memset(&tp_desc, 0, sizeof tp_desc);
            snprintf(tp_desc.name, sizeof tp_desc.name, "tp");
            tp_desc.rank = rank, tp_desc.size = tp, tp_desc.be = backend_cpu();
            gpt_parallel_t par = {&tp_desc, 1};
            gpt_model_t g;
            err_t err;
            if (gpt_create(&g, &c, backend_cpu(), 1, 8, &par, &err) != 0) {
                CHECK(0, "gpt_create TP %d rank %d: %s", tp, rank, err.msg);
                continue;
            }
            param_list_t pl;
            CHECK(plan_tensor_list(&m, tp, &pl) == 0, "tensor list: out of memory");
            CHECK(g.store.n == pl.n, "TP %d: model has %d tensors, plan %d", tp, g.store.n, pl.n);
            for (int k = 0; k < g.store.n && k < pl.n; k++) {
                plan_tensor_t t;
                plan_tensor_get(&pl, tp, rank, k, &t);
                const tensor_t *p = &g.store.params[k];
                int same = strcmp(p->name, t.name) == 0 && p->ndim == t.ndim && p->shape[0] == t.local_shape[0] &&
                           (t.ndim == 1 || p->shape[1] == t.local_shape[1]) &&
                           p->global_shape[0] == t.global_shape[0] &&
                           (t.ndim == 1 || p->global_shape[1] == t.global_shape[1]) && p->split_dim == t.split_dim &&
                           (t.split_dim < 0 || p->split_offset == t.split_offset);
                CHECK(same, "TP %d rank %d tensor %d: model %s, plan %s", tp, rank, k, p->name, t.name);
                compared++;
            }
            CHECK((int64_t)g.store.numel == plan_local_param_count(&m, tp, rank), "TP %d rank %d: %zu vs %lld", tp,
                  rank, g.store.numel, (long long)plan_local_param_count(&m, tp, rank));
            param_list_free(&pl);
            gpt_destroy(&g);
        }
    }
    printf("  tensor list = gpt_create's on every rank of TP 1, 2, 4 (%d tensors compared: name, local and global "
           "shape, split)\n",
           compared);
}

/* BERT's tensor list against bert_create's, pre-LN (a final LayerNorm, none after the
 * embeddings) and post-LN, on every rank of TP 2. */
static void test_against_bert_create(void) {
    int compared = 0;
    for (int pre_ln = 0; pre_ln <= 1; pre_ln++) {
        bert_config_t c;
        bert_config_defaults(&c);
        c.num_layers = 2, c.hidden_size = 32, c.num_attention_heads = 4, c.seq_length = c.max_position_embeddings = 8;
        c.vocab_size = 100, c.max_predictions_per_seq = 2, c.pre_ln = pre_ln;
        plan_model_t m;
        plan_model_from_bert(&m, &c);
        param_list_t pl;
        CHECK(plan_tensor_list(&m, 2, &pl) == 0, "tensor list: out of memory");
        for (int rank = 0; rank < 2; rank++) {
            comm_t tp_desc;
            memset(&tp_desc, 0, sizeof tp_desc);
            tp_desc.rank = rank, tp_desc.size = 2, tp_desc.be = backend_cpu();
            model_parallel_t par = {&tp_desc, 1};
            bert_model_t b;
            err_t err;
            if (bert_create(&b, &c, backend_cpu(), 1, 8, &par, &err) != 0) {
                CHECK(0, "bert_create pre-LN %d rank %d: %s", pre_ln, rank, err.msg);
                continue;
            }
            CHECK(b.store.n == pl.n, "pre-LN %d: model has %d tensors, plan %d", pre_ln, b.store.n, pl.n);
            for (int k = 0; k < b.store.n && k < pl.n; k++) {
                plan_tensor_t t;
                plan_tensor_get(&pl, 2, rank, k, &t);
                const tensor_t *p = &b.store.params[k];
                CHECK(strcmp(p->name, t.name) == 0 && p->shape[0] == t.local_shape[0] &&
                          (t.ndim == 1 || p->shape[1] == t.local_shape[1]) && p->split_dim == t.split_dim,
                      "pre-LN %d rank %d tensor %d: model %s, plan %s", pre_ln, rank, k, p->name, t.name);
                compared++;
            }
            bert_destroy(&b);
        }
        param_list_free(&pl);
    }
    printf("  BERT tensor list = bert_create's, pre-LN and post-LN, both ranks of TP 2 (%d tensors compared)\n",
           compared);
}

/* BERT: the closed form, the tensor list summed over ranks, and the published
 * sizes: 110M (Devlin et al. 2019), 336M and 3.9B (Shoeybi et al. 2019, Table 4). */
static void test_bert_counts(void) {
    static const struct {
        const char *name;
        double published, half_unit; /* the published figure and half its last digit */
    } bert[] = {{"bert-base", 110e6, 0.5e6}, {"bert-large", 336e6, 0.5e6}, {"bert-3.9b", 3.9e9, 0.05e9}};
    for (int i = 0; i < 3; i++) {
        plan_model_t m;
        err_t err;
        CHECK(plan_bert_preset(&m, bert[i].name, &err) == 0, "%s", err.msg);
        for (int tp = 1; tp <= 8; tp *= 2) {
            if (m.num_heads % tp != 0) continue;
            int uneven;
            int64_t ranks = sum_over_ranks(&m, tp, &uneven);
            CHECK(ranks == plan_param_count(&m, tp), "%s TP %d: tensors %lld, closed form %lld", bert[i].name, tp,
                  (long long)ranks, (long long)plan_param_count(&m, tp));
            CHECK(uneven == 0, "%s TP %d: uneven split", bert[i].name, tp);
        }
        int64_t n = plan_param_count(&m, 1);
        CHECK(fabs((double)n - bert[i].published) <= bert[i].half_unit, "%s: %lld parameters, published %.0f",
              bert[i].name, (long long)n, bert[i].published);
        printf("  %-10s %14lld parameters (vocabulary 30,522 padded to %d); published %.0fM\n", bert[i].name,
               (long long)n, plan_padded_vocab(&m, 1), bert[i].published / 1e6);
    }
}

/* ------------------------------------------------------------ 4. FLOPs */

static void test_flops(void) {
    plan_machine_t mach;
    dgx2h(&mach);
    for (size_t i = 0; i < sizeof gpt_presets / sizeof gpt_presets[0]; i++) {
        gpt_config_t c;
        err_t err;
        gpt_config_preset(&c, gpt_presets[i], &err);
        plan_model_t m;
        plan_model_from_gpt(&m, &c);
        for (int rc = 0; rc <= 1; rc++) {
            plan_layout_t l = {1, 4, 2, 16, PLAN_FP16, rc, 0, PLAN_ADAM, PLAN_SW_MEGAC, 0};
            plan_result_t r;
            CHECK(plan_evaluate(&m, &l, &mach, &r, &err) == 0, "%s", err.msg);
            CHECK(fabs(r.flops_iteration / r.flops_narayanan - 1.0) < 1e-12,
                  "%s recompute %d: counted %.6g, Narayanan %.6g", gpt_presets[i], rc, r.flops_iteration,
                  r.flops_narayanan);
        }
    }
    printf("  GEMM-by-GEMM FLOPs = Narayanan's 96 (72) B s l h^2 (1 + s/6h + V/16lh (V/12lh)) for every preset\n");
}

/* ------------------------------------------------------------ 5. memory */

static void test_memory(void) {
    plan_machine_t mach;
    dgx2h(&mach);
    err_t err;
    plan_result_t r;
    /* "The configuration with 1.2 billion parameters fits on a single GPU whereas the
     * 8 billion parameter model requires 8-way model parallelism" (§5.1): each
     * Table 1 model fits at its model-parallel size and not at half of it */
    static const int cfg[4][4] = {{40, 1536, 16, 1}, {54, 1920, 20, 2}, {64, 2304, 24, 4}, {72, 3072, 32, 8}};
    for (int i = 0; i < 4; i++) {
        plan_model_t m;
        megatron_model(&m, cfg[i][0], cfg[i][1], cfg[i][2]);
        plan_layout_t l = megatron_layout(cfg[i][3], 1, 8);
        CHECK(plan_evaluate(&m, &l, &mach, &r, &err) == 0, "%s", err.msg);
        CHECK(r.mem.total <= mach.memory_bytes, "%d layers at TP %d: %.2f GiB does not fit", cfg[i][0], cfg[i][3],
              r.mem.total / 1073741824.0);
        double fits = r.mem.total;
        if (cfg[i][3] > 1) {
            l = megatron_layout(cfg[i][3] / 2, 1, 8);
            CHECK(plan_evaluate(&m, &l, &mach, &r, &err) == 0, "%s", err.msg);
            CHECK(r.mem.total > mach.memory_bytes, "%d layers at TP %d fits (%.2f GiB)", cfg[i][0], cfg[i][3] / 2,
                  r.mem.total / 1073741824.0);
        }
        printf("  Table 1 model %d: %.2f GiB per rank at TP %d (fits 32 GiB)%s\n", i + 1, fits / 1073741824.0,
               cfg[i][3], cfg[i][3] > 1 ? "; not at half that TP" : "");
    }
    /* 8.3B at TP 8, batch 8: needs the activation checkpointing the paper used */
    plan_model_t m;
    megatron_model(&m, 72, 3072, 32);
    plan_layout_t l = megatron_layout(8, 1, 8);
    l.recompute = 0;
    CHECK(plan_evaluate(&m, &l, &mach, &r, &err) == 0, "%s", err.msg);
    CHECK(r.mem.total > mach.memory_bytes, "8.3B TP 8 without recomputation fits");
    /* eq. 2 at t = 1 is eq. 1: s b h (34 + 5 a s / h) per layer */
    double s = 1024, b = 8, h = 3072, a = 32;
    l.tp = 1;
    CHECK(plan_evaluate(&m, &l, &mach, &r, &err) == 0, "%s", err.msg);
    double eq1 = 72 * s * b * h * (34 + 5 * a * s / h);
    CHECK(fabs(r.mem.activations_full / eq1 - 1) < 1e-12, "activations at TP 1: %.6g, eq. 1 %.6g",
          r.mem.activations_full, eq1);
    /* ZeRO-1 divides the optimizer state by DP (rounded up) */
    plan_layout_t z = {8, 64, 8, 512, PLAN_FP16, 1, 1, PLAN_ADAM, PLAN_SW_MEGAC, 0};
    plan_layout_t nz = z;
    nz.zero1 = 0;
    plan_result_t rz, rn;
    CHECK(plan_evaluate(&m, &z, &mach, &rz, &err) == 0 && plan_evaluate(&m, &nz, &mach, &rn, &err) == 0, "%s",
          err.msg);
    CHECK(fabs(rz.mem.optimizer - ceil(rn.mem.optimizer / 12.0 / 64.0) * 12.0) < 1.0,
          "ZeRO-1 optimizer state %.0f, expected %.0f", rz.mem.optimizer, rn.mem.optimizer / 64.0);
    printf("  8.3B at TP 8 needs recomputation; activations at TP 1 = Korthikanti eq. 1; ZeRO-1 shards the state\n");
}

/* ------------------------------------------------------------ 6. refusals */

static void refused(const plan_model_t *m, plan_layout_t l, const plan_machine_t *mach, const char *expect) {
    plan_result_t r;
    err_t err = {{0}};
    int rc = plan_evaluate(m, &l, mach, &r, &err);
    CHECK(rc != 0 && strstr(err.msg, expect) && !strchr(err.msg, '\n'), "expected a refusal with '%s', got rc %d '%s'",
          expect, rc, err.msg);
}

static void test_refusals(void) {
    plan_machine_t mach;
    dgx2h(&mach);
    plan_model_t m;
    megatron_model(&m, 72, 3072, 32);
    refused(&m, megatron_layout(3, 1, 8), &mach, "--tensor-model-parallel-size 3 does not divide --num-attention-heads 32");
    refused(&m, megatron_layout(8, 4, 20), &mach, "--global-batch-size 20 is not a multiple");
    plan_machine_t eight = mach;
    eight.gpus_per_node = 12;
    refused(&m, megatron_layout(8, 1, 8), &eight, "--gpus-per-node 12 is not a multiple of --tensor-model-parallel-size 8");
    plan_layout_t z = megatron_layout(8, 2, 16);
    z.zero1 = 1;
    refused(&m, z, &mach, "--use-distributed-optimizer");
    FILE *devnull = fopen("/dev/null", "w");
    gpt_config_t c;
    err_t err = {{0}};
    gpt_config_preset(&c, "gpt-8.3b", &err);
    CHECK(devnull && plan_dry_run(&c, 8, 12, 8, 8, 0, devnull, &err) != 0 &&
              strstr(err.msg, "--world-size 12 is not a multiple of --tensor-model-parallel-size 8"),
          "dry run accepted world 12 at TP 8: '%s'", err.msg);
    if (devnull) fclose(devnull);
    printf("  refused: heads not divisible by TP, world not divisible by TP, batch not divisible, TP across nodes\n");
}

int main(void) {
    printf("== published runs (Megatron-LM, Shoeybi et al. 2019; NVIDIA BERT record) ==\n");
    test_megatron_2019();
    test_bert_record();
    printf("== parameter counts ==\n");
    test_gpt_counts();
    test_against_gpt_create();
    test_against_bert_create();
    test_bert_counts();
    printf("== FLOPs, memory, refusals ==\n");
    test_flops();
    test_memory();
    test_refusals();
    printf("%s (%d failure(s))\n", test_failures ? "FAILED" : "passed", test_failures);
    return test_failures ? 1 : 0;
}
