/* error.c — err_set / err_prefix (see error.h). */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int err_set(err_t *err, const char *fmt, ...) {
    if (!err) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return -1;
}

int err_prefix(err_t *err, const char *fmt, ...) {
    if (!err) return -1;
    char head[256], old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    size_t hl = strlen(head), ol = strlen(old), cap = sizeof err->msg - 1;
    if (hl > cap) hl = cap;
    memcpy(err->msg, head, hl);
    size_t pos = hl;
    if (pos + 2 <= cap) {
        memcpy(err->msg + pos, ": ", 2);
        pos += 2;
    }
    if (ol > cap - pos) ol = cap - pos;
    memcpy(err->msg + pos, old, ol);
    err->msg[pos + ol] = 0;
    return -1;
}
