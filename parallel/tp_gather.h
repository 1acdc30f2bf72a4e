/* tp_gather.h — assembling a tensor-parallel tensor's global form (for saving
 * weights and for tests that compare layouts). */
#ifndef MEGAC_TP_GATHER_H
#define MEGAC_TP_GATHER_H

#include "../framework/tensor.h"
#include "comm.h"

/* Every rank of `tp` (NULL = one rank) calls it; each receives the global
 * tensor (global_shape) in host memory. */
int tp_gather_tensor(comm_t *tp, backend_t *be, const tensor_t *t, float *host_global, err_t *err);

#endif
