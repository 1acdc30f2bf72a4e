/* utf8.h — UTF-8 decoding with Python's errors='replace' semantics, and the
 * Unicode White_Space property, shared by the BPE and WordPiece tokenizers.
 *
 * Invalid input: every maximal ill-formed subsequence (Unicode's "maximal
 * subpart" practice, which CPython's decoder follows) becomes one U+FFFD, so
 * C code and Python's bytes.decode('utf-8', 'replace') see the same text. */
#ifndef MEGAC_UTF8_H
#define MEGAC_UTF8_H

#include <stddef.h>
#include <stdint.h>

#include "buffers.h"

#define UTF8_REPLACEMENT 0xFFFDu

/* Decodes the code point at s[0..n) (n >= 1) and stores its length in *adv;
 * an ill-formed sequence gives U+FFFD with *adv = its maximal subpart (>= 1). */
uint32_t utf8_decode(const uint8_t *s, size_t n, size_t *adv);
/* Writes the UTF-8 form of cp (<= 0x10FFFF, not a surrogate) and returns its length. */
int utf8_encode(uint32_t cp, uint8_t out[4]);
/* Length of the longest valid UTF-8 prefix of s[0..n) (n if all of it is valid). */
size_t utf8_valid_prefix(const uint8_t *s, size_t n);
/* Appends s[0..n) to out with each ill-formed subsequence replaced by U+FFFD.
 * Returns 0, or -1 when memory runs out. */
int utf8_sanitize(const uint8_t *s, size_t n, byte_buf_t *out);
/* Unicode White_Space (what \s matches in Rust's and Python's regex engines). */
int unicode_is_white_space(uint32_t cp);

#endif
