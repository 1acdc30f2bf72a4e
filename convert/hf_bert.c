/* hf_bert.c — Hugging Face BERT <-> megac (see hf_bert.h). One name map serves
 * loading into a model, importing into a checkpoint and exporting from one. */
#include "hf_bert.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../checkpoints/safetensors.h"
#include "hf_files.h"
#include "../models/model_checkpoint.h"

/* ---------------------------------------------------------------- the name map */

typedef enum part { PART_ENCODER, PART_POOLER, PART_MLM, PART_SENTENCE, PARTS } part_t;

static const char *const PART_HF[PARTS] = {"encoder", "pooler (pooler.dense)", "masked-LM head (cls.predictions)",
                                           "sentence head (cls.seq_relationship)"};
static const char *const PART_MEGAC[PARTS] = {"", "pooler/*", "lm_head/*", "binary_head/*"};

typedef struct map_entry {
    char megac[TENSOR_NAME_LEN];
    char hf[ST_NAME_MAX]; /* without "bert."; QKV: the layer's "encoder.layer.N.attention.self" */
    int qkv;              /* HF's query, key and value fuse into this one tensor */
    part_t part;
    int prefixed;         /* under "bert." in the models with heads (the cls.* heads are not) */
    int ndim;
    int64_t shape[2];     /* megac's global shape, the vocabulary unpadded */
} map_entry_t;

static const char *const QKV_NAME[3] = {"query", "key", "value"};

static int ffn_of(const bert_config_t *c) { return c->ffn_hidden_size > 0 ? c->ffn_hidden_size : 4 * c->hidden_size; }

static int64_t numel_of(const map_entry_t *e) { return e->ndim == 1 ? e->shape[0] : e->shape[0] * e->shape[1]; }

static void add(map_entry_t *m, int *n, part_t part, const char *megac, const char *hf, int ndim, int64_t d0, int64_t d1) {
    map_entry_t *e = &m[(*n)++];
    snprintf(e->megac, sizeof e->megac, "%s", megac);
    snprintf(e->hf, sizeof e->hf, "%s", hf);
    e->part = part, e->prefixed = part == PART_ENCODER || part == PART_POOLER;
    e->ndim = ndim, e->shape[0] = d0, e->shape[1] = ndim > 1 ? d1 : 1;
}

/* megac's post-LN BERT tensors in parameter order, with Hugging Face's names */
static map_entry_t *build_map(const bert_config_t *c, int *n) {
    int64_t C = c->hidden_size, F = ffn_of(c), V = c->vocab_size, L = c->num_layers;
    map_entry_t *m = calloc((size_t)(16 + 12 * L), sizeof *m);
    if (!m) return NULL;
    *n = 0;
    add(m, n, PART_ENCODER, "embedding/word_embeddings/weight", "embeddings.word_embeddings.weight", 2, V, C);
    add(m, n, PART_ENCODER, "embedding/position_embeddings/weight", "embeddings.position_embeddings.weight", 2,
        c->max_position_embeddings, C);
    add(m, n, PART_ENCODER, "embedding/tokentype_embeddings/weight", "embeddings.token_type_embeddings.weight", 2,
        c->type_vocab_size, C);
    add(m, n, PART_ENCODER, "embedding/layernorm/weight", "embeddings.LayerNorm.weight", 1, C, 0);
    add(m, n, PART_ENCODER, "embedding/layernorm/bias", "embeddings.LayerNorm.bias", 1, C, 0);
    for (int l = 0; l < L; l++) {
        char a[TENSOR_NAME_LEN], b[ST_NAME_MAX];
#define MAP(msuffix, hsuffix, nd, d0, d1)                                                          \
    snprintf(a, sizeof a, "layers/%02d/%s", l, msuffix);                                           \
    snprintf(b, sizeof b, "encoder.layer.%d.%s", l, hsuffix);                                      \
    add(m, n, PART_ENCODER, a, b, nd, d0, d1);
        /* post-LN: megac's first LayerNorm of a layer follows the attention's residual sum */
        MAP("input_layernorm/weight", "attention.output.LayerNorm.weight", 1, C, 0)
        MAP("input_layernorm/bias", "attention.output.LayerNorm.bias", 1, C, 0)
        MAP("attention/qkv/weight", "attention.self", 2, 3 * C, C)
        m[*n - 1].qkv = 1;
        MAP("attention/qkv/bias", "attention.self", 1, 3 * C, 0)
        m[*n - 1].qkv = 1;
        MAP("attention/dense/weight", "attention.output.dense.weight", 2, C, C)
        MAP("attention/dense/bias", "attention.output.dense.bias", 1, C, 0)
        MAP("post_attention_layernorm/weight", "output.LayerNorm.weight", 1, C, 0)
        MAP("post_attention_layernorm/bias", "output.LayerNorm.bias", 1, C, 0)
        MAP("mlp/dense_h_to_4h/weight", "intermediate.dense.weight", 2, F, C)
        MAP("mlp/dense_h_to_4h/bias", "intermediate.dense.bias", 1, F, 0)
        MAP("mlp/dense_4h_to_h/weight", "output.dense.weight", 2, C, F)
        MAP("mlp/dense_4h_to_h/bias", "output.dense.bias", 1, C, 0)
#undef MAP
    }
    if (c->binary_head) {
        add(m, n, PART_POOLER, "pooler/dense/weight", "pooler.dense.weight", 2, C, C);
        add(m, n, PART_POOLER, "pooler/dense/bias", "pooler.dense.bias", 1, C, 0);
    }
    add(m, n, PART_MLM, "lm_head/dense/weight", "cls.predictions.transform.dense.weight", 2, C, C);
    add(m, n, PART_MLM, "lm_head/dense/bias", "cls.predictions.transform.dense.bias", 1, C, 0);
    add(m, n, PART_MLM, "lm_head/layernorm/weight", "cls.predictions.transform.LayerNorm.weight", 1, C, 0);
    add(m, n, PART_MLM, "lm_head/layernorm/bias", "cls.predictions.transform.LayerNorm.bias", 1, C, 0);
    add(m, n, PART_MLM, "lm_head/bias", "cls.predictions.bias", 1, V, 0);
    if (c->binary_head) {
        add(m, n, PART_SENTENCE, "binary_head/weight", "cls.seq_relationship.weight", 2, 2, C);
        add(m, n, PART_SENTENCE, "binary_head/bias", "cls.seq_relationship.bias", 1, 2, 0);
    }
    return m;
}

/* HF tensor k (0..2 of a QKV entry, else 0) of e: its name and shape */
static void hf_name(const map_entry_t *e, int k, const char *prefix, char *buf, size_t len) {
    const char *pre = e->prefixed ? prefix : "";
    if (e->qkv) snprintf(buf, len, "%s%s.%s.%s", pre, e->hf, QKV_NAME[k], e->ndim == 2 ? "weight" : "bias");
    else snprintf(buf, len, "%s%s", pre, e->hf);
}

static void hf_shape(const map_entry_t *e, int64_t *s) {
    s[0] = e->qkv ? e->shape[0] / 3 : e->shape[0], s[1] = e->shape[1];
}

static int hf_count(const map_entry_t *e) { return e->qkv ? 3 : 1; }

/* megac row r of a QKV tensor [3C, ...] (heads of HS rows, [q k v] each) comes
 * from row src of HF's part *k */
static int64_t qkv_src(int64_t r, int64_t HS, int *k) {
    int64_t h = r / (3 * HS), j = (r % (3 * HS)) / HS, i = r % HS;
    *k = (int)j;
    return h * HS + i;
}

/* HF's tensors of e (parts[k], each [rows, K]) -> megac's layout in out */
static void to_megac(const map_entry_t *e, int heads, float *const parts[3], float *out) {
    if (!e->qkv) {
        memcpy(out, parts[0], (size_t)numel_of(e) * sizeof(float));
        return;
    }
    int64_t R = e->shape[0], K = e->ndim == 2 ? e->shape[1] : 1, HS = R / 3 / heads;
    for (int64_t r = 0; r < R; r++) {
        int k;
        int64_t src = qkv_src(r, HS, &k);
        memcpy(out + r * K, parts[k] + src * K, (size_t)K * sizeof(float));
    }
}

/* megac's tensor e (in) -> HF's tensor k of it in out */
static void from_megac(const map_entry_t *e, int heads, const float *in, int k, float *out) {
    if (!e->qkv) {
        memcpy(out, in, (size_t)numel_of(e) * sizeof(float));
        return;
    }
    int64_t R = e->shape[0], K = e->ndim == 2 ? e->shape[1] : 1, HS = R / 3 / heads;
    for (int64_t r = 0; r < R; r++) {
        int j;
        int64_t src = qkv_src(r, HS, &j);
        if (j == k) memcpy(out + src * K, in + r * K, (size_t)K * sizeof(float));
    }
}

/* ---------------------------------------------------------------- config.json */

static int config_from_json(const cJSON *j, const char *path, bert_config_t *c, err_t *err) {
    bert_config_defaults(c);
    const int big = 1 << 30;
    struct { const char *key; int *dst; } req[] = {
        {"hidden_size", &c->hidden_size}, {"num_hidden_layers", &c->num_layers},
        {"num_attention_heads", &c->num_attention_heads}, {"intermediate_size", &c->ffn_hidden_size},
        {"max_position_embeddings", &c->max_position_embeddings}, {"vocab_size", &c->vocab_size}};
    for (size_t i = 0; i < sizeof req / sizeof req[0]; i++) {
        if (!cJSON_GetObjectItemCaseSensitive(j, req[i].key)) return err_set(err, "%s: no '%s'", path, req[i].key);
        if (hf_json_int(j, req[i].key, 1, big, req[i].dst, path, err) != 0) return -1;
    }
    if (hf_json_int(j, "type_vocab_size", 1, big, &c->type_vocab_size, path, err) != 0) return -1;
    double eps = c->layernorm_epsilon, hd = c->hidden_dropout, ad = c->attention_dropout, std = c->init_method_std;
    if (hf_json_num(j, "layer_norm_eps", &eps, path, err) != 0 || hf_json_num(j, "hidden_dropout_prob", &hd, path, err) != 0 ||
        hf_json_num(j, "attention_probs_dropout_prob", &ad, path, err) != 0 ||
        hf_json_num(j, "initializer_range", &std, path, err) != 0)
        return -1;
    if (!(eps > 0 && eps < 1) || !(std > 0 && std < 1e3))
        return err_set(err, "%s: layer_norm_eps %g or initializer_range %g is out of range", path, eps, std);
    c->layernorm_epsilon = (float)eps, c->hidden_dropout = (float)hd, c->attention_dropout = (float)ad;
    c->init_method_std = (float)std;
    struct { const char *key, *want, *why; } strs[] = {
        {"model_type", "bert", "not BERT"},
        {"hidden_act", "gelu", "not BERT's erf GELU, which megac computes"},
        {"position_embedding_type", "absolute", "not the absolute position embeddings megac has"}};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, strs[i].key);
        if (v && !cJSON_IsNull(v) && (!cJSON_IsString(v) || strcmp(v->valuestring, strs[i].want) != 0))
            return err_set(err, "%s: %s %s%s%s is %s", path, strs[i].key, cJSON_IsString(v) ? "'" : "",
                           cJSON_IsString(v) ? v->valuestring : "(not a string)", cJSON_IsString(v) ? "'" : "", strs[i].why);
    }
    c->pre_ln = 0, c->binary_head = 1;
    c->seq_length = c->max_position_embeddings;
    int mp = (int)ceil(0.15 * c->seq_length); /* train bert's default; not part of the architecture */
    c->max_predictions_per_seq = mp < 1 ? 1 : mp;
    if (bert_config_validate(c, 1, err) != 0) return err_prefix(err, "%s", path);
    return 0;
}

int hf_bert_config(const char *path, bert_config_t *c, err_t *err) {
    cJSON *j = NULL;
    if (hf_read_json(path, &j, err) != 0) return -1;
    if (!j) return err_set(err, "%s: does not exist", path);
    int rc = config_from_json(j, path, c, err);
    cJSON_Delete(j);
    return rc;
}

/* ---------------------------------------------------------------- loading a file */

static const char *file_prefix(const st_file_t *st) {
    return st_find(st, "bert.embeddings.word_embeddings.weight") ? "bert." : "";
}

/* the file's tensors against the map: shapes, which parts are there (all of a
 * part's tensors or none), nothing unknown, the decoder tied */
static int check_file(st_file_t *st, const char *prefix, const map_entry_t *map, int nmap, const bert_config_t *c,
                      int have[PARTS], float *a, float *b, err_t *err) {
    int present[PARTS] = {0}, total[PARTS] = {0}, first_missing[PARTS];
    char name[ST_NAME_MAX + 16];
    for (int p = 0; p < PARTS; p++) first_missing[p] = -1;
    for (int i = 0; i < nmap; i++) {
        const map_entry_t *e = &map[i];
        int64_t s[2];
        hf_shape(e, s);
        for (int k = 0; k < hf_count(e); k++) {
            hf_name(e, k, prefix, name, sizeof name);
            const st_tensor_t *t = st_find(st, name);
            total[e->part]++;
            if (!t) {
                if (first_missing[e->part] < 0) first_missing[e->part] = i * 3 + k;
                continue;
            }
            present[e->part]++;
            int same = t->ndim == e->ndim && t->shape[0] == s[0] && (e->ndim == 1 || t->shape[1] == s[1]);
            if (!same) {
                if (e->ndim == 1) return err_set(err, "%s: tensor %s should be [%lld] (config.json)", st->path, name, (long long)s[0]);
                return err_set(err, "%s: tensor %s should be [%lld, %lld] (config.json)", st->path, name, (long long)s[0],
                               (long long)s[1]);
            }
        }
    }
    for (int p = 0; p < PARTS; p++) {
        have[p] = total[p] > 0 && present[p] == total[p];
        if (present[p] == total[p] || (present[p] == 0 && p != PART_ENCODER)) continue;
        int i = first_missing[p] / 3, k = first_missing[p] % 3;
        hf_name(&map[i], k, prefix, name, sizeof name);
        if (p == PART_ENCODER) return err_set(err, "%s: tensor %s is missing", st->path, name);
        return err_set(err, "%s: the %s is incomplete: tensor %s is missing", st->path, PART_HF[p], name);
    }
    /* every tensor of the file is one megac knows */
    for (int t = 0; t < st->ntensors; t++) {
        const char *k = st->tensors[t].name;
        int ok = 0;
        snprintf(name, sizeof name, "%sembeddings.position_ids", prefix);
        ok = strcmp(k, name) == 0 || (have[PART_MLM] && (strcmp(k, "cls.predictions.decoder.weight") == 0 ||
                                                          strcmp(k, "cls.predictions.decoder.bias") == 0));
        if (!ok && !c->binary_head) { /* a model without the sentence head ignores it */
            snprintf(name, sizeof name, "%spooler.", prefix);
            ok = strncmp(k, name, strlen(name)) == 0 || strncmp(k, "cls.seq_relationship.", 21) == 0;
        }
        for (int i = 0; i < nmap && !ok; i++)
            for (int j = 0; j < hf_count(&map[i]) && !ok; j++) {
                hf_name(&map[i], j, prefix, name, sizeof name);
                ok = strcmp(k, name) == 0;
            }
        if (!ok) return err_set(err, "%s: tensor %s is not a BERT parameter megac knows", st->path, k);
    }
    /* the MLM decoder is the word embedding (and its bias the head's bias) */
    const char *tied[2][2] = {{"cls.predictions.decoder.weight", "embeddings.word_embeddings.weight"},
                              {"cls.predictions.decoder.bias", "cls.predictions.bias"}};
    for (int i = 0; i < 2; i++) {
        const st_tensor_t *d = st_find(st, tied[i][0]);
        if (!d) continue;
        snprintf(name, sizeof name, "%s%s", i == 0 ? prefix : "", tied[i][1]);
        const st_tensor_t *w = st_find(st, name);
        int same = w && d->ndim == w->ndim;
        for (int k = 0; same && k < d->ndim; k++) same = d->shape[k] == w->shape[k];
        size_t n = 1;
        for (int k = 0; same && k < d->ndim; k++) n *= (size_t)d->shape[k];
        if (same && (st_read_f32(st, d, a, err) != 0 || st_read_f32(st, w, b, err) != 0)) return -1;
        if (!same || memcmp(a, b, n * sizeof(float)) != 0)
            return err_set(err, "%s: %s differs from %s (megac ties the masked-LM decoder to the word embeddings)",
                           st->path, tied[i][0], name);
    }
    return 0;
}

static int param_index(const bert_model_t *m, const char *name) {
    for (int k = 0; k < m->store.n; k++)
        if (strcmp(m->store.list.specs[k].name, name) == 0) return k;
    return -1;
}

/* largest tensor of the map, in elements */
static int64_t map_most(const map_entry_t *map, int nmap) {
    int64_t most = 1;
    for (int i = 0; i < nmap; i++) most = numel_of(&map[i]) > most ? numel_of(&map[i]) : most;
    return most;
}

static int load_open_file(bert_model_t *m, st_file_t *st, hf_bert_found_t *found, progress_t *pg, err_t *err) {
    const bert_config_t *c = &m->cfg;
    if (m->tp_size != 1) return err_set(err, "Hugging Face BERT loads into one rank (TP = 1)");
    if (c->pre_ln) return err_set(err, "Hugging Face BERT is post-LN; this model is pre-LN (--bert-layernorm-order pre)");
    const char *prefix = file_prefix(st);
    int nmap = 0, have[PARTS], rc = -1;
    map_entry_t *map = build_map(c, &nmap);
    float *a = NULL, *b = NULL;
    if (!map) return err_set(err, "out of memory");
    int64_t most = map_most(map, nmap);
    a = malloc((size_t)most * sizeof(float)), b = malloc((size_t)most * sizeof(float));
    if (!a || !b) {
        err_set(err, "out of memory for a %lld-element tensor", (long long)most);
        goto out;
    }
    if (check_file(st, prefix, map, nmap, c, have, a, b, err) != 0) goto out;
    int total = 0, done = 0;
    for (int i = 0; i < nmap; i++) total += have[map[i].part] ? hf_count(&map[i]) : 0;
    if (pg) pg->total = total;
    for (int i = 0; i < nmap; i++) {
        const map_entry_t *e = &map[i];
        if (!have[e->part]) continue;
        int idx = param_index(m, e->megac);
        if (idx < 0) {
            err_set(err, "internal: the BERT model has no tensor %s", e->megac);
            goto out;
        }
        int64_t part_n = numel_of(e) / hf_count(e);
        float *parts[3] = {a, a + part_n, a + 2 * part_n};
        char name[ST_NAME_MAX + 16];
        for (int k = 0; k < hf_count(e); k++) {
            hf_name(e, k, prefix, name, sizeof name);
            if (st_read_f32(st, st_find(st, name), parts[k], err) != 0) goto out;
            if (pg) progress_update(pg, ++done, NULL);
        }
        to_megac(e, c->num_attention_heads, parts, b);
        /* a vocabulary tensor fills the first rows of the padded one (the rest stay 0) */
        m->be->copy_to_device(m->be, m->store.params[idx].data, b, (size_t)numel_of(e) * sizeof(float));
    }
    if (found) *found = (hf_bert_found_t){have[PART_POOLER], have[PART_MLM], have[PART_SENTENCE]};
    rc = 0;
out:
    free(map), free(a), free(b);
    return rc;
}

int hf_bert_load(bert_model_t *m, const char *path, hf_bert_found_t *found, err_t *err) {
    st_file_t st;
    if (st_open(&st, path, err) != 0) return -1;
    int rc = load_open_file(m, &st, found, NULL, err);
    st_close(&st);
    return rc;
}

int hf_bert_detect(const char *in) {
    char st_path[4096], json_path[4096];
    err_t err;
    st_file_t st;
    if (hf_paths(in, st_path, sizeof st_path, json_path, sizeof json_path, &err) != 0 || st_open(&st, st_path, &err) != 0)
        return 0;
    int bert = st_find(&st, "embeddings.word_embeddings.weight") || st_find(&st, "bert.embeddings.word_embeddings.weight");
    st_close(&st);
    return bert;
}

/* ---------------------------------------------------------------- import */

/* the file's sizes agree with config.json, before a model of those sizes is allocated */
static int check_sizes(const st_file_t *st, const char *prefix, const bert_config_t *c, const char *json_path,
                       err_t *err) {
    char k[ST_NAME_MAX + 16];
    snprintf(k, sizeof k, "%sembeddings.word_embeddings.weight", prefix);
    const st_tensor_t *w = st_find(st, k);
    if (!w || w->ndim != 2 || w->shape[0] != c->vocab_size || w->shape[1] != c->hidden_size)
        return err_set(err, "%s: %s is not [vocab_size %d, hidden_size %d] of %s", st->path, k, c->vocab_size,
                       c->hidden_size, json_path);
    int L = 0;
    for (;; L++) {
        snprintf(k, sizeof k, "%sencoder.layer.%d.attention.self.query.weight", prefix, L);
        if (!st_find(st, k)) break;
    }
    if (L != c->num_layers)
        return err_set(err, "%s: num_hidden_layers is %d, %s holds %d layers", json_path, c->num_layers, st->path, L);
    const char *dims[2] = {"embeddings.position_embeddings.weight", "encoder.layer.0.intermediate.dense.weight"};
    int64_t rows[2] = {c->max_position_embeddings, ffn_of(c)};
    for (int i = 0; i < 2; i++) {
        snprintf(k, sizeof k, "%s%s", prefix, dims[i]);
        const st_tensor_t *t = st_find(st, k);
        if (!t || t->ndim != 2 || t->shape[0] != rows[i] || t->shape[1] != c->hidden_size)
            return err_set(err, "%s: %s is missing or not [%lld, %d] as %s says", st->path, k, (long long)rows[i],
                           c->hidden_size, json_path);
    }
    return 0;
}

int hf_bert_import(const char *in, const char *out_root, uint64_t seed, int allow_nonfinite, const char *megac_version,
                   char *summary, size_t summary_len, progress_t *pg, err_t *err) {
    char st_path[4096], json_path[4096];
    if (hf_paths(in, st_path, sizeof st_path, json_path, sizeof json_path, err) != 0) return -1;
    st_file_t st;
    if (st_open(&st, st_path, err) != 0) return -1;
    st.allow_nonfinite = allow_nonfinite;
    cJSON *json = NULL;
    bert_model_t m;
    memset(&m, 0, sizeof m);
    ckpt_param_t *params = NULL;
    int rc = -1;
    bert_config_t cfg;
    const char *prefix = file_prefix(&st);
    if (hf_read_json(json_path, &json, err) != 0) goto out;
    if (!json) {
        err_set(err, "%s: no config.json next to it (%s): BERT's sizes and head count come from it", st_path, json_path);
        goto out;
    }
    if (config_from_json(json, json_path, &cfg, err) != 0 || check_sizes(&st, prefix, &cfg, json_path, err) != 0) goto out;
    if (bert_create(&m, &cfg, backend_cpu(), 1, 2, NULL, err) != 0) goto out;
    bert_init_weights(&m, seed); /* what the file lacks keeps megac's initialization */
    hf_bert_found_t found;
    if (load_open_file(&m, &st, &found, pg, err) != 0) goto out;
    if (!(params = calloc((size_t)m.store.n, sizeof *params))) {
        err_set(err, "out of memory");
        goto out;
    }
    bert_ckpt_params(&m, params);
    ckpt_meta_t meta;
    ckpt_meta_init(&meta);
    snprintf(meta.megac_version, sizeof meta.megac_version, "%s", megac_version);
    if (bert_ckpt_put_config(&meta, &cfg, err) != 0) goto out;
    meta.seed = seed;
    meta.tokenizer_added_tokens = 0; /* the vocabulary is Hugging Face's, as its vocab.txt has it */
    meta.adam = (adamw_config_t){0.9f, 0.999f, 1e-8f, 0.01f, OPTIM_ADAM};
    meta.schedule.style = LR_DECAY_CONSTANT;
    /* what came from the file and what megac initialized */
    int have[PARTS] = {1, found.pooler, found.mlm_head, found.sentence_head};
    char lacks[256] = "", inits[128] = "";
    for (int p = 1; p < PARTS; p++) {
        if (have[p]) continue;
        size_t a = strlen(lacks), b = strlen(inits);
        snprintf(lacks + a, sizeof lacks - a, "%sno %s", a ? ", " : "", PART_HF[p]);
        snprintf(inits + b, sizeof inits - b, "%s%s", b ? ", " : "", PART_MEGAC[p]);
    }
    if (lacks[0])
        snprintf(meta.origin, sizeof meta.origin,
                 "Hugging Face BERT %.200s: the file has %s; megac initialized %s (seed %llu)", st_path, lacks, inits,
                 (unsigned long long)seed);
    else
        snprintf(meta.origin, sizeof meta.origin, "Hugging Face BERT %.200s: every tensor from the file", st_path);
    ckpt_layout_t lay = {NULL, 0, 1, 0, 1, 0};
    ckpt_save_stats_t stats;
    if (ckpt_save(out_root, &meta, &lay, m.be, params, m.store.n, NULL, 0, &stats, err) != 0) goto out;
    snprintf(summary, summary_len, "imported %s (%d layers, hidden %d, %d heads, vocabulary %d) into %s%s%s", st_path,
             cfg.num_layers, cfg.hidden_size, cfg.num_attention_heads, cfg.vocab_size, stats.dir,
             lacks[0] ? "; not in the file, initialized by megac: " : "", inits);
    rc = 0;
out:
    if (m.store.params) bert_destroy(&m);
    st_close(&st);
    cJSON_Delete(json);
    free(params);
    return rc;
}

/* ---------------------------------------------------------------- export */

static int write_config(const char *path, const bert_config_t *c, err_t *err) {
    cJSON *o = cJSON_CreateObject();
    cJSON *arch = cJSON_AddArrayToObject(o, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString(c->binary_head ? "BertForPreTraining" : "BertForMaskedLM"));
    cJSON_AddStringToObject(o, "model_type", "bert");
    cJSON_AddNumberToObject(o, "vocab_size", c->vocab_size);
    cJSON_AddNumberToObject(o, "hidden_size", c->hidden_size);
    cJSON_AddNumberToObject(o, "num_hidden_layers", c->num_layers);
    cJSON_AddNumberToObject(o, "num_attention_heads", c->num_attention_heads);
    cJSON_AddNumberToObject(o, "intermediate_size", ffn_of(c));
    cJSON_AddStringToObject(o, "hidden_act", "gelu");
    cJSON_AddNumberToObject(o, "hidden_dropout_prob", ckpt_json_float(c->hidden_dropout));
    cJSON_AddNumberToObject(o, "attention_probs_dropout_prob", ckpt_json_float(c->attention_dropout));
    cJSON_AddNumberToObject(o, "max_position_embeddings", c->max_position_embeddings);
    cJSON_AddNumberToObject(o, "type_vocab_size", c->type_vocab_size);
    cJSON_AddNumberToObject(o, "initializer_range", ckpt_json_float(c->init_method_std));
    cJSON_AddNumberToObject(o, "layer_norm_eps", ckpt_json_float(c->layernorm_epsilon));
    cJSON_AddNumberToObject(o, "pad_token_id", 0);
    cJSON_AddStringToObject(o, "position_embedding_type", "absolute");
    cJSON_AddBoolToObject(o, "tie_word_embeddings", 1);
    cJSON_AddStringToObject(o, "torch_dtype", "float32");
    int rc = hf_write_json(path, o, err);
    cJSON_Delete(o);
    return rc;
}

/* one tensor of the exported file: map entry and part */
typedef struct out_tensor {
    char name[ST_NAME_MAX];
    int entry, k;
} out_tensor_t;

static int cmp_out(const void *x, const void *y) {
    return strcmp(((const out_tensor_t *)x)->name, ((const out_tensor_t *)y)->name);
}

int hf_bert_export(const char *ckpt, const char *out_dir, progress_t *pg, err_t *err) {
    char dir[CKPT_PATH_MAX];
    if (ckpt_locate(ckpt, dir, sizeof dir, err) != 1) return -1;
    ckpt_reader_t r;
    if (ckpt_open(&r, dir, 0, err) != 0) return -1;
    bert_config_t cfg, hf_cfg;
    map_entry_t *map = NULL, *hf_map = NULL;
    out_tensor_t *outs = NULL;
    st_tensor_t *ts = NULL;
    float *a = NULL, *b = NULL;
    int nmap = 0, nout = 0, rc = -1, writing = 0;
    st_writer_t w;
    char path[4200];
    if (bert_ckpt_get_config(&r.meta, &cfg, err) != 0) {
        err_prefix(err, "%s", dir);
        goto out;
    }
    if (cfg.pre_ln) {
        err_set(err, "%s: the model is pre-LN (--bert-layernorm-order pre); Hugging Face BERT is post-LN", dir);
        goto out;
    }
    /* Hugging Face's vocabulary is the vocab.txt one: the rows of the tokens the
     * training tokenizer appended to it (megac's WordPiece [BOS]/[EOS], never in
     * BERT's inputs) are left out, as BertModel needs config.json's vocab_size
     * rows. A checkpoint without the record (older ones) exports every row. */
    hf_cfg = cfg;
    int added = r.meta.tokenizer_added_tokens;
    if (added > 0 && added < cfg.vocab_size) hf_cfg.vocab_size = cfg.vocab_size - added;
    int hf_n = 0;
    if (!(map = build_map(&cfg, &nmap)) || !(hf_map = build_map(&hf_cfg, &hf_n)) ||
        !(outs = calloc((size_t)nmap * 3, sizeof *outs)) ||
        !(ts = calloc((size_t)nmap * 3, sizeof *ts))) {
        err_set(err, "out of memory");
        goto out;
    }
    for (int i = 0; i < nmap; i++) {
        const ckpt_entry_t *e = ckpt_find(&r, CKPT_MODEL, map[i].megac);
        if (!e || e->ndim != map[i].ndim || e->shape[0] != map[i].shape[0] || (e->ndim > 1 && e->shape[1] != map[i].shape[1])) {
            err_set(err, "%s: tensor %s is missing or not shaped as its configuration says", dir, map[i].megac);
            goto out;
        }
        for (int k = 0; k < hf_count(&map[i]); k++, nout++) {
            hf_name(&map[i], k, "bert.", outs[nout].name, sizeof outs[nout].name);
            outs[nout].entry = i, outs[nout].k = k;
        }
    }
    qsort(outs, (size_t)nout, sizeof *outs, cmp_out); /* in key order, as Hugging Face writes */
    for (int i = 0; i < nout; i++) {
        const map_entry_t *e = &hf_map[outs[i].entry];
        snprintf(ts[i].name, sizeof ts[i].name, "%s", outs[i].name);
        snprintf(ts[i].dtype, sizeof ts[i].dtype, "F32");
        ts[i].ndim = e->ndim;
        hf_shape(e, ts[i].shape);
    }
    int64_t most = map_most(map, nmap);
    a = malloc((size_t)most * sizeof(float)), b = malloc((size_t)most * sizeof(float));
    if (!a || !b) {
        err_set(err, "out of memory for a %lld-element tensor", (long long)most);
        goto out;
    }
    if (ckpt_mkdirs(out_dir, err) != 0) goto out;
    snprintf(path, sizeof path, "%s/model.safetensors", out_dir);
    if (st_write_begin(&w, path, ts, nout, err) != 0) goto out;
    writing = 1;
    if (pg) pg->total = nout;
    for (int i = 0; i < nout; i++) {
        const map_entry_t *e = &hf_map[outs[i].entry]; /* the first rows of a vocabulary tensor */
        ckpt_box_t box = {.ndim = e->ndim};
        for (int d = 0; d < e->ndim; d++) box.cnt[d] = e->shape[d];
        if (ckpt_read(&r, ckpt_find(&r, CKPT_MODEL, e->megac), &box, a, err) != 0) goto out;
        from_megac(e, cfg.num_attention_heads, a, outs[i].k, b);
        if (st_write(&w, b, (size_t)(numel_of(e) / hf_count(e)) * sizeof(float), err) != 0) goto out;
        if (pg) progress_update(pg, i + 1, NULL);
    }
    writing = 0;
    if (st_write_end(&w, err) != 0) goto out;
    snprintf(path, sizeof path, "%s/config.json", out_dir);
    if (write_config(path, &hf_cfg, err) != 0) goto out;
    rc = 0;
out:
    if (writing) st_write_abort(&w);
    ckpt_close(&r);
    free(map), free(hf_map), free(outs), free(ts), free(a), free(b);
    return rc;
}
