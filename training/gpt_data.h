/* gpt_data.h — where `megac train gpt` gets its token samples: a tokenizer and a
 * dataset behind one small interface:
 *   --tokenizer-type Byte: a plain text file, bytes as tokens (vocabulary 256);
 *   GPT2BPETokenizer / BertWordPiece*: Megatron indexed datasets (PREFIX.bin/.idx,
 *   or a weighted blend "0.3 A 0.7 B") with Megatron's GPT sample semantics. */
#ifndef MEGAC_GPT_DATA_H
#define MEGAC_GPT_DATA_H

#include <stdint.h>

#include "../data/gpt_dataset.h"
#include "../data/text_dataset.h"
#include "../data/tokenizer.h"
#include "../framework/error.h"

typedef struct gpt_data_opts {
    const char *data_path;      /* --data-path */
    const char *split;          /* --split */
    const char *tokenizer_type; /* --tokenizer-type */
    const char *vocab_file, *merge_file, *tiktoken_file;
    int64_t train_iters, global_batch, eval_interval, eval_iters; /* samples to build */
    FILE *progress;             /* index builds' progress (rank 0: stderr), or NULL */
} gpt_data_opts_t;

typedef struct gpt_data {
    int indexed;                /* 0: byte-level text file; 1: indexed dataset(s) */
    text_dataset_t text;
    gpt_dataset_t idx;
    int vocab_size;
    int64_t tokens;             /* tokens of a text file, for the log (0: indexed) */
} gpt_data_t;

/* Vocabulary size of the tokenizer alone (before any data is read). */
int gpt_data_vocab_size(const gpt_data_opts_t *o, int *vocab, err_t *err);
int gpt_data_open(gpt_data_t *d, const gpt_data_opts_t *o, int seq_length, uint64_t seed, err_t *err);
void gpt_data_close(gpt_data_t *d);
/* samples of seq_length+1 tokens available in a split (0: none) */
int64_t gpt_data_num_samples(const gpt_data_t *d, int split);
/* sample `index` of a split into out[seq_length+1]; text files wrap epochs,
 * indexed datasets hold the samples built for the run (an index past them fails) */
int gpt_data_sample(const gpt_data_t *d, int split, int64_t index, int *out, err_t *err);

#endif
