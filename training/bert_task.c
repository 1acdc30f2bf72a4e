/* bert_task.c — BERT in the training job (job.h): masked-LM and sentence-pair
 * micro-batches from bert_data.h, the masked-LM and sentence losses logged
 * apart, and after each validation the masked-LM accuracy against the
 * majority-token baseline and the sentence accuracy. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../models/bert.h"
#include "../models/flops.h"
#include "bert_data.h"
#include "job.h"

typedef struct bert_task_data {
    bert_data_t data;
    bert_result_t result;           /* of the last forward */
    double mlm_sum, sop_sum;        /* training losses since the last log line */
    int64_t loss_count;
    int64_t eval_masked, eval_correct, eval_sop, eval_sop_correct, *label_count; /* this validation's */
} bert_task_data_t;

static int data_open(train_job_t *j, err_t *err) {
    const train_common_t *o = j->o;
    const bert_config_t *cfg = j->cfg;
    bert_task_data_t *d = calloc(1, sizeof *d);
    if (!d) return err_set(err, "out of host memory");
    j->data = d;
    bert_data_opts_t dopts = *(const bert_data_opts_t *)j->task_opts;
    dopts.seed = (uint64_t)o->seed; /* the checkpoint's, when it replaced --seed */
    int64_t left = o->train_iters > j->ckpt.start_iter ? o->train_iters - j->ckpt.start_iter : 0;
    dopts.num_samples[SPLIT_TRAIN] = j->ckpt.consumed_start + left * j->global_batch;
    /* every validation reads the same first eval-iters global batches */
    dopts.num_samples[SPLIT_VALID] = (int64_t)o->eval_iters * j->global_batch;
    char train_req[96], valid_req[96];
    snprintf(train_req, sizeof train_req, "--train-iters %lld (x global batch %d)", (long long)o->train_iters, j->global_batch);
    snprintf(valid_req, sizeof valid_req, "--eval-iters %d (x global batch %d)", o->eval_iters, j->global_batch);
    dopts.request[SPLIT_TRAIN] = train_req, dopts.request[SPLIT_VALID] = valid_req;
    dopts.progress = j->rank == 0 ? stderr : NULL; /* sample-map builds' progress */
    if (bert_data_open(&d->data, &dopts, j->micro_batch, err) != 0) return -1;
    /* the checkpoints record the tokens megac's WordPiece appended to vocab.txt
     * ([BOS], [EOS]): export-hf leaves them out of Hugging Face's vocabulary */
    if (d->data.vocab_size == cfg->vocab_size) j->ckpt.tokenizer_added_tokens = tokenizer_added_tokens(&d->data.tok);
    if (o->eval_iters > 0 && bert_data_num_samples(&d->data, SPLIT_VALID) == 0)
        return err_set(err, "--data-path: no validation samples (another --split, or --eval-iters 0)");
    d->label_count = calloc((size_t)cfg->vocab_size, sizeof(int64_t));
    if (!d->label_count) return err_set(err, "out of memory");
    return 0;
}

static void data_close(train_job_t *j) {
    bert_task_data_t *d = j->data;
    bert_data_close(&d->data);
    free(d->label_count);
    free(d);
    j->data = NULL;
}

static int batch(train_job_t *j, int train, int64_t first, const void **out, void **detail, err_t *err) {
    bert_task_data_t *d = j->data;
    if (bert_data_batch(&d->data, train ? SPLIT_TRAIN : SPLIT_VALID, first, err) != 0) return -1;
    *out = &d->data.batch, *detail = &d->result;
    return 0;
}

/* training: the two losses for the log line; validation: the accuracy counts */
static void after_forward(train_job_t *j, int train, const void *batch, const void *detail) {
    bert_task_data_t *d = j->data;
    const bert_result_t *r = detail;
    const bert_batch_t *b = batch;
    if (train) {
        d->mlm_sum += r->mlm_loss, d->sop_sum += r->sop_loss, d->loss_count++;
        return;
    }
    d->eval_masked += b->n_mlm, d->eval_correct += r->mlm_correct;
    d->eval_sop += ((const bert_config_t *)j->cfg)->binary_head ? b->B : 0, d->eval_sop_correct += r->sop_correct;
    for (int i = 0; i < b->n_mlm; i++) d->label_count[b->mlm_labels[i]]++;
}

/* after each validation: masked-LM accuracy against the majority-token baseline
 * (the share of the most frequent label among the masked tokens) and sentence
 * accuracy, summed over the data-parallel ranks; the counts start again */
static int eval_end(train_job_t *j, int64_t it, char *json, size_t jn, err_t *err) {
    bert_task_data_t *d = j->data;
    const bert_config_t *cfg = j->cfg;
    const grid_t *g = &j->base.grid;
    double c[4] = {(double)d->eval_masked, (double)d->eval_correct, (double)d->eval_sop, (double)d->eval_sop_correct};
    if (g->dp_size > 1 && comm_allreduce_f64(g->dp, c, 4, COMM_SUM, err) != 0) return -1;
    int V = cfg->vocab_size;
    double *counts = malloc(sizeof(double) * (size_t)V), majority = 0;
    if (!counts) return err_set(err, "out of memory");
    for (int v = 0; v < V; v++) counts[v] = (double)d->label_count[v];
    if (g->dp_size > 1 && comm_allreduce_f64(g->dp, counts, (size_t)V, COMM_SUM, err) != 0) {
        free(counts);
        return -1;
    }
    for (int v = 0; v < V; v++) majority = counts[v] > majority ? counts[v] : majority;
    free(counts);
    if (j->rank == 0 && c[0] > 0) {
        printf("validation at iteration %lld: masked-LM accuracy %.4f over %.0f masked tokens (majority-token baseline "
               "%.4f)", (long long)it, c[1] / c[0], c[0], majority / c[0]);
        if (cfg->binary_head) printf(", sentence accuracy %.4f over %.0f pairs", c[3] / c[2], c[2]);
        printf("\n");
        fflush(stdout);
    }
    if (c[0] > 0) { /* the validation record of --metrics-file (written by rank 0) */
        int k = snprintf(json, jn, ", \"val_mlm_accuracy\": %.9g, \"val_mlm_baseline\": %.9g, \"val_masked_tokens\": %.0f",
                         c[1] / c[0], majority / c[0], c[0]);
        if (cfg->binary_head && c[2] > 0 && k > 0 && (size_t)k < jn)
            snprintf(json + k, jn - (size_t)k, ", \"val_sop_accuracy\": %.9g", c[3] / c[2]);
    }
    d->eval_masked = d->eval_correct = d->eval_sop = d->eval_sop_correct = 0;
    memset(d->label_count, 0, sizeof(int64_t) * (size_t)V);
    return 0;
}

/* the two BERT losses since the last log line, averaged over micro-batches and DP ranks */
static int log_extra(train_job_t *j, char *text, size_t tn, char *json, size_t jn, err_t *err) {
    bert_task_data_t *d = j->data;
    double v[3] = {d->mlm_sum, d->sop_sum, (double)d->loss_count};
    if (j->base.grid.dp_size > 1 && comm_allreduce_f64(j->base.grid.dp, v, 3, COMM_SUM, err) != 0) return -1;
    double mlm = v[2] > 0 ? v[0] / v[2] : 0, sop = v[2] > 0 ? v[1] / v[2] : 0;
    if (((const bert_config_t *)j->cfg)->binary_head) {
        snprintf(text, tn, " mlm loss: %.6E | sop loss: %.6E |", mlm, sop);
        snprintf(json, jn, ", \"mlm_loss\": %.9g, \"sop_loss\": %.9g", mlm, sop);
    } else {
        snprintf(text, tn, " mlm loss: %.6E |", mlm);
        snprintf(json, jn, ", \"mlm_loss\": %.9g", mlm);
    }
    d->mlm_sum = d->sop_sum = 0, d->loss_count = 0;
    return 0;
}

static void banner(const train_job_t *j) {
    const bert_config_t *cfg = j->cfg;
    const bert_task_data_t *d = j->data;
    const train_common_t *o = j->o;
    const grid_t *g = &j->base.grid;
    printf("megac train bert: %lld parameters, %d layers, hidden %d, %d heads, seq %d, vocab %d, %s, %s head, "
           "optimizer %s, device %s\n", (long long)bert_param_count(cfg, g->tp_size), cfg->num_layers,
           cfg->hidden_size, cfg->num_attention_heads, cfg->seq_length, cfg->vocab_size,
           cfg->pre_ln ? "pre-LN" : "post-LN", cfg->binary_head ? "sentence" : "no sentence", o->optimizer,
           j->base.be->name);
    printf("parallel: world %d = tensor-parallel %d x data-parallel %d%s; data: %s (%lld training samples)\n",
           g->world_size, g->tp_size, g->dp_size, o->distributed_optimizer ? ", ZeRO-1" : "",
           ((const bert_data_opts_t *)j->task_opts)->data_path, (long long)bert_data_num_samples(&d->data, SPLIT_TRAIN));
}

static void ckpt_params(const void *m, ckpt_param_t *params) { bert_ckpt_params(m, params); }

static double flops_per_iteration(const train_job_t *j) {
    const bert_config_t *c = j->cfg;
    return bert_flops_per_iteration(c, j->global_batch, j->shape.seq_length, c->max_predictions_per_seq, 1);
}

const train_task_t train_task_bert = {
    .model = &bert_model_ops, .ckpt = &model_ckpt_bert, .ckpt_params = ckpt_params, .data_open = data_open,
    .data_close = data_close, .batch = batch, .banner = banner, .after_forward = after_forward,
    .eval_end = eval_end, .log_extra = log_extra, .flops_per_iteration = flops_per_iteration,
};
