/* gpt_data.h — where `megac train gpt` gets its token samples: a tokenizer choice
 * and a dataset, behind one small interface (byte-level text files today;
 * Megatron indexed datasets with GPT-2 BPE plug in here). */
#ifndef MEGAC_GPT_DATA_H
#define MEGAC_GPT_DATA_H

#include <stdint.h>

#include "../data/text_dataset.h"
#include "../framework/error.h"

typedef struct gpt_data_opts {
    const char *data_path;      /* --data-path */
    const char *split;          /* --split */
    const char *tokenizer_type; /* --tokenizer-type */
    const char *vocab_file, *merge_file;
} gpt_data_opts_t;

typedef struct gpt_data {
    text_dataset_t text;
    int vocab_size;
    int64_t tokens;
} gpt_data_t;

/* Vocabulary size of the tokenizer alone (before any data is read). */
int gpt_data_vocab_size(const gpt_data_opts_t *o, int *vocab, err_t *err);
int gpt_data_open(gpt_data_t *d, const gpt_data_opts_t *o, int seq_length, uint64_t seed, err_t *err);
void gpt_data_close(gpt_data_t *d);
/* samples of seq_length+1 tokens available in a split before an epoch wraps (0: none) */
int64_t gpt_data_num_samples(const gpt_data_t *d, int split);
/* sample `index` of a split (any index: epochs wrap) into out[seq_length+1] */
void gpt_data_sample(const gpt_data_t *d, int split, int64_t index, int *out);

#endif
