/* bpe.h — GPT-2's byte-level BPE tokenizer (Megatron's GPT2BPETokenizer).
 *
 * Loads either GPT-2's vocab.json + merges.txt or a tiktoken rank file
 * (gpt2.tiktoken). Encoding is token-for-token identical to tiktoken's `gpt2`
 * encoding (encode_ordinary):
 *   - pre-tokenisation by GPT-2's pattern, written out by hand:
 *     's 't 're 've 'm 'll 'd | ?\p{L}+ | ?\p{N}+ | ?[^\s\p{L}\p{N}]+ | \s+(?!\S) | \s+
 *     (letters/numbers from utf8proc's general categories, \s = Unicode White_Space);
 *   - each piece merged by rank, lowest first, leftmost on ties (a heap over a
 *     linked list: O(n log n) for long pieces), with a per-thread piece cache.
 * With a tiktoken file the rank of merging two adjacent parts is the rank of their
 * concatenation (tiktoken's rule); with merges.txt it is the merge's line
 * (Megatron's and Hugging Face's rule). For GPT-2's files the two agree.
 *
 * Special tokens: "<|endoftext|>" is the end-of-document id (50256 for GPT-2).
 * Text is always encoded as ordinary text — the characters "<|endoftext|>" in a
 * document give the tokens of those characters, never the EOD id (as
 * encode_ordinary and Megatron's GPT2Tokenizer do).
 *
 * Invalid UTF-8: each ill-formed subsequence is replaced by U+FFFD first, exactly
 * as Python's bytes.decode('utf-8', errors='replace'), so the tokens equal
 * tiktoken's encode_ordinary of that decoded string. (tiktoken's private byte-level
 * _encode_bytes instead lumps everything after the first bad byte into one BPE
 * piece, a shortcut its own source calls possibly incorrect; we do not copy it.)
 *
 * A bpe_t is read-only once loaded and may be shared by threads; each thread
 * encodes with its own bpe_cache_t. */
#ifndef MEGAC_BPE_H
#define MEGAC_BPE_H

#include <stddef.h>
#include <stdint.h>

#include "../framework/error.h"
#include "buffers.h"

typedef struct bpe bpe_t;
typedef struct bpe_cache bpe_cache_t;

/* GPT-2's vocab.json (token string -> id, byte-level alphabet) and merges.txt
 * (a "#version" line, then one "left right" merge per line, in rank order). */
int bpe_load_gpt2(bpe_t **out, const char *vocab_json, const char *merges_txt, err_t *err);
/* A tiktoken rank file: lines "base64(token bytes) rank", ranks 0..n-1; the
 * end-of-text token gets id n. */
int bpe_load_tiktoken(bpe_t **out, const char *path, err_t *err);
void bpe_free(bpe_t *b);

int bpe_vocab_size(const bpe_t *b); /* ids are 0..vocab_size-1 (50257 for GPT-2) */
int bpe_eod(const bpe_t *b);        /* the id of <|endoftext|> */

/* Per-thread scratch space and word cache (NULL when memory runs out). */
bpe_cache_t *bpe_cache_new(void);
void bpe_cache_free(bpe_cache_t *c);

/* Appends the tokens of text[0..len) to out. Fails only when memory runs out. */
int bpe_encode(const bpe_t *b, bpe_cache_t *c, const char *text, size_t len, tok_buf_t *out, err_t *err);
/* Appends the bytes of ids[0..n) to out (the raw bytes: a cut through a
 * multi-byte character stays cut). Fails on an id outside the vocabulary. */
int bpe_decode(const bpe_t *b, const int32_t *ids, size_t n, byte_buf_t *out, err_t *err);

#endif
