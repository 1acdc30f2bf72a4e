/* megatron.c — megac checkpoints <-> the Megatron converter's interchange
 * directory (see megatron.h). */
#define _GNU_SOURCE
#include "megatron.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../checkpoints/checkpoint.h"
#include "../checkpoints/safetensors.h"
#include "../models/bert.h"
#include "../models/gpt.h"

/* how tensor parallelism splits a GPT tensor (Megatron's column- and row-parallel
 * layers, the vocabulary-parallel embedding); -1: replicated */
static int split_of(const char *name) {
    static const char *const rows[] = {"attention/qkv/weight", "attention/qkv/bias", "mlp/dense_h_to_4h/weight",
                                       "mlp/dense_h_to_4h/bias", "embedding/word_embeddings/weight",
                                       "lm_head/bias"};
    static const char *const cols[] = {"attention/dense/weight", "mlp/dense_4h_to_h/weight"};
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        size_t k = strlen(rows[i]);
        if (n >= k && strcmp(name + n - k, rows[i]) == 0) return 0;
    }
    for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++) {
        size_t k = strlen(cols[i]);
        if (n >= k && strcmp(name + n - k, cols[i]) == 0) return 1;
    }
    return -1;
}

static int read_text(const char *path, char **out, err_t *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return err_set(err, "%s: cannot open it", path);
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) break;
        if (cap >= (1u << 26)) {
            free(buf), fclose(f);
            return err_set(err, "%s: larger than 64 MiB", path);
        }
        char *nb = realloc(buf, 2 * cap + 1);
        if (!nb) free(buf);
        buf = nb, cap *= 2;
    }
    fclose(f);
    if (!buf) return err_set(err, "out of memory reading %s", path);
    buf[n] = 0;
    *out = buf;
    return 0;
}

/* "model/x", "optimizer/exp_avg/x", "optimizer/exp_avg_sq/x" -> kind and x */
static int kind_of(const char *key, ckpt_kind_t *kind, const char **name) {
    static const struct { const char *prefix; ckpt_kind_t kind; } k[] = {
        {"model/", CKPT_MODEL}, {"optimizer/exp_avg_sq/", CKPT_EXP_AVG_SQ}, {"optimizer/exp_avg/", CKPT_EXP_AVG}};
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(k[i].prefix);
        if (strncmp(key, k[i].prefix, n) == 0 && key[n]) {
            *kind = k[i].kind, *name = key + n;
            return 0;
        }
    }
    return -1;
}

int megatron_import_interchange(const char *dir, const char *out_root, const char *megac_version, char *summary,
                                size_t len, err_t *err) {
    char path[4200];
    char *text = NULL;
    cJSON *json = NULL;
    st_file_t st;
    int st_open_ok = 0, began = 0, opened = 0, rc = -1;
    float *buf = NULL;
    ckpt_txn_t tx;
    ckpt_writer_t w;
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (read_text(path, &text, err) != 0) return -1;
    if (!(json = cJSON_Parse(text))) {
        err_set(err, "%s: not valid JSON", path);
        goto out;
    }
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(json, "model_type");
    const cJSON *mcfg = cJSON_GetObjectItemCaseSensitive(json, "model_config");
    const cJSON *iter = cJSON_GetObjectItemCaseSensitive(json, "iteration");
    const cJSON *step = cJSON_GetObjectItemCaseSensitive(json, "optimizer_step");
    const cJSON *origin = cJSON_GetObjectItemCaseSensitive(json, "origin");
    int bert = cJSON_IsString(type) && strcmp(type->valuestring, "bert") == 0;
    if (!cJSON_IsString(type) || (!bert && strcmp(type->valuestring, "gpt") != 0) || !cJSON_IsString(mcfg) ||
        !cJSON_IsNumber(iter) || iter->valuedouble < 0) {
        err_set(err, "%s: needs model_type \"gpt\" or \"bert\", model_config and a non-negative iteration", path);
        goto out;
    }
    ckpt_meta_t meta;
    ckpt_meta_init(&meta);
    snprintf(meta.megac_version, sizeof meta.megac_version, "%s", megac_version);
    gpt_config_t gcfg;
    bert_config_t bcfg;
    int vocab_pad;
    if (bert ? bert_config_from_text(&bcfg, mcfg->valuestring, err) != 0 || bert_config_validate(&bcfg, 1, err) != 0
             : gpt_config_from_text(&gcfg, mcfg->valuestring, err) != 0 || gpt_config_validate(&gcfg, 1, err) != 0) {
        err_prefix(err, "%s: model_config", path);
        goto out;
    }
    vocab_pad = bert ? bcfg.make_vocab_size_divisible_by : gcfg.make_vocab_size_divisible_by;
    snprintf(meta.model_type, sizeof meta.model_type, "%s", bert ? "bert" : "gpt");
    if ((bert ? bert_config_to_text(&bcfg, meta.model_config, sizeof meta.model_config)
              : gpt_config_to_text(&gcfg, meta.model_config, sizeof meta.model_config)) != 0) {
        err_set(err, "the model configuration does not fit the metadata record");
        goto out;
    }
    meta.iteration = (int64_t)iter->valuedouble;
    meta.seed = 1234;
    meta.adam = (adamw_config_t){0.9f, 0.999f, 1e-8f, 0.01f, OPTIM_ADAM};
    meta.schedule.style = LR_DECAY_CONSTANT;
    if (cJSON_IsString(origin)) snprintf(meta.origin, sizeof meta.origin, "%s", origin->valuestring);
    snprintf(path, sizeof path, "%s/tensors.safetensors", dir);
    if (st_open(&st, path, err) != 0) goto out;
    st_open_ok = 1;
    /* every tensor: a known kind, a float32 box, moments only with a step */
    int64_t most = 1;
    int moments = 0;
    for (int i = 0; i < st.ntensors; i++) {
        const st_tensor_t *t = &st.tensors[i];
        ckpt_kind_t kind;
        const char *name;
        if (kind_of(t->name, &kind, &name) != 0 || t->ndim < 1 || t->ndim > 2) {
            err_set(err, "%s: tensor %s is not a model/ or optimizer/exp_avg[_sq]/ tensor of 1 or 2 dimensions", path,
                    t->name);
            goto out;
        }
        if (strlen(name) >= TENSOR_NAME_LEN) {
            err_set(err, "%s: tensor name %s is too long", path, t->name);
            goto out;
        }
        moments += kind != CKPT_MODEL;
        int64_t v = t->ndim == 1 ? t->shape[0] : t->shape[0] * t->shape[1];
        if (v > most) most = v;
    }
    if (moments) {
        if (!cJSON_IsNumber(step) || step->valuedouble < 0) {
            err_set(err, "%s/config.json: Adam moments without an optimizer_step", dir);
            goto out;
        }
        meta.has_optimizer = 1, meta.optimizer_step = (int64_t)step->valuedouble;
        const cJSON *adam = cJSON_GetObjectItemCaseSensitive(json, "adam");
        const char *keys[4] = {"beta1", "beta2", "eps", "weight_decay"};
        float *dst[4] = {&meta.adam.beta1, &meta.adam.beta2, &meta.adam.eps, &meta.adam.weight_decay};
        for (int k = 0; cJSON_IsObject(adam) && k < 4; k++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(adam, keys[k]);
            if (cJSON_IsNumber(v)) *dst[k] = (float)v->valuedouble;
        }
    }
    if (!(buf = malloc((size_t)most * sizeof(float)))) {
        err_set(err, "out of memory for a %lld-element tensor", (long long)most);
        goto out;
    }
    if (ckpt_txn_begin(&tx, out_root, meta.iteration, err) != 0) goto out;
    began = 1;
    if (ckpt_writer_open(&w, tx.tmp, "mp_rank_00.h5", &meta, "model", 0, 0, err) != 0) goto out;
    opened = 1;
    for (int i = 0; i < st.ntensors; i++) {
        const st_tensor_t *t = &st.tensors[i];
        ckpt_kind_t kind = CKPT_MODEL;
        const char *name = t->name;
        kind_of(t->name, &kind, &name); /* checked above */
        if (st_read_f32(&st, t, buf, err) != 0) goto out;
        int split = split_of(name);
        ckpt_piece_desc_t d = {.tensor = name, .ndim = t->ndim, .split_dim = split, .pad_multiple = 1, .part = -1};
        if (strcmp(name, "embedding/word_embeddings/weight") == 0 || strcmp(name, "lm_head/bias") == 0)
            d.pad_multiple = vocab_pad; /* the vocabulary, stored unpadded */
        d.box.ndim = t->ndim;
        for (int k = 0; k < t->ndim; k++) d.shape[k] = d.box.cnt[k] = t->shape[k];
        if (ckpt_writer_put(&w, kind, &d, buf, backend_cpu(), err) != 0) goto out;
    }
    int64_t bytes = w.bytes;
    opened = 0;
    if (ckpt_writer_close(&w, err) != 0 || ckpt_txn_commit(&tx, 0, err) != 0) goto out;
    began = 0;
    snprintf(summary, len, "%s/iter_%07lld: %d tensors, %.2f MB, %s", out_root, (long long)meta.iteration,
             st.ntensors, bytes / 1e6, moments ? "with the Adam moments" : "weights only");
    rc = 0;
out:
    if (opened) ckpt_writer_discard(&w);
    if (began) ckpt_txn_abort(&tx);
    if (st_open_ok) st_close(&st);
    cJSON_Delete(json);
    free(text), free(buf);
    return rc;
}

int megatron_export_interchange(const char *ckpt, const char *dir, err_t *err) {
    char idir[CKPT_PATH_MAX], path[4200];
    if (ckpt_locate(ckpt, idir, sizeof idir, err) != 1) return -1;
    ckpt_reader_t r;
    if (ckpt_open(&r, idir, 1, err) != 0) return -1;
    int rc = -1, writing = 0;
    st_tensor_t *ts = NULL;
    float *buf = NULL;
    cJSON *o = NULL;
    char *js = NULL;
    st_writer_t w;
    if (strcmp(r.meta.model_type, "gpt") != 0 && strcmp(r.meta.model_type, "bert") != 0) {
        err_set(err, "%s: the model is %s; export-megatron writes GPT and BERT models", idir, r.meta.model_type);
        goto out;
    }
    if (!(ts = calloc((size_t)r.nentries, sizeof *ts))) {
        err_set(err, "out of memory");
        goto out;
    }
    int64_t most = 1;
    for (int i = 0; i < r.nentries; i++) {
        const ckpt_entry_t *e = &r.entries[i];
        int64_t v = 1;
        for (int d = 0; d < e->ndim; d++) v *= e->shape[d], ts[i].shape[d] = e->shape[d];
        if (v > most) most = v;
        snprintf(ts[i].name, sizeof ts[i].name, "%s/%s", ckpt_kind_group(e->kind), e->name);
        snprintf(ts[i].dtype, sizeof ts[i].dtype, "F32");
        ts[i].ndim = e->ndim;
    }
    if (!(buf = malloc((size_t)most * sizeof(float)))) {
        err_set(err, "out of memory for a %lld-element tensor", (long long)most);
        goto out;
    }
    if (ckpt_mkdirs(dir, err) != 0) goto out;
    snprintf(path, sizeof path, "%s/tensors.safetensors", dir);
    if (st_write_begin(&w, path, ts, r.nentries, err) != 0) goto out;
    writing = 1;
    for (int i = 0; i < r.nentries; i++) {
        const ckpt_entry_t *e = &r.entries[i];
        ckpt_box_t box = {.ndim = e->ndim};
        int64_t v = 1;
        for (int d = 0; d < e->ndim; d++) box.cnt[d] = e->shape[d], v *= e->shape[d];
        if (ckpt_read(&r, e, &box, buf, err) != 0 || st_write(&w, buf, (size_t)v * sizeof(float), err) != 0) goto out;
    }
    writing = 0;
    if (st_write_end(&w, err) != 0) goto out;
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model_type", r.meta.model_type);
    cJSON_AddStringToObject(o, "model_config", r.meta.model_config);
    cJSON_AddNumberToObject(o, "iteration", (double)r.meta.iteration);
    if (r.meta.has_optimizer) cJSON_AddNumberToObject(o, "optimizer_step", (double)r.meta.optimizer_step);
    else cJSON_AddNullToObject(o, "optimizer_step");
    js = cJSON_Print(o);
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = js ? fopen(path, "w") : NULL;
    int bad = !f || fputs(js, f) < 0;
    if (f) bad |= fclose(f) != 0;
    if (bad) {
        err_set(err, "%s: cannot write it", path);
        goto out;
    }
    rc = 0;
out:
    if (writing) st_write_abort(&w);
    ckpt_close(&r);
    cJSON_Delete(o);
    free(js), free(ts), free(buf);
    return rc;
}
