/* indexed_dataset.c — MMIDIDX writer and checked reader (see indexed_dataset.h). */
#include "indexed_dataset.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char MAGIC[9] = {'M', 'M', 'I', 'D', 'I', 'D', 'X', 0, 0};

int indexed_dtype_size(int code) {
    switch (code) {
    case MMIDIDX_UINT8: case MMIDIDX_INT8: return 1;
    case MMIDIDX_INT16: case MMIDIDX_UINT16: return 2;
    case MMIDIDX_INT32: case MMIDIDX_FLOAT32: return 4;
    case MMIDIDX_INT64: case MMIDIDX_FLOAT64: return 8;
    default: return 0;
    }
}

const char *indexed_dtype_name(int code) {
    static const char *const names[] = {"?", "uint8", "int8", "int16", "int32", "int64", "float64", "float32", "uint16"};
    return code >= 1 && code <= 8 ? names[code] : "unknown";
}

int indexed_dtype_for_vocab(int vocab_size) { return vocab_size < 65500 ? MMIDIDX_UINT16 : MMIDIDX_INT32; }

static char *path_with(const char *prefix, const char *suffix) {
    size_t a = strlen(prefix), b = strlen(suffix);
    char *p = malloc(a + b + 1);
    if (p) {
        memcpy(p, prefix, a);
        memcpy(p + a, suffix, b + 1);
    }
    return p;
}

static void put_u64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_u64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* ---- writer ---------------------------------------------------------------- */

static const char *const TMP_SUFFIX[3] = {".bin.tmp", ".idx.lengths.tmp", ".idx.documents.tmp"};

static void writer_remove_tmp(const indexed_writer_t *w) {
    for (int k = 0; k < 3; k++) {
        char *p = path_with(w->prefix, TMP_SUFFIX[k]);
        if (p) remove(p);
        free(p);
    }
    char *p = path_with(w->prefix, ".idx.tmp");
    if (p) remove(p);
    free(p);
}

static void writer_close_files(indexed_writer_t *w) {
    if (w->bin) fclose(w->bin);
    if (w->lens) fclose(w->lens);
    if (w->docs) fclose(w->docs);
    w->bin = w->lens = w->docs = NULL;
}

void indexed_writer_abort(indexed_writer_t *w) {
    writer_close_files(w);
    if (w->prefix) writer_remove_tmp(w);
    free(w->prefix);
    free(w->conv);
    memset(w, 0, sizeof *w);
}

int indexed_writer_open(indexed_writer_t *w, const char *prefix, int dtype, err_t *err) {
    memset(w, 0, sizeof *w);
    if (dtype != MMIDIDX_UINT16 && dtype != MMIDIDX_INT32)
        return err_set(err, "%s: token data is written as uint16 or int32, not %s", prefix, indexed_dtype_name(dtype));
    w->dtype = dtype;
    w->item = indexed_dtype_size(dtype);
    w->prefix = strdup(prefix);
    if (!w->prefix) return err_set(err, "out of memory");
    FILE **f[3] = {&w->bin, &w->lens, &w->docs};
    for (int k = 0; k < 3; k++) {
        char *p = path_with(prefix, TMP_SUFFIX[k]);
        *f[k] = p ? fopen(p, k == 0 ? "wb" : "w+b") : NULL;
        if (!*f[k]) {
            err_set(err, "%s: cannot create: %s", p ? p : prefix, strerror(errno));
            free(p);
            indexed_writer_abort(w);
            return -1;
        }
        free(p);
    }
    /* the document index starts with 0 */
    int64_t zero = 0;
    if (fwrite(&zero, 8, 1, w->docs) != 1) {
        indexed_writer_abort(w);
        return err_set(err, "%s.idx: write failed", prefix);
    }
    w->n_doc_idx = 1;
    return 0;
}

int indexed_writer_add_sequence(indexed_writer_t *w, const int32_t *tokens, size_t n, err_t *err) {
    if (n > INT32_MAX) return err_set(err, "%s: a sequence of %zu tokens is longer than the format's int32 lengths", w->prefix, n);
    if (n * (size_t)w->item > w->conv_cap) {
        void *p = realloc(w->conv, n * (size_t)w->item);
        if (!p) return err_set(err, "%s: out of memory for a sequence of %zu tokens", w->prefix, n);
        w->conv = p;
        w->conv_cap = n * (size_t)w->item;
    }
    if (w->dtype == MMIDIDX_UINT16) {
        uint16_t *c = w->conv;
        for (size_t i = 0; i < n; i++) {
            if (tokens[i] < 0 || tokens[i] > 65535)
                return err_set(err, "%s: token %d does not fit the uint16 dtype", w->prefix, tokens[i]);
            c[i] = (uint16_t)tokens[i];
        }
    } else {
        memcpy(w->conv, tokens, n * 4);
    }
    int32_t len = (int32_t)n;
    if ((n && fwrite(w->conv, (size_t)w->item, n, w->bin) != n) || fwrite(&len, 4, 1, w->lens) != 1)
        return err_set(err, "%s.bin: write failed: %s", w->prefix, strerror(errno));
    w->n_seq++;
    w->bin_bytes += (int64_t)n * w->item;
    return 0;
}

int indexed_writer_end_document(indexed_writer_t *w, err_t *err) {
    if (fwrite(&w->n_seq, 8, 1, w->docs) != 1) return err_set(err, "%s.idx: write failed: %s", w->prefix, strerror(errno));
    w->n_doc_idx++;
    return 0;
}

/* Appends the whole of `src` (rewound) to `dst`. */
static int copy_stream(FILE *src, FILE *dst) {
    char buf[1 << 16];
    rewind(src);
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, src)) > 0)
        if (fwrite(buf, 1, k, dst) != k) return -1;
    return ferror(src) ? -1 : 0;
}

int indexed_writer_finish(indexed_writer_t *w, err_t *err) {
    char *idx_tmp = path_with(w->prefix, ".idx.tmp"), *idx = path_with(w->prefix, ".idx");
    char *bin_tmp = path_with(w->prefix, TMP_SUFFIX[0]), *bin = path_with(w->prefix, ".bin");
    FILE *f = NULL;
    int rc = -1;
    if (!idx_tmp || !idx || !bin_tmp || !bin) {
        err_set(err, "out of memory");
        goto out;
    }
    if (fflush(w->bin) != 0 || fflush(w->lens) != 0 || fflush(w->docs) != 0) {
        err_set(err, "%s: write failed: %s", w->prefix, strerror(errno));
        goto out;
    }
    f = fopen(idx_tmp, "wb");
    if (!f) {
        err_set(err, "%s: cannot create: %s", idx_tmp, strerror(errno));
        goto out;
    }
    uint8_t head[MMIDIDX_HEADER_BYTES];
    memcpy(head, MAGIC, 9);
    put_u64(head + 9, 1);
    head[17] = (uint8_t)w->dtype;
    put_u64(head + 18, (uint64_t)w->n_seq);
    put_u64(head + 26, (uint64_t)w->n_doc_idx);
    if (fwrite(head, 1, sizeof head, f) != sizeof head || copy_stream(w->lens, f) != 0) goto write_failed;
    /* sequence pointers: running byte offsets, recomputed from the lengths */
    rewind(w->lens);
    int64_t ptr = 0;
    int32_t lens[4096];
    int64_t ptrs[4096];
    size_t k;
    while ((k = fread(lens, 4, 4096, w->lens)) > 0) {
        for (size_t i = 0; i < k; i++) {
            ptrs[i] = ptr;
            ptr += (int64_t)lens[i] * w->item;
        }
        if (fwrite(ptrs, 8, k, f) != k) goto write_failed;
    }
    if (copy_stream(w->docs, f) != 0) goto write_failed;
    if (fflush(f) != 0 || fsync(fileno(f)) != 0 || fsync(fileno(w->bin)) != 0) goto write_failed;
    if (fclose(f) != 0) {
        f = NULL;
        goto write_failed;
    }
    f = NULL;
    if (rename(bin_tmp, bin) != 0 || rename(idx_tmp, idx) != 0) {
        err_set(err, "%s: cannot rename into place: %s", w->prefix, strerror(errno));
        goto out;
    }
    rc = 0;
    goto out;
write_failed:
    err_set(err, "%s: write failed: %s", idx_tmp, strerror(errno));
out:
    if (f) fclose(f);
    free(idx_tmp);
    free(idx);
    free(bin_tmp);
    free(bin);
    indexed_writer_abort(w); /* closes, removes what is left of the temporaries */
    return rc;
}

/* ---- reader ---------------------------------------------------------------- */

void indexed_close(indexed_dataset_t *ds) {
    file_map_close(&ds->idx);
    file_map_close(&ds->bin);
    free(ds->prefix);
    memset(ds, 0, sizeof *ds);
}

int32_t indexed_sequence_length(const indexed_dataset_t *ds, int64_t seq) {
    int32_t v;
    memcpy(&v, ds->idx.data + ds->off_lens + 4 * (size_t)seq, 4);
    return v;
}

int64_t indexed_sequence_pointer(const indexed_dataset_t *ds, int64_t seq) {
    int64_t v;
    memcpy(&v, ds->idx.data + ds->off_ptrs + 8 * (size_t)seq, 8);
    return v;
}

int64_t indexed_document_index(const indexed_dataset_t *ds, int64_t d) {
    int64_t v;
    memcpy(&v, ds->idx.data + ds->off_docs + 8 * (size_t)d, 8);
    return v;
}

int indexed_open(indexed_dataset_t *ds, const char *prefix, err_t *err) {
    memset(ds, 0, sizeof *ds);
    char *idx = path_with(prefix, ".idx"), *bin = path_with(prefix, ".bin");
    ds->prefix = strdup(prefix);
    if (!idx || !bin || !ds->prefix) {
        free(idx);
        free(bin);
        free(ds->prefix);
        ds->prefix = NULL;
        return err_set(err, "out of memory");
    }
    if (file_map_open(&ds->idx, idx, err) != 0 || file_map_open(&ds->bin, bin, err) != 0) goto fail;
    const uint8_t *p = ds->idx.data;
    size_t size = ds->idx.size;
    if (size < MMIDIDX_HEADER_BYTES) {
        err_set(err, "%s: %zu bytes, shorter than the %d-byte MMIDIDX header (truncated?)", idx, size, MMIDIDX_HEADER_BYTES);
        goto fail;
    }
    if (memcmp(p, MAGIC, 9) != 0) {
        err_set(err, "%s: offset 0: not a Megatron MMIDIDX index (bad magic)", idx);
        goto fail;
    }
    uint64_t version = get_u64(p + 9);
    if (version != 1) {
        err_set(err, "%s: offset 9: version %llu, only version 1 is known", idx, (unsigned long long)version);
        goto fail;
    }
    ds->dtype = p[17];
    ds->item = indexed_dtype_size(ds->dtype);
    if (ds->item == 0) {
        err_set(err, "%s: offset 17: unknown dtype code %d", idx, ds->dtype);
        goto fail;
    }
    if (ds->dtype == MMIDIDX_FLOAT32 || ds->dtype == MMIDIDX_FLOAT64) {
        err_set(err, "%s: offset 17: dtype %s; token data must be integers", idx, indexed_dtype_name(ds->dtype));
        goto fail;
    }
    uint64_t s = get_u64(p + 18), d = get_u64(p + 26);
    size_t rest = size - MMIDIDX_HEADER_BYTES;
    /* 12 bytes per sequence (+1 with Megatron's multimodal modes), 8 per document entry */
    if (s > rest / 12 || d > rest / 8) {
        err_set(err, "%s: offset 18: the header claims %llu sequences and %llu document entries, more than the "
                "%zu-byte file can hold (truncated or corrupted)", idx, (unsigned long long)s, (unsigned long long)d, size);
        goto fail;
    }
    if (12 * s + 8 * d > rest) {
        err_set(err, "%s: offset 18: %llu sequences and %llu document entries need %llu bytes, the file has %zu "
                "(truncated?)", idx, (unsigned long long)s, (unsigned long long)d,
                (unsigned long long)(MMIDIDX_HEADER_BYTES + 12 * s + 8 * d), size);
        goto fail;
    }
    size_t need = MMIDIDX_HEADER_BYTES + 12 * (size_t)s + 8 * (size_t)d;
    if (size != need && size != need + (size_t)s) {
        err_set(err, "%s: %zu bytes, but its header (%llu sequences, %llu document entries) implies %zu", idx, size,
                (unsigned long long)s, (unsigned long long)d, need);
        goto fail;
    }
    if (d < 1) {
        err_set(err, "%s: offset 26: the document index is empty (it always starts with 0)", idx);
        goto fail;
    }
    ds->n_seq = (int64_t)s;
    ds->n_doc_idx = (int64_t)d;
    ds->off_lens = MMIDIDX_HEADER_BYTES;
    ds->off_ptrs = ds->off_lens + 4 * (size_t)s;
    ds->off_docs = ds->off_ptrs + 8 * (size_t)s;
    /* lengths non-negative, pointers contiguous from 0, the total exactly the .bin */
    int64_t expect = 0;
    for (int64_t i = 0; i < ds->n_seq; i++) {
        int32_t len = indexed_sequence_length(ds, i);
        int64_t ptr = indexed_sequence_pointer(ds, i);
        if (len < 0) {
            err_set(err, "%s: offset %zu: sequence %lld has negative length %d", idx, ds->off_lens + 4 * (size_t)i,
                    (long long)i, len);
            goto fail;
        }
        if (ptr != expect) {
            err_set(err, "%s: offset %zu: sequence %lld starts at byte %lld of the .bin, expected %lld", idx,
                    ds->off_ptrs + 8 * (size_t)i, (long long)i, (long long)ptr, (long long)expect);
            goto fail;
        }
        expect += (int64_t)len * ds->item;
        if ((uint64_t)expect > ds->bin.size) {
            err_set(err, "%s: sequence %lld ends at byte %lld, past the end of %s (%zu bytes; truncated?)", idx,
                    (long long)i, (long long)expect, bin, ds->bin.size);
            goto fail;
        }
    }
    if ((uint64_t)expect != ds->bin.size) {
        err_set(err, "%s: %zu bytes, but %s describes %lld", bin, ds->bin.size, idx, (long long)expect);
        goto fail;
    }
    ds->n_tokens = expect / ds->item;
    int64_t prev = 0;
    for (int64_t k = 0; k < ds->n_doc_idx; k++) {
        int64_t v = indexed_document_index(ds, k);
        if ((k == 0 && v != 0) || v < prev || v > ds->n_seq) {
            err_set(err, "%s: offset %zu: document index entry %lld is %lld (entries must rise from 0 to %lld)", idx,
                    ds->off_docs + 8 * (size_t)k, (long long)k, (long long)v, (long long)ds->n_seq);
            goto fail;
        }
        prev = v;
    }
    if (prev != ds->n_seq) {
        err_set(err, "%s: the document index ends at sequence %lld, not at the last (%lld)", idx, (long long)prev,
                (long long)ds->n_seq);
        goto fail;
    }
    free(idx);
    free(bin);
    return 0;
fail:
    free(idx);
    free(bin);
    indexed_close(ds);
    return -1;
}

void indexed_read(const indexed_dataset_t *ds, int64_t seq, int64_t offset, int64_t count, int32_t *out) {
    const uint8_t *p = ds->bin.data + indexed_sequence_pointer(ds, seq) + offset * ds->item;
    for (int64_t i = 0; i < count; i++, p += ds->item) {
        switch (ds->dtype) {
        case MMIDIDX_UINT8: out[i] = p[0]; break;
        case MMIDIDX_INT8: out[i] = (int8_t)p[0]; break;
        case MMIDIDX_UINT16: { uint16_t v; memcpy(&v, p, 2); out[i] = v; break; }
        case MMIDIDX_INT16: { int16_t v; memcpy(&v, p, 2); out[i] = v; break; }
        case MMIDIDX_INT32: { int32_t v; memcpy(&v, p, 4); out[i] = v; break; }
        default: { /* int64: a value outside int32 reads as -1, which no vocabulary holds */
            int64_t v;
            memcpy(&v, p, 8);
            out[i] = v < INT32_MIN || v > INT32_MAX ? -1 : (int32_t)v;
        }
        }
    }
}
