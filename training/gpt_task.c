/* gpt_task.c — GPT in the training job (job.h): token windows from gpt_data.h
 * as the model's batches (targets: the window shifted by one), the checkpoint
 * functions and the start-up banner. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../models/flops.h"
#include "../models/gpt.h"
#include "gpt_data.h"
#include "job.h"

#define EVAL_REPEAT_MAX 1000

typedef struct gpt_task_data {
    gpt_data_t data;
    int *buf, *tokens, *targets; /* host batch staging */
    gpt_batch_t batch;
} gpt_task_data_t;

static int check(const void *task_opts, err_t *err) {
    if (!((const gpt_data_opts_t *)task_opts)->data_path)
        return err_set(err, "--data-path is required (an indexed dataset prefix, or a text file with --tokenizer-type Byte)");
    return 0;
}

static int data_open(train_job_t *j, err_t *err) {
    const train_common_t *c = j->o;
    int T = j->shape.seq_length;
    gpt_task_data_t *d = calloc(1, sizeof *d);
    if (!d) return err_set(err, "out of host memory");
    j->data = d;
    gpt_data_opts_t dopts = *(const gpt_data_opts_t *)j->task_opts;
    dopts.train_iters = c->train_iters, dopts.global_batch = j->global_batch;
    dopts.eval_interval = c->eval_interval, dopts.eval_iters = c->eval_iters;
    dopts.progress = j->rank == 0 ? stderr : NULL; /* index builds' progress */
    if (gpt_data_open(&d->data, &dopts, T, (uint64_t)c->seed, err) != 0) return -1;
    if (c->eval_iters > 0 && gpt_data_num_samples(&d->data, SPLIT_VALID) == 0)
        return err_set(err, "--data-path %s: the validation split (--split %s) is shorter than one sample of "
                       "%d tokens; use a larger file, another --split, or --eval-iters 0",
                       dopts.data_path, c->split, T + 1);
    /* a text file's validation windows repeat without end: a validation reading each
     * more than EVAL_REPEAT_MAX times is a mistyped --eval-iters, not a measurement */
    int64_t windows = gpt_data_num_samples(&d->data, SPLIT_VALID), reads = (int64_t)c->eval_iters * j->global_batch;
    if (!d->data.indexed && reads > EVAL_REPEAT_MAX * windows)
        return err_set(err, "--eval-iters %d: one validation would read %lld samples (x global batch %d), each of the "
                       "%lld validation windows of %s more than %d times; use --eval-iters %lld or less",
                       c->eval_iters, (long long)reads, j->global_batch, (long long)windows, dopts.data_path,
                       EVAL_REPEAT_MAX, (long long)(EVAL_REPEAT_MAX * windows / j->global_batch));
    size_t BT = (size_t)j->micro_batch * T;
    d->buf = malloc(sizeof(int) * (T + 1));
    d->tokens = malloc(sizeof(int) * BT);
    d->targets = malloc(sizeof(int) * BT);
    if (!d->buf || !d->tokens || !d->targets) return err_set(err, "out of host memory for the batch buffers");
    d->batch = (gpt_batch_t){d->tokens, d->targets, NULL, j->micro_batch, T};
    return 0;
}

static void data_close(train_job_t *j) {
    gpt_task_data_t *d = j->data;
    gpt_data_close(&d->data);
    free(d->buf), free(d->tokens), free(d->targets);
    free(d);
    j->data = NULL;
}

static int batch(train_job_t *j, int train, int64_t first, const void **out, void **detail, err_t *err) {
    gpt_task_data_t *d = j->data;
    int T = j->shape.seq_length;
    for (int b = 0; b < j->micro_batch; b++) {
        if (gpt_data_sample(&d->data, train ? SPLIT_TRAIN : SPLIT_VALID, first + b, d->buf, err) != 0) return -1;
        memcpy(d->tokens + (size_t)b * T, d->buf, sizeof(int) * T);
        memcpy(d->targets + (size_t)b * T, d->buf + 1, sizeof(int) * T);
    }
    *out = &d->batch, *detail = NULL;
    return 0;
}

static void banner(const train_job_t *j) {
    const gpt_config_t *cfg = j->cfg;
    const gpt_task_data_t *d = j->data;
    const train_common_t *c = j->o;
    const grid_t *g = &j->base.grid;
    printf("megac train gpt: %lld parameters, %d layers, hidden %d, %d heads, seq %d, vocab %d, optimizer %s, "
           "device %s\n", (long long)gpt_param_count(cfg, g->tp_size), cfg->num_layers, cfg->hidden_size,
           cfg->num_attention_heads, cfg->seq_length, cfg->vocab_size, c->optimizer, j->base.be->name);
    printf("parallel: world %d = tensor-parallel %d x data-parallel %d%s; parameters per rank: %zu\n",
           g->world_size, g->tp_size, g->dp_size, c->distributed_optimizer ? ", distributed optimizer (ZeRO-1)" : "",
           ((const gpt_model_t *)j->model)->store.numel);
    const char *path = ((const gpt_data_opts_t *)j->task_opts)->data_path;
    long long train = (long long)gpt_data_num_samples(&d->data, SPLIT_TRAIN);
    if (d->data.indexed) /* the samples built for this run's iterations */
        printf("data: %s, %lld training samples of %d tokens", path, train, j->shape.seq_length + 1);
    else
        printf("data: %s, %lld tokens (train %lld windows)", path, (long long)d->data.tokens, train);
    printf(", micro-batch %d, global batch %d, %lld iterations\n", c->micro_batch_size, j->global_batch, c->train_iters);
}

static void ckpt_params(const void *m, ckpt_param_t *params) { gpt_ckpt_params(m, params); }

static double flops_per_iteration(const train_job_t *j) {
    return gpt_flops_per_iteration(j->cfg, j->global_batch, j->shape.seq_length, 1);
}

const train_task_t train_task_gpt = {
    .model = &gpt_model_ops, .ckpt = &model_ckpt_gpt, .ckpt_params = ckpt_params, .check = check,
    .data_open = data_open, .data_close = data_close, .batch = batch, .banner = banner,
    .flops_per_iteration = flops_per_iteration,
};
