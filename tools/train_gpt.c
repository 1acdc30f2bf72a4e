/* train_gpt.c — `megac train gpt`: flags, validation, the process grid, model +
 * data + (distributed) optimizer, and the trainer loop.
 *
 * Launch with mpirun/srun for tensor and data parallelism; one process needs no
 * launcher. Every check runs before anything large is allocated; a start-up
 * failure on any rank is reported once (by the lowest failing rank) and every
 * rank exits 1; a failure during training aborts the whole job at once. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../checkpoints/weights_file.h"
#include "../framework/backend.h"
#include "../framework/trainer.h"
#include "../models/gpt.h"
#include "../parallel/dist_optim.h"
#include "../parallel/grid.h"
#include "../parallel/tp_gather.h"
#include "args.h"
#include "commands.h"
#include "gpt_data.h"

typedef struct train_opts {
    const char *preset, *data_path, *split, *tokenizer_type, *lr_decay_style, *metrics_file;
    const char *save, *device, *vocab_file, *merge_file, *tiktoken_file;
    int micro_batch_size, global_batch_size, log_interval, eval_interval, eval_iters;
    int tensor_parallel, distributed_optimizer;
    long long train_iters, lr_warmup_iters, lr_decay_iters, seed, bucket_size;
    float lr, min_lr, weight_decay, clip_grad, beta1, beta2, eps;
    int print_params;
} train_opts_t;

typedef struct gpt_job {
    gpt_config_t cfg;
    backend_t *be;
    grid_t grid;
    gpt_model_t model;
    dist_optim_t opt;
    gpt_data_t data;
    int micro_batch, global_batch, num_micro; /* num_micro: per DP rank */
    int *buf, *tokens, *targets;              /* host batch staging */
} gpt_job_t;

/* Rank d of DP reads, for its micro-batch k, the samples
 * first + k*micro*DP + d*micro + [0, micro) (Megatron's pretraining sampler). */
static int fill_batch(gpt_job_t *j, int split, int64_t first_sample, err_t *err) {
    int T = j->model.T;
    for (int b = 0; b < j->micro_batch; b++) {
        if (gpt_data_sample(&j->data, split, first_sample + b, j->buf, err) != 0) return -1;
        memcpy(j->tokens + (size_t)b * T, j->buf, sizeof(int) * T);
        memcpy(j->targets + (size_t)b * T, j->buf + 1, sizeof(int) * T);
    }
    return 0;
}

static int job_train_micro(void *self, int64_t it, int micro, int last, float grad_scale, double *loss,
                           err_t *err) {
    gpt_job_t *j = self;
    int dp = j->grid.dp_size, d = j->grid.dp_rank;
    int64_t first = (it - 1) * j->global_batch + ((int64_t)micro * dp + d) * j->micro_batch;
    /* dropout masks follow the global micro-batch, so any DP size drops the same elements */
    uint32_t step = (uint32_t)((it - 1) * j->num_micro * dp + (int64_t)micro * dp + d);
    if (fill_batch(j, SPLIT_TRAIN, first, err) != 0) return -1;
    if (gpt_forward(&j->model, j->tokens, j->targets, NULL, j->micro_batch, j->model.T, 1, step, loss, err) != 0)
        return -1;
    if (last) dist_optim_arm(&j->opt);
    j->model.grad_ready = last ? dist_optim_grad_ready : NULL;
    return gpt_backward(&j->model, grad_scale, step, err);
}

static int job_eval_micro(void *self, int64_t k, double *loss, err_t *err) {
    gpt_job_t *j = self;
    int dp = j->grid.dp_size, d = j->grid.dp_rank;
    if (fill_batch(j, SPLIT_VALID, (k * dp + d) * j->micro_batch, err) != 0) return -1;
    return gpt_forward(&j->model, j->tokens, j->targets, NULL, j->micro_batch, j->model.T, 0, 0, loss, err);
}

static void job_zero_grads(void *self) { gpt_zero_grads(&((gpt_job_t *)self)->model); }

static int job_finish_grads(void *self, double *norm, err_t *err) {
    return dist_optim_finish(&((gpt_job_t *)self)->opt, norm, err);
}

static int job_step(void *self, float lr, float scale, err_t *err) {
    gpt_job_t *j = self;
    if (dist_optim_step(&j->opt, lr, scale, err) != 0) return -1;
    return j->be->sync(j->be, err);
}

static int job_dp_mean(void *self, double *v, err_t *err) {
    gpt_job_t *j = self;
    if (j->grid.dp_size == 1) return 0;
    if (comm_allreduce_f64(j->grid.dp, v, 1, COMM_SUM, err) != 0) return -1;
    *v /= j->grid.dp_size;
    return 0;
}

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

/* Flag checks that need no process grid; identical on every rank. */
static int check_options(train_opts_t *o, gpt_config_t *cfg, lr_schedule_t *sched, err_t *err) {
    if (o->train_iters <= 0) return err_set(err, "--train-iters must be positive (got %lld)", o->train_iters);
    if (!(o->lr > 0.0f)) return err_set(err, "--lr must be positive (got %g)", o->lr);
    if (o->min_lr < 0.0f || o->min_lr > o->lr)
        return err_set(err, "--min-lr %g must be in [0, --lr %g]", o->min_lr, o->lr);
    *sched = (lr_schedule_t){o->lr, o->min_lr, o->lr_warmup_iters,
                             o->lr_decay_iters > 0 ? o->lr_decay_iters : o->train_iters, LR_DECAY_LINEAR};
    if (lr_decay_style_parse(o->lr_decay_style, &sched->style) != 0)
        return err_set(err, "--lr-decay-style: unknown style '%s' (constant, linear or cosine)", o->lr_decay_style);
    if (o->lr_warmup_iters < 0 || o->lr_decay_iters < 0 || o->lr_warmup_iters > sched->decay_iters)
        return err_set(err, "--lr-warmup-iters %lld must be in [0, decay iterations %lld]", o->lr_warmup_iters,
                       (long long)sched->decay_iters);
    if (!(o->beta1 >= 0.0f && o->beta1 < 1.0f) || !(o->beta2 >= 0.0f && o->beta2 < 1.0f) || !(o->eps > 0.0f))
        return err_set(err, "--adam-beta1/--adam-beta2 must be in [0,1) and --adam-eps positive");
    if (o->weight_decay < 0.0f || o->clip_grad < 0.0f)
        return err_set(err, "--weight-decay and --clip-grad must not be negative");
    if (o->log_interval < 0 || o->eval_interval < 0 || o->eval_iters < 0)
        return err_set(err, "--log-interval, --eval-interval and --eval-iters must not be negative");
    if (o->bucket_size < 0) return err_set(err, "--ddp-bucket-size must not be negative");
    if (!o->data_path) return err_set(err, "--data-path is required (an indexed dataset prefix, or a text file with --tokenizer-type Byte)");
    (void)cfg;
    return 0;
}

/* Everything before training: grid, data, model, optimizer. */
static int job_setup(gpt_job_t *j, train_opts_t *o, err_t *err) {
    gpt_config_t *cfg = &j->cfg;
    j->be = backend_by_name(o->device, err);
    if (!j->be) return -1;
    if (grid_create(&j->grid, o->tensor_parallel, j->be, err) != 0) return -1;
    grid_t *g = &j->grid;
    if (gpt_config_validate(cfg, g->tp_size, err) != 0) return -1;
    int per_iter = o->micro_batch_size * g->dp_size;
    if (o->global_batch_size == 0) o->global_batch_size = per_iter;
    if (o->global_batch_size <= 0 || o->global_batch_size % per_iter != 0)
        return err_set(err, "--global-batch-size %d must be a positive multiple of --micro-batch-size %d x "
                       "data-parallel size %d", o->global_batch_size, o->micro_batch_size, g->dp_size);
    gpt_data_opts_t dopts = {o->data_path, o->split, o->tokenizer_type, o->vocab_file, o->merge_file,
                             o->tiktoken_file, o->train_iters, o->global_batch_size, o->eval_interval, o->eval_iters};
    if (gpt_data_open(&j->data, &dopts, cfg->seq_length, (uint64_t)o->seed, err) != 0) return -1;
    if (o->eval_iters > 0 && gpt_data_num_samples(&j->data, SPLIT_VALID) == 0)
        return err_set(err, "--data-path %s: the validation split (--split %s) is shorter than one sample of "
                       "%d tokens; use a larger file, another --split, or --eval-iters 0",
                       o->data_path, o->split, cfg->seq_length + 1);
    double need = (double)gpt_memory_bytes(cfg, o->micro_batch_size, cfg->seq_length, g->tp_size) +
                  2.0 * (double)gpt_param_count(cfg, g->tp_size) / g->tp_size * sizeof(float);
    double have = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGE_SIZE);
    int local_ranks = parallel_node_size(); /* ranks sharing this machine's memory */
    if (j->be->device == DEVICE_CPU && have > 0 && need * local_ranks > have)
        return err_set(err, "this configuration needs %.1f GiB per rank (%d ranks) for training but the machine "
                       "has %.1f GiB; reduce --micro-batch-size, --seq-length or the model size",
                       need / 1073741824.0, local_ranks, have / 1073741824.0);
    j->micro_batch = o->micro_batch_size;
    j->global_batch = o->global_batch_size;
    j->num_micro = o->global_batch_size / per_iter;
    size_t BT = (size_t)o->micro_batch_size * cfg->seq_length;
    j->buf = malloc(sizeof(int) * (cfg->seq_length + 1));
    j->tokens = malloc(sizeof(int) * BT);
    j->targets = malloc(sizeof(int) * BT);
    if (!j->buf || !j->tokens || !j->targets) return err_set(err, "out of host memory for the batch buffers");
    gpt_parallel_t par = {g->tp, o->distributed_optimizer ? g->dp_size : 1};
    if (gpt_create(&j->model, cfg, j->be, o->micro_batch_size, cfg->seq_length, &par, err) != 0) return -1;
    gpt_init_weights(&j->model, (uint64_t)o->seed);
    j->model.grad_ready_ctx = &j->opt;
    adamw_config_t acfg = {o->beta1, o->beta2, o->eps, o->weight_decay, OPTIM_ADAM};
    return dist_optim_create(&j->opt, j->be, g, &acfg, j->model.params, j->model.grads, j->model.num_params,
                             j->model.param_block, j->model.grad_block, j->model.param_numel,
                             j->model.param_alloc, o->distributed_optimizer, (size_t)o->bucket_size, err);
}

static void job_teardown(gpt_job_t *j) {
    dist_optim_destroy(&j->opt);
    if (j->model.params) gpt_destroy(&j->model);
    gpt_data_close(&j->data);
    grid_destroy(&j->grid);
    free(j->buf), free(j->tokens), free(j->targets);
}

/* Gathers the TP shards; the first rank writes the global weights (the interim
 * single-file format, which megac generate loads at TP=1). */
static int save_weights(gpt_job_t *j, const char *path, err_t *err) {
    gpt_model_t *m = &j->model;
    tensor_t *global = calloc((size_t)m->num_params, sizeof(tensor_t));
    int rc = global ? 0 : err_set(err, "out of memory gathering weights");
    for (int k = 0; k < m->num_params && rc == 0; k++) {
        global[k] = m->params[k];
        for (int d = 0; d < global[k].ndim; d++) global[k].shape[d] = global[k].global_shape[d];
        global[k].split_dim = -1, global[k].split_offset = 0, global[k].device = DEVICE_CPU;
        global[k].data = malloc(tensor_nbytes(&global[k]));
        if (!global[k].data) rc = err_set(err, "out of memory gathering %s", global[k].name);
        else rc = tp_gather_tensor(j->grid.tp, j->be, &m->params[k], global[k].data, err);
        /* the file holds the vocabulary padded as for one rank (the rows beyond are
         * zero padding for this TP size), so any layout loads it */
        if (k == 0) global[k].shape[0] = gpt_padded_vocab(&j->cfg, 1);
    }
    if (rc == 0 && j->grid.world_rank == 0) {
        char text[1024];
        gpt_config_to_text(&j->cfg, text, sizeof text);
        rc = wfile_save(path, text, backend_cpu(), global, m->num_params, err);
    }
    for (int k = 0; global && k < m->num_params; k++) free(global[k].data);
    free(global);
    return rc;
}

int cmd_train_gpt(int argc, char **argv) {
    gpt_config_t over;
    gpt_config_defaults(&over);
    train_opts_t o = {.data_path = NULL, .split = "969,30,1", .tokenizer_type = "Byte",
                      .lr_decay_style = "linear", .device = "cpu",
                      .micro_batch_size = 4, .global_batch_size = 0, .log_interval = 100,
                      .eval_interval = 1000, .eval_iters = 100, .tensor_parallel = 1,
                      .train_iters = 0, .lr_warmup_iters = 0, .lr_decay_iters = 0, .seed = 1234,
                      .bucket_size = 0, .lr = 0.0f, .min_lr = 0.0f, .weight_decay = 0.01f,
                      .clip_grad = 1.0f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
    arg_spec_t spec[] = {
        {"preset", ARG_STR, &o.preset, "model preset (gpt2-124m gpt2-345m gpt-1.2b gpt-2.5b gpt-4.2b gpt-8.3b)", 0},
        {"num-layers", ARG_INT, &over.num_layers, "transformer layers", 0},
        {"hidden-size", ARG_INT, &over.hidden_size, "hidden size", 0},
        {"num-attention-heads", ARG_INT, &over.num_attention_heads, "attention heads", 0},
        {"ffn-hidden-size", ARG_INT, &over.ffn_hidden_size, "MLP hidden size (default 4 x hidden)", 0},
        {"seq-length", ARG_INT, &over.seq_length, "sequence length", 0},
        {"max-position-embeddings", ARG_INT, &over.max_position_embeddings, "position table size (>= seq-length)", 0},
        {"make-vocab-size-divisible-by", ARG_INT, &over.make_vocab_size_divisible_by, "pad the vocabulary to a multiple of this x TP (128)", 0},
        {"hidden-dropout", ARG_FLOAT, &over.hidden_dropout, "dropout after embeddings and sublayers (0.1)", 0},
        {"attention-dropout", ARG_FLOAT, &over.attention_dropout, "dropout of attention probabilities (0.1)", 0},
        {"layernorm-epsilon", ARG_FLOAT, &over.layernorm_epsilon, "LayerNorm epsilon (1e-5)", 0},
        {"init-method-std", ARG_FLOAT, &over.init_method_std, "weight init standard deviation (0.02)", 0},
        {"tensor-model-parallel-size", ARG_INT, &o.tensor_parallel, "ranks per tensor-parallel group (1)", 0},
        {"use-distributed-optimizer", ARG_FLAG, &o.distributed_optimizer, "ZeRO-1: shard Adam state over data-parallel ranks", 0},
        {"ddp-bucket-size", ARG_I64, &o.bucket_size, "elements per gradient all-reduce bucket (max(40M, 1M x DP))", 0},
        {"micro-batch-size", ARG_INT, &o.micro_batch_size, "sequences per micro-batch per rank (4)", 0},
        {"global-batch-size", ARG_INT, &o.global_batch_size, "sequences per iteration (default: micro-batch x DP)", 0},
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
        {"data-path", ARG_STRS, &o.data_path, "indexed dataset prefix, a blend \"W1 P1 W2 P2 ...\", or (Byte) a text file", 0},
        {"split", ARG_STR, &o.split, "train,valid,test weights (969,30,1)", 0},
        {"tokenizer-type", ARG_STR, &o.tokenizer_type, "Byte | GPT2BPETokenizer | BertWordPieceLowerCase | BertWordPieceCase (Byte)", 0},
        {"vocab-file", ARG_STR, &o.vocab_file, "tokenizer vocabulary (vocab.json / vocab.txt)", 0},
        {"merge-file", ARG_STR, &o.merge_file, "GPT-2 BPE merges.txt", 0},
        {"tiktoken-file", ARG_STR, &o.tiktoken_file, "GPT-2 BPE ranks in tiktoken's format (gpt2.tiktoken), instead of the two above", 0},
        {"log-interval", ARG_INT, &o.log_interval, "iterations between log lines (100)", 0},
        {"eval-interval", ARG_INT, &o.eval_interval, "iterations between validations (1000)", 0},
        {"eval-iters", ARG_INT, &o.eval_iters, "iterations (global batches) per validation, 0 = none (100)", 0},
        {"metrics-file", ARG_STR, &o.metrics_file, "write JSON Lines metrics here (rank 0)", 0},
        {"save", ARG_STR, &o.save, "write the trained (gathered) weights to this file at the end", 0},
        {"device", ARG_STR, &o.device, "cpu | cuda (cpu)", 0},
        {"print-params", ARG_FLAG, &o.print_params, "print the parameter count and memory, allocate nothing", 0},
    };
    int nspec = (int)(sizeof spec / sizeof spec[0]);
    err_t err = {{0}};
    int help, failed = 0;
    gpt_config_t cfg;
    lr_schedule_t sched;
    if (args_parse(spec, nspec, argc, argv, "megac train gpt", &help, &err) != 0) failed = 1;
    if (!failed && help) {
        args_print_help(stdout, "[mpirun -np N] megac train gpt --data-path FILE --train-iters N --lr X [flags]",
                        spec, nspec);
        return 0;
    }
    if (!failed) {
        /* configuration: preset (or Megatron defaults), then every flag given */
        gpt_config_defaults(&cfg);
        if (o.preset && gpt_config_preset(&cfg, o.preset, &err) != 0) failed = 1;
        for (int k = 0; k < nspec && !failed; k++) {
            char *dst = spec[k].dst, *base = (char *)&over;
            if (!spec[k].seen || dst < base || dst >= base + sizeof over) continue;
            memcpy((char *)&cfg + (dst - base), dst, spec[k].kind == ARG_INT ? sizeof(int) : sizeof(float));
        }
        if (!args_seen(spec, nspec, "max-position-embeddings") && cfg.max_position_embeddings < cfg.seq_length)
            cfg.max_position_embeddings = cfg.seq_length;
    }
    /* the vocabulary comes from the tokenizer; --print-params alone keeps GPT-2's */
    gpt_data_opts_t dopts = {o.data_path, o.split, o.tokenizer_type, o.vocab_file, o.merge_file, o.tiktoken_file,
                             0, 0, 0, 0};
    if (!failed && (!o.print_params || args_seen(spec, nspec, "tokenizer-type")) &&
        gpt_data_vocab_size(&dopts, &cfg.vocab_size, &err) != 0)
        failed = 1;
    if (!failed && gpt_config_validate(&cfg, 1, &err) != 0) failed = 1;
    if (!failed && o.micro_batch_size <= 0)
        failed = err_set(&err, "--micro-batch-size must be positive (got %d)", o.micro_batch_size) != 0;
    if (!failed && o.global_batch_size < 0)
        failed = err_set(&err, "--global-batch-size %d must be a positive multiple of --micro-batch-size %d",
                         o.global_batch_size, o.micro_batch_size) != 0;
    if (!failed && o.print_params) {
        print_params(&cfg, o.micro_batch_size);
        return 0;
    }
    if (!failed && check_options(&o, &cfg, &sched, &err) != 0) failed = 1;

    /* from here every rank of the job takes part */
    err_t init_err;
    if (parallel_init(&argc, &argv, &init_err) != 0) {
        fprintf(stderr, "megac train gpt: error: %s\n", init_err.msg);
        return 1;
    }
    int rank = parallel_world_rank();
    gpt_job_t job;
    memset(&job, 0, sizeof job);
    job.cfg = cfg;
    if (!failed && job_setup(&job, &o, &err) != 0) failed = 1;
    int first = parallel_first_failure(failed);
    if (first >= 0) {
        if (rank == first)
            fprintf(stderr, "megac train gpt: error: %s\n", err.msg);
        job_teardown(&job);
        parallel_finalize();
        return 1;
    }
    grid_t *g = &job.grid;
    if (rank == 0) {
        printf("megac train gpt: %lld parameters, %d layers, hidden %d, %d heads, seq %d, vocab %d, device %s\n",
               (long long)gpt_param_count(&cfg, g->tp_size), cfg.num_layers, cfg.hidden_size,
               cfg.num_attention_heads, cfg.seq_length, cfg.vocab_size, job.be->name);
        printf("parallel: world %d = tensor-parallel %d x data-parallel %d%s; parameters per rank: %zu\n",
               g->world_size, g->tp_size, g->dp_size, o.distributed_optimizer ? ", distributed optimizer (ZeRO-1)" : "",
               job.model.param_numel);
        printf("data: %s, %lld tokens (train %lld windows), micro-batch %d, global batch %d, %lld iterations\n",
               o.data_path, (long long)job.data.tokens, (long long)gpt_data_num_samples(&job.data, SPLIT_TRAIN),
               o.micro_batch_size, o.global_batch_size, o.train_iters);
        fflush(stdout);
    }
    trainer_config_t tc = {o.train_iters, o.micro_batch_size, o.global_batch_size, g->dp_size, cfg.seq_length,
                           o.log_interval, o.eval_interval, o.eval_iters, sched, o.clip_grad,
                           rank == 0 ? o.metrics_file : NULL, rank == 0 ? stdout : NULL, NULL};
    trainer_hooks_t hooks = {&job, job_train_micro, job_eval_micro, job_zero_grads,
                             job_finish_grads, job_step, job_dp_mean};
    trainer_result_t res;
    int rc = trainer_run(&tc, &hooks, &res, &err);
    if (rc == 0 && rank == 0)
        printf("training done: %lld iterations in %.1f s, final loss %.4f\n", o.train_iters, res.seconds, res.last_loss);
    if (rc == 0 && o.save) {
        rc = save_weights(&job, o.save, &err);
        if (rc == 0 && rank == 0) printf("saved weights to %s\n", o.save);
    }
    if (rc != 0) {
        fprintf(stderr, "megac train gpt: rank %d: error: %s\n", rank, err.msg);
        if (parallel_world_size() > 1) parallel_abort(1);
    }
    job_teardown(&job);
    parallel_finalize();
    return rc == 0 ? 0 : 1;
}
