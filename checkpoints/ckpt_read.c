/* ckpt_read.c — reading megac checkpoints: locating the iteration, opening
 * and indexing every file, any-layout loads, verify (see checkpoint.h). */
#define _GNU_SOURCE
#include "checkpoint.h"
#include "ckpt_internal.h"

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

/* ---------------------------------------------------------------- locating */

int ckpt_locate(const char *path, char *iter_dir, size_t len, err_t *err) {
    struct stat st;
    if (stat(path, &st) != 0) {
        err_set(err, "%s: does not exist", path);
        return 0;
    }
    if (!S_ISDIR(st.st_mode)) return err_set(err, "%s: not a checkpoint directory", path);
    char p[CKPT_PATH_MAX];
    if (ckpt_join(p, sizeof p, path, CKPT_LATEST, err) != 0) return -1;
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
        if (ckpt_join(iter_dir, len, path, name, err) != 0) return -1;
        if (stat(iter_dir, &st) != 0 || !S_ISDIR(st.st_mode))
            return err_set(err, "%s names iteration %lld but %s does not exist", p, (long long)it, iter_dir);
        return 1;
    }
    char m[CKPT_PATH_MAX];
    if (ckpt_join(m, sizeof m, path, "mp_rank_00.h5", err) != 0) return -1;
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
        size_t gl = strlen(ckpt_kind_group(k));
        if (strncmp(path, ckpt_kind_group(k), gl) == 0 && path[gl] == '/') {
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
    /* the chunks the dataset says it stores lie within the file */
    int64_t stored = (int64_t)H5Dget_storage_size(ds), elems = 1;
    for (int d = 0; d < nd; d++) elems *= cnt[d];
    if (stored > rf->size || elems > ((int64_t)1 << 48)) {
        err_set(err, "%s: claims %lld stored bytes for %lld elements in a file of %lld bytes (truncated or corrupted)",
                where, (long long)stored, (long long)elems, (long long)rf->size);
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
                               ckpt_kind_group(e->kind), e->name, r->files[raw[i].piece.file].path);
            for (int q = 0; q < e->npieces; q++) {
                if (boxes_overlap(&e->pieces[q].box, &p->piece.box)) {
                    char b1[96], b2[96];
                    box_text(&p->piece.box, b1, sizeof b1);
                    box_text(&e->pieces[q].box, b2, sizeof b2);
                    return err_set(err, "%s: %s/%s: box %s overlaps box %s from %s", fk, ckpt_kind_group(e->kind), e->name, b1,
                                   b2, r->files[e->pieces[q].file].path);
                }
            }
            e->pieces[e->npieces++] = p->piece;
            p->piece.dset = NULL; /* owned by the entry now */
            covered += ckpt_box_volume(&p->piece.box);
        }
        if (covered != total)
            return err_set(err, "%s: %s/%s: the stored boxes cover %lld of its %lld elements (a shard is missing)",
                           r->dir, ckpt_kind_group(e->kind), e->name, (long long)covered, (long long)total);
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
            return err_set(err, "%s: %s/%s has no model tensor of the same shape", r->dir, ckpt_kind_group(e->kind), e->name);
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
    if (ckpt_join(f->path, sizeof f->path, r->dir, name, err) != 0) return -1;
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
    if (ckpt_parse_iter_name(base, &dir_it) == 1 && dir_it != r->meta.iteration) {
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
    if (box->ndim != e->ndim) return err_set(err, "%s: %s/%s has %d dimensions, %d requested", r->dir, ckpt_kind_group(e->kind), e->name, e->ndim, box->ndim);
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
                       ckpt_kind_group(e->kind), e->name, (long long)covered, (long long)expect);
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
        err_set(err, "%s: %s/%s is missing from the checkpoint", r->dir, ckpt_kind_group(kind), p->t->name);
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
        if (ckpt_check_param(&params[k], err) != 0) return -1;
        const ckpt_entry_t *e = find_checked(r, CKPT_MODEL, &params[k], err);
        if (!e) return -1;
        ckpt_box_t box;
        ckpt_local_view(params[k].t, &box);
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
        if (!ckpt_moment_range(&params[k], opt->offset[k], opt->lo, opt->hi, &a, &b)) continue;
        ckpt_box_t boxes[2 * TENSOR_MAX_DIMS];
        int64_t starts[2 * TENSOR_MAX_DIMS];
        int nb = ckpt_global_boxes(params[k].t, a, b, boxes, starts);
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

int ckpt_verify(ckpt_reader_t *r, int64_t *bytes, int *datasets, progress_t *pg, err_t *err) {
    *bytes = 0, *datasets = 0;
    int total = 0;
    for (int i = 0; i < r->nentries; i++) total += r->entries[i].npieces;
    if (pg) pg->total = total;
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
            if (pg) progress_update(pg, *datasets, NULL);
        }
    }
    return 0;
}
