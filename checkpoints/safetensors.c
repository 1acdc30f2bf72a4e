/* safetensors.c — .safetensors reading and writing (see safetensors.h). */
#define _GNU_SOURCE
#include "safetensors.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../framework/tensor.h"

static const struct {
    const char *name;
    int size;
} DTYPES[] = {{"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1}, {"I16", 2}, {"U16", 2}, {"F16", 2},
              {"BF16", 2}, {"I32", 4}, {"U32", 4}, {"F32", 4},     {"F64", 8},     {"I64", 8}, {"U64", 8}};

static int dtype_bytes(const char *name) {
    for (size_t i = 0; i < sizeof DTYPES / sizeof DTYPES[0]; i++)
        if (strcmp(DTYPES[i].name, name) == 0) return DTYPES[i].size;
    return 0;
}

#define EXACT_INT 9007199254740992.0 /* 2^53 */

/* a JSON number that is a non-negative integer below 2^53 */
static int json_uint(const cJSON *it, uint64_t *v) {
    if (!cJSON_IsNumber(it)) return -1;
    double d = it->valuedouble;
    if (!(d >= 0.0) || d >= EXACT_INT || d != floor(d)) return -1;
    *v = (uint64_t)d;
    return 0;
}

static int cmp_begin(const void *a, const void *b) {
    const st_tensor_t *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static int cmp_name(const void *a, const void *b) { return strcmp(((const st_tensor_t *)a)->name, ((const st_tensor_t *)b)->name); }

static int parse_tensor(const cJSON *it, uint64_t data_len, st_tensor_t *t, err_t *err) {
    memset(t, 0, sizeof *t);
    size_t nl = strlen(it->string);
    if (nl == 0 || nl >= ST_NAME_MAX) return err_set(err, "tensor name of %zu bytes", nl);
    memcpy(t->name, it->string, nl + 1);
    if (!cJSON_IsObject(it)) return err_set(err, "tensor %s: not an object", t->name);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(it, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(it, "shape");
    const cJSON *of = cJSON_GetObjectItemCaseSensitive(it, "data_offsets");
    if (!cJSON_IsString(dt) || !dt->valuestring || strlen(dt->valuestring) >= sizeof t->dtype ||
        !(t->dsize = dtype_bytes(dt->valuestring)))
        return err_set(err, "tensor %s: missing or unknown dtype", t->name);
    strcpy(t->dtype, dt->valuestring);
    if (!cJSON_IsArray(sh)) return err_set(err, "tensor %s: shape is not an array", t->name);
    int nd = cJSON_GetArraySize(sh);
    if (nd > ST_MAX_DIMS) return err_set(err, "tensor %s: %d dimensions (at most %d)", t->name, nd, ST_MAX_DIMS);
    t->ndim = nd;
    uint64_t numel = 1;
    int d = 0;
    for (const cJSON *x = sh->child; x; x = x->next, d++) {
        uint64_t v;
        if (json_uint(x, &v) != 0) return err_set(err, "tensor %s: shape entry %d is not a non-negative integer", t->name, d);
        if (v != 0 && numel > (uint64_t)INT64_MAX / v / 8)
            return err_set(err, "tensor %s: shape overflows", t->name);
        numel *= v;
        t->shape[d] = (int64_t)v;
    }
    if (!cJSON_IsArray(of) || cJSON_GetArraySize(of) != 2 || json_uint(of->child, &t->begin) != 0 ||
        json_uint(of->child->next, &t->end) != 0)
        return err_set(err, "tensor %s: data_offsets is not a pair of non-negative integers", t->name);
    if (t->begin > t->end || t->end > data_len)
        return err_set(err, "tensor %s: data_offsets [%llu, %llu] lie outside the %llu data bytes", t->name,
                       (unsigned long long)t->begin, (unsigned long long)t->end, (unsigned long long)data_len);
    if (t->end - t->begin != numel * (uint64_t)t->dsize)
        return err_set(err, "tensor %s: data_offsets [%llu, %llu] hold %llu bytes, its %s shape needs %llu", t->name,
                       (unsigned long long)t->begin, (unsigned long long)t->end,
                       (unsigned long long)(t->end - t->begin), t->dtype, (unsigned long long)(numel * (uint64_t)t->dsize));
    return 0;
}

int st_parse_header(const char *json, size_t len, uint64_t data_len, st_tensor_t **out, int *n, err_t *err) {
    *out = NULL, *n = 0;
    if (len == 0 || json[0] != '{') return err_set(err, "header is not a JSON object");
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return err_set(err, "header is not valid JSON");
    }
    int count = 0;
    for (const cJSON *it = root->child; it; it = it->next) count++;
    st_tensor_t *ts = calloc(count ? (size_t)count : 1, sizeof *ts);
    int k = 0, rc = ts ? 0 : err_set(err, "out of memory for %d tensor headers", count);
    for (const cJSON *it = root->child; it && rc == 0; it = it->next) {
        if (!it->string) {
            rc = err_set(err, "header member without a name");
        } else if (strcmp(it->string, "__metadata__") == 0) {
            if (!cJSON_IsObject(it)) rc = err_set(err, "__metadata__ is not an object");
            for (const cJSON *m = it->child; m && rc == 0; m = m->next)
                if (!cJSON_IsString(m)) rc = err_set(err, "__metadata__ value '%.64s' is not a string", m->string ? m->string : "");
        } else {
            rc = parse_tensor(it, data_len, &ts[k], err);
            k++;
        }
    }
    cJSON_Delete(root);
    if (rc == 0) {
        qsort(ts, (size_t)k, sizeof *ts, cmp_name);
        for (int i = 1; i < k && rc == 0; i++)
            if (strcmp(ts[i - 1].name, ts[i].name) == 0) rc = err_set(err, "tensor %s is named twice", ts[i].name);
    }
    if (rc == 0) { /* the tensors tile the data section */
        st_tensor_t *byoff = malloc((k ? (size_t)k : 1) * sizeof *byoff);
        if (!byoff) rc = err_set(err, "out of memory");
        else {
            memcpy(byoff, ts, (size_t)k * sizeof *ts);
            qsort(byoff, (size_t)k, sizeof *byoff, cmp_begin);
            uint64_t at = 0;
            for (int i = 0; i < k && rc == 0; i++) {
                if (byoff[i].begin < at)
                    rc = err_set(err, "tensor %s [%llu, %llu) overlaps tensor %s [%llu, %llu)", byoff[i].name,
                                 (unsigned long long)byoff[i].begin, (unsigned long long)byoff[i].end, byoff[i - 1].name,
                                 (unsigned long long)byoff[i - 1].begin, (unsigned long long)byoff[i - 1].end);
                else if (byoff[i].begin > at)
                    rc = err_set(err, "data bytes [%llu, %llu) belong to no tensor", (unsigned long long)at,
                                 (unsigned long long)byoff[i].begin);
                at = byoff[i].end;
            }
            if (rc == 0 && at != data_len)
                rc = err_set(err, "data bytes [%llu, %llu) belong to no tensor", (unsigned long long)at,
                             (unsigned long long)data_len);
            free(byoff);
        }
    }
    if (rc != 0) {
        free(ts);
        return -1;
    }
    *out = ts, *n = k;
    return 0;
}

int st_open(st_file_t *f, const char *path, err_t *err) {
    memset(f, 0, sizeof *f);
    f->fd = -1;
    if (strlen(path) >= sizeof f->path) return err_set(err, "%s: path too long", path);
    strcpy(f->path, path);
    /* non-blocking, so a FIFO does not block the open; refused below */
    f->fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (f->fd < 0) return err_set(err, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(f->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        st_close(f);
        return err_set(err, "%s: not a regular file", path);
    }
    f->file_size = (uint64_t)st.st_size;
    unsigned char b[8];
    if (f->file_size < 8 || pread(f->fd, b, 8, 0) != 8) {
        st_close(f);
        return err_set(err, "%s: too short (%llu bytes) for a safetensors header", path, (unsigned long long)f->file_size);
    }
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | b[i];
    if (hl > ST_HEADER_MAX || hl > f->file_size - 8) {
        st_close(f);
        return err_set(err, "%s: header length %llu exceeds the file (%llu bytes)%s", path, (unsigned long long)hl,
                       (unsigned long long)f->file_size, hl > ST_HEADER_MAX ? " or the 100 MB limit" : "");
    }
    char *json = malloc(hl ? hl : 1);
    if (!json || pread(f->fd, json, hl, 8) != (ssize_t)hl) {
        free(json);
        st_close(f);
        return err_set(err, "%s: cannot read the %llu-byte header", path, (unsigned long long)hl);
    }
    f->data_start = 8 + hl;
    int rc = st_parse_header(json, hl, f->file_size - f->data_start, &f->tensors, &f->ntensors, err);
    free(json);
    if (rc != 0) {
        st_close(f);
        return err_prefix(err, "%s", path);
    }
    return 0;
}

void st_close(st_file_t *f) {
    if (f->fd >= 0) close(f->fd);
    free(f->tensors);
    f->tensors = NULL, f->ntensors = 0, f->fd = -1;
}

const st_tensor_t *st_find(const st_file_t *f, const char *name) {
    st_tensor_t key;
    if (strlen(name) >= sizeof key.name) return NULL;
    strcpy(key.name, name);
    return bsearch(&key, f->tensors, (size_t)f->ntensors, sizeof key, cmp_name);
}

int st_read_f32(st_file_t *f, const st_tensor_t *t, float *dst, err_t *err) {
    uint64_t bytes = t->end - t->begin, n = bytes / (uint64_t)t->dsize;
    int f32 = strcmp(t->dtype, "F32") == 0, f16 = strcmp(t->dtype, "F16") == 0, bf16 = strcmp(t->dtype, "BF16") == 0;
    if (!f32 && !f16 && !bf16) return err_set(err, "%s: tensor %s is %s (F32, F16 or BF16 expected)", f->path, t->name, t->dtype);
    /* half-precision data is read into the upper half of dst, then widened in place */
    unsigned char *raw = f32 ? (unsigned char *)dst : (unsigned char *)dst + n * 2;
    uint64_t done = 0;
    while (done < bytes) {
        ssize_t r = pread(f->fd, raw + done, bytes - done, (off_t)(f->data_start + t->begin + done));
        if (r <= 0) return err_set(err, "%s: reading tensor %s failed: %s", f->path, t->name, r < 0 ? strerror(errno) : "end of file");
        done += (uint64_t)r;
    }
    if (f16 || bf16) {
        const uint16_t *h = (const uint16_t *)(const void *)raw;
        for (uint64_t i = 0; i < n; i++) {
            uint16_t x;
            memcpy(&x, h + i, 2);
            dst[i] = f16 ? f16_to_f32(x) : bf16_to_f32(x);
        }
    }
    if (!f->allow_nonfinite)
        for (uint64_t i = 0; i < n; i++)
            if (!isfinite(dst[i]))
                return err_set(err, "%s: tensor %s holds %s at element %llu (refused; --allow-nonfinite imports it)",
                               f->path, t->name, isnan(dst[i]) ? "NaN" : "Inf", (unsigned long long)i);
    return 0;
}

/* ---------------------------------------------------------------- writing */

int st_write_begin(st_writer_t *w, const char *path, st_tensor_t *tensors, int n, err_t *err) {
    memset(w, 0, sizeof *w);
    if (strlen(path) >= sizeof w->path) return err_set(err, "%s: path too long", path);
    strcpy(w->path, path);
    snprintf(w->tmp, sizeof w->tmp, "%s.tmp", path);
    cJSON *root = cJSON_CreateObject(), *meta = cJSON_AddObjectToObject(root, "__metadata__");
    if (!root || !meta || !cJSON_AddStringToObject(meta, "format", "pt")) {
        cJSON_Delete(root);
        return err_set(err, "out of memory");
    }
    uint64_t at = 0;
    for (int i = 0; i < n; i++) {
        st_tensor_t *t = &tensors[i];
        uint64_t numel = 1;
        for (int d = 0; d < t->ndim; d++) numel *= (uint64_t)t->shape[d];
        t->dsize = dtype_bytes(t->dtype);
        t->begin = at, t->end = at + numel * (uint64_t)t->dsize;
        at = t->end;
        cJSON *o = cJSON_AddObjectToObject(root, t->name);
        double dims[ST_MAX_DIMS], offs[2] = {(double)t->begin, (double)t->end};
        for (int d = 0; d < t->ndim; d++) dims[d] = (double)t->shape[d];
        if (!o || !cJSON_AddStringToObject(o, "dtype", t->dtype) ||
            !cJSON_AddItemToObject(o, "shape", cJSON_CreateDoubleArray(dims, t->ndim)) ||
            !cJSON_AddItemToObject(o, "data_offsets", cJSON_CreateDoubleArray(offs, 2))) {
            cJSON_Delete(root);
            return err_set(err, "out of memory");
        }
    }
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!json) return err_set(err, "out of memory");
    size_t hl = strlen(json), padded = (hl + 7) / 8 * 8; /* data 8-byte aligned, header padded with spaces */
    w->f = fopen(w->tmp, "wb");
    int rc = 0;
    if (!w->f) {
        rc = err_set(err, "%s: %s", w->tmp, strerror(errno));
    } else {
        unsigned char b[8];
        for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)padded >> (8 * i));
        if (fwrite(b, 1, 8, w->f) != 8 || fwrite(json, 1, hl, w->f) != hl) rc = err_set(err, "%s: write failed", w->tmp);
        for (size_t i = hl; i < padded && rc == 0; i++)
            if (fputc(' ', w->f) == EOF) rc = err_set(err, "%s: write failed", w->tmp);
    }
    free(json);
    w->expect = at;
    if (rc != 0) st_write_abort(w);
    return rc;
}

int st_write(st_writer_t *w, const void *data, size_t bytes, err_t *err) {
    if (w->written + bytes > w->expect) return err_set(err, "%s: more tensor data than the header declares", w->tmp);
    if (fwrite(data, 1, bytes, w->f) != bytes) return err_set(err, "%s: write failed: %s", w->tmp, strerror(errno));
    w->written += bytes;
    return 0;
}

int st_write_end(st_writer_t *w, err_t *err) {
    if (w->written != w->expect) {
        st_write_abort(w);
        return err_set(err, "%s: %llu of %llu data bytes written", w->path, (unsigned long long)w->written,
                       (unsigned long long)w->expect);
    }
    int bad = fflush(w->f) != 0 || fsync(fileno(w->f)) != 0;
    bad |= fclose(w->f) != 0;
    w->f = NULL;
    if (bad) {
        unlink(w->tmp);
        return err_set(err, "%s: write failed: %s", w->tmp, strerror(errno));
    }
    if (rename(w->tmp, w->path) != 0) {
        int e = errno;
        unlink(w->tmp);
        return err_set(err, "%s: rename failed: %s", w->path, strerror(e));
    }
    return 0;
}

void st_write_abort(st_writer_t *w) {
    if (w->f) fclose(w->f);
    w->f = NULL;
    if (w->tmp[0]) unlink(w->tmp);
}
