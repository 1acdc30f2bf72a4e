/* tensor_parallel.h — Megatron's tensor-parallel mappings and the layers built
 * from them (Shoeybi et al. 2019; megatron/core/tensor_parallel/mappings.py,
 * layers.py, cross_entropy.py), each forward beside its backward.
 *
 *   copy_to_region       f: identity forward, all-reduce of the gradient backward
 *   reduce_from_region   g: all-reduce forward, identity backward
 *   scatter_to_region    keep this rank's slice of the last dimension; backward gathers
 *   gather_from_region   all-gather along the last dimension; backward keeps the slice
 *   gather_from_sequence_region          all-gather along the first dimension (rows,
 *                                        the sequence); backward reduce-scatters
 *   reduce_scatter_to_sequence_region    reduce-scatter along the rows; backward
 *                                        all-gathers (sequence parallelism, Korthikanti
 *                                        et al. 2022)
 *
 *   column-parallel linear  Y_i = X W_i^T (+ b_i): f, then the local GEMM; W split by
 *                           output rows. Backward: the local GEMM's gradients, then f's
 *                           all-reduce of the input gradient.
 *   row-parallel linear     Y = sum_i X_i W_i^T + b: the local GEMM, then g; W split by
 *                           input columns; the replicated bias is added once, by TP rank
 *                           0 into its partial sum (so the reduction adds it once).
 *   vocab-parallel embedding  each rank looks up the ids in its vocabulary slice (the
 *                           others give zero rows), then g.
 *   vocab-parallel cross-entropy  over [N, V/t] logits without gathering them: the
 *                           all-reduced row max, then one all-reduce of the (sum of
 *                           exponentials, target logit) pair.
 *
 * Rows are [N, features] row-major. The group `tp` may be NULL or of size 1: every
 * mapping is then the identity and communicates nothing (and counts nothing, so a
 * layer costs exactly 2 TP all-reduces forward and 2 backward only when TP > 1).
 * Buffers live in the memory of the backend `be`. Functions that communicate return
 * 0 or -1 with err filled by the communicator. */
#ifndef MEGAC_TENSOR_PARALLEL_H
#define MEGAC_TENSOR_PARALLEL_H

#include <stddef.h>

#include "../framework/backend.h"
#include "../framework/error.h"
#include "comm.h"

/* this rank's index in tp (0 without one) */
int tp_rank_of(const comm_t *tp);
/* the group's size (1 without one) */
int tp_size_of(const comm_t *tp);

/* ---- f and g: in place over x[0..n) ---- */
int tp_copy_to_region_forward(comm_t *tp, const float *x, size_t n, err_t *err);
int tp_copy_to_region_backward(comm_t *tp, float *dx, size_t n, err_t *err);
int tp_reduce_from_region_forward(comm_t *tp, float *x, size_t n, err_t *err);
int tp_reduce_from_region_backward(comm_t *tp, float *dx, size_t n, err_t *err);

/* ---- split along the last dimension: full [N, K], slice [N, K/t] (t divides K) ----
 * The gathers need a workspace ws of N*K floats (device memory of be). */
int tp_scatter_to_region_forward(comm_t *tp, backend_t *be, float *slice, const float *full, int N, int K,
                                 err_t *err);
int tp_scatter_to_region_backward(comm_t *tp, backend_t *be, float *dfull, const float *dslice, float *ws, int N,
                                  int K, err_t *err);
int tp_gather_from_region_forward(comm_t *tp, backend_t *be, float *full, const float *slice, float *ws, int N,
                                  int K, err_t *err);
int tp_gather_from_region_backward(comm_t *tp, backend_t *be, float *dslice, const float *dfull, int N, int K,
                                   err_t *err);

/* ---- split along the rows (the sequence): full [N, C], shard [N/t, C] (t divides N);
 * TP rank r holds rows [r N/t, (r+1) N/t) ---- */
int tp_gather_from_sequence_region_forward(comm_t *tp, backend_t *be, float *full, const float *shard, int N, int C,
                                           err_t *err);
int tp_gather_from_sequence_region_backward(comm_t *tp, backend_t *be, float *dshard, const float *dfull, int N,
                                            int C, err_t *err);
int tp_reduce_scatter_to_sequence_region_forward(comm_t *tp, backend_t *be, float *shard, const float *full, int N,
                                                 int C, err_t *err);
int tp_reduce_scatter_to_sequence_region_backward(comm_t *tp, backend_t *be, float *dfull, const float *dshard,
                                                  int N, int C, err_t *err);

/* ---- column- and row-parallel linear: out[N, OC] = in[N, IC] @ w[OC, IC]^T (+ b) with
 * this rank's shards; backward overwrites din and accumulates dw, db (NULL skips) ---- */
/* column: w is [OC/t, IC] (OC here is the local width) */
int tp_column_linear_forward(comm_t *tp, backend_t *be, float *out, const float *in, const float *w, const float *b,
                             int N, int IC, int OC, err_t *err);
int tp_column_linear_backward(comm_t *tp, backend_t *be, float *din, float *dw, float *db, const float *dout,
                              const float *in, const float *w, int N, int IC, int OC, err_t *err);
/* row: w is [OC, IC/t] (IC here is the local width); b is the whole replicated bias */
int tp_row_linear_forward(comm_t *tp, backend_t *be, float *out, const float *in, const float *w, const float *b,
                          int N, int IC, int OC, err_t *err);
void tp_row_linear_backward(backend_t *be, float *din, float *dw, float *db, const float *dout, const float *in,
                            const float *w, int N, int IC, int OC);

/* ---- vocab-parallel embedding: this rank's rows [v_start, v_end) of the table ---- */
int tp_vocab_embedding_forward(comm_t *tp, backend_t *be, float *out, const int *ids, const float *table, int N, int C,
                               int v_start, int v_end, err_t *err);
void tp_vocab_embedding_backward(backend_t *be, float *dtable, const float *dout, const int *ids, int N, int C,
                                 int v_start, int v_end);

/* ---- vocab-parallel cross-entropy over logits [N, V_local] whose column j is vocabulary
 * entry v_start + j; entries at and beyond vocab (padding) are ignored. Forward fills
 * rowmax[N], sumexp[2N] (the sums, then the target logits at sumexp + N: one all-reduce
 * carries both) and losses[N]. Backward turns the logits into their gradient, in place,
 * scaled per row by dloss. ---- */
int tp_vocab_cross_entropy_forward(comm_t *tp, backend_t *be, float *losses, float *rowmax, float *sumexp,
                                   const float *logits, const int *targets, int N, int V_local, int v_start, int vocab,
                                   err_t *err);
void tp_vocab_cross_entropy_backward(backend_t *be, float *logits, const float *rowmax, const float *sumexp,
                                     const int *targets, const float *dloss, int N, int V_local, int v_start,
                                     int vocab);

#endif
