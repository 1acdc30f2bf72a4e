/* bert_config.c — BERT configuration: defaults, presets, validation, parameter
 * count, and a text form for checkpoints. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bert.h"
#include "model_sizes.h"
#include "../framework/config_text.h"

void bert_config_defaults(bert_config_t *c) {
    memset(c, 0, sizeof *c);
    c->num_layers = 12, c->hidden_size = 768, c->num_attention_heads = 12, c->ffn_hidden_size = 0;
    c->seq_length = 512, c->max_position_embeddings = 512;
    c->vocab_size = 30522, c->type_vocab_size = 2, c->make_vocab_size_divisible_by = 128;
    c->max_predictions_per_seq = 80; /* 15% of 512, rounded as NVIDIA's phase-2 data */
    c->pre_ln = 0, c->binary_head = 1;
    c->hidden_dropout = 0.1f, c->attention_dropout = 0.1f;
    c->layernorm_epsilon = 1e-12f, c->init_method_std = 0.02f;
}

const char *bert_preset_names(void) { return "bert-base bert-large bert-3.9b"; }

int bert_config_preset(bert_config_t *c, const char *name, err_t *err) {
    bert_config_defaults(c);
    if (strcmp(name, "bert-base") == 0) {
        c->num_layers = 12, c->hidden_size = 768, c->num_attention_heads = 12;
    } else if (strcmp(name, "bert-large") == 0) {
        c->num_layers = 24, c->hidden_size = 1024, c->num_attention_heads = 16;
    } else if (strcmp(name, "bert-3.9b") == 0) {
        /* Megatron-LM (Shoeybi et al. 2019), Table 4: 48 layers, 2560 hidden, 40 heads,
         * trained with the rearranged (pre-LN) residuals */
        c->num_layers = 48, c->hidden_size = 2560, c->num_attention_heads = 40, c->pre_ln = 1;
        c->layernorm_epsilon = 1e-5f;
    } else {
        return err_set(err, "--preset: unknown BERT preset '%s' (known: %s)", name, bert_preset_names());
    }
    return 0;
}

static int ffn_of(const bert_config_t *c) { return c->ffn_hidden_size > 0 ? c->ffn_hidden_size : 4 * c->hidden_size; }

int bert_config_validate(const bert_config_t *c, int tp, err_t *err) {
    if (c->num_layers <= 0) return err_set(err, "--num-layers must be positive (got %d)", c->num_layers);
    if (c->hidden_size <= 0) return err_set(err, "--hidden-size must be positive (got %d)", c->hidden_size);
    if (c->num_attention_heads <= 0 || c->hidden_size % c->num_attention_heads != 0)
        return err_set(err, "--num-attention-heads %d does not divide --hidden-size %d", c->num_attention_heads,
                       c->hidden_size);
    if (c->seq_length <= 1) return err_set(err, "--seq-length must be at least 2 (got %d)", c->seq_length);
    if (c->max_position_embeddings < c->seq_length)
        return err_set(err, "--max-position-embeddings %d is smaller than --seq-length %d",
                       c->max_position_embeddings, c->seq_length);
    if (c->vocab_size <= 0 || c->type_vocab_size <= 0 || c->make_vocab_size_divisible_by <= 0)
        return err_set(err, "vocabulary sizes must be positive");
    if (c->ffn_hidden_size < 0) return err_set(err, "--ffn-hidden-size must be positive (got %d)", c->ffn_hidden_size);
    model_sizes_t sz = {c->num_layers, c->hidden_size, c->num_attention_heads, c->ffn_hidden_size, c->seq_length,
                        c->max_position_embeddings, c->vocab_size, c->make_vocab_size_divisible_by, c->type_vocab_size};
    if (model_sizes_validate(&sz, tp > 0 ? tp : 1, err) != 0) return -1;
    if (c->max_predictions_per_seq <= 0 || c->max_predictions_per_seq > c->seq_length)
        return err_set(err, "--max-predictions-per-seq must be in 1..%d (got %d)", c->seq_length,
                       c->max_predictions_per_seq);
    if (!(c->hidden_dropout >= 0 && c->hidden_dropout < 1) || !(c->attention_dropout >= 0 && c->attention_dropout < 1))
        return err_set(err, "--hidden-dropout and --attention-dropout must be in [0, 1)");
    if (!(c->layernorm_epsilon > 0) || !(c->init_method_std > 0))
        return err_set(err, "--layernorm-epsilon and --init-method-std must be positive");
    if (tp <= 0) return err_set(err, "--tensor-model-parallel-size must be positive (got %d)", tp);
    if (c->num_attention_heads % tp != 0)
        return err_set(err, "--tensor-model-parallel-size %d does not divide --num-attention-heads %d", tp,
                       c->num_attention_heads);
    if (ffn_of(c) % tp != 0)
        return err_set(err, "--tensor-model-parallel-size %d does not divide the FFN size %d", tp, ffn_of(c));
    return tf_recompute_validate(&c->recompute, c->num_layers, err);
}

int bert_padded_vocab(const bert_config_t *c, int tp) {
    int64_t mult = (int64_t)c->make_vocab_size_divisible_by * tp;
    return (int)((c->vocab_size + mult - 1) / mult * mult);
}

int64_t bert_param_count(const bert_config_t *c, int tp) {
    int64_t C = c->hidden_size, F = ffn_of(c), V = bert_padded_vocab(c, tp);
    int64_t layer = 4 * C + 4 * C * C + 4 * C + 2 * C * F + F + C;
    int64_t emb = V * C + (int64_t)c->max_position_embeddings * C + (int64_t)c->type_vocab_size * C + 2 * C;
    int64_t heads = C * C + C + 2 * C + V; /* MLM transform, its LayerNorm, output bias */
    if (c->binary_head) heads += C * C + C + 2 * C + 2; /* pooler, sentence head */
    return emb + c->num_layers * layer + heads;
}

static const config_field_t bert_fields[] = {
    CONFIG_INT(bert_config_t, num_layers), CONFIG_INT(bert_config_t, hidden_size),
    CONFIG_INT(bert_config_t, num_attention_heads), CONFIG_INT(bert_config_t, ffn_hidden_size),
    CONFIG_INT(bert_config_t, seq_length), CONFIG_INT(bert_config_t, max_position_embeddings),
    CONFIG_INT(bert_config_t, vocab_size), CONFIG_INT(bert_config_t, type_vocab_size),
    CONFIG_INT(bert_config_t, make_vocab_size_divisible_by), CONFIG_INT(bert_config_t, max_predictions_per_seq),
    CONFIG_INT(bert_config_t, pre_ln), CONFIG_INT(bert_config_t, binary_head),
    CONFIG_FLOAT(bert_config_t, hidden_dropout), CONFIG_FLOAT(bert_config_t, attention_dropout),
    CONFIG_FLOAT(bert_config_t, layernorm_epsilon), CONFIG_FLOAT(bert_config_t, init_method_std),
};
#define BERT_FIELDS ((int)(sizeof bert_fields / sizeof bert_fields[0]))

int bert_config_to_text(const bert_config_t *c, char *buf, size_t len) {
    return config_to_text(c, bert_fields, BERT_FIELDS, "bert", buf, len);
}

int bert_config_from_text(bert_config_t *c, const char *text, err_t *err) {
    bert_config_defaults(c);
    return config_from_text(c, bert_fields, BERT_FIELDS, "bert", text, err);
}
