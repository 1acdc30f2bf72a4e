/* bench.c — `megac bench`: GPT training steps (forward, backward, gradient
 * reduction, AdamW) at the gpt2-124m shape, reported as model GFLOP/s over this
 * machine's OpenBLAS sgemm peak measured in the same run. Under mpirun it runs
 * the tensor/data-parallel layout given by the flags and also reports the
 * fraction of step time spent waiting on communication. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../framework/backend.h"
#include "../framework/rng.h"
#include "../framework/trainer.h"
#include "../models/gpt.h"
#include "../parallel/dist_optim.h"
#include "../parallel/grid.h"
#include "args.h"
#include "commands.h"

/* Best-of-reps GFLOP/s of a square n^3 sgemm with this rank's threads. */
static double sgemm_peak(int n, int reps) {
    float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n);
    float *c = malloc(sizeof(float) * n * n);
    if (!a || !b || !c) {
        free(a), free(b), free(c);
        return 0.0;
    }
    for (long i = 0; i < (long)n * n; i++) a[i] = b[i] = (float)((i % 13) - 6) * 0.01f;
    double best = 0.0;
    for (int r = 0; r < reps; r++) {
        double t0 = trainer_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double dt = trainer_now() - t0;
        double g = 2.0 * n * (double)n * n / dt / 1e9;
        if (g > best) best = g;
    }
    free(a), free(b), free(c);
    return best;
}

static double comm_seconds(const grid_t *g) {
    return g->tp->wait_seconds + g->dp->wait_seconds + g->world->wait_seconds;
}

/* runs warmup + iters steps; returns the mean seconds per timed step and the
 * mean seconds spent waiting on communication per timed step */
static int run_steps(gpt_model_t *m, dist_optim_t *d, grid_t *g, int warmup, int iters, const int *tok,
                     const int *tgt, double *step_s, double *comm_s, err_t *err) {
    double t_total = 0.0, c_total = 0.0, loss, norm;
    for (int s = 0; s < warmup + iters; s++) {
        double t0 = trainer_now(), c0 = comm_seconds(g);
        gpt_zero_grads(m);
        if (gpt_forward(m, tok, tgt, NULL, m->B, m->T, 1, (uint32_t)s, &loss, err) != 0) return -1;
        dist_optim_arm(d);
        m->grad_ready = dist_optim_grad_ready, m->grad_ready_ctx = d;
        if (gpt_backward(m, 1.0f / g->dp_size, (uint32_t)s, err) != 0) return -1;
        if (dist_optim_finish(d, &norm, err) != 0) return -1;
        if (dist_optim_step(d, 1e-4f, optim_clip_factor(norm, 1.0f), err) != 0) return -1;
        if (m->be->sync(m->be, err) != 0) return -1;
        if (s >= warmup) t_total += trainer_now() - t0, c_total += comm_seconds(g) - c0;
    }
    *step_s = t_total / iters, *comm_s = c_total / iters;
    return 0;
}

int cmd_bench(int argc, char **argv) {
    gpt_config_t cfg;
    err_t err = {{0}};
    gpt_config_preset(&cfg, "gpt2-124m", &err);
    int layers = cfg.num_layers, seq = 256, mb = 4, iters = 3, warmup = 1, sgemm_n = 2048, tp = 1, zero1 = 0;
    long long bucket = 0;
    const char *device = "cpu";
    arg_spec_t spec[] = {
        {"num-layers", ARG_INT, &layers, "layers of the gpt2-124m shape (12)", 0},
        {"seq-length", ARG_INT, &seq, "sequence length (256)", 0},
        {"micro-batch-size", ARG_INT, &mb, "micro-batch per rank (4)", 0},
        {"iters", ARG_INT, &iters, "timed training steps (3)", 0},
        {"warmup", ARG_INT, &warmup, "untimed steps first (1)", 0},
        {"sgemm-size", ARG_INT, &sgemm_n, "square sgemm size for the peak (2048)", 0},
        {"tensor-model-parallel-size", ARG_INT, &tp, "tensor-parallel ranks (1); the rest of the world is DP", 0},
        {"use-distributed-optimizer", ARG_FLAG, &zero1, "ZeRO-1", 0},
        {"ddp-bucket-size", ARG_I64, &bucket, "gradient bucket elements (Megatron's default)", 0},
        {"device", ARG_STR, &device, "cpu | cuda (cpu)", 0},
    };
    int nspec = (int)(sizeof spec / sizeof spec[0]), help;
    if (args_parse(spec, nspec, argc, argv, "megac bench", &help, &err) != 0) goto fail_early;
    if (help) {
        args_print_help(stdout, "[mpirun -np N] megac bench [flags]", spec, nspec);
        return 0;
    }
    if (layers <= 0 || seq <= 0 || mb <= 0 || iters <= 0 || warmup < 0 || sgemm_n <= 0 || bucket < 0) {
        err_set(&err, "--num-layers, --seq-length, --micro-batch-size, --iters and --sgemm-size must be positive");
        goto fail_early;
    }
    cfg.num_layers = layers;
    cfg.seq_length = seq;
    if (cfg.max_position_embeddings < seq) cfg.max_position_embeddings = seq;
    if (parallel_init(&argc, &argv, &err) != 0) goto fail_early;

    int failed = 0, rank = parallel_world_rank();
    grid_t g;
    memset(&g, 0, sizeof g);
    gpt_model_t m;
    memset(&m, 0, sizeof m);
    dist_optim_t d;
    memset(&d, 0, sizeof d);
    backend_t *be = backend_by_name(device, &err);
    if (!be || grid_create(&g, tp, be, &err) != 0 || gpt_config_validate(&cfg, tp, &err) != 0) failed = 1;
    gpt_parallel_t par = {g.tp, zero1 ? g.dp_size : 1};
    if (!failed && gpt_create(&m, &cfg, be, mb, seq, &par, &err) != 0) failed = 1;
    adamw_config_t acfg = {0.9f, 0.999f, 1e-8f, 0.01f, OPTIM_ADAM};
    if (!failed) {
        gpt_init_weights(&m, 1);
        if (dist_optim_create(&d, be, &g, &acfg, m.params, m.grads, m.num_params, m.param_block, m.grad_block,
                              m.param_numel, m.param_alloc, zero1, (size_t)bucket, &err) != 0)
            failed = 1;
    }
    int first = parallel_first_failure(failed);
    if (first >= 0) {
        if (rank == first) fprintf(stderr, "megac bench: error: %s\n", err.msg);
        dist_optim_destroy(&d);
        if (m.params) gpt_destroy(&m);
        grid_destroy(&g);
        parallel_finalize();
        return 1;
    }
    int N = mb * seq;
    int *tok = malloc(sizeof(int) * N), *tgt = malloc(sizeof(int) * N);
    rng_key_t key = {7, rng_stream(RNG_PURPOSE_DATA, 99, (uint32_t)g.dp_rank), 0};
    for (int i = 0; i < N; i++) {
        tok[i] = (int)(rng_u32(key, 2 * (uint64_t)i) % (uint32_t)cfg.vocab_size);
        tgt[i] = (int)(rng_u32(key, 2 * (uint64_t)i + 1) % (uint32_t)cfg.vocab_size);
    }
    double step = 0, comm = 0;
    int rc = run_steps(&m, &d, &g, warmup, iters, tok, tgt, &step, &comm, &err);
    free(tok), free(tgt);
    dist_optim_destroy(&d);
    gpt_destroy(&m);
    if (rc != 0) {
        fprintf(stderr, "megac bench: rank %d: error: %s\n", rank, err.msg);
        if (g.world_size > 1) parallel_abort(1);
        grid_destroy(&g);
        parallel_finalize();
        return 1;
    }
    /* the machine's peak under the same process layout: every rank at once, summed */
    double stats[3] = {comm, step, 0};
    comm_barrier(g.world, &err);
    stats[2] = sgemm_peak(sgemm_n, 5);
    comm_allreduce_f64(g.world, stats, 3, COMM_SUM, &err);
    double comm_mean = stats[0] / g.world_size, step_mean = stats[1] / g.world_size, peak = stats[2];
    double tokens = (double)N * g.dp_size;
    int64_t params = gpt_param_count(&cfg, 1);
    double flop_params = (double)(params - (int64_t)cfg.max_position_embeddings * cfg.hidden_size);
    double flops = 6.0 * flop_params * tokens + 12.0 * cfg.num_layers * cfg.hidden_size * (double)seq * tokens;
    double gflops = flops / step_mean / 1e9;
    if (rank == 0) {
        printf("megac bench: GPT training step (forward, backward, gradient reduction, AdamW), device %s, "
               "%d rank(s) x %d thread(s)\n", be->name, g.world_size, omp_get_max_threads());
        printf("shape: gpt2-124m with %d layers (hidden %d, %d heads, vocab %d padded to %d), seq %d, "
               "micro-batch %d per rank; TP %d x DP %d%s\n", cfg.num_layers, cfg.hidden_size,
               cfg.num_attention_heads, cfg.vocab_size, gpt_padded_vocab(&cfg, tp), seq, mb, g.tp_size,
               g.dp_size, zero1 ? " (ZeRO-1)" : "");
        printf("model FLOPs per step = 6 * (params - position table) * tokens + 12 * layers * hidden * seq * "
               "tokens = %.1f GFLOP\n\n", flops / 1e9);
        printf("| TP | DP | step (ms) | tokens/s | comm wait | model GFLOP/s | sgemm peak GFLOP/s | ratio (model / sgemm) |\n");
        printf("|----|----|-----------|----------|-----------|---------------|--------------------|-----------------------|\n");
        printf("| %2d | %2d | %9.1f | %8.1f | %8.1f%% | %13.2f | %18.2f | %21.3f |\n", g.tp_size, g.dp_size,
               step_mean * 1e3, tokens / step_mean, 100.0 * comm_mean / step_mean, gflops, peak,
               peak > 0 ? gflops / peak : 0.0);
    }
    grid_destroy(&g);
    parallel_finalize();
    return 0;
fail_early:
    fprintf(stderr, "megac bench: error: %s\n", err.msg);
    return 1;
}
