/* sentence_split.h — a rule-based sentence splitter for --split-sentences.
 *
 * Megatron splits with NLTK's trained punkt model; this is a deterministic
 * approximation, not a copy: a sentence ends after '.', '!' or '?' (and any
 * closing quotes or brackets right after) when whitespace follows and the next
 * word starts with an upper-case letter, a digit or an opening quote, unless
 * the word before the period is a common abbreviation ("Mr.", "e.g.") or a
 * single letter (an initial). As in Megatron's custom punkt variables, the
 * whitespace between sentences starts the next sentence, so the sentences
 * concatenate back to the text. Text is UTF-8 (letters via utf8proc). */
#ifndef MEGAC_SENTENCE_SPLIT_H
#define MEGAC_SENTENCE_SPLIT_H

#include <stddef.h>

/* Writes the end offset of each sentence of text[0..len) to ends (the last is
 * len) and returns how many; at most max_ends are written, the last sentence
 * taking the rest when the text has more. */
size_t sentence_split(const char *text, size_t len, size_t *ends, size_t max_ends);

#endif
