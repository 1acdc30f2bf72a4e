/* weights_file.c — the interim weight file (see weights_file.h). */
#define _POSIX_C_SOURCE 200809L
#include "weights_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char MAGIC[8] = {'M', 'E', 'G', 'A', 'C', 'W', 'T', '1'};

static uint32_t crc_table[256];

static void crc_init(void) {
    if (crc_table[1]) return;
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

uint32_t crc32_update(uint32_t crc, const void *data, size_t n) {
    crc_init();
    const uint8_t *p = data;
    crc = ~crc;
    for (size_t i = 0; i < n; i++) crc = crc_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

typedef struct writer {
    FILE *f;
    uint32_t crc;
    int bad;
} writer_t;

static void put(writer_t *w, const void *p, size_t n) {
    if (w->bad) return;
    if (fwrite(p, 1, n, w->f) != n) w->bad = 1;
    w->crc = crc32_update(w->crc, p, n);
}

int wfile_save(const char *path, const char *config_text, backend_t *be, const tensor_t *tensors,
               int ntensors, err_t *err) {
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return err_set(err, "--save %s: path too long", path);
    writer_t w = {fopen(tmp, "wb"), 0, 0};
    if (!w.f) return err_set(err, "--save %s: %s", tmp, strerror(errno));
    put(&w, MAGIC, 8);
    uint64_t clen = strlen(config_text);
    put(&w, &clen, 8);
    put(&w, config_text, clen);
    uint32_t nt = (uint32_t)ntensors;
    put(&w, &nt, 4);
    float *buf = NULL;
    size_t bufcap = 0;
    for (int i = 0; i < ntensors && !w.bad; i++) {
        const tensor_t *t = &tensors[i];
        uint16_t nl = (uint16_t)strlen(t->name);
        uint32_t nd = (uint32_t)t->ndim;
        put(&w, &nl, 2);
        put(&w, t->name, nl);
        put(&w, &nd, 4);
        put(&w, t->shape, 8 * nd);
        size_t bytes = tensor_nbytes(t);
        if (bytes > bufcap) {
            free(buf);
            buf = malloc(bytes);
            bufcap = buf ? bytes : 0;
            if (!buf) {
                w.bad = 2;
                break;
            }
        }
        be->copy_to_host(be, buf, t->data, bytes);
        put(&w, buf, bytes);
    }
    free(buf);
    uint32_t crc = w.crc;
    put(&w, &crc, 4);
    int fail = w.bad || fflush(w.f) != 0 || fsync(fileno(w.f)) != 0;
    if (fclose(w.f) != 0) fail = 1;
    if (fail) {
        unlink(tmp);
        return err_set(err, "--save %s: write failed (%s)", tmp, w.bad == 2 ? "out of memory" : strerror(errno));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return err_set(err, "--save %s: rename failed: %s", path, strerror(e));
    }
    /* make the rename durable */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0; else snprintf(dir, sizeof dir, ".");
    int dfd = open(dir, O_RDONLY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

/* The whole file in memory, CRC-checked; the format is only used for models
 * small enough to train on the CPU reference. */
typedef struct blob {
    uint8_t *data;
    size_t size, pos;
    const char *path;
} blob_t;

static int blob_read(blob_t *b, const char *path, err_t *err) {
    memset(b, 0, sizeof *b);
    b->path = path;
    FILE *f = fopen(path, "rb");
    if (!f) return err_set(err, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return err_set(err, "%s: not a regular file", path);
    }
    b->size = (size_t)st.st_size;
    if (b->size < 8 + 8 + 4 + 4) {
        fclose(f);
        return err_set(err, "%s: too short (%zu bytes) to be a megac weight file", path, b->size);
    }
    b->data = malloc(b->size);
    if (!b->data || fread(b->data, 1, b->size, f) != b->size) {
        fclose(f);
        free(b->data);
        return err_set(err, "%s: cannot read %zu bytes", path, b->size);
    }
    fclose(f);
    if (memcmp(b->data, MAGIC, 8) != 0) {
        free(b->data);
        return err_set(err, "%s: not a megac weight file (bad magic)", path);
    }
    uint32_t stored;
    memcpy(&stored, b->data + b->size - 4, 4);
    if (crc32_update(0, b->data, b->size - 4) != stored) {
        free(b->data);
        return err_set(err, "%s: checksum mismatch (file truncated or corrupted)", path);
    }
    b->size -= 4;
    b->pos = 8;
    return 0;
}

static int take(blob_t *b, void *dst, size_t n, const char *what, err_t *err) {
    if (n > b->size - b->pos)
        return err_set(err, "%s: %s at offset %zu runs past the end of the file", b->path, what, b->pos);
    if (dst) memcpy(dst, b->data + b->pos, n);
    b->pos += n;
    return 0;
}

static int read_config(blob_t *b, char **text, err_t *err) {
    uint64_t clen = 0;
    if (take(b, &clen, 8, "config length", err) != 0) return -1;
    if (clen > b->size - b->pos) return err_set(err, "%s: config length %llu exceeds the file", b->path, (unsigned long long)clen);
    *text = malloc(clen + 1);
    if (!*text) return err_set(err, "%s: out of memory", b->path);
    memcpy(*text, b->data + b->pos, clen);
    (*text)[clen] = 0;
    b->pos += clen;
    return 0;
}

int wfile_read_config(const char *path, char **config_text, err_t *err) {
    blob_t b;
    if (blob_read(&b, path, err) != 0) return -1;
    int rc = read_config(&b, config_text, err);
    free(b.data);
    return rc;
}

int wfile_load(const char *path, backend_t *be, tensor_t *tensors, int ntensors, err_t *err) {
    blob_t b;
    if (blob_read(&b, path, err) != 0) return -1;
    char *cfg = NULL;
    int rc = -1;
    uint32_t nt = 0;
    if (read_config(&b, &cfg, err) != 0 || take(&b, &nt, 4, "tensor count", err) != 0) goto out;
    if ((int)nt != ntensors) {
        err_set(err, "%s: holds %u tensors, the model has %d", path, nt, ntensors);
        goto out;
    }
    for (uint32_t i = 0; i < nt; i++) {
        uint16_t nl = 0;
        char name[TENSOR_NAME_LEN];
        uint32_t nd = 0;
        int64_t dims[TENSOR_MAX_DIMS];
        if (take(&b, &nl, 2, "name length", err) != 0) goto out;
        if (nl >= TENSOR_NAME_LEN) {
            err_set(err, "%s: tensor %u has a name of %u bytes (max %d)", path, i, nl, TENSOR_NAME_LEN - 1);
            goto out;
        }
        if (take(&b, name, nl, "tensor name", err) != 0) goto out;
        name[nl] = 0;
        if (take(&b, &nd, 4, "ndim", err) != 0) goto out;
        if (nd == 0 || nd > TENSOR_MAX_DIMS) {
            err_set(err, "%s: tensor %s has %u dimensions", path, name, nd);
            goto out;
        }
        if (take(&b, dims, 8 * nd, "shape", err) != 0) goto out;
        tensor_t *t = NULL;
        for (int k = 0; k < ntensors; k++)
            if (strcmp(tensors[k].name, name) == 0) t = &tensors[k];
        if (!t) {
            err_set(err, "%s: tensor %s is not part of this model", path, name);
            goto out;
        }
        int same = (int)nd == t->ndim;
        for (uint32_t d = 0; same && d < nd; d++) same = dims[d] == t->shape[d];
        if (!same) {
            err_set(err, "%s: tensor %s has another shape than the model's", path, name);
            goto out;
        }
        size_t bytes = tensor_nbytes(t);
        if (bytes > b.size - b.pos) {
            err_set(err, "%s: data of %s runs past the end of the file", path, name);
            goto out;
        }
        be->copy_to_device(be, t->data, b.data + b.pos, bytes);
        b.pos += bytes;
    }
    if (b.pos != b.size) {
        err_set(err, "%s: %zu unexpected bytes after the last tensor", path, b.size - b.pos);
        goto out;
    }
    rc = 0;
out:
    free(cfg);
    free(b.data);
    return rc;
}
