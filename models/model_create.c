/* model_create.c — the parts of a model's create that GPT and BERT share (see
 * model_create.h). */
#include "model_create.h"

int model_alloc_acts(backend_t *be, int (*carve)(void *m, arena_t *ar), void *m, void **block, size_t *bytes,
                     const char *what, err_t *err) {
    arena_t ar = {0};
    carve(m, &ar);
    if (be->alloc(be, block, ar.used, err) != 0) return err_prefix(err, "%sactivations (%zu bytes)", what, ar.used);
    *bytes = ar.used;
    arena_t real = {.base = *block, .capacity = ar.used};
    if (carve(m, &real) != 0) return err_set(err, "internal: %sactivation arena overflow", what);
    return 0;
}

model_split_t model_split(const model_parallel_t *par) {
    comm_t *tp = par ? par->tp : NULL;
    model_split_t s = {tp, tp ? tp->rank : 0, tp ? tp->size : 1, par && par->param_pad > 1 ? (size_t)par->param_pad : 1};
    return s;
}
