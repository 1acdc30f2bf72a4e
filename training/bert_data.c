/* bert_data.c — BERT micro-batches from indexed datasets or HDF5 shards (see bert_data.h). */
#include "bert_data.h"

#include <stdlib.h>
#include <string.h>

static int is_shard_path(const char *p) {
    size_t n = strlen(p);
    return (n > 5 && strcmp(p + n - 5, ".hdf5") == 0) || (n > 3 && strcmp(p + n - 3, ".h5") == 0);
}

int bert_data_vocab_size(const bert_data_opts_t *o, int *vocab, err_t *err) {
    tokenizer_t t;
    if (strncmp(o->tokenizer_type, "BertWordPiece", 13) != 0)
        return err_set(err, "--tokenizer-type: BERT needs BertWordPieceLowerCase or BertWordPieceCase (got %s)",
                       o->tokenizer_type);
    if (tokenizer_open(&t, o->tokenizer_type, o->vocab_file, NULL, NULL, err) != 0) return -1;
    *vocab = tokenizer_vocab_size(&t);
    tokenizer_close(&t);
    return 0;
}

int bert_data_open(bert_data_t *d, const bert_data_opts_t *o, int B, err_t *err) {
    memset(d, 0, sizeof *d);
    if (!o->data_path) return err_set(err, "--data-path is required (a sentence-level dataset prefix or .hdf5 shards)");
    if (tokenizer_open(&d->tok, o->tokenizer_type, o->vocab_file, NULL, NULL, err) != 0) return -1;
    d->vocab_size = tokenizer_vocab_size(&d->tok);
    d->seq_length = o->seq_length, d->max_predictions = o->max_predictions, d->B = B;
    d->binary_head = o->binary_head;
    int T = o->seq_length;
    if (is_shard_path(o->data_path)) {
        /* space-separated shard paths */
        char *paths = strdup(o->data_path);
        if (!paths) return err_set(err, "out of memory");
        for (char *p = strtok(paths, " "); p; p = strtok(NULL, " ")) d->nsh++;
        free(paths);
        d->sh = calloc((size_t)d->nsh, sizeof(bert_shard_t));
        paths = strdup(o->data_path);
        if (!d->sh || !paths) {
            free(paths);
            return err_set(err, "out of memory");
        }
        int i = 0, rc = 0;
        for (char *p = strtok(paths, " "); p && rc == 0; p = strtok(NULL, " "), i++) {
            rc = bert_shard_open(&d->sh[i], p, d->vocab_size, err);
            if (rc == 0 && d->sh[i].seq_length != T)
                rc = err_set(err, "--data-path %s: shard sequences are %d tokens, --seq-length is %d", p, d->sh[i].seq_length, T);
            if (rc == 0) d->shard_total += d->sh[i].n;
        }
        free(paths);
        if (rc != 0) return -1;
        d->shards = 1;
    } else {
        bert_dataset_config_t cfg = {o->data_path, o->split, T, o->seed, {o->num_samples[0], o->num_samples[1], o->num_samples[2]},
                                     o->short_seq_prob, o->mask_prob, o->binary_head, DATA_MAX_EPOCHS,
                                     {o->request[0], o->request[1], o->request[2]}, o->progress};
        if (bert_dataset_open(&d->ds, &cfg, d->tok.wordpiece, err) != 0) return -1;
    }
    size_t N = (size_t)B * T, M = (size_t)B * o->max_predictions;
    d->tokens = malloc(N * sizeof(int)), d->types = malloc(N * sizeof(int)), d->pad = malloc(N * sizeof(float));
    d->mlm_pos = malloc(M * sizeof(int)), d->mlm_labels = malloc(M * sizeof(int)), d->sop = malloc((size_t)B * sizeof(int));
    d->s_tok = malloc(T * sizeof(int32_t)), d->s_types = malloc(T * sizeof(int32_t));
    d->s_labels = malloc(T * sizeof(int32_t)), d->s_pad = malloc(T * sizeof(int32_t)), d->s_loss = malloc(T * sizeof(int32_t));
    if (!d->tokens || !d->types || !d->pad || !d->mlm_pos || !d->mlm_labels || !d->sop || !d->s_tok || !d->s_types ||
        !d->s_labels || !d->s_pad || !d->s_loss)
        return err_set(err, "out of memory for the BERT batch buffers");
    return 0;
}

void bert_data_close(bert_data_t *d) {
    if (d->shards)
        for (int i = 0; i < d->nsh; i++) bert_shard_close(&d->sh[i]);
    else if (d->ds.vocab)
        bert_dataset_close(&d->ds);
    free(d->sh);
    tokenizer_close(&d->tok);
    free(d->tokens), free(d->types), free(d->pad), free(d->mlm_pos), free(d->mlm_labels), free(d->sop);
    free(d->s_tok), free(d->s_types), free(d->s_labels), free(d->s_pad), free(d->s_loss);
    memset(d, 0, sizeof *d);
}

/* Shards have no validation split: they serve training; validation reads the
 * last 1% of the samples. */
static int64_t shard_first(const bert_data_t *d, int split) {
    int64_t valid = d->shard_total / 100 > 0 ? d->shard_total / 100 : 1;
    return split == SPLIT_TRAIN ? 0 : d->shard_total - valid;
}

int64_t bert_data_num_samples(const bert_data_t *d, int split) {
    if (!d->shards) return bert_dataset_num_samples(&d->ds, split);
    if (split == SPLIT_TEST) return 0;
    int64_t valid = d->shard_total - shard_first(d, SPLIT_VALID);
    return split == SPLIT_TRAIN ? d->shard_total - valid : valid;
}

static int sample(bert_data_t *d, int split, int64_t index, bert_sample_t *s, err_t *err) {
    if (!d->shards) return bert_dataset_sample(&d->ds, split, index, s, err);
    int64_t n = bert_data_num_samples(d, split);
    if (n <= 0) return err_set(err, "the BERT shards hold no %s samples", split == SPLIT_TRAIN ? "training" : "validation");
    int64_t i = shard_first(d, split) + index % n; /* epochs wrap */
    for (int k = 0; k < d->nsh; k++) {
        if (i < d->sh[k].n) return bert_shard_sample(&d->sh[k], i, s, err);
        i -= d->sh[k].n;
    }
    return err_set(err, "internal: shard sample out of range");
}

int bert_data_batch(bert_data_t *d, int split, int64_t first, err_t *err) {
    int T = d->seq_length, n = 0;
    for (int b = 0; b < d->B; b++) {
        bert_sample_t s = {d->s_tok, d->s_types, d->s_labels, d->s_pad, d->s_loss, 0, 0};
        if (sample(d, split, first + b, &s, err) != 0) return -1;
        int taken = 0;
        for (int t = 0; t < T; t++) {
            int i = b * T + t;
            d->tokens[i] = s.tokens[t], d->types[i] = s.types[t], d->pad[i] = s.padding_mask[t] ? 1.0f : 0.0f;
            if (s.loss_mask[t] && s.labels[t] >= 0 && taken < d->max_predictions) {
                d->mlm_pos[n] = i, d->mlm_labels[n] = s.labels[t];
                n++, taken++;
            }
        }
        d->sop[b] = s.is_random;
    }
    d->batch = (bert_batch_t){d->B, T, d->tokens, d->types, d->pad, n, d->mlm_pos, d->mlm_labels,
                              d->binary_head ? d->sop : NULL};
    return 0;
}
