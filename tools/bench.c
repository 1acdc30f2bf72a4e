/* bench.c — `megac bench`: a GPT training step (forward, backward, AdamW) at
 * the gpt2-124m shape, reported as model GFLOP/s over this machine's OpenBLAS
 * sgemm peak measured in the same run. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../framework/backend.h"
#include "../framework/optim.h"
#include "../framework/rng.h"
#include "../framework/trainer.h"
#include "../models/gpt.h"
#include "args.h"
#include "commands.h"

/* Best-of-reps GFLOP/s of a square n^3 sgemm, all threads. */
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

int cmd_bench(int argc, char **argv) {
    gpt_config_t cfg;
    err_t err = {{0}};
    gpt_config_preset(&cfg, "gpt2-124m", &err);
    int layers = cfg.num_layers, seq = 256, mb = 4, iters = 3, warmup = 1, sgemm_n = 2048;
    const char *device = "cpu";
    arg_spec_t spec[] = {
        {"num-layers", ARG_INT, &layers, "layers of the gpt2-124m shape (12)", 0},
        {"seq-length", ARG_INT, &seq, "sequence length (256)", 0},
        {"micro-batch-size", ARG_INT, &mb, "micro-batch (4)", 0},
        {"iters", ARG_INT, &iters, "timed training steps (3)", 0},
        {"warmup", ARG_INT, &warmup, "untimed steps first (1)", 0},
        {"sgemm-size", ARG_INT, &sgemm_n, "square sgemm size for the peak (2048)", 0},
        {"device", ARG_STR, &device, "cpu | cuda (cpu)", 0},
    };
    int nspec = (int)(sizeof spec / sizeof spec[0]), help;
    if (args_parse(spec, nspec, argc, argv, "megac bench", &help, &err) != 0) goto fail;
    if (help) {
        args_print_help(stdout, "megac bench [flags]", spec, nspec);
        return 0;
    }
    if (layers <= 0 || seq <= 0 || mb <= 0 || iters <= 0 || warmup < 0 || sgemm_n <= 0) {
        err_set(&err, "--num-layers, --seq-length, --micro-batch-size, --iters and --sgemm-size must be positive");
        goto fail;
    }
    cfg.num_layers = layers;
    cfg.seq_length = seq;
    if (cfg.max_position_embeddings < seq) cfg.max_position_embeddings = seq;
    if (gpt_config_validate(&cfg, 1, &err) != 0) goto fail;
    backend_t *be = backend_by_name(device, &err);
    if (!be) goto fail;

    gpt_model_t m;
    optimizer_t opt;
    memset(&opt, 0, sizeof opt);
    if (gpt_create(&m, &cfg, be, mb, seq, NULL, &err) != 0) goto fail;
    gpt_init_weights(&m, 1);
    adamw_config_t acfg = {0.9f, 0.999f, 1e-8f, 0.01f};
    if (optim_create(&opt, be, &acfg, m.params, m.grads, m.num_params, &err) != 0) {
        gpt_destroy(&m);
        goto fail;
    }
    int N = mb * seq;
    int *tok = malloc(sizeof(int) * N), *tgt = malloc(sizeof(int) * N);
    rng_key_t key = {7, rng_stream(RNG_PURPOSE_DATA, 99, 0), 0};
    for (int i = 0; i < N; i++) {
        tok[i] = (int)(rng_u32(key, 2 * (uint64_t)i) % (uint32_t)cfg.vocab_size);
        tgt[i] = (int)(rng_u32(key, 2 * (uint64_t)i + 1) % (uint32_t)cfg.vocab_size);
    }
    double t_total = 0.0, loss = 0.0;
    int rc = 0;
    for (int s = 0; s < warmup + iters && rc == 0; s++) {
        double t0 = trainer_now();
        gpt_zero_grads(&m);
        rc = gpt_forward(&m, tok, tgt, NULL, mb, seq, 1, (uint32_t)s, &loss, &err);
        if (rc) break;
        if ((rc = gpt_backward(&m, 1.0f, (uint32_t)s, &err)) != 0) break;
        double norm = sqrt(optim_grad_sumsq(&opt, 0));
        optim_step(&opt, 1e-4f, optim_clip_factor(norm, 1.0f));
        rc = be->sync(be, &err);
        if (s >= warmup) t_total += trainer_now() - t0;
    }
    free(tok), free(tgt);
    optim_destroy(&opt);
    gpt_destroy(&m);
    if (rc) goto fail;
    double peak = sgemm_peak(sgemm_n, 5);
    double step = t_total / iters, tokens = (double)N;
    int64_t params = gpt_param_count(&cfg, 1);
    double flop_params = (double)(params - (int64_t)cfg.max_position_embeddings * cfg.hidden_size);
    double flops = 6.0 * flop_params * tokens + 12.0 * cfg.num_layers * cfg.hidden_size * (double)seq * tokens;
    double gflops = flops / step / 1e9;
    printf("megac bench: GPT training step (forward + backward + AdamW), device %s, %d threads\n", be->name,
           omp_get_max_threads());
    printf("shape: gpt2-124m with %d layers (hidden %d, %d heads, vocab %d padded to %d), seq %d, micro-batch %d\n",
           cfg.num_layers, cfg.hidden_size, cfg.num_attention_heads, cfg.vocab_size, gpt_padded_vocab(&cfg, 1),
           seq, mb);
    printf("model FLOPs per step = 6 * (params - position table) * tokens + 12 * layers * hidden * seq * tokens = %.1f GFLOP\n\n",
           flops / 1e9);
    printf("| %-10s | %-12s | %-14s | %-20s | %-24s |\n", "step (ms)", "tokens/s", "model GFLOP/s",
           "sgemm peak GFLOP/s", "ratio (model / sgemm)");
    printf("|------------|--------------|----------------|----------------------|--------------------------|\n");
    printf("| %10.1f | %12.1f | %14.2f | %20.2f | %24.3f |\n", step * 1e3, tokens / step, gflops, peak,
           peak > 0 ? gflops / peak : 0.0);
    return 0;
fail:
    fprintf(stderr, "megac bench: error: %s\n", err.msg);
    return 1;
}
