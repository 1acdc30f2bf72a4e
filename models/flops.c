/* flops.c — model FLOPs (see flops.h). */
#include "flops.h"

double model_flops(const model_flops_shape_t *s, int passes, tf_recompute_granularity_t recompute) {
    double h = s->hidden, f = s->ffn, L = s->layers, sq = s->seq, V = s->vocab;
    double layer = 2.0 * (4.0 * h * h + 2.0 * h * f) + 4.0 * sq * h;
    double head = 2.0 * h * V + (s->mlm_transform ? 2.0 * h * h : 0.0);
    double seq_head = 2.0 * h * h + 4.0 * h;
    double again = recompute == TF_RECOMPUTE_FULL ? layer : recompute == TF_RECOMPUTE_SELECTIVE ? 4.0 * sq * h : 0.0;
    return s->tokens * ((passes * layer + again) * L + passes * 2.0 * s->vector_params) +
           s->head_rows * passes * head + s->sequences * passes * seq_head;
}

/* a layer's biases and LayerNorms: ln1 2h, qkv 3h, proj h, ln2 2h, fc f, fcproj h */
static double layer_vectors(double h, double f) { return 9.0 * h + f; }

double gpt_flops_per_iteration(const gpt_config_t *c, int B, int T, int train) {
    double h = c->hidden_size, f = c->ffn_hidden_size > 0 ? c->ffn_hidden_size : 4.0 * h;
    model_flops_shape_t s = {c->num_layers, c->hidden_size, (int)f, T, gpt_padded_vocab(c, 1), (double)B * T,
                             (double)B * T, 0, 0.0, c->num_layers * layer_vectors(h, f) + 2.0 * h /* final LN */};
    return model_flops(&s, train ? 3 : 1, TF_RECOMPUTE_NONE);
}

double bert_flops_per_iteration(const bert_config_t *c, int B, int T, int M, int train) {
    double h = c->hidden_size, f = c->ffn_hidden_size > 0 ? c->ffn_hidden_size : 4.0 * h;
    model_flops_shape_t s = {c->num_layers, c->hidden_size, (int)f, T, bert_padded_vocab(c, 1), (double)B * T,
                             train ? (double)B * M : 0.0, 1, train ? (double)B : 0.0,
                             c->num_layers * layer_vectors(h, f)};
    return model_flops(&s, train ? 3 : 1, TF_RECOMPUTE_NONE);
}
