/* backend.c — choosing a backend by name. */
#include "backend.h"

#include <string.h>

#ifndef MEGAC_HAVE_CUDA
backend_t *backend_cuda(err_t *err) {
    err_set(err, "--device cuda: this megac was built without CUDA (configure with -Dcuda=enabled)");
    return NULL;
}
#endif

backend_t *backend_by_name(const char *name, err_t *err) {
    if (!name || strcmp(name, "auto") == 0) {
        err_t no_gpu;
        backend_t *be = backend_cuda(&no_gpu);
        return be ? be : backend_cpu();
    }
    if (strcmp(name, "cpu") == 0) return backend_cpu();
    if (strcmp(name, "cuda") == 0) return backend_cuda(err);
    err_set(err, "--device: unknown device '%s' (expected cpu, cuda or auto)", name);
    return NULL;
}
