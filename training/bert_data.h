/* bert_data.h — BERT micro-batches for `megac train bert`: masked-LM and
 * sentence-pair samples from a Megatron sentence-level indexed dataset
 * (--data-path PREFIX, WordPiece vocabulary) or from NVIDIA's BERT HDF5 shards
 * (--data-path a.hdf5 [b.hdf5 ...]; shards are concatenated in the order given),
 * turned into bert_batch_t arrays. */
#ifndef MEGAC_BERT_DATA_H
#define MEGAC_BERT_DATA_H

#include <stdint.h>

#include "../data/bert_dataset.h"
#include "../data/tokenizer.h"
#include "../models/bert.h"

typedef struct bert_data_opts {
    const char *data_path, *split, *tokenizer_type, *vocab_file;
    int seq_length, max_predictions, binary_head;
    double mask_prob, short_seq_prob;
    uint64_t seed;
    int64_t num_samples[3]; /* per split, for indexed datasets */
    const char *request[3]; /* what asked for them ("--eval-iters 10 ..."), for messages; a request
                             * past DATA_MAX_EPOCHS epochs of a split is refused */
    FILE *progress;         /* the sample-map builds' progress (rank 0: stderr), or NULL */
} bert_data_opts_t;

typedef struct bert_data {
    int shards;               /* 1: HDF5 shards; 0: indexed dataset */
    tokenizer_t tok;
    bert_dataset_t ds;
    bert_shard_t *sh;
    int nsh;
    int64_t shard_total;
    int vocab_size, seq_length, max_predictions;
    int binary_head;          /* 0: batches carry no sentence labels (--bert-no-binary-head) */
    /* one micro-batch, host */
    int B;
    int *tokens, *types, *mlm_pos, *mlm_labels, *sop;
    float *pad;
    int32_t *s_tok, *s_types, *s_labels, *s_pad, *s_loss;
    bert_batch_t batch;
} bert_data_t;

/* vocabulary size from the tokenizer (indexed) or the shards' check (--vocab-file still names it) */
int bert_data_vocab_size(const bert_data_opts_t *o, int *vocab, err_t *err);
int bert_data_open(bert_data_t *d, const bert_data_opts_t *o, int micro_batch, err_t *err);
void bert_data_close(bert_data_t *d);
int64_t bert_data_num_samples(const bert_data_t *d, int split);
/* the micro-batch of samples first .. first+B-1 of a split into d->batch */
int bert_data_batch(bert_data_t *d, int split, int64_t first, err_t *err);

#endif
