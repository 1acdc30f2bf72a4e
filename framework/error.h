/* error.h — the status-and-message convention used by every fallible function.
 *
 * A function that can fail returns 0 on success and -1 on failure, and fills an
 * err_t with one line naming the file/flag/rank and the problem. Only `main`
 * prints it. Libraries never call exit(). */
#ifndef MEGAC_ERROR_H
#define MEGAC_ERROR_H

#include <stddef.h>

typedef struct err {
    char msg[512];
} err_t;

/* Formats msg into err (if err is non-NULL) and returns -1, so callers can
 * write `return err_set(err, "...", ...);`. */
int err_set(err_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prepends "prefix: " to an existing message (e.g. the rank or the op). */
int err_prefix(err_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
