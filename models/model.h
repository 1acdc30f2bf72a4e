/* model.h — the interface every model implements (GPT, BERT), as ggml's
 * backends implement one table of function pointers: the configuration and its
 * presets, sizes computed without allocating, and an instance's parameter store,
 * forward and backward. Code that serves every model (the training job in
 * training/, megac bench) calls a model only through a model_ops_t.
 *
 * A model's configuration (gpt_config_t, bert_config_t) and instance
 * (gpt_model_t, bert_model_t) are passed as void pointers of config_size and
 * model_size bytes; a batch is the model's own (gpt_batch_t, bert_batch_t). */
#ifndef MEGAC_MODEL_H
#define MEGAC_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "../framework/backend.h"
#include "../framework/error.h"
#include "../framework/tensor.h"
#include "params.h"
#include "transformer.h"

/* The shape of a configuration, for banners and FLOP counts. */
typedef struct model_shape {
    int num_layers, hidden_size, num_attention_heads, ffn_hidden_size, seq_length, vocab_size;
    float hidden_dropout;
    const tf_recompute_t *recompute;
    int use_flash_attn;
} model_shape_t;

typedef struct model_ops {
    const char *name;               /* "gpt", "bert": the checkpoint's model type, `megac train <name>` */
    size_t config_size, model_size;
    /* configuration */
    void (*config_defaults)(void *cfg);
    int (*config_preset)(void *cfg, const char *preset, err_t *err);
    const char *(*preset_names)(void);
    int (*config_validate)(const void *cfg, int tp_size, err_t *err);
    void (*shape)(const void *cfg, model_shape_t *out);
    int (*padded_vocab)(const void *cfg, int tp_size);
    /* exact global parameter count (padded vocabulary) */
    int64_t (*param_count)(const void *cfg, int tp_size);
    /* bytes of device memory one rank's instance takes: parameters, gradients, activations */
    double (*memory_bytes)(const void *cfg, int B, int T, int tp_size);
    /* an instance for micro-batch B and sequence T; par may be NULL (one rank) */
    int (*create)(void *m, const void *cfg, backend_t *be, int B, int T, const model_parallel_t *par, err_t *err);
    void (*destroy)(void *m);
    /* the weights from `seed` (identical for any TP size) */
    void (*init_weights)(void *m, uint64_t seed);
    /* the key of dropout (init_weights sets it too) */
    void (*set_seed)(void *m, uint64_t seed);
    param_store_t *(*store)(void *m);
    /* called during backward as parameter ranges get their final gradients (NULL: none) */
    void (*set_grad_ready)(void *m, model_grad_ready_fn fn, void *ctx);
    void (*zero_grads)(void *m);
    /* the loss of one micro-batch (dropout on with `train`, keyed by step); the
     * model's own result into detail (bert_result_t) when not NULL */
    int (*forward)(void *m, const void *batch, int train, uint32_t step, double *loss, void *detail, err_t *err);
    /* gradients of grad_scale * loss of the last forward, accumulated */
    int (*backward)(void *m, float grad_scale, uint32_t step, err_t *err);
} model_ops_t;

extern const model_ops_t gpt_model_ops, bert_model_ops;

/* The model whose presets include `preset`, its configuration filled into cfg
 * (room for any model's: MODEL_CONFIG_MAX bytes); NULL with a message naming
 * every preset when none does. */
#define MODEL_CONFIG_MAX 256
const model_ops_t *model_preset(const char *preset, void *cfg, err_t *err);

#endif
