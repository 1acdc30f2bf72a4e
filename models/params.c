/* params.c — parameter declarations, descriptors and initialisation (see params.h). */
#include "params.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int param_add(param_list_t *pl, const char *name, int ndim, int64_t d0, int64_t d1, int split, uint32_t flags,
              param_init_t init) {
    if (pl->n == pl->cap) {
        int cap = pl->cap ? 2 * pl->cap : 64;
        param_spec_t *p = realloc(pl->specs, (size_t)cap * sizeof *p);
        if (!p) return -1;
        pl->specs = p, pl->cap = cap;
    }
    param_spec_t *s = &pl->specs[pl->n];
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name);
    s->ndim = ndim, s->shape[0] = d0, s->shape[1] = ndim > 1 ? d1 : 1;
    s->split = split, s->flags = flags, s->init = init;
    return pl->n++;
}

int param_add_layernorm(param_list_t *pl, const char *prefix, int64_t C) {
    char name[TENSOR_NAME_LEN];
    uint32_t f = TENSOR_TP_REPLICATED | TENSOR_NO_WEIGHT_DECAY;
    snprintf(name, sizeof name, "%s/weight", prefix);
    if (param_add(pl, name, 1, C, 0, -1, f, INIT_ONES) < 0) return -1;
    snprintf(name, sizeof name, "%s/bias", prefix);
    return param_add(pl, name, 1, C, 0, -1, f, INIT_ZEROS);
}

int param_add_tf_layer(param_list_t *pl, int l, int64_t C, int64_t F) {
    char p[TENSOR_NAME_LEN], n[TENSOR_NAME_LEN];
    const uint32_t nwd = TENSOR_NO_WEIGHT_DECAY, rep = TENSOR_TP_REPLICATED;
    int ok = 1;
#define ADD(suffix, nd, d0, d1, split, flags, init)                                                 \
    snprintf(n, sizeof n, "layers/%02d/%s", l, suffix);                                           \
    ok &= param_add(pl, n, nd, d0, d1, split, flags, init) >= 0;
    snprintf(p, sizeof p, "layers/%02d/input_layernorm", l);
    ok &= param_add_layernorm(pl, p, C) >= 0;
    ADD("attention/qkv/weight", 2, 3 * C, C, 0, 0, INIT_NORMAL)
    ADD("attention/qkv/bias", 1, 3 * C, 0, 0, nwd, INIT_ZEROS)
    ADD("attention/dense/weight", 2, C, C, 1, 0, INIT_NORMAL_OUT)
    ADD("attention/dense/bias", 1, C, 0, -1, nwd | rep, INIT_ZEROS)
    snprintf(p, sizeof p, "layers/%02d/post_attention_layernorm", l);
    ok &= param_add_layernorm(pl, p, C) >= 0;
    ADD("mlp/dense_h_to_4h/weight", 2, F, C, 0, 0, INIT_NORMAL)
    ADD("mlp/dense_h_to_4h/bias", 1, F, 0, 0, nwd, INIT_ZEROS)
    ADD("mlp/dense_4h_to_h/weight", 2, C, F, 1, 0, INIT_NORMAL_OUT)
    ADD("mlp/dense_4h_to_h/bias", 1, C, 0, -1, nwd | rep, INIT_ZEROS)
#undef ADD
    return ok ? 0 : -1;
}

void param_list_free(param_list_t *pl) {
    free(pl->specs);
    memset(pl, 0, sizeof *pl);
}

void params_describe(const param_list_t *pl, tensor_t *out, int tp_rank, int tp_size, device_kind_t dev) {
    for (int k = 0; k < pl->n; k++) {
        const param_spec_t *s = &pl->specs[k];
        int64_t local[2] = {s->shape[0], s->shape[1]};
        if (s->split >= 0) local[s->split] = s->shape[s->split] / tp_size;
        tensor_t *t = &out[k];
        tensor_describe(t, s->name, DTYPE_F32, s->ndim, local);
        t->device = dev;
        t->global_shape[0] = s->shape[0];
        if (s->ndim > 1) t->global_shape[1] = s->shape[1];
        t->split_dim = s->split;
        t->split_offset = s->split >= 0 ? (int64_t)tp_rank * local[s->split] : 0;
        t->flags = s->flags;
    }
}

int param_store_alloc(param_store_t *s, backend_t *be, int tp_rank, int tp_size, size_t pad, err_t *err) {
    const param_list_t *pl = &s->list;
    s->n = pl->n;
    s->params = calloc((size_t)pl->n, sizeof(tensor_t));
    s->grads = calloc((size_t)pl->n, sizeof(tensor_t));
    if (!s->params || !s->grads) return err_set(err, "out of host memory for the parameter descriptors");
    params_describe(pl, s->params, tp_rank, tp_size, be->device);
    size_t off = 0;
    for (int k = 0; k < pl->n; k++) off += (size_t)tensor_numel(&s->params[k]);
    if (pad < 1) pad = 1;
    s->numel = off;
    s->alloc = (off + pad - 1) / pad * pad;
    if (be->alloc(be, (void **)&s->param_block, s->alloc * sizeof(float), err) != 0 ||
        be->alloc(be, (void **)&s->grad_block, s->alloc * sizeof(float), err) != 0)
        return err_prefix(err, "parameters (%zu floats)", off);
    be->memset_zero(be, s->param_block, s->alloc * sizeof(float));
    be->memset_zero(be, s->grad_block, s->alloc * sizeof(float));
    off = 0;
    for (int k = 0; k < pl->n; k++) {
        s->params[k].data = s->param_block + off;
        s->grads[k] = s->params[k];
        s->grads[k].data = s->grad_block + off;
        off += (size_t)tensor_numel(&s->params[k]);
    }
    return 0;
}

void param_store_free(param_store_t *s, backend_t *be) {
    if (be && s->param_block) be->free(be, s->param_block);
    if (be && s->grad_block) be->free(be, s->grad_block);
    param_list_free(&s->list);
    free(s->params), free(s->grads);
    memset(s, 0, sizeof *s);
}

void param_store_zero_grads(const param_store_t *s, backend_t *be) {
    be->memset_zero(be, s->grad_block, s->alloc * sizeof(float));
}

void param_store_init(param_store_t *s, backend_t *be, uint64_t seed, float std, int num_layers) {
    params_init(be, s->params, &s->list, seed, std, std / sqrtf(2.0f * (float)num_layers));
}

void params_bind_tf_layer(tf_layer_t *w, tensor_t *t) {
    w->ln1_w = t[0].data, w->ln1_b = t[1].data;
    w->qkv_w = t[2].data, w->qkv_b = t[3].data;
    w->proj_w = t[4].data, w->proj_b = t[5].data;
    w->ln2_w = t[6].data, w->ln2_b = t[7].data;
    w->fc_w = t[8].data, w->fc_b = t[9].data;
    w->fcproj_w = t[10].data, w->fcproj_b = t[11].data;
}

void params_init(backend_t *be, tensor_t *ts, const param_list_t *pl, uint64_t seed, float std, float out_std) {
    for (int k = 0; k < pl->n; k++) {
        const param_spec_t *s = &pl->specs[k];
        tensor_t *t = &ts[k];
        size_t n = (size_t)tensor_numel(t);
        float *h = malloc(n * sizeof(float));
        if (!h) continue; /* cannot happen for sizes that fit the device block */
        if (s->init == INIT_ONES || s->init == INIT_ZEROS) {
            for (size_t i = 0; i < n; i++) h[i] = s->init == INIT_ONES ? 1.0f : 0.0f;
        } else {
            float sd = s->init == INIT_NORMAL_OUT ? out_std : std;
            rng_key_t key = {seed, rng_stream(RNG_PURPOSE_INIT, (uint32_t)k, 0), 0};
            int64_t rows = t->shape[0], cols = t->ndim > 1 ? t->shape[1] : 1;
            int64_t gcols = t->ndim > 1 ? t->global_shape[1] : 1;
            /* each value is keyed by its global index: any thread count gives the same weights */
#pragma omp parallel for schedule(static)
            for (int64_t r = 0; r < rows; r++)
                for (int64_t c = 0; c < cols; c++) {
                    int64_t gr = t->split_dim == 0 ? r + t->split_offset : r;
                    int64_t gc = t->split_dim == 1 ? c + t->split_offset : c;
                    float v = (float)(sd * rng_normal(key, (uint64_t)(gr * gcols + gc)));
                    if (s->valid_rows > 0 && gr >= s->valid_rows) v = 0.0f;
                    h[r * cols + c] = v;
                }
        }
        be->copy_to_device(be, t->data, h, n * sizeof(float));
        free(h);
    }
}
