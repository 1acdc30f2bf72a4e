/* bert.h — BERT (Devlin et al. 2019) as Megatron-LM trains it: a bidirectional
 * encoder with a padding mask, learned position and token-type embeddings, GELU
 * (erf form), a tanh pooler, the masked-LM head (dense + GELU + LayerNorm, decoder
 * tied to the word embedding, output bias) computed only at the masked positions,
 * and a binary sentence head (sentence-order or next-sentence prediction).
 *
 * Both residual orderings: post-LN (original BERT: embedding LayerNorm, LN after
 * each residual sum) and pre-LN (Megatron's rearrangement: LN before each
 * sublayer, a final LayerNorm; no embedding LayerNorm), which the Megatron-LM
 * paper found necessary beyond 336M parameters.
 *
 * Tensor parallel like GPT: heads split, column/row-parallel MLP, vocab-parallel
 * word embedding, MLM decoder (and its bias) and cross-entropy; the pooler and
 * the heads' small dense layers are replicated. */
#ifndef MEGAC_BERT_H
#define MEGAC_BERT_H

#include <stdint.h>

#include "../framework/backend.h"
#include "../framework/error.h"
#include "model.h"
#include "params.h"
#include "transformer.h"

typedef struct bert_config {
    int num_layers, hidden_size, num_attention_heads, ffn_hidden_size; /* ffn 0: 4 x hidden */
    int seq_length, max_position_embeddings;
    int vocab_size, type_vocab_size, make_vocab_size_divisible_by;
    int max_predictions_per_seq; /* masked positions per sequence the buffers hold */
    int pre_ln;                  /* 1: Megatron's ordering; 0: original post-LN */
    int binary_head;             /* 1: sentence-order / next-sentence head and pooler */
    float hidden_dropout, attention_dropout, layernorm_epsilon, init_method_std;
    /* Activation recomputation (tf_recompute_parse). A training-time choice that
     * changes no result: not part of the text form. Zeroed by the defaults: none. */
    tf_recompute_t recompute;
    /* Megatron's --use-flash-attn: the fused attention ops (no [B,NH,T,T] tensors
     * kept). Also a training-time choice: not part of the text form. */
    int use_flash_attn;
} bert_config_t;

/* BERT-Base with BERT's vocabulary (30,522), sequence 512, post-LN. */
void bert_config_defaults(bert_config_t *c);
/* "bert-base" (12, 768, 12), "bert-large" (24, 1024, 16), "bert-3.9b" (48, 2560, 40; pre-LN) */
int bert_config_preset(bert_config_t *c, const char *name, err_t *err);
const char *bert_preset_names(void);
int bert_config_validate(const bert_config_t *c, int tp_size, err_t *err);
int bert_padded_vocab(const bert_config_t *c, int tp_size);
int64_t bert_param_count(const bert_config_t *c, int tp_size);
int bert_config_to_text(const bert_config_t *c, char *buf, size_t len);
int bert_config_from_text(bert_config_t *c, const char *text, err_t *err);
/* Bytes of the activation arena bert_create would allocate (kept activations and
 * workspaces); it shrinks with cfg->recompute and cfg->use_flash_attn. */
size_t bert_activation_bytes(const bert_config_t *cfg, int B, int T, int tp_size);
/* The parameter list bert_create declares (names, global shapes, TP splits, in
 * checkpoint order) for TP size tp_size, without allocating the tensors; 0 or -1
 * (out of host memory). Free with param_list_free. */
int bert_param_list(const bert_config_t *cfg, int tp_size, param_list_t *pl);

/* One micro-batch, host arrays. */
typedef struct bert_batch {
    int B, T;
    const int *tokens, *types;  /* [B*T] */
    const float *pad_mask;      /* [B*T]: 1 real token, 0 padding (never attended) */
    int n_mlm;                  /* masked positions in the batch */
    const int *mlm_pos;         /* [n_mlm] flat positions b*T + t */
    const int *mlm_labels;      /* [n_mlm] original token ids */
    const int *sop_labels;      /* [B] sentence labels (0/1), or NULL: no sentence loss */
} bert_batch_t;

typedef struct bert_result {
    double mlm_loss, sop_loss;  /* means over masked positions / sequences */
    int mlm_correct, sop_correct;
} bert_result_t;

typedef struct bert_model {
    bert_config_t cfg;
    backend_t *be;
    comm_t *tp;
    int tp_rank, tp_size;
    int B, T, M;                /* buffers: micro-batch, sequence, masked rows (B x max predictions) */
    int C, NH_local, HS, F_local, V_padded, V_local, v_start;
    param_store_t store;        /* parameters and gradients (params.h) */
    void *act_block;
    size_t act_bytes;           /* its size */
    model_grad_ready_fn grad_ready;
    void *grad_ready_ctx;
    /* parameter views (index of each named tensor in params) */
    int p_wte, p_wpe, p_type, p_emb_ln, p_layers, p_final_ln, p_pooler, p_lm_dense, p_lm_ln, p_lm_bias, p_binary;
    tf_layer_t *w_layers, *g_layers;
    tf_ctx_t tf;
    /* activations */
    tf_stack_t stack;           /* the layers' inputs (resid[l], [B*T, C]; resid[L] the last output) and activations */
    float *emb_sum, *emb_mean, *emb_rstd;     /* post-LN embedding LayerNorm */
    float *final_ln, *final_mean, *final_rstd; /* pre-LN final LayerNorm ([B*T, C]) */
    float *mlm_in, *mlm_dense, *mlm_act, *mlm_ln, *mlm_mean, *mlm_rstd; /* [M, C] */
    float *mlm_logits;          /* [M, V_local] */
    float *cls, *pool_pre, *pool, *sop_logits; /* [B, C], [B, C], [B, C], [B, 2] */
    float *rowmax, *sumexp, *tlogit, *losses, *dloss; /* [M] (sumexp, tlogit adjacent) */
    float *s_rowmax, *s_sumexp, *s_tlogit, *s_losses, *s_dloss; /* [B] */
    float *dresid, *dmlm, *dmlm2, *dcls, *dcls2;
    float *key_mask;            /* [B*T] */
    int *tokens, *types, *mlm_pos, *mlm_labels, *cls_pos, *sop_labels;
    /* host staging */
    float *h_losses, *h_tlogit, *h_rowmax, *h_dloss;
    int *h_cls;
    int cur_B, cur_T, cur_M, cur_train, cur_sop;
    uint64_t seed;
} bert_model_t;

int bert_create(bert_model_t *m, const bert_config_t *cfg, backend_t *be, int B, int T,
                const model_parallel_t *par, err_t *err);
void bert_destroy(bert_model_t *m);
void bert_init_weights(bert_model_t *m, uint64_t seed);
/* MLM + sentence losses of a micro-batch (sentence loss only with sop_labels). */
int bert_forward(bert_model_t *m, const bert_batch_t *b, int train, uint32_t step, bert_result_t *res,
                 err_t *err);
/* gradients of grad_scale * (mlm_loss + sop_loss) of the last forward, accumulated */
int bert_backward(bert_model_t *m, float grad_scale, uint32_t step, err_t *err);
void bert_zero_grads(bert_model_t *m);
/* The encoder's output [B*T, C] of the last forward, to host. */
void bert_hidden_states(bert_model_t *m, float *out);
/* The masked-LM logits [n_mlm, V_local] of the last forward's masked positions
 * (this rank's vocabulary slice from v_start), to host. */
void bert_mlm_logits(bert_model_t *m, float *out);

#endif
