/* fd_check.h — what the op tests (test_ops.c, test_llama_ops.c) share for
 * checking against the double-precision reference: float to double copies, the
 * random-weighted loss sum(out * R), and central finite differences. */
#ifndef MEGAC_FD_CHECK_H
#define MEGAC_FD_CHECK_H

#include <stdlib.h>

#define FD_H 1e-5

static inline double *to_d(const float *x, int n) {
    double *d = malloc(sizeof(double) * n);
    for (int i = 0; i < n; i++) d[i] = x[i];
    return d;
}

static inline double dot_d(const double *a, const float *r, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += a[i] * r[i];
    return s;
}

/* central differences of loss() with respect to x[0..n) */
typedef double (*loss_fn)(void *ctx);
static inline void fd_grad(loss_fn f, void *ctx, double *x, int n, double *g) {
    for (int i = 0; i < n; i++) {
        double s = x[i];
        x[i] = s + FD_H;
        double lp = f(ctx);
        x[i] = s - FD_H;
        double lm = f(ctx);
        x[i] = s;
        g[i] = (lp - lm) / (2 * FD_H);
    }
}

#endif
