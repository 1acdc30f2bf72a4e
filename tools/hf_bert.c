/* hf_bert.c — Hugging Face BERT weights into megac (see hf_bert.h). */
#include "hf_bert.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../checkpoints/safetensors.h"

int hf_bert_config(const char *path, bert_config_t *c, err_t *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return err_set(err, "%s: cannot open", path);
    char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    cJSON *j = cJSON_Parse(buf);
    if (!j) return err_set(err, "%s: not JSON", path);
    struct { const char *key; int *dst; } ints[] = {
        {"hidden_size", &c->hidden_size}, {"num_hidden_layers", &c->num_layers},
        {"num_attention_heads", &c->num_attention_heads}, {"intermediate_size", &c->ffn_hidden_size},
        {"max_position_embeddings", &c->max_position_embeddings}, {"vocab_size", &c->vocab_size},
        {"type_vocab_size", &c->type_vocab_size}};
    bert_config_defaults(c);
    int rc = 0;
    for (size_t i = 0; i < sizeof ints / sizeof ints[0] && rc == 0; i++) {
        cJSON *v = cJSON_GetObjectItemCaseSensitive(j, ints[i].key);
        if (!cJSON_IsNumber(v)) rc = err_set(err, "%s: no integer '%s'", path, ints[i].key);
        else *ints[i].dst = v->valueint;
    }
    cJSON *eps = cJSON_GetObjectItemCaseSensitive(j, "layer_norm_eps");
    if (rc == 0 && cJSON_IsNumber(eps)) c->layernorm_epsilon = (float)eps->valuedouble;
    cJSON *act = cJSON_GetObjectItemCaseSensitive(j, "hidden_act");
    if (rc == 0 && cJSON_IsString(act) && strcmp(act->valuestring, "gelu") != 0)
        rc = err_set(err, "%s: hidden_act '%s' is not BERT's erf GELU", path, act->valuestring);
    cJSON_Delete(j);
    c->pre_ln = 0;
    c->seq_length = c->max_position_embeddings;
    c->hidden_dropout = c->attention_dropout = 0.0f;
    return rc;
}

/* tensor `name` (with or without "bert.") as float32, checked against the expected element count */
static float *read(st_file_t *f, const char *name, size_t want, int required, err_t *err, int *missing) {
    char full[ST_NAME_MAX];
    const st_tensor_t *t = st_find(f, name);
    if (!t) {
        snprintf(full, sizeof full, "bert.%s", name);
        t = st_find(f, full);
    }
    if (!t) {
        if (required) err_set(err, "%s: no tensor %s", f->path, name);
        *missing = 1;
        return NULL;
    }
    size_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= (size_t)t->shape[d];
    if (n != want) {
        err_set(err, "%s: %s has %zu elements, the model expects %zu", f->path, t->name, n, want);
        *missing = 1;
        return NULL;
    }
    float *h = malloc(n * sizeof(float));
    if (!h || st_read_f32(f, t, h, err) != 0) {
        free(h);
        *missing = 1;
        return NULL;
    }
    return h;
}

static int put(bert_model_t *m, int k, const float *h, size_t n) {
    m->be->copy_to_device(m->be, m->params[k].data, h, n * sizeof(float));
    return 0;
}

int hf_bert_load(bert_model_t *m, const char *path, err_t *err) {
    const bert_config_t *c = &m->cfg;
    if (m->tp_size != 1) return err_set(err, "Hugging Face BERT loads into one rank (TP=1)");
    st_file_t f;
    if (st_open(&f, path, err) != 0) return -1;
    size_t C = (size_t)c->hidden_size, F = (size_t)(c->ffn_hidden_size > 0 ? c->ffn_hidden_size : 4 * c->hidden_size);
    size_t V = (size_t)c->vocab_size, HS = C / (size_t)c->num_attention_heads;
    int miss = 0, rc = 0;
    float *h;
#define LOAD(name, count, k)                                                                       \
    do {                                                                                           \
        miss = 0;                                                                                  \
        h = read(&f, name, count, 1, err, &miss);                                                  \
        if (!h) { rc = -1; goto out; }                                                             \
        put(m, k, h, count);                                                                       \
        free(h);                                                                                   \
    } while (0)
    /* word embeddings: the first V rows of the padded table (the rest stay 0) */
    LOAD("embeddings.word_embeddings.weight", V * C, m->p_wte);
    LOAD("embeddings.position_embeddings.weight", (size_t)c->max_position_embeddings * C, m->p_wpe);
    LOAD("embeddings.token_type_embeddings.weight", (size_t)c->type_vocab_size * C, m->p_type);
    LOAD("embeddings.LayerNorm.weight", C, m->p_emb_ln);
    LOAD("embeddings.LayerNorm.bias", C, m->p_emb_ln + 1);
    for (int l = 0; l < c->num_layers; l++) {
        int base = m->p_layers + l * TF_LAYER_PARAMS;
        char n[ST_NAME_MAX];
        /* Q, K, V [C, C] each -> rows grouped per head: [q_h k_h v_h] */
        float *qkv_w = malloc(3 * C * C * sizeof(float)), *qkv_b = malloc(3 * C * sizeof(float));
        const char *which[3] = {"query", "key", "value"};
        for (int p = 0; p < 3 && rc == 0; p++) {
            snprintf(n, sizeof n, "encoder.layer.%d.attention.self.%s.weight", l, which[p]);
            float *w = read(&f, n, C * C, 1, err, &miss);
            snprintf(n, sizeof n, "encoder.layer.%d.attention.self.%s.bias", l, which[p]);
            float *b = w ? read(&f, n, C, 1, err, &miss) : NULL;
            if (!w || !b || !qkv_w || !qkv_b) rc = -1;
            for (size_t hd = 0; rc == 0 && hd < C / HS; hd++)
                for (size_t r = 0; r < HS; r++) {
                    size_t dst = hd * 3 * HS + (size_t)p * HS + r, src = hd * HS + r;
                    memcpy(qkv_w + dst * C, w + src * C, C * sizeof(float));
                    qkv_b[dst] = b[src];
                }
            free(w), free(b);
        }
        if (rc == 0) put(m, base + 2, qkv_w, 3 * C * C), put(m, base + 3, qkv_b, 3 * C);
        free(qkv_w), free(qkv_b);
        if (rc != 0) goto out;
        snprintf(n, sizeof n, "encoder.layer.%d.attention.output.dense.weight", l);
        LOAD(n, C * C, base + 4);
        snprintf(n, sizeof n, "encoder.layer.%d.attention.output.dense.bias", l);
        LOAD(n, C, base + 5);
        snprintf(n, sizeof n, "encoder.layer.%d.attention.output.LayerNorm.weight", l);
        LOAD(n, C, base + 0);
        snprintf(n, sizeof n, "encoder.layer.%d.attention.output.LayerNorm.bias", l);
        LOAD(n, C, base + 1);
        snprintf(n, sizeof n, "encoder.layer.%d.intermediate.dense.weight", l);
        LOAD(n, F * C, base + 8);
        snprintf(n, sizeof n, "encoder.layer.%d.intermediate.dense.bias", l);
        LOAD(n, F, base + 9);
        snprintf(n, sizeof n, "encoder.layer.%d.output.dense.weight", l);
        LOAD(n, C * F, base + 10);
        snprintf(n, sizeof n, "encoder.layer.%d.output.dense.bias", l);
        LOAD(n, C, base + 11);
        snprintf(n, sizeof n, "encoder.layer.%d.output.LayerNorm.weight", l);
        LOAD(n, C, base + 6);
        snprintf(n, sizeof n, "encoder.layer.%d.output.LayerNorm.bias", l);
        LOAD(n, C, base + 7);
    }
    if (c->binary_head) { /* the pooler, when the file has one */
        miss = 0;
        float *w = read(&f, "pooler.dense.weight", C * C, 0, err, &miss), *b = read(&f, "pooler.dense.bias", C, 0, err, &miss);
        if (w && b) put(m, m->p_pooler, w, C * C), put(m, m->p_pooler + 1, b, C);
        free(w), free(b);
    }
#undef LOAD
out:
    st_close(&f);
    return rc;
}
