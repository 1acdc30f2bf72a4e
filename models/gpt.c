/* gpt.c — GPT model: parameter layout, initialisation, forward and backward.
 *
 * Read forward and backward side by side: backward visits the same steps in
 * reverse, each op's backward accumulating into the gradient buffers. */
#include "gpt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../framework/rng.h"

/* ---------------------------------------------------------------- layout */

enum { P_LN1_W, P_LN1_B, P_QKV_W, P_QKV_B, P_PROJ_W, P_PROJ_B, P_LN2_W, P_LN2_B,
       P_FC_W, P_FC_B, P_FCPROJ_W, P_FCPROJ_B, P_PER_LAYER };

static int ffn_size(const gpt_config_t *c) {
    return c->ffn_hidden_size > 0 ? c->ffn_hidden_size : 4 * c->hidden_size;
}

/* Describes parameter k: name, local and global shape, split, flags. */
static void describe_param(const gpt_model_t *m, int k, tensor_t *t) {
    const gpt_config_t *c = &m->cfg;
    int64_t C = m->C, tp = m->tp_size, r = m->tp_rank;
    int64_t F = ffn_size(c), Vp = m->V_padded;
    char name[TENSOR_NAME_LEN];
    int64_t gshape[2] = {0, 0};
    int ndim = 1, split = -1;
    uint32_t flags = 0;
    if (k == 0) {
        snprintf(name, sizeof name, "embedding/word_embeddings/weight");
        ndim = 2, gshape[0] = Vp, gshape[1] = C, split = 0;
    } else if (k == 1) {
        snprintf(name, sizeof name, "embedding/position_embeddings/weight");
        ndim = 2, gshape[0] = c->max_position_embeddings, gshape[1] = C;
        flags = TENSOR_TP_REPLICATED;
    } else if (k >= 2 + c->num_layers * P_PER_LAYER) {
        int which = k - 2 - c->num_layers * P_PER_LAYER;
        snprintf(name, sizeof name, "final_layernorm/%s", which == 0 ? "weight" : "bias");
        gshape[0] = C, flags = TENSOR_TP_REPLICATED | TENSOR_NO_WEIGHT_DECAY;
    } else {
        int l = (k - 2) / P_PER_LAYER, p = (k - 2) % P_PER_LAYER;
        static const char *names[P_PER_LAYER] = {
            "input_layernorm/weight", "input_layernorm/bias", "attention/qkv/weight",
            "attention/qkv/bias", "attention/dense/weight", "attention/dense/bias",
            "post_attention_layernorm/weight", "post_attention_layernorm/bias",
            "mlp/dense_h_to_4h/weight", "mlp/dense_h_to_4h/bias", "mlp/dense_4h_to_h/weight",
            "mlp/dense_4h_to_h/bias"};
        snprintf(name, sizeof name, "layers/%02d/%s", l, names[p]);
        switch (p) {
        case P_LN1_W: case P_LN1_B: case P_LN2_W: case P_LN2_B:
            gshape[0] = C, flags = TENSOR_TP_REPLICATED | TENSOR_NO_WEIGHT_DECAY; break;
        case P_QKV_W: ndim = 2, gshape[0] = 3 * C, gshape[1] = C, split = 0; break;
        case P_QKV_B: gshape[0] = 3 * C, split = 0, flags = TENSOR_NO_WEIGHT_DECAY; break;
        case P_PROJ_W: ndim = 2, gshape[0] = C, gshape[1] = C, split = 1; break;
        case P_PROJ_B: gshape[0] = C, flags = TENSOR_TP_REPLICATED | TENSOR_NO_WEIGHT_DECAY; break;
        case P_FC_W: ndim = 2, gshape[0] = F, gshape[1] = C, split = 0; break;
        case P_FC_B: gshape[0] = F, split = 0, flags = TENSOR_NO_WEIGHT_DECAY; break;
        case P_FCPROJ_W: ndim = 2, gshape[0] = C, gshape[1] = F, split = 1; break;
        case P_FCPROJ_B: gshape[0] = C, flags = TENSOR_TP_REPLICATED | TENSOR_NO_WEIGHT_DECAY; break;
        }
    }
    int64_t lshape[2] = {gshape[0], gshape[1]};
    if (split >= 0) lshape[split] = gshape[split] / tp;
    tensor_describe(t, name, DTYPE_F32, ndim, lshape);
    t->device = m->be->device;
    t->global_shape[0] = gshape[0];
    t->global_shape[1] = gshape[1];
    t->split_dim = split;
    t->split_offset = split >= 0 ? r * lshape[split] : 0;
    t->flags = flags;
}

static void set_views(gpt_model_t *m, tensor_t *ts, gpt_weights_t *w) {
    w->wte = ts[0].data;
    w->wpe = ts[1].data;
    for (int l = 0; l < m->cfg.num_layers; l++) {
        tensor_t *t = ts + 2 + l * P_PER_LAYER;
        gpt_layer_t *L = &w->layers[l];
        L->ln1_w = t[P_LN1_W].data, L->ln1_b = t[P_LN1_B].data;
        L->qkv_w = t[P_QKV_W].data, L->qkv_b = t[P_QKV_B].data;
        L->proj_w = t[P_PROJ_W].data, L->proj_b = t[P_PROJ_B].data;
        L->ln2_w = t[P_LN2_W].data, L->ln2_b = t[P_LN2_B].data;
        L->fc_w = t[P_FC_W].data, L->fc_b = t[P_FC_B].data;
        L->fcproj_w = t[P_FCPROJ_W].data, L->fcproj_b = t[P_FCPROJ_B].data;
    }
    tensor_t *f = ts + 2 + m->cfg.num_layers * P_PER_LAYER;
    w->lnf_w = f[0].data;
    w->lnf_b = f[1].data;
}

/* Carves the activation block (or measures it when a->base is NULL). */
static int carve_acts(gpt_model_t *m, arena_t *ar) {
    gpt_acts_t *a = &m->a;
    int L = m->cfg.num_layers;
    size_t BT = (size_t)m->B * m->T, C = m->C, F = m->F_local, V = m->V_local;
    size_t C3 = 3 * (size_t)m->NH_local * m->HS, Cl = (size_t)m->NH_local * m->HS;
    size_t att = (size_t)m->B * m->NH_local * m->T * m->T;
#define TAKE(ptr, count) ((ptr) = arena_take(ar, (count) * sizeof(float)), ar->base && !(ptr))
    int bad = 0;
    for (int l = 0; l <= L; l++) bad |= TAKE(a->resid[l], BT * C);
    for (int l = 0; l < L; l++) {
        bad |= TAKE(a->ln1[l], BT * C) | TAKE(a->ln1_mean[l], BT) | TAKE(a->ln1_rstd[l], BT);
        bad |= TAKE(a->qkv[l], BT * C3) | TAKE(a->atty[l], BT * Cl) | TAKE(a->probs[l], att);
        bad |= TAKE(a->resid_mid[l], BT * C) | TAKE(a->ln2[l], BT * C);
        bad |= TAKE(a->ln2_mean[l], BT) | TAKE(a->ln2_rstd[l], BT);
        bad |= TAKE(a->fch[l], BT * F) | TAKE(a->fch_gelu[l], BT * F);
    }
    bad |= TAKE(a->lnf, BT * C) | TAKE(a->lnf_mean, BT) | TAKE(a->lnf_rstd, BT);
    bad |= TAKE(a->logits, BT * V);
    /* sumexp and tlogit adjacent: one all-reduce carries both */
    bad |= TAKE(a->rowmax, BT) | TAKE(a->sumexp, 2 * BT) | TAKE(a->losses, BT);
    a->tlogit = a->sumexp ? a->sumexp + BT : NULL;
    bad |= TAKE(a->dloss, BT);
    bad |= TAKE(a->attn_scratch, att) | TAKE(a->attn_dscratch, att) | TAKE(a->tmp, BT * C);
    bad |= TAKE(a->dresid, BT * C) | TAKE(a->dtmp, BT * C) | TAKE(a->dln, BT * C);
    bad |= TAKE(a->datty, BT * Cl) | TAKE(a->dqkv, BT * C3);
    bad |= TAKE(a->dfch, BT * F) | TAKE(a->dfch_gelu, BT * F);
#undef TAKE
    a->tokens = arena_take(ar, BT * sizeof(int));
    a->targets = arena_take(ar, BT * sizeof(int));
    return bad || (ar->base && (!a->tokens || !a->targets)) ? -1 : 0;
}

static int alloc_act_tables(gpt_model_t *m) {
    int L = m->cfg.num_layers;
    gpt_acts_t *a = &m->a;
    float ***tables[] = {&a->ln1, &a->ln1_mean, &a->ln1_rstd, &a->qkv, &a->atty, &a->probs,
                         &a->resid_mid, &a->ln2, &a->ln2_mean, &a->ln2_rstd, &a->fch, &a->fch_gelu};
    a->resid = calloc((size_t)L + 1, sizeof(float *));
    if (!a->resid) return -1;
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        *tables[i] = calloc((size_t)L, sizeof(float *));
        if (!*tables[i]) return -1;
    }
    return 0;
}

static void set_dims(gpt_model_t *m, const gpt_config_t *cfg, int B, int T, int tp_rank, int tp_size) {
    m->cfg = *cfg;
    m->B = B, m->T = T, m->tp_rank = tp_rank, m->tp_size = tp_size;
    m->C = cfg->hidden_size;
    m->HS = cfg->hidden_size / cfg->num_attention_heads;
    m->NH_local = cfg->num_attention_heads / tp_size;
    m->F_local = ffn_size(cfg) / tp_size;
    m->V_padded = gpt_padded_vocab(cfg, tp_size);
    m->V_local = m->V_padded / tp_size;
    m->v_start = tp_rank * m->V_local;
    m->num_params = 2 + cfg->num_layers * P_PER_LAYER + 2;
}

size_t gpt_memory_bytes(const gpt_config_t *cfg, int B, int T, int tp_size) {
    gpt_model_t m;
    memset(&m, 0, sizeof m);
    set_dims(&m, cfg, B, T, 0, tp_size);
    size_t params = 0;
    tensor_t t;
    backend_t cpu_desc = {.device = DEVICE_CPU};
    m.be = &cpu_desc;
    for (int k = 0; k < m.num_params; k++) {
        describe_param(&m, k, &t);
        params += (size_t)tensor_numel(&t);
    }
    if (alloc_act_tables(&m) != 0) return (size_t)-1;
    arena_t ar = {0};
    carve_acts(&m, &ar);
    gpt_acts_t *a = &m.a;
    free(a->resid), free(a->ln1), free(a->ln1_mean), free(a->ln1_rstd), free(a->qkv), free(a->atty);
    free(a->probs), free(a->resid_mid), free(a->ln2), free(a->ln2_mean), free(a->ln2_rstd);
    free(a->fch), free(a->fch_gelu);
    return 2 * params * sizeof(float) + ar.used;
}

int gpt_create(gpt_model_t *m, const gpt_config_t *cfg, backend_t *be, int B, int T,
               const gpt_parallel_t *par, err_t *err) {
    memset(m, 0, sizeof *m);
    comm_t *tp = par ? par->tp : NULL;
    int tp_rank = tp ? tp->rank : 0, tp_size = tp ? tp->size : 1;
    size_t pad = par && par->param_pad > 1 ? (size_t)par->param_pad : 1;
    if (gpt_config_validate(cfg, tp_size, err) != 0) return -1;
    if (B <= 0) return err_set(err, "--micro-batch-size must be positive (got %d)", B);
    if (T <= 0 || T > cfg->max_position_embeddings)
        return err_set(err, "sequence length %d is outside 1..%d", T, cfg->max_position_embeddings);
    set_dims(m, cfg, B, T, tp_rank, tp_size);
    m->be = be;
    m->tp = tp;
    m->params = calloc((size_t)m->num_params, sizeof(tensor_t));
    m->grads = calloc((size_t)m->num_params, sizeof(tensor_t));
    m->w.layers = calloc((size_t)cfg->num_layers, sizeof(gpt_layer_t));
    m->g.layers = calloc((size_t)cfg->num_layers, sizeof(gpt_layer_t));
    size_t BT = (size_t)B * T;
    m->h_tokens = malloc(BT * sizeof(int));
    m->h_targets = malloc(BT * sizeof(int));
    m->h_mask = malloc(BT * sizeof(float));
    m->h_losses = malloc(BT * sizeof(float));
    m->h_dloss = malloc(BT * sizeof(float));
    if (!m->params || !m->grads || !m->w.layers || !m->g.layers || !m->h_tokens || !m->h_targets ||
        !m->h_mask || !m->h_losses || !m->h_dloss || alloc_act_tables(m) != 0) {
        gpt_destroy(m);
        return err_set(err, "out of host memory building the model tables");
    }
    /* parameters and gradients: one flat block each, same layout */
    size_t off = 0;
    for (int k = 0; k < m->num_params; k++) {
        describe_param(m, k, &m->params[k]);
        off += (size_t)tensor_numel(&m->params[k]);
    }
    m->param_numel = off;
    m->param_alloc = (off + pad - 1) / pad * pad;
    if (be->alloc(be, (void **)&m->param_block, m->param_alloc * sizeof(float), err) != 0 ||
        be->alloc(be, (void **)&m->grad_block, m->param_alloc * sizeof(float), err) != 0) {
        gpt_destroy(m);
        return err_prefix(err, "parameters (%zu floats)", off);
    }
    off = 0;
    for (int k = 0; k < m->num_params; k++) {
        m->params[k].data = m->param_block + off;
        m->grads[k] = m->params[k];
        m->grads[k].data = m->grad_block + off;
        off += (size_t)tensor_numel(&m->params[k]);
    }
    set_views(m, m->params, &m->w);
    set_views(m, m->grads, &m->g);
    /* activations */
    arena_t ar = {0};
    carve_acts(m, &ar);
    if (be->alloc(be, &m->act_block, ar.used, err) != 0) {
        gpt_destroy(m);
        return err_prefix(err, "activations (%zu bytes)", ar.used);
    }
    arena_t real = {.base = m->act_block, .capacity = ar.used};
    if (carve_acts(m, &real) != 0) {
        gpt_destroy(m);
        return err_set(err, "internal: activation arena overflow");
    }
    be->memset_zero(be, m->grad_block, m->param_alloc * sizeof(float));
    be->memset_zero(be, m->param_block, m->param_alloc * sizeof(float));
    return 0;
}

void gpt_destroy(gpt_model_t *m) {
    if (m->be) {
        if (m->param_block) m->be->free(m->be, m->param_block);
        if (m->grad_block) m->be->free(m->be, m->grad_block);
        if (m->act_block) m->be->free(m->be, m->act_block);
    }
    gpt_acts_t *a = &m->a;
    free(a->resid), free(a->ln1), free(a->ln1_mean), free(a->ln1_rstd), free(a->qkv), free(a->atty);
    free(a->probs), free(a->resid_mid), free(a->ln2), free(a->ln2_mean), free(a->ln2_rstd);
    free(a->fch), free(a->fch_gelu);
    free(m->params), free(m->grads), free(m->w.layers), free(m->g.layers);
    free(m->h_tokens), free(m->h_targets), free(m->h_mask), free(m->h_losses), free(m->h_dloss);
    memset(m, 0, sizeof *m);
}

/* ---------------------------------------------------------------- init */

void gpt_init_weights(gpt_model_t *m, uint64_t seed) {
    const gpt_config_t *c = &m->cfg;
    float std = c->init_method_std;
    float out_std = std / sqrtf(2.0f * (float)c->num_layers);
    m->seed = seed;
    for (int k = 0; k < m->num_params; k++) {
        tensor_t *t = &m->params[k];
        size_t n = (size_t)tensor_numel(t);
        float *h = malloc(n * sizeof(float));
        if (!h) continue; /* cannot happen for sizes that fit the device block */
        const char *nm = t->name;
        size_t len = strlen(nm);
        int is_bias = len >= 5 && strcmp(nm + len - 5, "/bias") == 0;
        int is_ln = strstr(nm, "layernorm") != NULL;
        if (is_ln && !is_bias) {
            for (size_t i = 0; i < n; i++) h[i] = 1.0f;
        } else if (is_bias) {
            memset(h, 0, n * sizeof(float));
        } else {
            float s = (strstr(nm, "attention/dense") || strstr(nm, "dense_4h_to_h")) ? out_std : std;
            rng_key_t key = {seed, rng_stream(RNG_PURPOSE_INIT, (uint32_t)k, 0), 0};
            int64_t rows = t->shape[0], cols = t->ndim > 1 ? t->shape[1] : 1;
            int64_t gcols = t->ndim > 1 ? t->global_shape[1] : 1;
            for (int64_t r = 0; r < rows; r++)
                for (int64_t col = 0; col < cols; col++) {
                    int64_t gr = t->split_dim == 0 ? r + t->split_offset : r;
                    int64_t gc = t->split_dim == 1 ? col + t->split_offset : col;
                    float v = (float)(s * rng_normal(key, (uint64_t)(gr * gcols + gc)));
                    if (k == 0 && gr >= c->vocab_size) v = 0.0f; /* padded vocabulary rows */
                    h[r * cols + col] = v;
                }
        }
        m->be->copy_to_device(m->be, t->data, h, n * sizeof(float));
        free(h);
    }
}

/* ---------------------------------------------------------------- forward */

/* Megatron's g (forward) and f (backward) all-reduce over the TP group. */
static int tp_reduce(gpt_model_t *m, float *buf, size_t n, comm_op_t op, err_t *err) {
    if (!m->tp || m->tp->size == 1) return 0;
    return comm_allreduce(m->tp, buf, n, op, NULL, err);
}

static void grad_ready(gpt_model_t *m, int first, int last) {
    if (m->grad_ready) m->grad_ready(m->grad_ready_ctx, first, last);
}

/* dropout sites: 0 embeddings; per layer 1 + 3l + {0 attention probs, 1 attention out, 2 mlp out} */
static rng_key_t drop_key(const gpt_model_t *m, uint32_t site, int per_tp_rank, uint32_t step) {
    rng_key_t k = {m->seed, rng_stream(RNG_PURPOSE_DROPOUT, site, per_tp_rank ? (uint32_t)m->tp_rank : 0),
                   step};
    return k;
}

static attn_shape_t attn_shape(const gpt_model_t *m, int B, int T, int l, int train, uint32_t step) {
    attn_shape_t s = {B, T, m->NH_local, m->HS, 1, NULL, train ? m->cfg.attention_dropout : 0.0f,
                      drop_key(m, 1 + 3 * (uint32_t)l, 1, step)};
    return s;
}

int gpt_forward(gpt_model_t *m, const int *tokens, const int *targets, const float *mask, int B,
                int T, int train, uint32_t step, double *loss, err_t *err) {
    backend_t *be = m->be;
    gpt_acts_t *a = &m->a;
    const gpt_config_t *c = &m->cfg;
    if (B <= 0 || B > m->B || T <= 0 || T > m->T)
        return err_set(err, "batch %dx%d exceeds the model's buffers %dx%d", B, T, m->B, m->T);
    int N = B * T, C = m->C, F = m->F_local, Cl = m->NH_local * m->HS;
    for (int i = 0; i < N; i++) {
        if (tokens[i] < 0 || tokens[i] >= c->vocab_size)
            return err_set(err, "token id %d at position %d is outside the vocabulary (size %d)",
                           tokens[i], i, c->vocab_size);
        if (targets && (targets[i] < 0 || targets[i] >= c->vocab_size))
            return err_set(err, "target id %d at position %d is outside the vocabulary (size %d)",
                           targets[i], i, c->vocab_size);
    }
    m->cur_B = B, m->cur_T = T, m->cur_train = train;
    be->copy_to_device(be, a->tokens, tokens, (size_t)N * sizeof(int));
    float hd = train ? c->hidden_dropout : 0.0f;

    /* embeddings: vocab-parallel token lookup, + positions, dropout */
    float *x = a->resid[0];
    be->embedding_forward(be, x, a->tokens, m->w.wte, N, C, m->v_start, m->v_start + m->V_local);
    if (tp_reduce(m, x, (size_t)N * C, COMM_SUM, err) != 0) return -1;
    be->position_forward(be, x, m->w.wpe, B, T, C);
    be->dropout_forward(be, x, (size_t)N * C, hd, drop_key(m, 0, 0, step));

    for (int l = 0; l < c->num_layers; l++) {
        gpt_layer_t *w = &m->w.layers[l];
        float *r = a->resid[l];
        /* attention block */
        be->layernorm_forward(be, a->ln1[l], a->ln1_mean[l], a->ln1_rstd[l], r, w->ln1_w, w->ln1_b,
                              N, C, c->layernorm_epsilon);
        be->matmul_forward(be, a->qkv[l], a->ln1[l], w->qkv_w, w->qkv_b, N, C, 3 * Cl);
        attn_shape_t s = attn_shape(m, B, T, l, train, step);
        be->attention_forward(be, a->atty[l], a->probs[l], a->attn_scratch, a->qkv[l], &s);
        /* row-parallel: partial sums all-reduced; the bias added once (by TP rank 0) */
        be->matmul_forward(be, a->tmp, a->atty[l], w->proj_w, m->tp_rank == 0 ? w->proj_b : NULL, N, Cl, C);
        if (tp_reduce(m, a->tmp, (size_t)N * C, COMM_SUM, err) != 0) return -1;
        be->dropout_forward(be, a->tmp, (size_t)N * C, hd, drop_key(m, 2 + 3 * (uint32_t)l, 0, step));
        be->add(be, a->resid_mid[l], r, a->tmp, (size_t)N * C);
        /* MLP block */
        be->layernorm_forward(be, a->ln2[l], a->ln2_mean[l], a->ln2_rstd[l], a->resid_mid[l],
                              w->ln2_w, w->ln2_b, N, C, c->layernorm_epsilon);
        be->matmul_forward(be, a->fch[l], a->ln2[l], w->fc_w, w->fc_b, N, C, F);
        be->gelu_forward(be, a->fch_gelu[l], a->fch[l], (size_t)N * F, 1);
        be->matmul_forward(be, a->tmp, a->fch_gelu[l], w->fcproj_w, m->tp_rank == 0 ? w->fcproj_b : NULL, N, F, C);
        if (tp_reduce(m, a->tmp, (size_t)N * C, COMM_SUM, err) != 0) return -1;
        be->dropout_forward(be, a->tmp, (size_t)N * C, hd, drop_key(m, 3 + 3 * (uint32_t)l, 0, step));
        be->add(be, a->resid[l + 1], a->resid_mid[l], a->tmp, (size_t)N * C);
    }
    be->layernorm_forward(be, a->lnf, a->lnf_mean, a->lnf_rstd, a->resid[c->num_layers], m->w.lnf_w,
                          m->w.lnf_b, N, C, c->layernorm_epsilon);
    /* LM head tied to the token embedding */
    be->matmul_forward(be, a->logits, a->lnf, m->w.wte, NULL, N, C, m->V_local);
    if (!targets) return be->sync(be, err);

    /* vocab-parallel cross-entropy: global max, then global sum of exponentials and
     * target logit (one all-reduce of both); the logits are never gathered */
    be->copy_to_device(be, a->targets, targets, (size_t)N * sizeof(int));
    be->xent_max(be, a->rowmax, a->logits, N, m->V_local, m->v_start, c->vocab_size);
    if (tp_reduce(m, a->rowmax, (size_t)N, COMM_MAX, err) != 0) return -1;
    be->xent_sumexp(be, a->sumexp, a->tlogit, a->logits, a->rowmax, a->targets, N, m->V_local,
                    m->v_start, c->vocab_size);
    if (tp_reduce(m, a->sumexp, 2 * (size_t)N, COMM_SUM, err) != 0) return -1;
    be->xent_loss(be, a->losses, a->rowmax, a->sumexp, a->tlogit, N);
    be->copy_to_host(be, m->h_losses, a->losses, (size_t)N * sizeof(float));
    if (be->sync(be, err) != 0) return -1;
    double num = 0.0, den = 0.0;
    for (int i = 0; i < N; i++) {
        float mk = mask ? mask[i] : 1.0f;
        m->h_mask[i] = mk;
        num += (double)m->h_losses[i] * mk;
        den += mk;
    }
    if (den <= 0.0) return err_set(err, "the loss mask of this batch is all zero");
    *loss = num / den;
    return 0;
}

/* ---------------------------------------------------------------- backward */

void gpt_zero_grads(gpt_model_t *m) {
    m->be->memset_zero(m->be, m->grad_block, m->param_alloc * sizeof(float));
}

int gpt_backward(gpt_model_t *m, float grad_scale, uint32_t step, err_t *err) {
    backend_t *be = m->be;
    gpt_acts_t *a = &m->a;
    const gpt_config_t *c = &m->cfg;
    int B = m->cur_B, T = m->cur_T, N = B * T, C = m->C, F = m->F_local;
    int Cl = m->NH_local * m->HS;
    size_t NC = (size_t)N * C, bytesNC = NC * sizeof(float);
    float hd = m->cur_train ? c->hidden_dropout : 0.0f;

    /* d loss / d losses[n] = grad_scale * mask[n] / sum(mask) */
    double den = 0.0;
    for (int i = 0; i < N; i++) den += m->h_mask[i];
    for (int i = 0; i < N; i++) m->h_dloss[i] = (float)(grad_scale * m->h_mask[i] / den);
    be->copy_to_device(be, a->dloss, m->h_dloss, (size_t)N * sizeof(float));

    be->xent_backward(be, a->logits, a->rowmax, a->sumexp, a->targets, a->dloss, N, m->V_local,
                      m->v_start, c->vocab_size);
    be->memset_zero(be, a->dln, bytesNC);
    be->matmul_backward(be, a->dln, m->g.wte, NULL, a->logits, a->lnf, m->w.wte, N, C, m->V_local);
    if (tp_reduce(m, a->dln, NC, COMM_SUM, err) != 0) return -1;
    be->memset_zero(be, a->dresid, bytesNC);
    be->layernorm_backward(be, a->dresid, m->g.lnf_w, m->g.lnf_b, a->dln, a->resid[c->num_layers],
                           m->w.lnf_w, a->lnf_mean, a->lnf_rstd, N, C);
    int first_layer_param = 2, final_ln = 2 + c->num_layers * P_PER_LAYER;
    grad_ready(m, final_ln, final_ln + 1);

    for (int l = c->num_layers - 1; l >= 0; l--) {
        gpt_layer_t *w = &m->w.layers[l], *g = &m->g.layers[l];
        /* MLP block: dresid is the gradient of resid[l+1] */
        be->memset_zero(be, a->dtmp, bytesNC);
        be->dropout_backward(be, a->dtmp, a->dresid, NC, hd, drop_key(m, 3 + 3 * (uint32_t)l, 0, step));
        be->memset_zero(be, a->dfch_gelu, (size_t)N * F * sizeof(float));
        be->matmul_backward(be, a->dfch_gelu, g->fcproj_w, g->fcproj_b, a->dtmp, a->fch_gelu[l],
                            w->fcproj_w, N, F, C);
        be->memset_zero(be, a->dfch, (size_t)N * F * sizeof(float));
        be->gelu_backward(be, a->dfch, a->fch[l], a->dfch_gelu, (size_t)N * F, 1);
        be->memset_zero(be, a->dln, bytesNC);
        be->matmul_backward(be, a->dln, g->fc_w, g->fc_b, a->dfch, a->ln2[l], w->fc_w, N, C, F);
        if (tp_reduce(m, a->dln, NC, COMM_SUM, err) != 0) return -1;
        be->layernorm_backward(be, a->dresid, g->ln2_w, g->ln2_b, a->dln, a->resid_mid[l], w->ln2_w,
                               a->ln2_mean[l], a->ln2_rstd[l], N, C);
        /* attention block: dresid is now the gradient of resid_mid[l] */
        be->memset_zero(be, a->dtmp, bytesNC);
        be->dropout_backward(be, a->dtmp, a->dresid, NC, hd, drop_key(m, 2 + 3 * (uint32_t)l, 0, step));
        be->memset_zero(be, a->datty, (size_t)N * Cl * sizeof(float));
        be->matmul_backward(be, a->datty, g->proj_w, g->proj_b, a->dtmp, a->atty[l], w->proj_w, N,
                            Cl, C);
        be->memset_zero(be, a->dqkv, (size_t)N * 3 * Cl * sizeof(float));
        attn_shape_t s = attn_shape(m, B, T, l, m->cur_train, step);
        be->attention_backward(be, a->dqkv, a->attn_scratch, a->attn_dscratch, a->datty, a->qkv[l],
                               a->probs[l], &s);
        be->memset_zero(be, a->dln, bytesNC);
        be->matmul_backward(be, a->dln, g->qkv_w, g->qkv_b, a->dqkv, a->ln1[l], w->qkv_w, N, C, 3 * Cl);
        if (tp_reduce(m, a->dln, NC, COMM_SUM, err) != 0) return -1;
        be->layernorm_backward(be, a->dresid, g->ln1_w, g->ln1_b, a->dln, a->resid[l], w->ln1_w,
                               a->ln1_mean[l], a->ln1_rstd[l], N, C);
        grad_ready(m, first_layer_param + l * P_PER_LAYER, first_layer_param + (l + 1) * P_PER_LAYER - 1);
    }
    /* embeddings */
    be->memset_zero(be, a->dtmp, bytesNC);
    be->dropout_backward(be, a->dtmp, a->dresid, NC, hd, drop_key(m, 0, 0, step));
    be->embedding_backward(be, m->g.wte, a->dtmp, a->tokens, N, C, m->v_start, m->v_start + m->V_local);
    be->position_backward(be, m->g.wpe, a->dtmp, B, T, C);
    grad_ready(m, 0, 1);
    return 0;
}

void gpt_logits_at(gpt_model_t *m, int b, int t, float *out) {
    size_t row = (size_t)b * m->cur_T + t;
    m->be->copy_to_host(m->be, out, m->a.logits + row * m->V_local, (size_t)m->V_local * sizeof(float));
}
