/* buffers.h — growable arrays shared by the tokenizers and the preprocessor:
 * token ids (int32) and bytes. Push functions return 0, or -1 when memory runs
 * out (the caller names what it was doing). Free with free(buf.v). */
#ifndef MEGAC_BUFFERS_H
#define MEGAC_BUFFERS_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct tok_buf {
    int32_t *v;
    size_t n, cap;
} tok_buf_t;

typedef struct byte_buf {
    uint8_t *v;
    size_t n, cap;
} byte_buf_t;

/* Grows *v (elements of `size` bytes, capacity *cap) to hold at least `need`. */
static inline int buf_reserve(void **v, size_t *cap, size_t need, size_t size) {
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need) {
        if (c > SIZE_MAX / 2 / size) return -1;
        c *= 2;
    }
    void *p = realloc(*v, c * size);
    if (!p) return -1;
    *v = p;
    *cap = c;
    return 0;
}

static inline int tok_buf_push(tok_buf_t *b, int32_t x) {
    if (b->n == b->cap && buf_reserve((void **)&b->v, &b->cap, b->n + 1, sizeof *b->v) != 0) return -1;
    b->v[b->n++] = x;
    return 0;
}

static inline int tok_buf_append(tok_buf_t *b, const int32_t *x, size_t n) {
    if (buf_reserve((void **)&b->v, &b->cap, b->n + n, sizeof *b->v) != 0) return -1;
    if (n) memcpy(b->v + b->n, x, n * sizeof *x);
    b->n += n;
    return 0;
}

static inline int byte_buf_append(byte_buf_t *b, const void *x, size_t n) {
    if (buf_reserve((void **)&b->v, &b->cap, b->n + n, 1) != 0) return -1;
    if (n) memcpy(b->v + b->n, x, n);
    b->n += n;
    return 0;
}

#endif
