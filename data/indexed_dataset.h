/* indexed_dataset.h — Megatron-LM's indexed dataset (MMIDIDX), the .bin/.idx
 * pair that Megatron's preprocess_data.py writes and its IndexedDataset reads
 * (megatron/core/datasets/indexed_dataset.py):
 *
 *   PREFIX.bin  the tokens of every sequence, back to back, in the dtype below
 *   PREFIX.idx  little-endian:
 *     9 bytes   "MMIDIDX\0\0"
 *     u64       version = 1
 *     u8        dtype code: 1 uint8, 2 int8, 3 int16, 4 int32, 5 int64,
 *               6 float64, 7 float32, 8 uint16
 *     u64       S = number of sequences
 *     u64       D = number of document-index entries (documents + 1)
 *     int32[S]  sequence lengths (tokens)
 *     int64[S]  sequence byte offsets into .bin
 *     int64[D]  document index: document d is sequences [idx[d], idx[d+1]);
 *               idx[0] = 0, idx[D-1] = S
 * A document is one JSON line's text; it holds one sequence, or one per
 * sentence with --split-sentences. Note that D counts the leading 0 (Megatron
 * writes len(document_indices)), so there are D-1 documents.
 *
 * The writer streams: tokens go straight to PREFIX.bin.tmp, lengths and
 * document boundaries to temporary files, and finish() assembles PREFIX.idx
 * and renames both into place, so memory stays bounded and an interrupted run
 * never leaves a pair that looks complete.
 * The reader maps both files and checks every header field and array against
 * the file sizes before anything is used. */
#ifndef MEGAC_INDEXED_DATASET_H
#define MEGAC_INDEXED_DATASET_H

#include <stdint.h>
#include <stdio.h>

#include "../framework/error.h"
#include "file_util.h"

enum {
    MMIDIDX_UINT8 = 1,
    MMIDIDX_INT8 = 2,
    MMIDIDX_INT16 = 3,
    MMIDIDX_INT32 = 4,
    MMIDIDX_INT64 = 5,
    MMIDIDX_FLOAT64 = 6,
    MMIDIDX_FLOAT32 = 7,
    MMIDIDX_UINT16 = 8,
};

#define MMIDIDX_HEADER_BYTES 34

/* Bytes per element of a dtype code, 0 for an unknown code. */
int indexed_dtype_size(int code);
const char *indexed_dtype_name(int code);
/* Megatron's DType.optimal_dtype: uint16 when the vocabulary has fewer than 65500 ids, else int32. */
int indexed_dtype_for_vocab(int vocab_size);

typedef struct indexed_writer {
    char *prefix;
    int dtype, item;
    FILE *bin, *lens, *docs; /* PREFIX.bin.tmp and the two temporary index parts */
    int64_t n_seq, n_doc_idx, bin_bytes;
    int64_t doc_start_seq; /* sequences written before the current document */
    void *conv;            /* conversion buffer */
    size_t conv_cap;
} indexed_writer_t;

/* dtype: MMIDIDX_UINT16 or MMIDIDX_INT32 (token data). */
int indexed_writer_open(indexed_writer_t *w, const char *prefix, int dtype, err_t *err);
/* Appends one sequence of n tokens to the current document; every token must fit the dtype. */
int indexed_writer_add_sequence(indexed_writer_t *w, const int32_t *tokens, size_t n, err_t *err);
/* Closes the current document (possibly empty, as Megatron writes an empty text). */
int indexed_writer_end_document(indexed_writer_t *w, err_t *err);
/* Writes PREFIX.idx and renames PREFIX.bin into place; the writer is closed either way. */
int indexed_writer_finish(indexed_writer_t *w, err_t *err);
/* Closes and deletes everything written so far. */
void indexed_writer_abort(indexed_writer_t *w);

typedef struct indexed_dataset {
    char *prefix;
    file_map_t idx, bin;
    int dtype, item;
    int64_t n_seq, n_doc_idx, n_tokens;
    size_t off_lens, off_ptrs, off_docs; /* byte offsets of the arrays in .idx */
} indexed_dataset_t;

/* Opens PREFIX.idx and PREFIX.bin; a truncated, corrupted or inconsistent pair is
 * refused with a message naming the file and byte offset. Integer dtypes only. */
int indexed_open(indexed_dataset_t *ds, const char *prefix, err_t *err);
void indexed_close(indexed_dataset_t *ds);

static inline int64_t indexed_num_sequences(const indexed_dataset_t *ds) { return ds->n_seq; }
static inline int64_t indexed_num_documents(const indexed_dataset_t *ds) { return ds->n_doc_idx - 1; }
int32_t indexed_sequence_length(const indexed_dataset_t *ds, int64_t seq);
int64_t indexed_sequence_pointer(const indexed_dataset_t *ds, int64_t seq);
/* Entry d of the document index (0 <= d < n_doc_idx). */
int64_t indexed_document_index(const indexed_dataset_t *ds, int64_t d);
/* Copies tokens [offset, offset+count) of sequence seq to out; the range must be inside it. */
void indexed_read(const indexed_dataset_t *ds, int64_t seq, int64_t offset, int64_t count, int32_t *out);

#endif
