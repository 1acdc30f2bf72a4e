/* checkpoint.c — sharded HDF5 checkpoints: atomic save, any-layout load, verify
 * (see checkpoint.h). */
#define _GNU_SOURCE
#include "checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *GROUPS[CKPT_KINDS] = {"model", "optimizer/exp_avg", "optimizer/exp_avg_sq"};

const char *ckpt_kind_group(ckpt_kind_t k) { return k >= 0 && k < CKPT_KINDS ? GROUPS[k] : "?"; }

int64_t ckpt_box_volume(const ckpt_box_t *b) {
    int64_t v = 1;
    for (int d = 0; d < b->ndim; d++) v *= b->cnt[d];
    return v;
}

void ckpt_iter_name(int64_t iteration, char *buf, size_t len) { snprintf(buf, len, "iter_%07lld", (long long)iteration); }
void ckpt_model_file_name(int tp_rank, char *buf, size_t len) { snprintf(buf, len, "mp_rank_%02d.h5", tp_rank); }
void ckpt_optim_file_name(int tp_rank, int dp_rank, char *buf, size_t len) {
    snprintf(buf, len, "mp_rank_%02d_dp_%03d_optim.h5", tp_rank, dp_rank);
}

static int join(char *out, size_t len, const char *a, const char *b, err_t *err) {
    if ((size_t)snprintf(out, len, "%s/%s", a, b) >= len) return err_set(err, "%s/%s: path too long", a, b);
    return 0;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---------------------------------------------------------------- filesystem */

static int fsync_dir(const char *dir, err_t *err) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return err_set(err, "%s: cannot open to fsync: %s", dir, strerror(errno));
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    if (rc != 0 && e != EINVAL) return err_set(err, "%s: fsync failed: %s", dir, strerror(e));
    return 0;
}

static int fsync_file(const char *path, err_t *err) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return err_set(err, "%s: cannot open to fsync: %s", path, strerror(errno));
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    if (rc != 0) return err_set(err, "%s: fsync failed: %s", path, strerror(e));
    return 0;
}

int ckpt_mkdirs(const char *path, err_t *err) {
    char buf[CKPT_PATH_MAX];
    if (strlen(path) >= sizeof buf) return err_set(err, "%s: path too long", path);
    strcpy(buf, path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == 0) {
            char c = *p;
            *p = 0;
            if (mkdir(buf, 0755) != 0 && errno != EEXIST) return err_set(err, "%s: cannot create: %s", buf, strerror(errno));
            *p = c;
            if (!c) break;
        }
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) return err_set(err, "%s: not a directory", path);
    return 0;
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static int rm_rf(const char *path, err_t *err) {
    struct stat st;
    if (lstat(path, &st) != 0) return errno == ENOENT ? 0 : err_set(err, "%s: %s", path, strerror(errno));
    if (nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS) != 0) return err_set(err, "%s: cannot remove: %s", path, strerror(errno));
    return 0;
}

/* "iter_<digits>" -> 1 and its iteration; "iter_<digits>.tmp|.old" -> 2; else 0 */
static int parse_iter_name(const char *name, int64_t *it) {
    if (strncmp(name, "iter_", 5) != 0) return 0;
    const char *p = name + 5;
    size_t nd = strspn(p, "0123456789");
    if (nd == 0 || nd > 15) return 0;
    *it = strtoll(p, NULL, 10);
    if (p[nd] == 0) return 1;
    if (strcmp(p + nd, ".tmp") == 0 || strcmp(p + nd, ".old") == 0) return 2;
    return 0;
}

static int cmp_desc_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* removes stale temporaries and, with keep_last > 0, all but the newest
 * keep_last iteration directories (never `current`) */
static int prune(const char *root, int64_t current, int keep_last, err_t *err) {
    DIR *d = opendir(root);
    if (!d) return err_set(err, "%s: cannot list: %s", root, strerror(errno));
    int64_t *its = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && rc == 0) {
        int64_t it;
        int kind = parse_iter_name(e->d_name, &it);
        char path[CKPT_PATH_MAX];
        if (kind == 0 || join(path, sizeof path, root, e->d_name, err) != 0) continue;
        struct stat st;
        if (lstat(path, &st) != 0 || !S_ISDIR(st.st_mode)) continue;
        if (kind == 2) {
            rc = rm_rf(path, err);
        } else {
            if (n == cap) {
                cap = cap ? 2 * cap : 16;
                int64_t *ni = realloc(its, cap * sizeof *its);
                if (!ni) {
                    rc = err_set(err, "out of memory pruning %s", root);
                    break;
                }
                its = ni;
            }
            its[n++] = it;
        }
    }
    closedir(d);
    if (rc == 0 && keep_last > 0 && n > (size_t)keep_last) {
        qsort(its, n, sizeof *its, cmp_desc_i64);
        for (size_t i = (size_t)keep_last; i < n && rc == 0; i++) {
            if (its[i] == current) continue;
            char name[64], path[CKPT_PATH_MAX];
            ckpt_iter_name(its[i], name, sizeof name);
            if (join(path, sizeof path, root, name, err) == 0) rc = rm_rf(path, err);
            else rc = -1;
        }
    }
    free(its);
    if (rc == 0) rc = fsync_dir(root, err);
    return rc;
}

/* ---------------------------------------------------------------- commit */

static int txn_names(ckpt_txn_t *tx, const char *root, int64_t iteration, err_t *err) {
    memset(tx, 0, sizeof *tx);
    if (iteration < 0) return err_set(err, "checkpoint iteration %lld is negative", (long long)iteration);
    if (strlen(root) == 0) return err_set(err, "--save: empty directory name");
    if (strlen(root) >= sizeof tx->root - 32) return err_set(err, "%s: path too long", root);
    snprintf(tx->root, sizeof tx->root, "%s", root);
    char name[64];
    ckpt_iter_name(iteration, name, sizeof name);
    if (join(tx->final, sizeof tx->final, root, name, err) != 0) return -1;
    snprintf(tx->tmp, sizeof tx->tmp, "%s.tmp", tx->final);
    tx->iteration = iteration;
    return 0;
}

int ckpt_txn_begin(ckpt_txn_t *tx, const char *root, int64_t iteration, err_t *err) {
    if (txn_names(tx, root, iteration, err) != 0 || ckpt_mkdirs(root, err) != 0) return -1;
    if (rm_rf(tx->tmp, err) != 0) return -1; /* left by a save that crashed */
    if (mkdir(tx->tmp, 0755) != 0) return err_set(err, "%s: cannot create: %s", tx->tmp, strerror(errno));
    return 0;
}

int ckpt_remove(const char *path, err_t *err) { return rm_rf(path, err); }

void ckpt_txn_abort(ckpt_txn_t *tx) {
    err_t ignored;
    if (tx->tmp[0]) rm_rf(tx->tmp, &ignored);
}

static int write_pointer(const char *root, int64_t iteration, err_t *err) {
    char path[CKPT_PATH_MAX], tmp[CKPT_PATH_MAX + 8];
    if (join(path, sizeof path, root, CKPT_LATEST, err) != 0) return -1;
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return err_set(err, "%s: %s", tmp, strerror(errno));
    int bad = fprintf(f, "%lld\n", (long long)iteration) < 0;
    bad |= fflush(f) != 0 || fsync(fileno(f)) != 0;
    int e = errno;
    bad |= fclose(f) != 0;
    if (bad) {
        unlink(tmp);
        return err_set(err, "%s: write failed: %s", tmp, strerror(e));
    }
    if (rename(tmp, path) != 0) {
        e = errno;
        unlink(tmp);
        return err_set(err, "%s: rename failed: %s", path, strerror(e));
    }
    return fsync_dir(root, err);
}

int ckpt_txn_commit(ckpt_txn_t *tx, int keep_last, err_t *err) {
    if (fsync_dir(tx->tmp, err) != 0) return -1;
    struct stat st;
    if (lstat(tx->final, &st) == 0) {
        /* this iteration was saved before (a run resumed from an older checkpoint);
         * the pointer may name it, so swap the two atomically where possible */
        int swapped = 0;
#ifdef RENAME_EXCHANGE
        swapped = renameat2(AT_FDCWD, tx->tmp, AT_FDCWD, tx->final, RENAME_EXCHANGE) == 0;
#endif
        if (swapped) {
            if (rm_rf(tx->tmp, err) != 0) return -1;
        } else {
            char old[CKPT_PATH_MAX + 8];
            snprintf(old, sizeof old, "%s.old", tx->final);
            if (rm_rf(old, err) != 0) return -1;
            if (rename(tx->final, old) != 0) return err_set(err, "%s: cannot move aside: %s", tx->final, strerror(errno));
            if (rename(tx->tmp, tx->final) != 0) return err_set(err, "%s: rename failed: %s", tx->final, strerror(errno));
            if (rm_rf(old, err) != 0) return -1;
        }
    } else if (rename(tx->tmp, tx->final) != 0) {
        return err_set(err, "%s: rename failed: %s", tx->final, strerror(errno));
    }
    if (fsync_dir(tx->root, err) != 0 || write_pointer(tx->root, tx->iteration, err) != 0) return -1;
    return prune(tx->root, tx->iteration, keep_last, err);
}

/* ---------------------------------------------------------------- writing */

int ckpt_writer_open(ckpt_writer_t *w, const char *dir, const char *name, const ckpt_meta_t *meta,
                     const char *kind, int tp_rank, int dp_rank, err_t *err) {
    memset(w, 0, sizeof *w);
    w->h = -1;
    w->tp_rank = tp_rank, w->tp_size = meta->tp_size, w->dp_rank = dp_rank, w->dp_size = meta->dp_size;
    if (join(w->path, sizeof w->path, dir, name, err) != 0) return -1;
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

static int check_param(const ckpt_param_t *p, err_t *err) {
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
static void local_view(const tensor_t *t, ckpt_box_t *b) {
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
        if (check_param(&params[k], err) != 0) return err_prefix(err, "%s", w->path);
        if (t->split_dim < 0 && w->tp_rank != 0) continue; /* replicated: stored once */
        ckpt_box_t box;
        local_view(t, &box);
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
static int moment_range(const ckpt_param_t *p, size_t offset, size_t lo, size_t hi, int64_t *a, int64_t *b) {
    size_t n = (size_t)tensor_numel(p->t);
    size_t x = offset > lo ? offset : lo, y = offset + n < hi ? offset + n : hi;
    if (x >= y) return 0;
    *a = (int64_t)(x - offset), *b = (int64_t)(y - offset);
    return 1;
}

/* the boxes of local range [a, b) in global coordinates, each with the local
 * flat index it starts at */
static int global_boxes(const tensor_t *t, int64_t a, int64_t b, ckpt_box_t *boxes, int64_t *starts) {
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
        if (check_param(&params[k], err) != 0) return err_prefix(err, "%s", w->path);
        if (t->split_dim < 0 && w->tp_rank != 0) continue; /* replicated: stored once */
        int64_t a, b;
        if (!moment_range(&params[k], opt->offset[k], opt->lo, opt->hi, &a, &b)) continue;
        ckpt_box_t boxes[2 * TENSOR_MAX_DIMS];
        int64_t starts[2 * TENSOR_MAX_DIMS];
        int nb = global_boxes(t, a, b, boxes, starts);
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
    return fsync_file(w->path, err);
}

void ckpt_writer_discard(ckpt_writer_t *w) {
    if (w->h >= 0) H5Fclose(w->h);
    w->h = -1;
    h5io_stage_free(&w->stage);
}

/* ---------------------------------------------------------------- collective save */

/* All ranks pass whether they failed; returns 1 when any did, with *who the
 * lowest failing world rank; -1 when the agreement itself failed. */
static int agree(comm_t *world, int failed, int *who, err_t *err) {
    if (!world || world->size <= 1) {
        *who = failed ? 0 : -1;
        return failed ? 1 : 0;
    }
    double v = failed ? (double)(world->size - world->rank) : 0.0;
    if (comm_allreduce_f64(world, &v, 1, COMM_MAX, err) != 0) return -1;
    *who = v > 0.0 ? world->size - (int)v : -1;
    return v > 0.0 ? 1 : 0;
}

/* after a failed agreement: the rank's own message, or which rank failed */
static int agreement_error(int status, int who, int rank, err_t *local, const char *step, int64_t it, err_t *err) {
    if (status < 0) return err_prefix(err, "saving iteration %lld: %s", (long long)it, step);
    if (who == rank) {
        *err = *local;
        return -1;
    }
    return err_set(err, "saving iteration %lld: %s failed on rank %d (see its message)", (long long)it, step, who);
}

static int write_rank_files(const ckpt_txn_t *tx, const ckpt_meta_t *meta, const ckpt_layout_t *lay, backend_t *be,
                            const ckpt_param_t *params, int n, const ckpt_optim_state_t *opt, int64_t *bytes,
                            err_t *err) {
    char name[64];
    ckpt_writer_t w;
    int wrote = 0;
    if (lay->dp_rank == 0) { /* the model file of this TP rank */
        ckpt_model_file_name(lay->tp_rank, name, sizeof name);
        if (ckpt_writer_open(&w, tx->tmp, name, meta, "model", lay->tp_rank, 0, err) != 0) return -1;
        if (ckpt_writer_put_params(&w, be, params, n, err) != 0 ||
            (opt && !lay->zero1 && ckpt_writer_put_moments(&w, be, params, n, opt, err) != 0)) {
            ckpt_writer_discard(&w);
            return -1;
        }
        *bytes += w.bytes;
        if (ckpt_writer_close(&w, err) != 0) return -1;
        wrote = 1;
    }
    if (opt && lay->zero1) { /* this rank's shard of the moments */
        ckpt_optim_file_name(lay->tp_rank, lay->dp_rank, name, sizeof name);
        if (ckpt_writer_open(&w, tx->tmp, name, meta, "optimizer", lay->tp_rank, lay->dp_rank, err) != 0) return -1;
        if (ckpt_writer_put_moments(&w, be, params, n, opt, err) != 0) {
            ckpt_writer_discard(&w);
            return -1;
        }
        *bytes += w.bytes;
        if (ckpt_writer_close(&w, err) != 0) return -1;
        wrote = 1;
    }
    return wrote ? fsync_dir(tx->tmp, err) : 0;
}

int ckpt_save(const char *root, ckpt_meta_t *meta, const ckpt_layout_t *lay, backend_t *be,
              const ckpt_param_t *params, int nparams, const ckpt_optim_state_t *opt, int keep_last,
              ckpt_save_stats_t *stats, err_t *err) {
    double t0 = now_s();
    memset(stats, 0, sizeof *stats);
    comm_t *world = lay->world;
    int rank = world ? world->rank : 0, who, st;
    int64_t it = meta->iteration;
    meta->tp_size = lay->tp_size, meta->pp_size = 1, meta->dp_size = lay->dp_size;
    meta->world_size = lay->tp_size * lay->dp_size;
    meta->has_optimizer = opt != NULL;
    meta->zero1 = opt != NULL && lay->zero1;
    meta->optimizer_step = opt ? opt->step : 0;
    ckpt_txn_t tx;
    err_t local = {{0}};
    /* 1. rank 0 makes the temporary directory */
    int failed = rank == 0 ? ckpt_txn_begin(&tx, root, it, &local) != 0 : txn_names(&tx, root, it, &local) != 0;
    if ((st = agree(world, failed, &who, err)) != 0)
        return agreement_error(st, who, rank, &local, "preparing the directory", it, err);
    /* 2. every writer writes and fsyncs its files */
    int64_t bytes = 0;
    failed = write_rank_files(&tx, meta, lay, be, params, nparams, opt, &bytes, &local) != 0;
    if ((st = agree(world, failed, &who, err)) != 0) {
        if (rank == 0) ckpt_txn_abort(&tx);
        return agreement_error(st, who, rank, &local, "writing the files", it, err);
    }
    /* 3. all files are durable: rank 0 commits */
    failed = rank == 0 ? ckpt_txn_commit(&tx, keep_last, &local) != 0 : 0;
    if ((st = agree(world, failed, &who, err)) != 0)
        return agreement_error(st, who, rank, &local, "committing", it, err);
    double total = (double)bytes;
    if (world && world->size > 1 && comm_allreduce_f64(world, &total, 1, COMM_SUM, err) != 0) return -1;
    stats->bytes = bytes;
    stats->total_bytes = (int64_t)total;
    stats->seconds = now_s() - t0;
    snprintf(stats->dir, sizeof stats->dir, "%s", tx.final);
    return 0;
}

/* ---------------------------------------------------------------- locating */

int ckpt_locate(const char *path, char *iter_dir, size_t len, err_t *err) {
    struct stat st;
    if (stat(path, &st) != 0) {
        err_set(err, "%s: does not exist", path);
        return 0;
    }
    if (!S_ISDIR(st.st_mode)) return err_set(err, "%s: not a checkpoint directory", path);
    char p[CKPT_PATH_MAX];
    if (join(p, sizeof p, path, CKPT_LATEST, err) != 0) return -1;
    FILE *f = fopen(p, "r");
    if (f) {
        char text[64] = {0};
        size_t n = fread(text, 1, sizeof text - 1, f);
        int more = fgetc(f) != EOF;
        fclose(f);
        text[n] = 0;
        size_t nd = strspn(text, "0123456789");
        if (more || nd == 0 || nd > 15 || strspn(text + nd, " \t\r\n") != n - nd) {
            for (size_t i = 0; i < n; i++) /* quote it on one line */
                if ((unsigned char)text[i] < 0x20 || (unsigned char)text[i] >= 0x7f) text[i] = text[i] == '\n' && i + 1 == n ? 0 : '?';
            return err_set(err, "%s: '%.20s' is not an iteration number", p, text);
        }
        int64_t it = strtoll(text, NULL, 10);
        char name[64];
        ckpt_iter_name(it, name, sizeof name);
        if (join(iter_dir, len, path, name, err) != 0) return -1;
        if (stat(iter_dir, &st) != 0 || !S_ISDIR(st.st_mode))
            return err_set(err, "%s names iteration %lld but %s does not exist", p, (long long)it, iter_dir);
        return 1;
    }
    char m[CKPT_PATH_MAX];
    if (join(m, sizeof m, path, "mp_rank_00.h5", err) != 0) return -1;
    if (stat(m, &st) == 0) {
        if (strlen(path) >= len) return err_set(err, "%s: path too long", path);
        snprintf(iter_dir, len, "%s", path);
        return 1;
    }
    err_set(err, "%s: holds no checkpoint (neither %s nor mp_rank_00.h5)", path, CKPT_LATEST);
    return 0;
}

/* ---------------------------------------------------------------- reading */

typedef struct raw_piece {
    ckpt_kind_t kind;
    char name[TENSOR_NAME_LEN];
    int ndim, split_dim;
    int64_t shape[TENSOR_MAX_DIMS];
    int64_t pad_multiple;
    ckpt_piece_t piece;
} raw_piece_t;

typedef struct visit {
    ckpt_reader_t *r;
    int file;
    raw_piece_t *raw;
    size_t n, cap;
    err_t *err;
    int failed;
} visit_t;

#if H5_VERSION_GE(1, 12, 0)
typedef H5O_info2_t visit_info_t;
#define VISIT_FILE(h, cb, data) H5Ovisit3(h, H5_INDEX_NAME, H5_ITER_INC, cb, data, H5O_INFO_BASIC)
#else
typedef H5O_info_t visit_info_t;
#define VISIT_FILE(h, cb, data) H5Ovisit2(h, H5_INDEX_NAME, H5_ITER_INC, cb, data, H5O_INFO_BASIC)
#endif

static int kind_of(const char *path, ckpt_kind_t *kind, const char **rest) {
    for (int k = 0; k < CKPT_KINDS; k++) {
        size_t gl = strlen(GROUPS[k]);
        if (strncmp(path, GROUPS[k], gl) == 0 && path[gl] == '/') {
            *kind = (ckpt_kind_t)k, *rest = path + gl + 1;
            return 1;
        }
    }
    return 0;
}

/* reads and checks one dataset's attributes into a raw piece */
static int index_dataset(visit_t *v, hid_t file, const char *path, raw_piece_t *rp, err_t *err) {
    ckpt_reader_t *r = v->r;
    ckpt_rfile_t *rf = &r->files[v->file];
    char where[CKPT_PATH_MAX + 200];
    snprintf(where, sizeof where, "%s: %s", rf->path, path);
    const char *rest;
    ckpt_kind_t kind;
    if (!kind_of(path, &kind, &rest)) return err_set(err, "%s: not a dataset of a megac checkpoint", where);
    if (kind == CKPT_MODEL ? rf->optim : (!r->meta.has_optimizer || r->meta.zero1 != rf->optim))
        return err_set(err, "%s: does not belong in this file (checkpoint layout: %s)", where,
                       r->meta.zero1 ? "ZeRO-1 optimizer files" : "moments in the model files");
    hid_t ds = H5Dopen2(file, path, H5P_DEFAULT);
    if (ds < 0) {
        char h[200];
        h5io_error_text(h, sizeof h);
        return err_set(err, "%s: cannot open (HDF5: %s)", where, h);
    }
    int rc = -1, nd;
    char *tensor = NULL;
    size_t tl;
    int64_t cnt[4], shape[4], off[4], split, split_off, pad, tp, dp;
    if (h5io_check_dataset(ds, &nd, cnt, where, err) != 0 ||
        h5io_attr_get_str(ds, "tensor", &tensor, &tl, where, err) != 0 ||
        h5io_attr_get_i64(ds, "global_shape", shape, nd, where, err) != 0 ||
        h5io_attr_get_i64(ds, "offset", off, nd, where, err) != 0 ||
        h5io_attr_get_i64(ds, "split_dim", &split, 1, where, err) != 0 ||
        h5io_attr_get_i64(ds, "split_offset", &split_off, 1, where, err) != 0 ||
        h5io_attr_get_i64(ds, "pad_multiple", &pad, 1, where, err) != 0 ||
        h5io_attr_get_i64(ds, "tp_rank", &tp, 1, where, err) != 0 ||
        h5io_attr_get_i64(ds, "dp_rank", &dp, 1, where, err) != 0)
        goto out;
    if (tl == 0 || tl >= TENSOR_NAME_LEN) {
        err_set(err, "%s: tensor name of %zu bytes", where, tl);
        goto out;
    }
    /* the path is <group>/<tensor> or <group>/<tensor>.partN */
    size_t rl = strlen(rest);
    if (strncmp(rest, tensor, tl) != 0 ||
        !(rl == tl || (strncmp(rest + tl, ".part", 5) == 0 && rl > tl + 5 &&
                       strspn(rest + tl + 5, "0123456789") == rl - tl - 5))) {
        err_set(err, "%s: attribute tensor '%s' does not match the dataset name", where, tensor);
        goto out;
    }
    for (int d = 0; d < nd; d++) {
        if (shape[d] <= 0 || shape[d] > ((int64_t)1 << 40) || off[d] < 0 || off[d] > shape[d] - cnt[d]) {
            err_set(err, "%s: box at offset %lld of %lld elements lies outside global dimension %d of %lld", where,
                    (long long)off[d], (long long)cnt[d], d, (long long)shape[d]);
            goto out;
        }
    }
    int64_t volume = 1;
    for (int d = 0; d < nd; d++) {
        if (volume > ((int64_t)1 << 48) / shape[d]) {
            err_set(err, "%s: global shape of more than 2^48 elements", where);
            goto out;
        }
        volume *= shape[d];
    }
    if (split < -1 || split >= nd || pad < 1 || pad > (1 << 20) || (pad > 1 && split != 0) || split_off < 0) {
        err_set(err, "%s: bad split attributes (split_dim %lld, pad_multiple %lld)", where, (long long)split,
                (long long)pad);
        goto out;
    }
    if (tp != rf->tp_rank || dp != rf->dp_rank) {
        err_set(err, "%s: written by rank (tp %lld, dp %lld), the file name says (tp %d, dp %d)", where,
                (long long)tp, (long long)dp, rf->tp_rank, rf->dp_rank);
        goto out;
    }
    memset(rp, 0, sizeof *rp); /* unused dimensions compare as zero */
    rp->kind = kind;
    memcpy(rp->name, tensor, tl);
    rp->ndim = nd, rp->split_dim = (int)split, rp->pad_multiple = pad;
    rp->piece.file = v->file;
    rp->piece.box.ndim = nd;
    for (int d = 0; d < nd; d++) rp->shape[d] = shape[d], rp->piece.box.off[d] = off[d], rp->piece.box.cnt[d] = cnt[d];
    rp->piece.tp_rank = (int)tp, rp->piece.dp_rank = (int)dp;
    rp->piece.dset = strdup(path);
    if (!rp->piece.dset) {
        err_set(err, "out of memory indexing %s", where);
        goto out;
    }
    rc = 0;
out:
    free(tensor);
    H5Dclose(ds);
    return rc;
}

static herr_t visit_cb(hid_t obj, const char *name, const visit_info_t *info, void *data) {
    visit_t *v = data;
    if (info->type != H5O_TYPE_DATASET) return 0;
    ckpt_kind_t kind;
    const char *rest;
    if (kind_of(name, &kind, &rest) && kind != CKPT_MODEL && !v->r->with_optimizer) return 0;
    if (v->n == v->cap) {
        size_t cap = v->cap ? 2 * v->cap : 256;
        raw_piece_t *nr = realloc(v->raw, cap * sizeof *nr);
        if (!nr) {
            err_set(v->err, "out of memory indexing %s", v->r->files[v->file].path);
            v->failed = 1;
            return -1;
        }
        v->raw = nr, v->cap = cap;
    }
    if (index_dataset(v, obj, name, &v->raw[v->n], v->err) != 0) {
        v->failed = 1;
        return -1;
    }
    v->n++;
    return 0;
}

static int cmp_raw(const void *pa, const void *pb) {
    const raw_piece_t *a = pa, *b = pb;
    if (a->kind != b->kind) return a->kind < b->kind ? -1 : 1;
    int c = strcmp(a->name, b->name);
    if (c) return c;
    for (int d = 0; d < a->piece.box.ndim && d < b->piece.box.ndim; d++)
        if (a->piece.box.off[d] != b->piece.box.off[d]) return a->piece.box.off[d] < b->piece.box.off[d] ? -1 : 1;
    return 0;
}

static int boxes_overlap(const ckpt_box_t *a, const ckpt_box_t *b) {
    for (int d = 0; d < a->ndim; d++)
        if (a->off[d] >= b->off[d] + b->cnt[d] || b->off[d] >= a->off[d] + a->cnt[d]) return 0;
    return 1;
}

static void box_text(const ckpt_box_t *b, char *buf, size_t len) {
    size_t o = 0;
    for (int d = 0; d < b->ndim && o < len; d++)
        o += (size_t)snprintf(buf + o, len - o, "%s%lld:%lld", d ? "," : "[", (long long)b->off[d],
                              (long long)(b->off[d] + b->cnt[d]));
    if (o < len) snprintf(buf + o, len - o, "]");
}

/* groups the raw pieces into entries; checks each tensor's boxes tile it */
static int build_entries(ckpt_reader_t *r, raw_piece_t *raw, size_t n, err_t *err) {
    qsort(raw, n, sizeof *raw, cmp_raw);
    r->entries = calloc(n ? n : 1, sizeof *r->entries);
    if (!r->entries) return err_set(err, "out of memory indexing %s", r->dir);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && raw[j].kind == raw[i].kind && strcmp(raw[j].name, raw[i].name) == 0) j++;
        ckpt_entry_t *e = &r->entries[r->nentries++];
        e->kind = raw[i].kind;
        memcpy(e->name, raw[i].name, sizeof e->name);
        e->ndim = raw[i].ndim, e->split_dim = raw[i].split_dim, e->pad_multiple = raw[i].pad_multiple;
        memcpy(e->shape, raw[i].shape, sizeof e->shape);
        e->pieces = calloc(j - i, sizeof *e->pieces);
        if (!e->pieces) return err_set(err, "out of memory indexing %s", r->dir);
        int64_t total = 1, covered = 0;
        for (int d = 0; d < e->ndim; d++) total *= e->shape[d];
        for (size_t k = i; k < j; k++) {
            raw_piece_t *p = &raw[k];
            const char *fk = r->files[p->piece.file].path;
            if (p->ndim != e->ndim || memcmp(p->shape, e->shape, sizeof e->shape) != 0 || p->split_dim != e->split_dim ||
                p->pad_multiple != e->pad_multiple)
                return err_set(err, "%s: %s/%s: global shape or split differs from the same tensor in %s", fk,
                               GROUPS[e->kind], e->name, r->files[raw[i].piece.file].path);
            for (int q = 0; q < e->npieces; q++) {
                if (boxes_overlap(&e->pieces[q].box, &p->piece.box)) {
                    char b1[96], b2[96];
                    box_text(&p->piece.box, b1, sizeof b1);
                    box_text(&e->pieces[q].box, b2, sizeof b2);
                    return err_set(err, "%s: %s/%s: box %s overlaps box %s from %s", fk, GROUPS[e->kind], e->name, b1,
                                   b2, r->files[e->pieces[q].file].path);
                }
            }
            e->pieces[e->npieces++] = p->piece;
            p->piece.dset = NULL; /* owned by the entry now */
            covered += ckpt_box_volume(&p->piece.box);
        }
        if (covered != total)
            return err_set(err, "%s: %s/%s: the stored boxes cover %lld of its %lld elements (a shard is missing)",
                           r->dir, GROUPS[e->kind], e->name, (long long)covered, (long long)total);
        i = j;
    }
    /* the moments cover the same tensors as the model */
    int nmodel = 0, nopt[CKPT_KINDS] = {0};
    for (int i = 0; i < r->nentries; i++) {
        ckpt_entry_t *e = &r->entries[i];
        if (e->kind == CKPT_MODEL) {
            nmodel++;
            continue;
        }
        nopt[e->kind]++;
        const ckpt_entry_t *m = ckpt_find(r, CKPT_MODEL, e->name);
        if (!m || m->ndim != e->ndim || memcmp(m->shape, e->shape, sizeof m->shape) != 0)
            return err_set(err, "%s: %s/%s has no model tensor of the same shape", r->dir, GROUPS[e->kind], e->name);
    }
    if (nmodel == 0) return err_set(err, "%s: holds no model tensors", r->dir);
    if (r->with_optimizer && r->meta.has_optimizer &&
        (nopt[CKPT_EXP_AVG] != nmodel || nopt[CKPT_EXP_AVG_SQ] != nmodel))
        return err_set(err, "%s: Adam moments for %d and %d of the %d model tensors", r->dir, nopt[CKPT_EXP_AVG],
                       nopt[CKPT_EXP_AVG_SQ], nmodel);
    return 0;
}

/* reads the metadata record of an open file, checking its CRC32C */
static int read_file_meta(hid_t h, const char *path, char **json, size_t *len, err_t *err) {
    int64_t crc;
    if (h5io_attr_get_str(h, "metadata", json, len, path, err) != 0) return -1;
    if (h5io_attr_get_i64(h, "metadata_crc32c", &crc, 1, path, err) != 0) {
        free(*json), *json = NULL;
        return -1;
    }
    if ((uint32_t)crc != crc32c(0, *json, *len)) {
        free(*json), *json = NULL;
        return err_set(err, "%s: metadata checksum mismatch (file corrupted)", path);
    }
    return 0;
}

static int open_file(ckpt_reader_t *r, int i, const char *name, int tp_rank, int dp_rank, int optim, err_t *err) {
    ckpt_rfile_t *f = &r->files[i];
    f->h = -1;
    f->tp_rank = tp_rank, f->dp_rank = dp_rank, f->optim = optim;
    snprintf(f->name, sizeof f->name, "%s", name);
    if (join(f->path, sizeof f->path, r->dir, name, err) != 0) return -1;
    f->h = h5io_open(f->path, err);
    if (f->h < 0) {
        if (i > 0 && strstr(err->msg, ": missing"))
            err_set(err, "%s: missing (the checkpoint was saved with tensor-parallel size %d%s)", f->path,
                    r->meta.tp_size, r->meta.zero1 ? " and ZeRO-1 optimizer files per rank" : "");
        return -1;
    }
    struct stat st;
    f->size = stat(f->path, &st) == 0 ? (int64_t)st.st_size : 0;
    if (i == 0) return 0; /* its metadata is the reference */
    char *json = NULL;
    size_t len;
    if (read_file_meta(f->h, f->path, &json, &len, err) != 0) return -1;
    int same = strcmp(json, r->meta_json) == 0;
    free(json);
    if (!same) return err_set(err, "%s: metadata differs from %s (a file of another checkpoint?)", f->path, r->files[0].path);
    int64_t tp, dp;
    char *kind = NULL;
    size_t kl;
    if (h5io_attr_get_i64(f->h, "tp_rank", &tp, 1, f->path, err) != 0 ||
        h5io_attr_get_i64(f->h, "dp_rank", &dp, 1, f->path, err) != 0 ||
        h5io_attr_get_str(f->h, "file_kind", &kind, &kl, f->path, err) != 0)
        return -1;
    int ok = tp == tp_rank && dp == dp_rank && strcmp(kind, optim ? "optimizer" : "model") == 0;
    free(kind);
    if (!ok) return err_set(err, "%s: the file's own rank attributes do not match its name", f->path);
    return 0;
}

int ckpt_open(ckpt_reader_t *r, const char *iter_dir, int with_optimizer, err_t *err) {
    memset(r, 0, sizeof *r);
    h5io_init();
    if (strlen(iter_dir) >= sizeof r->dir - 64) return err_set(err, "%s: path too long", iter_dir);
    snprintf(r->dir, sizeof r->dir, "%s", iter_dir);
    r->with_optimizer = with_optimizer;
    /* the metadata of mp_rank_00.h5 says which files there are */
    r->files = calloc(1, sizeof *r->files);
    if (!r->files) return err_set(err, "out of memory");
    r->nfiles = 1;
    if (open_file(r, 0, "mp_rank_00.h5", 0, 0, 0, err) != 0) goto fail;
    size_t len;
    if (read_file_meta(r->files[0].h, r->files[0].path, &r->meta_json, &len, err) != 0) goto fail;
    if (ckpt_meta_from_json(r->meta_json, len, &r->meta, err) != 0) {
        err_prefix(err, "%s", r->files[0].path);
        goto fail;
    }
    int64_t dir_it;
    const char *base = strrchr(r->dir, '/');
    base = base ? base + 1 : r->dir;
    if (parse_iter_name(base, &dir_it) == 1 && dir_it != r->meta.iteration) {
        err_set(err, "%s: holds iteration %lld, the directory name says %lld", r->files[0].path,
                (long long)r->meta.iteration, (long long)dir_it);
        goto fail;
    }
    int tp = r->meta.tp_size, dp = r->meta.dp_size;
    int optim_files = with_optimizer && r->meta.has_optimizer && r->meta.zero1;
    int64_t nfiles = tp + (optim_files ? (int64_t)tp * dp : 0);
    if (nfiles > 65536) {
        err_set(err, "%s: a layout of %lld files (TP %d x DP %d) is more than megac opens", r->files[0].path,
                (long long)nfiles, tp, dp);
        goto fail;
    }
    ckpt_rfile_t *nf = realloc(r->files, (size_t)nfiles * sizeof *nf);
    if (!nf) {
        err_set(err, "out of memory");
        goto fail;
    }
    r->files = nf;
    memset(r->files + 1, 0, (size_t)(nfiles - 1) * sizeof *nf);
    for (int i = 1; i < nfiles; i++) r->files[i].h = -1;
    r->nfiles = (int)nfiles;
    for (int t = 1; t < tp; t++) {
        char name[64];
        ckpt_model_file_name(t, name, sizeof name);
        if (open_file(r, t, name, t, 0, 0, err) != 0) goto fail;
    }
    for (int t = 0; optim_files && t < tp; t++)
        for (int d = 0; d < dp; d++) {
            char name[64];
            ckpt_optim_file_name(t, d, name, sizeof name);
            if (open_file(r, tp + t * dp + d, name, t, d, 1, err) != 0) goto fail;
        }
    /* index every dataset */
    visit_t v = {r, 0, NULL, 0, 0, err, 0};
    int rc = 0;
    for (int i = 0; i < r->nfiles && rc == 0; i++) {
        v.file = i;
        if (VISIT_FILE(r->files[i].h, visit_cb, &v) < 0) {
            if (!v.failed) {
                char h[200];
                h5io_error_text(h, sizeof h);
                err_set(err, "%s: cannot list the datasets (HDF5: %s)", r->files[i].path, h);
            }
            rc = -1;
        }
    }
    if (rc == 0) rc = build_entries(r, v.raw, v.n, err);
    for (size_t i = 0; i < v.n; i++) free(v.raw[i].piece.dset);
    free(v.raw);
    if (rc != 0) goto fail;
    return 0;
fail:
    ckpt_close(r);
    return -1;
}

void ckpt_close(ckpt_reader_t *r) {
    for (int i = 0; r->files && i < r->nfiles; i++)
        if (r->files[i].h >= 0) H5Fclose(r->files[i].h);
    for (int i = 0; r->entries && i < r->nentries; i++) {
        for (int k = 0; k < r->entries[i].npieces; k++) free(r->entries[i].pieces[k].dset);
        free(r->entries[i].pieces);
    }
    free(r->entries), free(r->files), free(r->meta_json), free(r->host);
    h5io_stage_free(&r->stage);
    memset(r, 0, sizeof *r);
}

const ckpt_entry_t *ckpt_find(const ckpt_reader_t *r, ckpt_kind_t kind, const char *name) {
    int lo = 0, hi = r->nentries - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        const ckpt_entry_t *e = &r->entries[mid];
        int c = e->kind != kind ? (e->kind < kind ? -1 : 1) : strcmp(e->name, name);
        if (c == 0) return e;
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return NULL;
}

int ckpt_read(ckpt_reader_t *r, const ckpt_entry_t *e, const ckpt_box_t *box, float *dst, err_t *err) {
    if (box->ndim != e->ndim) return err_set(err, "%s: %s/%s has %d dimensions, %d requested", r->dir, GROUPS[e->kind], e->name, e->ndim, box->ndim);
    int64_t vol = ckpt_box_volume(box), expect = 1;
    int beyond = 0;
    for (int d = 0; d < box->ndim; d++) {
        int64_t end = box->off[d] + box->cnt[d];
        if (end > e->shape[d]) beyond = 1, end = e->shape[d];
        expect *= end > box->off[d] ? end - box->off[d] : 0;
    }
    if (beyond) memset(dst, 0, (size_t)vol * sizeof(float));
    int64_t covered = 0;
    for (int i = 0; i < e->npieces; i++) {
        const ckpt_piece_t *p = &e->pieces[i];
        int64_t fo[4], mo[4], cnt[4], n = 1;
        for (int d = 0; d < e->ndim && n > 0; d++) {
            int64_t lo = box->off[d] > p->box.off[d] ? box->off[d] : p->box.off[d];
            int64_t hi = box->off[d] + box->cnt[d] < p->box.off[d] + p->box.cnt[d] ? box->off[d] + box->cnt[d]
                                                                                     : p->box.off[d] + p->box.cnt[d];
            cnt[d] = hi > lo ? hi - lo : 0;
            fo[d] = lo - p->box.off[d], mo[d] = lo - box->off[d];
            n *= cnt[d];
        }
        if (n == 0) continue;
        const ckpt_rfile_t *f = &r->files[p->file];
        char where[CKPT_PATH_MAX + 200];
        snprintf(where, sizeof where, "%s: %s", f->path, p->dset);
        hid_t ds = H5Dopen2(f->h, p->dset, H5P_DEFAULT);
        if (ds < 0) {
            char h[200];
            h5io_error_text(h, sizeof h);
            return err_set(err, "%s: cannot open (HDF5: %s)", where, h);
        }
        int rc = h5io_read_box(ds, e->ndim, fo, cnt, box->cnt, mo, dst, where, err);
        H5Dclose(ds);
        if (rc != 0) return -1;
        covered += n;
    }
    if (covered != expect)
        return err_set(err, "%s: %s/%s: the stored boxes cover %lld of the %lld elements requested", r->dir,
                       GROUPS[e->kind], e->name, (long long)covered, (long long)expect);
    return 0;
}

static float *host_buffer(ckpt_reader_t *r, size_t n, err_t *err) {
    if (r->host_cap < n) {
        float *nb = realloc(r->host, n * sizeof(float));
        if (!nb) {
            err_set(err, "out of host memory for a %zu-element tensor", n);
            return NULL;
        }
        r->host = nb, r->host_cap = n;
    }
    return r->host;
}

/* reads box of e into backend memory at dev */
static int read_to(ckpt_reader_t *r, backend_t *be, const ckpt_entry_t *e, const ckpt_box_t *box, float *dev,
                   err_t *err) {
    if (be->device == DEVICE_CPU) return ckpt_read(r, e, box, dev, err);
    size_t n = (size_t)ckpt_box_volume(box);
    float *h = host_buffer(r, n, err);
    if (!h || ckpt_read(r, e, box, h, err) != 0) return -1;
    be->copy_to_device(be, dev, h, n * sizeof(float));
    return 0;
}

static void shape_text(int ndim, const int64_t *s, char *buf, size_t len) {
    size_t o = 0;
    for (int d = 0; d < ndim && o < len; d++) o += (size_t)snprintf(buf + o, len - o, "%s%lld", d ? " x " : "", (long long)s[d]);
}

static const ckpt_entry_t *find_checked(ckpt_reader_t *r, ckpt_kind_t kind, const ckpt_param_t *p, err_t *err) {
    const ckpt_entry_t *e = ckpt_find(r, kind, p->t->name);
    if (!e) {
        err_set(err, "%s: %s/%s is missing from the checkpoint", r->dir, GROUPS[kind], p->t->name);
        return NULL;
    }
    int64_t shape[TENSOR_MAX_DIMS];
    ckpt_param_shape(p, shape);
    if (e->ndim != p->t->ndim || memcmp(e->shape, shape, sizeof(int64_t) * (size_t)e->ndim) != 0) {
        char a[96], b[96];
        shape_text(e->ndim, e->shape, a, sizeof a);
        shape_text(p->t->ndim, shape, b, sizeof b);
        err_set(err, "%s: %s is %s in the checkpoint but %s in this model", r->dir, p->t->name, a, b);
        return NULL;
    }
    return e;
}

int ckpt_load_params(ckpt_reader_t *r, backend_t *be, const ckpt_param_t *params, int n, err_t *err) {
    for (int k = 0; k < n; k++) {
        if (check_param(&params[k], err) != 0) return -1;
        const ckpt_entry_t *e = find_checked(r, CKPT_MODEL, &params[k], err);
        if (!e) return -1;
        ckpt_box_t box;
        local_view(params[k].t, &box);
        if (read_to(r, be, e, &box, params[k].t->data, err) != 0) return -1;
    }
    for (int i = 0; i < r->nentries; i++) {
        if (r->entries[i].kind != CKPT_MODEL) continue;
        int found = 0;
        for (int k = 0; k < n && !found; k++) found = strcmp(params[k].t->name, r->entries[i].name) == 0;
        if (!found) return err_set(err, "%s: holds tensor %s, which this model does not have", r->dir, r->entries[i].name);
    }
    return 0;
}

int ckpt_load_optim(ckpt_reader_t *r, backend_t *be, const ckpt_param_t *params, int n, ckpt_optim_state_t *opt,
                    err_t *err) {
    if (!r->with_optimizer || !r->meta.has_optimizer) return err_set(err, "%s: holds no optimizer state", r->dir);
    for (int k = 0; k < n; k++) {
        const ckpt_entry_t *m = find_checked(r, CKPT_EXP_AVG, &params[k], err);
        const ckpt_entry_t *v = m ? find_checked(r, CKPT_EXP_AVG_SQ, &params[k], err) : NULL;
        if (!v) return -1;
        int64_t a, b;
        if (!moment_range(&params[k], opt->offset[k], opt->lo, opt->hi, &a, &b)) continue;
        ckpt_box_t boxes[2 * TENSOR_MAX_DIMS];
        int64_t starts[2 * TENSOR_MAX_DIMS];
        int nb = global_boxes(params[k].t, a, b, boxes, starts);
        for (int i = 0; i < nb; i++) {
            size_t at = opt->offset[k] + (size_t)starts[i] - opt->lo;
            if (read_to(r, be, m, &boxes[i], opt->exp_avg + at, err) != 0 ||
                read_to(r, be, v, &boxes[i], opt->exp_avg_sq + at, err) != 0)
                return -1;
        }
    }
    opt->step = r->meta.optimizer_step;
    return 0;
}

int ckpt_verify(ckpt_reader_t *r, int64_t *bytes, int *datasets, err_t *err) {
    *bytes = 0, *datasets = 0;
    for (int i = 0; i < r->nentries; i++) {
        const ckpt_entry_t *e = &r->entries[i];
        for (int k = 0; k < e->npieces; k++) {
            const ckpt_rfile_t *f = &r->files[e->pieces[k].file];
            char where[CKPT_PATH_MAX + 200];
            snprintf(where, sizeof where, "%s: %s", f->path, e->pieces[k].dset);
            hid_t ds = H5Dopen2(f->h, e->pieces[k].dset, H5P_DEFAULT);
            if (ds < 0) {
                char h[200];
                h5io_error_text(h, sizeof h);
                return err_set(err, "%s: cannot open (HDF5: %s)", where, h);
            }
            int rc = h5io_verify_dataset(ds, &r->stage, bytes, where, err);
            H5Dclose(ds);
            if (rc != 0) return -1;
            (*datasets)++;
        }
    }
    return 0;
}
