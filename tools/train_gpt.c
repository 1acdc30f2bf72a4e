/* train_gpt.c — `megac train gpt`: flags, validation, model + data + optimizer,
 * and the trainer loop. Everything is checked before anything large is allocated. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../checkpoints/weights_file.h"
#include "../data/text_dataset.h"
#include "../framework/backend.h"
#include "../framework/optim.h"
#include "../framework/trainer.h"
#include "../models/gpt.h"
#include "args.h"
#include "commands.h"

typedef struct train_opts {
    const char *preset, *data_path, *split, *tokenizer_type, *lr_decay_style, *metrics_file;
    const char *save, *device;
    int micro_batch_size, global_batch_size, log_interval, eval_interval, eval_iters;
    long long train_iters, lr_warmup_iters, lr_decay_iters, seed;
    float lr, min_lr, weight_decay, clip_grad, beta1, beta2, eps;
    int print_params;
} train_opts_t;

typedef struct gpt_job {
    gpt_model_t model;
    text_dataset_t data;
    int micro_batch, global_batch, num_micro;
    int *buf, *tokens, *targets; /* host batch staging */
} gpt_job_t;

static void fill_batch(gpt_job_t *j, int split, int64_t first_sample) {
    int T = j->model.T;
    for (int b = 0; b < j->micro_batch; b++) {
        text_dataset_sample(&j->data, split, first_sample + b, j->buf);
        memcpy(j->tokens + (size_t)b * T, j->buf, sizeof(int) * T);
        memcpy(j->targets + (size_t)b * T, j->buf + 1, sizeof(int) * T);
    }
}

static int job_train_micro(void *self, int64_t it, int micro, float grad_scale, double *loss, err_t *err) {
    gpt_job_t *j = self;
    int64_t first = (it - 1) * j->global_batch + (int64_t)micro * j->micro_batch;
    uint32_t step = (uint32_t)((it - 1) * j->num_micro + micro);
    fill_batch(j, SPLIT_TRAIN, first);
    if (gpt_forward(&j->model, j->tokens, j->targets, NULL, j->micro_batch, j->model.T, 1, step, loss,
                    err) != 0)
        return -1;
    gpt_backward(&j->model, grad_scale, step);
    return 0;
}

static int job_eval_micro(void *self, int64_t k, double *loss, err_t *err) {
    gpt_job_t *j = self;
    fill_batch(j, SPLIT_VALID, k * j->micro_batch);
    return gpt_forward(&j->model, j->tokens, j->targets, NULL, j->micro_batch, j->model.T, 0, 0, loss, err);
}

static void job_zero_grads(void *self) { gpt_zero_grads(&((gpt_job_t *)self)->model); }

static void print_params(const gpt_config_t *c, int micro_batch) {
    int64_t total = gpt_param_count(c, 1);
    int64_t C = c->hidden_size;
    int64_t emb = (int64_t)gpt_padded_vocab(c, 1) * C + (int64_t)c->max_position_embeddings * C;
    printf("model: %d layers, hidden %d, %d heads, FFN %d, sequence %d, vocabulary %d (padded %d)\n",
           c->num_layers, c->hidden_size, c->num_attention_heads,
           c->ffn_hidden_size > 0 ? c->ffn_hidden_size : 4 * c->hidden_size, c->seq_length, c->vocab_size,
           gpt_padded_vocab(c, 1));
    printf("parameters: %lld (%.3f B); embeddings %lld, transformer layers %lld\n", (long long)total,
           total / 1e9, (long long)emb, (long long)(total - emb));
    double mem = (double)gpt_memory_bytes(c, micro_batch, c->seq_length, 1) +
                 2.0 * (double)total * sizeof(float);
    printf("fp32 training memory at micro-batch %d (weights, grads, Adam moments, activations): %.2f GiB\n",
           micro_batch, mem / (1024.0 * 1024.0 * 1024.0));
}

int cmd_train_gpt(int argc, char **argv) {
    gpt_config_t over;
    gpt_config_defaults(&over);
    train_opts_t o = {.data_path = NULL, .split = "969,30,1", .tokenizer_type = "Byte",
                      .lr_decay_style = "linear", .device = "cpu",
                      .micro_batch_size = 4, .global_batch_size = 0, .log_interval = 100,
                      .eval_interval = 1000, .eval_iters = 100, .train_iters = 0,
                      .lr_warmup_iters = 0, .lr_decay_iters = 0, .seed = 1234, .lr = 0.0f,
                      .min_lr = 0.0f, .weight_decay = 0.01f, .clip_grad = 1.0f, .beta1 = 0.9f,
                      .beta2 = 0.999f, .eps = 1e-8f};
    arg_spec_t spec[] = {
        {"preset", ARG_STR, &o.preset, "model preset (gpt2-124m gpt2-345m gpt-1.2b gpt-2.5b gpt-4.2b gpt-8.3b)", 0},
        {"num-layers", ARG_INT, &over.num_layers, "transformer layers", 0},
        {"hidden-size", ARG_INT, &over.hidden_size, "hidden size", 0},
        {"num-attention-heads", ARG_INT, &over.num_attention_heads, "attention heads", 0},
        {"ffn-hidden-size", ARG_INT, &over.ffn_hidden_size, "MLP hidden size (default 4 x hidden)", 0},
        {"seq-length", ARG_INT, &over.seq_length, "sequence length", 0},
        {"max-position-embeddings", ARG_INT, &over.max_position_embeddings, "position table size (>= seq-length)", 0},
        {"make-vocab-size-divisible-by", ARG_INT, &over.make_vocab_size_divisible_by, "pad the vocabulary to a multiple of this (128)", 0},
        {"hidden-dropout", ARG_FLOAT, &over.hidden_dropout, "dropout after embeddings and sublayers (0.1)", 0},
        {"attention-dropout", ARG_FLOAT, &over.attention_dropout, "dropout of attention probabilities (0.1)", 0},
        {"layernorm-epsilon", ARG_FLOAT, &over.layernorm_epsilon, "LayerNorm epsilon (1e-5)", 0},
        {"init-method-std", ARG_FLOAT, &over.init_method_std, "weight init standard deviation (0.02)", 0},
        {"micro-batch-size", ARG_INT, &o.micro_batch_size, "sequences per micro-batch (4)", 0},
        {"global-batch-size", ARG_INT, &o.global_batch_size, "sequences per iteration (default: micro-batch size)", 0},
        {"train-iters", ARG_I64, &o.train_iters, "training iterations (required)", 0},
        {"lr", ARG_FLOAT, &o.lr, "peak learning rate (required)", 0},
        {"min-lr", ARG_FLOAT, &o.min_lr, "learning rate at the end of decay (0)", 0},
        {"lr-decay-style", ARG_STR, &o.lr_decay_style, "constant | linear | cosine (linear)", 0},
        {"lr-warmup-iters", ARG_I64, &o.lr_warmup_iters, "linear warmup iterations (0)", 0},
        {"lr-decay-iters", ARG_I64, &o.lr_decay_iters, "decay over this many iterations (default: train-iters)", 0},
        {"weight-decay", ARG_FLOAT, &o.weight_decay, "decoupled weight decay, not on biases/LayerNorm (0.01)", 0},
        {"clip-grad", ARG_FLOAT, &o.clip_grad, "global gradient-norm clipping, 0 = off (1.0)", 0},
        {"adam-beta1", ARG_FLOAT, &o.beta1, "Adam beta1 (0.9)", 0},
        {"adam-beta2", ARG_FLOAT, &o.beta2, "Adam beta2 (0.999)", 0},
        {"adam-eps", ARG_FLOAT, &o.eps, "Adam epsilon (1e-8)", 0},
        {"seed", ARG_I64, &o.seed, "random seed for init, dropout and data order (1234)", 0},
        {"data-path", ARG_STR, &o.data_path, "training text file (required)", 0},
        {"split", ARG_STR, &o.split, "train,valid,test weights (969,30,1)", 0},
        {"tokenizer-type", ARG_STR, &o.tokenizer_type, "Byte (256-symbol byte-level vocabulary)", 0},
        {"log-interval", ARG_INT, &o.log_interval, "iterations between log lines (100)", 0},
        {"eval-interval", ARG_INT, &o.eval_interval, "iterations between validations (1000)", 0},
        {"eval-iters", ARG_INT, &o.eval_iters, "iterations (global batches) per validation, 0 = none (100)", 0},
        {"metrics-file", ARG_STR, &o.metrics_file, "write JSON Lines metrics here", 0},
        {"save", ARG_STR, &o.save, "write the trained weights to this file at the end", 0},
        {"device", ARG_STR, &o.device, "cpu | cuda (cpu)", 0},
        {"print-params", ARG_FLAG, &o.print_params, "print the parameter count and memory, allocate nothing", 0},
    };
    int nspec = (int)(sizeof spec / sizeof spec[0]);
    err_t err = {{0}};
    int help;
    if (args_parse(spec, nspec, argc, argv, "megac train gpt", &help, &err) != 0) goto fail;
    if (help) {
        args_print_help(stdout, "megac train gpt --data-path FILE --train-iters N --lr X [flags]", spec, nspec);
        return 0;
    }
    /* configuration: preset (or Megatron defaults), then every flag given */
    gpt_config_t cfg;
    gpt_config_defaults(&cfg);
    if (o.preset && gpt_config_preset(&cfg, o.preset, &err) != 0) goto fail;
    for (int k = 0; k < nspec; k++) {
        char *dst = spec[k].dst, *base = (char *)&over;
        if (!spec[k].seen || dst < base || dst >= base + sizeof over) continue;
        memcpy((char *)&cfg + (dst - base), dst, spec[k].kind == ARG_INT ? sizeof(int) : sizeof(float));
    }
    if (!args_seen(spec, nspec, "max-position-embeddings") && cfg.max_position_embeddings < cfg.seq_length)
        cfg.max_position_embeddings = cfg.seq_length;
    if (strcmp(o.tokenizer_type, "Byte") != 0) {
        err_set(&err, "--tokenizer-type: unknown tokenizer '%s' (supported: Byte)", o.tokenizer_type);
        goto fail;
    }
    /* the vocabulary comes from the tokenizer; --print-params alone keeps GPT-2's */
    if (!o.print_params || args_seen(spec, nspec, "tokenizer-type")) cfg.vocab_size = BYTE_VOCAB_SIZE;
    if (gpt_config_validate(&cfg, 1, &err) != 0) goto fail;
    if (o.micro_batch_size <= 0) {
        err_set(&err, "--micro-batch-size must be positive (got %d)", o.micro_batch_size);
        goto fail;
    }
    if (o.global_batch_size == 0) o.global_batch_size = o.micro_batch_size;
    if (o.global_batch_size <= 0 || o.global_batch_size % o.micro_batch_size != 0) {
        err_set(&err, "--global-batch-size %d must be a positive multiple of --micro-batch-size %d",
                o.global_batch_size, o.micro_batch_size);
        goto fail;
    }
    if (o.print_params) {
        print_params(&cfg, o.micro_batch_size);
        return 0;
    }
    if (o.train_iters <= 0) {
        err_set(&err, "--train-iters must be positive (got %lld)", o.train_iters);
        goto fail;
    }
    if (!(o.lr > 0.0f)) {
        err_set(&err, "--lr must be positive (got %g)", o.lr);
        goto fail;
    }
    if (o.min_lr < 0.0f || o.min_lr > o.lr) {
        err_set(&err, "--min-lr %g must be in [0, --lr %g]", o.min_lr, o.lr);
        goto fail;
    }
    lr_schedule_t sched = {o.lr, o.min_lr, o.lr_warmup_iters,
                           o.lr_decay_iters > 0 ? o.lr_decay_iters : o.train_iters, LR_DECAY_LINEAR};
    if (lr_decay_style_parse(o.lr_decay_style, &sched.style) != 0) {
        err_set(&err, "--lr-decay-style: unknown style '%s' (constant, linear or cosine)", o.lr_decay_style);
        goto fail;
    }
    if (o.lr_warmup_iters < 0 || o.lr_decay_iters < 0 || (o.lr_warmup_iters > sched.decay_iters)) {
        err_set(&err, "--lr-warmup-iters %lld must be in [0, decay iterations %lld]", o.lr_warmup_iters,
                (long long)sched.decay_iters);
        goto fail;
    }
    if (!(o.beta1 >= 0.0f && o.beta1 < 1.0f) || !(o.beta2 >= 0.0f && o.beta2 < 1.0f) || !(o.eps > 0.0f)) {
        err_set(&err, "--adam-beta1/--adam-beta2 must be in [0,1) and --adam-eps positive");
        goto fail;
    }
    if (o.weight_decay < 0.0f || o.clip_grad < 0.0f) {
        err_set(&err, "--weight-decay and --clip-grad must not be negative");
        goto fail;
    }
    if (o.log_interval < 0 || o.eval_interval < 0 || o.eval_iters < 0) {
        err_set(&err, "--log-interval, --eval-interval and --eval-iters must not be negative");
        goto fail;
    }
    if (!o.data_path) {
        err_set(&err, "--data-path is required (a text file to train on)");
        goto fail;
    }
    backend_t *be = backend_by_name(o.device, &err);
    if (!be) goto fail;

    /* data first: a bad file fails before the model is allocated */
    gpt_job_t job;
    memset(&job, 0, sizeof job);
    if (text_dataset_open(&job.data, o.data_path, cfg.seq_length, o.split, (uint64_t)o.seed, &err) != 0)
        goto fail;
    if (o.eval_iters > 0 && text_dataset_num_windows(&job.data, SPLIT_VALID) == 0) {
        err_set(&err, "--data-path %s: the validation split (--split %s) is shorter than one sample of "
                "%d tokens; use a larger file, another --split, or --eval-iters 0",
                o.data_path, o.split, cfg.seq_length + 1);
        text_dataset_close(&job.data);
        goto fail;
    }
    double need = (double)gpt_memory_bytes(&cfg, o.micro_batch_size, cfg.seq_length, 1) +
                  2.0 * (double)gpt_param_count(&cfg, 1) * sizeof(float);
    double have = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGE_SIZE);
    if (be->device == DEVICE_CPU && have > 0 && need > have) {
        err_set(&err, "this configuration needs %.1f GiB for training but the machine has %.1f GiB; "
                "reduce --micro-batch-size, --seq-length or the model size",
                need / 1073741824.0, have / 1073741824.0);
        text_dataset_close(&job.data);
        goto fail;
    }
    job.micro_batch = o.micro_batch_size;
    job.global_batch = o.global_batch_size;
    job.num_micro = o.global_batch_size / o.micro_batch_size;
    size_t BT = (size_t)o.micro_batch_size * cfg.seq_length;
    job.buf = malloc(sizeof(int) * (cfg.seq_length + 1));
    job.tokens = malloc(sizeof(int) * BT);
    job.targets = malloc(sizeof(int) * BT);
    optimizer_t opt;
    memset(&opt, 0, sizeof opt);
    int rc = 1;
    if (!job.buf || !job.tokens || !job.targets) {
        err_set(&err, "out of host memory for the batch buffers");
        goto cleanup;
    }
    if (gpt_create(&job.model, &cfg, be, o.micro_batch_size, cfg.seq_length, 0, 1, &err) != 0) goto cleanup;
    gpt_init_weights(&job.model, (uint64_t)o.seed);
    adamw_config_t acfg = {o.beta1, o.beta2, o.eps, o.weight_decay};
    if (optim_create(&opt, be, &acfg, job.model.params, job.model.grads, job.model.num_params, &err) != 0)
        goto cleanup;

    printf("megac train gpt: %lld parameters, %d layers, hidden %d, %d heads, seq %d, vocab %d, device %s\n",
           (long long)gpt_param_count(&cfg, 1), cfg.num_layers, cfg.hidden_size, cfg.num_attention_heads,
           cfg.seq_length, cfg.vocab_size, be->name);
    printf("data: %s, %lld tokens (train %lld windows), micro-batch %d, global batch %d, %lld iterations\n",
           o.data_path, (long long)job.data.nbytes, (long long)text_dataset_num_windows(&job.data, SPLIT_TRAIN),
           o.micro_batch_size, o.global_batch_size, o.train_iters);
    fflush(stdout);
    trainer_config_t tc = {o.train_iters, o.micro_batch_size, o.global_batch_size, cfg.seq_length,
                           o.log_interval, o.eval_interval, o.eval_iters, sched, o.clip_grad,
                           o.metrics_file, stdout, NULL};
    trainer_hooks_t hooks = {&job, job_train_micro, job_eval_micro, job_zero_grads};
    trainer_result_t res;
    if (trainer_run(&tc, &hooks, &opt, &res, &err) != 0) goto cleanup;
    printf("training done: %lld iterations in %.1f s, final loss %.4f\n", o.train_iters, res.seconds, res.last_loss);
    if (o.save) {
        char text[1024];
        gpt_config_to_text(&cfg, text, sizeof text);
        if (wfile_save(o.save, text, be, job.model.params, job.model.num_params, &err) != 0) goto cleanup;
        printf("saved weights to %s\n", o.save);
    }
    rc = 0;
cleanup:
    optim_destroy(&opt);
    if (job.model.params) gpt_destroy(&job.model);
    text_dataset_close(&job.data);
    free(job.buf), free(job.tokens), free(job.targets);
    if (rc == 0) return 0;
fail:
    fprintf(stderr, "megac train gpt: error: %s\n", err.msg);
    return 1;
}
