/* gpt_config.c — GPT configuration: Megatron defaults, presets, validation,
 * parameter count, and a text form for weight files. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../framework/config_text.h"
#include "gpt.h"
#include "model_sizes.h"

void gpt_config_defaults(gpt_config_t *c) {
    memset(c, 0, sizeof *c);
    c->num_layers = 12;
    c->hidden_size = 768;
    c->num_attention_heads = 12;
    c->ffn_hidden_size = 0; /* 0: 4 * hidden */
    c->seq_length = 1024;
    c->max_position_embeddings = 1024;
    c->vocab_size = 50257;
    c->make_vocab_size_divisible_by = 128;
    c->hidden_dropout = 0.1f;
    c->attention_dropout = 0.1f;
    c->layernorm_epsilon = 1e-5f;
    c->init_method_std = 0.02f;
}

typedef struct preset {
    const char *name;
    int layers, hidden, heads, seq;
} preset_t;

/* GPT-2 small/medium, and the Megatron-LM paper's scaling configurations
 * (Shoeybi et al. 2019, Table 1), all with GPT-2's 50,257-token vocabulary. */
static const preset_t presets[] = {
    {"gpt2-124m", 12, 768, 12, 1024},  {"gpt2-345m", 24, 1024, 16, 1024},
    {"gpt-1.2b", 40, 1536, 16, 1024},  {"gpt-2.5b", 54, 1920, 20, 1024},
    {"gpt-4.2b", 64, 2304, 24, 1024},  {"gpt-8.3b", 72, 3072, 32, 1024},
};

const char *gpt_preset_names(void) { return "gpt2-124m gpt2-345m gpt-1.2b gpt-2.5b gpt-4.2b gpt-8.3b"; }

int gpt_config_preset(gpt_config_t *c, const char *name, err_t *err) {
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++) {
        if (strcmp(presets[i].name, name) == 0) {
            gpt_config_defaults(c);
            c->num_layers = presets[i].layers;
            c->hidden_size = presets[i].hidden;
            c->num_attention_heads = presets[i].heads;
            c->seq_length = c->max_position_embeddings = presets[i].seq;
            return 0;
        }
    }
    return err_set(err, "--preset: unknown preset '%s' (known: %s)", name, gpt_preset_names());
}

static int ffn_of(const gpt_config_t *c) {
    return c->ffn_hidden_size > 0 ? c->ffn_hidden_size : 4 * c->hidden_size;
}

int gpt_config_validate(const gpt_config_t *c, int tp_size, err_t *err) {
    if (c->num_layers <= 0) return err_set(err, "--num-layers must be positive (got %d)", c->num_layers);
    if (c->hidden_size <= 0) return err_set(err, "--hidden-size must be positive (got %d)", c->hidden_size);
    if (c->num_attention_heads <= 0)
        return err_set(err, "--num-attention-heads must be positive (got %d)", c->num_attention_heads);
    if (c->hidden_size % c->num_attention_heads != 0)
        return err_set(err, "--num-attention-heads %d does not divide --hidden-size %d",
                       c->num_attention_heads, c->hidden_size);
    if (c->ffn_hidden_size < 0)
        return err_set(err, "--ffn-hidden-size must be positive (got %d)", c->ffn_hidden_size);
    if (c->seq_length <= 0) return err_set(err, "--seq-length must be positive (got %d)", c->seq_length);
    if (c->max_position_embeddings < c->seq_length)
        return err_set(err, "--max-position-embeddings %d is smaller than --seq-length %d",
                       c->max_position_embeddings, c->seq_length);
    if (c->vocab_size <= 0) return err_set(err, "vocabulary size must be positive (got %d)", c->vocab_size);
    if (c->make_vocab_size_divisible_by <= 0)
        return err_set(err, "--make-vocab-size-divisible-by must be positive (got %d)",
                       c->make_vocab_size_divisible_by);
    model_sizes_t sz = {c->num_layers, c->hidden_size, c->num_attention_heads, c->ffn_hidden_size, c->seq_length,
                        c->max_position_embeddings, c->vocab_size, c->make_vocab_size_divisible_by, 0};
    if (model_sizes_validate(&sz, tp_size > 0 ? tp_size : 1, err) != 0) return -1;
    if (!(c->hidden_dropout >= 0.0f && c->hidden_dropout < 1.0f))
        return err_set(err, "--hidden-dropout must be in [0, 1) (got %g)", c->hidden_dropout);
    if (!(c->attention_dropout >= 0.0f && c->attention_dropout < 1.0f))
        return err_set(err, "--attention-dropout must be in [0, 1) (got %g)", c->attention_dropout);
    if (!(c->layernorm_epsilon > 0.0f))
        return err_set(err, "--layernorm-epsilon must be positive (got %g)", c->layernorm_epsilon);
    if (!(c->init_method_std > 0.0f))
        return err_set(err, "--init-method-std must be positive (got %g)", c->init_method_std);
    if (tp_size <= 0) return err_set(err, "--tensor-model-parallel-size must be positive (got %d)", tp_size);
    if (c->num_attention_heads % tp_size != 0)
        return err_set(err, "--tensor-model-parallel-size %d does not divide --num-attention-heads %d",
                       tp_size, c->num_attention_heads);
    if (ffn_of(c) % tp_size != 0)
        return err_set(err, "--tensor-model-parallel-size %d does not divide the FFN size %d", tp_size,
                       ffn_of(c));
    if (tf_recompute_validate(&c->recompute, c->num_layers, err) != 0) return -1;
    /* sizes must fit the int arithmetic of the ops */
    double bt = (double)c->seq_length * c->hidden_size * 4.0;
    if (bt > 2e9 || (double)gpt_padded_vocab(c, tp_size) * c->hidden_size > 2e9 * tp_size)
        return err_set(err, "model dimensions are too large (hidden %d, sequence %d)", c->hidden_size,
                       c->seq_length);
    return 0;
}

int gpt_padded_vocab(const gpt_config_t *c, int tp_size) {
    int64_t mult = (int64_t)c->make_vocab_size_divisible_by * tp_size;
    return (int)((c->vocab_size + mult - 1) / mult * mult);
}

int64_t gpt_param_count(const gpt_config_t *c, int tp_size) {
    int64_t C = c->hidden_size, F = ffn_of(c), L = c->num_layers;
    int64_t per_layer = 2 * C            /* ln1 */
                        + 3 * C * C + 3 * C /* qkv */
                        + C * C + C         /* proj */
                        + 2 * C             /* ln2 */
                        + F * C + F         /* fc */
                        + C * F + C;        /* fcproj */
    return (int64_t)gpt_padded_vocab(c, tp_size) * C + (int64_t)c->max_position_embeddings * C +
           L * per_layer + 2 * C;
}

static const config_field_t gpt_fields[] = {
    CONFIG_INT(gpt_config_t, num_layers), CONFIG_INT(gpt_config_t, hidden_size),
    CONFIG_INT(gpt_config_t, num_attention_heads), CONFIG_INT(gpt_config_t, ffn_hidden_size),
    CONFIG_INT(gpt_config_t, seq_length), CONFIG_INT(gpt_config_t, max_position_embeddings),
    CONFIG_INT(gpt_config_t, vocab_size), CONFIG_INT(gpt_config_t, make_vocab_size_divisible_by),
    CONFIG_FLOAT(gpt_config_t, hidden_dropout), CONFIG_FLOAT(gpt_config_t, attention_dropout),
    CONFIG_FLOAT(gpt_config_t, layernorm_epsilon), CONFIG_FLOAT(gpt_config_t, init_method_std),
};
#define GPT_FIELDS ((int)(sizeof gpt_fields / sizeof gpt_fields[0]))

int gpt_config_to_text(const gpt_config_t *c, char *buf, size_t len) {
    return config_to_text(c, gpt_fields, GPT_FIELDS, "gpt", buf, len);
}

int gpt_config_from_text(gpt_config_t *c, const char *text, err_t *err) {
    gpt_config_defaults(c);
    return config_from_text(c, gpt_fields, GPT_FIELDS, "gpt", text, err);
}
