/* gpt_data.c — tokenizer and dataset selection for GPT training (see gpt_data.h). */
#include "gpt_data.h"

#include <stdio.h>
#include <string.h>

static int is_byte(const gpt_data_opts_t *o) { return strcmp(o->tokenizer_type, "Byte") == 0; }

int gpt_data_vocab_size(const gpt_data_opts_t *o, int *vocab, err_t *err) {
    if (is_byte(o)) {
        *vocab = BYTE_VOCAB_SIZE;
        return 0;
    }
    tokenizer_t t;
    if (tokenizer_open(&t, o->tokenizer_type, o->vocab_file, o->merge_file, o->tiktoken_file, err) != 0) return -1;
    *vocab = tokenizer_vocab_size(&t);
    tokenizer_close(&t);
    return 0;
}

int gpt_data_open(gpt_data_t *d, const gpt_data_opts_t *o, int seq_length, uint64_t seed, err_t *err) {
    memset(d, 0, sizeof *d);
    if (gpt_data_vocab_size(o, &d->vocab_size, err) != 0) return -1;
    if (!o->data_path) return err_set(err, "--data-path is required");
    if (is_byte(o)) {
        if (text_dataset_open(&d->text, o->data_path, seq_length, o->split, seed, err) != 0) return -1;
        d->tokens = d->text.nbytes;
        return 0;
    }
    gpt_dataset_config_t cfg = {.data_path = o->data_path, .split = o->split, .seq_length = seq_length, .seed = seed,
                                .vocab_size = d->vocab_size, .max_epochs = DATA_MAX_EPOCHS,
                                .progress = o->progress};
    int64_t interval = o->eval_interval > 0 ? o->eval_interval : o->train_iters;
    gpt_dataset_megatron_sample_counts(o->train_iters, o->global_batch, interval, o->eval_iters, cfg.num_samples);
    cfg.num_samples[SPLIT_TEST] = 0; /* training never reads the test split: build none */
    /* a request past DATA_MAX_EPOCHS epochs of a split is refused naming its flag */
    char train_req[96], valid_req[128];
    snprintf(train_req, sizeof train_req, "--train-iters %lld (x global batch %lld)", (long long)o->train_iters,
             (long long)o->global_batch);
    snprintf(valid_req, sizeof valid_req, "--eval-iters %lld (x global batch %lld x %lld validation(s))",
             (long long)o->eval_iters, (long long)o->global_batch, (long long)(interval > 0 ? o->train_iters / interval + 1 : 0));
    cfg.request[SPLIT_TRAIN] = train_req, cfg.request[SPLIT_VALID] = valid_req;
    if (gpt_dataset_open(&d->idx, &cfg, err) != 0) return -1;
    d->indexed = 1;
    return 0;
}

void gpt_data_close(gpt_data_t *d) {
    if (d->indexed) gpt_dataset_close(&d->idx);
    else text_dataset_close(&d->text);
    memset(d, 0, sizeof *d);
}

int64_t gpt_data_num_samples(const gpt_data_t *d, int split) {
    return d->indexed ? gpt_dataset_num_samples(&d->idx, split) : text_dataset_num_windows(&d->text, split);
}

int gpt_data_sample(const gpt_data_t *d, int split, int64_t index, int *out, err_t *err) {
    if (d->indexed) return gpt_dataset_sample(&d->idx, split, index, out, err);
    text_dataset_sample(&d->text, split, index, out);
    return 0;
}
