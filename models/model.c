/* model.c — the GPT and BERT implementations of the model interface and the
 * preset lookup (see model.h). */
#include "model.h"

#include <string.h>

#include "bert.h"
#include "gpt.h"

const model_ops_t *model_preset(const char *preset, void *cfg, err_t *err) {
    static const model_ops_t *const models[] = {&gpt_model_ops, &bert_model_ops};
    for (size_t k = 0; k < sizeof models / sizeof models[0]; k++) {
        err_t ignored;
        memset(cfg, 0, MODEL_CONFIG_MAX);
        if (models[k]->config_preset(cfg, preset, &ignored) == 0) return models[k];
    }
    err_set(err, "--model: unknown preset '%s' (known: %s %s)", preset, gpt_preset_names(), bert_preset_names());
    return NULL;
}

/* ---------------------------------------------------------------- GPT */

static void gpt_defaults_(void *c) { gpt_config_defaults(c); }
static int gpt_preset_(void *c, const char *p, err_t *err) { return gpt_config_preset(c, p, err); }
static int gpt_validate_(const void *c, int tp, err_t *err) { return gpt_config_validate(c, tp, err); }
static int gpt_padded_(const void *c, int tp) { return gpt_padded_vocab(c, tp); }
static int64_t gpt_count_(const void *c, int tp) { return gpt_param_count(c, tp); }
static double gpt_memory_(const void *c, int B, int T, int tp) { return (double)gpt_memory_bytes(c, B, T, tp); }
static void gpt_shape_(const void *cfg, model_shape_t *s) {
    const gpt_config_t *c = cfg;
    *s = (model_shape_t){c->num_layers, c->hidden_size, c->num_attention_heads, c->ffn_hidden_size, c->seq_length,
                         c->vocab_size, c->hidden_dropout, &c->recompute, c->use_flash_attn};
}
static int gpt_create_(void *m, const void *c, backend_t *be, int B, int T, const model_parallel_t *par, err_t *err) {
    return gpt_create(m, c, be, B, T, par, err);
}
static void gpt_destroy_(void *m) { gpt_destroy(m); }
static void gpt_init_(void *m, uint64_t seed) { gpt_init_weights(m, seed); }
static void gpt_seed_(void *m, uint64_t seed) { ((gpt_model_t *)m)->seed = seed; }
static param_store_t *gpt_store_(void *m) { return &((gpt_model_t *)m)->store; }
static void gpt_ready_(void *m, model_grad_ready_fn fn, void *ctx) {
    ((gpt_model_t *)m)->grad_ready = fn, ((gpt_model_t *)m)->grad_ready_ctx = ctx;
}
static void gpt_zero_(void *m) { gpt_zero_grads(m); }
static int gpt_forward_(void *m, const void *batch, int train, uint32_t step, double *loss, void *detail, err_t *err) {
    const gpt_batch_t *b = batch;
    (void)detail;
    return gpt_forward(m, b->tokens, b->targets, b->mask, b->B, b->T, train, step, loss, err);
}
static int gpt_backward_(void *m, float scale, uint32_t step, err_t *err) { return gpt_backward(m, scale, step, err); }

const model_ops_t gpt_model_ops = {
    "gpt", sizeof(gpt_config_t), sizeof(gpt_model_t), gpt_defaults_, gpt_preset_, gpt_preset_names, gpt_validate_,
    gpt_shape_, gpt_padded_, gpt_count_, gpt_memory_, gpt_create_, gpt_destroy_, gpt_init_, gpt_seed_, gpt_store_,
    gpt_ready_, gpt_zero_, gpt_forward_, gpt_backward_,
};

/* ---------------------------------------------------------------- BERT */

static void bert_defaults_(void *c) { bert_config_defaults(c); }
static int bert_preset_(void *c, const char *p, err_t *err) { return bert_config_preset(c, p, err); }
static int bert_validate_(const void *c, int tp, err_t *err) { return bert_config_validate(c, tp, err); }
static int bert_padded_(const void *c, int tp) { return bert_padded_vocab(c, tp); }
static int64_t bert_count_(const void *c, int tp) { return bert_param_count(c, tp); }
/* weights and gradients (this rank's share of the parameters) and the activation arena */
static double bert_memory_(const void *c, int B, int T, int tp) {
    double params = (double)bert_param_count(c, tp) / tp;
    return 2.0 * params * sizeof(float) + (double)bert_activation_bytes(c, B, T, tp);
}
static void bert_shape_(const void *cfg, model_shape_t *s) {
    const bert_config_t *c = cfg;
    *s = (model_shape_t){c->num_layers, c->hidden_size, c->num_attention_heads, c->ffn_hidden_size, c->seq_length,
                         c->vocab_size, c->hidden_dropout, &c->recompute, c->use_flash_attn};
}
static int bert_create_(void *m, const void *c, backend_t *be, int B, int T, const model_parallel_t *par, err_t *err) {
    return bert_create(m, c, be, B, T, par, err);
}
static void bert_destroy_(void *m) { bert_destroy(m); }
static void bert_init_(void *m, uint64_t seed) { bert_init_weights(m, seed); }
static void bert_seed_(void *m, uint64_t seed) { ((bert_model_t *)m)->seed = seed; }
static param_store_t *bert_store_(void *m) { return &((bert_model_t *)m)->store; }
static void bert_ready_(void *m, model_grad_ready_fn fn, void *ctx) {
    ((bert_model_t *)m)->grad_ready = fn, ((bert_model_t *)m)->grad_ready_ctx = ctx;
}
static void bert_zero_(void *m) { bert_zero_grads(m); }
/* the loss is the masked-LM loss plus the sentence loss */
static int bert_forward_(void *m, const void *batch, int train, uint32_t step, double *loss, void *detail, err_t *err) {
    bert_result_t r, *out = detail ? detail : &r;
    if (bert_forward(m, batch, train, step, out, err) != 0) return -1;
    *loss = out->mlm_loss + out->sop_loss;
    return 0;
}
static int bert_backward_(void *m, float scale, uint32_t step, err_t *err) { return bert_backward(m, scale, step, err); }

const model_ops_t bert_model_ops = {
    "bert", sizeof(bert_config_t), sizeof(bert_model_t), bert_defaults_, bert_preset_, bert_preset_names,
    bert_validate_, bert_shape_, bert_padded_, bert_count_, bert_memory_, bert_create_, bert_destroy_, bert_init_,
    bert_seed_, bert_store_, bert_ready_, bert_zero_, bert_forward_, bert_backward_,
};

_Static_assert(sizeof(gpt_config_t) <= MODEL_CONFIG_MAX && sizeof(bert_config_t) <= MODEL_CONFIG_MAX,
               "MODEL_CONFIG_MAX must hold every model's configuration");
