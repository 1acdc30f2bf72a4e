/* train_bert.c — `megac train bert`: BERT pretraining (masked LM + sentence order
 * or next sentence) on Megatron sentence-level datasets or NVIDIA's HDF5 shards,
 * with tensor and data parallelism, ZeRO-1, Adam or LAMB, and checkpoints
 * (--save/--load, any layout loads any other; train_checkpoint.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../framework/trainer.h"
#include "../models/bert.h"
#include "../models/flops.h"
#include "../parallel/dist_optim.h"
#include "../parallel/grid.h"
#include "args.h"
#include "bert_data.h"
#include "commands.h"
#include "train_checkpoint.h"
#include "train_common.h"

typedef struct bert_job {
    train_base_t base;                    /* first: the shared hooks take the job as it */
    bert_config_t cfg;
    bert_model_t model;
    bert_data_t data;
    int micro_batch, global_batch, num_micro;
    double mlm_sum, sop_sum;              /* training losses since the last log line */
    int64_t loss_count;
    int64_t eval_masked, eval_correct, eval_sop, eval_sop_correct, *label_count;
    train_ckpt_t ckpt;                    /* --save / --load */
    int64_t iteration, eval_iters; /* the last training iteration; global batches per validation */
    int rank;
} bert_job_t;

static int job_train_micro(void *self, int64_t it, int micro, int last, float grad_scale, double *loss, err_t *err) {
    bert_job_t *j = self;
    int dp = j->base.grid.dp_size, d = j->base.grid.dp_rank;
    /* Megatron's pretraining sampler, continuing from the samples a loaded checkpoint consumed */
    int64_t first = j->ckpt.consumed_start + (it - j->ckpt.start_iter - 1) * j->global_batch +
                    ((int64_t)micro * dp + d) * j->micro_batch;
    uint32_t step = (uint32_t)((it - 1) * j->num_micro * dp + (int64_t)micro * dp + d);
    j->iteration = it;
    if (bert_data_batch(&j->data, SPLIT_TRAIN, first, err) != 0) return -1;
    bert_result_t r;
    if (bert_forward(&j->model, &j->data.batch, 1, step, &r, err) != 0) return -1;
    if (last) dist_optim_arm(&j->base.opt);
    j->model.grad_ready = last ? dist_optim_grad_ready : NULL;
    *loss = r.mlm_loss + r.sop_loss;
    j->mlm_sum += r.mlm_loss, j->sop_sum += r.sop_loss, j->loss_count++;
    return bert_backward(&j->model, grad_scale, step, err);
}

/* after each validation: masked-LM accuracy against the majority-token baseline
 * (the share of the most frequent label among the masked tokens) and sentence
 * accuracy, summed over the data-parallel ranks */
static int report_accuracy(bert_job_t *j, err_t *err) {
    double c[4] = {(double)j->eval_masked, (double)j->eval_correct, (double)j->eval_sop, (double)j->eval_sop_correct};
    if (j->base.grid.dp_size > 1 && comm_allreduce_f64(j->base.grid.dp, c, 4, COMM_SUM, err) != 0) return -1;
    int V = j->cfg.vocab_size;
    double *counts = malloc(sizeof(double) * (size_t)V), majority = 0;
    if (!counts) return err_set(err, "out of memory");
    for (int v = 0; v < V; v++) counts[v] = (double)j->label_count[v];
    if (j->base.grid.dp_size > 1 && comm_allreduce_f64(j->base.grid.dp, counts, (size_t)V, COMM_SUM, err) != 0) {
        free(counts);
        return -1;
    }
    for (int v = 0; v < V; v++) majority = counts[v] > majority ? counts[v] : majority;
    free(counts);
    if (j->rank == 0 && c[0] > 0) {
        printf("validation at iteration %lld: masked-LM accuracy %.4f over %.0f masked tokens (majority-token baseline "
               "%.4f)", (long long)j->iteration, c[1] / c[0], c[0], majority / c[0]);
        if (j->cfg.binary_head) printf(", sentence accuracy %.4f over %.0f pairs", c[3] / c[2], c[2]);
        printf("\n");
        fflush(stdout);
    }
    return 0;
}

/* validation: the loss, plus masked-LM accuracy, sentence accuracy and the
 * label counts behind the majority-token baseline */
static int job_eval_micro(void *self, int64_t k, double *loss, err_t *err) {
    bert_job_t *j = self;
    int dp = j->base.grid.dp_size, d = j->base.grid.dp_rank;
    if (k == 0) {
        j->eval_masked = j->eval_correct = j->eval_sop = j->eval_sop_correct = 0;
        memset(j->label_count, 0, sizeof(int64_t) * (size_t)j->cfg.vocab_size);
    }
    if (bert_data_batch(&j->data, SPLIT_VALID, (k * dp + d) * j->micro_batch, err) != 0) return -1;
    bert_result_t r;
    if (bert_forward(&j->model, &j->data.batch, 0, 0, &r, err) != 0) return -1;
    const bert_batch_t *b = &j->data.batch;
    j->eval_masked += b->n_mlm, j->eval_correct += r.mlm_correct;
    j->eval_sop += j->cfg.binary_head ? b->B : 0, j->eval_sop_correct += r.sop_correct;
    for (int i = 0; i < b->n_mlm; i++) j->label_count[b->mlm_labels[i]]++;
    *loss = r.mlm_loss + r.sop_loss;
    return k == j->eval_iters * j->num_micro - 1 ? report_accuracy(j, err) : 0; /* the evaluation's last micro-batch */
}

/* the two BERT losses since the last log line, averaged over micro-batches and DP ranks */
static int job_log_extra(void *self, char *text, size_t tn, char *json, size_t jn, err_t *err) {
    bert_job_t *j = self;
    double v[3] = {j->mlm_sum, j->sop_sum, (double)j->loss_count};
    if (j->base.grid.dp_size > 1 && comm_allreduce_f64(j->base.grid.dp, v, 3, COMM_SUM, err) != 0) return -1;
    double mlm = v[2] > 0 ? v[0] / v[2] : 0, sop = v[2] > 0 ? v[1] / v[2] : 0;
    if (j->cfg.binary_head) {
        snprintf(text, tn, " mlm loss: %.6E | sop loss: %.6E |", mlm, sop);
        snprintf(json, jn, ", \"mlm_loss\": %.9g, \"sop_loss\": %.9g", mlm, sop);
    } else {
        snprintf(text, tn, " mlm loss: %.6E |", mlm);
        snprintf(json, jn, ", \"mlm_loss\": %.9g", mlm);
    }
    j->mlm_sum = j->sop_sum = 0, j->loss_count = 0;
    return 0;
}

static void job_zero_grads(void *self) { bert_zero_grads(&((bert_job_t *)self)->model); }

/* the trainer's save hook: every rank writes its part of the checkpoint */
static int job_save(void *self, int64_t it, int64_t consumed, err_t *err) {
    return train_ckpt_save(&((bert_job_t *)self)->ckpt, it, consumed, err);
}

/* Everything before training: grid, checkpoint metadata (checked before anything
 * large exists), data, model, optimizer, the checkpoint's tensors. */
static int job_setup(bert_job_t *j, train_common_t *o, const train_ckpt_opts_t *ck, const lr_schedule_t *sched,
                     const adamw_config_t *acfg, const bert_data_opts_t *dopts_in, err_t *err) {
    bert_config_t *cfg = &j->cfg;
    j->base.be = backend_by_name(o->device, err);
    if (!j->base.be) return -1;
    if (grid_create(&j->base.grid, o->tensor_parallel, j->base.be, err) != 0) return -1;
    grid_t *g = &j->base.grid;
    if (bert_config_validate(cfg, g->tp_size, err) != 0) return -1;
    if (train_ckpt_open(&j->ckpt, ck, &model_ckpt_bert, cfg, &o->seed, err) != 0) return -1;
    if (train_common_batches(o, g->dp_size, &j->global_batch, &j->num_micro, err) != 0) return -1;
    j->micro_batch = o->micro_batch_size;
    bert_data_opts_t dopts = *dopts_in;
    dopts.seed = (uint64_t)o->seed; /* the checkpoint's, when it replaced --seed */
    int64_t left = o->train_iters > j->ckpt.start_iter ? o->train_iters - j->ckpt.start_iter : 0;
    dopts.num_samples[SPLIT_TRAIN] = j->ckpt.consumed_start + left * j->global_batch;
    /* every validation reads the same first eval-iters global batches */
    dopts.num_samples[SPLIT_VALID] = (int64_t)o->eval_iters * j->global_batch;
    if (bert_data_open(&j->data, &dopts, j->micro_batch, err) != 0) return -1;
    if (o->eval_iters > 0 && bert_data_num_samples(&j->data, SPLIT_VALID) == 0)
        return err_set(err, "--data-path: no validation samples (another --split, or --eval-iters 0)");
    j->label_count = calloc((size_t)cfg->vocab_size, sizeof(int64_t));
    if (!j->label_count) return err_set(err, "out of memory");
    double params = (double)bert_param_count(cfg, g->tp_size) / g->tp_size;
    double need = 2.0 * params * sizeof(float) + (double)bert_activation_bytes(cfg, j->micro_batch, cfg->seq_length, g->tp_size) +
                  train_common_optimizer_bytes(o, params);
    if (train_common_check_memory(j->base.be, need, err) != 0) return -1;
    model_parallel_t par = {g->tp, o->distributed_optimizer ? g->dp_size : 1};
    if (bert_create(&j->model, cfg, j->base.be, j->micro_batch, cfg->seq_length, &par, err) != 0) return -1;
    if (j->ckpt.loading) j->model.seed = (uint64_t)o->seed; /* dropout's key; the weights come from the checkpoint */
    else bert_init_weights(&j->model, (uint64_t)o->seed);
    j->model.grad_ready_ctx = &j->base.opt;
    ckpt_param_t *table = train_ckpt_table(&j->ckpt, j->model.num_params, err);
    if (!table) return -1;
    bert_ckpt_params(&j->model, table);
    train_blocks_t blocks = {j->model.params,      j->model.grads,       j->model.num_params, j->model.param_block,
                             j->model.grad_block, j->model.param_numel, j->model.param_alloc};
    return train_ckpt_attach(&j->ckpt, &j->base, o, &blocks, sched, acfg, err);
}

static void job_teardown(bert_job_t *j) {
    dist_optim_destroy(&j->base.opt);
    train_ckpt_free(&j->ckpt);
    if (j->model.params) bert_destroy(&j->model);
    bert_data_close(&j->data);
    grid_destroy(&j->base.grid);
    free(j->label_count);
}

int cmd_train_bert(int argc, char **argv) {
    train_common_t o;
    train_common_defaults(&o);
    bert_config_t over;
    bert_config_defaults(&over);
    const char *preset = NULL, *data_path = NULL, *tokenizer_type = "BertWordPieceLowerCase", *vocab_file = NULL;
    const char *ln_order = NULL;
    int no_binary_head = 0;
    float mask_prob = 0.15f, short_seq_prob = 0.1f;
    train_ckpt_opts_t ck = {0};
    arg_spec_t spec[TRAIN_COMMON_SPECS + TRAIN_CKPT_SPECS + 24];
    train_common_specs(&o, spec);
    train_ckpt_specs(&ck, spec + TRAIN_COMMON_SPECS);
    arg_spec_t own[] = {
        {"preset", ARG_STR, &preset, "bert-base | bert-large | bert-3.9b", 0},
        {"num-layers", ARG_INT, &over.num_layers, "encoder layers", 0},
        {"hidden-size", ARG_INT, &over.hidden_size, "hidden size", 0},
        {"num-attention-heads", ARG_INT, &over.num_attention_heads, "attention heads", 0},
        {"ffn-hidden-size", ARG_INT, &over.ffn_hidden_size, "MLP hidden size (default 4 x hidden)", 0},
        {"seq-length", ARG_INT, &over.seq_length, "sequence length (128 or 512 in NVIDIA's phases)", 0},
        {"max-position-embeddings", ARG_INT, &over.max_position_embeddings, "position table size (512)", 0},
        {"max-predictions-per-seq", ARG_INT, &over.max_predictions_per_seq, "masked positions per sequence at most (ceil(mask-prob x seq))", 0},
        {"make-vocab-size-divisible-by", ARG_INT, &over.make_vocab_size_divisible_by, "pad the vocabulary to a multiple of this x TP (128)", 0},
        {"hidden-dropout", ARG_FLOAT, &over.hidden_dropout, "dropout after embeddings and sublayers (0.1)", 0},
        {"attention-dropout", ARG_FLOAT, &over.attention_dropout, "dropout of attention probabilities (0.1)", 0},
        {"layernorm-epsilon", ARG_FLOAT, &over.layernorm_epsilon, "LayerNorm epsilon (1e-12; 1e-5 for bert-3.9b)", 0},
        {"init-method-std", ARG_FLOAT, &over.init_method_std, "weight init standard deviation (0.02)", 0},
        {"bert-layernorm-order", ARG_STR, &ln_order, "post (original BERT) | pre (Megatron; bert-3.9b's default)", 0},
        {"bert-no-binary-head", ARG_FLAG, &no_binary_head, "masked LM only: no sentence head", 0},
        {"data-path", ARG_STRS, &data_path, "sentence-level dataset prefix (megac preprocess --split-sentences) or .hdf5 shards", 0},
        {"tokenizer-type", ARG_STR, &tokenizer_type, "BertWordPieceLowerCase | BertWordPieceCase", 0},
        {"vocab-file", ARG_STR, &vocab_file, "BERT vocab.txt (required)", 0},
        {"mask-prob", ARG_FLOAT, &mask_prob, "fraction of tokens masked (0.15)", 0},
        {"short-seq-prob", ARG_FLOAT, &short_seq_prob, "probability of a shorter target length (0.1)", 0},
    };
    int nown = (int)(sizeof own / sizeof own[0]);
    memcpy(spec + TRAIN_COMMON_SPECS + TRAIN_CKPT_SPECS, own, sizeof own);
    int nspec = TRAIN_COMMON_SPECS + TRAIN_CKPT_SPECS + nown;
    err_t err = {{0}};
    int help, failed = 0;
    bert_config_t cfg;
    if (args_parse(spec, nspec, argc, argv, "megac train bert", &help, &err) != 0) failed = 1;
    if (!failed && help) {
        args_print_help(stdout, "[mpirun -np N] megac train bert --data-path P --vocab-file F --train-iters N --lr X [flags]",
                        spec, nspec);
        return 0;
    }
    if (!failed) {
        bert_config_defaults(&cfg);
        if (preset && bert_config_preset(&cfg, preset, &err) != 0) failed = 1;
        for (int k = TRAIN_COMMON_SPECS + TRAIN_CKPT_SPECS; k < nspec && !failed; k++) {
            char *dst = spec[k].dst, *base = (char *)&over;
            if (!spec[k].seen || dst < base || dst >= base + sizeof over) continue;
            memcpy((char *)&cfg + (dst - base), dst, spec[k].kind == ARG_INT ? sizeof(int) : sizeof(float));
        }
        if (ln_order && strcmp(ln_order, "pre") == 0) cfg.pre_ln = 1;
        else if (ln_order && strcmp(ln_order, "post") == 0) cfg.pre_ln = 0;
        else if (ln_order) failed = err_set(&err, "--bert-layernorm-order: '%s' is not pre or post", ln_order) != 0;
        if (no_binary_head) cfg.binary_head = 0;
        /* masked positions per sequence: --mask-prob of the sequence, rounded up
         * (NVIDIA's data: 20 at 128, 80 at 512) unless given */
        if (!args_seen(spec, nspec, "max-predictions-per-seq")) {
            int mp = (int)ceil(mask_prob * cfg.seq_length);
            cfg.max_predictions_per_seq = mp < 1 ? 1 : mp;
        }
        if (!args_seen(spec, nspec, "max-position-embeddings") && cfg.max_position_embeddings < cfg.seq_length)
            cfg.max_position_embeddings = cfg.seq_length;
    }
    if (!failed && !(mask_prob > 0.0f && mask_prob < 1.0f))
        failed = err_set(&err, "--mask-prob must be in (0, 1) (got %g)", mask_prob) != 0;
    bert_data_opts_t dopts = {data_path, o.split, tokenizer_type, vocab_file, cfg.seq_length, cfg.max_predictions_per_seq,
                              cfg.binary_head, mask_prob, short_seq_prob, (uint64_t)o.seed, {0, 0, 0}};
    if (!failed && bert_data_vocab_size(&dopts, &cfg.vocab_size, &err) != 0) failed = 1;
    lr_schedule_t sched;
    adamw_config_t acfg;
    if (!failed && train_common_recompute(&o, &cfg.recompute, &err) != 0) failed = 1;
    cfg.use_flash_attn = o.use_flash_attn;
    if (!failed && (bert_config_validate(&cfg, 1, &err) != 0 || train_common_check(&o, &sched, &acfg, &err) != 0 ||
                    train_ckpt_check(&ck, &err) != 0))
        failed = 1;

    err_t init_err;
    if (parallel_init(&argc, &argv, &init_err) != 0) {
        fprintf(stderr, "megac train bert: error: %s\n", init_err.msg);
        return 1;
    }
    int rank = parallel_world_rank();
    bert_job_t job;
    memset(&job, 0, sizeof job);
    job.cfg = cfg;
    job.eval_iters = o.eval_iters, job.rank = rank;
    if (!failed && job_setup(&job, &o, &ck, &sched, &acfg, &dopts, &err) != 0) failed = 1;
    job.iteration = job.ckpt.start_iter; /* the validation line's iteration under --skip-train */
    int first = parallel_first_failure(failed);
    if (first >= 0) {
        if (rank == first) fprintf(stderr, "megac train bert: error: %s\n", err.msg);
        job_teardown(&job);
        parallel_finalize();
        return 1;
    }
    grid_t *g = &job.base.grid;
    if (rank == 0) {
        printf("megac train bert: %lld parameters, %d layers, hidden %d, %d heads, seq %d, vocab %d, %s, %s head, "
               "optimizer %s, device %s\n", (long long)bert_param_count(&cfg, g->tp_size), cfg.num_layers,
               cfg.hidden_size, cfg.num_attention_heads, cfg.seq_length, cfg.vocab_size,
               cfg.pre_ln ? "pre-LN" : "post-LN", cfg.binary_head ? "sentence" : "no sentence", o.optimizer,
               job.base.be->name);
        printf("parallel: world %d = tensor-parallel %d x data-parallel %d%s; data: %s (%lld training samples)\n",
               g->world_size, g->tp_size, g->dp_size, o.distributed_optimizer ? ", ZeRO-1" : "", data_path,
               (long long)bert_data_num_samples(&job.data, SPLIT_TRAIN));
        char prec[128], rec[128];
        train_base_describe_precision(&job.base, prec, sizeof prec);
        tf_recompute_describe(&cfg.recompute, rec, sizeof rec);
        printf("precision: %s; activation recomputation: %s; flash attention: %s\n", prec, rec,
               cfg.use_flash_attn ? "on" : "off");
        if (job.ckpt.note[0]) printf("%s\n", job.ckpt.note);
        fflush(stdout);
    }
    trainer_config_t tc = {.train_iters = o.train_iters, .micro_batch_size = o.micro_batch_size,
                           .global_batch_size = job.global_batch, .data_parallel_size = g->dp_size,
                           .seq_length = cfg.seq_length, .log_interval = o.log_interval,
                           .eval_interval = o.eval_interval, .eval_iters = o.eval_iters, .schedule = sched,
                           .clip_grad = o.clip_grad, .metrics_file = rank == 0 ? o.metrics_file : NULL,
                           .log = rank == 0 ? stdout : NULL, .start_iteration = job.ckpt.start_iter,
                           .consumed_samples = job.ckpt.consumed_start, .save_interval = ck.save_interval,
                           .scaler = train_base_scaler(&job.base), .skipped_iterations = &job.base.skipped,
                           .peak_tflops = o.peak_tflops, .skip_train = o.skip_train,
                           .tensorboard_dir = rank == g->world_size - 1 ? o.tensorboard_dir : NULL};
    tc.flops_per_rank_iter = bert_model_flops(&cfg, job.global_batch, cfg.seq_length, cfg.max_predictions_per_seq, 1) /
                             g->world_size;
    trainer_hooks_t hooks = {.self = &job, .train_micro = job_train_micro, .eval_micro = job_eval_micro,
                             .zero_grads = job_zero_grads, .finish_grads = train_hook_finish_grads,
                             .step = train_hook_step, .dp_mean = train_hook_dp_mean, .save = ck.save ? job_save : NULL,
                             .log_extra = job_log_extra};
    trainer_result_t res;
    int rc = trainer_run(&tc, &hooks, &res, &err);
    long long ran = o.train_iters > job.ckpt.start_iter ? o.train_iters - job.ckpt.start_iter : 0;
    if (rc == 0 && rank == 0 && o.skip_train)
        printf("evaluation done: validation loss %.6f at iteration %lld in %.1f s\n", res.last_val_loss,
               (long long)job.ckpt.start_iter, res.seconds);
    else if (rc == 0 && rank == 0 && ran == 0)
        printf("nothing to train: the checkpoint is at iteration %lld and --train-iters is %lld\n",
               (long long)job.ckpt.start_iter, o.train_iters);
    else if (rc == 0 && rank == 0)
        printf("training done: %lld iterations in %.1f s, final loss %.4f\n", ran, res.seconds, res.last_loss);
    if (rc != 0) {
        fprintf(stderr, "megac train bert: rank %d: error: %s\n", rank, err.msg);
        if (parallel_world_size() > 1) parallel_abort(1);
    }
    job_teardown(&job);
    parallel_finalize();
    return rc == 0 ? 0 : 1;
}
