/* train_common.c — shared training flags, their checks, and the model-free trainer hooks (see train_common.h). */
#include "train_common.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

void train_common_defaults(train_common_t *o) {
    memset(o, 0, sizeof *o);
    o->micro_batch_size = 4, o->log_interval = 100, o->eval_interval = 1000, o->eval_iters = 100;
    o->tensor_parallel = 1, o->seed = 1234;
    o->weight_decay = 0.01f, o->clip_grad = 1.0f, o->beta1 = 0.9f, o->beta2 = 0.999f, o->eps = 1e-8f;
    o->lr_decay_style = "linear", o->optimizer = "adam", o->device = "auto", o->split = "969,30,1";
    o->initial_loss_scale = LOSS_SCALE_INITIAL, o->min_loss_scale = 1.0f;
    o->loss_scale_window = LOSS_SCALE_WINDOW, o->hysteresis = LOSS_SCALE_HYSTERESIS;
    o->distributed_timeout_minutes = (float)COMM_DEFAULT_TIMEOUT_MINUTES;
}

void train_common_specs(train_common_t *o, arg_spec_t *s) {
    arg_spec_t specs[TRAIN_COMMON_SPECS] = {
        {"micro-batch-size", ARG_INT, &o->micro_batch_size, "sequences per micro-batch per rank (4)", 0},
        {"global-batch-size", ARG_INT, &o->global_batch_size, "sequences per iteration (default: micro-batch x DP)", 0},
        {"train-iters", ARG_I64, &o->train_iters, "training iterations (required)", 0},
        {"lr", ARG_FLOAT, &o->lr, "peak learning rate (required)", 0},
        {"min-lr", ARG_FLOAT, &o->min_lr, "learning rate at the end of decay (0)", 0},
        {"lr-decay-style", ARG_STR, &o->lr_decay_style, "constant | linear | cosine | poly (linear)", 0},
        {"lr-warmup-iters", ARG_I64, &o->lr_warmup_iters, "linear warmup iterations (0)", 0},
        {"lr-decay-iters", ARG_I64, &o->lr_decay_iters, "decay over this many iterations (default: train-iters)", 0},
        {"optimizer", ARG_STR, &o->optimizer, "adam (AdamW) | lamb (adam)", 0},
        {"weight-decay", ARG_FLOAT, &o->weight_decay, "decoupled weight decay, not on biases/LayerNorm (0.01)", 0},
        {"clip-grad", ARG_FLOAT, &o->clip_grad, "global gradient-norm clipping, 0 = off (1.0)", 0},
        {"adam-beta1", ARG_FLOAT, &o->beta1, "Adam/LAMB beta1 (0.9)", 0},
        {"adam-beta2", ARG_FLOAT, &o->beta2, "Adam/LAMB beta2 (0.999)", 0},
        {"adam-eps", ARG_FLOAT, &o->eps, "Adam/LAMB epsilon (1e-8)", 0},
        {"seed", ARG_I64, &o->seed, "random seed for init, dropout and data order (1234)", 0},
        {"tensor-model-parallel-size", ARG_INT, &o->tensor_parallel, "ranks per tensor-parallel group (1)", 0},
        {"use-distributed-optimizer", ARG_FLAG, &o->distributed_optimizer, "ZeRO-1: shard optimizer state over data-parallel ranks", 0},
        {"ddp-bucket-size", ARG_I64, &o->bucket_size, "elements per gradient all-reduce bucket (max(40M, 1M x DP))", 0},
        {"split", ARG_STR, &o->split, "train,valid,test weights (969,30,1)", 0},
        {"log-interval", ARG_INT, &o->log_interval, "iterations between log lines (100)", 0},
        {"eval-interval", ARG_INT, &o->eval_interval, "iterations between validations (1000)", 0},
        {"eval-iters", ARG_INT, &o->eval_iters, "iterations (global batches) per validation, 0 = none (100)", 0},
        {"metrics-file", ARG_STR, &o->metrics_file, "write JSON Lines metrics here (rank 0)", 0},
        {"device", ARG_STR, &o->device, "cpu | cuda | auto (auto: cuda when megac has it and a GPU is present)", 0},
        {"fp16", ARG_FLAG, &o->fp16, "fp16 weights and gradients, fp32 master weights, dynamic loss scaling", 0},
        {"bf16", ARG_FLAG, &o->bf16, "bf16 weights, fp32 master weights and gradient accumulation", 0},
        {"loss-scale", ARG_FLOAT, &o->loss_scale, "a constant loss scale instead of the dynamic one (fp16/bf16)", 0},
        {"initial-loss-scale", ARG_FLOAT, &o->initial_loss_scale, "the dynamic scale's start (2^32)", 0},
        {"min-loss-scale", ARG_FLOAT, &o->min_loss_scale, "the dynamic scale's floor (1)", 0},
        {"loss-scale-window", ARG_INT, &o->loss_scale_window, "clean iterations before the scale doubles (1000)", 0},
        {"hysteresis", ARG_INT, &o->hysteresis, "overflows tolerated before the scale halves (2)", 0},
        {"accumulate-allreduce-grads-in-fp32", ARG_FLAG, &o->accumulate_fp32_grads,
         "fp16: keep and all-reduce gradients in fp32 (bf16 always does)", 0},
        {"recompute-activations", ARG_FLAG, &o->recompute_activations, "recompute core attention in backward (selective)", 0},
        {"recompute-granularity", ARG_STR, &o->recompute_granularity, "full | selective", 0},
        {"recompute-method", ARG_STR, &o->recompute_method, "full: uniform | block", 0},
        {"recompute-num-layers", ARG_INT, &o->recompute_num_layers,
         "full: layers per checkpointed group (uniform) or layers recomputed (block)", 0},
        {"use-flash-attn", ARG_FLAG, &o->use_flash_attn, "fused attention: no [B,heads,T,T] tensors kept", 0},
        {"distributed-timeout-minutes", ARG_FLOAT, &o->distributed_timeout_minutes,
         "a rank waiting longer in one collective ends the job (10; fractions allowed)", 0},
        {"tensorboard-dir", ARG_STR, &o->tensorboard_dir, "write TensorBoard event files here (last rank)", 0},
        {"peak-tflops", ARG_FLOAT, &o->peak_tflops, "one rank's peak TFLOP/s: log MFU beside TFLOP/s per GPU", 0},
        {"skip-train", ARG_FLAG, &o->skip_train, "no training: one validation of --eval-iters batches (megac eval)", 0},
    };
    memcpy(s, specs, sizeof specs);
    o->spec = s;
}

int train_common_check_batch(const train_common_t *o, err_t *err) {
    if (o->micro_batch_size <= 0) return err_set(err, "--micro-batch-size must be positive (got %d)", o->micro_batch_size);
    /* 0 given on the command line is no default: refused as any other non-positive size */
    int given = o->spec && args_seen(o->spec, TRAIN_COMMON_SPECS, "global-batch-size");
    if (o->global_batch_size < 0 || (given && o->global_batch_size == 0))
        return err_set(err, "--global-batch-size %d must be a positive multiple of --micro-batch-size %d",
                       o->global_batch_size, o->micro_batch_size);
    return 0;
}

int train_common_check(const train_common_t *o, lr_schedule_t *sched, adamw_config_t *acfg, err_t *err) {
    if (train_common_check_batch(o, err) != 0) return -1;
    if (o->skip_train && o->eval_iters <= 0)
        return err_set(err, "--skip-train evaluates --eval-iters batches: give a positive --eval-iters");
    if (o->skip_train && o->train_iters != 0) return err_set(err, "--skip-train trains nothing: leave out --train-iters");
    if (o->train_iters <= 0 && !o->skip_train)
        return err_set(err, "--train-iters must be positive (got %lld)", o->train_iters);
    if (!(o->lr > 0.0f) && !(o->skip_train && o->lr == 0.0f)) return err_set(err, "--lr must be positive (got %g)", o->lr);
    if (o->min_lr < 0.0f || o->min_lr > o->lr) return err_set(err, "--min-lr %g must be in [0, --lr %g]", o->min_lr, o->lr);
    *sched = (lr_schedule_t){o->lr, o->min_lr, o->lr_warmup_iters,
                             o->lr_decay_iters > 0 ? o->lr_decay_iters : o->train_iters, LR_DECAY_LINEAR};
    if (lr_decay_style_parse(o->lr_decay_style, &sched->style) != 0)
        return err_set(err, "--lr-decay-style: unknown style '%s' (constant, linear, cosine or poly)", o->lr_decay_style);
    if (o->lr_warmup_iters < 0 || o->lr_decay_iters < 0 || o->lr_warmup_iters > sched->decay_iters)
        return err_set(err, "--lr-warmup-iters %lld must be in [0, decay iterations %lld]", o->lr_warmup_iters,
                       (long long)sched->decay_iters);
    if (!(o->beta1 >= 0.0f && o->beta1 < 1.0f) || !(o->beta2 >= 0.0f && o->beta2 < 1.0f) || !(o->eps > 0.0f))
        return err_set(err, "--adam-beta1/--adam-beta2 must be in [0,1) and --adam-eps positive");
    if (o->weight_decay < 0.0f || o->clip_grad < 0.0f) return err_set(err, "--weight-decay and --clip-grad must not be negative");
    if (!(o->peak_tflops >= 0.0f)) return err_set(err, "--peak-tflops must not be negative (got %g)", o->peak_tflops);
    if (o->log_interval < 0 || o->eval_interval < 0 || o->eval_iters < 0)
        return err_set(err, "--log-interval, --eval-interval and --eval-iters must not be negative");
    if (o->bucket_size < 0) return err_set(err, "--ddp-bucket-size must not be negative");
    optim_kind_t kind;
    if (strcmp(o->optimizer, "adam") == 0) kind = OPTIM_ADAM;
    else if (strcmp(o->optimizer, "lamb") == 0) kind = OPTIM_LAMB;
    else return err_set(err, "--optimizer: unknown optimizer '%s' (adam or lamb)", o->optimizer);
    if (o->fp16 && o->bf16) return err_set(err, "--fp16 and --bf16: choose one");
    if (o->loss_scale < 0.0f) return err_set(err, "--loss-scale must be positive (got %g)", o->loss_scale);
    if (o->loss_scale > 0.0f && !o->fp16 && !o->bf16) return err_set(err, "--loss-scale needs --fp16 or --bf16");
    if (!(o->initial_loss_scale > 0.0f) || !(o->min_loss_scale > 0.0f) || o->min_loss_scale > o->initial_loss_scale)
        return err_set(err, "--initial-loss-scale %g and --min-loss-scale %g must be positive, the minimum not above the "
                       "initial", o->initial_loss_scale, o->min_loss_scale);
    if (o->loss_scale_window <= 0 || o->hysteresis <= 0)
        return err_set(err, "--loss-scale-window %d and --hysteresis %d must be positive", o->loss_scale_window,
                       o->hysteresis);
    if (!(o->distributed_timeout_minutes > 0.0f))
        return err_set(err, "--distributed-timeout-minutes must be positive (got %g)", o->distributed_timeout_minutes);
    comm_watchdog_configure(60.0 * o->distributed_timeout_minutes);
    *acfg = (adamw_config_t){o->beta1, o->beta2, o->eps, o->weight_decay, kind};
    return 0;
}

int train_common_batches(const train_common_t *o, int dp_size, int *global_batch, int *num_micro, err_t *err) {
    int per_iter = o->micro_batch_size * dp_size;
    int gb = o->global_batch_size > 0 ? o->global_batch_size : per_iter;
    if (gb <= 0 || gb % per_iter != 0)
        return err_set(err, "--global-batch-size %d must be a positive multiple of --micro-batch-size %d x "
                       "data-parallel size %d", gb, o->micro_batch_size, dp_size);
    *global_batch = gb;
    *num_micro = gb / per_iter;
    return 0;
}

double train_common_optimizer_bytes(const train_common_t *o, double params) {
    return (2.0 + (o->bf16 || o->fp16)) * params * sizeof(float);
}

int train_common_check_memory(backend_t *be, double need, err_t *err) {
    double have = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGE_SIZE);
    int local_ranks = parallel_node_size(); /* ranks sharing this machine's memory */
    if (be->device == DEVICE_CPU && have > 0 && need * local_ranks > have)
        return err_set(err, "this configuration needs %.1f GiB per rank (%d ranks) for training but the machine "
                       "has %.1f GiB; reduce --micro-batch-size, --seq-length or the model size",
                       need / 1073741824.0, local_ranks, have / 1073741824.0);
    return 0;
}

int train_common_recompute(const train_common_t *o, tf_recompute_t *r, err_t *err) {
    return tf_recompute_parse(r, o->recompute_activations, o->recompute_granularity, o->recompute_method,
                              o->recompute_num_layers, err);
}

int train_common_precision(const train_common_t *o, train_base_t *b, err_t *err) {
    b->precision = o->fp16 ? PRECISION_FP16 : o->bf16 ? PRECISION_BF16 : PRECISION_FP32;
    b->has_scaler = o->fp16 || o->loss_scale > 0.0f;
    if (o->loss_scale > 0.0f) loss_scaler_constant(&b->scaler, o->loss_scale);
    else if (o->fp16)
        loss_scaler_dynamic(&b->scaler, o->initial_loss_scale, o->min_loss_scale, o->loss_scale_window, o->hysteresis);
    dtype_t grads = b->precision == PRECISION_FP16 && !o->accumulate_fp32_grads ? DTYPE_F16 : DTYPE_F32;
    return dist_optim_set_precision(&b->opt, precision_dtype(b->precision), grads, err);
}

loss_scaler_t *train_base_scaler(train_base_t *b) { return b->has_scaler ? &b->scaler : NULL; }

void train_base_describe_precision(const train_base_t *b, char *buf, size_t n) {
    const char *p = precision_name(b->precision);
    if (!b->has_scaler) snprintf(buf, n, "%s", p);
    else if (!b->scaler.dynamic) snprintf(buf, n, "%s (constant loss scale %g)", p, (double)b->scaler.scale);
    else snprintf(buf, n, "%s (dynamic loss scale from %.0f, window %d, hysteresis %d)", p, (double)b->scaler.scale,
                  b->scaler.growth_interval, b->scaler.hysteresis);
}

int train_hook_finish_grads(void *job, double *grad_norm, err_t *err) {
    return dist_optim_finish(&((train_base_t *)job)->opt, grad_norm, err);
}

int train_hook_step(void *job, float lr, float grad_scale, err_t *err) {
    train_base_t *b = job;
    if (dist_optim_step(&b->opt, lr, grad_scale, err) != 0) return -1;
    return b->be->sync(b->be, err);
}

int train_hook_dp_mean(void *job, double *v, err_t *err) {
    train_base_t *b = job;
    if (b->grid.dp_size == 1) return 0;
    if (comm_allreduce_f64(b->grid.dp, v, 1, COMM_SUM, err) != 0) return -1;
    *v /= b->grid.dp_size;
    return 0;
}
