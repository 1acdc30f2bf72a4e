/* bench.c — `megac bench`: training steps (forward, backward, gradient reduction,
 * clipping, AdamW) or forward passes (--inference) of a GPT or BERT preset,
 * reported as tokens/s and model FLOP/s over a matmul peak: this machine's
 * OpenBLAS sgemm (CPU), the backend's fp32 matmul op (CUDA), or a peak given with
 * --peak-tflops (tools/gpu_bench.sh passes the bf16 peak PyTorch measured in the
 * same run, which makes the ratio the model-FLOPs utilisation). Under mpirun it
 * runs the tensor/data-parallel layout given by the flags and also reports the
 * fraction of step time spent waiting on communication. --json prints one line
 * with the fields of tools/bench_torch.py instead of the table.
 *
 * Model FLOPs per step: models/flops.h (the formulas of bench_torch.py), summed
 * over data-parallel ranks. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../framework/backend.h"
#include "../framework/rng.h"
#include "../framework/trainer.h"
#include "../models/bert.h"
#include "../models/flops.h"
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

/* Best-of-reps GFLOP/s of the backend's own fp32 matmul op on n x n x n (random
 * operands, one warm-up call); 0 when the buffers cannot be had. */
static double matmul_op_peak(backend_t *be, int n, int reps) {
    size_t nn = (size_t)n * n;
    float *h = malloc(sizeof(float) * nn), *a = NULL, *b = NULL, *c = NULL;
    err_t err = {{0}};
    double best = 0.0;
    if (h && be->alloc(be, (void **)&a, nn * sizeof(float), &err) == 0 &&
        be->alloc(be, (void **)&b, nn * sizeof(float), &err) == 0 &&
        be->alloc(be, (void **)&c, nn * sizeof(float), &err) == 0) {
        rng_key_t key = {11, 0, 0};
        for (size_t i = 0; i < nn; i++) h[i] = (float)(rng_u32(key, i) % 2001) * 1e-3f - 1.0f;
        be->copy_to_device(be, a, h, nn * sizeof(float));
        be->copy_to_device(be, b, h, nn * sizeof(float));
        be->matmul_forward(be, c, a, b, NULL, n, n, n);
        for (int r = 0; r < reps && be->sync(be, &err) == 0; r++) {
            double t0 = trainer_now();
            be->matmul_forward(be, c, a, b, NULL, n, n, n);
            if (be->sync(be, &err) != 0) break;
            double g = 2.0 * n * (double)n * n / (trainer_now() - t0) / 1e9;
            if (g > best) best = g;
        }
    }
    if (a) be->free(be, a);
    if (b) be->free(be, b);
    if (c) be->free(be, c);
    free(h);
    return best;
}

static double comm_seconds(const grid_t *g) {
    return g->tp->wait_seconds + g->dp->wait_seconds + g->world->wait_seconds;
}

/* one benchmarked model: a GPT or a BERT, its optimizer and a random batch */
typedef struct bench {
    int is_bert, train;
    gpt_config_t gcfg;
    bert_config_t bcfg;
    gpt_model_t gpt;
    bert_model_t bert;
    dist_optim_t opt;
    int B, T, M;                  /* micro-batch, sequence, masked positions per sequence (BERT) */
    int *tok, *tgt, *types, *mlm_pos, *mlm_labels, *sop;
    float *pad;
    bert_batch_t batch;
} bench_t;

/* Fills the random host batch of b->B sequences (never zeros; BERT: two segments,
 * M distinct masked positions per sequence, never [CLS]; no padding). */
static int bench_batch(bench_t *b, int dp_rank, err_t *err) {
    size_t N = (size_t)b->B * b->T;
    int vocab = b->is_bert ? b->bcfg.vocab_size : b->gcfg.vocab_size;
    b->tok = malloc(sizeof(int) * N), b->tgt = malloc(sizeof(int) * N);
    if (!b->tok || !b->tgt) return err_set(err, "out of host memory for the batch");
    rng_key_t key = {7, rng_stream(RNG_PURPOSE_DATA, 99, (uint32_t)dp_rank), 0};
    for (size_t i = 0; i < N; i++) {
        b->tok[i] = (int)(rng_u32(key, 2 * (uint64_t)i) % (uint32_t)vocab);
        b->tgt[i] = (int)(rng_u32(key, 2 * (uint64_t)i + 1) % (uint32_t)vocab);
    }
    if (!b->is_bert) return 0;
    int B = b->B, T = b->T, M = b->M;
    b->types = malloc(sizeof(int) * N), b->pad = malloc(sizeof(float) * N);
    b->mlm_pos = malloc(sizeof(int) * (size_t)B * M), b->mlm_labels = malloc(sizeof(int) * (size_t)B * M);
    b->sop = malloc(sizeof(int) * B);
    int *perm = malloc(sizeof(int) * T);
    if (!b->types || !b->pad || !b->mlm_pos || !b->mlm_labels || !b->sop || !perm) {
        free(perm);
        return err_set(err, "out of host memory for the batch");
    }
    uint64_t c = 2 * N;
    for (int s = 0; s < B; s++) {
        for (int t = 0; t < T; t++) b->types[s * T + t] = t >= T / 2, b->pad[s * T + t] = 1.0f;
        for (int t = 0; t < T - 1; t++) perm[t] = t + 1;
        for (int k = 0; k < M; k++) { /* partial Fisher-Yates over positions 1..T-1 */
            int j = k + (int)(rng_u32(key, c++) % (uint32_t)(T - 1 - k));
            int tmp = perm[k];
            perm[k] = perm[j], perm[j] = tmp;
            b->mlm_pos[s * M + k] = s * T + perm[k];
            b->mlm_labels[s * M + k] = (int)(rng_u32(key, c++) % (uint32_t)vocab);
        }
        b->sop[s] = (int)(rng_u32(key, c++) & 1);
    }
    free(perm);
    b->batch = (bert_batch_t){B, T, b->tok, b->types, b->pad, B * M, b->mlm_pos, b->mlm_labels, b->sop};
    if (!b->train) b->batch.n_mlm = 0, b->batch.sop_labels = NULL; /* the encoder alone */
    return 0;
}

static void bench_free(bench_t *b) {
    dist_optim_destroy(&b->opt);
    if (b->gpt.params) gpt_destroy(&b->gpt);
    if (b->bert.params) bert_destroy(&b->bert);
    free(b->tok), free(b->tgt), free(b->types), free(b->pad), free(b->mlm_pos), free(b->mlm_labels), free(b->sop);
    b->tok = b->tgt = b->types = b->mlm_pos = b->mlm_labels = b->sop = NULL, b->pad = NULL;
}

/* the model (micro-batch b->B), the optimizer (training), the weights and the batch */
static int bench_create(bench_t *b, backend_t *be, grid_t *g, int zero1, long long bucket, err_t *err) {
    model_parallel_t par = {g->tp, zero1 ? g->dp_size : 1};
    tensor_t *params, *grads;
    float *pblock, *gblock;
    int nparams;
    size_t numel, alloc;
    if (b->is_bert) {
        if (bert_create(&b->bert, &b->bcfg, be, b->B, b->T, &par, err) != 0) return -1;
        bert_model_t *m = &b->bert;
        params = m->params, grads = m->grads, nparams = m->num_params, pblock = m->param_block;
        gblock = m->grad_block, numel = m->param_numel, alloc = m->param_alloc;
    } else {
        if (gpt_create(&b->gpt, &b->gcfg, be, b->B, b->T, &par, err) != 0) return -1;
        gpt_model_t *m = &b->gpt;
        params = m->params, grads = m->grads, nparams = m->num_params, pblock = m->param_block;
        gblock = m->grad_block, numel = m->param_numel, alloc = m->param_alloc;
    }
    adamw_config_t acfg = {0.9f, 0.999f, 1e-8f, 0.01f, OPTIM_ADAM};
    if (b->train && dist_optim_create(&b->opt, be, g, &acfg, params, grads, nparams, pblock, gblock, numel, alloc,
                                      zero1, (size_t)bucket, err) != 0)
        return -1;
    /* weights last: a micro-batch that does not fit fails before the time they take */
    if (b->is_bert) bert_init_weights(&b->bert, 1);
    else gpt_init_weights(&b->gpt, 1);
    return bench_batch(b, g->dp_rank, err);
}

/* one training step or one forward pass; `s` keys the dropout */
static int bench_step(bench_t *b, grid_t *g, uint32_t s, err_t *err) {
    double norm, loss;
    backend_t *be = b->is_bert ? b->bert.be : b->gpt.be;
    if (b->is_bert) {
        bert_result_t r;
        if (b->train) bert_zero_grads(&b->bert);
        if (bert_forward(&b->bert, &b->batch, b->train, s, &r, err) != 0) return -1;
        if (!b->train) return 0;
        dist_optim_arm(&b->opt);
        b->bert.grad_ready = dist_optim_grad_ready, b->bert.grad_ready_ctx = &b->opt;
        if (bert_backward(&b->bert, 1.0f / g->dp_size, s, err) != 0) return -1;
    } else {
        if (b->train) gpt_zero_grads(&b->gpt);
        if (gpt_forward(&b->gpt, b->tok, b->train ? b->tgt : NULL, NULL, b->B, b->T, b->train, s, &loss, err) != 0)
            return -1;
        if (!b->train) return 0;
        dist_optim_arm(&b->opt);
        b->gpt.grad_ready = dist_optim_grad_ready, b->gpt.grad_ready_ctx = &b->opt;
        if (gpt_backward(&b->gpt, 1.0f / g->dp_size, s, err) != 0) return -1;
    }
    if (dist_optim_finish(&b->opt, &norm, err) != 0) return -1;
    if (dist_optim_step(&b->opt, 1e-4f, optim_clip_factor(norm, 1.0f), err) != 0) return -1;
    return be->sync(be, err);
}

/* model FLOPs of one micro-batch on one data-parallel rank (models/flops.h) */
static double bench_flops(const bench_t *b) {
    return b->is_bert ? bert_model_flops(&b->bcfg, b->B, b->T, b->M, b->train) : gpt_model_flops(&b->gcfg, b->B, b->T, b->train);
}

/* --json: a failed measurement still gives its line, so the table can say why */
static void json_error(const char *model, int train, const char *device, int micro_batch, const char *msg) {
    printf("{\"tool\": \"megac\", \"model\": \"%s\", \"kind\": \"%s\", \"precision\": \"fp32\", "
           "\"mode\": \"megac\", \"device\": \"%s\", \"micro_batch\": %d, \"status\": \"error\", \"error\": \"",
           model, train ? "train" : "infer", device, micro_batch);
    for (const char *c = msg; *c; c++) {
        if (*c == '"' || *c == '\\') putchar('\\');
        if ((unsigned char)*c >= 0x20) putchar(*c);
    }
    printf("\"}\n");
    fflush(stdout);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int cmd_bench(int argc, char **argv) {
    err_t err = {{0}};
    const char *model = "gpt2-124m", *device = "auto";
    int layers = 0, seq = 0, mb = 4, iters = 3, warmup = 1, sgemm_n = 2048, tp = 1, zero1 = 0, json = 0;
    int inference = 0, max_pred = 0, peak_only = 0;
    float peak_tflops = 0.0f, dropout = -1.0f, max_mem_gib = 0.0f;
    long long bucket = 0;
    arg_spec_t spec[] = {
        {"model", ARG_STR, &model, "preset: gpt2-124m (default) gpt2-345m gpt-1.2b ... bert-base bert-large", 0},
        {"num-layers", ARG_INT, &layers, "layers (the preset's)", 0},
        {"seq-length", ARG_INT, &seq, "sequence length (GPT 256, BERT 128)", 0},
        {"micro-batch-size", ARG_INT, &mb, "micro-batch per rank (4); with --max-memory-gib the largest that fits", 0},
        {"max-memory-gib", ARG_FLOAT, &max_mem_gib,
         "device memory to fit in: try micro-batches from --micro-batch-size down (GPT: skipping those whose "
         "estimate exceeds it)", 0},
        {"max-predictions-per-seq", ARG_INT, &max_pred, "BERT: masked positions per sequence (ceil(0.15 seq))", 0},
        {"dropout", ARG_FLOAT, &dropout, "hidden and attention dropout (the preset's, 0.1)", 0},
        {"inference", ARG_FLAG, &inference, "forward passes only (BERT: the encoder), timed as latency", 0},
        {"iters", ARG_INT, &iters, "timed steps (3)", 0},
        {"warmup", ARG_INT, &warmup, "untimed steps first (1)", 0},
        {"peak-tflops", ARG_FLOAT, &peak_tflops, "peak TFLOP/s of one rank's device to divide by (default: measured fp32 matmul)", 0},
        {"sgemm-size", ARG_INT, &sgemm_n, "square matmul size for the measured peak (2048)", 0},
        {"peak-only", ARG_FLAG, &peak_only, "measure the fp32 matmul peak alone (one rank)", 0},
        {"tensor-model-parallel-size", ARG_INT, &tp, "tensor-parallel ranks (1); the rest of the world is DP", 0},
        {"use-distributed-optimizer", ARG_FLAG, &zero1, "ZeRO-1", 0},
        {"ddp-bucket-size", ARG_I64, &bucket, "gradient bucket elements (Megatron's default)", 0},
        {"device", ARG_STR, &device, "cpu | cuda | auto (auto: cuda when megac has it and a GPU is present)", 0},
        {"json", ARG_FLAG, &json, "print one JSON line (bench_torch.py's fields) instead of the table", 0},
    };
    int nspec = (int)(sizeof spec / sizeof spec[0]), help;
    if (args_parse(spec, nspec, argc, argv, "megac bench", &help, &err) != 0) goto fail_early;
    if (help) {
        args_print_help(stdout, "[mpirun -np N] megac bench [flags]", spec, nspec);
        return 0;
    }
    bench_t b;
    memset(&b, 0, sizeof b);
    b.train = !inference;
    err_t perr = {{0}};
    if (gpt_config_preset(&b.gcfg, model, &perr) != 0) {
        if (bert_config_preset(&b.bcfg, model, &perr) != 0) {
            err_set(&err, "--model: unknown preset '%s' (known: %s %s)", model, gpt_preset_names(),
                    bert_preset_names());
            goto fail_early;
        }
        b.is_bert = 1;
    }
    if (layers < 0 || seq < 0 || mb <= 0 || iters <= 0 || warmup < 0 || sgemm_n <= 0 || bucket < 0 ||
        max_pred < 0 || peak_tflops < 0 || max_mem_gib < 0) {
        err_set(&err, "--num-layers, --seq-length, --micro-batch-size, --iters and --sgemm-size must be positive, "
                "--warmup, --peak-tflops and --max-memory-gib not negative");
        goto fail_early;
    }
    if (dropout >= 1.0f) {
        err_set(&err, "--dropout must be in [0, 1) (got %g)", dropout);
        goto fail_early;
    }
    b.T = seq > 0 ? seq : b.is_bert ? 128 : 256;
    if (b.is_bert) {
        bert_config_t *c = &b.bcfg;
        if (layers) c->num_layers = layers;
        c->seq_length = b.T;
        if (c->max_position_embeddings < b.T) c->max_position_embeddings = b.T;
        b.M = max_pred > 0 ? max_pred : (int)ceil(0.15 * b.T);
        c->max_predictions_per_seq = b.M;
        if (dropout >= 0) c->hidden_dropout = c->attention_dropout = dropout;
        if (b.M > b.T - 1) {
            err_set(&err, "--max-predictions-per-seq %d must be below --seq-length %d", b.M, b.T);
            goto fail_early;
        }
    } else {
        gpt_config_t *c = &b.gcfg;
        if (layers) c->num_layers = layers;
        c->seq_length = b.T;
        if (c->max_position_embeddings < b.T) c->max_position_embeddings = b.T;
        if (dropout >= 0) c->hidden_dropout = c->attention_dropout = dropout;
    }
    if (peak_only) {
        backend_t *be = backend_by_name(device, &err);
        if (!be) goto fail_early;
        int cpu = be->device == DEVICE_CPU;
        double gf = cpu ? sgemm_peak(sgemm_n, 5) : matmul_op_peak(be, sgemm_n, 10);
        if (json)
            printf("{\"tool\": \"megac\", \"version\": \"%s\", \"kind\": \"peak\", \"precision\": \"fp32\", "
                   "\"tf32\": false, \"device\": \"%s\", \"source\": \"%s\", \"size\": %d, \"tflops\": %.6g, "
                   "\"status\": \"%s\"}\n", MEGAC_VERSION, be->name, cpu ? "OpenBLAS sgemm" : "fp32 matmul op",
                   sgemm_n, gf / 1e3, gf > 0 ? "ok" : "error");
        else
            printf("megac bench: %s peak %.2f GFLOP/s (%d^3, device %s)\n", cpu ? "OpenBLAS sgemm" : "fp32 matmul op",
                   gf, sgemm_n, be->name);
        return gf > 0 ? 0 : 1;
    }
    if (parallel_init(&argc, &argv, &err) != 0) goto fail_early;

    int failed = 0, rank = parallel_world_rank();
    grid_t g;
    memset(&g, 0, sizeof g);
    backend_t *be = backend_by_name(device, &err);
    if (!be || grid_create(&g, tp, be, &err) != 0) failed = 1;
    else if (b.is_bert ? bert_config_validate(&b.bcfg, tp, &err) : gpt_config_validate(&b.gcfg, tp, &err)) failed = 1;
    /* the largest micro-batch from --micro-batch-size down that fits (one try without --max-memory-gib) */
    for (b.B = mb; !failed && b.B >= 1; b.B--) {
        if (max_mem_gib > 0 && !b.is_bert && b.B > 1) {
            double need = (double)gpt_memory_bytes(&b.gcfg, b.B, b.T, tp) +
                          (b.train ? 2.0 * (double)gpt_param_count(&b.gcfg, tp) / tp * sizeof(float) : 0.0);
            if (need > max_mem_gib * 1073741824.0) {
                if (rank == 0)
                    fprintf(stderr, "megac bench: micro-batch %d needs %.2f GiB by the estimate, over "
                            "--max-memory-gib %g\n", b.B, need / 1073741824.0, max_mem_gib);
                continue;
            }
        }
        int bad = bench_create(&b, be, &g, zero1, bucket, &err) != 0;
        int first = parallel_first_failure(bad);
        if (first < 0) break;
        bench_free(&b);
        if (max_mem_gib <= 0 || b.B == 1) {
            failed = 1;
        } else if (rank == first) {
            fprintf(stderr, "megac bench: micro-batch %d does not fit (%s); trying %d\n", b.B, err.msg, b.B - 1);
        }
        if (failed) break;
    }
    int first = parallel_first_failure(failed);
    if (first >= 0) {
        if (rank == first) fprintf(stderr, "megac bench: error: %s\n", err.msg);
        if (rank == first && json) json_error(model, b.train, device, mb, err.msg);
        bench_free(&b);
        grid_destroy(&g);
        parallel_finalize();
        return 1;
    }

    double *times = malloc(sizeof(double) * iters), comm = 0.0;
    int rc = times ? 0 : -1;
    for (int s = 0; rc == 0 && s < warmup + iters; s++) {
        double t0 = trainer_now(), c0 = comm_seconds(&g);
        rc = bench_step(&b, &g, (uint32_t)s, &err);
        if (rc == 0 && !b.train) rc = be->sync(be, &err);
        if (s >= warmup) times[s - warmup] = trainer_now() - t0, comm += comm_seconds(&g) - c0;
    }
    double flops = bench_flops(&b) * g.dp_size;
    bench_free(&b);
    if (rc != 0) {
        fprintf(stderr, "megac bench: rank %d: error: %s\n", rank, times ? err.msg : "out of host memory");
        if (json) json_error(model, b.train, device, b.B, times ? err.msg : "out of host memory");
        if (g.world_size > 1) parallel_abort(1);
        free(times);
        grid_destroy(&g);
        parallel_finalize();
        return 1;
    }
    double mean = 0.0;
    for (int i = 0; i < iters; i++) mean += times[i] / iters;
    qsort(times, (size_t)iters, sizeof(double), cmp_double);
    double median = iters % 2 ? times[iters / 2] : 0.5 * (times[iters / 2 - 1] + times[iters / 2]), fastest = times[0];
    free(times);

    /* the peak under the same process layout: every rank at once, summed */
    double stats[3] = {comm / iters, median, 0};
    const char *peak_source = "given";
    comm_barrier(g.world, &err);
    if (peak_tflops > 0) {
        stats[2] = peak_tflops * 1e3; /* per rank's device */
    } else if (be->device == DEVICE_CPU) {
        stats[2] = sgemm_peak(sgemm_n, 5), peak_source = "OpenBLAS sgemm";
    } else {
        stats[2] = matmul_op_peak(be, sgemm_n, 10), peak_source = "fp32 matmul op";
    }
    comm_allreduce_f64(g.world, stats, 3, COMM_SUM, &err);
    double comm_mean = stats[0] / g.world_size, step = stats[1] / g.world_size, peak = stats[2];
    double tokens = (double)b.B * b.T * g.dp_size, gflops = flops / step / 1e9;
    int L = b.is_bert ? b.bcfg.num_layers : b.gcfg.num_layers, C = b.is_bert ? b.bcfg.hidden_size : b.gcfg.hidden_size;
    int NH = b.is_bert ? b.bcfg.num_attention_heads : b.gcfg.num_attention_heads;
    int V = b.is_bert ? bert_padded_vocab(&b.bcfg, tp) : gpt_padded_vocab(&b.gcfg, tp);
    int64_t P = b.is_bert ? bert_param_count(&b.bcfg, 1) : gpt_param_count(&b.gcfg, 1);
    float drop = b.is_bert ? b.bcfg.hidden_dropout : b.gcfg.hidden_dropout;
    if (rank == 0 && json) {
        printf("{\"tool\": \"megac\", \"version\": \"%s\", \"model\": \"%s\", \"kind\": \"%s\", \"precision\": \"fp32\", "
               "\"mode\": \"megac\", \"device\": \"%s\", \"ranks\": %d, \"threads\": %d, \"tp\": %d, \"dp\": %d, "
               "\"layers\": %d, \"hidden\": %d, \"heads\": %d, \"seq\": %d, \"vocab_padded\": %d, \"params\": %lld, "
               "\"dropout\": %g, \"micro_batch\": %d, \"tokens_per_step\": %.0f, \"step_ms\": %.6g, "
               "\"step_ms_mean\": %.6g, \"tokens_per_s\": %.6g, \"seqs_per_s\": %.6g, "
               "\"model_flops_per_step\": %.0f, \"tflops\": %.6g, \"peak_tflops\": %.6g, \"peak_source\": \"%s\", "
               "\"mfu\": %.6g, \"comm_wait\": %.4g, \"iters\": %d, \"warmup\": %d",
               MEGAC_VERSION, model, b.train ? "train" : "infer", be->name, g.world_size, omp_get_max_threads(),
               g.tp_size, g.dp_size, L, C, NH, b.T, V, (long long)P, drop, b.B, tokens, step * 1e3, mean * 1e3,
               tokens / step, b.B * g.dp_size / step, flops, gflops / 1e3, peak / 1e3, peak_source,
               peak > 0 ? gflops / peak : 0.0, step > 0 ? comm_mean / step : 0.0, iters, warmup);
        if (!b.train) printf(", \"latency_ms\": %.6g, \"latency_ms_mean\": %.6g, \"latency_ms_min\": %.6g", step * 1e3,
                             mean * 1e3, fastest * 1e3);
        printf(", \"status\": \"ok\"}\n");
    } else if (rank == 0) {
        printf("megac bench: %s %s, device %s, %d rank(s) x %d thread(s)\n", model,
               b.train ? "training step (forward, backward, gradient reduction, AdamW)" : "forward pass",
               be->name, g.world_size, omp_get_max_threads());
        printf("shape: %d layers, hidden %d, %d heads, vocab padded to %d, seq %d, micro-batch %d per rank; "
               "TP %d x DP %d%s\n", L, C, NH, V, b.T, b.B, g.tp_size, g.dp_size, zero1 ? " (ZeRO-1)" : "");
        printf("model FLOPs per step (see tools/bench.c) = %.1f GFLOP; peak: %s\n\n", flops / 1e9, peak_source);
        printf("| TP | DP | step (ms) | tokens/s | comm wait | model GFLOP/s | peak GFLOP/s | ratio (model / peak) |\n");
        printf("|----|----|-----------|----------|-----------|---------------|--------------|----------------------|\n");
        printf("| %2d | %2d | %9.1f | %8.1f | %8.1f%% | %13.2f | %12.2f | %20.3f |\n", g.tp_size, g.dp_size,
               step * 1e3, tokens / step, 100.0 * comm_mean / step, gflops, peak, peak > 0 ? gflops / peak : 0.0);
    }
    grid_destroy(&g);
    parallel_finalize();
    return 0;
fail_early:
    fprintf(stderr, "megac bench: error: %s\n", err.msg);
    return 1;
}
