/* train_common.h — the training flags every model shares (batch sizes, schedule,
 * optimizer, parallel layout, logging) with Megatron-LM's names and defaults, and
 * their checks. */
#ifndef MEGAC_TRAIN_COMMON_H
#define MEGAC_TRAIN_COMMON_H

#include "../framework/optim.h"
#include "args.h"

typedef struct train_common {
    int micro_batch_size, global_batch_size, log_interval, eval_interval, eval_iters;
    int tensor_parallel, distributed_optimizer;
    long long train_iters, lr_warmup_iters, lr_decay_iters, seed, bucket_size;
    float lr, min_lr, weight_decay, clip_grad, beta1, beta2, eps;
    const char *lr_decay_style, *optimizer, *metrics_file, *device, *split;
} train_common_t;

#define TRAIN_COMMON_SPECS 24

void train_common_defaults(train_common_t *o);
/* Writes the TRAIN_COMMON_SPECS flag specs into out. */
void train_common_specs(train_common_t *o, arg_spec_t *out);
/* Checks the values (global batch against DP is checked where DP is known) and
 * fills the schedule and the optimizer configuration. */
int train_common_check(const train_common_t *o, lr_schedule_t *sched, adamw_config_t *acfg, err_t *err);

#endif
