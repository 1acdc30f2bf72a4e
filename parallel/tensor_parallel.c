/* tensor_parallel.c — the tensor-parallel mappings and layers (see
 * tensor_parallel.h). Each forward sits beside its backward. */
#include "tensor_parallel.h"

static int active(const comm_t *tp) { return tp && tp->size > 1; }

int tp_rank_of(const comm_t *tp) { return tp ? tp->rank : 0; }
int tp_size_of(const comm_t *tp) { return tp ? tp->size : 1; }

static int allreduce_sum(comm_t *tp, float *x, size_t n, err_t *err) {
    return active(tp) ? comm_allreduce(tp, x, n, COMM_SUM, NULL, err) : 0;
}

/* ---------------------------------------------------------------- f and g */

int tp_copy_to_region_forward(comm_t *tp, const float *x, size_t n, err_t *err) {
    (void)tp, (void)x, (void)n, (void)err;
    return 0;
}

int tp_copy_to_region_backward(comm_t *tp, float *dx, size_t n, err_t *err) { return allreduce_sum(tp, dx, n, err); }

int tp_reduce_from_region_forward(comm_t *tp, float *x, size_t n, err_t *err) { return allreduce_sum(tp, x, n, err); }

int tp_reduce_from_region_backward(comm_t *tp, float *dx, size_t n, err_t *err) {
    (void)tp, (void)dx, (void)n, (void)err;
    return 0;
}

/* ---------------------------------------------------------------- the last dimension */

/* dst[i, :k] = src[i, off : off + k] for N rows; src rows are ld wide, dst rows k */
static void take_columns(backend_t *be, float *dst, const float *src, int N, int ld, int off, int k) {
    for (int i = 0; i < N; i++)
        be->copy(be, dst + (size_t)i * k, src + (size_t)i * ld + off, (size_t)k * sizeof(float));
}

int tp_scatter_to_region_forward(comm_t *tp, backend_t *be, float *slice, const float *full, int N, int K,
                                 err_t *err) {
    (void)err;
    int k = K / tp_size_of(tp);
    take_columns(be, slice, full, N, K, tp_rank_of(tp) * k, k);
    return 0;
}

int tp_scatter_to_region_backward(comm_t *tp, backend_t *be, float *dfull, const float *dslice, float *ws, int N,
                                  int K, err_t *err) {
    return tp_gather_from_region_forward(tp, be, dfull, dslice, ws, N, K, err);
}

/* all-gather the [N, k] slices rank-major into ws ([t, N, k]), then interleave them
 * into [N, K] rows */
int tp_gather_from_region_forward(comm_t *tp, backend_t *be, float *full, const float *slice, float *ws, int N,
                                  int K, err_t *err) {
    int t = tp_size_of(tp), k = K / t;
    size_t n = (size_t)N * k;
    if (!active(tp)) {
        be->copy(be, full, slice, n * sizeof(float));
        return 0;
    }
    be->copy(be, ws + n * (size_t)tp->rank, slice, n * sizeof(float));
    if (comm_allgather(tp, ws, n, NULL, err) != 0) return -1;
    for (int r = 0; r < t; r++)
        for (int i = 0; i < N; i++)
            be->copy(be, full + (size_t)i * K + (size_t)r * k, ws + n * (size_t)r + (size_t)i * k,
                     (size_t)k * sizeof(float));
    return 0;
}

int tp_gather_from_region_backward(comm_t *tp, backend_t *be, float *dslice, const float *dfull, int N, int K,
                                   err_t *err) {
    return tp_scatter_to_region_forward(tp, be, dslice, dfull, N, K, err);
}

/* ---------------------------------------------------------------- the sequence (rows) */

int tp_gather_from_sequence_region_forward(comm_t *tp, backend_t *be, float *full, const float *shard, int N, int C,
                                           err_t *err) {
    size_t n = (size_t)(N / tp_size_of(tp)) * C;
    be->copy(be, full + n * (size_t)tp_rank_of(tp), shard, n * sizeof(float));
    return active(tp) ? comm_allgather(tp, full, n, NULL, err) : 0;
}

int tp_gather_from_sequence_region_backward(comm_t *tp, backend_t *be, float *dshard, const float *dfull, int N,
                                            int C, err_t *err) {
    return tp_reduce_scatter_to_sequence_region_forward(tp, be, dshard, dfull, N, C, err);
}

int tp_reduce_scatter_to_sequence_region_forward(comm_t *tp, backend_t *be, float *shard, const float *full, int N,
                                                 int C, err_t *err) {
    size_t n = (size_t)(N / tp_size_of(tp)) * C;
    if (!active(tp)) {
        be->copy(be, shard, full, n * sizeof(float));
        return 0;
    }
    return comm_reduce_scatter(tp, full, shard, n, NULL, err);
}

int tp_reduce_scatter_to_sequence_region_backward(comm_t *tp, backend_t *be, float *dfull, const float *dshard,
                                                  int N, int C, err_t *err) {
    return tp_gather_from_sequence_region_forward(tp, be, dfull, dshard, N, C, err);
}

/* ---------------------------------------------------------------- column- and row-parallel linear */

int tp_column_linear_forward(comm_t *tp, backend_t *be, float *out, const float *in, const float *w, const float *b,
                             int N, int IC, int OC, err_t *err) {
    if (tp_copy_to_region_forward(tp, in, (size_t)N * IC, err) != 0) return -1;
    be->matmul_forward(be, out, in, w, b, N, IC, OC);
    return 0;
}

int tp_column_linear_backward(comm_t *tp, backend_t *be, float *din, float *dw, float *db, const float *dout,
                              const float *in, const float *w, int N, int IC, int OC, err_t *err) {
    be->memset_zero(be, din, (size_t)N * IC * sizeof(float));
    be->matmul_backward(be, din, dw, db, dout, in, w, N, IC, OC);
    return tp_copy_to_region_backward(tp, din, (size_t)N * IC, err);
}

int tp_row_linear_forward(comm_t *tp, backend_t *be, float *out, const float *in, const float *w, const float *b,
                          int N, int IC, int OC, err_t *err) {
    be->matmul_forward(be, out, in, w, tp_rank_of(tp) == 0 ? b : NULL, N, IC, OC);
    return tp_reduce_from_region_forward(tp, out, (size_t)N * OC, err);
}

void tp_row_linear_backward(backend_t *be, float *din, float *dw, float *db, const float *dout, const float *in,
                            const float *w, int N, int IC, int OC) {
    /* g's backward is the identity: every rank has the whole dout */
    be->memset_zero(be, din, (size_t)N * IC * sizeof(float));
    be->matmul_backward(be, din, dw, db, dout, in, w, N, IC, OC);
}

/* ---------------------------------------------------------------- vocab-parallel embedding */

int tp_vocab_embedding_forward(comm_t *tp, backend_t *be, float *out, const int *ids, const float *table, int N, int C,
                               int v_start, int v_end, err_t *err) {
    be->embedding_forward(be, out, ids, table, N, C, v_start, v_end); /* ids outside the slice: zero rows */
    return tp_reduce_from_region_forward(tp, out, (size_t)N * C, err);
}

void tp_vocab_embedding_backward(backend_t *be, float *dtable, const float *dout, const int *ids, int N, int C,
                                 int v_start, int v_end) {
    be->embedding_backward(be, dtable, dout, ids, N, C, v_start, v_end);
}

/* ---------------------------------------------------------------- vocab-parallel cross-entropy */

int tp_vocab_cross_entropy_forward(comm_t *tp, backend_t *be, float *losses, float *rowmax, float *sumexp,
                                   const float *logits, const int *targets, int N, int V_local, int v_start, int vocab,
                                   err_t *err) {
    float *tlogit = sumexp + N;
    be->xent_max(be, rowmax, logits, N, V_local, v_start, vocab);
    if (active(tp) && comm_allreduce(tp, rowmax, (size_t)N, COMM_MAX, NULL, err) != 0) return -1;
    be->xent_sumexp(be, sumexp, tlogit, logits, rowmax, targets, N, V_local, v_start, vocab);
    if (allreduce_sum(tp, sumexp, 2 * (size_t)N, err) != 0) return -1;
    be->xent_loss(be, losses, rowmax, sumexp, tlogit, N);
    return 0;
}

void tp_vocab_cross_entropy_backward(backend_t *be, float *logits, const float *rowmax, const float *sumexp,
                                     const int *targets, const float *dloss, int N, int V_local, int v_start,
                                     int vocab) {
    be->xent_backward(be, logits, rowmax, sumexp, targets, dloss, N, V_local, v_start, vocab);
}
