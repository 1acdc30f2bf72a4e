/* tensorboard.c — TFRecord event files for TensorBoard (see tensorboard.h). */
#include "tensorboard.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "crc32c.h"

#define TB_MAX_TAG 1000
#define TB_MAX_EVENT (TB_MAX_TAG + 64)

struct tb_writer {
    FILE *f;
    char path[4096];
    int failed; /* a write failed: later calls report it */
};

size_t tb_varint(uint64_t v, uint8_t *out) {
    size_t n = 0;
    while (v >= 0x80) {
        out[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

uint32_t tb_masked_crc32c(const void *data, size_t n) {
    uint32_t c = crc32c(0, data, n);
    return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

static void put_le(uint8_t *out, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++) out[i] = (uint8_t)(v >> (8 * i));
}

/* protobuf wire format: key = field << 3 | type (0 varint, 1 fixed64, 2 bytes, 5 fixed32) */
size_t tb_encode_event(uint8_t *out, size_t cap, double wall_time, int64_t step, const char *file_version,
                       const char *tag, float value) {
    const char *s = tag ? tag : file_version;
    size_t sn = s ? strlen(s) : 0;
    if (sn > TB_MAX_TAG || cap < TB_MAX_EVENT) return 0;
    size_t n = 0;
    uint64_t bits;
    out[n++] = 1 << 3 | 1; /* Event.wall_time: double */
    memcpy(&bits, &wall_time, 8);
    put_le(out + n, bits, 8), n += 8;
    out[n++] = 2 << 3 | 0; /* Event.step: int64 */
    n += tb_varint((uint64_t)step, out + n);
    if (!tag) {
        out[n++] = 3 << 3 | 2; /* Event.file_version: string */
        n += tb_varint(sn, out + n);
        memcpy(out + n, s, sn), n += sn;
        return n;
    }
    /* Summary.Value{tag = 1: string, simple_value = 2: float} */
    uint8_t val[TB_MAX_TAG + 16];
    size_t vn = 0;
    val[vn++] = 1 << 3 | 2;
    vn += tb_varint(sn, val + vn);
    memcpy(val + vn, s, sn), vn += sn;
    val[vn++] = 2 << 3 | 5;
    uint32_t fbits;
    memcpy(&fbits, &value, 4);
    put_le(val + vn, fbits, 4), vn += 4;
    /* Summary{value = 1: repeated Value} */
    uint8_t hdr[12];
    size_t hn = 0;
    hdr[hn++] = 1 << 3 | 2;
    hn += tb_varint(vn, hdr + hn);
    out[n++] = 5 << 3 | 2; /* Event.summary */
    n += tb_varint(hn + vn, out + n);
    memcpy(out + n, hdr, hn), n += hn;
    memcpy(out + n, val, vn), n += vn;
    return n;
}

static int write_record(tb_writer_t *w, const uint8_t *data, size_t n, err_t *err) {
    if (w->failed) return err_set(err, "--tensorboard-dir: %s: an earlier write failed", w->path);
    uint8_t head[12], tail[4];
    put_le(head, n, 8);
    put_le(head + 8, tb_masked_crc32c(head, 8), 4);
    put_le(tail, tb_masked_crc32c(data, n), 4);
    if (fwrite(head, 1, 12, w->f) != 12 || fwrite(data, 1, n, w->f) != n || fwrite(tail, 1, 4, w->f) != 4) {
        w->failed = 1;
        return err_set(err, "--tensorboard-dir: %s: %s", w->path, strerror(errno));
    }
    return 0;
}

static double wall_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* mkdir -p */
static int make_dirs(const char *dir, err_t *err) {
    char p[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof p) return err_set(err, "--tensorboard-dir: '%s': empty or too long", dir);
    memcpy(p, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != '\0') continue;
        char c = p[i];
        p[i] = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST)
            return err_set(err, "--tensorboard-dir: cannot create %s: %s", p, strerror(errno));
        p[i] = c;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return err_set(err, "--tensorboard-dir: %s is not a directory", dir);
    return 0;
}

int tb_writer_open(tb_writer_t **out, const char *dir, err_t *err) {
    *out = NULL;
    if (make_dirs(dir, err) != 0) return -1;
    tb_writer_t *w = calloc(1, sizeof *w);
    if (!w) return err_set(err, "--tensorboard-dir: out of memory");
    char host[256] = "localhost";
    if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';
    double t = wall_now();
    int pn = snprintf(w->path, sizeof w->path, "%s/events.out.tfevents.%lld.%s.%ld", dir, (long long)t, host,
                      (long)getpid());
    if (pn < 0 || (size_t)pn >= sizeof w->path) {
        free(w);
        return err_set(err, "--tensorboard-dir: '%s': path too long", dir);
    }
    w->f = fopen(w->path, "wbx");
    if (!w->f) {
        err_set(err, "--tensorboard-dir: cannot create %s: %s", w->path, strerror(errno));
        free(w);
        return -1;
    }
    uint8_t ev[TB_MAX_EVENT];
    size_t n = tb_encode_event(ev, sizeof ev, t, 0, "brain.Event:2", NULL, 0.0f);
    if (write_record(w, ev, n, err) != 0 || tb_writer_flush(w, err) != 0) {
        fclose(w->f);
        free(w);
        return -1;
    }
    *out = w;
    return 0;
}

int tb_add_scalar(tb_writer_t *w, const char *tag, int64_t step, double value, err_t *err) {
    uint8_t ev[TB_MAX_EVENT];
    size_t n = tb_encode_event(ev, sizeof ev, wall_now(), step, NULL, tag, (float)value);
    if (n == 0) return err_set(err, "--tensorboard-dir: tag '%.40s...' is too long", tag);
    return write_record(w, ev, n, err);
}

int tb_writer_flush(tb_writer_t *w, err_t *err) {
    if (fflush(w->f) != 0) {
        w->failed = 1;
        return err_set(err, "--tensorboard-dir: %s: %s", w->path, strerror(errno));
    }
    return 0;
}

int tb_writer_close(tb_writer_t *w, err_t *err) {
    if (!w) return 0;
    int rc = 0;
    if (w->failed) rc = err_set(err, "--tensorboard-dir: %s: a write failed", w->path);
    if (fclose(w->f) != 0 && rc == 0) rc = err_set(err, "--tensorboard-dir: %s: %s", w->path, strerror(errno));
    free(w);
    return rc;
}

const char *tb_writer_path(const tb_writer_t *w) { return w->path; }
