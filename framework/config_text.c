/* config_text.c — key=value configuration text (see config_text.h). */
#include "config_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int config_to_text(const void *cfg, const config_field_t *fields, int n, const char *model, char *buf, size_t len) {
    size_t off = 0;
    if (model) off += (size_t)snprintf(buf, len, "model=%s\n", model);
    for (int i = 0; i < n; i++) {
        const char *p = (const char *)cfg + fields[i].offset;
        char *at = buf + (off < len ? off : len);
        size_t room = off < len ? len - off : 0;
        if (fields[i].is_float) off += (size_t)snprintf(at, room, "%s=%.9g\n", fields[i].name, (double)*(const float *)p);
        else off += (size_t)snprintf(at, room, "%s=%d\n", fields[i].name, *(const int *)p);
    }
    return off < len ? 0 : -1;
}

int config_each_line(const char *text, int (*fn)(void *ctx, const char *key, const char *val, err_t *err), void *ctx,
                     err_t *err) {
    const char *p = text;
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        char line[160];
        if (len >= sizeof line) return err_set(err, "config line too long");
        memcpy(line, p, len);
        line[len] = 0;
        p += len + (eol ? 1 : 0);
        if (!line[0]) continue;
        char *eq = strchr(line, '=');
        if (!eq) return err_set(err, "config line '%s' has no '='", line);
        *eq = 0;
        if (fn(ctx, line, eq + 1, err) != 0) return -1;
    }
    return 0;
}

typedef struct from_text {
    void *cfg;
    const config_field_t *fields;
    int n;
    const char *model;
} from_text_t;

static int set_field(void *ctx, const char *key, const char *val, err_t *err) {
    from_text_t *t = ctx;
    if (strcmp(key, "model") == 0) {
        if (t->model && strcmp(val, t->model) != 0)
            return err_set(err, "the configuration is of a %s model, not %s", val, t->model);
        return 0;
    }
    int i = 0;
    while (i < t->n && strcmp(t->fields[i].name, key) != 0) i++;
    if (i == t->n) return err_set(err, "unknown config field '%s'", key);
    char *end;
    char *dst = (char *)t->cfg + t->fields[i].offset;
    if (t->fields[i].is_float) {
        double v = strtod(val, &end);
        if (*end || end == val) return err_set(err, "config field %s: bad number '%s'", key, val);
        *(float *)dst = (float)v;
    } else {
        long v = strtol(val, &end, 10);
        if (*end || end == val) return err_set(err, "config field %s: bad integer '%s'", key, val);
        *(int *)dst = (int)v;
    }
    return 0;
}

int config_from_text(void *cfg, const config_field_t *fields, int n, const char *model, const char *text,
                     err_t *err) {
    from_text_t t = {cfg, fields, n, model};
    return config_each_line(text, set_field, &t, err);
}
