/* file_util.h — whole-file reads and checked memory maps used by data/. */
#ifndef MEGAC_FILE_UTIL_H
#define MEGAC_FILE_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "../framework/error.h"

/* Reads all of `path` into a malloc'd buffer with a NUL after the last byte.
 * `what` names the file in messages ("--vocab-file"). */
int file_read_all(const char *path, const char *what, char **data, size_t *len, err_t *err);

/* A read-only mapping of a whole file (an empty file maps to NULL, size 0). */
typedef struct file_map {
    const uint8_t *data;
    size_t size;
} file_map_t;

int file_map_open(file_map_t *m, const char *path, err_t *err);
void file_map_close(file_map_t *m);

/* v with thousands separators ("640,000,000") in buf, for messages; returns buf. */
const char *file_fmt_count(char buf[32], int64_t v);

/* Requests past this many epochs of a split are refused before any index is
 * built (a mistyped --eval-iters or --train-iters, not a training plan). */
#define DATA_MAX_EPOCHS 1000

/* 64-bit FNV-1a, used for hash tables and checksums. */
static inline uint64_t fnv1a64(const void *p, size_t n, uint64_t h) {
    const uint8_t *b = (const uint8_t *)p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}
#define FNV1A64_INIT 0xcbf29ce484222325ULL

#endif
