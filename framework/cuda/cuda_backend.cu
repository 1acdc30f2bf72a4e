/* cuda_backend.cu — the CUDA backend: initialisation, error recording, device
 * memory, sync and the op table (the ops live in cuda_dense.cu,
 * cuda_attention.cu and cuda_elementwise.cu).
 *
 * Everything runs on the legacy default stream, so kernels, cuBLAS calls and
 * copies are ordered, and copy_to_host / copy_to_device return with the host
 * buffer safe to use. Ops record the first failure; sync reports it. */
#include <stdio.h>
#include <stdlib.h>

#include "cuda_ops.cuh"

/* ---------------------------------------------------------------- errors */

void cuda_record(backend_t *be, const char *op, const char *call, const char *why) {
    cuda_state_t *st = cuda_state(be);
    if (st->failed) return;
    st->failed = 1;
    snprintf(st->msg, sizeof st->msg, "cuda backend: %s: %s failed: %s", op, call, why);
}

int cuda_check(backend_t *be, cudaError_t e, const char *op, const char *call) {
    if (e == cudaSuccess) return 1;
    cuda_record(be, op, call, cudaGetErrorString(e));
    return 0;
}

int cublas_check(backend_t *be, cublasStatus_t s, const char *op, const char *call) {
    if (s == CUBLAS_STATUS_SUCCESS) return 1;
    cuda_record(be, op, call, cublasGetStatusString(s));
    return 0;
}

/* ---------------------------------------------------------------- memory */

static int cuda_alloc(backend_t *be, void **ptr, size_t bytes, err_t *err) {
    (void)be;
    *ptr = NULL;
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes ? bytes : 1);
    if (e != cudaSuccess) {
        cudaGetLastError(); /* an allocation failure is reported here, not by the next sync */
        return err_set(err, "cuda backend: cudaMalloc of %zu bytes failed: %s", bytes,
                       cudaGetErrorString(e));
    }
    *ptr = p;
    return 0;
}

static void cuda_free(backend_t *be, void *ptr) {
    if (ptr) cuda_check(be, cudaFree(ptr), "free", "cudaFree");
}

static void cuda_memset_zero(backend_t *be, void *ptr, size_t bytes) {
    if (bytes == 0) return;
    cuda_check(be, cudaMemsetAsync(ptr, 0, bytes, 0), "memset_zero", "cudaMemsetAsync");
}

static void cuda_copy_to_device(backend_t *be, void *dst, const void *host_src, size_t bytes) {
    if (bytes == 0) return;
    cuda_check(be, cudaMemcpy(dst, host_src, bytes, cudaMemcpyHostToDevice), "copy_to_device",
               "cudaMemcpy");
}

static void cuda_copy_to_host(backend_t *be, void *host_dst, const void *src, size_t bytes) {
    if (bytes == 0) return;
    cuda_check(be, cudaMemcpy(host_dst, src, bytes, cudaMemcpyDeviceToHost), "copy_to_host",
               "cudaMemcpy");
}

/* Device-to-device with memmove semantics: overlapping ranges are copied in
 * chunks of the distance between them, in the order that reads every source
 * byte before it is overwritten (copies on one stream run in order). */
static void cuda_copy(backend_t *be, void *dst, const void *src, size_t bytes) {
    if (dst == src || bytes == 0) return;
    char *d = (char *)dst;
    const char *s = (const char *)src;
    size_t gap = d > s ? (size_t)(d - s) : (size_t)(s - d);
    if (gap >= bytes) {
        cuda_check(be, cudaMemcpyAsync(d, s, bytes, cudaMemcpyDeviceToDevice, 0), "copy",
                   "cudaMemcpyAsync");
        return;
    }
    if (d < s) {
        for (size_t off = 0; off < bytes; off += gap) {
            size_t len = bytes - off < gap ? bytes - off : gap;
            if (!cuda_check(be, cudaMemcpyAsync(d + off, s + off, len, cudaMemcpyDeviceToDevice, 0),
                            "copy", "cudaMemcpyAsync"))
                return;
        }
    } else {
        for (size_t off = bytes; off > 0;) {
            size_t len = off < gap ? off : gap;
            off -= len;
            if (!cuda_check(be, cudaMemcpyAsync(d + off, s + off, len, cudaMemcpyDeviceToDevice, 0),
                            "copy", "cudaMemcpyAsync"))
                return;
        }
    }
}

static int cuda_sync(backend_t *be, err_t *err) {
    cuda_check(be, cudaDeviceSynchronize(), "sync", "cudaDeviceSynchronize");
    cuda_check(be, cudaGetLastError(), "sync", "cudaGetLastError");
    cuda_state_t *st = cuda_state(be);
    if (st->failed) return err_set(err, "%s", st->msg);
    return 0;
}

/* ---------------------------------------------------------------- table */

static backend_t cuda_table;
static cuda_state_t cuda_st;
static int cuda_ready;

static void cuda_fill_table(backend_t *t) {
    t->name = "cuda";
    t->device = DEVICE_CUDA;
    t->alloc = cuda_alloc;
    t->free = cuda_free;
    t->memset_zero = cuda_memset_zero;
    t->copy_to_device = cuda_copy_to_device;
    t->copy_to_host = cuda_copy_to_host;
    t->copy = cuda_copy;
    t->sync = cuda_sync;
    t->embedding_forward = cuda_embedding_forward;
    t->embedding_backward = cuda_embedding_backward;
    t->position_forward = cuda_position_forward;
    t->position_backward = cuda_position_backward;
    t->layernorm_forward = cuda_layernorm_forward;
    t->residual_layernorm_forward = cuda_residual_layernorm_forward;
    t->layernorm_backward = cuda_layernorm_backward;
    t->rmsnorm_forward = cuda_rmsnorm_forward;
    t->residual_rmsnorm_forward = cuda_residual_rmsnorm_forward;
    t->rmsnorm_backward = cuda_rmsnorm_backward;
    t->matmul_forward = cuda_matmul_forward;
    t->matmul_backward = cuda_matmul_backward;
    t->attention_forward = cuda_attention_forward;
    t->attention_backward = cuda_attention_backward;
    t->flash_attention_forward = cuda_flash_attention_forward;
    t->flash_attention_backward = cuda_flash_attention_backward;
    t->rope_forward = cuda_rope_forward;
    t->rope_backward = cuda_rope_backward;
    t->gelu_forward = cuda_gelu_forward;
    t->gelu_backward = cuda_gelu_backward;
    t->swiglu_forward = cuda_swiglu_forward;
    t->swiglu_backward = cuda_swiglu_backward;
    t->tanh_forward = cuda_tanh_forward;
    t->tanh_backward = cuda_tanh_backward;
    t->add = cuda_add;
    t->dropout_forward = cuda_dropout_forward;
    t->dropout_backward = cuda_dropout_backward;
    t->axpy = cuda_axpy;
    t->xent_max = cuda_xent_max;
    t->xent_sumexp = cuda_xent_sumexp;
    t->xent_loss = cuda_xent_loss;
    t->xent_backward = cuda_xent_backward;
    t->sumsq = cuda_sumsq;
    t->sum = cuda_sum;
    t->adamw = cuda_adamw;
    t->lamb_moments = cuda_lamb_moments;
    t->adamw_multi = cuda_adamw_multi;
    t->lamb_moments_multi = cuda_lamb_moments_multi;
    t->has_inf_nan = cuda_has_inf_nan;
    t->cast_from_f32 = cuda_cast_from_f32;
    t->round_to = cuda_round_to;
    t->impl = &cuda_st;
}

extern "C" backend_t *backend_cuda(err_t *err) {
    if (cuda_ready) return &cuda_table;
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        cudaGetLastError();
        err_set(err, "--device cuda: no CUDA device (%s)",
                e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
        return NULL;
    }
    /* one GPU per rank: the launcher's node-local rank picks the device */
    const char *local = getenv("OMPI_COMM_WORLD_LOCAL_RANK");
    if (!local) local = getenv("SLURM_LOCALID");
    int dev = local ? atoi(local) % n : 0;
    e = cudaSetDevice(dev);
    if (e != cudaSuccess) {
        cudaGetLastError();
        err_set(err, "--device cuda: cudaSetDevice(%d) failed: %s", dev, cudaGetErrorString(e));
        return NULL;
    }
    cuda_state_t *st = &cuda_st;
    cublasStatus_t s = cublasCreate(&st->blas);
    if (s != CUBLAS_STATUS_SUCCESS) {
        err_set(err, "--device cuda: cublasCreate failed: %s", cublasGetStatusString(s));
        return NULL;
    }
    /* default math: fp32 sgemm without TF32, for parity with the CPU backend */
    s = cublasSetMathMode(st->blas, CUBLAS_DEFAULT_MATH);
    if (s != CUBLAS_STATUS_SUCCESS) {
        cublasDestroy(st->blas);
        err_set(err, "--device cuda: cublasSetMathMode failed: %s", cublasGetStatusString(s));
        return NULL;
    }
    size_t scratch = (CUDA_REDUCE_GRID + 1) * sizeof(double);
    e = cudaMalloc((void **)&st->red, scratch);
    if (e == cudaSuccess) e = cudaMalloc((void **)&st->flag, sizeof(int));
    if (e != cudaSuccess) {
        cudaGetLastError();
        if (st->red) cudaFree(st->red);
        cublasDestroy(st->blas);
        st->red = NULL;
        err_set(err, "--device cuda: cudaMalloc of the reduction scratch failed: %s",
                cudaGetErrorString(e));
        return NULL;
    }
    st->failed = 0;
    st->msg[0] = '\0';
    cuda_lt_init(); /* optional: without it linear layers take the sgemm path */
    cuda_fill_table(&cuda_table);
    cuda_ready = 1;
    return &cuda_table;
}
