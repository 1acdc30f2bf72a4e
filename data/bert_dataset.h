/* bert_dataset.h — BERT pretraining samples (masked LM + sentence pairs), two sources:
 *
 * 1. A Megatron sentence-level indexed dataset (`megac preprocess
 *    --split-sentences --tokenizer-type BertWordPiece...`: one sequence per
 *    sentence, documents = JSON lines), with Megatron-LM's semantics
 *    (megatron/core/datasets/bert_dataset.py, masked_dataset.py, helpers.cpp
 *    build_mapping):
 *    - split "969,30,1" by documents;
 *    - sample mapping: epoch after epoch over the split's documents, a document
 *      with at least 2 sentences (1 without the binary head) and none longer
 *      than 512 tokens is cut into runs of whole sentences that reach a target
 *      length of seq_length-3 tokens (with probability short_seq_prob a random
 *      shorter target in [2, seq_length-3]), until the requested samples are
 *      reached at an epoch's end; the mapping is then shuffled;
 *    - a sample: its sentences split at a random pivot into A and B (binary
 *      head), swapped with probability 1/2 (is_random = 1); the longer of A/B
 *      trimmed at a random end until both fit the target; [CLS] A [SEP] B [SEP],
 *      types 0 for [CLS] A [SEP] and 1 for B [SEP];
 *    - masking: whole words (a word and its "##" pieces) as candidates, n-grams
 *      of 1..3 words drawn with probability proportional to 1/n, until
 *      min(mask_prob * target, max(1, round(mask_prob * tokens))) positions;
 *      each masked position becomes [MASK] (80%), a random vocabulary id (10%)
 *      or stays (10%); labels hold the original id there, -1 elsewhere;
 *    - padding with [PAD] to seq_length.
 *    Every random draw uses the counter RNG of framework/rng.h (the mapping
 *    keyed by seed and split, a sample by seed, split and its index), so a
 *    sample is a pure function of its index: any rank, any restart, any thread
 *    count gets the same one. (Megatron draws from NumPy and mt19937; the
 *    numbers differ, the procedure does not.)
 *
 * 2. NVIDIA's BERT HDF5 shards (DeepLearningExamples' create_pretraining_data
 *    output): datasets input_ids, input_mask, segment_ids [N, seq] and
 *    masked_lm_positions, masked_lm_ids [N, max_pred] and next_sentence_labels
 *    [N]; masked positions end at the first 0 (NVIDIA's loader's rule). A shard
 *    is read whole and every field checked before use. */
#ifndef MEGAC_BERT_DATASET_H
#define MEGAC_BERT_DATASET_H

#include <stdint.h>
#include <stdio.h>

#include "../framework/error.h"
#include "indexed_dataset.h"
#include "text_dataset.h" /* SPLIT_TRAIN, SPLIT_VALID, SPLIT_TEST */
#include "wordpiece.h"

/* One sample; the caller provides arrays of seq_length entries. */
typedef struct bert_sample {
    int32_t *tokens;       /* [CLS] A [SEP] B [SEP] [PAD]..., masked */
    int32_t *types;        /* 0 for A, 1 for B, 0 on padding */
    int32_t *labels;       /* the original id at masked positions, -1 elsewhere */
    int32_t *padding_mask; /* 1 on tokens, 0 on padding */
    int32_t *loss_mask;    /* 1 at masked positions */
    int is_random;         /* A and B swapped (the next-sentence/order label) */
    int truncated;         /* A or B was trimmed */
} bert_sample_t;

typedef struct bert_dataset_config {
    const char *data_path; /* PREFIX of a sentence-level dataset (PREFIX.bin/.idx) */
    const char *split;     /* NULL: "969,30,1" */
    int seq_length;        /* tokens per sample including [CLS] and the [SEP]s */
    uint64_t seed;
    int64_t num_samples[3]; /* samples wanted per split; 0, or a zero --split weight (Megatron
                             * builds no dataset for it), leaves the split unbuilt with 0 samples */
    double short_seq_prob; /* Megatron: 0.1 */
    double mask_prob;      /* Megatron: 0.15 */
    int binary_head;       /* 1: sentence pairs with the is_random label (Megatron's default) */
    int64_t max_epochs;    /* > 0: a request needing more passes over its split than this is refused
                            * after the first pass, before the rest is built (see DATA_MAX_EPOCHS) */
    const char *request[3]; /* what asked for each split's samples, for messages ("--eval-iters 10") */
    FILE *progress;         /* the sample-map builds show their progress here (framework/progress.h), or NULL */
} bert_dataset_config_t;

typedef struct bert_dataset {
    indexed_dataset_t src;
    const wordpiece_t *vocab;
    int vocab_size, cls, sep, mask, pad;
    uint8_t *is_piece; /* per id: the token starts with "##" */
    bert_dataset_config_t cfg;
    int64_t *map[3]; /* per sample: first sentence, end sentence, target length */
    int64_t num_samples[3];
    int64_t doc_begin[3], doc_end[3];
} bert_dataset_t;

/* vocab: the tokenizer the data was written with (it must hold [CLS], [SEP],
 * [MASK], [PAD]); it must outlive the dataset. */
int bert_dataset_open(bert_dataset_t *ds, const bert_dataset_config_t *cfg, const wordpiece_t *vocab, err_t *err);
void bert_dataset_close(bert_dataset_t *ds);
/* Samples built for a split: whole epochs of the mapping, at least the requested number. */
static inline int64_t bert_dataset_num_samples(const bert_dataset_t *ds, int split) { return ds->num_samples[split]; }
int bert_dataset_sample(const bert_dataset_t *ds, int split, int64_t index, bert_sample_t *out, err_t *err);

typedef struct bert_shard {
    char *path;
    int64_t n;
    int seq_length, max_pred;
    int32_t *input_ids, *input_mask, *segment_ids, *positions, *lm_ids, *nsp;
} bert_shard_t;

/* vocab_size > 0: input_ids and masked_lm_ids are checked against it. */
int bert_shard_open(bert_shard_t *sh, const char *path, int vocab_size, err_t *err);
void bert_shard_close(bert_shard_t *sh);
/* Sample i (0 <= i < sh->n) in the form above (seq_length entries per array). */
int bert_shard_sample(const bert_shard_t *sh, int64_t i, bert_sample_t *out, err_t *err);

#endif
