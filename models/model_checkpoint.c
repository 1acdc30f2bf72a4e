/* model_checkpoint.c — GPT and BERT parameters and configurations in checkpoints
 * (see model_checkpoint.h). */
#include "model_checkpoint.h"

#include <stdio.h>
#include <string.h>

void model_ckpt_params(const tensor_t *ts, const param_list_t *pl, int64_t pad_multiple, ckpt_param_t *params) {
    for (int k = 0; k < pl->n; k++) {
        const tensor_t *t = &ts[k];
        params[k].t = t;
        params[k].real_extent = t->split_dim >= 0 ? t->global_shape[t->split_dim] : 0;
        params[k].pad_multiple = 1;
        int64_t valid = pl->specs[k].valid_rows;
        if (valid > 0) { /* the vocabulary: rows past it are padding, to a multiple of this x TP */
            params[k].real_extent = valid;
            params[k].pad_multiple = pad_multiple;
        }
    }
}

void model_ckpt_offsets(const ckpt_param_t *params, int n, const float *block, size_t *offset) {
    for (int k = 0; k < n; k++) offset[k] = (size_t)((const float *)params[k].t->data - block);
}

/* the checkpoint holds a `want` model */
static int check_type(const ckpt_meta_t *meta, const char *want, err_t *err) {
    if (strcmp(meta->model_type, want) == 0) return 0;
    if (strcmp(meta->model_type, "gpt") == 0 || strcmp(meta->model_type, "bert") == 0)
        return err_set(err, "the checkpoint's model is %s, not %s (megac train %s loads it)", meta->model_type, want,
                       meta->model_type);
    return err_set(err, "the checkpoint's model is '%s', not %s", meta->model_type, want);
}

/* ---------------------------------------------------------------- GPT */

static int gpt_ffn(const gpt_config_t *c) { return c->ffn_hidden_size > 0 ? c->ffn_hidden_size : 4 * c->hidden_size; }

void gpt_ckpt_params(const gpt_model_t *m, ckpt_param_t *params) {
    model_ckpt_params(m->store.params, &m->store.list, m->cfg.make_vocab_size_divisible_by, params);
}

int gpt_ckpt_put_config(ckpt_meta_t *meta, const gpt_config_t *cfg, err_t *err) {
    snprintf(meta->model_type, sizeof meta->model_type, "gpt");
    if (gpt_config_to_text(cfg, meta->model_config, sizeof meta->model_config) != 0)
        return err_set(err, "the model configuration does not fit the metadata record");
    return 0;
}

int gpt_ckpt_get_config(const ckpt_meta_t *meta, gpt_config_t *cfg, err_t *err) {
    if (check_type(meta, "gpt", err) != 0) return -1;
    if (gpt_config_from_text(cfg, meta->model_config, err) != 0) return err_prefix(err, "model configuration");
    if (gpt_config_validate(cfg, 1, err) != 0) return err_prefix(err, "model configuration");
    return 0;
}

/* the first differing integer field, as "the checkpoint's model has FLAG X, this run Y" */
typedef struct field_cmp { const char *flag; long long ckpt, run; } field_cmp_t;

static int compare_fields(const field_cmp_t *f, size_t n, err_t *err) {
    for (size_t i = 0; i < n; i++)
        if (f[i].ckpt != f[i].run)
            return err_set(err, "the checkpoint's model has %s %lld, this run %lld", f[i].flag, f[i].ckpt, f[i].run);
    return 0;
}

static int compare_eps(float ckpt, float run, err_t *err) {
    if (ckpt != run)
        return err_set(err, "the checkpoint's model has --layernorm-epsilon %g, this run %g", (double)ckpt, (double)run);
    return 0;
}

int gpt_ckpt_check_config(const ckpt_meta_t *meta, const gpt_config_t *cfg, err_t *err) {
    gpt_config_t c;
    if (gpt_ckpt_get_config(meta, &c, err) != 0) return -1;
    field_cmp_t f[] = {
        {"--num-layers", c.num_layers, cfg->num_layers},
        {"--hidden-size", c.hidden_size, cfg->hidden_size},
        {"--num-attention-heads", c.num_attention_heads, cfg->num_attention_heads},
        {"--ffn-hidden-size", gpt_ffn(&c), gpt_ffn(cfg)},
        {"--max-position-embeddings", c.max_position_embeddings, cfg->max_position_embeddings},
        {"the vocabulary size (tokenizer)", c.vocab_size, cfg->vocab_size},
    };
    if (compare_fields(f, sizeof f / sizeof f[0], err) != 0) return -1;
    return compare_eps(c.layernorm_epsilon, cfg->layernorm_epsilon, err);
}

static int gpt_describe(const ckpt_meta_t *meta, char *buf, size_t len, err_t *err) {
    gpt_config_t c;
    if (gpt_ckpt_get_config(meta, &c, err) != 0) return -1;
    snprintf(buf, len,
             "gpt, %d layers, hidden %d, %d heads, FFN %d, vocabulary %d (padded to a multiple of %d x TP), "
             "%d positions, sequence %d",
             c.num_layers, c.hidden_size, c.num_attention_heads, gpt_ffn(&c), c.vocab_size,
             c.make_vocab_size_divisible_by, c.max_position_embeddings, c.seq_length);
    return 0;
}

static int gpt_validate(const ckpt_meta_t *meta, int tp, err_t *err) {
    gpt_config_t c;
    if (gpt_ckpt_get_config(meta, &c, err) != 0) return -1;
    return gpt_config_validate(&c, tp, err);
}

static int gpt_put(ckpt_meta_t *meta, const void *cfg, err_t *err) { return gpt_ckpt_put_config(meta, cfg, err); }
static int gpt_check(const ckpt_meta_t *meta, const void *cfg, err_t *err) { return gpt_ckpt_check_config(meta, cfg, err); }

static int gpt_adopt(const ckpt_meta_t *meta, void *cfg, err_t *err) {
    gpt_config_t c;
    if (gpt_ckpt_get_config(meta, &c, err) != 0) return -1;
    gpt_config_t *run = cfg;
    if (c.max_position_embeddings < run->seq_length)
        return err_set(err, "the checkpoint's model has %d positions, fewer than this run's --seq-length %d",
                       c.max_position_embeddings, run->seq_length);
    run->max_position_embeddings = c.max_position_embeddings;
    return 0;
}

const model_ckpt_ops_t model_ckpt_gpt = {"gpt", gpt_put, gpt_check, gpt_describe, gpt_validate, gpt_adopt};

/* ---------------------------------------------------------------- BERT */

static int bert_ffn(const bert_config_t *c) { return c->ffn_hidden_size > 0 ? c->ffn_hidden_size : 4 * c->hidden_size; }

void bert_ckpt_params(const bert_model_t *m, ckpt_param_t *params) {
    model_ckpt_params(m->store.params, &m->store.list, m->cfg.make_vocab_size_divisible_by, params);
    /* the MLM output bias is split and padded over the vocabulary like the word
     * embedding (its padding entries stay 0: padded logits take no part in the
     * softmax, so they get no gradient, and biases have no weight decay) */
    params[m->p_lm_bias].real_extent = m->cfg.vocab_size;
    params[m->p_lm_bias].pad_multiple = m->cfg.make_vocab_size_divisible_by;
}

int bert_ckpt_put_config(ckpt_meta_t *meta, const bert_config_t *cfg, err_t *err) {
    snprintf(meta->model_type, sizeof meta->model_type, "bert");
    if (bert_config_to_text(cfg, meta->model_config, sizeof meta->model_config) != 0)
        return err_set(err, "the model configuration does not fit the metadata record");
    return 0;
}

int bert_ckpt_get_config(const ckpt_meta_t *meta, bert_config_t *cfg, err_t *err) {
    if (check_type(meta, "bert", err) != 0) return -1;
    if (bert_config_from_text(cfg, meta->model_config, err) != 0) return err_prefix(err, "model configuration");
    if (bert_config_validate(cfg, 1, err) != 0) return err_prefix(err, "model configuration");
    return 0;
}

int bert_ckpt_check_config(const ckpt_meta_t *meta, const bert_config_t *cfg, err_t *err) {
    bert_config_t c;
    if (bert_ckpt_get_config(meta, &c, err) != 0) return -1;
    if (c.pre_ln != cfg->pre_ln)
        return err_set(err, "the checkpoint's model has --bert-layernorm-order %s, this run %s", c.pre_ln ? "pre" : "post",
                       cfg->pre_ln ? "pre" : "post");
    if (c.binary_head != cfg->binary_head)
        return err_set(err, "the checkpoint's model has %s, this run %s", c.binary_head ? "a sentence head" :
                       "no sentence head (--bert-no-binary-head)", cfg->binary_head ? "has one" : "has none (--bert-no-binary-head)");
    field_cmp_t f[] = {
        {"--num-layers", c.num_layers, cfg->num_layers},
        {"--hidden-size", c.hidden_size, cfg->hidden_size},
        {"--num-attention-heads", c.num_attention_heads, cfg->num_attention_heads},
        {"--ffn-hidden-size", bert_ffn(&c), bert_ffn(cfg)},
        {"--max-position-embeddings", c.max_position_embeddings, cfg->max_position_embeddings},
        {"token types", c.type_vocab_size, cfg->type_vocab_size},
    };
    if (compare_fields(f, sizeof f / sizeof f[0], err) != 0) return -1;
    /* The run's tokenizer may add tokens within the checkpoint's padded
     * vocabulary: megac's WordPiece tokenizer, as Megatron's, appends [BOS] and
     * [EOS] to a vocab.txt, so a Hugging Face BERT of 30,522 tokens trains with
     * 30,524. Their rows load as the zero padding they were (train_checkpoint.c). */
    int64_t mult = c.make_vocab_size_divisible_by, room = (c.vocab_size + mult - 1) / mult * mult;
    if (cfg->vocab_size < c.vocab_size || cfg->vocab_size > room)
        return err_set(err, "the checkpoint's model has the vocabulary size (--vocab-file) %d, this run %d%s", c.vocab_size,
                       cfg->vocab_size, cfg->vocab_size > c.vocab_size ? " (more than its padding holds)" : "");
    return compare_eps(c.layernorm_epsilon, cfg->layernorm_epsilon, err);
}

static int bert_describe(const ckpt_meta_t *meta, char *buf, size_t len, err_t *err) {
    bert_config_t c;
    if (bert_ckpt_get_config(meta, &c, err) != 0) return -1;
    snprintf(buf, len,
             "bert, %d layers, hidden %d, %d heads, FFN %d, vocabulary %d (padded to a multiple of %d x TP), "
             "%d positions, %d token types, %s, %s, sequence %d",
             c.num_layers, c.hidden_size, c.num_attention_heads, bert_ffn(&c), c.vocab_size,
             c.make_vocab_size_divisible_by, c.max_position_embeddings, c.type_vocab_size,
             c.pre_ln ? "pre-LN" : "post-LN", c.binary_head ? "sentence head" : "no sentence head", c.seq_length);
    return 0;
}

static int bert_validate(const ckpt_meta_t *meta, int tp, err_t *err) {
    bert_config_t c;
    if (bert_ckpt_get_config(meta, &c, err) != 0) return -1;
    return bert_config_validate(&c, tp, err);
}

static int bert_put(ckpt_meta_t *meta, const void *cfg, err_t *err) { return bert_ckpt_put_config(meta, cfg, err); }
static int bert_check(const ckpt_meta_t *meta, const void *cfg, err_t *err) { return bert_ckpt_check_config(meta, cfg, err); }

static int bert_adopt(const ckpt_meta_t *meta, void *cfg, err_t *err) {
    bert_config_t c;
    if (bert_ckpt_get_config(meta, &c, err) != 0) return -1;
    bert_config_t *run = cfg;
    if (c.max_position_embeddings < run->seq_length)
        return err_set(err, "the checkpoint's model has %d positions, fewer than this run's --seq-length %d",
                       c.max_position_embeddings, run->seq_length);
    run->max_position_embeddings = c.max_position_embeddings;
    return 0;
}

const model_ckpt_ops_t model_ckpt_bert = {"bert", bert_put, bert_check, bert_describe, bert_validate, bert_adopt};

const model_ckpt_ops_t *model_ckpt_ops(const ckpt_meta_t *meta, err_t *err) {
    if (strcmp(meta->model_type, "gpt") == 0) return &model_ckpt_gpt;
    if (strcmp(meta->model_type, "bert") == 0) return &model_ckpt_bert;
    err_set(err, "the checkpoint's model is '%s'; megac knows gpt and bert", meta->model_type);
    return NULL;
}

int model_ckpt_check_reader(const ckpt_reader_t *r, err_t *err) {
    const ckpt_meta_t *meta = &r->meta;
    const model_ckpt_ops_t *ops = model_ckpt_ops(meta, err);
    if (!ops || ops->validate(meta, meta->tp_size, err) != 0) return err_prefix(err, "%s: metadata", r->dir);
    int64_t want;
    if (ops == &model_ckpt_gpt) {
        gpt_config_t c;
        if (gpt_ckpt_get_config(meta, &c, err) != 0) return err_prefix(err, "%s: metadata", r->dir);
        want = gpt_param_count(&c, 1) - (int64_t)(gpt_padded_vocab(&c, 1) - c.vocab_size) * c.hidden_size;
    } else {
        bert_config_t c;
        if (bert_ckpt_get_config(meta, &c, err) != 0) return err_prefix(err, "%s: metadata", r->dir);
        want = bert_param_count(&c, 1) - (int64_t)(bert_padded_vocab(&c, 1) - c.vocab_size) * (c.hidden_size + 1);
    }
    int64_t have = 0;
    for (int i = 0; i < r->nentries; i++) {
        if (r->entries[i].kind != CKPT_MODEL) continue;
        int64_t n = 1;
        for (int d = 0; d < r->entries[i].ndim; d++) n *= r->entries[i].shape[d];
        have += n;
    }
    if (have != want)
        return err_set(err, "%s: the metadata describes a %s model of %lld parameters, the files store %lld", r->dir,
                       ops->type, (long long)want, (long long)have);
    return 0;
}
