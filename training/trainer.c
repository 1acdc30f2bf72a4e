/* trainer.c — the training loop (see trainer.h). */
#include "trainer.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <time.h>

#include "../framework/tensorboard.h"

double trainer_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int num_micro(const trainer_config_t *cfg) {
    int dp = cfg->data_parallel_size > 0 ? cfg->data_parallel_size : 1;
    return cfg->global_batch_size / (cfg->micro_batch_size * dp);
}

/* Validation after iteration `it`: every validation reads the same first
 * eval-iters global batches, rank d of DP micro-batch k's samples from (k DP + d) micro. */
static int evaluate(const trainer_config_t *cfg, trainer_hooks_t *h, int64_t it, double *val, char *json,
                    size_t jn, err_t *err) {
    json[0] = 0;
    int micro = num_micro(cfg), dp = cfg->data_parallel_size > 0 ? cfg->data_parallel_size : 1;
    int64_t n = (int64_t)cfg->eval_iters * micro;
    double sum = 0.0;
    for (int64_t k = 0; k < n; k++) {
        double l;
        int64_t first = (k * dp + cfg->data_parallel_rank) * cfg->micro_batch_size;
        if (h->batch(h->self, 0, first, err) != 0 || h->forward(h->self, 0, 0, &l, err) != 0) return -1;
        sum += l;
    }
    if (h->eval_end && h->eval_end(h->self, it, json, jn, err) != 0) return -1;
    *val = n > 0 ? sum / (double)n : NAN;
    return h->dp_mean(h->self, val, err);
}

/* What one iteration did. */
typedef struct step_result {
    double loss, norm;  /* the DP mean of the micro-batches' losses; the global gradient norm (NaN: skipped) */
    float lr;
    int skipped;        /* an fp16 overflow: no update */
} step_result_t;

/* One training iteration, top to bottom: for each of this rank's micro-batches
 * the batch, forward and backward (gradients accumulate scaled by
 * 1/(micro-batches x DP), times the loss scale), then the reduction (the
 * gradients over DP and their global norm; the loss's DP mean), then the
 * update with the scheduled learning rate and the clipped, unscaled gradients
 * — unless an fp16 overflow skips it. `skipped`: steps skipped before this one. */
static int train_step(const trainer_config_t *cfg, trainer_hooks_t *h, int64_t it, int64_t skipped, step_result_t *r,
                      err_t *err) {
    int micro = num_micro(cfg), dp = cfg->data_parallel_size > 0 ? cfg->data_parallel_size : 1;
    int d = cfg->data_parallel_rank;
    loss_scaler_t *ls = cfg->scaler;
    float scale = ls ? ls->scale : 1.0f;
    float gscale = scale / (float)(micro * dp);
    h->zero_grads(h->self);
    r->loss = 0.0;
    for (int k = 0; k < micro; k++) {
        /* Megatron's pretraining sampler: rank d reads for micro-batch k the samples
         * first + [0, micro-batch), continuing from those a loaded checkpoint consumed */
        int64_t first = cfg->consumed_samples + (it - cfg->start_iteration - 1) * cfg->global_batch_size +
                        ((int64_t)k * dp + d) * cfg->micro_batch_size;
        /* dropout follows the global micro-batch, so any DP size drops the same elements */
        uint32_t step = (uint32_t)((it - 1) * micro * dp + (int64_t)k * dp + d);
        double l;
        if (h->batch(h->self, 1, first, err) != 0 || h->forward(h->self, 1, step, &l, err) != 0 ||
            h->backward(h->self, gscale, step, k == micro - 1, err) != 0)
            return -1;
        r->loss += l / micro;
    }
    if (h->finish_grads(h->self, &r->norm, err) != 0 || h->dp_mean(h->self, &r->loss, err) != 0) return -1;
    r->skipped = ls && !isfinite(r->norm);
    if (ls) loss_scaler_update(ls, r->skipped);
    r->lr = lr_at(&cfg->schedule, it - skipped - r->skipped);
    if (r->skipped) {
        r->norm = NAN;
        return 0;
    }
    r->norm /= scale;
    if (!isfinite(r->loss) || !isfinite(r->norm))
        return err_set(err, "loss %g, gradient norm %g: training diverged", r->loss, r->norm);
    return h->step(h->self, r->lr, optim_clip_factor(r->norm, cfg->clip_grad) / scale, err);
}

/* After writing to the log or the metrics file: whatever did not reach it (a
 * full disk) stops the run, naming the file. */
static int check_written(FILE *f, const char *what, err_t *err) {
    if (fflush(f) == 0 && !ferror(f)) return 0;
    return err_set(err, "%s: write failed: %s", what, strerror(errno ? errno : EIO));
}

static int check_logs(const trainer_config_t *cfg, FILE *metrics, err_t *err) {
    char what[300];
    snprintf(what, sizeof what, "--metrics-file %s", cfg->metrics_file ? cfg->metrics_file : "");
    if (cfg->log && check_written(cfg->log, "the log", err) != 0) return -1;
    return metrics ? check_written(metrics, what, err) : 0;
}

static int log_validation(const trainer_config_t *cfg, FILE *metrics, tb_writer_t *tb, int64_t it, double val,
                          const char *json, err_t *err) {
    if (cfg->log) {
        fprintf(cfg->log, "-----------------------------------------------------------------------------\n");
        fprintf(cfg->log, " validation loss at iteration %lld | lm loss value: %.6E | lm loss PPL: %.6E |\n",
                (long long)it, val, exp(val));
        fprintf(cfg->log, "-----------------------------------------------------------------------------\n");
        fflush(cfg->log);
    }
    if (metrics) {
        fprintf(metrics, "{\"iteration\": %lld, \"val_loss\": %.9g, \"val_ppl\": %.9g%s}\n", (long long)it,
                val, exp(val), json);
        fflush(metrics);
    }
    if (tb && (tb_add_scalar(tb, "lm loss validation", it, val, err) != 0 ||
               tb_add_scalar(tb, "lm loss validation ppl", it, exp(val), err) != 0 || tb_writer_flush(tb, err) != 0))
        return -1;
    return check_logs(cfg, metrics, err);
}

/* the scalars Megatron's training_log writes, with its tags */
static int tb_log(tb_writer_t *tb, const trainer_config_t *cfg, int64_t it, double loss, float lr, double norm,
                  int64_t skipped, double tps, double tflops, err_t *err) {
    const loss_scaler_t *ls = cfg->scaler;
    if (tb_add_scalar(tb, "learning-rate", it, lr, err) != 0 || tb_add_scalar(tb, "lm loss", it, loss, err) != 0 ||
        tb_add_scalar(tb, "batch-size", it, cfg->global_batch_size, err) != 0 ||
        tb_add_scalar(tb, "tokens-per-second", it, tps, err) != 0)
        return -1;
    if (isfinite(norm) && tb_add_scalar(tb, "grad-norm", it, norm, err) != 0) return -1;
    if (ls && (tb_add_scalar(tb, "loss-scale", it, ls->scale, err) != 0 ||
               tb_add_scalar(tb, "skipped-iterations", it, (double)skipped, err) != 0))
        return -1;
    if (tflops > 0 && tb_add_scalar(tb, "throughput", it, tflops, err) != 0) return -1;
    if (tflops > 0 && cfg->peak_tflops > 0 && tb_add_scalar(tb, "mfu", it, tflops / cfg->peak_tflops, err) != 0)
        return -1;
    return tb_writer_flush(tb, err);
}

int trainer_run(const trainer_config_t *cfg, trainer_hooks_t *h, trainer_result_t *res,
                err_t *err) {
    memset(res, 0, sizeof *res);
    FILE *metrics = NULL;
    if (cfg->metrics_file) {
        metrics = fopen(cfg->metrics_file, "w");
        if (!metrics) return err_set(err, "--metrics-file %s: %s", cfg->metrics_file, strerror(errno));
    }
    tb_writer_t *tb = NULL;
    if (cfg->tensorboard_dir && tb_writer_open(&tb, cfg->tensorboard_dir, err) != 0) {
        if (metrics) fclose(metrics);
        return -1;
    }
    double t_start = trainer_now(), t_log = t_start;
    int64_t iters_since_log = 0, skipped_since_log = 0;
    int64_t skipped_before = cfg->skipped_iterations ? *cfg->skipped_iterations : 0;
    loss_scaler_t *ls = cfg->scaler;
    int rc = 0;
    if (cfg->skip_train) { /* evaluation only: the loaded (or initialized) weights */
        char vjson[256];
        if (evaluate(cfg, h, cfg->start_iteration, &res->last_val_loss, vjson, sizeof vjson, err) != 0)
            rc = err_prefix(err, "validation at iteration %lld", (long long)cfg->start_iteration);
        else if (log_validation(cfg, metrics, tb, cfg->start_iteration, res->last_val_loss, vjson, err) != 0)
            rc = -1;
        goto done;
    }
    for (int64_t it = cfg->start_iteration + 1; it <= cfg->train_iters; it++) {
        int64_t consumed = cfg->consumed_samples + (it - cfg->start_iteration) * cfg->global_batch_size;
        step_result_t r;
        if (train_step(cfg, h, it, skipped_before + res->skipped_iterations, &r, err) != 0) {
            rc = err_prefix(err, "iteration %lld", (long long)it);
            goto done;
        }
        double loss = r.loss, norm = r.norm;
        float lr = r.lr;
        if (r.skipped) {
            res->skipped_iterations++, skipped_since_log++;
            if (cfg->skipped_iterations) *cfg->skipped_iterations = skipped_before + res->skipped_iterations;
        }
        if (cfg->loss_history) cfg->loss_history[it - 1] = loss;
        res->last_loss = loss;
        res->last_grad_norm = norm;
        iters_since_log++;
        if (cfg->log_interval > 0 && (it % cfg->log_interval == 0 || it == cfg->train_iters)) {
            double now = trainer_now();
            double sec = (now - t_log) / (double)iters_since_log;
            double tps = (double)cfg->global_batch_size * cfg->seq_length / sec;
            double tflops = cfg->flops_per_rank_iter / sec / 1e12; /* Megatron's TFLOP/s/GPU */
            char extra[256] = "", extra_json[256] = "";
            if (h->log_extra && h->log_extra(h->self, extra, sizeof extra, extra_json, sizeof extra_json, err) != 0) {
                rc = err_prefix(err, "iteration %lld", (long long)it);
                goto done;
            }
            /* Megatron's fields: the loss scale, the grad norm unless the step was
             * skipped, and the skipped iterations since the last log line */
            char scale_txt[48] = "", norm_txt[48] = "", skip_txt[64] = "";
            char scale_json[48] = "", skip_json[48] = "", norm_json[48] = "null";
            char tput_txt[96] = "", tput_json[96] = "";
            if (tflops > 0) {
                snprintf(tput_txt, sizeof tput_txt, " throughput per GPU (TFLOP/s/GPU): %.3g |", tflops);
                snprintf(tput_json, sizeof tput_json, ", \"tflops_per_gpu\": %.6g", tflops);
            }
            if (tflops > 0 && cfg->peak_tflops > 0) {
                size_t k = strlen(tput_txt), kj = strlen(tput_json);
                snprintf(tput_txt + k, sizeof tput_txt - k, " MFU: %.3g%% |", 100.0 * tflops / cfg->peak_tflops);
                snprintf(tput_json + kj, sizeof tput_json - kj, ", \"mfu\": %.6g", tflops / cfg->peak_tflops);
            }
            if (ls) {
                snprintf(scale_txt, sizeof scale_txt, " loss scale: %.1f |", (double)ls->scale);
                snprintf(skip_txt, sizeof skip_txt, " number of skipped iterations: %3lld |",
                         (long long)skipped_since_log);
                snprintf(scale_json, sizeof scale_json, ", \"loss_scale\": %.9g", (double)ls->scale);
                snprintf(skip_json, sizeof skip_json, ", \"skipped_iterations\": %lld", (long long)skipped_since_log);
            }
            if (isfinite(norm)) {
                snprintf(norm_txt, sizeof norm_txt, " grad norm: %.3f |", norm);
                snprintf(norm_json, sizeof norm_json, "%.9g", norm);
            }
            if (cfg->log) {
                fprintf(cfg->log,
                        " iteration %8lld/%8lld | consumed samples: %12lld | elapsed time per "
                        "iteration (ms): %.1f |%s learning rate: %.6E | global batch size: %5d | lm loss: "
                        "%.6E |%s%s%s tokens per second: %.1f |%s\n",
                        (long long)it, (long long)cfg->train_iters, (long long)consumed, sec * 1e3, tput_txt,
                        (double)lr, cfg->global_batch_size, loss, scale_txt, norm_txt, skip_txt, tps, extra);
                fflush(cfg->log);
            }
            if (metrics) {
                fprintf(metrics,
                        "{\"iteration\": %lld, \"consumed_samples\": %lld, \"lm_loss\": %.9g, \"lr\": %.9g, "
                        "\"grad_norm\": %s, \"ms_per_iter\": %.3f, \"tokens_per_sec\": %.3f%s%s%s%s}\n",
                        (long long)it, (long long)consumed, loss, (double)lr,
                        norm_json, sec * 1e3, tps, tput_json, scale_json, skip_json, extra_json);
                fflush(metrics);
            }
            if (check_logs(cfg, metrics, err) != 0) {
                rc = -1;
                goto done;
            }
            if (tb && tb_log(tb, cfg, it, loss, lr, norm, skipped_since_log, tps, tflops, err) != 0) {
                rc = err_prefix(err, "iteration %lld", (long long)it);
                goto done;
            }
            skipped_since_log = 0;
            t_log = now;
            iters_since_log = 0;
        }
        int last = it == cfg->train_iters;
        if (cfg->eval_iters > 0 && ((cfg->eval_interval > 0 && it % cfg->eval_interval == 0) || last)) {
            double t0 = trainer_now(), val;
            char vjson[256];
            if (evaluate(cfg, h, it, &val, vjson, sizeof vjson, err) != 0) {
                rc = err_prefix(err, "validation at iteration %lld", (long long)it);
                goto done;
            }
            res->last_val_loss = val;
            if (log_validation(cfg, metrics, tb, it, val, vjson, err) != 0) {
                rc = -1;
                goto done;
            }
            t_log += trainer_now() - t0; /* keep evaluation out of the iteration time */
        }
        if (h->save && ((cfg->save_interval > 0 && it % cfg->save_interval == 0) || last)) {
            double t0 = trainer_now();
            if (h->save(h->self, it, consumed, err) != 0) {
                rc = err_prefix(err, "checkpoint at iteration %lld", (long long)it);
                goto done;
            }
            t_log += trainer_now() - t0; /* and saving */
        }
    }
done:
    res->seconds = trainer_now() - t_start;
    if (metrics && fclose(metrics) != 0 && rc == 0)
        rc = err_set(err, "--metrics-file %s: write failed", cfg->metrics_file);
    if (tb_writer_close(tb, rc == 0 ? err : &(err_t){{0}}) != 0) rc = -1;
    return rc;
}
