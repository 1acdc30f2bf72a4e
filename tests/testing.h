/* testing.h — tiny test harness: checks that count failures, relative errors,
 * random fills. Each test program exits 0 (pass), 1 (fail) or 77 (skip). */
#ifndef MEGAC_TESTING_H
#define MEGAC_TESTING_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "framework/rng.h"

static int test_failures = 0;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            test_failures++;                                                                       \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                   \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
        }                                                                                          \
    } while (0)

/* ||a - b|| / ||b||, NaN-propagating (a NaN anywhere gives NaN, which fails any <). */
static inline double rel_err_fd(const float *a, const double *b, size_t n) {
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - b[i];
        num += d * d;
        den += b[i] * b[i];
    }
    if (isnan(num)) return NAN;
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

static inline double rel_err_ff(const float *a, const float *b, size_t n) {
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - b[i];
        num += d * d;
        den += (double)b[i] * b[i];
    }
    if (isnan(num)) return NAN;
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* Fresh normal values (scaled) from a seeded counter RNG; never all zero. */
static inline void fill_normal(float *x, size_t n, float scale, uint32_t stream) {
    rng_key_t k = {20261127, stream, 0};
    for (size_t i = 0; i < n; i++) x[i] = (float)(scale * rng_normal(k, i));
}

static inline int test_exit(const char *name) {
    if (test_failures) {
        fprintf(stderr, "%s: %d check(s) failed\n", name, test_failures);
        return 1;
    }
    printf("%s: all checks passed\n", name);
    return 0;
}

#endif
