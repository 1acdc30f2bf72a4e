/* tokenizer.h — the tokenizers by Megatron's --tokenizer-type name:
 *   GPT2BPETokenizer        data/bpe.h (--vocab-file + --merge-file, or --tiktoken-file)
 *   BertWordPieceLowerCase  data/wordpiece.h (--vocab-file), lower-cased, accents stripped
 *   BertWordPieceCase       data/wordpiece.h (--vocab-file), case kept
 * A tokenizer_t is read-only once open and may be shared by threads; each
 * thread encodes with its own tokenizer_scratch_t. */
#ifndef MEGAC_TOKENIZER_H
#define MEGAC_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "../framework/error.h"
#include "bpe.h"
#include "buffers.h"
#include "wordpiece.h"

typedef enum tokenizer_kind {
    TOKENIZER_GPT2_BPE,
    TOKENIZER_BERT_LOWER_CASE,
    TOKENIZER_BERT_CASE,
} tokenizer_kind_t;

typedef struct tokenizer {
    tokenizer_kind_t kind;
    bpe_t *bpe;
    wordpiece_t *wordpiece;
} tokenizer_t;

typedef struct tokenizer_scratch {
    bpe_cache_t *bpe_cache;
} tokenizer_scratch_t;

/* type: a --tokenizer-type name. Files that the type does not use must be NULL
 * (a stray --merge-file for BERT is a mistake worth an error). */
int tokenizer_open(tokenizer_t *t, const char *type, const char *vocab_file, const char *merge_file,
                   const char *tiktoken_file, err_t *err);
void tokenizer_close(tokenizer_t *t);
const char *tokenizer_type_name(const tokenizer_t *t);
int tokenizer_vocab_size(const tokenizer_t *t);
/* How many of the vocabulary's last ids the tokenizer appended to its file's
 * (WordPiece's [BOS]/[EOS]; 0 for BPE, whose vocabulary is the file's). */
int tokenizer_added_tokens(const tokenizer_t *t);
int tokenizer_eod(const tokenizer_t *t);

int tokenizer_scratch_init(tokenizer_scratch_t *s, const tokenizer_t *t, err_t *err);
void tokenizer_scratch_free(tokenizer_scratch_t *s);

/* Appends the tokens of text[0..len) to out (no EOD). */
int tokenizer_encode(const tokenizer_t *t, tokenizer_scratch_t *s, const char *text, size_t len, tok_buf_t *out,
                     err_t *err);
/* Appends the text of ids[0..n) to out. */
int tokenizer_decode(const tokenizer_t *t, const int32_t *ids, size_t n, byte_buf_t *out, err_t *err);

#endif
