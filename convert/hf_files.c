/* hf_files.c — Hugging Face model files (see hf_files.h). */
#include "hf_files.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int hf_paths(const char *in, char *st_path, size_t st_len, char *json_path, size_t json_len, err_t *err) {
    struct stat sb;
    if (stat(in, &sb) != 0) return err_set(err, "%s: %s", in, strerror(errno));
    int n1, n2;
    if (S_ISDIR(sb.st_mode)) {
        n1 = snprintf(st_path, st_len, "%s/model.safetensors", in);
        n2 = snprintf(json_path, json_len, "%s/config.json", in);
    } else {
        n1 = snprintf(st_path, st_len, "%s", in);
        const char *slash = strrchr(in, '/');
        if (slash) n2 = snprintf(json_path, json_len, "%.*s/config.json", (int)(slash - in), in);
        else n2 = snprintf(json_path, json_len, "config.json");
    }
    if (n1 < 0 || (size_t)n1 >= st_len || n2 < 0 || (size_t)n2 >= json_len) return err_set(err, "%s: path too long", in);
    return 0;
}

int hf_read_json(const char *path, cJSON **out, err_t *err) {
    *out = NULL;
    /* non-blocking, so a FIFO does not block the open; only a regular file is read */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? 0 : err_set(err, "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return err_set(err, "%s: not a regular file", path);
    }
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        close(fd);
        return err_set(err, "%s: %s", path, strerror(errno));
    }
    char *buf = malloc(1 << 20);
    size_t n = buf ? fread(buf, 1, 1 << 20, f) : 0;
    int more = fgetc(f) != EOF;
    fclose(f);
    if (!buf) return err_set(err, "out of memory");
    if (more) {
        free(buf);
        return err_set(err, "%s: larger than 1 MB", path);
    }
    *out = cJSON_ParseWithLength(buf, n);
    free(buf);
    if (!*out || !cJSON_IsObject(*out)) {
        cJSON_Delete(*out);
        *out = NULL;
        return err_set(err, "%s: not a JSON object", path);
    }
    return 0;
}

int hf_json_num(const cJSON *cfg, const char *key, double *v, const char *path, err_t *err) {
    const cJSON *it = cfg ? cJSON_GetObjectItemCaseSensitive(cfg, key) : NULL;
    if (!it || cJSON_IsNull(it)) return 0;
    if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble)) return err_set(err, "%s: %s is not a number", path, key);
    *v = it->valuedouble;
    return 0;
}

int hf_json_int(const cJSON *cfg, const char *key, int lo, int hi, int *v, const char *path, err_t *err) {
    const cJSON *it = cfg ? cJSON_GetObjectItemCaseSensitive(cfg, key) : NULL;
    if (!it || cJSON_IsNull(it)) return 0; /* absent: *v stays */
    double d = *v;
    if (hf_json_num(cfg, key, &d, path, err) != 0) return -1;
    if (d != floor(d) || d < lo || d > hi)
        return err_set(err, "%s: %s = %g is not a whole number in [%d, %d]", path, key, d, lo, hi);
    *v = (int)d;
    return 0;
}



int hf_write_json(const char *path, const cJSON *o, err_t *err) {
    char *text = cJSON_Print(o);
    if (!text) return err_set(err, "out of memory");
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    int bad = !f || fputs(text, f) < 0 || fputc('\n', f) == EOF;
    if (f) bad |= fclose(f) != 0;
    free(text);
    if (bad || rename(tmp, path) != 0) {
        unlink(tmp);
        return err_set(err, "%s: write failed: %s", path, strerror(errno));
    }
    return 0;
}
