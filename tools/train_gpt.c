/* train_gpt.c — `megac train gpt`: flags, validation, the process grid, model +
 * data + (distributed) optimizer, checkpoints (--save/--load), and the trainer loop.
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

#include "../framework/backend.h"
#include "../framework/trainer.h"
#include "../models/flops.h"
#include "../models/gpt.h"
#include "../parallel/dist_optim.h"
#include "../parallel/grid.h"
#include "args.h"
#include "commands.h"
#include "gpt_data.h"
#include "plan_model.h"
#include "train_checkpoint.h"
#include "train_common.h"

typedef struct train_opts {
    train_common_t c;                         /* the flags every model shares */
    const char *preset, *data_path, *tokenizer_type, *vocab_file, *merge_file, *tiktoken_file;
    train_ckpt_opts_t ck;                     /* --save, --load, ... */
    int print_params, dry_run, world_size;
} train_opts_t;

typedef struct gpt_job {
    train_base_t base;                        /* first: the shared hooks take the job as it */
    gpt_config_t cfg;
    gpt_model_t model;
    gpt_data_t data;
    int micro_batch, global_batch, num_micro; /* num_micro: per DP rank */
    int *buf, *tokens, *targets;              /* host batch staging */
    train_ckpt_t ckpt;                        /* --save / --load */
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
    int dp = j->base.grid.dp_size, d = j->base.grid.dp_rank;
    /* the sampler continues from the samples a loaded checkpoint consumed */
    int64_t first = j->ckpt.consumed_start + (it - j->ckpt.start_iter - 1) * j->global_batch +
                    ((int64_t)micro * dp + d) * j->micro_batch;
    /* dropout masks follow the global micro-batch, so any DP size drops the same elements */
    uint32_t step = (uint32_t)((it - 1) * j->num_micro * dp + (int64_t)micro * dp + d);
    if (fill_batch(j, SPLIT_TRAIN, first, err) != 0) return -1;
    if (gpt_forward(&j->model, j->tokens, j->targets, NULL, j->micro_batch, j->model.T, 1, step, loss, err) != 0)
        return -1;
    if (last) dist_optim_arm(&j->base.opt);
    j->model.grad_ready = last ? dist_optim_grad_ready : NULL;
    return gpt_backward(&j->model, grad_scale, step, err);
}

static int job_eval_micro(void *self, int64_t k, double *loss, err_t *err) {
    gpt_job_t *j = self;
    int dp = j->base.grid.dp_size, d = j->base.grid.dp_rank;
    if (fill_batch(j, SPLIT_VALID, (k * dp + d) * j->micro_batch, err) != 0) return -1;
    return gpt_forward(&j->model, j->tokens, j->targets, NULL, j->micro_batch, j->model.T, 0, 0, loss, err);
}

static void job_zero_grads(void *self) { gpt_zero_grads(&((gpt_job_t *)self)->model); }

/* the trainer's save hook: every rank writes its part of the checkpoint */
static int job_save(void *self, int64_t it, int64_t consumed, err_t *err) {
    return train_ckpt_save(&((gpt_job_t *)self)->ckpt, it, consumed, err);
}

static void print_params(const gpt_config_t *c, const train_common_t *o) {
    int micro_batch = o->micro_batch_size;
    int64_t total = gpt_param_count(c, 1);
    int64_t C = c->hidden_size;
    int64_t emb = (int64_t)gpt_padded_vocab(c, 1) * C + (int64_t)c->max_position_embeddings * C;
    printf("model: %d layers, hidden %d, %d heads, FFN %d, sequence %d, vocabulary %d (padded %d)\n",
           c->num_layers, c->hidden_size, c->num_attention_heads,
           c->ffn_hidden_size > 0 ? c->ffn_hidden_size : 4 * c->hidden_size, c->seq_length, c->vocab_size,
           gpt_padded_vocab(c, 1));
    printf("parameters: %lld (%.3f B); embeddings %lld, transformer layers %lld\n", (long long)total,
           total / 1e9, (long long)emb, (long long)(total - emb));
    double mem = (double)gpt_memory_bytes(c, micro_batch, c->seq_length, 1) + train_common_optimizer_bytes(o, (double)total);
    printf("training memory at micro-batch %d (weights, grads, Adam moments%s, activations): %.2f GiB\n", micro_batch,
           o->bf16 || o->fp16 ? ", fp32 master weights" : "", mem / (1024.0 * 1024.0 * 1024.0));
}

/* Flag checks that need no process grid; identical on every rank. */
static int check_options(const train_opts_t *o, lr_schedule_t *sched, adamw_config_t *acfg, err_t *err) {
    if (train_common_check(&o->c, sched, acfg, err) != 0 || train_ckpt_check(&o->ck, err) != 0) return -1;
    if (!o->data_path) return err_set(err, "--data-path is required (an indexed dataset prefix, or a text file with --tokenizer-type Byte)");
    return 0;
}

/* Everything before training: grid, checkpoint metadata (checked before anything
 * large exists), data, model, optimizer, the checkpoint's tensors. */
static int job_setup(gpt_job_t *j, train_opts_t *o, const lr_schedule_t *sched, const adamw_config_t *acfg,
                     err_t *err) {
    gpt_config_t *cfg = &j->cfg;
    const train_common_t *c = &o->c;
    j->base.be = backend_by_name(c->device, err);
    if (!j->base.be) return -1;
    if (grid_create(&j->base.grid, c->tensor_parallel, j->base.be, err) != 0) return -1;
    grid_t *g = &j->base.grid;
    if (gpt_config_validate(cfg, g->tp_size, err) != 0) return -1;
    if (train_ckpt_open(&j->ckpt, &o->ck, &model_ckpt_gpt, cfg, &o->c.seed, err) != 0) return -1;
    if (train_common_batches(c, g->dp_size, &j->global_batch, &j->num_micro, err) != 0) return -1;
    j->micro_batch = c->micro_batch_size;
    gpt_data_opts_t dopts = {o->data_path, c->split, o->tokenizer_type, o->vocab_file, o->merge_file,
                             o->tiktoken_file, c->train_iters, j->global_batch, c->eval_interval, c->eval_iters,
                             g->world_rank == 0 ? stderr : NULL};
    if (gpt_data_open(&j->data, &dopts, cfg->seq_length, (uint64_t)c->seed, err) != 0) return -1;
    if (c->eval_iters > 0 && gpt_data_num_samples(&j->data, SPLIT_VALID) == 0)
        return err_set(err, "--data-path %s: the validation split (--split %s) is shorter than one sample of "
                       "%d tokens; use a larger file, another --split, or --eval-iters 0",
                       o->data_path, c->split, cfg->seq_length + 1);
    double need = (double)gpt_memory_bytes(cfg, c->micro_batch_size, cfg->seq_length, g->tp_size) +
                  train_common_optimizer_bytes(c, (double)gpt_param_count(cfg, g->tp_size) / g->tp_size);
    if (train_common_check_memory(j->base.be, need, err) != 0) return -1;
    size_t BT = (size_t)c->micro_batch_size * cfg->seq_length;
    j->buf = malloc(sizeof(int) * (cfg->seq_length + 1));
    j->tokens = malloc(sizeof(int) * BT);
    j->targets = malloc(sizeof(int) * BT);
    if (!j->buf || !j->tokens || !j->targets) return err_set(err, "out of host memory for the batch buffers");
    gpt_parallel_t par = {g->tp, c->distributed_optimizer ? g->dp_size : 1};
    if (gpt_create(&j->model, cfg, j->base.be, c->micro_batch_size, cfg->seq_length, &par, err) != 0) return -1;
    if (j->ckpt.loading) j->model.seed = (uint64_t)c->seed; /* dropout's key; the weights come from the checkpoint */
    else gpt_init_weights(&j->model, (uint64_t)c->seed);
    j->model.grad_ready_ctx = &j->base.opt;
    ckpt_param_t *table = train_ckpt_table(&j->ckpt, j->model.num_params, err);
    if (!table) return -1;
    gpt_ckpt_params(&j->model, table);
    train_blocks_t blocks = {j->model.params,      j->model.grads,       j->model.num_params, j->model.param_block,
                             j->model.grad_block, j->model.param_numel, j->model.param_alloc};
    return train_ckpt_attach(&j->ckpt, &j->base, c, &blocks, sched, acfg, err);
}

static void job_teardown(gpt_job_t *j) {
    dist_optim_destroy(&j->base.opt);
    train_ckpt_free(&j->ckpt);
    if (j->model.params) gpt_destroy(&j->model);
    gpt_data_close(&j->data);
    grid_destroy(&j->base.grid);
    free(j->buf), free(j->tokens), free(j->targets);
}

int cmd_train_gpt(int argc, char **argv) {
    gpt_config_t over;
    gpt_config_defaults(&over);
    train_opts_t o = {.tokenizer_type = "Byte"};
    train_common_defaults(&o.c);
    arg_spec_t own[] = {
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
        {"data-path", ARG_STRS, &o.data_path, "indexed dataset prefix, a blend \"W1 P1 W2 P2 ...\", or (Byte) a text file", 0},
        {"tokenizer-type", ARG_STR, &o.tokenizer_type, "Byte | GPT2BPETokenizer | BertWordPieceLowerCase | BertWordPieceCase (Byte)", 0},
        {"vocab-file", ARG_STR, &o.vocab_file, "tokenizer vocabulary (vocab.json / vocab.txt)", 0},
        {"merge-file", ARG_STR, &o.merge_file, "GPT-2 BPE merges.txt", 0},
        {"tiktoken-file", ARG_STR, &o.tiktoken_file, "GPT-2 BPE ranks in tiktoken's format (gpt2.tiktoken), instead of the two above", 0},
        {"print-params", ARG_FLAG, &o.print_params, "print the parameter count and memory, allocate nothing", 0},
        {"dry-run", ARG_FLAG, &o.dry_run, "one rank's shapes, parameters, memory and communication for --world-size ranks; allocate nothing", 0},
        {"world-size", ARG_INT, &o.world_size, "ranks the dry run plans for (default: TP)", 0},
    };
    arg_spec_t spec[TRAIN_COMMON_SPECS + TRAIN_CKPT_SPECS + sizeof own / sizeof own[0]];
    train_common_specs(&o.c, spec);
    train_ckpt_specs(&o.ck, spec + TRAIN_COMMON_SPECS);
    memcpy(spec + TRAIN_COMMON_SPECS + TRAIN_CKPT_SPECS, own, sizeof own);
    int nspec = (int)(sizeof spec / sizeof spec[0]);
    const train_common_t *c = &o.c;
    err_t err = {{0}};
    int help, failed = 0;
    gpt_config_t cfg;
    lr_schedule_t sched;
    adamw_config_t acfg;
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
    gpt_data_opts_t dopts = {o.data_path, c->split, o.tokenizer_type, o.vocab_file, o.merge_file, o.tiktoken_file,
                             0, 0, 0, 0, NULL};
    if (!failed && (!(o.print_params || o.dry_run) || args_seen(spec, nspec, "tokenizer-type")) &&
        gpt_data_vocab_size(&dopts, &cfg.vocab_size, &err) != 0)
        failed = 1;
    if (!failed && train_common_recompute(c, &cfg.recompute, &err) != 0) failed = 1;
    cfg.use_flash_attn = c->use_flash_attn;
    if (!failed && gpt_config_validate(&cfg, 1, &err) != 0) failed = 1;
    if (!failed && train_common_check_batch(c, &err) != 0) failed = 1;
    if (!failed && o.print_params) {
        print_params(&cfg, c);
        return 0;
    }
    if (!failed && o.dry_run) { /* the planner's numbers for one rank, from the same code as megac plan */
        int world = o.world_size > 0 ? o.world_size : c->tensor_parallel;
        int dp = c->tensor_parallel > 0 ? world / c->tensor_parallel : 0;
        int gb = c->global_batch_size > 0 ? c->global_batch_size : c->micro_batch_size * (dp > 0 ? dp : 1);
        if (plan_dry_run(&cfg, c->tensor_parallel, world, c->micro_batch_size, gb, c->distributed_optimizer, stdout,
                         &err) != 0) {
            fprintf(stderr, "megac train gpt: error: %s\n", err.msg);
            return 1;
        }
        return 0;
    }
    if (!failed && check_options(&o, &sched, &acfg, &err) != 0) failed = 1;

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
    if (!failed && job_setup(&job, &o, &sched, &acfg, &err) != 0) failed = 1;
    int first = parallel_first_failure(failed);
    if (first >= 0) {
        if (rank == first)
            fprintf(stderr, "megac train gpt: error: %s\n", err.msg);
        job_teardown(&job);
        parallel_finalize();
        return 1;
    }
    grid_t *g = &job.base.grid;
    if (rank == 0) {
        printf("megac train gpt: %lld parameters, %d layers, hidden %d, %d heads, seq %d, vocab %d, optimizer %s, "
               "device %s\n", (long long)gpt_param_count(&cfg, g->tp_size), cfg.num_layers, cfg.hidden_size,
               cfg.num_attention_heads, cfg.seq_length, cfg.vocab_size, c->optimizer, job.base.be->name);
        printf("parallel: world %d = tensor-parallel %d x data-parallel %d%s; parameters per rank: %zu\n",
               g->world_size, g->tp_size, g->dp_size, c->distributed_optimizer ? ", distributed optimizer (ZeRO-1)" : "",
               job.model.param_numel);
        printf("data: %s, %lld tokens (train %lld windows), micro-batch %d, global batch %d, %lld iterations\n",
               o.data_path, (long long)job.data.tokens, (long long)gpt_data_num_samples(&job.data, SPLIT_TRAIN),
               c->micro_batch_size, job.global_batch, c->train_iters);
        char prec[128], rec[128];
        train_base_describe_precision(&job.base, prec, sizeof prec);
        tf_recompute_describe(&cfg.recompute, rec, sizeof rec);
        printf("precision: %s; activation recomputation: %s; flash attention: %s\n", prec, rec,
               cfg.use_flash_attn ? "on" : "off");
        if (job.ckpt.note[0]) printf("%s\n", job.ckpt.note);
        fflush(stdout);
    }
    trainer_config_t tc = {c->train_iters, c->micro_batch_size, job.global_batch, g->dp_size, cfg.seq_length,
                           c->log_interval, c->eval_interval, c->eval_iters, sched, c->clip_grad,
                           rank == 0 ? c->metrics_file : NULL, rank == 0 ? stdout : NULL, NULL,
                           job.ckpt.start_iter, job.ckpt.consumed_start, o.ck.save_interval,
                           train_base_scaler(&job.base), &job.base.skipped,
                           gpt_model_flops(&cfg, job.global_batch, cfg.seq_length, 1) / g->world_size,
                           c->peak_tflops, rank == g->world_size - 1 ? c->tensorboard_dir : NULL, c->skip_train};
    trainer_hooks_t hooks = {.self = &job, .train_micro = job_train_micro, .eval_micro = job_eval_micro,
                             .zero_grads = job_zero_grads, .finish_grads = train_hook_finish_grads,
                             .step = train_hook_step, .dp_mean = train_hook_dp_mean, .save = o.ck.save ? job_save : NULL};
    trainer_result_t res;
    int rc = trainer_run(&tc, &hooks, &res, &err);
    long long ran = c->train_iters > job.ckpt.start_iter ? c->train_iters - job.ckpt.start_iter : 0;
    if (rc == 0 && rank == 0 && c->skip_train)
        printf("evaluation done: validation loss %.6f (ppl %.4g) at iteration %lld in %.1f s\n", res.last_val_loss,
               exp(res.last_val_loss), (long long)job.ckpt.start_iter, res.seconds);
    else if (rc == 0 && rank == 0 && ran == 0)
        printf("nothing to train: the checkpoint is at iteration %lld and --train-iters is %lld\n",
               (long long)job.ckpt.start_iter, c->train_iters);
    else if (rc == 0 && rank == 0)
        printf("training done: %lld iterations in %.1f s, final loss %.4f\n", ran, res.seconds, res.last_loss);
    if (rc != 0) {
        fprintf(stderr, "megac train gpt: rank %d: error: %s\n", rank, err.msg);
        if (parallel_world_size() > 1) parallel_abort(1);
    }
    job_teardown(&job);
    parallel_finalize();
    return rc == 0 ? 0 : 1;
}
