/* model_sizes.c — overflow-checked size validation (see model_sizes.h). */
#include "model_sizes.h"

#include <limits.h>

/* sizes the ops index with int: at most 2^31 - 1 elements per rank's matrix */
#define INT_ELEMS ((double)INT_MAX)

int model_sizes_validate(const model_sizes_t *s, int tp, err_t *err) {
    const struct {
        const char *flag;
        int64_t v, max;
    } each[] = {
        {"--num-layers", s->layers, 1 << 16},
        {"--hidden-size", s->hidden, 1 << 20},
        {"--num-attention-heads", s->heads, 1 << 16},
        {"--seq-length", s->seq, 1 << 24},
        {"--max-position-embeddings", s->positions, 1 << 24},
        {"the vocabulary size", s->vocab, INT_MAX / 2},
        {"--make-vocab-size-divisible-by", s->vocab_multiple, 1 << 16},
    };
    for (size_t i = 0; i < sizeof each / sizeof each[0]; i++)
        if (each[i].v <= 0 || each[i].v > each[i].max)
            return err_set(err, "%s %lld is out of range (1..%lld)", each[i].flag, (long long)each[i].v,
                           (long long)each[i].max);
    if (s->ffn < 0 || s->ffn > (1 << 24))
        return err_set(err, "--ffn-hidden-size %lld is out of range (1..%d)", (long long)s->ffn, 1 << 24);
    if (s->token_types < 0 || s->token_types > (1 << 16))
        return err_set(err, "the token type count %lld is out of range (1..%d)", (long long)s->token_types, 1 << 16);
    if (tp <= 0 || tp > (1 << 16)) return err_set(err, "--tensor-model-parallel-size %d is out of range", tp);
    /* now every product below fits int64 */
    int64_t C = s->hidden, F = s->ffn > 0 ? s->ffn : 4 * s->hidden;
    int64_t mult = s->vocab_multiple * tp, V = (s->vocab + mult - 1) / mult * mult;
    if (V > INT_MAX)
        return err_set(err, "the vocabulary %lld padded to a multiple of %lld x TP %d is %lld, more than megac indexes",
                       (long long)s->vocab, (long long)s->vocab_multiple, tp, (long long)V);
    if ((double)s->seq * (double)C * 4.0 > INT_ELEMS || (double)V * (double)C / tp > INT_ELEMS ||
        (double)F * (double)C / tp > INT_ELEMS || 3.0 * (double)C * (double)C / tp > INT_ELEMS ||
        (double)s->positions * (double)C > INT_ELEMS)
        return err_set(err, "model dimensions are too large (hidden %lld, FFN %lld, sequence %lld, padded vocabulary %lld, "
                       "TP %d): a matrix exceeds 2^31 elements per rank", (long long)C, (long long)F, (long long)s->seq,
                       (long long)V, tp);
    double layer = 4.0 * (double)C * (double)C + 2.0 * (double)C * (double)F + 9.0 * (double)C + (double)F;
    double params = (double)s->layers * layer + ((double)V + (double)s->positions + (double)s->token_types) * (double)C;
    if (params > (double)MODEL_MAX_PARAMS)
        return err_set(err, "the model would have %.3g parameters, more than megac handles (%.3g)", params,
                       (double)MODEL_MAX_PARAMS);
    return 0;
}
