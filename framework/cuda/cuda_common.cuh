/* cuda_common.cuh — what every CUDA backend source shares: the backend-private
 * state (cuBLAS handle, first recorded error, reduction scratch), the error
 * checks that record an op's first failure, launch-size helpers and warp
 * reductions. Included only by the CUDA sources (.cu), never by CPU code. */
#ifndef MEGAC_CUDA_COMMON_CUH
#define MEGAC_CUDA_COMMON_CUH

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

extern "C" {
#include "../backend.h"
}

/* Threads per block of the one-dimensional kernels. */
#define CUDA_THREADS 256
/* Grid-stride kernels never launch more blocks than this. */
#define CUDA_MAX_BLOCKS 65535u
/* Warp-per-row kernels: rows per block. */
#define CUDA_ROWS_PER_BLOCK (CUDA_THREADS / 32)
/* Deterministic sums in double: a fixed grid of partial sums, added in order. */
#define CUDA_REDUCE_GRID 512
#define CUDA_REDUCE_THREADS 256

typedef struct cuda_state {
    cublasHandle_t blas;
    int failed;    /* 1 once an error has been recorded        */
    char msg[512]; /* the first recorded error                 */
    double *red;   /* [CUDA_REDUCE_GRID + 1] reduction scratch */
    int *flag;     /* one int for has_inf_nan                  */
} cuda_state_t;

static inline cuda_state_t *cuda_state(backend_t *be) { return (cuda_state_t *)be->impl; }

/* Record "cuda backend: <op>: <call> failed: <why>" unless an error is already recorded. */
void cuda_record(backend_t *be, const char *op, const char *call, const char *why);
/* Return 1 on success; otherwise record the failure and return 0. */
int cuda_check(backend_t *be, cudaError_t e, const char *op, const char *call);
int cublas_check(backend_t *be, cublasStatus_t s, const char *op, const char *call);
/* Check the launch of the kernel just queued (configuration or earlier asynchronous errors). */
static inline int cuda_launched(backend_t *be, const char *op, const char *kernel) {
    return cuda_check(be, cudaGetLastError(), op, kernel);
}

/* Blocks for a grid-stride loop over n items. */
static inline unsigned cuda_blocks(size_t n, int threads) {
    size_t b = (n + (size_t)threads - 1) / (size_t)threads;
    return b > CUDA_MAX_BLOCKS ? CUDA_MAX_BLOCKS : (unsigned)b;
}

/* Blocks for a warp-per-row kernel over `rows` rows. */
static inline unsigned cuda_row_blocks(int rows) {
    return (unsigned)((rows + CUDA_ROWS_PER_BLOCK - 1) / CUDA_ROWS_PER_BLOCK);
}

/* Butterfly reductions: every lane ends with the same value, in a fixed order. */
static __device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

static __device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) {
        float other = __shfl_xor_sync(0xffffffffu, v, o);
        v = other > v ? other : v;
    }
    return v;
}

/* Grid-stride loop over [0, n) with a size_t index. */
#define CUDA_FOR(i, n)                                                                             \
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);                        \
         i += (size_t)gridDim.x * blockDim.x)

#endif
