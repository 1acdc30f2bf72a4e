/* ckpt_write.c — writing one HDF5 file of a megac checkpoint: the metadata,
 * parameter boxes and Adam moment boxes (see checkpoint.h). */
#define _GNU_SOURCE
#include "checkpoint.h"
#include "ckpt_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


int ckpt_writer_open(ckpt_writer_t *w, const char *dir, const char *name, const ckpt_meta_t *meta,
                     const char *kind, int tp_rank, int dp_rank, err_t *err) {
    memset(w, 0, sizeof *w);
    w->h = -1;
    w->tp_rank = tp_rank, w->tp_size = meta->tp_size, w->dp_rank = dp_rank, w->dp_size = meta->dp_size;
    if (ckpt_join(w->path, sizeof w->path, dir, name, err) != 0) return -1;
    char *json = NULL;
    if (ckpt_meta_to_json(meta, &json, err) != 0) return err_prefix(err, "%s", w->path);
    w->h = h5io_create(w->path, err);
    int rc = w->h < 0 ? -1 : 0;
    int64_t it = meta->iteration;
    if (rc == 0 && (h5io_attr_put_str(w->h, "metadata", json, w->path, err) != 0 ||
                    h5io_attr_put_u32(w->h, "metadata_crc32c", crc32c(0, json, strlen(json)), w->path, err) != 0 ||
                    h5io_attr_put_i32(w->h, "format_version", meta->format_version, w->path, err) != 0 ||
                    h5io_attr_put_i64(w->h, "iteration", &it, -1, w->path, err) != 0 ||
                    h5io_attr_put_str(w->h, "file_kind", kind, w->path, err) != 0 ||
                    h5io_attr_put_i32(w->h, "tp_rank", tp_rank, w->path, err) != 0 ||
                    h5io_attr_put_i32(w->h, "dp_rank", dp_rank, w->path, err) != 0))
        rc = -1;
    free(json);
    if (rc != 0) ckpt_writer_discard(w);
    return rc;
}

int ckpt_writer_put(ckpt_writer_t *w, ckpt_kind_t kind, const ckpt_piece_desc_t *d, const float *data,
                    backend_t *be, err_t *err) {
    char path[TENSOR_NAME_LEN + 64], where[CKPT_PATH_MAX + 160];
    if (d->part < 0) snprintf(path, sizeof path, "%s/%s", ckpt_kind_group(kind), d->tensor);
    else snprintf(path, sizeof path, "%s/%s.part%d", ckpt_kind_group(kind), d->tensor, d->part);
    snprintf(where, sizeof where, "%s: %s", w->path, path);
    hid_t ds = h5io_write_tensor(w->h, path, d->box.ndim, d->box.cnt, data, be, &w->stage, w->path, err);
    if (ds < 0) return -1;
    int64_t split_off = d->split_offset, pad = d->pad_multiple;
    int rc = 0;
    if (h5io_attr_put_str(ds, "tensor", d->tensor, where, err) != 0 ||
        h5io_attr_put_i64(ds, "global_shape", d->shape, d->ndim, where, err) != 0 ||
        h5io_attr_put_i64(ds, "offset", d->box.off, d->ndim, where, err) != 0 ||
        h5io_attr_put_i32(ds, "split_dim", d->split_dim, where, err) != 0 ||
        h5io_attr_put_i64(ds, "split_offset", &split_off, -1, where, err) != 0 ||
        h5io_attr_put_i64(ds, "pad_multiple", &pad, -1, where, err) != 0 ||
        h5io_attr_put_i32(ds, "tp_rank", w->tp_rank, where, err) != 0 ||
        h5io_attr_put_i32(ds, "tp_size", w->tp_size, where, err) != 0 ||
        h5io_attr_put_i32(ds, "dp_rank", w->dp_rank, where, err) != 0 ||
        h5io_attr_put_i32(ds, "dp_size", w->dp_size, where, err) != 0)
        rc = -1;
    if (H5Dclose(ds) < 0 && rc == 0) rc = err_set(err, "%s: closing the dataset failed", where);
    if (rc == 0) w->bytes += ckpt_box_volume(&d->box) * (int64_t)sizeof(float);
    return rc;
}

int ckpt_check_param(const ckpt_param_t *p, err_t *err) {
    const tensor_t *t = p->t;
    if (t->ndim < 1 || t->ndim > TENSOR_MAX_DIMS) return err_set(err, "tensor %s: %d dimensions", t->name, t->ndim);
    if (t->dtype != DTYPE_F32) return err_set(err, "tensor %s: only float32 tensors are checkpointed", t->name);
    if (t->split_dim >= t->ndim) return err_set(err, "tensor %s: split dimension %d of %d", t->name, t->split_dim, t->ndim);
    if (t->split_dim >= 0) {
        int s = t->split_dim;
        if (p->real_extent <= 0 || p->real_extent > t->global_shape[s] || p->pad_multiple < 1 ||
            (p->pad_multiple > 1 && s != 0) || (p->pad_multiple == 1 && p->real_extent != t->global_shape[s]))
            return err_set(err, "internal: tensor %s: bad padding (real extent %lld of %lld, multiple %lld)", t->name,
                           (long long)p->real_extent, (long long)t->global_shape[s], (long long)p->pad_multiple);
    }
    return 0;
}

void ckpt_param_shape(const ckpt_param_t *p, int64_t *shape) {
    for (int d = 0; d < p->t->ndim; d++) shape[d] = p->t->global_shape[d];
    if (p->t->split_dim >= 0) shape[p->t->split_dim] = p->real_extent;
}

/* the rank's whole local slice, in global coordinates */
void ckpt_local_view(const tensor_t *t, ckpt_box_t *b) {
    b->ndim = t->ndim;
    for (int d = 0; d < t->ndim; d++) {
        b->off[d] = d == t->split_dim ? t->split_offset : 0;
        b->cnt[d] = t->shape[d];
    }
}

/* clips dimension 0 of b to the stored extent (padding rows are never stored) */
static void clip_rows(ckpt_box_t *b, int64_t rows) {
    int64_t end = b->off[0] + b->cnt[0];
    if (end > rows) end = rows;
    b->cnt[0] = end > b->off[0] ? end - b->off[0] : 0;
}

static void piece_of(const ckpt_param_t *p, const ckpt_box_t *box, int part, ckpt_piece_desc_t *d) {
    const tensor_t *t = p->t;
    memset(d, 0, sizeof *d);
    d->tensor = t->name;
    d->ndim = t->ndim;
    ckpt_param_shape(p, d->shape);
    d->box = *box;
    d->split_dim = t->split_dim;
    d->split_offset = t->split_dim >= 0 ? t->split_offset : 0;
    d->pad_multiple = t->split_dim >= 0 ? p->pad_multiple : 1;
    d->part = part;
}

int ckpt_writer_put_params(ckpt_writer_t *w, backend_t *be, const ckpt_param_t *params, int n, err_t *err) {
    for (int k = 0; k < n; k++) {
        const tensor_t *t = params[k].t;
        if (ckpt_check_param(&params[k], err) != 0) return err_prefix(err, "%s", w->path);
        if (t->split_dim < 0 && w->tp_rank != 0) continue; /* replicated: stored once */
        ckpt_box_t box;
        ckpt_local_view(t, &box);
        if (t->split_dim == 0) clip_rows(&box, params[k].real_extent);
        if (ckpt_box_volume(&box) == 0) continue;
        ckpt_piece_desc_t d;
        piece_of(&params[k], &box, -1, &d);
        if (ckpt_writer_put(w, CKPT_MODEL, &d, t->data, be, err) != 0) return -1;
    }
    return 0;
}

/* Appends to out the boxes of the flat range [a, b) of the sub-array at dims
 * [dim, ndim) whose leading indices are pre[0..dim): a partial first row, whole
 * rows, a partial last row (the partial rows recursively). */
static void boxes_rec(int ndim, const int64_t *shape, int dim, int64_t *pre, int64_t a, int64_t b,
                      ckpt_box_t *out, int *n) {
    if (a >= b) return;
    int64_t S = 1;
    for (int d = dim + 1; d < ndim; d++) S *= shape[d];
    if (dim == ndim - 1) {
        ckpt_box_t box = {.ndim = ndim};
        for (int d = 0; d < dim; d++) box.off[d] = pre[d], box.cnt[d] = 1;
        box.off[dim] = a, box.cnt[dim] = b - a;
        out[(*n)++] = box;
        return;
    }
    int64_t r = a / S;
    if (a % S) { /* partial first row */
        int64_t end = (r + 1) * S < b ? (r + 1) * S : b;
        pre[dim] = r;
        boxes_rec(ndim, shape, dim + 1, pre, a - r * S, end - r * S, out, n);
        a = end, r++;
    }
    int64_t rb = b / S;
    if (a < b && rb > r) { /* whole rows [r, rb) */
        ckpt_box_t box = {.ndim = ndim};
        for (int d = 0; d < dim; d++) box.off[d] = pre[d], box.cnt[d] = 1;
        box.off[dim] = r, box.cnt[dim] = rb - r;
        for (int d = dim + 1; d < ndim; d++) box.off[d] = 0, box.cnt[d] = shape[d];
        out[(*n)++] = box;
        a = rb * S;
    }
    if (a < b) { /* partial last row */
        pre[dim] = rb;
        boxes_rec(ndim, shape, dim + 1, pre, a - rb * S, b - rb * S, out, n);
    }
}

/* Splits the flat range [a, b) of a row-major array of `shape` into boxes, each
 * a contiguous run of the array, in flat order; returns their number (at most
 * 2 * ndim - 1). */
static int flat_boxes(int ndim, const int64_t *shape, int64_t a, int64_t b, ckpt_box_t *out) {
    int64_t pre[TENSOR_MAX_DIMS] = {0};
    int n = 0;
    boxes_rec(ndim, shape, 0, pre, a, b, out, &n);
    return n;
}

/* flat range [a, b) of tensor k's local elements that [lo, hi) covers */
int ckpt_moment_range(const ckpt_param_t *p, size_t offset, size_t lo, size_t hi, int64_t *a, int64_t *b) {
    size_t n = (size_t)tensor_numel(p->t);
    size_t x = offset > lo ? offset : lo, y = offset + n < hi ? offset + n : hi;
    if (x >= y) return 0;
    *a = (int64_t)(x - offset), *b = (int64_t)(y - offset);
    return 1;
}

/* the boxes of local range [a, b) in global coordinates, each with the local
 * flat index it starts at */
int ckpt_global_boxes(const tensor_t *t, int64_t a, int64_t b, ckpt_box_t *boxes, int64_t *starts) {
    int nb = flat_boxes(t->ndim, t->shape, a, b, boxes);
    int64_t at = a;
    for (int i = 0; i < nb; i++) {
        starts[i] = at;
        at += ckpt_box_volume(&boxes[i]);
        if (t->split_dim >= 0) boxes[i].off[t->split_dim] += t->split_offset;
    }
    return nb;
}

int ckpt_writer_put_moments(ckpt_writer_t *w, backend_t *be, const ckpt_param_t *params, int n,
                            const ckpt_optim_state_t *opt, err_t *err) {
    for (int k = 0; k < n; k++) {
        const tensor_t *t = params[k].t;
        if (ckpt_check_param(&params[k], err) != 0) return err_prefix(err, "%s", w->path);
        if (t->split_dim < 0 && w->tp_rank != 0) continue; /* replicated: stored once */
        int64_t a, b;
        if (!ckpt_moment_range(&params[k], opt->offset[k], opt->lo, opt->hi, &a, &b)) continue;
        ckpt_box_t boxes[2 * TENSOR_MAX_DIMS];
        int64_t starts[2 * TENSOR_MAX_DIMS];
        int nb = ckpt_global_boxes(t, a, b, boxes, starts);
        int whole = nb == 1 && a == 0 && b == tensor_numel(t);
        for (int i = 0; i < nb; i++) {
            if (t->split_dim == 0) clip_rows(&boxes[i], params[k].real_extent);
            if (ckpt_box_volume(&boxes[i]) == 0) continue;
            ckpt_piece_desc_t d;
            piece_of(&params[k], &boxes[i], whole ? -1 : i, &d);
            size_t at = opt->offset[k] + (size_t)starts[i] - opt->lo;
            if (ckpt_writer_put(w, CKPT_EXP_AVG, &d, opt->exp_avg + at, be, err) != 0 ||
                ckpt_writer_put(w, CKPT_EXP_AVG_SQ, &d, opt->exp_avg_sq + at, be, err) != 0)
                return -1;
        }
    }
    return 0;
}

int ckpt_writer_close(ckpt_writer_t *w, err_t *err) {
    hid_t h = w->h;
    w->h = -1;
    h5io_stage_free(&w->stage);
    if (h5io_close(h, w->path, err) != 0) return -1;
    return ckpt_fsync_file(w->path, err);
}

void ckpt_writer_discard(ckpt_writer_t *w) {
    if (w->h >= 0) {
        /* the file is abandoned: drop its data first, so that the metadata flush
         * of the close finds room even when the disk is what filled up */
        void *handle = NULL;
        if (H5Fget_vfd_handle(w->h, H5P_DEFAULT, &handle) >= 0 && handle && ftruncate(*(int *)handle, 0) != 0) {
            /* the close below reports nothing either way: the file is removed with its directory */
        }
        /* close whatever the failed write left open in the file, then the file */
        hid_t ids[64];
        ssize_t n = H5Fget_obj_ids(w->h, H5F_OBJ_DATASET | H5F_OBJ_GROUP | H5F_OBJ_ATTR | H5F_OBJ_DATATYPE, 64, ids);
        for (ssize_t i = 0; i < n; i++) H5Oclose(ids[i]) < 0 ? (void)H5Aclose(ids[i]) : (void)0;
        H5Fclose(w->h);
    }
    w->h = -1;
    h5io_stage_free(&w->stage);
}
