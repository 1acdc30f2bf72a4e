/* hf_gpt2.c — Hugging Face GPT-2 <-> megac checkpoints (see hf_gpt2.h). */
#include "hf_gpt2.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../models/model_checkpoint.h"
#include "../checkpoints/safetensors.h"
#include "hf_files.h"

typedef enum xform {
    X_COPY,      /* same layout */
    X_TRANSPOSE, /* Conv1D [in, out] <-> Linear [out, in] */
    X_QKV_W,     /* c_attn [C, 3C] (q|k|v columns) <-> qkv [3C, C] ([q k v] rows per head) */
    X_QKV_B,     /* c_attn bias [3C] <-> qkv bias [3C] */
} xform_t;

typedef struct map_entry {
    char megac[TENSOR_NAME_LEN];
    char hf[ST_NAME_MAX];
    xform_t x;
    int ndim;
    int64_t shape[2]; /* megac's global shape (vocabulary unpadded) */
    int split_dim;
    int64_t pad_multiple;
} map_entry_t;

static int ffn_of(const gpt_config_t *c) { return c->ffn_hidden_size > 0 ? c->ffn_hidden_size : 4 * c->hidden_size; }

static map_entry_t *add(map_entry_t *m, int *n, const char *megac, const char *hf, xform_t x, int ndim, int64_t d0,
                        int64_t d1, int split) {
    map_entry_t *e = &m[(*n)++];
    snprintf(e->megac, sizeof e->megac, "%s", megac);
    snprintf(e->hf, sizeof e->hf, "%s", hf);
    e->x = x, e->ndim = ndim, e->shape[0] = d0, e->shape[1] = d1, e->split_dim = split, e->pad_multiple = 1;
    return e;
}

/* megac's tensors in its parameter order, with their GPT-2 names */
static map_entry_t *build_map(const gpt_config_t *c, int *n) {
    int64_t C = c->hidden_size, F = ffn_of(c), L = c->num_layers;
    map_entry_t *m = calloc((size_t)(4 + 12 * L), sizeof *m);
    if (!m) return NULL;
    *n = 0;
    add(m, n, "embedding/word_embeddings/weight", "wte.weight", X_COPY, 2, c->vocab_size, C, 0)->pad_multiple =
        c->make_vocab_size_divisible_by;
    add(m, n, "embedding/position_embeddings/weight", "wpe.weight", X_COPY, 2, c->max_position_embeddings, C, -1);
    for (int l = 0; l < L; l++) {
        char a[TENSOR_NAME_LEN], b[ST_NAME_MAX];
#define MAP(msuffix, hsuffix, x, nd, d0, d1, split)                                                \
    snprintf(a, sizeof a, "layers/%02d/%s", l, msuffix);                                           \
    snprintf(b, sizeof b, "h.%d.%s", l, hsuffix);                                                  \
    add(m, n, a, b, x, nd, d0, d1, split);
        MAP("input_layernorm/weight", "ln_1.weight", X_COPY, 1, C, 0, -1)
        MAP("input_layernorm/bias", "ln_1.bias", X_COPY, 1, C, 0, -1)
        MAP("attention/qkv/weight", "attn.c_attn.weight", X_QKV_W, 2, 3 * C, C, 0)
        MAP("attention/qkv/bias", "attn.c_attn.bias", X_QKV_B, 1, 3 * C, 0, 0)
        MAP("attention/dense/weight", "attn.c_proj.weight", X_TRANSPOSE, 2, C, C, 1)
        MAP("attention/dense/bias", "attn.c_proj.bias", X_COPY, 1, C, 0, -1)
        MAP("post_attention_layernorm/weight", "ln_2.weight", X_COPY, 1, C, 0, -1)
        MAP("post_attention_layernorm/bias", "ln_2.bias", X_COPY, 1, C, 0, -1)
        MAP("mlp/dense_h_to_4h/weight", "mlp.c_fc.weight", X_TRANSPOSE, 2, F, C, 0)
        MAP("mlp/dense_h_to_4h/bias", "mlp.c_fc.bias", X_COPY, 1, F, 0, 0)
        MAP("mlp/dense_4h_to_h/weight", "mlp.c_proj.weight", X_TRANSPOSE, 2, C, F, 1)
        MAP("mlp/dense_4h_to_h/bias", "mlp.c_proj.bias", X_COPY, 1, C, 0, -1)
#undef MAP
    }
    add(m, n, "final_layernorm/weight", "ln_f.weight", X_COPY, 1, C, 0, -1);
    add(m, n, "final_layernorm/bias", "ln_f.bias", X_COPY, 1, C, 0, -1);
    return m;
}

/* GPT-2's shape of the tensor megac holds as e */
static void hf_shape(const map_entry_t *e, int64_t *s) {
    s[0] = e->shape[0], s[1] = e->shape[1];
    if (e->x == X_TRANSPOSE) s[0] = e->shape[1], s[1] = e->shape[0];
    if (e->x == X_QKV_W) s[0] = e->shape[1], s[1] = e->shape[0];
}

static int64_t numel_of(const map_entry_t *e) { return e->ndim == 1 ? e->shape[0] : e->shape[0] * e->shape[1]; }

/* c_attn column of megac qkv row r: head h, part j (q, k, v), element i */
static int64_t qkv_col(int64_t r, int64_t C, int64_t HS) {
    int64_t h = r / (3 * HS), j = (r % (3 * HS)) / HS, i = r % HS;
    return j * C + h * HS + i;
}

/* to_megac: GPT-2 layout in `in` -> megac layout in `out`; else the reverse */
static void convert(const map_entry_t *e, int heads, int to_megac, const float *in, float *out) {
    int64_t R = e->shape[0], K = e->ndim > 1 ? e->shape[1] : 1;
    switch (e->x) {
    case X_COPY: memcpy(out, in, (size_t)numel_of(e) * sizeof(float)); break;
    case X_TRANSPOSE: /* megac [R, K] <-> GPT-2 [K, R] */
        for (int64_t i = 0; i < R; i++)
            for (int64_t j = 0; j < K; j++) {
                if (to_megac) out[i * K + j] = in[j * R + i];
                else out[j * R + i] = in[i * K + j];
            }
        break;
    case X_QKV_W: { /* megac [3C, C], GPT-2 [C, 3C] */
        int64_t C = K, HS = C / heads;
        for (int64_t r = 0; r < R; r++) {
            int64_t col = qkv_col(r, C, HS);
            for (int64_t c = 0; c < C; c++) {
                if (to_megac) out[r * C + c] = in[c * R + col];
                else out[c * R + col] = in[r * C + c];
            }
        }
        break;
    }
    case X_QKV_B: {
        int64_t C = R / 3, HS = C / heads;
        for (int64_t r = 0; r < R; r++) {
            if (to_megac) out[r] = in[qkv_col(r, C, HS)];
            else out[qkv_col(r, C, HS)] = in[r];
        }
        break;
    }
    }
}

/* ---------------------------------------------------------------- import */

static int find_shape(const st_file_t *st, const char *name, int ndim, const int64_t *shape, const st_tensor_t **t,
                      err_t *err) {
    *t = st_find(st, name);
    if (!*t) return err_set(err, "%s: tensor %s is missing", st->path, name);
    int same = (*t)->ndim == ndim;
    for (int d = 0; same && d < ndim; d++) same = (*t)->shape[d] == shape[d];
    if (!same) {
        if (ndim == 1) return err_set(err, "%s: tensor %s should be [%lld]", st->path, name, (long long)shape[0]);
        return err_set(err, "%s: tensor %s should be [%lld, %lld]", st->path, name, (long long)shape[0], (long long)shape[1]);
    }
    return 0;
}

/* the GPT-2 configuration from the tensor shapes and config.json */
static int import_config(const st_file_t *st, const char *prefix, const cJSON *json, const char *json_path,
                         int heads, gpt_config_t *c, err_t *err) {
    char k[ST_NAME_MAX];
    snprintf(k, sizeof k, "%swte.weight", prefix);
    const st_tensor_t *wte = st_find(st, k);
    snprintf(k, sizeof k, "%swpe.weight", prefix);
    const st_tensor_t *wpe = st_find(st, k);
    snprintf(k, sizeof k, "%sh.0.mlp.c_fc.weight", prefix);
    const st_tensor_t *fc = st_find(st, k);
    if (!wte || !wpe || !fc || wte->ndim != 2 || wpe->ndim != 2 || fc->ndim != 2)
        return err_set(err, "%s: no GPT-2 wte/wpe/h.0.mlp.c_fc matrices (keys %swte.weight ...)", st->path, prefix);
    int L = 0;
    for (;; L++) {
        snprintf(k, sizeof k, "%sh.%d.ln_1.weight", prefix, L);
        if (!st_find(st, k)) break;
    }
    gpt_config_defaults(c);
    /* sizes are whole numbers in range (n_head 1e300 or -4 is refused by name), the rest finite floats */
    int n_head = heads, n_layer = L, n_embd = wte->shape[1] > INT32_MAX ? -1 : (int)wte->shape[1];
    double eps = c->layernorm_epsilon, resid = c->hidden_dropout, attn = c->attention_dropout;
    double std = c->init_method_std;
    if (hf_json_int(json, "n_head", 1, 1 << 16, &n_head, json_path, err) != 0 ||
        hf_json_num(json, "layer_norm_epsilon", &eps, json_path, err) != 0 ||
        hf_json_num(json, "resid_pdrop", &resid, json_path, err) != 0 || hf_json_num(json, "attn_pdrop", &attn, json_path, err) != 0 ||
        hf_json_num(json, "initializer_range", &std, json_path, err) != 0 ||
        hf_json_int(json, "n_layer", 1, 1 << 16, &n_layer, json_path, err) != 0 ||
        hf_json_int(json, "n_embd", 1, 1 << 20, &n_embd, json_path, err) != 0)
        return -1;
    if (!(eps > 0 && eps < 1) || !(std > 0 && std < 1e3))
        return err_set(err, "%s: layer_norm_epsilon %g or initializer_range %g is out of range", json_path, eps, std);
    if (heads > 0) n_head = heads;
    const cJSON *act = json ? cJSON_GetObjectItemCaseSensitive(json, "activation_function") : NULL;
    if (cJSON_IsString(act) && strcmp(act->valuestring, "gelu_new") != 0 && strcmp(act->valuestring, "gelu_pytorch_tanh") != 0)
        return err_set(err, "%s: activation_function '%s' is not GELU's tanh form, which megac computes", json_path, act->valuestring);
    if (n_head <= 0) return err_set(err, "%s: no config.json with n_head next to it; give --num-attention-heads", st->path);
    if (n_layer != L || n_embd != wte->shape[1])
        return err_set(err, "%s: config.json says %d layers of width %d, the tensors %d of width %lld", json_path, n_layer,
                       n_embd, L, (long long)wte->shape[1]);
    if (L == 0 || wte->shape[0] > INT32_MAX || wte->shape[1] > INT32_MAX || wpe->shape[0] > INT32_MAX ||
        fc->shape[1] > INT32_MAX)
        return err_set(err, "%s: unusable GPT-2 shapes", st->path);
    c->num_layers = L;
    c->hidden_size = (int)wte->shape[1];
    c->num_attention_heads = (int)n_head;
    c->ffn_hidden_size = fc->shape[1] == 4 * wte->shape[1] ? 0 : (int)fc->shape[1];
    c->vocab_size = (int)wte->shape[0];
    c->max_position_embeddings = c->seq_length = (int)wpe->shape[0];
    c->layernorm_epsilon = (float)eps;
    c->hidden_dropout = (float)resid, c->attention_dropout = (float)attn;
    c->init_method_std = (float)std;
    if (gpt_config_validate(c, 1, err) != 0) return err_prefix(err, "%s", st->path);
    return 0;
}

/* the keys a GPT-2 file may carry besides the parameters */
static int skippable(const char *key, const char *prefix) {
    size_t pl = strlen(prefix);
    if (strncmp(key, prefix, pl) == 0) {
        const char *k = key + pl;
        int l, n = 0;
        if (sscanf(k, "h.%d.attn.%n", &l, &n) == 1 && n > 0 && (strcmp(k + n, "bias") == 0 || strcmp(k + n, "masked_bias") == 0))
            return 1;
    }
    return 0;
}

int hf_gpt2_import(const char *in, const char *out_root, int heads, int allow_nonfinite, const char *megac_version,
                   progress_t *pg, err_t *err) {
    char st_path[4096], json_path[4096];
    if (hf_paths(in, st_path, sizeof st_path, json_path, sizeof json_path, err) != 0) return -1;
    st_file_t st;
    if (st_open(&st, st_path, err) != 0) return -1;
    st.allow_nonfinite = allow_nonfinite;
    cJSON *json = NULL;
    map_entry_t *map = NULL;
    float *a = NULL, *b = NULL;
    ckpt_txn_t tx;
    ckpt_writer_t w;
    int rc = -1, nmap = 0, began = 0, opened = 0;
    memset(&tx, 0, sizeof tx);
    const char *prefix = st_find(&st, "transformer.wte.weight") ? "transformer." : "";
    gpt_config_t cfg;
    if (hf_read_json(json_path, &json, err) != 0 || import_config(&st, prefix, json, json_path, heads, &cfg, err) != 0)
        goto out;
    if (!(map = build_map(&cfg, &nmap))) {
        err_set(err, "out of memory");
        goto out;
    }
    /* every key is a parameter of this shape, a known buffer, or the tied head */
    char key[ST_NAME_MAX + 16];
    int64_t most = 0;
    for (int i = 0; i < nmap; i++) {
        const st_tensor_t *t;
        int64_t s[2];
        hf_shape(&map[i], s);
        snprintf(key, sizeof key, "%s%s", prefix, map[i].hf);
        if (find_shape(&st, key, map[i].ndim, s, &t, err) != 0) goto out;
        if (numel_of(&map[i]) > most) most = numel_of(&map[i]);
    }
    int known = 0;
    for (int i = 0; i < st.ntensors; i++) {
        const char *k = st.tensors[i].name;
        int ok = skippable(k, prefix) || strcmp(k, "lm_head.weight") == 0;
        for (int j = 0; j < nmap && !ok; j++) {
            snprintf(key, sizeof key, "%s%s", prefix, map[j].hf);
            ok = strcmp(k, key) == 0;
        }
        if (!ok) {
            err_set(err, "%s: tensor %s is not a GPT-2 parameter megac knows", st.path, k);
            goto out;
        }
        known++;
    }
    a = malloc((size_t)most * sizeof(float));
    b = malloc((size_t)most * sizeof(float));
    if (!a || !b) {
        err_set(err, "out of memory for a %lld-element tensor", (long long)most);
        goto out;
    }
    /* the tied LM head */
    const st_tensor_t *head = st_find(&st, "lm_head.weight");
    if (head) {
        snprintf(key, sizeof key, "%swte.weight", prefix);
        const st_tensor_t *wte = st_find(&st, key);
        if (head->ndim != 2 || head->shape[0] != wte->shape[0] || head->shape[1] != wte->shape[1] ||
            st_read_f32(&st, head, a, err) != 0 || st_read_f32(&st, wte, b, err) != 0) {
            if (!err->msg[0] || head->ndim != 2) err_set(err, "%s: lm_head.weight is not shaped like wte.weight", st.path);
            goto out;
        }
        if (memcmp(a, b, (size_t)(wte->shape[0] * wte->shape[1]) * sizeof(float)) != 0) {
            err_set(err, "%s: lm_head.weight differs from wte.weight (megac ties the LM head to the embedding)", st.path);
            goto out;
        }
    }
    ckpt_meta_t meta;
    ckpt_meta_init(&meta);
    snprintf(meta.megac_version, sizeof meta.megac_version, "%s", megac_version);
    if (gpt_ckpt_put_config(&meta, &cfg, err) != 0) goto out;
    meta.seed = 1234;
    meta.adam = (adamw_config_t){0.9f, 0.999f, 1e-8f, 0.01f, OPTIM_ADAM};
    meta.schedule.style = LR_DECAY_CONSTANT;
    if (ckpt_txn_begin(&tx, out_root, 0, err) != 0) goto out;
    began = 1;
    if (ckpt_writer_open(&w, tx.tmp, "mp_rank_00.h5", &meta, "model", 0, 0, err) != 0) goto out;
    opened = 1;
    if (pg) pg->total = nmap;
    for (int i = 0; i < nmap; i++) {
        snprintf(key, sizeof key, "%s%s", prefix, map[i].hf);
        if (st_read_f32(&st, st_find(&st, key), a, err) != 0) goto out;
        convert(&map[i], cfg.num_attention_heads, 1, a, b);
        ckpt_piece_desc_t d = {.tensor = map[i].megac, .ndim = map[i].ndim, .split_dim = map[i].split_dim,
                               .pad_multiple = map[i].pad_multiple, .part = -1};
        d.box.ndim = map[i].ndim;
        for (int k = 0; k < map[i].ndim; k++) d.shape[k] = map[i].shape[k], d.box.cnt[k] = map[i].shape[k];
        if (ckpt_writer_put(&w, CKPT_MODEL, &d, b, backend_cpu(), err) != 0) goto out;
        if (pg) progress_update(pg, i + 1, NULL);
    }
    opened = 0;
    if (ckpt_writer_close(&w, err) != 0 || ckpt_txn_commit(&tx, 0, err) != 0) goto out;
    began = 0;
    rc = 0;
out:
    if (opened) ckpt_writer_discard(&w);
    if (began) ckpt_txn_abort(&tx);
    st_close(&st);
    cJSON_Delete(json);
    free(map), free(a), free(b);
    return rc;
}

/* ---------------------------------------------------------------- export */

static int write_config(const char *path, const gpt_config_t *c, err_t *err) {
    cJSON *o = cJSON_CreateObject();
    cJSON *arch = cJSON_AddArrayToObject(o, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString("GPT2LMHeadModel"));
    cJSON_AddStringToObject(o, "model_type", "gpt2");
    cJSON_AddNumberToObject(o, "vocab_size", c->vocab_size);
    cJSON_AddNumberToObject(o, "n_positions", c->max_position_embeddings);
    cJSON_AddNumberToObject(o, "n_ctx", c->max_position_embeddings);
    cJSON_AddNumberToObject(o, "n_embd", c->hidden_size);
    cJSON_AddNumberToObject(o, "n_layer", c->num_layers);
    cJSON_AddNumberToObject(o, "n_head", c->num_attention_heads);
    if (c->ffn_hidden_size > 0) cJSON_AddNumberToObject(o, "n_inner", c->ffn_hidden_size);
    else cJSON_AddNullToObject(o, "n_inner");
    cJSON_AddStringToObject(o, "activation_function", "gelu_new");
    cJSON_AddNumberToObject(o, "resid_pdrop", c->hidden_dropout);
    cJSON_AddNumberToObject(o, "embd_pdrop", c->hidden_dropout);
    cJSON_AddNumberToObject(o, "attn_pdrop", c->attention_dropout);
    cJSON_AddNumberToObject(o, "layer_norm_epsilon", c->layernorm_epsilon);
    cJSON_AddNumberToObject(o, "initializer_range", c->init_method_std);
    cJSON_AddBoolToObject(o, "tie_word_embeddings", 1);
    cJSON_AddStringToObject(o, "torch_dtype", "float32");
    int rc = hf_write_json(path, o, err);
    cJSON_Delete(o);
    return rc;
}

static const map_entry_t *sort_map;
static int cmp_hf(const void *x, const void *y) {
    return strcmp(sort_map[*(const int *)x].hf, sort_map[*(const int *)y].hf);
}

int hf_gpt2_export(const char *ckpt, const char *out_dir, progress_t *pg, err_t *err) {
    char dir[CKPT_PATH_MAX];
    if (ckpt_locate(ckpt, dir, sizeof dir, err) != 1) return -1;
    ckpt_reader_t r;
    if (ckpt_open(&r, dir, 0, err) != 0) return -1;
    gpt_config_t cfg;
    map_entry_t *map = NULL;
    int *order = NULL, nmap = 0, rc = -1, writing = 0;
    st_tensor_t *ts = NULL;
    float *a = NULL, *b = NULL;
    st_writer_t w;
    char path[4200];
    if (gpt_ckpt_get_config(&r.meta, &cfg, err) != 0) {
        err_prefix(err, "%s", dir);
        goto out;
    }
    if (!(map = build_map(&cfg, &nmap)) || !(order = calloc((size_t)nmap, sizeof *order)) ||
        !(ts = calloc((size_t)nmap, sizeof *ts))) {
        err_set(err, "out of memory");
        goto out;
    }
    int64_t most = 0;
    for (int i = 0; i < nmap; i++) {
        const ckpt_entry_t *e = ckpt_find(&r, CKPT_MODEL, map[i].megac);
        if (!e || e->ndim != map[i].ndim || e->shape[0] != map[i].shape[0] || (e->ndim > 1 && e->shape[1] != map[i].shape[1])) {
            err_set(err, "%s: tensor %s is missing or not shaped as GPT-2's %s", dir, map[i].megac, map[i].hf);
            goto out;
        }
        if (numel_of(&map[i]) > most) most = numel_of(&map[i]);
        order[i] = i;
    }
    sort_map = map;
    qsort(order, (size_t)nmap, sizeof *order, cmp_hf); /* data in key order, as Hugging Face writes it */
    for (int i = 0; i < nmap; i++) {
        const map_entry_t *e = &map[order[i]];
        snprintf(ts[i].name, sizeof ts[i].name, "%s", e->hf);
        snprintf(ts[i].dtype, sizeof ts[i].dtype, "F32");
        ts[i].ndim = e->ndim;
        hf_shape(e, ts[i].shape);
    }
    a = malloc((size_t)most * sizeof(float));
    b = malloc((size_t)most * sizeof(float));
    if (!a || !b) {
        err_set(err, "out of memory for a %lld-element tensor", (long long)most);
        goto out;
    }
    if (ckpt_mkdirs(out_dir, err) != 0) goto out;
    snprintf(path, sizeof path, "%s/model.safetensors", out_dir);
    if (st_write_begin(&w, path, ts, nmap, err) != 0) goto out;
    writing = 1;
    if (pg) pg->total = nmap;
    for (int i = 0; i < nmap; i++) {
        const map_entry_t *e = &map[order[i]];
        ckpt_box_t box = {.ndim = e->ndim};
        for (int d = 0; d < e->ndim; d++) box.cnt[d] = e->shape[d];
        if (ckpt_read(&r, ckpt_find(&r, CKPT_MODEL, e->megac), &box, a, err) != 0) goto out;
        convert(e, cfg.num_attention_heads, 0, a, b);
        if (st_write(&w, b, (size_t)numel_of(e) * sizeof(float), err) != 0) goto out;
        if (pg) progress_update(pg, i + 1, NULL);
    }
    writing = 0;
    if (st_write_end(&w, err) != 0) goto out;
    snprintf(path, sizeof path, "%s/config.json", out_dir);
    if (write_config(path, &cfg, err) != 0) goto out;
    rc = 0;
out:
    if (writing) st_write_abort(&w);
    ckpt_close(&r);
    free(map), free(order), free(ts), free(a), free(b);
    return rc;
}
