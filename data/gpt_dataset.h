/* gpt_dataset.h — GPT training samples from Megatron indexed datasets, with
 * Megatron-LM's semantics (megatron/core/datasets/gpt_dataset.py, helpers.cpp,
 * blended_dataset.py):
 *
 *  - split: "949,50,1" cuts each dataset's sequences (its documents, one per
 *    JSON line without --split-sentences) into train / valid / test ranges,
 *    bounds round(cumsum(w)/sum(w) * sequences) as Megatron rounds them;
 *  - document index: the split's sequence ids, repeated for as many epochs as
 *    the requested samples need, each epoch's copy shuffled (Fisher-Yates on
 *    the counter RNG of framework/rng.h keyed by seed, split and epoch; every
 *    epoch uses every sequence once);
 *  - sample index: the documents (EOD already appended by preprocessing) read
 *    as one stream and cut into samples of seq_length+1 tokens that overlap by
 *    one token, crossing document boundaries; a partial last sample is dropped;
 *  - shuffle index: a seeded permutation of the samples (when the last epoch
 *    is used for less than 80% of it, its samples are shuffled apart and come
 *    last, as Megatron's separate_final_epoch);
 *  - blends "0.3 A 0.7 B": weights normalised; sample i of the blend comes from
 *    the dataset whose achieved share lags its weight most (argmax of
 *    w_k * max(i,1) - taken_k, first on ties); each dataset is built for
 *    ceil(ceil(N w_k) * 1.005) samples of the split (Megatron's surplus).
 *
 * The three index arrays of each (dataset, split) are cached next to the data
 * (or in cache_dir) in PREFIX.<hash>.<split>.gptidx, the hash covering the
 * .idx contents and every parameter; a restart maps the cache instead of
 * rebuilding, and a cache that is truncated, corrupted or inconsistent is
 * rebuilt (and counted in cache_rebuilt), never trusted. A cache that cannot
 * be written (read-only directory) leaves the indices in memory only.
 *
 * Samples are numbered globally per split, so data-parallel ranks and resumed
 * runs agree: gpt_dataset_dp_index() gives the sample a rank reads. */
#ifndef MEGAC_GPT_DATASET_H
#define MEGAC_GPT_DATASET_H

#include <stdint.h>

#include <stdio.h>

#include "../framework/error.h"
#include "file_util.h"
#include "indexed_dataset.h"
#include "text_dataset.h" /* SPLIT_TRAIN, SPLIT_VALID, SPLIT_TEST */

typedef struct gpt_dataset_config {
    const char *data_path; /* "PREFIX" or "W1 PREFIX1 W2 PREFIX2 ..." (Megatron's --data-path) */
    const char *split;     /* "949,50,1"; NULL: Megatron's default "969,30,1" */
    int seq_length;
    uint64_t seed;
    int64_t num_samples[3]; /* samples wanted per split; 0 leaves a split unbuilt, and so does a
                             * zero --split weight (Megatron builds no dataset for it): its
                             * gpt_dataset_num_samples is 0, for the caller to refuse if it reads it */
    const char *cache_dir;  /* NULL: next to each dataset */
    int vocab_size;         /* > 0: every token read is checked against it */
    int64_t max_epochs;     /* > 0: a split's request needing more epochs of a dataset is refused
                             * before any index is built (see DATA_MAX_EPOCHS) */
    const char *request[3]; /* what asked for each split's samples, for messages ("--eval-iters 10") */
    FILE *progress;         /* index builds show their progress here (framework/progress.h), or NULL */
} gpt_dataset_config_t;

/* The indices of one dataset for one split. */
typedef struct gpt_part {
    int64_t seq_begin, seq_end; /* the split's sequences */
    int64_t requested;
    int num_epochs, separate_final_epoch;
    int64_t n_doc;     /* document index entries: num_epochs * (seq_end - seq_begin) */
    int64_t n_samples; /* samples; the sample index has n_samples + 1 entries */
    const int32_t *doc_index;
    const int64_t *sample_doc;
    const int32_t *sample_off;
    const int64_t *shuffle;
    void *owned[4];    /* built arrays, or NULL when mapped from the cache */
    file_map_t cache;
} gpt_part_t;

typedef struct gpt_dataset {
    int n_sources;
    char **prefixes;
    double *weights;
    indexed_dataset_t *sources;
    gpt_part_t *parts[3]; /* n_sources each; NULL for an unbuilt split */
    int64_t num_samples[3];
    uint16_t *blend_source[3]; /* blends only: per sample, the dataset ... */
    int64_t *blend_sample[3];  /* ... and the sample of that dataset */
    int seq_length, vocab_size;
    uint64_t seed;
    FILE *progress; /* cfg->progress */
    int cache_loaded, cache_built, cache_rebuilt, cache_unsaved;
    char cache_note[512]; /* why the last cache was rebuilt or not saved */
} gpt_dataset_t;

int gpt_dataset_open(gpt_dataset_t *ds, const gpt_dataset_config_t *cfg, err_t *err);
void gpt_dataset_close(gpt_dataset_t *ds);

/* Samples available in a split: a single dataset's whole epochs (at least the
 * requested number), or exactly the requested number for a blend. */
static inline int64_t gpt_dataset_num_samples(const gpt_dataset_t *ds, int split) { return ds->num_samples[split]; }

/* Writes the seq_length+1 tokens of sample `index` of `split` to out (tokens
 * 0..seq_length-1 are the input, 1..seq_length the labels). Fails on an index
 * out of range, or a token outside the vocabulary (a corrupted .bin). */
int gpt_dataset_sample(const gpt_dataset_t *ds, int split, int64_t index, int *out, err_t *err);

/* Sample `raw` of dataset `source` in sample-index order, before the shuffle
 * (for tests and inspection). */
int gpt_dataset_raw_sample(const gpt_dataset_t *ds, int split, int source, int64_t raw, int *out, err_t *err);

/* The global sample that data-parallel rank dp_rank (of dp_size) reads as item
 * i of micro-batch micro_step of the iteration that starts after
 * consumed_samples (Megatron's pretraining sampler: each micro-step takes
 * micro_batch * dp_size consecutive samples, rank r the r-th slice). */
static inline int64_t gpt_dataset_dp_index(int64_t consumed_samples, int micro_batch, int dp_rank, int dp_size,
                                           int micro_step, int i) {
    return consumed_samples + ((int64_t)micro_step * dp_size + dp_rank) * micro_batch + i;
}

/* Megatron's sample counts: train = train_iters * global_batch; valid =
 * (train_iters / eval_interval + 1) * eval_iters * global_batch; test =
 * eval_iters * global_batch (each saturating at INT64_MAX, which open refuses). */
void gpt_dataset_megatron_sample_counts(int64_t train_iters, int64_t global_batch, int64_t eval_interval,
                                        int64_t eval_iters, int64_t out[3]);

#endif
