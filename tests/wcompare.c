/* wcompare.c — compares two megac checkpoints tensor by tensor, whatever layouts
 * wrote them (each tensor is assembled in global coordinates):
 *   wcompare A B TOL [--optimizer]
 * A and B are checkpoint directories (their latest iteration) or iteration
 * directories. Exit 0 when both hold the same tensors and every tensor's relative
 * error is within TOL; TOL 0 demands bitwise equality. --optimizer compares the
 * Adam moments and the step as well. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoints/checkpoint.h"
#include "testing.h"

static int open_ckpt(const char *path, int optim, ckpt_reader_t *r, err_t *err) {
    char dir[CKPT_PATH_MAX];
    if (ckpt_locate(path, dir, sizeof dir, err) != 1) return -1;
    return ckpt_open(r, dir, optim, err);
}

int main(int argc, char **argv) {
    if (argc < 4 || argc > 5 || (argc == 5 && strcmp(argv[4], "--optimizer") != 0)) {
        fprintf(stderr, "usage: wcompare A B TOL [--optimizer]\n");
        return 2;
    }
    int optim = argc == 5;
    double tol = atof(argv[3]), worst = 0;
    ckpt_reader_t a, b;
    err_t err = {{0}};
    if (open_ckpt(argv[1], optim, &a, &err) != 0) {
        fprintf(stderr, "wcompare: %s\n", err.msg);
        return 2;
    }
    if (open_ckpt(argv[2], optim, &b, &err) != 0) {
        fprintf(stderr, "wcompare: %s\n", err.msg);
        ckpt_close(&a);
        return 2;
    }
    int rc = 0, compared = 0;
    if (a.nentries != b.nentries) {
        fprintf(stderr, "wcompare: %d tensors against %d\n", a.nentries, b.nentries);
        rc = 1;
    }
    if (optim && a.meta.optimizer_step != b.meta.optimizer_step) {
        fprintf(stderr, "wcompare: optimizer step %lld against %lld\n", (long long)a.meta.optimizer_step,
                (long long)b.meta.optimizer_step);
        rc = 1;
    }
    float *x = NULL, *y = NULL;
    for (int i = 0; i < a.nentries && rc != 2; i++) {
        const ckpt_entry_t *ea = &a.entries[i], *eb = ckpt_find(&b, ea->kind, ea->name);
        if (!eb || eb->ndim != ea->ndim || memcmp(eb->shape, ea->shape, sizeof ea->shape) != 0) {
            fprintf(stderr, "%s/%s: missing or of another shape in %s\n", ckpt_kind_group(ea->kind), ea->name, argv[2]);
            rc = 1;
            continue;
        }
        ckpt_box_t box = {.ndim = ea->ndim};
        for (int d = 0; d < ea->ndim; d++) box.off[d] = 0, box.cnt[d] = ea->shape[d];
        size_t n = (size_t)ckpt_box_volume(&box);
        float *nx = realloc(x, n * sizeof(float)), *ny = nx ? realloc(y, n * sizeof(float)) : NULL;
        if (nx) x = nx;
        if (ny) y = ny;
        if (!nx || !ny) {
            fprintf(stderr, "wcompare: out of memory\n");
            rc = 2;
            break;
        }
        if (ckpt_read(&a, ea, &box, x, &err) != 0 || ckpt_read(&b, eb, &box, y, &err) != 0) {
            fprintf(stderr, "wcompare: %s\n", err.msg);
            rc = 2;
            break;
        }
        double e = tol == 0.0 ? (memcmp(x, y, n * sizeof(float)) == 0 ? 0.0 : 1.0) : rel_err_ff(x, y, n);
        if (!(e <= tol)) {
            fprintf(stderr, "%s/%s: %s %g > %g\n", ckpt_kind_group(ea->kind), ea->name,
                    tol == 0.0 ? "not bitwise equal:" : "rel err", e, tol);
            rc = rc ? rc : 1;
        }
        if (e > worst) worst = e;
        compared++;
    }
    if (rc != 2)
        printf("wcompare: %d tensors, worst rel err %.3g (tolerance %g%s)\n", compared, worst, tol,
               tol == 0.0 ? ": bitwise" : "");
    free(x), free(y);
    ckpt_close(&a), ckpt_close(&b);
    return rc;
}
