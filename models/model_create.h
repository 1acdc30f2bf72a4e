/* model_create.h — what every model's create shares: the split a
 * model_parallel_t means, and the activation arena allocated in two passes. */
#ifndef MEGAC_MODEL_CREATE_H
#define MEGAC_MODEL_CREATE_H

#include "../framework/backend.h"
#include "../framework/tensor.h"
#include "transformer.h"

/* What par (NULL: one rank, no padding) means for a model's create: the TP
 * group, this rank's place in it, and the parameter-block padding. */
typedef struct model_split {
    comm_t *tp;
    int tp_rank, tp_size;
    size_t pad;
} model_split_t;
model_split_t model_split(const model_parallel_t *par);

/* The activation arena of a model instance, measured by a first carve over an
 * empty arena, allocated, and carved for real; `what` starts the messages
 * ("", "BERT "). */
int model_alloc_acts(backend_t *be, int (*carve)(void *m, arena_t *ar), void *m, void **block, size_t *bytes,
                     const char *what, err_t *err);

#endif
