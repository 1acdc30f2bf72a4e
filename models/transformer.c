/* transformer.c — a transformer layer's forward and backward (see transformer.h).
 * Read them side by side: backward visits forward's steps in reverse. */
#include "transformer.h"

rng_key_t tf_dropout_key(uint64_t seed, uint32_t site, uint32_t tp_rank, uint32_t step) {
    rng_key_t k = {seed, rng_stream(RNG_PURPOSE_DROPOUT, site, tp_rank), step};
    return k;
}

int tf_tp_reduce(const tf_ctx_t *c, float *buf, size_t n, comm_op_t op, err_t *err) {
    if (!c->tp || c->tp->size == 1) return 0;
    return comm_allreduce(c->tp, buf, n, op, NULL, err);
}

static attn_shape_t attn_shape(const tf_ctx_t *c, int l) {
    attn_shape_t s = {c->B, c->T, c->NH, c->HS, c->causal, c->key_mask, c->attention_dropout,
                      tf_dropout_key(c->seed, 1 + 3 * (uint32_t)l, (uint32_t)c->tp_rank, c->step)};
    return s;
}

/* attention branch: tmp = drop(proj(attention(qkv(in)))) */
static int attention_branch(const tf_ctx_t *c, int l, const tf_layer_t *w, tf_layer_acts_t *a,
                            const float *in, err_t *err) {
    backend_t *be = c->be;
    int N = c->B * c->T, C = c->C, Cl = c->NH * c->HS;
    be->matmul_forward(be, a->qkv, in, w->qkv_w, w->qkv_b, N, C, 3 * Cl);
    attn_shape_t s = attn_shape(c, l);
    be->attention_forward(be, a->atty, a->probs, c->attn_scratch, a->qkv, &s);
    /* row-parallel: partial sums all-reduced; the bias added once (by TP rank 0) */
    be->matmul_forward(be, c->tmp, a->atty, w->proj_w, c->tp_rank == 0 ? w->proj_b : NULL, N, Cl, C);
    if (tf_tp_reduce(c, c->tmp, (size_t)N * C, COMM_SUM, err) != 0) return -1;
    be->dropout_forward(be, c->tmp, (size_t)N * C, c->hidden_dropout,
                        tf_dropout_key(c->seed, 2 + 3 * (uint32_t)l, 0, c->step));
    return 0;
}

/* MLP branch: tmp = drop(fcproj(gelu(fc(in)))) */
static int mlp_branch(const tf_ctx_t *c, int l, const tf_layer_t *w, tf_layer_acts_t *a, const float *in,
                      err_t *err) {
    backend_t *be = c->be;
    int N = c->B * c->T, C = c->C, F = c->F;
    be->matmul_forward(be, a->fch, in, w->fc_w, w->fc_b, N, C, F);
    be->gelu_forward(be, a->fch_gelu, a->fch, (size_t)N * F, c->gelu_tanh);
    be->matmul_forward(be, c->tmp, a->fch_gelu, w->fcproj_w, c->tp_rank == 0 ? w->fcproj_b : NULL, N, F, C);
    if (tf_tp_reduce(c, c->tmp, (size_t)N * C, COMM_SUM, err) != 0) return -1;
    be->dropout_forward(be, c->tmp, (size_t)N * C, c->hidden_dropout,
                        tf_dropout_key(c->seed, 3 + 3 * (uint32_t)l, 0, c->step));
    return 0;
}

int tf_layer_forward(const tf_ctx_t *c, int l, const tf_layer_t *w, tf_layer_acts_t *a, const float *x,
                     float *out, err_t *err) {
    backend_t *be = c->be;
    int N = c->B * c->T, C = c->C;
    size_t NC = (size_t)N * C;
    if (c->pre_ln) {
        be->layernorm_forward(be, a->ln1, a->ln1_mean, a->ln1_rstd, x, w->ln1_w, w->ln1_b, N, C, c->eps);
        if (attention_branch(c, l, w, a, a->ln1, err) != 0) return -1;
        be->add(be, a->mid, x, c->tmp, NC);
        be->layernorm_forward(be, a->ln2, a->ln2_mean, a->ln2_rstd, a->mid, w->ln2_w, w->ln2_b, N, C, c->eps);
        if (mlp_branch(c, l, w, a, a->ln2, err) != 0) return -1;
        be->add(be, out, a->mid, c->tmp, NC);
    } else {
        if (attention_branch(c, l, w, a, x, err) != 0) return -1;
        be->add(be, a->mid, x, c->tmp, NC);
        be->layernorm_forward(be, a->ln1, a->ln1_mean, a->ln1_rstd, a->mid, w->ln1_w, w->ln1_b, N, C, c->eps);
        if (mlp_branch(c, l, w, a, a->ln1, err) != 0) return -1;
        be->add(be, a->sum2, a->ln1, c->tmp, NC);
        be->layernorm_forward(be, out, a->ln2_mean, a->ln2_rstd, a->sum2, w->ln2_w, w->ln2_b, N, C, c->eps);
    }
    return 0;
}

/* Backward of attention_branch: dout -> input gradient accumulated into din
 * (after the TP all-reduce of the column-parallel QKV's partial input gradient). */
static int attention_branch_backward(const tf_ctx_t *c, int l, const tf_layer_t *w, tf_layer_t *g,
                                     tf_layer_acts_t *a, const float *in, const float *dout, float *din,
                                     err_t *err) {
    backend_t *be = c->be;
    int N = c->B * c->T, C = c->C, Cl = c->NH * c->HS;
    size_t NC = (size_t)N * C;
    be->memset_zero(be, c->dtmp, NC * sizeof(float));
    be->dropout_backward(be, c->dtmp, dout, NC, c->hidden_dropout,
                         tf_dropout_key(c->seed, 2 + 3 * (uint32_t)l, 0, c->step));
    be->memset_zero(be, c->datty, (size_t)N * Cl * sizeof(float));
    be->matmul_backward(be, c->datty, g->proj_w, g->proj_b, c->dtmp, a->atty, w->proj_w, N, Cl, C);
    be->memset_zero(be, c->dqkv, (size_t)N * 3 * Cl * sizeof(float));
    attn_shape_t s = attn_shape(c, l);
    be->attention_backward(be, c->dqkv, c->attn_scratch, c->attn_dscratch, c->datty, a->qkv, a->probs, &s);
    be->memset_zero(be, c->dln, NC * sizeof(float));
    be->matmul_backward(be, c->dln, g->qkv_w, g->qkv_b, c->dqkv, in, w->qkv_w, N, C, 3 * Cl);
    if (tf_tp_reduce(c, c->dln, NC, COMM_SUM, err) != 0) return -1;
    be->axpy(be, din, c->dln, NC, 1.0f);
    return 0;
}

/* Backward of mlp_branch, likewise. */
static int mlp_branch_backward(const tf_ctx_t *c, int l, const tf_layer_t *w, tf_layer_t *g,
                               tf_layer_acts_t *a, const float *in, const float *dout, float *din, err_t *err) {
    backend_t *be = c->be;
    int N = c->B * c->T, C = c->C, F = c->F;
    size_t NC = (size_t)N * C, NF = (size_t)N * F;
    be->memset_zero(be, c->dtmp, NC * sizeof(float));
    be->dropout_backward(be, c->dtmp, dout, NC, c->hidden_dropout,
                         tf_dropout_key(c->seed, 3 + 3 * (uint32_t)l, 0, c->step));
    be->memset_zero(be, c->dfch_gelu, NF * sizeof(float));
    be->matmul_backward(be, c->dfch_gelu, g->fcproj_w, g->fcproj_b, c->dtmp, a->fch_gelu, w->fcproj_w, N, F, C);
    be->memset_zero(be, c->dfch, NF * sizeof(float));
    be->gelu_backward(be, c->dfch, a->fch, c->dfch_gelu, NF, c->gelu_tanh);
    be->memset_zero(be, c->dln, NC * sizeof(float));
    be->matmul_backward(be, c->dln, g->fc_w, g->fc_b, c->dfch, in, w->fc_w, N, C, F);
    if (tf_tp_reduce(c, c->dln, NC, COMM_SUM, err) != 0) return -1;
    be->axpy(be, din, c->dln, NC, 1.0f);
    return 0;
}

int tf_layer_backward(const tf_ctx_t *c, int l, const tf_layer_t *w, tf_layer_t *g, tf_layer_acts_t *a,
                      const float *x, float *dx, err_t *err) {
    backend_t *be = c->be;
    int N = c->B * c->T, C = c->C;
    size_t NC = (size_t)N * C;
    if (c->pre_ln) {
        /* dx is d(out) = d(mid) through the residual, plus the MLP branch through LN2 */
        be->memset_zero(be, c->dsum, NC * sizeof(float));
        if (mlp_branch_backward(c, l, w, g, a, a->ln2, dx, c->dsum, err) != 0) return -1;
        be->layernorm_backward(be, dx, g->ln2_w, g->ln2_b, c->dsum, a->mid, w->ln2_w, a->ln2_mean,
                               a->ln2_rstd, N, C);
        /* dx is d(mid) = d(x) through the residual, plus the attention branch through LN1 */
        be->memset_zero(be, c->dsum, NC * sizeof(float));
        if (attention_branch_backward(c, l, w, g, a, a->ln1, dx, c->dsum, err) != 0) return -1;
        be->layernorm_backward(be, dx, g->ln1_w, g->ln1_b, c->dsum, x, w->ln1_w, a->ln1_mean,
                               a->ln1_rstd, N, C);
    } else {
        /* d(sum2) from the output LayerNorm */
        be->memset_zero(be, c->dsum, NC * sizeof(float));
        be->layernorm_backward(be, c->dsum, g->ln2_w, g->ln2_b, dx, a->sum2, w->ln2_w, a->ln2_mean,
                               a->ln2_rstd, N, C);
        /* d(ln1) = d(sum2) through the residual + the MLP branch */
        if (mlp_branch_backward(c, l, w, g, a, a->ln1, c->dsum, c->dsum, err) != 0) return -1;
        /* d(mid) from LN1, then d(x) = d(mid) through the residual + the attention branch */
        be->memset_zero(be, dx, NC * sizeof(float));
        be->layernorm_backward(be, dx, g->ln1_w, g->ln1_b, c->dsum, a->mid, w->ln1_w, a->ln1_mean,
                               a->ln1_rstd, N, C);
        if (attention_branch_backward(c, l, w, g, a, x, dx, dx, err) != 0) return -1;
    }
    return 0;
}
