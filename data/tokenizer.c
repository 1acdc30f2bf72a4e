/* tokenizer.c — --tokenizer-type dispatch (see tokenizer.h). */
#include "tokenizer.h"

#include <string.h>

int tokenizer_open(tokenizer_t *t, const char *type, const char *vocab_file, const char *merge_file,
                   const char *tiktoken_file, err_t *err) {
    memset(t, 0, sizeof *t);
    if (!type) return err_set(err, "--tokenizer-type is required (GPT2BPETokenizer, BertWordPieceLowerCase, BertWordPieceCase)");
    if (strcmp(type, "GPT2BPETokenizer") == 0) {
        t->kind = TOKENIZER_GPT2_BPE;
        if (tiktoken_file) {
            if (vocab_file || merge_file)
                return err_set(err, "--tiktoken-file replaces --vocab-file and --merge-file; give one or the other");
            return bpe_load_tiktoken(&t->bpe, tiktoken_file, err);
        }
        if (!vocab_file || !merge_file)
            return err_set(err, "GPT2BPETokenizer needs --vocab-file (vocab.json) and --merge-file (merges.txt), or --tiktoken-file");
        return bpe_load_gpt2(&t->bpe, vocab_file, merge_file, err);
    }
    int lower = strcmp(type, "BertWordPieceLowerCase") == 0;
    if (lower || strcmp(type, "BertWordPieceCase") == 0) {
        t->kind = lower ? TOKENIZER_BERT_LOWER_CASE : TOKENIZER_BERT_CASE;
        if (merge_file || tiktoken_file) return err_set(err, "%s takes only --vocab-file (vocab.txt)", type);
        if (!vocab_file) return err_set(err, "%s needs --vocab-file (BERT's vocab.txt)", type);
        return wordpiece_load(&t->wordpiece, vocab_file, lower, err);
    }
    return err_set(err, "--tokenizer-type '%s' is not one of GPT2BPETokenizer, BertWordPieceLowerCase, BertWordPieceCase", type);
}

void tokenizer_close(tokenizer_t *t) {
    bpe_free(t->bpe);
    wordpiece_free(t->wordpiece);
    memset(t, 0, sizeof *t);
}

const char *tokenizer_type_name(const tokenizer_t *t) {
    switch (t->kind) {
    case TOKENIZER_GPT2_BPE: return "GPT2BPETokenizer";
    case TOKENIZER_BERT_LOWER_CASE: return "BertWordPieceLowerCase";
    case TOKENIZER_BERT_CASE: return "BertWordPieceCase";
    }
    return "?";
}

int tokenizer_vocab_size(const tokenizer_t *t) {
    return t->bpe ? bpe_vocab_size(t->bpe) : wordpiece_vocab_size(t->wordpiece);
}

int tokenizer_added_tokens(const tokenizer_t *t) { return t->bpe ? 0 : wordpiece_added(t->wordpiece); }

int tokenizer_eod(const tokenizer_t *t) { return t->bpe ? bpe_eod(t->bpe) : wordpiece_eod(t->wordpiece); }

int tokenizer_scratch_init(tokenizer_scratch_t *s, const tokenizer_t *t, err_t *err) {
    s->bpe_cache = NULL;
    if (t->bpe && !(s->bpe_cache = bpe_cache_new())) return err_set(err, "out of memory for a BPE cache");
    return 0;
}

void tokenizer_scratch_free(tokenizer_scratch_t *s) {
    bpe_cache_free(s->bpe_cache);
    s->bpe_cache = NULL;
}

int tokenizer_encode(const tokenizer_t *t, tokenizer_scratch_t *s, const char *text, size_t len, tok_buf_t *out,
                     err_t *err) {
    if (t->bpe) return bpe_encode(t->bpe, s->bpe_cache, text, len, out, err);
    return wordpiece_encode(t->wordpiece, text, len, out, err);
}

int tokenizer_decode(const tokenizer_t *t, const int32_t *ids, size_t n, byte_buf_t *out, err_t *err) {
    if (t->bpe) return bpe_decode(t->bpe, ids, n, out, err);
    return wordpiece_decode(t->wordpiece, ids, n, out, err);
}
