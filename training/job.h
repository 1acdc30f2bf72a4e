/* job.h — one training job for every model: `megac train gpt` and `megac
 * train bert` are each a flag table, a model configuration and a task (below);
 * the job does the rest, in this order:
 *   setup     backend, process grid, --load's checkpoint checked against the
 *             model before anything large exists, the batches, the task's data,
 *             the memory check, the model and its weights, then the optimizer
 *             over the model's parameter store, --fp16/--bf16, and the
 *             checkpoint's weights and optimizer state;
 *   the loop  trainer_run (trainer.h), whose step calls the job's batch,
 *             forward and backward hooks (the task's batch, the model's forward
 *             and backward), then reduces and updates; evaluation and saves;
 *   teardown.
 * A start-up failure on any rank is reported once (by the lowest failing rank)
 * and every rank exits 1; a failure during training aborts the whole job. */
#ifndef MEGAC_TRAINING_JOB_H
#define MEGAC_TRAINING_JOB_H

#include "../models/model.h"
#include "train_checkpoint.h"
#include "train_common.h"

typedef struct train_job train_job_t;

/* What a model brings to the job besides its model_ops_t: its data, its
 * checkpoint functions and its extra log fields. */
typedef struct train_task {
    const model_ops_t *model;
    const model_ckpt_ops_t *ckpt;
    void (*ckpt_params)(const void *model, ckpt_param_t *params);
    /* optional: checks of the task's flags that need no process grid */
    int (*check)(const void *task_opts, err_t *err);
    /* opens the data (the job knows its batches and checkpoint position by then)
     * into j->data and checks the validation split; data_close frees it */
    int (*data_open)(train_job_t *j, err_t *err);
    void (*data_close)(train_job_t *j);
    /* the micro-batch of samples first.. of the training (train) or validation
     * split as the model's batch; *detail: where forward puts the model's own
     * result (NULL: nothing) */
    int (*batch)(train_job_t *j, int train, int64_t first, const void **batch, void **detail, err_t *err);
    /* rank 0: the first lines of the start-up banner */
    void (*banner)(const train_job_t *j);
    /* optional: after each forward; at the end of each validation (every rank) */
    void (*after_forward)(train_job_t *j, int train, const void *batch, const void *detail);
    int (*eval_end)(train_job_t *j, int64_t it, char *json, size_t jn, err_t *err);
    /* optional, every rank at each log line (trainer.h's log_extra) */
    int (*log_extra)(train_job_t *j, char *text, size_t tn, char *json, size_t jn, err_t *err);
    /* model FLOPs of one training iteration (the global batch, forward and
     * backward; models/flops.h): the log line's TFLOP/s per GPU and MFU */
    double (*flops_per_iteration)(const train_job_t *j);
} train_task_t;

struct train_job {
    train_base_t base;            /* first: the shared trainer hooks take the job as it */
    const train_task_t *task;
    const train_common_t *o;
    const train_ckpt_opts_t *ck;
    void *cfg;                    /* the model's configuration (--load may take its positions) */
    const void *task_opts;        /* the task's data flags */
    model_shape_t shape;
    void *model;                  /* the instance, task->model->model_size bytes */
    void *data;                   /* the task's data (data_open) */
    int micro_batch, global_batch, num_micro; /* num_micro: per DP rank */
    int rank;
    const void *batch;            /* the micro-batch task->batch made last */
    void *detail;                 /* and where forward puts the model's own result */
    train_ckpt_t ckpt;            /* --save / --load */
};

/* `megac train <model>` after its flags: every check that needs no process
 * grid has run (failed, with err's message, when one did not pass); cfg is
 * complete. Runs the job on every rank and returns the exit code. */
int train_job_main(const train_task_t *task, void *cfg, train_common_t *o, const train_ckpt_opts_t *ck,
                   const void *task_opts, int failed, err_t *err, int argc, char **argv);

extern const train_task_t train_task_gpt, train_task_bert;

#endif
