/* train_common.h — what `megac train gpt` and `megac train bert` share: the
 * training flags (batch sizes, schedule, optimizer, parallel layout, logging)
 * with Megatron-LM's names and defaults and their checks, and the trainer hooks
 * that do not depend on the model (gradient reduction, optimizer step, the
 * data-parallel mean of the logged losses). */
#ifndef MEGAC_TRAIN_COMMON_H
#define MEGAC_TRAIN_COMMON_H

#include "../framework/backend.h"
#include "../framework/optim.h"
#include "../framework/precision.h"
#include "../models/transformer.h"
#include "../parallel/dist_optim.h"
#include "../parallel/grid.h"
#include "../framework/args.h"

typedef struct train_common {
    int micro_batch_size, global_batch_size, log_interval, eval_interval, eval_iters;
    int tensor_parallel, distributed_optimizer;
    long long train_iters, lr_warmup_iters, lr_decay_iters, seed, bucket_size;
    float lr, min_lr, weight_decay, clip_grad, beta1, beta2, eps;
    const char *lr_decay_style, *optimizer, *metrics_file, *device, *split;
    /* mixed precision (Megatron's flags) */
    int fp16, bf16, accumulate_fp32_grads, loss_scale_window, hysteresis;
    float loss_scale, initial_loss_scale, min_loss_scale;
    /* activation recomputation */
    int recompute_activations, recompute_num_layers;
    const char *recompute_granularity, *recompute_method;
    int use_flash_attn; /* the fused attention ops (Megatron's --use-flash-attn) */
    const arg_spec_t *spec; /* train_common_specs' specs: which flags were given */
    float distributed_timeout_minutes; /* the collective watchdog (parallel/comm.h) */
    const char *tensorboard_dir; /* event files, written by the last rank */
    float peak_tflops;           /* one rank's peak: the log line's MFU */
    int skip_train;              /* evaluation only (megac eval) */
} train_common_t;

#define TRAIN_COMMON_SPECS 41

void train_common_defaults(train_common_t *o);
/* Writes the TRAIN_COMMON_SPECS flag specs into out. */
void train_common_specs(train_common_t *o, arg_spec_t *out);
/* --micro-batch-size and --global-batch-size alone (all --print-params needs). */
int train_common_check_batch(const train_common_t *o, err_t *err);
/* Checks every value (the global batch against DP is checked where DP is known,
 * by train_common_batches) and fills the schedule and the optimizer configuration. */
int train_common_check(const train_common_t *o, lr_schedule_t *sched, adamw_config_t *acfg, err_t *err);
/* The global batch over dp_size data-parallel ranks (default: micro-batch x DP)
 * and each rank's micro-batches per iteration. */
int train_common_batches(const train_common_t *o, int dp_size, int *global_batch, int *num_micro, err_t *err);

/* Bytes a rank holds besides the model's own blocks for `params` local
 * parameters: Adam's m and v, and with --bf16/--fp16 the fp32 master weights
 * (megac keeps the model's weights in fp32 storage, rounded). */
double train_common_optimizer_bytes(const train_common_t *o, double params);
/* On CPU ranks: refuses (one line) a run whose `need` bytes per rank, times the
 * ranks sharing this machine, exceed its physical memory. */
int train_common_check_memory(backend_t *be, double need, err_t *err);

/* --recompute-activations / --recompute-granularity / --recompute-method /
 * --recompute-num-layers into a model configuration's setting. */
int train_common_recompute(const train_common_t *o, tf_recompute_t *r, err_t *err);

/* The model-free part of a training job. A job struct starts with this member,
 * so the hooks below take the job itself as the trainer's `self`. */
typedef struct train_base {
    backend_t *be;
    grid_t grid;
    dist_optim_t opt;
    precision_t precision;
    loss_scaler_t scaler;     /* used when has_scaler (fp16, or --loss-scale) */
    int has_scaler;
    int64_t skipped;          /* iterations skipped on overflow, checkpoints included */
} train_base_t;

/* After the optimizer exists: --fp16/--bf16 (master weights, gradient rounding)
 * and the loss scaler. The trainer takes train_base_scaler(b) and &b->skipped. */
int train_common_precision(const train_common_t *o, train_base_t *b, err_t *err);
loss_scaler_t *train_base_scaler(train_base_t *b);
/* "fp32", "bf16", "fp16 (dynamic loss scale from 4294967296)", ... for the startup line */
void train_base_describe_precision(const train_base_t *b, char *buf, size_t n);

/* trainer hooks: finish the gradient reduction (global norm), step the
 * optimizer, and average a logged scalar over the data-parallel ranks */
int train_hook_finish_grads(void *job, double *grad_norm, err_t *err);
int train_hook_step(void *job, float lr, float grad_scale, err_t *err);
int train_hook_dp_mean(void *job, double *v, err_t *err);

#endif
