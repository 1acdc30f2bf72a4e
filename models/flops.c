/* flops.c — model FLOPs of GPT and BERT (see flops.h). */
#include "flops.h"

double gpt_model_flops(const gpt_config_t *c, double B, int T, int train) {
    double tokens = B * T, a = train ? 6.0 : 2.0;
    double dense = (double)(gpt_param_count(c, 1) - (int64_t)c->max_position_embeddings * c->hidden_size);
    return a * dense * tokens + 2.0 * a * c->num_layers * c->hidden_size * (double)T * tokens;
}

double bert_model_flops(const bert_config_t *c, double B, int T, int M, int train) {
    double tokens = B * T, a = train ? 6.0 : 2.0;
    double C = c->hidden_size, F = c->ffn_hidden_size > 0 ? c->ffn_hidden_size : 4 * C;
    double layer = 4 * C + 4 * C * C + 4 * C + 2 * C * F + F + C;
    double f = a * c->num_layers * layer * tokens + 2.0 * a * c->num_layers * C * T * tokens;
    if (train) f += 6.0 * B * M * (C * C + C * bert_padded_vocab(c, 1)) + 6.0 * B * (C * C + 2 * C);
    return f;
}
