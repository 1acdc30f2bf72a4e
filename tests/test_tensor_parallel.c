/* test_tensor_parallel.c — each mapping of parallel/tensor_parallel.h, forward and
 * backward, on a TP group of the whole world (run under mpirun -np 2 and 4), against
 * the unsplit computation that every rank also does on its own; and what each one
 * communicates (calls per kind on the TP communicator).
 * Usage: mpirun -np N test_tensor_parallel */
#include <mpi.h>
#include <string.h>

#include "framework/backend.h"
#include "parallel/grid.h"
#include "parallel/tensor_parallel.h"
#include "testing.h"

enum { N = 8, IC = 12, OC = 16, C = 6, V = 24, VOCAB = 21 };

static comm_t *tp;
static backend_t *be;
static int t, r; /* TP size, this rank */

static float *fresh(size_t n, float scale, uint32_t stream) {
    float *x = malloc(n * sizeof(float));
    fill_normal(x, n, scale, stream);
    return x;
}
static float *zeros(size_t n) { return calloc(n, sizeof(float)); }

/* dst[i, :] = src[i, off .. off + k) */
static void columns(float *dst, const float *src, int rows, int ld, int off, int k) {
    for (int i = 0; i < rows; i++) memcpy(dst + (size_t)i * k, src + (size_t)i * ld + off, (size_t)k * sizeof(float));
}

static int64_t calls(comm_kind_t k) { return tp->calls[k]; }
static void reset(void) { comm_reset_counters(tp); }

/* what a mapping communicated since reset(): all-reduces, all-gathers, reduce-scatters */
static void expect_calls(const char *what, int ar, int ag, int rs) {
    int want[3] = {t > 1 ? ar : 0, t > 1 ? ag : 0, t > 1 ? rs : 0};
    CHECK(calls(COMM_ALLREDUCE) == want[0] && calls(COMM_ALLGATHER) == want[1] && calls(COMM_REDUCE_SCATTER) == want[2],
          "%s: %lld all-reduces, %lld all-gathers, %lld reduce-scatters; expected %d, %d, %d", what,
          (long long)calls(COMM_ALLREDUCE), (long long)calls(COMM_ALLGATHER), (long long)calls(COMM_REDUCE_SCATTER),
          want[0], want[1], want[2]);
}

/* f and g: the sum over ranks of a rank-dependent tensor (every rank draws all of them) */
static void test_f_g(void) {
    err_t err;
    size_t n = (size_t)N * C;
    float *x = fresh(n, 1.0f, 100 + (uint32_t)r), *keep = malloc(n * sizeof(float));
    double *sum = calloc(n, sizeof(double));
    for (int q = 0; q < t; q++) {
        float *xq = fresh(n, 1.0f, 100 + (uint32_t)q);
        for (size_t i = 0; i < n; i++) sum[i] += xq[i];
        free(xq);
    }
    memcpy(keep, x, n * sizeof(float));
    reset();
    CHECK(tp_copy_to_region_forward(tp, x, n, &err) == 0, "%s", err.msg);
    CHECK(memcmp(x, keep, n * sizeof(float)) == 0, "f forward changed its input");
    expect_calls("f forward", 0, 0, 0);
    reset();
    CHECK(tp_copy_to_region_backward(tp, x, n, &err) == 0, "%s", err.msg);
    CHECK(rel_err_fd(x, sum, n) < 1e-6, "f backward: not the sum over ranks (%g)", rel_err_fd(x, sum, n));
    expect_calls("f backward", 1, 0, 0);
    memcpy(x, keep, n * sizeof(float));
    reset();
    CHECK(tp_reduce_from_region_forward(tp, x, n, &err) == 0, "%s", err.msg);
    CHECK(rel_err_fd(x, sum, n) < 1e-6, "g forward: not the sum over ranks (%g)", rel_err_fd(x, sum, n));
    expect_calls("g forward", 1, 0, 0);
    memcpy(x, keep, n * sizeof(float));
    reset();
    CHECK(tp_reduce_from_region_backward(tp, x, n, &err) == 0, "%s", err.msg);
    CHECK(memcmp(x, keep, n * sizeof(float)) == 0, "g backward changed its input");
    expect_calls("g backward", 0, 0, 0);
    free(x), free(keep), free(sum);
}

/* scatter / gather along the last dimension: exact copies */
static void test_last_dim(void) {
    err_t err;
    int k = OC / t;
    float *full = fresh((size_t)N * OC, 1.0f, 200), *mine = malloc((size_t)N * k * sizeof(float));
    float *slice = zeros((size_t)N * k), *back = zeros((size_t)N * OC), *ws = zeros((size_t)N * OC);
    columns(mine, full, N, OC, r * k, k);
    reset();
    CHECK(tp_scatter_to_region_forward(tp, be, slice, full, N, OC, &err) == 0, "%s", err.msg);
    CHECK(memcmp(slice, mine, (size_t)N * k * sizeof(float)) == 0, "scatter forward: not this rank's columns");
    expect_calls("scatter forward", 0, 0, 0);
    reset();
    CHECK(tp_scatter_to_region_backward(tp, be, back, slice, ws, N, OC, &err) == 0, "%s", err.msg);
    CHECK(memcmp(back, full, (size_t)N * OC * sizeof(float)) == 0, "scatter backward: the gathered gradient differs");
    expect_calls("scatter backward", 0, 1, 0);
    memset(back, 0, (size_t)N * OC * sizeof(float));
    reset();
    CHECK(tp_gather_from_region_forward(tp, be, back, mine, ws, N, OC, &err) == 0, "%s", err.msg);
    CHECK(memcmp(back, full, (size_t)N * OC * sizeof(float)) == 0, "gather forward: not the whole tensor");
    expect_calls("gather forward", 0, 1, 0);
    memset(slice, 0, (size_t)N * k * sizeof(float));
    reset();
    CHECK(tp_gather_from_region_backward(tp, be, slice, full, N, OC, &err) == 0, "%s", err.msg);
    CHECK(memcmp(slice, mine, (size_t)N * k * sizeof(float)) == 0, "gather backward: not this rank's columns");
    expect_calls("gather backward", 0, 0, 0);
    free(full), free(mine), free(slice), free(back), free(ws);
}

/* the sequence-parallel pair: rows [r N/t, (r+1) N/t) */
static void test_sequence(void) {
    err_t err;
    int rows = N / t;
    size_t n = (size_t)N * C, ns = (size_t)rows * C;
    float *full = fresh(n, 1.0f, 300), *out = zeros(n), *shard = zeros(ns);
    double *sum = calloc(n, sizeof(double));
    for (int q = 0; q < t; q++) {
        float *d = fresh(n, 1.0f, 310 + (uint32_t)q);
        for (size_t i = 0; i < n; i++) sum[i] += d[i];
        free(d);
    }
    float *dmine = fresh(n, 1.0f, 310 + (uint32_t)r);
    reset();
    CHECK(tp_gather_from_sequence_region_forward(tp, be, out, full + (size_t)r * ns, N, C, &err) == 0, "%s", err.msg);
    CHECK(memcmp(out, full, n * sizeof(float)) == 0, "sequence gather forward: not the whole sequence");
    expect_calls("sequence gather forward", 0, 1, 0);
    reset();
    CHECK(tp_gather_from_sequence_region_backward(tp, be, shard, dmine, N, C, &err) == 0, "%s", err.msg);
    CHECK(rel_err_fd(shard, sum + (size_t)r * ns, ns) < 1e-6, "sequence gather backward: not this shard's sum");
    expect_calls("sequence gather backward", 0, 0, 1);
    memset(shard, 0, ns * sizeof(float));
    reset();
    CHECK(tp_reduce_scatter_to_sequence_region_forward(tp, be, shard, dmine, N, C, &err) == 0, "%s", err.msg);
    CHECK(rel_err_fd(shard, sum + (size_t)r * ns, ns) < 1e-6, "sequence reduce-scatter forward: not this shard's sum");
    expect_calls("sequence reduce-scatter forward", 0, 0, 1);
    memset(out, 0, n * sizeof(float));
    reset();
    CHECK(tp_reduce_scatter_to_sequence_region_backward(tp, be, out, full + (size_t)r * ns, N, C, &err) == 0, "%s",
          err.msg);
    CHECK(memcmp(out, full, n * sizeof(float)) == 0, "sequence reduce-scatter backward: not the whole sequence");
    expect_calls("sequence reduce-scatter backward", 0, 1, 0);
    free(full), free(out), free(shard), free(sum), free(dmine);
}

/* column- and row-parallel linear against the unsplit layer Y = X W^T + b */
static void test_linear(void) {
    err_t err;
    float *X = fresh((size_t)N * IC, 1.0f, 400), *W = fresh((size_t)OC * IC, 0.3f, 401), *b = fresh(OC, 1.0f, 402);
    float *dY = fresh((size_t)N * OC, 1.0f, 403);
    float *Y = zeros((size_t)N * OC), *dX = zeros((size_t)N * IC), *dW = zeros((size_t)OC * IC), *db = zeros(OC);
    be->matmul_forward(be, Y, X, W, b, N, IC, OC);
    be->matmul_backward(be, dX, dW, db, dY, X, W, N, IC, OC);

    /* column: this rank's output rows of W, b and the columns of Y */
    int o = OC / t;
    const float *Wr = W + (size_t)r * o * IC, *br = b + (size_t)r * o;
    float *Yr = zeros((size_t)N * o), *want = zeros((size_t)N * o), *dYr = zeros((size_t)N * o);
    float *din = fresh((size_t)N * IC, 1.0f, 404), *dWr = zeros((size_t)o * IC), *dbr = zeros(o);
    columns(want, Y, N, OC, r * o, o);
    columns(dYr, dY, N, OC, r * o, o);
    reset();
    CHECK(tp_column_linear_forward(tp, be, Yr, X, Wr, br, N, IC, o, &err) == 0, "%s", err.msg);
    CHECK(rel_err_ff(Yr, want, (size_t)N * o) < 1e-6, "column forward: %g", rel_err_ff(Yr, want, (size_t)N * o));
    expect_calls("column forward", 0, 0, 0);
    reset();
    CHECK(tp_column_linear_backward(tp, be, din, dWr, dbr, dYr, X, Wr, N, IC, o, &err) == 0, "%s", err.msg);
    CHECK(rel_err_ff(din, dX, (size_t)N * IC) < 1e-5, "column backward dX: %g", rel_err_ff(din, dX, (size_t)N * IC));
    CHECK(rel_err_ff(dWr, dW + (size_t)r * o * IC, (size_t)o * IC) < 1e-6, "column backward dW");
    CHECK(rel_err_ff(dbr, db + (size_t)r * o, o) < 1e-6, "column backward db");
    expect_calls("column backward", 1, 0, 0);

    /* row: this rank's input columns of X and W; the whole bias */
    int k = IC / t;
    float *Xr = zeros((size_t)N * k), *Wc = zeros((size_t)OC * k), *Yfull = zeros((size_t)N * OC);
    float *dXr = fresh((size_t)N * k, 1.0f, 405), *dXwant = zeros((size_t)N * k), *dWc = zeros((size_t)OC * k);
    float *dWwant = zeros((size_t)OC * k), *db_all = zeros(OC);
    columns(Xr, X, N, IC, r * k, k);
    columns(Wc, W, OC, IC, r * k, k);
    columns(dXwant, dX, N, IC, r * k, k);
    columns(dWwant, dW, OC, IC, r * k, k);
    reset();
    CHECK(tp_row_linear_forward(tp, be, Yfull, Xr, Wc, b, N, k, OC, &err) == 0, "%s", err.msg);
    CHECK(rel_err_ff(Yfull, Y, (size_t)N * OC) < 1e-5, "row forward: %g (the bias added once?)",
          rel_err_ff(Yfull, Y, (size_t)N * OC));
    expect_calls("row forward", 1, 0, 0);
    reset();
    tp_row_linear_backward(be, dXr, dWc, db_all, dY, Xr, Wc, N, k, OC);
    CHECK(rel_err_ff(dXr, dXwant, (size_t)N * k) < 1e-5, "row backward dX: %g", rel_err_ff(dXr, dXwant, (size_t)N * k));
    CHECK(rel_err_ff(dWc, dWwant, (size_t)OC * k) < 1e-6, "row backward dW");
    CHECK(rel_err_ff(db_all, db, OC) < 1e-6, "row backward db (replicated: the whole bias gradient on every rank)");
    expect_calls("row backward", 0, 0, 0);
    free(X), free(W), free(b), free(dY), free(Y), free(dX), free(dW), free(db), free(Yr), free(want), free(dYr);
    free(din), free(dWr), free(dbr), free(Xr), free(Wc), free(Yfull), free(dXr), free(dXwant), free(dWc);
    free(dWwant), free(db_all);
}

/* vocab-parallel embedding and cross-entropy over a padded vocabulary (V rows,
 * VOCAB real), against the unsplit table and logits */
static void test_vocab(void) {
    err_t err;
    int vl = V / t, v0 = r * vl, ids[N], targets[N];
    rng_key_t key = {7, 500, 0};
    for (int i = 0; i < N; i++) ids[i] = (int)(rng_u32(key, (uint64_t)i) % VOCAB);
    for (int i = 0; i < N; i++) targets[i] = (int)(rng_u32(key, (uint64_t)(N + i)) % VOCAB);
    ids[0] = VOCAB - 1, targets[1] = VOCAB - 1; /* the last real entry: the last rank's slice */

    float *table = fresh((size_t)V * C, 1.0f, 501), *want = zeros((size_t)N * C), *out = zeros((size_t)N * C);
    float *dout = fresh((size_t)N * C, 1.0f, 502), *dtable = zeros((size_t)V * C), *dmine = zeros((size_t)vl * C);
    be->embedding_forward(be, want, ids, table, N, C, 0, V);
    be->embedding_backward(be, dtable, dout, ids, N, C, 0, V);
    reset();
    CHECK(tp_vocab_embedding_forward(tp, be, out, ids, table + (size_t)v0 * C, N, C, v0, v0 + vl, &err) == 0, "%s",
          err.msg);
    CHECK(memcmp(out, want, (size_t)N * C * sizeof(float)) == 0, "vocab embedding forward: rows differ");
    expect_calls("vocab embedding forward", 1, 0, 0);
    reset();
    tp_vocab_embedding_backward(be, dmine, dout, ids, N, C, v0, v0 + vl);
    CHECK(memcmp(dmine, dtable + (size_t)v0 * C, (size_t)vl * C * sizeof(float)) == 0,
          "vocab embedding backward: this slice's gradient differs");
    expect_calls("vocab embedding backward", 0, 0, 0);

    float *logits = fresh((size_t)N * V, 2.0f, 503), *mine = zeros((size_t)N * vl), *dloss = fresh(N, 1.0f, 504);
    float *rowmax = zeros(N), *sumexp = zeros(2 * N), *losses = zeros(N);
    float *f_rowmax = zeros(N), *f_sumexp = zeros(2 * N), *f_losses = zeros(N), *want_d = zeros((size_t)N * vl);
    columns(mine, logits, N, V, v0, vl);
    be->xent_max(be, f_rowmax, logits, N, V, 0, VOCAB);
    be->xent_sumexp(be, f_sumexp, f_sumexp + N, logits, f_rowmax, targets, N, V, 0, VOCAB);
    be->xent_loss(be, f_losses, f_rowmax, f_sumexp, f_sumexp + N, N);
    be->xent_backward(be, logits, f_rowmax, f_sumexp, targets, dloss, N, V, 0, VOCAB);
    columns(want_d, logits, N, V, v0, vl);
    reset();
    CHECK(tp_vocab_cross_entropy_forward(tp, be, losses, rowmax, sumexp, mine, targets, N, vl, v0, VOCAB, &err) == 0,
          "%s", err.msg);
    CHECK(rel_err_ff(losses, f_losses, N) < 1e-6, "vocab cross-entropy forward: %g", rel_err_ff(losses, f_losses, N));
    CHECK(memcmp(rowmax, f_rowmax, N * sizeof(float)) == 0, "vocab cross-entropy: the row max is not the global one");
    expect_calls("vocab cross-entropy forward (max, then sums with target logits)", 2, 0, 0);
    reset();
    tp_vocab_cross_entropy_backward(be, mine, rowmax, sumexp, targets, dloss, N, vl, v0, VOCAB);
    CHECK(rel_err_ff(mine, want_d, (size_t)N * vl) < 1e-5, "vocab cross-entropy backward: %g",
          rel_err_ff(mine, want_d, (size_t)N * vl));
    expect_calls("vocab cross-entropy backward", 0, 0, 0);
    free(table), free(want), free(out), free(dout), free(dtable), free(dmine), free(logits), free(mine);
    free(dloss), free(rowmax), free(sumexp), free(losses), free(f_rowmax), free(f_sumexp), free(f_losses);
    free(want_d);
}

int main(int argc, char **argv) {
    err_t err;
    if (parallel_init(&argc, &argv, &err) != 0) return 1;
    grid_t g;
    be = backend_cpu();
    if (grid_create(&g, parallel_world_size(), be, &err) != 0) {
        fprintf(stderr, "grid: %s\n", err.msg);
        parallel_finalize();
        return 1;
    }
    tp = g.tp, t = g.tp_size, r = g.tp_rank;
    if (OC % t || IC % t || V % t || N % t) {
        fprintf(stderr, "test_tensor_parallel: TP %d must divide %d, %d, %d and %d\n", t, N, IC, OC, V);
        grid_destroy(&g);
        parallel_finalize();
        return 1;
    }
    test_f_g();
    test_last_dim();
    test_sequence();
    test_linear();
    test_vocab();
    int mine = test_failures, all = 0;
    MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    int rank0 = g.world_rank == 0;
    grid_destroy(&g);
    parallel_finalize();
    if (all) {
        if (rank0) fprintf(stderr, "test_tensor_parallel TP %d: %d check(s) failed across ranks\n", t, all);
        return 1;
    }
    if (rank0) printf("test_tensor_parallel TP %d: every mapping's forward and backward as the unsplit computation\n", t);
    return 0;
}
