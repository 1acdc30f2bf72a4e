/* bert.c — BERT parameters, forward and backward (see bert.h). Read forward and
 * backward side by side: backward visits the same steps in reverse. */
#include "bert.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../parallel/tensor_parallel.h"
#include "model_create.h"

static int ffn_size(const bert_config_t *c) { return c->ffn_hidden_size > 0 ? c->ffn_hidden_size : 4 * c->hidden_size; }

/* ---------------------------------------------------------------- parameters */

static int declare_params(bert_model_t *m) {
    const bert_config_t *c = &m->cfg;
    param_list_t *pl = &m->store.list;
    int64_t C = c->hidden_size;
    const uint32_t rep = TENSOR_TP_REPLICATED, nwd = TENSOR_NO_WEIGHT_DECAY;
    int ok = 1;
    m->p_wte = param_add(pl, "embedding/word_embeddings/weight", 2, m->V_padded, C, 0, 0, INIT_NORMAL);
    ok &= m->p_wte >= 0;
    if (ok) pl->specs[m->p_wte].valid_rows = c->vocab_size;
    ok &= (m->p_wpe = param_add(pl, "embedding/position_embeddings/weight", 2, c->max_position_embeddings, C, -1,
                                rep, INIT_NORMAL)) >= 0;
    ok &= (m->p_type = param_add(pl, "embedding/tokentype_embeddings/weight", 2, c->type_vocab_size, C, -1, rep,
                                 INIT_NORMAL)) >= 0;
    m->p_emb_ln = c->pre_ln ? -1 : pl->n;
    if (!c->pre_ln) ok &= param_add_layernorm(pl, "embedding/layernorm", C) >= 0;
    m->p_layers = pl->n;
    for (int l = 0; l < c->num_layers; l++) ok &= param_add_tf_layer(pl, l, C, ffn_size(c)) == 0;
    m->p_final_ln = c->pre_ln ? pl->n : -1;
    if (c->pre_ln) ok &= param_add_layernorm(pl, "final_layernorm", C) >= 0;
    m->p_pooler = m->p_binary = -1;
    if (c->binary_head) {
        ok &= (m->p_pooler = param_add(pl, "pooler/dense/weight", 2, C, C, -1, rep, INIT_NORMAL)) >= 0;
        ok &= param_add(pl, "pooler/dense/bias", 1, C, 0, -1, rep | nwd, INIT_ZEROS) >= 0;
    }
    ok &= (m->p_lm_dense = param_add(pl, "lm_head/dense/weight", 2, C, C, -1, rep, INIT_NORMAL)) >= 0;
    ok &= param_add(pl, "lm_head/dense/bias", 1, C, 0, -1, rep | nwd, INIT_ZEROS) >= 0;
    m->p_lm_ln = pl->n;
    ok &= param_add_layernorm(pl, "lm_head/layernorm", C) >= 0;
    ok &= (m->p_lm_bias = param_add(pl, "lm_head/bias", 1, m->V_padded, 0, 0, nwd, INIT_ZEROS)) >= 0;
    if (c->binary_head) {
        ok &= (m->p_binary = param_add(pl, "binary_head/weight", 2, 2, C, -1, rep, INIT_NORMAL)) >= 0;
        ok &= param_add(pl, "binary_head/bias", 1, 2, 0, -1, rep | nwd, INIT_ZEROS) >= 0;
    }
    return ok ? 0 : -1;
}

static float *P(bert_model_t *m, int k) { return m->store.params[k].data; }
static float *G(bert_model_t *m, int k) { return m->store.grads[k].data; }

/* ---------------------------------------------------------------- memory */

static int carve(bert_model_t *m, arena_t *ar) {
    const bert_config_t *c = &m->cfg;
    tf_ctx_t *t = &m->tf;
    size_t N = (size_t)m->B * m->T, C = m->C, F = m->F_local, M = m->M, B = m->B;
    size_t Cl = (size_t)m->NH_local * m->HS, att = (size_t)m->B * m->NH_local * m->T * m->T;
    tf_ctx_t shape = {.B = m->B, .T = m->T, .C = m->C, .NH = m->NH_local, .HS = m->HS, .F = m->F_local,
                      .pre_ln = c->pre_ln, .use_flash_attn = c->use_flash_attn};
    int bad = tf_stack_carve(&m->stack, &shape, ar) != 0;
#define TAKE(ptr, count) ((ptr) = arena_take(ar, (count) * sizeof(float)), ar->base && !(ptr))
    bad |= TAKE(m->emb_sum, N * C) | TAKE(m->emb_mean, N) | TAKE(m->emb_rstd, N);
    bad |= TAKE(m->final_ln, N * C) | TAKE(m->final_mean, N) | TAKE(m->final_rstd, N);
    bad |= TAKE(m->mlm_in, M * C) | TAKE(m->mlm_dense, M * C) | TAKE(m->mlm_act, M * C) | TAKE(m->mlm_ln, M * C);
    bad |= TAKE(m->mlm_mean, M) | TAKE(m->mlm_rstd, M) | TAKE(m->mlm_logits, M * (size_t)m->V_local);
    bad |= TAKE(m->cls, B * C) | TAKE(m->pool_pre, B * C) | TAKE(m->pool, B * C) | TAKE(m->sop_logits, B * 2);
    /* sumexp holds the sums and, right after the n of a batch, the target logits
     * (m->tlogit, placed by bert_forward): one all-reduce carries both */
    bad |= TAKE(m->rowmax, M) | TAKE(m->sumexp, 2 * M) | TAKE(m->losses, M) | TAKE(m->dloss, M);
    bad |= TAKE(m->s_rowmax, B) | TAKE(m->s_sumexp, 2 * B) | TAKE(m->s_losses, B) | TAKE(m->s_dloss, B);
    m->s_tlogit = m->s_sumexp ? m->s_sumexp + B : NULL;
    bad |= TAKE(m->dresid, N * C) | TAKE(m->dmlm, M * C) | TAKE(m->dmlm2, M * C) | TAKE(m->dcls, B * C);
    bad |= TAKE(m->dcls2, B * C) | TAKE(m->key_mask, N);
    t->attn_scratch = t->attn_dscratch = NULL; /* the fused attention needs no [B,NH,T,T] workspace */
    if (!c->use_flash_attn) bad |= TAKE(t->attn_scratch, att) | TAKE(t->attn_dscratch, att);
    bad |= TAKE(t->tmp, N * C) | TAKE(t->dtmp, N * C);
    bad |= TAKE(t->dln, N * C) | TAKE(t->dsum, N * C) | TAKE(t->datty, N * Cl) | TAKE(t->dqkv, N * 3 * Cl);
    bad |= TAKE(t->dfch, N * F) | TAKE(t->dfch_gelu, N * F);
#undef TAKE
    int **ints[] = {&m->tokens, &m->types, &m->mlm_pos, &m->mlm_labels, &m->cls_pos, &m->sop_labels};
    size_t counts[] = {N, N, M, M, B, B};
    for (int i = 0; i < 6; i++) {
        *ints[i] = arena_take(ar, counts[i] * sizeof(int));
        bad |= ar->base && !*ints[i];
    }
    return bad ? -1 : 0;
}

static int carve_arena(void *m, arena_t *ar) { return carve(m, ar); }

static void set_dims(bert_model_t *m, const bert_config_t *cfg, int B, int T, int tp_rank, int tp_size) {
    m->cfg = *cfg, m->tp_rank = tp_rank, m->tp_size = tp_size;
    m->B = B, m->T = T, m->M = B * cfg->max_predictions_per_seq;
    m->C = cfg->hidden_size, m->HS = cfg->hidden_size / cfg->num_attention_heads;
    m->NH_local = cfg->num_attention_heads / tp_size, m->F_local = ffn_size(cfg) / tp_size;
    m->V_padded = bert_padded_vocab(cfg, tp_size), m->V_local = m->V_padded / tp_size;
    m->v_start = tp_rank * m->V_local;
}

size_t bert_activation_bytes(const bert_config_t *cfg, int B, int T, int tp_size) {
    bert_model_t m;
    memset(&m, 0, sizeof m);
    set_dims(&m, cfg, B, T, 0, tp_size);
    if (tf_stack_init(&m.stack, cfg->num_layers, &cfg->recompute) != 0) return (size_t)-1;
    arena_t ar = {0};
    carve(&m, &ar);
    tf_stack_free(&m.stack);
    return ar.used;
}

int bert_param_list(const bert_config_t *cfg, int tp_size, param_list_t *pl) {
    bert_model_t m;
    memset(&m, 0, sizeof m);
    set_dims(&m, cfg, 1, cfg->seq_length, 0, tp_size);
    int rc = declare_params(&m);
    if (rc != 0) param_list_free(&m.store.list);
    *pl = m.store.list;
    return rc;
}

int bert_create(bert_model_t *m, const bert_config_t *cfg, backend_t *be, int B, int T,
                const model_parallel_t *par, err_t *err) {
    memset(m, 0, sizeof *m);
    model_split_t sp = model_split(par);
    comm_t *tp = sp.tp;
    int tp_rank = sp.tp_rank, tp_size = sp.tp_size;
    size_t pad = sp.pad;
    if (bert_config_validate(cfg, tp_size, err) != 0) return -1;
    if (B <= 0) return err_set(err, "--micro-batch-size must be positive (got %d)", B);
    if (T <= 1 || T > cfg->max_position_embeddings)
        return err_set(err, "sequence length %d is outside 2..%d", T, cfg->max_position_embeddings);
    set_dims(m, cfg, B, T, tp_rank, tp_size);
    m->be = be, m->tp = tp;
    int L = cfg->num_layers;
    int tables = tf_stack_init(&m->stack, L, &cfg->recompute);
    m->w_layers = calloc((size_t)L, sizeof(tf_layer_t));
    m->g_layers = calloc((size_t)L, sizeof(tf_layer_t));
    m->h_losses = malloc(sizeof(float) * (size_t)m->M);
    m->h_tlogit = malloc(sizeof(float) * (size_t)m->M);
    m->h_rowmax = malloc(sizeof(float) * (size_t)m->M);
    m->h_dloss = malloc(sizeof(float) * (size_t)m->M);
    m->h_cls = malloc(sizeof(int) * (size_t)B);
    if (tables != 0 || !m->w_layers || !m->g_layers || !m->h_losses || !m->h_tlogit || !m->h_rowmax ||
        !m->h_dloss || !m->h_cls || declare_params(m) != 0) {
        bert_destroy(m);
        return err_set(err, "out of host memory building the BERT tables");
    }
    if (param_store_alloc(&m->store, be, tp_rank, tp_size, pad, err) != 0) {
        bert_destroy(m);
        return err_prefix(err, "BERT");
    }
    for (int l = 0; l < L; l++) {
        params_bind_tf_layer(&m->w_layers[l], m->store.params + m->p_layers + l * TF_LAYER_PARAMS);
        params_bind_tf_layer(&m->g_layers[l], m->store.grads + m->p_layers + l * TF_LAYER_PARAMS);
    }
    if (model_alloc_acts(be, carve_arena, m, &m->act_block, &m->act_bytes, "BERT ", err) != 0) {
        bert_destroy(m);
        return -1;
    }
    for (int b = 0; b < B; b++) m->h_cls[b] = b * T;
    return 0;
}

void bert_destroy(bert_model_t *m) {
    if (m->be && m->act_block) m->be->free(m->be, m->act_block);
    param_store_free(&m->store, m->be);
    tf_stack_free(&m->stack);
    free(m->w_layers), free(m->g_layers);
    free(m->h_losses), free(m->h_tlogit), free(m->h_rowmax), free(m->h_dloss), free(m->h_cls);
    memset(m, 0, sizeof *m);
}

void bert_init_weights(bert_model_t *m, uint64_t seed) {
    m->seed = seed;
    param_store_init(&m->store, m->be, seed, m->cfg.init_method_std, m->cfg.num_layers);
}

void bert_zero_grads(bert_model_t *m) { param_store_zero_grads(&m->store, m->be); }

/* ---------------------------------------------------------------- forward */

static void setup_ctx(bert_model_t *m, int B, int T, int train, uint32_t step) {
    tf_ctx_t *c = &m->tf;
    c->be = m->be, c->tp = m->tp, c->tp_rank = m->tp_rank;
    c->B = B, c->T = T, c->C = m->C, c->NH = m->NH_local, c->HS = m->HS, c->F = m->F_local;
    c->pre_ln = m->cfg.pre_ln, c->causal = 0, c->gelu_tanh = 0, c->key_mask = m->key_mask;
    c->eps = m->cfg.layernorm_epsilon;
    c->hidden_dropout = train ? m->cfg.hidden_dropout : 0.0f;
    c->attention_dropout = train ? m->cfg.attention_dropout : 0.0f;
    c->seed = m->seed, c->step = step;
    c->use_flash_attn = m->cfg.use_flash_attn;
}

static int check_batch(const bert_model_t *m, const bert_batch_t *b, err_t *err) {
    const bert_config_t *c = &m->cfg;
    if (b->B <= 0 || b->B > m->B || b->T <= 1 || b->T > m->T)
        return err_set(err, "batch %dx%d exceeds the model's buffers %dx%d", b->B, b->T, m->B, m->T);
    if (b->n_mlm < 0 || b->n_mlm > b->B * c->max_predictions_per_seq)
        return err_set(err, "%d masked positions exceed %d per sequence", b->n_mlm, c->max_predictions_per_seq);
    int N = b->B * b->T;
    for (int i = 0; i < N; i++) {
        if (b->tokens[i] < 0 || b->tokens[i] >= c->vocab_size)
            return err_set(err, "token id %d at position %d is outside the vocabulary (size %d)", b->tokens[i], i,
                           c->vocab_size);
        if (b->types[i] < 0 || b->types[i] >= c->type_vocab_size)
            return err_set(err, "token type %d at position %d is outside 0..%d", b->types[i], i, c->type_vocab_size - 1);
    }
    for (int i = 0; i < b->n_mlm; i++) {
        if (b->mlm_pos[i] < 0 || b->mlm_pos[i] >= N)
            return err_set(err, "masked position %d is outside the batch", b->mlm_pos[i]);
        if (b->mlm_labels[i] < 0 || b->mlm_labels[i] >= c->vocab_size)
            return err_set(err, "masked-LM label %d is outside the vocabulary", b->mlm_labels[i]);
    }
    for (int i = 0; b->sop_labels && i < b->B; i++)
        if (b->sop_labels[i] != 0 && b->sop_labels[i] != 1)
            return err_set(err, "sentence label %d is not 0 or 1", b->sop_labels[i]);
    if (b->sop_labels && !c->binary_head) return err_set(err, "sentence labels given to a model without a binary head");
    return 0;
}

/* the encoder's output rows: the final LayerNorm (pre-LN) or the last layer's */
static float *encoder_out(bert_model_t *m) { return m->cfg.pre_ln ? m->final_ln : m->stack.resid[m->cfg.num_layers]; }

int bert_forward(bert_model_t *m, const bert_batch_t *b, int train, uint32_t step, bert_result_t *res,
                 err_t *err) {
    backend_t *be = m->be;
    const bert_config_t *c = &m->cfg;
    memset(res, 0, sizeof *res);
    if (check_batch(m, b, err) != 0) return -1;
    int B = b->B, T = b->T, N = B * T, C = m->C, n = b->n_mlm;
    size_t NC = (size_t)N * C;
    m->cur_B = B, m->cur_T = T, m->cur_M = n, m->cur_train = train, m->cur_sop = b->sop_labels != NULL;
    setup_ctx(m, B, T, train, step);
    be->copy_to_device(be, m->tokens, b->tokens, (size_t)N * sizeof(int));
    be->copy_to_device(be, m->types, b->types, (size_t)N * sizeof(int));
    be->copy_to_device(be, m->key_mask, b->pad_mask, (size_t)N * sizeof(float));

    /* embeddings: vocab-parallel words (all-reduced) + positions + token types,
     * the embedding LayerNorm (post-LN), dropout */
    float *x = m->stack.resid[0], *sum = c->pre_ln ? x : m->emb_sum;
    if (tp_vocab_embedding_forward(m->tp, be, sum, m->tokens, P(m, m->p_wte), N, C, m->v_start,
                                   m->v_start + m->V_local, err) != 0)
        return -1;
    be->position_forward(be, sum, P(m, m->p_wpe), B, T, C);
    be->embedding_forward(be, m->tf.tmp, m->types, P(m, m->p_type), N, C, 0, c->type_vocab_size);
    be->add(be, sum, sum, m->tf.tmp, NC);
    if (!c->pre_ln)
        be->layernorm_forward(be, x, m->emb_mean, m->emb_rstd, sum, P(m, m->p_emb_ln), P(m, m->p_emb_ln + 1), N, C,
                              c->layernorm_epsilon);
    be->dropout_forward(be, x, NC, m->tf.hidden_dropout, tf_dropout_key(m->seed, 0, 0, step));

    if (tf_stack_forward(&m->tf, &m->stack, m->w_layers, err) != 0) return -1;
    if (c->pre_ln)
        be->layernorm_forward(be, m->final_ln, m->final_mean, m->final_rstd, m->stack.resid[c->num_layers],
                              P(m, m->p_final_ln), P(m, m->p_final_ln + 1), N, C, c->layernorm_epsilon);
    float *h = encoder_out(m);

    /* masked LM at the masked rows only: dense, GELU, LayerNorm, tied decoder + bias,
     * vocab-parallel cross-entropy */
    if (n > 0) {
        be->copy_to_device(be, m->mlm_pos, b->mlm_pos, (size_t)n * sizeof(int));
        be->copy_to_device(be, m->mlm_labels, b->mlm_labels, (size_t)n * sizeof(int));
        be->embedding_forward(be, m->mlm_in, m->mlm_pos, h, n, C, 0, N); /* gather rows */
        be->matmul_forward(be, m->mlm_dense, m->mlm_in, P(m, m->p_lm_dense), P(m, m->p_lm_dense + 1), n, C, C);
        be->gelu_forward(be, m->mlm_act, m->mlm_dense, (size_t)n * C, 0);
        be->layernorm_forward(be, m->mlm_ln, m->mlm_mean, m->mlm_rstd, m->mlm_act, P(m, m->p_lm_ln),
                              P(m, m->p_lm_ln + 1), n, C, c->layernorm_epsilon);
        if (tp_column_linear_forward(m->tp, be, m->mlm_logits, m->mlm_ln, P(m, m->p_wte), P(m, m->p_lm_bias), n, C,
                                     m->V_local, err) != 0)
            return -1;
        m->tlogit = m->sumexp + n; /* adjacent to this batch's n sums (n <= M varies per batch) */
        if (tp_vocab_cross_entropy_forward(m->tp, be, m->losses, m->rowmax, m->sumexp, m->mlm_logits, m->mlm_labels, n,
                                           m->V_local, m->v_start, c->vocab_size, err) != 0)
            return -1;
        be->copy_to_host(be, m->h_losses, m->losses, (size_t)n * sizeof(float));
        be->copy_to_host(be, m->h_tlogit, m->tlogit, (size_t)n * sizeof(float));
        be->copy_to_host(be, m->h_rowmax, m->rowmax, (size_t)n * sizeof(float));
        if (be->sync(be, err) != 0) return -1;
        double s = 0;
        for (int i = 0; i < n; i++) {
            s += m->h_losses[i];
            res->mlm_correct += m->h_tlogit[i] >= m->h_rowmax[i]; /* the label is the arg max */
        }
        res->mlm_loss = s / n;
    }
    /* sentence head on [CLS]: tanh pooler, 2-way classifier (replicated on TP ranks) */
    if (b->sop_labels) {
        be->copy_to_device(be, m->cls_pos, m->h_cls, (size_t)B * sizeof(int));
        be->copy_to_device(be, m->sop_labels, b->sop_labels, (size_t)B * sizeof(int));
        be->embedding_forward(be, m->cls, m->cls_pos, h, B, C, 0, N);
        be->matmul_forward(be, m->pool_pre, m->cls, P(m, m->p_pooler), P(m, m->p_pooler + 1), B, C, C);
        be->tanh_forward(be, m->pool, m->pool_pre, (size_t)B * C);
        be->matmul_forward(be, m->sop_logits, m->pool, P(m, m->p_binary), P(m, m->p_binary + 1), B, C, 2);
        be->xent_max(be, m->s_rowmax, m->sop_logits, B, 2, 0, 2);
        be->xent_sumexp(be, m->s_sumexp, m->s_tlogit, m->sop_logits, m->s_rowmax, m->sop_labels, B, 2, 0, 2);
        be->xent_loss(be, m->s_losses, m->s_rowmax, m->s_sumexp, m->s_tlogit, B);
        be->copy_to_host(be, m->h_losses, m->s_losses, (size_t)B * sizeof(float));
        be->copy_to_host(be, m->h_tlogit, m->s_tlogit, (size_t)B * sizeof(float));
        be->copy_to_host(be, m->h_rowmax, m->s_rowmax, (size_t)B * sizeof(float));
        if (be->sync(be, err) != 0) return -1;
        double s = 0;
        for (int i = 0; i < B; i++) {
            s += m->h_losses[i];
            res->sop_correct += m->h_tlogit[i] >= m->h_rowmax[i];
        }
        res->sop_loss = s / B;
    }
    return be->sync(be, err);
}

void bert_hidden_states(bert_model_t *m, float *out) {
    m->be->copy_to_host(m->be, out, encoder_out(m), (size_t)m->cur_B * m->cur_T * m->C * sizeof(float));
}

void bert_mlm_logits(bert_model_t *m, float *out) {
    m->be->copy_to_host(m->be, out, m->mlm_logits, (size_t)m->cur_M * m->V_local * sizeof(float));
}

/* ---------------------------------------------------------------- backward */

static void grad_ready(bert_model_t *m, int first, int last) {
    if (m->grad_ready && first <= last) m->grad_ready(m->grad_ready_ctx, first, last);
}

static void layer_done(void *ctx, int l) {
    bert_model_t *m = ctx;
    int first = m->p_layers + l * TF_LAYER_PARAMS;
    grad_ready(m, first, first + TF_LAYER_PARAMS - 1);
}

int bert_backward(bert_model_t *m, float grad_scale, uint32_t step, err_t *err) {
    backend_t *be = m->be;
    const bert_config_t *c = &m->cfg;
    int B = m->cur_B, T = m->cur_T, N = B * T, C = m->C, n = m->cur_M, L = c->num_layers;
    size_t NC = (size_t)N * C;
    setup_ctx(m, B, T, m->cur_train, step);
    /* gradient of the encoder output: pre-LN collects it apart, post-LN in dresid */
    float *dh = c->pre_ln ? m->tf.dsum : m->dresid;
    be->memset_zero(be, dh, NC * sizeof(float));

    if (n > 0) {
        for (int i = 0; i < n; i++) m->h_dloss[i] = grad_scale / (float)n;
        be->copy_to_device(be, m->dloss, m->h_dloss, (size_t)n * sizeof(float));
        tp_vocab_cross_entropy_backward(be, m->mlm_logits, m->rowmax, m->sumexp, m->mlm_labels, m->dloss, n,
                                        m->V_local, m->v_start, c->vocab_size);
        size_t nc = (size_t)n * C * sizeof(float);
        if (tp_column_linear_backward(m->tp, be, m->dmlm, G(m, m->p_wte), G(m, m->p_lm_bias), m->mlm_logits,
                                      m->mlm_ln, P(m, m->p_wte), n, C, m->V_local, err) != 0)
            return -1;
        be->memset_zero(be, m->dmlm2, nc);
        be->layernorm_backward(be, m->dmlm2, G(m, m->p_lm_ln), G(m, m->p_lm_ln + 1), m->dmlm, m->mlm_act,
                               P(m, m->p_lm_ln), m->mlm_mean, m->mlm_rstd, n, C);
        be->memset_zero(be, m->dmlm, nc);
        be->gelu_backward(be, m->dmlm, m->mlm_dense, m->dmlm2, (size_t)n * C, 0);
        be->memset_zero(be, m->dmlm2, nc);
        be->matmul_backward(be, m->dmlm2, G(m, m->p_lm_dense), G(m, m->p_lm_dense + 1), m->dmlm, m->mlm_in,
                            P(m, m->p_lm_dense), n, C, C);
        be->embedding_backward(be, dh, m->dmlm2, m->mlm_pos, n, C, 0, N); /* scatter rows back */
    }
    if (m->cur_sop) {
        for (int i = 0; i < B; i++) m->h_dloss[i] = grad_scale / (float)B;
        be->copy_to_device(be, m->s_dloss, m->h_dloss, (size_t)B * sizeof(float));
        be->xent_backward(be, m->sop_logits, m->s_rowmax, m->s_sumexp, m->sop_labels, m->s_dloss, B, 2, 0, 2);
        size_t bc = (size_t)B * C * sizeof(float);
        be->memset_zero(be, m->dcls, bc);
        be->matmul_backward(be, m->dcls, G(m, m->p_binary), G(m, m->p_binary + 1), m->sop_logits, m->pool,
                            P(m, m->p_binary), B, C, 2);
        be->memset_zero(be, m->dcls2, bc);
        be->tanh_backward(be, m->dcls2, m->pool, m->dcls, (size_t)B * C);
        be->memset_zero(be, m->dcls, bc);
        be->matmul_backward(be, m->dcls, G(m, m->p_pooler), G(m, m->p_pooler + 1), m->dcls2, m->cls,
                            P(m, m->p_pooler), B, C, C);
        be->embedding_backward(be, dh, m->dcls, m->cls_pos, B, C, 0, N);
    }
    int heads = c->binary_head ? m->p_pooler : m->p_lm_dense;
    grad_ready(m, heads, m->store.n - 1);
    if (c->pre_ln) {
        be->memset_zero(be, m->dresid, NC * sizeof(float));
        be->layernorm_backward(be, m->dresid, G(m, m->p_final_ln), G(m, m->p_final_ln + 1), dh, m->stack.resid[L],
                               P(m, m->p_final_ln), m->final_mean, m->final_rstd, N, C);
        grad_ready(m, m->p_final_ln, m->p_final_ln + 1);
    }
    if (tf_stack_backward(&m->tf, &m->stack, m->w_layers, m->g_layers, m->dresid, layer_done, m, err) != 0)
        return -1;
    /* embeddings: dropout, the embedding LayerNorm (post-LN), then the three tables */
    float *dsum = m->tf.dtmp;
    be->memset_zero(be, dsum, NC * sizeof(float));
    be->dropout_backward(be, dsum, m->dresid, NC, m->tf.hidden_dropout, tf_dropout_key(m->seed, 0, 0, step));
    if (!c->pre_ln) {
        be->memset_zero(be, m->tf.dsum, NC * sizeof(float));
        be->layernorm_backward(be, m->tf.dsum, G(m, m->p_emb_ln), G(m, m->p_emb_ln + 1), dsum, m->emb_sum,
                               P(m, m->p_emb_ln), m->emb_mean, m->emb_rstd, N, C);
        dsum = m->tf.dsum;
    }
    tp_vocab_embedding_backward(be, G(m, m->p_wte), dsum, m->tokens, N, C, m->v_start, m->v_start + m->V_local);
    be->position_backward(be, G(m, m->p_wpe), dsum, B, T, C);
    be->embedding_backward(be, G(m, m->p_type), dsum, m->types, N, C, 0, c->type_vocab_size);
    grad_ready(m, 0, m->p_layers - 1);
    return 0;
}
