/* model_sizes.h — the one check of a transformer model's sizes that every path
 * runs before it computes with them (train, generate, ckpt verify/reshard,
 * import-hf: through gpt_config_validate and bert_config_validate): every size
 * positive and within the int arithmetic of the ops, and the derived sizes (the
 * FFN's 4 x hidden, the padded vocabulary, per-rank matrix sizes, the parameter
 * count) computed with overflow checks, so a checkpoint's metadata or a
 * config.json with absurd numbers is refused in one line instead of
 * overflowing or asking for exabytes. */
#ifndef MEGAC_MODEL_SIZES_H
#define MEGAC_MODEL_SIZES_H

#include <stdint.h>

#include "../framework/error.h"

typedef struct model_sizes {
    int64_t layers, hidden, heads, ffn; /* ffn 0: 4 x hidden */
    int64_t seq, positions, vocab, vocab_multiple, token_types; /* token_types 0: none (GPT) */
} model_sizes_t;

/* Largest parameter count megac accepts (2^40, about 1.1e12). */
#define MODEL_MAX_PARAMS ((int64_t)1 << 40)

/* 0, or -1 naming the first size out of range (by its flag). tp: the tensor-parallel size. */
int model_sizes_validate(const model_sizes_t *s, int tp, err_t *err);

#endif
