/* args.c — flag parsing with full validation of numbers (see args.h). */
#include "args.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int parse_value(arg_spec_t *s, const char *v, err_t *err) {
    char *end;
    errno = 0;
    switch (s->kind) {
    case ARG_INT: {
        long x = strtol(v, &end, 10);
        if (end == v || *end || errno || x < INT_MIN || x > INT_MAX)
            return err_set(err, "--%s: '%s' is not an integer", s->name, v);
        *(int *)s->dst = (int)x;
        break;
    }
    case ARG_I64: {
        long long x = strtoll(v, &end, 10);
        if (end == v || *end || errno) return err_set(err, "--%s: '%s' is not an integer", s->name, v);
        *(long long *)s->dst = x;
        break;
    }
    case ARG_FLOAT: {
        double x = strtod(v, &end);
        if (end == v || *end || errno || !isfinite(x))
            return err_set(err, "--%s: '%s' is not a number", s->name, v);
        *(float *)s->dst = (float)x;
        break;
    }
    case ARG_STR:
        *(const char **)s->dst = v;
        break;
    case ARG_FLAG:
    case ARG_STRS:
        break;
    }
    return 0;
}

int args_parse(arg_spec_t *spec, int n, int argc, char **argv, const char *cmd, int *want_help,
               err_t *err) {
    *want_help = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            *want_help = 1;
            continue;
        }
        if (strncmp(a, "--", 2) != 0)
            return err_set(err, "unexpected argument '%s' (flags start with --; see %s --help)", a, cmd);
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        arg_spec_t *s = NULL;
        for (int k = 0; k < n; k++)
            if (strlen(spec[k].name) == len && strncmp(spec[k].name, name, len) == 0) s = &spec[k];
        if (!s) return err_set(err, "unknown flag '--%.*s' (see %s --help)", (int)len, name, cmd);
        s->seen = 1;
        if (s->kind == ARG_STRS && eq) {
            *(const char **)s->dst = eq + 1;
            continue;
        }
        if (s->kind == ARG_FLAG) {
            if (eq) return err_set(err, "--%s takes no value", s->name);
            *(int *)s->dst = 1;
            continue;
        }
        if (s->kind == ARG_STRS && !eq) {
            /* words up to the next flag, joined into static storage (no heap to free) */
            static char pool[16384];
            static size_t used;
            size_t len = 0;
            int j = i + 1;
            for (; j < argc && strncmp(argv[j], "--", 2) != 0; j++) len += strlen(argv[j]) + 1;
            if (j == i + 1) return err_set(err, "--%s needs a value", s->name);
            if (len > sizeof pool - used) return err_set(err, "--%s: %zu characters of values is too long", s->name, len);
            char *joined = pool + used;
            used += len;
            joined[0] = 0;
            for (int k = i + 1; k < j; k++) {
                if (k > i + 1) strcat(joined, " ");
                strcat(joined, argv[k]);
            }
            *(const char **)s->dst = joined;
            i = j - 1;
            continue;
        }
        const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!v) return err_set(err, "--%s needs a value", s->name);
        if (parse_value(s, v, err) != 0) return -1;
    }
    return 0;
}

int args_seen(const arg_spec_t *spec, int n, const char *name) {
    for (int k = 0; k < n; k++)
        if (strcmp(spec[k].name, name) == 0) return spec[k].seen;
    return 0;
}

void args_print_help(FILE *f, const char *usage, const arg_spec_t *spec, int n) {
    fprintf(f, "usage: %s\n\n", usage);
    for (int k = 0; k < n; k++) {
        const char *meta = spec[k].kind == ARG_FLAG ? "" : spec[k].kind == ARG_STRS ? " S..." : spec[k].kind == ARG_STR ? " S"
                           : spec[k].kind == ARG_FLOAT ? " X" : " N";
        char left[64];
        snprintf(left, sizeof left, "--%s%s", spec[k].name, meta);
        fprintf(f, "  %-34s %s\n", left, spec[k].help);
    }
}

void args_copy_seen(const arg_spec_t *spec, int n, const void *src, size_t src_size, void *dst) {
    const char *base = src;
    for (int k = 0; k < n; k++) {
        const char *at = spec[k].dst;
        if (!spec[k].seen || at < base || at >= base + src_size) continue;
        memcpy((char *)dst + (at - base), at, spec[k].kind == ARG_INT ? sizeof(int) : sizeof(float));
    }
}
