/* wordpiece.h — BERT's WordPiece tokenizer (Megatron's BertWordPieceLowerCase /
 * BertWordPieceCase), identical to Hugging Face tokenizers' BertWordPieceTokenizer
 * (with add_special_tokens=False):
 *   1. cleaning: NUL, U+FFFD and control/format/private-use characters dropped
 *      (tab, newline, carriage return kept), every White_Space character -> ' ';
 *   2. CJK ideographs surrounded by spaces;
 *   3. lower-case variant: NFD, non-spacing marks (Mn) dropped, lower-cased;
 *   4. split on whitespace; each punctuation character (ASCII punctuation and
 *      Unicode P*) is a word of its own;
 *   5. greedy longest-match-first against vocab.txt, continuations prefixed "##";
 *      a word longer than 100 characters or with an unmatched rest is one [UNK].
 * Character classes come from utf8proc, except where Hugging Face's own (older)
 * Unicode tables disagree; those are listed in wordpiece_tables.h.
 *
 * The ids are vocab.txt's line numbers; like Megatron, "[BOS]" and "[EOS]" are
 * appended when the file lacks them, and [EOS] is the end-of-document id.
 * Text is always ordinary text: the characters "[SEP]" in a document are
 * tokenized as '[', 'sep', ']', never as the [SEP] id (Megatron's tokenizer
 * does the same; Hugging Face's would match its added special tokens).
 * Invalid UTF-8 is first replaced as Python's decode(errors='replace') does,
 * and the U+FFFD it leaves is then dropped by cleaning. */
#ifndef MEGAC_WORDPIECE_H
#define MEGAC_WORDPIECE_H

#include <stddef.h>
#include <stdint.h>

#include "../framework/error.h"
#include "buffers.h"

typedef struct wordpiece wordpiece_t;

int wordpiece_load(wordpiece_t **out, const char *vocab_txt, int lower_case, err_t *err);
void wordpiece_free(wordpiece_t *w);

int wordpiece_vocab_size(const wordpiece_t *w); /* vocab.txt lines (+ [BOS], [EOS] if added) */
int wordpiece_added(const wordpiece_t *w);      /* how many of those were added (0..2): the last ids */
int wordpiece_eod(const wordpiece_t *w);        /* [EOS] */
/* The id of a token string, or -1 ("[CLS]", "[SEP]", "[MASK]", "[PAD]", ...). */
int wordpiece_token_id(const wordpiece_t *w, const char *token);
/* The string of token `id` (0 <= id < vocab size). */
const char *wordpiece_token(const wordpiece_t *w, int id);

/* Appends the tokens of text[0..len) to out. Thread-safe (no shared scratch);
 * fails only when memory runs out. */
int wordpiece_encode(const wordpiece_t *w, const char *text, size_t len, tok_buf_t *out, err_t *err);
/* Appends the token strings joined by spaces, "##" pieces glued to the word before. */
int wordpiece_decode(const wordpiece_t *w, const int32_t *ids, size_t n, byte_buf_t *out, err_t *err);

#endif
