/* job.c — the training job every model runs (see job.h). */
#include "job.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trainer.h"

/* The trainer's hooks (trainer.h): its step reads batch, forward, backward,
 * reduction, update; these are the batch, forward and backward of the model. */
static int job_batch(void *self, int train, int64_t first, err_t *err) {
    train_job_t *j = self;
    return j->task->batch(j, train, first, &j->batch, &j->detail, err);
}

static int job_forward(void *self, int train, uint32_t step, double *loss, err_t *err) {
    train_job_t *j = self;
    if (j->task->model->forward(j->model, j->batch, train, step, loss, j->detail, err) != 0) return -1;
    if (j->task->after_forward) j->task->after_forward(j, train, j->batch, j->detail);
    return 0;
}

static int job_backward(void *self, float grad_scale, uint32_t step, int last, err_t *err) {
    train_job_t *j = self;
    if (last) dist_optim_arm(&j->base.opt); /* the last backward starts the gradient reduction */
    j->task->model->set_grad_ready(j->model, last ? dist_optim_grad_ready : NULL, &j->base.opt);
    return j->task->model->backward(j->model, grad_scale, step, err);
}

static int job_eval_end(void *self, int64_t it, char *json, size_t jn, err_t *err) {
    train_job_t *j = self;
    return j->task->eval_end(j, it, json, jn, err);
}

static void job_zero_grads(void *self) {
    train_job_t *j = self;
    j->task->model->zero_grads(j->model);
}

/* the trainer's save hook: every rank writes its part of the checkpoint */
static int job_save(void *self, int64_t it, int64_t consumed, err_t *err) {
    return train_ckpt_save(&((train_job_t *)self)->ckpt, it, consumed, err);
}

static int job_log_extra(void *self, char *text, size_t tn, char *json, size_t jn, err_t *err) {
    train_job_t *j = self;
    return j->task->log_extra(j, text, tn, json, jn, err);
}

/* Everything before training: grid, checkpoint metadata (checked before anything
 * large exists), data, model, optimizer, precision, the checkpoint's tensors. */
static int job_setup(train_job_t *j, train_common_t *o, const lr_schedule_t *sched, const adamw_config_t *acfg,
                     err_t *err) {
    const model_ops_t *ops = j->task->model;
    j->base.be = backend_by_name(o->device, err);
    if (!j->base.be) return -1;
    if (grid_create(&j->base.grid, o->tensor_parallel, j->base.be, err) != 0) return -1;
    grid_t *g = &j->base.grid;
    if (ops->config_validate(j->cfg, g->tp_size, err) != 0) return -1;
    if (train_ckpt_open(&j->ckpt, j->ck, j->task->ckpt, j->cfg, &o->seed, err) != 0) return -1;
    if (train_common_batches(o, g->dp_size, &j->global_batch, &j->num_micro, err) != 0) return -1;
    j->micro_batch = o->micro_batch_size;
    if (j->task->data_open(j, err) != 0) return -1;
    int T = j->shape.seq_length;
    double need = ops->memory_bytes(j->cfg, j->micro_batch, T, g->tp_size) +
                  train_common_optimizer_bytes(o, (double)ops->param_count(j->cfg, g->tp_size) / g->tp_size);
    if (train_common_check_memory(j->base.be, need, err) != 0) return -1;
    j->model = calloc(1, ops->model_size);
    if (!j->model) return err_set(err, "out of host memory for the model");
    model_parallel_t par = {g->tp, o->distributed_optimizer ? g->dp_size : 1};
    if (ops->create(j->model, j->cfg, j->base.be, j->micro_batch, T, &par, err) != 0) return -1;
    if (j->ckpt.loading) ops->set_seed(j->model, (uint64_t)o->seed); /* dropout's key; the weights come from the checkpoint */
    else ops->init_weights(j->model, (uint64_t)o->seed);
    param_store_t *s = ops->store(j->model);
    ckpt_param_t *table = train_ckpt_table(&j->ckpt, s->n, err);
    if (!table) return -1;
    j->task->ckpt_params(j->model, table);
    /* the optimizer over the store, then the precision (master weights, the
     * scaler), then what the checkpoint holds for both */
    if (dist_optim_create(&j->base.opt, j->base.be, g, acfg, s->params, s->grads, s->n, s->param_block,
                          s->grad_block, s->numel, s->alloc, o->distributed_optimizer, (size_t)o->bucket_size, err) != 0 ||
        train_common_precision(o, &j->base, err) != 0)
        return -1;
    return train_ckpt_load(&j->ckpt, &j->base, s->param_block, sched, acfg, (uint64_t)o->seed, err);
}

static void job_teardown(train_job_t *j) {
    dist_optim_destroy(&j->base.opt);
    train_ckpt_free(&j->ckpt);
    if (j->model && j->task->model->store(j->model)->params) j->task->model->destroy(j->model);
    free(j->model);
    if (j->data) j->task->data_close(j);
    grid_destroy(&j->base.grid);
}

static void print_banner(const train_job_t *j) {
    j->task->banner(j);
    char prec[128], rec[128];
    train_base_describe_precision(&j->base, prec, sizeof prec);
    tf_recompute_describe(j->shape.recompute, rec, sizeof rec);
    printf("precision: %s; activation recomputation: %s; flash attention: %s\n", prec, rec,
           j->shape.use_flash_attn ? "on" : "off");
    if (j->ckpt.note[0]) printf("%s\n", j->ckpt.note);
    fflush(stdout);
}

int train_job_main(const train_task_t *task, void *cfg, train_common_t *o, const train_ckpt_opts_t *ck,
                   const void *task_opts, int failed, err_t *err, int argc, char **argv) {
    const char *model = task->model->name;
    lr_schedule_t sched;
    adamw_config_t acfg;
    if (!failed && (train_common_check(o, &sched, &acfg, err) != 0 || train_ckpt_check(ck, err) != 0 ||
                    (task->check && task->check(task_opts, err) != 0)))
        failed = 1;

    /* from here every rank of the job takes part */
    err_t init_err;
    if (parallel_init(&argc, &argv, &init_err) != 0) {
        fprintf(stderr, "megac train %s: error: %s\n", model, init_err.msg);
        return 1;
    }
    int rank = parallel_world_rank();
    train_job_t job;
    memset(&job, 0, sizeof job);
    job.task = task, job.o = o, job.ck = ck, job.cfg = cfg, job.task_opts = task_opts, job.rank = rank;
    task->model->shape(cfg, &job.shape);
    if (!failed && job_setup(&job, o, &sched, &acfg, err) != 0) failed = 1;
    int first = parallel_first_failure(failed);
    if (first >= 0) {
        if (rank == first) fprintf(stderr, "megac train %s: error: %s\n", model, err->msg);
        job_teardown(&job);
        parallel_finalize();
        return 1;
    }
    if (rank == 0) print_banner(&job);
    grid_t *g = &job.base.grid;
    trainer_config_t tc = {.train_iters = o->train_iters, .micro_batch_size = o->micro_batch_size,
                           .global_batch_size = job.global_batch, .data_parallel_size = g->dp_size,
                           .data_parallel_rank = g->dp_rank,
                           .seq_length = job.shape.seq_length, .log_interval = o->log_interval,
                           .eval_interval = o->eval_interval, .eval_iters = o->eval_iters, .schedule = sched,
                           .clip_grad = o->clip_grad, .metrics_file = rank == 0 ? o->metrics_file : NULL,
                           .log = rank == 0 ? stdout : NULL, .start_iteration = job.ckpt.start_iter,
                           .consumed_samples = job.ckpt.consumed_start, .save_interval = ck->save_interval,
                           .scaler = train_base_scaler(&job.base), .skipped_iterations = &job.base.skipped,
                           .peak_tflops = o->peak_tflops, .skip_train = o->skip_train,
                           .tensorboard_dir = rank == g->world_size - 1 ? o->tensorboard_dir : NULL};
    if (task->flops_per_iteration) tc.flops_per_rank_iter = task->flops_per_iteration(&job) / g->world_size;
    trainer_hooks_t hooks = {.self = &job, .batch = job_batch, .forward = job_forward, .backward = job_backward,
                             .zero_grads = job_zero_grads, .eval_end = task->eval_end ? job_eval_end : NULL,
                             .finish_grads = train_hook_finish_grads,
                             .step = train_hook_step, .dp_mean = train_hook_dp_mean, .save = ck->save ? job_save : NULL,
                             .log_extra = task->log_extra ? job_log_extra : NULL};
    trainer_result_t res;
    int rc = trainer_run(&tc, &hooks, &res, err);
    long long ran = o->train_iters > job.ckpt.start_iter ? o->train_iters - job.ckpt.start_iter : 0;
    if (rc == 0 && rank == 0 && o->skip_train)
        printf("evaluation done: validation loss %.6f (ppl %.4g) at iteration %lld in %.1f s\n", res.last_val_loss,
               exp(res.last_val_loss), (long long)job.ckpt.start_iter, res.seconds);
    else if (rc == 0 && rank == 0 && ran == 0)
        printf("nothing to train: the checkpoint is at iteration %lld and --train-iters is %lld\n",
               (long long)job.ckpt.start_iter, o->train_iters);
    else if (rc == 0 && rank == 0)
        printf("training done: %lld iterations in %.1f s, final loss %.4f\n", ran, res.seconds, res.last_loss);
    /* the banner, checkpoint and end lines on standard output: a full disk fails the run */
    if (rc == 0 && rank == 0 && (fflush(stdout) != 0 || ferror(stdout)))
        rc = err_set(err, "standard output: write failed: %s", strerror(errno ? errno : EIO));
    if (rc != 0) {
        fprintf(stderr, "megac train %s: rank %d: error: %s\n", model, rank, err->msg);
        if (parallel_world_size() > 1) parallel_abort(1);
    }
    job_teardown(&job);
    parallel_finalize();
    return rc == 0 ? 0 : 1;
}
