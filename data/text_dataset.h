/* text_dataset.h — a byte-level (--tokenizer-type Byte, vocab 256) token stream
 * over a plain text file, cut into fixed-length samples.
 *
 * The file is one token stream; --split weights (Megatron's "949,50,1") cut it
 * into train / validation / test ranges. Sample i of a split is the window of
 * seq_length+1 tokens starting at seq_length * w, where w is a seeded
 * permutation of the windows, drawn anew each epoch (training) or taken in order
 * (validation, test). Everything is a pure function of (seed, i), so a run can
 * be resumed from its consumed-sample count. */
#ifndef MEGAC_TEXT_DATASET_H
#define MEGAC_TEXT_DATASET_H

#include <stdint.h>

#include "../framework/error.h"

enum { SPLIT_TRAIN = 0, SPLIT_VALID = 1, SPLIT_TEST = 2 };

typedef struct text_dataset {
    uint8_t *bytes;
    int64_t nbytes;
    int64_t begin[3], end[3]; /* token ranges of the three splits */
    int seq_length;
    uint64_t seed;
} text_dataset_t;

#define BYTE_VOCAB_SIZE 256

/* split: "949,50,1" style weights. Fails if the training split is shorter than
 * one sample. */
int text_dataset_open(text_dataset_t *ds, const char *path, int seq_length, const char *split,
                      uint64_t seed, err_t *err);
void text_dataset_close(text_dataset_t *ds);
/* Non-overlapping windows of seq_length+1 tokens in a split (0 if too short). */
int64_t text_dataset_num_windows(const text_dataset_t *ds, int split);
/* Writes seq_length+1 tokens of sample `index` (any non-negative number; epochs wrap). */
void text_dataset_sample(const text_dataset_t *ds, int split, int64_t index, int *out);

/* A seeded bijection of [0, n) (Feistel network with cycle walking). */
int64_t permute_index(int64_t i, int64_t n, uint64_t seed, uint32_t round_key);

#endif
