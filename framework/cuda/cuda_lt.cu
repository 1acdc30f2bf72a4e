/* cuda_lt.cu — linear layers through cuBLASLt with the bias added in the GEMM's
 * epilogue (one pass over the output instead of a broadcast kernel and a
 * beta = 1 GEMM).
 *
 * A plan (operation and layout descriptors plus the heuristic's algorithm) is
 * made once per shape and operand alignment and cached; the workspace is
 * allocated once, when the backend starts, so no step allocates. fp32 in, fp32
 * out, CUBLAS_COMPUTE_32F (no TF32), for parity with the CPU backend. When
 * cuBLASLt has no algorithm for a case, or MEGAC_CUBLASLT=0 is set, the caller
 * takes the sgemm path. */
#include <cublasLt.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_ops.cuh"

#define LT_WORKSPACE (32u << 20)
#define LT_PLANS 128

typedef struct lt_plan {
    int N, IC, OC, align; /* the key */
    int ok;               /* 0: cuBLASLt has no algorithm: use sgemm */
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t a, b, c;
    cublasLtMatmulAlgo_t algo;
} lt_plan_t;

static struct {
    int on;
    cublasLtHandle_t h;
    void *ws;
    lt_plan_t plans[LT_PLANS];
    int nplans;
} lt;

int cuda_lt_init(void) {
    const char *env = getenv("MEGAC_CUBLASLT");
    if (env && strcmp(env, "0") == 0) return 0;
    if (cublasLtCreate(&lt.h) != CUBLAS_STATUS_SUCCESS) return 0;
    if (cudaMalloc(&lt.ws, LT_WORKSPACE) != cudaSuccess) {
        cudaGetLastError();
        cublasLtDestroy(lt.h);
        return 0;
    }
    lt.on = 1;
    return 1;
}

/* the largest power of two (<= 256) that divides every operand's address */
static int operand_alignment(const void *const *ptrs, int n) {
    uintptr_t bits = 256;
    for (int i = 0; i < n; i++) bits |= (uintptr_t)ptrs[i];
    return (int)(bits & (~bits + 1));
}

static int make_plan(lt_plan_t *p) {
    cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
    if (cublasLtMatmulDescCreate(&p->op, CUBLAS_COMPUTE_32F, CUDA_R_32F) != CUBLAS_STATUS_SUCCESS) return 0;
    int ok = cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta) == CUBLAS_STATUS_SUCCESS &&
             cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb) == CUBLAS_STATUS_SUCCESS &&
             cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi) == CUBLAS_STATUS_SUCCESS &&
             /* w: column-major [IC, OC]; inp: [IC, N]; out: [OC, N] (row-major transposed) */
             cublasLtMatrixLayoutCreate(&p->a, CUDA_R_32F, p->IC, p->OC, p->IC) == CUBLAS_STATUS_SUCCESS &&
             cublasLtMatrixLayoutCreate(&p->b, CUDA_R_32F, p->IC, p->N, p->IC) == CUBLAS_STATUS_SUCCESS &&
             cublasLtMatrixLayoutCreate(&p->c, CUDA_R_32F, p->OC, p->N, p->OC) == CUBLAS_STATUS_SUCCESS;
    if (!ok) return 0;
    cublasLtMatmulPreference_t pref;
    if (cublasLtMatmulPreferenceCreate(&pref) != CUBLAS_STATUS_SUCCESS) return 0;
    size_t ws = LT_WORKSPACE;
    uint32_t al = (uint32_t)p->align;
    ok = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws) ==
             CUBLAS_STATUS_SUCCESS &&
         cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al, sizeof al) ==
             CUBLAS_STATUS_SUCCESS &&
         cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al, sizeof al) ==
             CUBLAS_STATUS_SUCCESS &&
         cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al, sizeof al) ==
             CUBLAS_STATUS_SUCCESS &&
         cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al, sizeof al) ==
             CUBLAS_STATUS_SUCCESS;
    cublasLtMatmulHeuristicResult_t res;
    int found = 0;
    if (ok && cublasLtMatmulAlgoGetHeuristic(lt.h, p->op, p->a, p->b, p->c, p->c, pref, 1, &res, &found) !=
                  CUBLAS_STATUS_SUCCESS)
        found = 0;
    cublasLtMatmulPreferenceDestroy(pref);
    if (!ok || found < 1) return 0;
    p->algo = res.algo;
    return 1;
}

static lt_plan_t *plan_for(int N, int IC, int OC, int align) {
    for (int i = 0; i < lt.nplans; i++) {
        lt_plan_t *p = &lt.plans[i];
        if (p->N == N && p->IC == IC && p->OC == OC && p->align == align) return p;
    }
    if (lt.nplans == LT_PLANS) return NULL; /* more shapes than a model has: sgemm */
    lt_plan_t *p = &lt.plans[lt.nplans++];
    memset(p, 0, sizeof *p);
    p->N = N, p->IC = IC, p->OC = OC, p->align = align;
    p->ok = make_plan(p);
    return p;
}

int cuda_lt_matmul_bias(backend_t *be, float *out, const float *inp, const float *w, const float *bias, int N,
                        int IC, int OC) {
    if (!lt.on || IC <= 0) return 0;
    const void *ptrs[4] = {out, inp, w, bias};
    int align = operand_alignment(ptrs, 4);
    if (align < 16) return 0;
    lt_plan_t *p = plan_for(N, IC, OC, align);
    if (!p || !p->ok) return 0;
    const char *op = "matmul_forward";
    if (!cublas_check(be, cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias),
                      op, "cublasLtMatmulDescSetAttribute (bias)"))
        return 1;
    float alpha = 1.0f, beta = 0.0f;
    cublas_check(be,
                 cublasLtMatmul(lt.h, p->op, &alpha, w, p->a, inp, p->b, &beta, out, p->c, out, p->c, &p->algo,
                                lt.ws, LT_WORKSPACE, 0),
                 op, "cublasLtMatmul (bias epilogue)");
    return 1;
}
