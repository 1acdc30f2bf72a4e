/* gpt_checkpoint.c — GPT parameters and configuration in checkpoints (see gpt_checkpoint.h). */
#include "gpt_checkpoint.h"

#include <stdio.h>
#include <string.h>

void gpt_ckpt_params(const gpt_model_t *m, ckpt_param_t *params) {
    for (int k = 0; k < m->num_params; k++) {
        const tensor_t *t = &m->params[k];
        params[k].t = t;
        params[k].real_extent = t->split_dim >= 0 ? t->global_shape[t->split_dim] : 0;
        params[k].pad_multiple = 1;
        int64_t valid = m->plist.specs[k].valid_rows;
        if (valid > 0) { /* the vocabulary: rows past it are padding, to a multiple of this x TP */
            params[k].real_extent = valid;
            params[k].pad_multiple = m->cfg.make_vocab_size_divisible_by;
        }
    }
}

void gpt_ckpt_offsets(const gpt_model_t *m, size_t *offset) {
    for (int k = 0; k < m->num_params; k++) offset[k] = (size_t)((const float *)m->params[k].data - m->param_block);
}

int gpt_ckpt_put_config(ckpt_meta_t *meta, const gpt_config_t *cfg, err_t *err) {
    snprintf(meta->model_type, sizeof meta->model_type, "gpt");
    if (gpt_config_to_text(cfg, meta->model_config, sizeof meta->model_config) != 0)
        return err_set(err, "the model configuration does not fit the metadata record");
    return 0;
}

int gpt_ckpt_get_config(const ckpt_meta_t *meta, gpt_config_t *cfg, err_t *err) {
    if (strcmp(meta->model_type, "gpt") != 0) return err_set(err, "holds a '%s' model, not gpt", meta->model_type);
    if (gpt_config_from_text(cfg, meta->model_config, err) != 0) return err_prefix(err, "model configuration");
    if (gpt_config_validate(cfg, 1, err) != 0) return err_prefix(err, "model configuration");
    return 0;
}

static int ffn(const gpt_config_t *c) { return c->ffn_hidden_size > 0 ? c->ffn_hidden_size : 4 * c->hidden_size; }

int gpt_ckpt_check_config(const ckpt_meta_t *meta, const gpt_config_t *cfg, err_t *err) {
    gpt_config_t c;
    if (gpt_ckpt_get_config(meta, &c, err) != 0) return -1;
    struct { const char *flag; long long ckpt, run; } f[] = {
        {"--num-layers", c.num_layers, cfg->num_layers},
        {"--hidden-size", c.hidden_size, cfg->hidden_size},
        {"--num-attention-heads", c.num_attention_heads, cfg->num_attention_heads},
        {"--ffn-hidden-size", ffn(&c), ffn(cfg)},
        {"--max-position-embeddings", c.max_position_embeddings, cfg->max_position_embeddings},
        {"the vocabulary size (tokenizer)", c.vocab_size, cfg->vocab_size},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (f[i].ckpt != f[i].run)
            return err_set(err, "the checkpoint's model has %s %lld, this run %lld", f[i].flag, f[i].ckpt, f[i].run);
    if (c.layernorm_epsilon != cfg->layernorm_epsilon)
        return err_set(err, "the checkpoint's model has --layernorm-epsilon %g, this run %g", (double)c.layernorm_epsilon,
                       (double)cfg->layernorm_epsilon);
    return 0;
}
