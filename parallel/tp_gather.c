/* tp_gather.c — all-gather of a TP-split tensor into its global layout. */
#include "tp_gather.h"

#include <stdlib.h>
#include <string.h>

int tp_gather_tensor(comm_t *tp, backend_t *be, const tensor_t *t, float *host_global, err_t *err) {
    size_t n = (size_t)tensor_numel(t);
    int size = tp ? tp->size : 1;
    if (t->split_dim < 0 || size == 1) {
        be->copy_to_host(be, host_global, t->data, n * sizeof(float));
        return 0;
    }
    float *dev = NULL, *host = malloc(n * (size_t)size * sizeof(float));
    if (!host || be->alloc(be, (void **)&dev, n * (size_t)size * sizeof(float), err) != 0) {
        free(host);
        return err_set(err, "gathering %s: out of memory", t->name);
    }
    be->copy(be, dev + n * (size_t)tp->rank, t->data, n * sizeof(float));
    int rc = comm_allgather(tp, dev, n, NULL, err);
    if (rc == 0) {
        be->copy_to_host(be, host, dev, n * (size_t)size * sizeof(float));
        if (t->split_dim == 0) {
            memcpy(host_global, host, n * (size_t)size * sizeof(float));
        } else { /* split columns: rank r holds columns [r*lc, (r+1)*lc) of every row */
            int64_t rows = t->shape[0], lc = t->shape[1], gc = t->global_shape[1];
            for (int r = 0; r < size; r++)
                for (int64_t i = 0; i < rows; i++)
                    memcpy(host_global + i * gc + r * lc, host + (size_t)r * n + (size_t)(i * lc),
                           (size_t)lc * sizeof(float));
        }
    }
    be->free(be, dev);
    free(host);
    return rc;
}
