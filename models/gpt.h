/* gpt.h — the GPT-2 architecture (Megatron-LM's GPT), forward and backward.
 *
 * Pre-LayerNorm blocks (LN -> fused QKV -> attention -> projection -> dropout ->
 * residual; LN -> h->ffn -> GELU(tanh) -> ffn->h -> dropout -> residual), a final
 * LayerNorm, and an LM head tied to the token embedding. The vocabulary is padded
 * to a multiple of make_vocab_size_divisible_by * TP; padded columns never take
 * part in the softmax.
 *
 * Sizes are "local" where tensor parallelism splits them (heads, FFN, vocabulary);
 * with tp_size == 1 local equals global. Parameters, gradients and activations
 * each live in one allocation made by gpt_create. */
#ifndef MEGAC_GPT_H
#define MEGAC_GPT_H

#include <stdint.h>

#include "../framework/backend.h"
#include "../parallel/comm.h"
#include "model.h"
#include "params.h"
#include "transformer.h"
#include "../framework/error.h"
#include "../framework/tensor.h"

typedef struct gpt_config {
    int num_layers;
    int hidden_size;
    int num_attention_heads;
    int ffn_hidden_size;           /* 4 * hidden by default */
    int seq_length;
    int max_position_embeddings;
    int vocab_size;                /* real vocabulary, before padding */
    int make_vocab_size_divisible_by;
    float hidden_dropout;
    float attention_dropout;
    float layernorm_epsilon;
    float init_method_std;
    /* Activation recomputation (tf_recompute_parse). A training-time choice that
     * changes no result: not part of the text form. Zeroed by the defaults: none. */
    tf_recompute_t recompute;
    /* Megatron's --use-flash-attn: the fused attention ops (no [B,NH,T,T] tensors
     * kept). Also a training-time choice: not part of the text form. */
    int use_flash_attn;
} gpt_config_t;

/* Megatron-LM defaults for the fields a preset does not set. */
void gpt_config_defaults(gpt_config_t *c);
/* Fills c from a preset name ("gpt2-124m", "gpt-8.3b", ...); -1 if unknown. */
int gpt_config_preset(gpt_config_t *c, const char *name, err_t *err);
/* Space-separated list of the preset names, for --help. */
const char *gpt_preset_names(void);
/* Checks every field and divisibility by tp_size; names the flag at fault. */
int gpt_config_validate(const gpt_config_t *c, int tp_size, err_t *err);
int gpt_padded_vocab(const gpt_config_t *c, int tp_size);
/* Exact global parameter count (padded vocabulary), computed without allocating. */
int64_t gpt_param_count(const gpt_config_t *c, int tp_size);
/* "key=value" lines and back (the interim weight file stores the config so). */
int gpt_config_to_text(const gpt_config_t *c, char *buf, size_t len);
int gpt_config_from_text(gpt_config_t *c, const char *text, err_t *err);

typedef struct gpt_weights {
    float *wte;                 /* [V_local, C] */
    float *wpe;                 /* [max_pos, C] */
    tf_layer_t *layers;
    float *lnf_w, *lnf_b;
} gpt_weights_t;

/* Activations kept for backward and workspaces. */
typedef struct gpt_acts {
    tf_stack_t stack;           /* the layers' inputs (resid[l], [B,T,C]; resid[L] final) and activations */
    float *lnf, *lnf_mean, *lnf_rstd;
    float *logits;              /* [B,T,V_local]; becomes dlogits in backward */
    float *rowmax, *sumexp, *tlogit, *losses, *dloss; /* [B*T]; tlogit follows sumexp */
    float *dresid;              /* [B,T,C] the residual stream's gradient */
    int *tokens, *targets;      /* [B*T] on the device */
} gpt_acts_t;

typedef model_parallel_t gpt_parallel_t;

typedef struct gpt_model {
    gpt_config_t cfg;
    backend_t *be;
    comm_t *tp;                 /* NULL or a size-1 group: no tensor parallelism */
    int tp_rank, tp_size;
    int B, T;                   /* the micro-batch and sequence the buffers hold */
    int C, NH_local, HS, F_local, V_padded, V_local, v_start;
    param_store_t store;        /* parameters and gradients (params.h) */
    model_grad_ready_fn grad_ready;
    void *grad_ready_ctx;
    void *act_block;
    size_t act_bytes;           /* its size */
    gpt_weights_t w, g;
    gpt_acts_t a;
    tf_ctx_t tf;                /* layer shapes and shared workspaces */
    /* host staging for one micro-batch */
    int *h_tokens, *h_targets;
    float *h_mask, *h_losses, *h_dloss;
    int cur_B, cur_T;           /* shape of the last forward */
    int cur_train;              /* whether the last forward used dropout */
    uint64_t seed;
} gpt_model_t;

/* Allocates everything for micro-batch B and sequence T (T <= max positions).
 * par may be NULL (one rank, no padding). */
int gpt_create(gpt_model_t *m, const gpt_config_t *cfg, backend_t *be, int B, int T,
               const gpt_parallel_t *par, err_t *err);
void gpt_destroy(gpt_model_t *m);
/* Bytes of device memory gpt_create would take (parameters + grads + activations). */
size_t gpt_memory_bytes(const gpt_config_t *cfg, int B, int T, int tp_size);
/* Of which the activation arena (kept activations and workspaces); it shrinks with
 * cfg->recompute and cfg->use_flash_attn. */
size_t gpt_activation_bytes(const gpt_config_t *cfg, int B, int T, int tp_size);
/* The parameter list gpt_create declares (names, global shapes, TP splits, in
 * checkpoint order) for TP size tp_size, without allocating the tensors; 0 or -1
 * (out of host memory). Free with param_list_free. */
int gpt_param_list(const gpt_config_t *cfg, int tp_size, param_list_t *pl);

/* N(0, std) weights by global position (identical for any TP size), output
 * projections scaled by 1/sqrt(2 L), biases 0, LayerNorm 1/0, padded vocab rows 0. */
void gpt_init_weights(gpt_model_t *m, uint64_t seed);

/* Forward over tokens[B*T] (host). With targets, computes the masked mean loss
 * (mask NULL = all ones) into *loss. `train` enables dropout keyed by `step`.
 * B <= m->B and T <= m->T. */
int gpt_forward(gpt_model_t *m, const int *tokens, const int *targets, const float *mask, int B,
                int T, int train, uint32_t step, double *loss, err_t *err);
/* Backward of the last forward; accumulates into the gradients d(grad_scale * loss). */
int gpt_backward(gpt_model_t *m, float grad_scale, uint32_t step, err_t *err);
void gpt_zero_grads(gpt_model_t *m);
/* One micro-batch for the model interface (model.h): gpt_forward's arguments. */
typedef struct gpt_batch {
    const int *tokens, *targets; /* [B*T]; targets NULL: no loss */
    const float *mask;           /* [B*T] or NULL: every position counts */
    int B, T;
} gpt_batch_t;

/* Copies the logits of position t of batch row b (local vocab slice) to host. */
void gpt_logits_at(gpt_model_t *m, int b, int t, float *out);

#endif
