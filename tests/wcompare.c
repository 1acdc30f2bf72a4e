/* wcompare.c — compares two megac weight files tensor by tensor:
 *   wcompare A B TOL   exit 0 when every tensor's relative error is within TOL.
 * Both files hold global (gathered) tensors, whatever layout wrote them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoints/weights_file.h"
#include "models/gpt.h"
#include "testing.h"

static int load(const char *path, gpt_model_t *m, err_t *err) {
    char *text = NULL;
    gpt_config_t cfg;
    if (wfile_read_config(path, &text, err) != 0 || gpt_config_from_text(&cfg, text, err) != 0) {
        free(text);
        return -1;
    }
    free(text);
    if (gpt_create(m, &cfg, backend_cpu(), 1, 1, NULL, err) != 0) return -1;
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: wcompare A B TOL\n");
        return 2;
    }
    double tol = atof(argv[3]), worst = 0;
    gpt_model_t a, b;
    err_t err;
    if (load(argv[1], &a, &err) != 0 || load(argv[2], &b, &err) != 0) {
        fprintf(stderr, "wcompare: %s\n", err.msg);
        return 2;
    }
    if (a.num_params != b.num_params || wfile_load(argv[1], backend_cpu(), a.params, a.num_params, &err) != 0 ||
        wfile_load(argv[2], backend_cpu(), b.params, b.num_params, &err) != 0) {
        fprintf(stderr, "wcompare: %s\n", a.num_params != b.num_params ? "different models" : err.msg);
        return 2;
    }
    int rc = 0;
    for (int k = 0; k < a.num_params; k++) {
        double e = rel_err_ff(a.params[k].data, b.params[k].data, (size_t)tensor_numel(&a.params[k]));
        if (!(e <= tol)) {
            fprintf(stderr, "%s: rel err %g > %g\n", a.params[k].name, e, tol);
            rc = 1;
        }
        if (e > worst) worst = e;
    }
    printf("wcompare: worst tensor rel err %.3g (tolerance %g)\n", worst, tol);
    gpt_destroy(&a), gpt_destroy(&b);
    return rc;
}
