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
#include "../parallel/tensor_parallel.h"
#include "model_create.h"

/* ---------------------------------------------------------------- layout */

enum { P_PER_LAYER = TF_LAYER_PARAMS };

static int ffn_size(const gpt_config_t *c) {
    return c->ffn_hidden_size > 0 ? c->ffn_hidden_size : 4 * c->hidden_size;
}

/* wte, wpe, the layers, the final LayerNorm (this order is the checkpoint's) */
static int declare_params(param_list_t *pl, const gpt_config_t *c, int V_padded) {
    int64_t C = c->hidden_size;
    int wte = param_add(pl, "embedding/word_embeddings/weight", 2, V_padded, C, 0, 0, INIT_NORMAL);
    if (wte < 0) return -1;
    pl->specs[wte].valid_rows = c->vocab_size; /* padded vocabulary rows stay 0 */
    if (param_add(pl, "embedding/position_embeddings/weight", 2, c->max_position_embeddings, C, -1,
                  TENSOR_TP_REPLICATED, INIT_NORMAL) < 0)
        return -1;
    for (int l = 0; l < c->num_layers; l++)
        if (param_add_tf_layer(pl, l, C, ffn_size(c)) != 0) return -1;
    return param_add_layernorm(pl, "final_layernorm", C) < 0 ? -1 : 0;
}

static void set_views(gpt_model_t *m, tensor_t *ts, gpt_weights_t *w) {
    w->wte = ts[0].data;
    w->wpe = ts[1].data;
    for (int l = 0; l < m->cfg.num_layers; l++) params_bind_tf_layer(&w->layers[l], ts + 2 + l * P_PER_LAYER);
    tensor_t *f = ts + 2 + m->cfg.num_layers * P_PER_LAYER;
    w->lnf_w = f[0].data;
    w->lnf_b = f[1].data;
}

/* Carves the activation block (or measures it when ar->base is NULL). */
static int carve_acts(gpt_model_t *m, arena_t *ar) {
    gpt_acts_t *a = &m->a;
    tf_ctx_t *c = &m->tf;
    size_t BT = (size_t)m->B * m->T, C = m->C, F = m->F_local, V = m->V_local;
    size_t C3 = 3 * (size_t)m->NH_local * m->HS, Cl = (size_t)m->NH_local * m->HS;
    size_t att = (size_t)m->B * m->NH_local * m->T * m->T;
    tf_ctx_t shape = {.B = m->B, .T = m->T, .C = m->C, .NH = m->NH_local, .HS = m->HS, .F = m->F_local, .pre_ln = 1,
                      .use_flash_attn = m->cfg.use_flash_attn};
    int bad = tf_stack_carve(&a->stack, &shape, ar) != 0;
#define TAKE(ptr, count) ((ptr) = arena_take(ar, (count) * sizeof(float)), ar->base && !(ptr))
    bad |= TAKE(a->lnf, BT * C) | TAKE(a->lnf_mean, BT) | TAKE(a->lnf_rstd, BT);
    bad |= TAKE(a->logits, BT * V);
    /* sumexp holds the sums and, right after the N rows of a forward, the target
     * logits (a->tlogit, placed by gpt_forward): one all-reduce carries both */
    bad |= TAKE(a->rowmax, BT) | TAKE(a->sumexp, 2 * BT) | TAKE(a->losses, BT);
    bad |= TAKE(a->dloss, BT) | TAKE(a->dresid, BT * C);
    c->attn_scratch = c->attn_dscratch = NULL; /* the fused attention needs no [B,NH,T,T] workspace */
    if (!m->cfg.use_flash_attn) bad |= TAKE(c->attn_scratch, att) | TAKE(c->attn_dscratch, att);
    bad |= TAKE(c->tmp, BT * C);
    bad |= TAKE(c->dtmp, BT * C) | TAKE(c->dln, BT * C) | TAKE(c->dsum, BT * C);
    bad |= TAKE(c->datty, BT * Cl) | TAKE(c->dqkv, BT * C3);
    bad |= TAKE(c->dfch, BT * F) | TAKE(c->dfch_gelu, BT * F);
#undef TAKE
    a->tokens = arena_take(ar, BT * sizeof(int));
    a->targets = arena_take(ar, BT * sizeof(int));
    return bad || (ar->base && (!a->tokens || !a->targets)) ? -1 : 0;
}

static int carve_arena(void *m, arena_t *ar) { return carve_acts(m, ar); }

static int alloc_act_tables(gpt_model_t *m) {
    return tf_stack_init(&m->a.stack, m->cfg.num_layers, &m->cfg.recompute);
}

static void free_act_tables(gpt_model_t *m) { tf_stack_free(&m->a.stack); }

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
}

size_t gpt_activation_bytes(const gpt_config_t *cfg, int B, int T, int tp_size) {
    gpt_model_t m;
    memset(&m, 0, sizeof m);
    set_dims(&m, cfg, B, T, 0, tp_size);
    if (alloc_act_tables(&m) != 0) return (size_t)-1;
    arena_t ar = {0};
    carve_acts(&m, &ar);
    free_act_tables(&m);
    return ar.used;
}

size_t gpt_memory_bytes(const gpt_config_t *cfg, int B, int T, int tp_size) {
    gpt_model_t m;
    memset(&m, 0, sizeof m);
    set_dims(&m, cfg, B, T, 0, tp_size);
    /* this rank's parameter elements: split tensors 1/TP, replicated ones whole */
    size_t params = 0;
    param_list_t pl = {0};
    if (declare_params(&pl, cfg, m.V_padded) != 0) return (size_t)-1;
    for (int k = 0; k < pl.n; k++) {
        const param_spec_t *p = &pl.specs[k];
        params += (size_t)(p->shape[0] * p->shape[1]) / (size_t)(p->split >= 0 ? tp_size : 1);
    }
    param_list_free(&pl);
    size_t acts = gpt_activation_bytes(cfg, B, T, tp_size);
    return acts == (size_t)-1 ? acts : 2 * params * sizeof(float) + acts;
}

int gpt_param_list(const gpt_config_t *cfg, int tp_size, param_list_t *pl) {
    memset(pl, 0, sizeof *pl);
    if (declare_params(pl, cfg, gpt_padded_vocab(cfg, tp_size)) == 0) return 0;
    param_list_free(pl);
    return -1;
}

int gpt_create(gpt_model_t *m, const gpt_config_t *cfg, backend_t *be, int B, int T,
               const gpt_parallel_t *par, err_t *err) {
    memset(m, 0, sizeof *m);
    model_split_t sp = model_split(par);
    comm_t *tp = sp.tp;
    int tp_rank = sp.tp_rank, tp_size = sp.tp_size;
    size_t pad = sp.pad;
    if (gpt_config_validate(cfg, tp_size, err) != 0) return -1;
    if (B <= 0) return err_set(err, "--micro-batch-size must be positive (got %d)", B);
    if (T <= 0 || T > cfg->max_position_embeddings)
        return err_set(err, "sequence length %d is outside 1..%d", T, cfg->max_position_embeddings);
    set_dims(m, cfg, B, T, tp_rank, tp_size);
    m->be = be;
    m->tp = tp;
    if (declare_params(&m->store.list, cfg, m->V_padded) != 0) {
        gpt_destroy(m);
        return err_set(err, "out of host memory declaring the parameters");
    }
    m->w.layers = calloc((size_t)cfg->num_layers, sizeof(tf_layer_t));
    m->g.layers = calloc((size_t)cfg->num_layers, sizeof(tf_layer_t));
    size_t BT = (size_t)B * T;
    m->h_tokens = malloc(BT * sizeof(int));
    m->h_targets = malloc(BT * sizeof(int));
    m->h_mask = malloc(BT * sizeof(float));
    m->h_losses = malloc(BT * sizeof(float));
    m->h_dloss = malloc(BT * sizeof(float));
    if (!m->w.layers || !m->g.layers || !m->h_tokens || !m->h_targets ||
        !m->h_mask || !m->h_losses || !m->h_dloss || alloc_act_tables(m) != 0) {
        gpt_destroy(m);
        return err_set(err, "out of host memory building the model tables");
    }
    /* parameters and gradients: one flat block each, same layout */
    if (param_store_alloc(&m->store, be, tp_rank, tp_size, pad, err) != 0) {
        gpt_destroy(m);
        return -1;
    }
    set_views(m, m->store.params, &m->w);
    set_views(m, m->store.grads, &m->g);
    if (model_alloc_acts(be, carve_arena, m, &m->act_block, &m->act_bytes, "", err) != 0) {
        gpt_destroy(m);
        return -1;
    }
    return 0;
}

void gpt_destroy(gpt_model_t *m) {
    if (m->be && m->act_block) m->be->free(m->be, m->act_block);
    param_store_free(&m->store, m->be);
    free_act_tables(m);
    free(m->w.layers), free(m->g.layers);
    free(m->h_tokens), free(m->h_targets), free(m->h_mask), free(m->h_losses), free(m->h_dloss);
    memset(m, 0, sizeof *m);
}

/* ---------------------------------------------------------------- init */

void gpt_init_weights(gpt_model_t *m, uint64_t seed) {
    const gpt_config_t *c = &m->cfg;
    m->seed = seed;
    param_store_init(&m->store, m->be, seed, c->init_method_std, c->num_layers);
}

/* ---------------------------------------------------------------- forward */

static void grad_ready(gpt_model_t *m, int first, int last) {
    if (m->grad_ready) m->grad_ready(m->grad_ready_ctx, first, last);
}

static void layer_done(void *ctx, int l) {
    grad_ready(ctx, 2 + l * P_PER_LAYER, 2 + (l + 1) * P_PER_LAYER - 1);
}

/* the layer context for one micro-batch */
static void setup_ctx(gpt_model_t *m, int B, int T, int train, uint32_t step) {
    tf_ctx_t *c = &m->tf;
    c->be = m->be, c->tp = m->tp, c->tp_rank = m->tp_rank;
    c->B = B, c->T = T, c->C = m->C, c->NH = m->NH_local, c->HS = m->HS, c->F = m->F_local;
    c->pre_ln = 1, c->causal = 1, c->gelu_tanh = 1, c->key_mask = NULL;
    c->eps = m->cfg.layernorm_epsilon;
    c->hidden_dropout = train ? m->cfg.hidden_dropout : 0.0f;
    c->attention_dropout = train ? m->cfg.attention_dropout : 0.0f;
    c->seed = m->seed, c->step = step;
    c->use_flash_attn = m->cfg.use_flash_attn;
}

int gpt_forward(gpt_model_t *m, const int *tokens, const int *targets, const float *mask, int B,
                int T, int train, uint32_t step, double *loss, err_t *err) {
    backend_t *be = m->be;
    gpt_acts_t *a = &m->a;
    const gpt_config_t *c = &m->cfg;
    if (B <= 0 || B > m->B || T <= 0 || T > m->T)
        return err_set(err, "batch %dx%d exceeds the model's buffers %dx%d", B, T, m->B, m->T);
    int N = B * T, C = m->C;
    for (int i = 0; i < N; i++) {
        if (tokens[i] < 0 || tokens[i] >= c->vocab_size)
            return err_set(err, "token id %d at position %d is outside the vocabulary (size %d)",
                           tokens[i], i, c->vocab_size);
        if (targets && (targets[i] < 0 || targets[i] >= c->vocab_size))
            return err_set(err, "target id %d at position %d is outside the vocabulary (size %d)",
                           targets[i], i, c->vocab_size);
    }
    m->cur_B = B, m->cur_T = T, m->cur_train = train;
    setup_ctx(m, B, T, train, step);
    be->copy_to_device(be, a->tokens, tokens, (size_t)N * sizeof(int));

    /* embeddings: vocab-parallel token lookup (all-reduced), + positions, dropout */
    float *x = a->stack.resid[0];
    if (tp_vocab_embedding_forward(m->tp, be, x, a->tokens, m->w.wte, N, C, m->v_start, m->v_start + m->V_local,
                                   err) != 0)
        return -1;
    be->position_forward(be, x, m->w.wpe, B, T, C);
    be->dropout_forward(be, x, (size_t)N * C, m->tf.hidden_dropout, tf_dropout_key(m->seed, 0, 0, step));

    if (tf_stack_forward(&m->tf, &a->stack, m->w.layers, err) != 0) return -1;
    be->layernorm_forward(be, a->lnf, a->lnf_mean, a->lnf_rstd, a->stack.resid[c->num_layers], m->w.lnf_w,
                          m->w.lnf_b, N, C, c->layernorm_epsilon);
    /* LM head tied to the token embedding */
    if (tp_column_linear_forward(m->tp, be, a->logits, a->lnf, m->w.wte, NULL, N, C, m->V_local, err) != 0) return -1;
    if (!targets) return be->sync(be, err);

    /* vocab-parallel cross-entropy: global max, then global sum of exponentials and
     * target logit (one all-reduce of both); the logits are never gathered */
    be->copy_to_device(be, a->targets, targets, (size_t)N * sizeof(int));
    a->tlogit = a->sumexp + N; /* adjacent to this forward's N sums (a smaller batch than the buffers) */
    if (tp_vocab_cross_entropy_forward(m->tp, be, a->losses, a->rowmax, a->sumexp, a->logits, a->targets, N,
                                       m->V_local, m->v_start, c->vocab_size, err) != 0)
        return -1;
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
    param_store_zero_grads(&m->store, m->be);
}

int gpt_backward(gpt_model_t *m, float grad_scale, uint32_t step, err_t *err) {
    backend_t *be = m->be;
    gpt_acts_t *a = &m->a;
    const gpt_config_t *c = &m->cfg;
    int B = m->cur_B, T = m->cur_T, N = B * T, C = m->C;
    size_t NC = (size_t)N * C, bytesNC = NC * sizeof(float);
    setup_ctx(m, B, T, m->cur_train, step);
    float *dln = m->tf.dln, *dtmp = m->tf.dtmp;

    /* d loss / d losses[n] = grad_scale * mask[n] / sum(mask) */
    double den = 0.0;
    for (int i = 0; i < N; i++) den += m->h_mask[i];
    for (int i = 0; i < N; i++) m->h_dloss[i] = (float)(grad_scale * m->h_mask[i] / den);
    be->copy_to_device(be, a->dloss, m->h_dloss, (size_t)N * sizeof(float));

    tp_vocab_cross_entropy_backward(be, a->logits, a->rowmax, a->sumexp, a->targets, a->dloss, N, m->V_local,
                                    m->v_start, c->vocab_size);
    if (tp_column_linear_backward(m->tp, be, dln, m->g.wte, NULL, a->logits, a->lnf, m->w.wte, N, C, m->V_local,
                                  err) != 0)
        return -1;
    be->memset_zero(be, a->dresid, bytesNC);
    be->layernorm_backward(be, a->dresid, m->g.lnf_w, m->g.lnf_b, dln, a->stack.resid[c->num_layers],
                           m->w.lnf_w, a->lnf_mean, a->lnf_rstd, N, C);
    int final_ln = 2 + c->num_layers * P_PER_LAYER;
    grad_ready(m, final_ln, final_ln + 1);

    if (tf_stack_backward(&m->tf, &a->stack, m->w.layers, m->g.layers, a->dresid, layer_done, m, err) != 0)
        return -1;
    /* embeddings */
    be->memset_zero(be, dtmp, bytesNC);
    be->dropout_backward(be, dtmp, a->dresid, NC, m->tf.hidden_dropout, tf_dropout_key(m->seed, 0, 0, step));
    tp_vocab_embedding_backward(be, m->g.wte, dtmp, a->tokens, N, C, m->v_start, m->v_start + m->V_local);
    be->position_backward(be, m->g.wpe, dtmp, B, T, C);
    grad_ready(m, 0, 1);
    return 0;
}

void gpt_logits_at(gpt_model_t *m, int b, int t, float *out) {
    size_t row = (size_t)b * m->cur_T + t;
    m->be->copy_to_host(m->be, out, m->a.logits + row * m->V_local, (size_t)m->V_local * sizeof(float));
}
