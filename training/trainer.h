/* trainer.h — the training loop, independent of the model.
 *
 * Each iteration: zero gradients, run this rank's micro-batches of the global
 * batch (Megatron's pretraining sampler picks their samples; each is a batch,
 * a forward and a backward; gradients accumulate, each scaled by
 * 1/(micro-batches * DP)), finish the
 * gradient reduction and take the global gradient norm, clip, step the
 * optimizer with the scheduled learning rate, and log like Megatron-LM;
 * validation every --eval-interval and at the end; a checkpoint every
 * save_interval iterations and at the end (when a save hook is given). A resumed
 * run starts after start_iteration with consumed_samples already consumed. The
 * model, its data and its (possibly distributed) optimizer come in through
 * trainer_hooks_t.
 *
 * With a loss scaler (fp16) the micro-batches' gradients are of the loss times
 * the scale; a non-finite gradient norm then means an overflow: the step is
 * skipped (the optimizer never sees it), counted and logged, and the scaler
 * updated; otherwise the norm is unscaled and the step divides the gradients by
 * the scale. As in Megatron-LM the learning-rate schedule advances only on
 * iterations whose step was taken. */
#ifndef MEGAC_TRAINER_H
#define MEGAC_TRAINER_H

#include <stdint.h>
#include <stdio.h>

#include "../framework/optim.h"
#include "../framework/precision.h"

typedef struct trainer_hooks {
    void *self;
    /* the micro-batch of this rank: samples first .. first + micro-batch - 1 of
     * the training (train) or the validation split */
    int (*batch)(void *self, int train, int64_t first, err_t *err);
    /* *loss of that batch; with `train`, dropout keyed by step */
    int (*forward)(void *self, int train, uint32_t step, double *loss, err_t *err);
    /* gradients of grad_scale * loss of the last forward, accumulated; `last`:
     * the iteration's last micro-batch (the gradient reduction may start) */
    int (*backward)(void *self, float grad_scale, uint32_t step, int last, err_t *err);
    void (*zero_grads)(void *self);
    /* after the micro-batches: complete the gradient reduction, global norm */
    int (*finish_grads)(void *self, double *grad_norm, err_t *err);
    /* optimizer step with learning rate lr on gradients times grad_scale */
    int (*step)(void *self, float lr, float grad_scale, err_t *err);
    /* mean over the data-parallel ranks of a host scalar (the logged losses) */
    int (*dp_mean)(void *self, double *v, err_t *err);
    /* optional, every rank: after each validation's micro-batches (iteration `it`);
     * json (jn bytes, starts empty): fields ", \"k\": v" added to the validation record */
    int (*eval_end)(void *self, int64_t it, char *json, size_t jn, err_t *err);
    /* optional: checkpoint after iteration `it`, `consumed` samples consumed in all */
    int (*save)(void *self, int64_t it, int64_t consumed, err_t *err);
    /* optional, called on every rank at each log line: more fields for the log
     * line (" | name: value |") and the metrics object (", \"name\": value") */
    int (*log_extra)(void *self, char *text, size_t tn, char *json, size_t jn, err_t *err);
} trainer_hooks_t;

typedef struct trainer_config {
    int64_t train_iters;
    int micro_batch_size, global_batch_size; /* micro-batches = global / (micro * DP) */
    int data_parallel_size, data_parallel_rank;
    int seq_length;
    int log_interval, eval_interval, eval_iters;
    lr_schedule_t schedule;
    float clip_grad;
    const char *metrics_file; /* JSON Lines, or NULL */
    FILE *log;                /* NULL: quiet */
    double *loss_history;     /* optional [train_iters]: loss per iteration */
    int64_t start_iteration;  /* iterations done before this run (a loaded checkpoint) */
    int64_t consumed_samples; /* samples consumed by those iterations */
    int64_t save_interval;    /* with a save hook: every this many iterations (0: only at the end) */
    loss_scaler_t *scaler;    /* fp16 loss scaling, or NULL; updated in place */
    int64_t *skipped_iterations; /* optional in/out: skipped steps so far (a save hook reads it) */
    /* model FLOPs of one iteration per rank (0: TFLOP/s not logged) and one rank's
     * peak TFLOP/s (0: no MFU); logged as Megatron's "throughput per GPU" */
    double flops_per_rank_iter, peak_tflops;
    const char *tensorboard_dir; /* event files written here, or NULL (give it on the last rank only) */
    int skip_train;              /* Megatron's --skip-train: one validation at start_iteration, no step */
} trainer_config_t;

typedef struct trainer_result {
    double last_loss, last_val_loss, last_grad_norm; /* grad norm NaN: last step skipped */
    int64_t skipped_iterations;                      /* in this run */
    double seconds;
} trainer_result_t;

int trainer_run(const trainer_config_t *cfg, trainer_hooks_t *hooks, trainer_result_t *res,
                err_t *err);

/* seconds since an arbitrary point (monotonic clock) */
double trainer_now(void);

#endif
