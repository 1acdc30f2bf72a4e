/* transformer.c — a transformer layer's forward and backward (see transformer.h).
 * Read them side by side: backward visits forward's steps in reverse. */
#include "transformer.h"

#include "../parallel/tensor_parallel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

rng_key_t tf_dropout_key(uint64_t seed, uint32_t site, uint32_t tp_rank, uint32_t step) {
    rng_key_t k = {seed, rng_stream(RNG_PURPOSE_DROPOUT, site, tp_rank), step};
    return k;
}

static attn_shape_t attn_shape(const tf_ctx_t *c, int l) {
    attn_shape_t s = {c->B, c->T, c->NH, c->HS, c->causal, c->key_mask, c->attention_dropout,
                      tf_dropout_key(c->seed, 1 + 3 * (uint32_t)l, (uint32_t)c->tp_rank, c->step), 0 /* NG: MHA */};
    return s;
}

/* attention branch: tmp = drop(proj(attention(qkv(in)))) */
static int attention_branch(const tf_ctx_t *c, int l, const tf_layer_t *w, tf_layer_acts_t *a,
                            const float *in, err_t *err) {
    backend_t *be = c->be;
    int N = c->B * c->T, C = c->C, Cl = c->NH * c->HS;
    if (tp_column_linear_forward(c->tp, be, a->qkv, in, w->qkv_w, w->qkv_b, N, C, 3 * Cl, err) != 0) return -1;
    attn_shape_t s = attn_shape(c, l);
    if (c->use_flash_attn) be->flash_attention_forward(be, a->atty, a->lse, a->qkv, &s);
    else be->attention_forward(be, a->atty, a->probs, c->attn_scratch, a->qkv, &s);
    if (tp_row_linear_forward(c->tp, be, c->tmp, a->atty, w->proj_w, w->proj_b, N, Cl, C, err) != 0) return -1;
    be->dropout_forward(be, c->tmp, (size_t)N * C, c->hidden_dropout,
                        tf_dropout_key(c->seed, 2 + 3 * (uint32_t)l, 0, c->step));
    return 0;
}

/* MLP branch: tmp = drop(fcproj(gelu(fc(in)))) */
static int mlp_branch(const tf_ctx_t *c, int l, const tf_layer_t *w, tf_layer_acts_t *a, const float *in,
                      err_t *err) {
    backend_t *be = c->be;
    int N = c->B * c->T, C = c->C, F = c->F;
    if (tp_column_linear_forward(c->tp, be, a->fch, in, w->fc_w, w->fc_b, N, C, F, err) != 0) return -1;
    be->gelu_forward(be, a->fch_gelu, a->fch, (size_t)N * F, c->gelu_tanh);
    if (tp_row_linear_forward(c->tp, be, c->tmp, a->fch_gelu, w->fcproj_w, w->fcproj_b, N, F, C, err) != 0) return -1;
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
        be->residual_layernorm_forward(be, a->mid, a->ln2, a->ln2_mean, a->ln2_rstd, x, c->tmp, w->ln2_w, w->ln2_b,
                                       N, C, c->eps);
        if (mlp_branch(c, l, w, a, a->ln2, err) != 0) return -1;
        be->add(be, out, a->mid, c->tmp, NC);
    } else {
        if (attention_branch(c, l, w, a, x, err) != 0) return -1;
        be->residual_layernorm_forward(be, a->mid, a->ln1, a->ln1_mean, a->ln1_rstd, x, c->tmp, w->ln1_w, w->ln1_b,
                                       N, C, c->eps);
        if (mlp_branch(c, l, w, a, a->ln1, err) != 0) return -1;
        be->residual_layernorm_forward(be, a->sum2, out, a->ln2_mean, a->ln2_rstd, a->ln1, c->tmp, w->ln2_w,
                                       w->ln2_b, N, C, c->eps);
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
    tp_row_linear_backward(be, c->datty, g->proj_w, g->proj_b, c->dtmp, a->atty, w->proj_w, N, Cl, C);
    be->memset_zero(be, c->dqkv, (size_t)N * 3 * Cl * sizeof(float));
    attn_shape_t s = attn_shape(c, l);
    /* selective recomputation: the probabilities again from the kept qkv, the same
     * dropout key; the context lands in atty once more (the same values, after its
     * last use above) */
    if (c->use_flash_attn) {
        be->flash_attention_backward(be, c->dqkv, c->datty, a->qkv, a->atty, a->lse, &s);
    } else {
        if (c->recompute_attention) be->attention_forward(be, a->atty, a->probs, c->attn_scratch, a->qkv, &s);
        be->attention_backward(be, c->dqkv, c->attn_scratch, c->attn_dscratch, c->datty, a->qkv, a->probs, &s);
    }
    if (tp_column_linear_backward(c->tp, be, c->dln, g->qkv_w, g->qkv_b, c->dqkv, in, w->qkv_w, N, C, 3 * Cl, err) != 0)
        return -1;
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
    tp_row_linear_backward(be, c->dfch_gelu, g->fcproj_w, g->fcproj_b, c->dtmp, a->fch_gelu, w->fcproj_w, N, F, C);
    be->memset_zero(be, c->dfch, NF * sizeof(float));
    be->gelu_backward(be, c->dfch, a->fch, c->dfch_gelu, NF, c->gelu_tanh);
    if (tp_column_linear_backward(c->tp, be, c->dln, g->fc_w, g->fc_b, c->dfch, in, w->fc_w, N, C, F, err) != 0)
        return -1;
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

/* ---------------------------------------------------------------- recomputation */

int tf_recompute_parse(tf_recompute_t *r, int recompute_activations, const char *granularity,
                       const char *method, int num_layers, err_t *err) {
    memset(r, 0, sizeof *r);
    if (granularity && strcmp(granularity, "selective") == 0) r->granularity = TF_RECOMPUTE_SELECTIVE;
    else if (granularity && strcmp(granularity, "full") == 0) r->granularity = TF_RECOMPUTE_FULL;
    else if (granularity)
        return err_set(err, "--recompute-granularity: unknown value '%s' (known: full selective)", granularity);
    /* Megatron lets --recompute-activations silently replace an explicit full */
    if (recompute_activations && r->granularity == TF_RECOMPUTE_FULL)
        return err_set(err, "--recompute-activations means --recompute-granularity selective; it conflicts with "
                            "--recompute-granularity full");
    if (recompute_activations) r->granularity = TF_RECOMPUTE_SELECTIVE;
    if (method && strcmp(method, "uniform") == 0) r->method = TF_RECOMPUTE_UNIFORM;
    else if (method && strcmp(method, "block") == 0) r->method = TF_RECOMPUTE_BLOCK;
    else if (method) return err_set(err, "--recompute-method: unknown value '%s' (known: uniform block)", method);
    if (num_layers < 0) return err_set(err, "--recompute-num-layers must be positive (got %d)", num_layers);
    if (r->granularity != TF_RECOMPUTE_FULL) {
        const char *what = r->granularity == TF_RECOMPUTE_SELECTIVE
                               ? "selective recomputation covers every layer's core attention"
                               : "no --recompute-granularity was given";
        if (method) return err_set(err, "--recompute-method needs --recompute-granularity full (%s)", what);
        if (num_layers) return err_set(err, "--recompute-num-layers needs --recompute-granularity full (%s)", what);
        return 0;
    }
    if (!method) return err_set(err, "--recompute-granularity full needs --recompute-method uniform or block");
    if (!num_layers)
        return err_set(err, "--recompute-granularity full needs --recompute-num-layers N (layers per group for "
                            "uniform, layers recomputed for block)");
    r->num_layers = num_layers;
    return 0;
}

int tf_recompute_validate(const tf_recompute_t *r, int num_layers, err_t *err) {
    switch (r->granularity) {
    case TF_RECOMPUTE_NONE:
    case TF_RECOMPUTE_SELECTIVE: return 0;
    case TF_RECOMPUTE_FULL: break;
    default: return err_set(err, "--recompute-granularity: invalid setting %d", (int)r->granularity);
    }
    if (r->method != TF_RECOMPUTE_UNIFORM && r->method != TF_RECOMPUTE_BLOCK)
        return err_set(err, "--recompute-method: invalid setting %d", (int)r->method);
    if (r->num_layers < 1 || r->num_layers > num_layers)
        return err_set(err, "--recompute-num-layers %d must be in 1..%d (the model's layers)", r->num_layers,
                       num_layers);
    return 0;
}

void tf_recompute_describe(const tf_recompute_t *r, char *buf, size_t len) {
    if (r->granularity == TF_RECOMPUTE_SELECTIVE) snprintf(buf, len, "selective");
    else if (r->granularity != TF_RECOMPUTE_FULL) snprintf(buf, len, "none");
    else if (r->method == TF_RECOMPUTE_UNIFORM)
        snprintf(buf, len, "full (uniform, %d layer%s per group)", r->num_layers, r->num_layers == 1 ? "" : "s");
    else snprintf(buf, len, "full (block, first %d layer%s)", r->num_layers, r->num_layers == 1 ? "" : "s");
}

int tf_recompute_group(const tf_recompute_t *r, int L, int l, int *first, int *last) {
    *first = l, *last = l + 1;
    if (r->granularity != TF_RECOMPUTE_FULL || r->num_layers < 1) return 0; /* < 1: refused by validate */
    if (r->method == TF_RECOMPUTE_BLOCK) return l < r->num_layers;
    *first = l / r->num_layers * r->num_layers;
    *last = *first + r->num_layers < L ? *first + r->num_layers : L;
    return 1;
}

/* ---------------------------------------------------------------- the layer stack */

int tf_stack_init(tf_stack_t *s, int L, const tf_recompute_t *rc) {
    memset(s, 0, sizeof *s);
    s->L = L;
    s->rc = *rc;
    s->resid = calloc((size_t)L + 1, sizeof(float *));
    s->acts = calloc((size_t)L, sizeof(tf_layer_acts_t));
    if (s->resid && s->acts) return 0;
    tf_stack_free(s);
    return -1;
}

void tf_stack_free(tf_stack_t *s) {
    free(s->resid);
    free(s->acts);
    memset(s, 0, sizeof *s);
}

#define TAKE(ptr, count) ((ptr) = arena_take(ar, (count) * sizeof(float)), ar->base && !(ptr))

/* one layer's kept activations; probs from `probs` when it is shared (selective),
 * lse instead of probs with flash attention */
static int carve_layer(tf_layer_acts_t *a, const tf_ctx_t *sh, float *probs, int share_probs, arena_t *ar) {
    size_t N = (size_t)sh->B * sh->T, C = sh->C, F = sh->F, Cl = (size_t)sh->NH * sh->HS;
    size_t att = (size_t)sh->B * sh->NH * sh->T * sh->T;
    int bad = 0;
    a->probs = a->lse = NULL;
    bad |= TAKE(a->ln1, N * C) | TAKE(a->ln1_mean, N) | TAKE(a->ln1_rstd, N);
    bad |= TAKE(a->qkv, N * 3 * Cl) | TAKE(a->atty, N * Cl) | TAKE(a->mid, N * C);
    bad |= TAKE(a->ln2_mean, N) | TAKE(a->ln2_rstd, N) | TAKE(a->fch, N * F) | TAKE(a->fch_gelu, N * F);
    if (sh->pre_ln) bad |= TAKE(a->ln2, N * C);
    else bad |= TAKE(a->sum2, N * C);
    if (sh->use_flash_attn) bad |= TAKE(a->lse, (size_t)sh->B * sh->NH * sh->T);
    else if (share_probs) a->probs = probs;
    else bad |= TAKE(a->probs, att);
    return bad;
}

int tf_stack_carve(tf_stack_t *s, const tf_ctx_t *sh, arena_t *ar) {
    int L = s->L, bad = 0, span = 0, first, last;
    size_t NC = (size_t)sh->B * sh->T * sh->C, att = (size_t)sh->B * sh->NH * sh->T * sh->T;
    float *probs = NULL;
    int selective = s->rc.granularity == TF_RECOMPUTE_SELECTIVE && !sh->use_flash_attn;
    if (selective) bad |= TAKE(probs, att);
    /* what is kept: every layer's input and activations, but of a recomputed group only its input */
    for (int l = 0; l < L; l++) {
        int rec = tf_recompute_group(&s->rc, L, l, &first, &last);
        if (!rec) bad |= carve_layer(&s->acts[l], sh, probs, selective, ar);
        if (!rec || l == first) bad |= TAKE(s->resid[l], NC);
        if (rec && last - first > span) span = last - first;
    }
    bad |= TAKE(s->resid[L], NC);
    if (!span) return bad ? -1 : 0;
    /* The scratch for recomputed groups: `span` activation sets and the inputs of
     * all but the first layer of a group, in the first group's slots (groups start
     * at layer 0 and the first is the longest); later groups point at them. When the
     * last layer is not recomputed (block, N < L), its activations are the one
     * scratch set: backward recomputes only after that layer's backward has run, and
     * forward writes it after the recomputed layers. */
    int alias = span == 1 && !tf_recompute_group(&s->rc, L, L - 1, &first, &last);
    for (int k = 0; k < span; k++) {
        if (alias) s->acts[k] = s->acts[L - 1];
        else bad |= carve_layer(&s->acts[k], sh, NULL, 0, ar);
        if (k > 0) bad |= TAKE(s->resid[k], NC);
    }
    for (int l = 0; l < L; l++)
        if (tf_recompute_group(&s->rc, L, l, &first, &last) && first > 0) {
            s->acts[l] = s->acts[l - first];
            if (l > first) s->resid[l] = s->resid[l - first];
        }
    return bad ? -1 : 0;
}

#undef TAKE

int tf_stack_forward(const tf_ctx_t *c, tf_stack_t *s, const tf_layer_t *w, err_t *err) {
    for (int l = 0; l < s->L; l++)
        if (tf_layer_forward(c, l, &w[l], &s->acts[l], s->resid[l], s->resid[l + 1], err) != 0) return -1;
    return 0;
}

int tf_stack_backward(const tf_ctx_t *c, tf_stack_t *s, const tf_layer_t *w, tf_layer_t *g, float *dx,
                      void (*layer_done)(void *ctx, int l), void *ctx, err_t *err) {
    tf_ctx_t lc = *c;
    lc.recompute_attention = s->rc.granularity == TF_RECOMPUTE_SELECTIVE && !c->use_flash_attn;
    for (int l = s->L - 1; l >= 0;) {
        int first, last;
        if (tf_recompute_group(&s->rc, s->L, l, &first, &last)) {
            /* re-run the group's forward from its kept input; its output is kept
             * already (the next group's input), so this copy goes to a workspace */
            for (int k = first; k < last; k++) {
                float *out = k + 1 < last ? s->resid[k + 1] : lc.dtmp;
                if (tf_layer_forward(&lc, k, &w[k], &s->acts[k], s->resid[k], out, err) != 0) return -1;
            }
        }
        for (int k = last - 1; k >= first; k--) {
            if (tf_layer_backward(&lc, k, &w[k], &g[k], &s->acts[k], s->resid[k], dx, err) != 0) return -1;
            if (layer_done) layer_done(ctx, k);
        }
        l = first - 1;
    }
    return 0;
}
