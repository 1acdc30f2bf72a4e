/* test_lamb.c — LAMB (NVLAMB, as NVIDIA's BERT record) on a few tensors against a
 * float64 reference written from the published algorithm (You et al. 2020,
 * Algorithm 2, with bias correction and decoupled weight decay excluded from
 * biases), with and without the ZeRO-1 path, on one rank. */
#include <mpi.h>
#include <string.h>

#include "framework/backend.h"
#include "parallel/dist_optim.h"
#include "parallel/grid.h"
#include "testing.h"

enum { NT = 3, STEPS = 4 };
static const int64_t shapes[NT][2] = {{5, 7}, {7, 1}, {4, 3}};

static void run(int zero1) {
    err_t err;
    grid_t g;
    CHECK(grid_create_self(&g, backend_cpu(), &err) == 0, "grid: %s", err.msg);
    tensor_t params[NT], grads[NT];
    size_t total = 0;
    for (int k = 0; k < NT; k++) total += (size_t)(shapes[k][0] * shapes[k][1]);
    float *pb = calloc(total, sizeof(float)), *gb = calloc(total, sizeof(float));
    double *w = malloc(sizeof(double) * total), *m = calloc(total, sizeof(double)), *v = calloc(total, sizeof(double));
    size_t off = 0;
    for (int k = 0; k < NT; k++) {
        int64_t sh[2] = {shapes[k][0], shapes[k][1]};
        tensor_describe(&params[k], k == 1 ? "bias" : "weight", DTYPE_F32, 2, sh);
        params[k].flags = k == 1 ? TENSOR_NO_WEIGHT_DECAY : 0;
        params[k].data = pb + off;
        grads[k] = params[k];
        grads[k].data = gb + off;
        off += (size_t)(sh[0] * sh[1]);
    }
    fill_normal(pb, total, 0.5f, 91);
    for (size_t i = 35 + 7; i < total; i++) pb[i] = 0.0f; /* a zero tensor: trust ratio 1 */
    for (size_t i = 0; i < total; i++) w[i] = pb[i];
    adamw_config_t cfg = {0.9f, 0.999f, 1e-6f, 0.01f, OPTIM_LAMB};
    dist_optim_t d;
    CHECK(dist_optim_create(&d, backend_cpu(), &g, &cfg, params, grads, NT, pb, gb, total, total, zero1, 0, &err) == 0,
          "create: %s", err.msg);
    float lr = 0.05f, scale = 0.7f;
    for (int s = 1; s <= STEPS; s++) {
        fill_normal(gb, total, 1.0f, 100 + (uint32_t)s);
        double gnorm;
        float *gcopy = malloc(sizeof(float) * total);
        memcpy(gcopy, gb, sizeof(float) * total);
        CHECK(dist_optim_finish(&d, &gnorm, &err) == 0 && dist_optim_step(&d, lr, scale, &err) == 0, "step: %s", err.msg);
        /* the reference */
        double b1 = 0.9, b2 = 0.999, bc1 = 1 - pow(b1, s), bc2 = 1 - pow(b2, s);
        size_t o = 0;
        for (int k = 0; k < NT; k++) {
            size_t n = (size_t)(shapes[k][0] * shapes[k][1]);
            double wd = k == 1 ? 0.0 : 0.01, wn = 0, un = 0;
            double *u = malloc(sizeof(double) * n);
            for (size_t i = 0; i < n; i++) {
                double gi = (double)gcopy[o + i] * (double)scale;
                m[o + i] = b1 * m[o + i] + (1 - b1) * gi;
                v[o + i] = b2 * v[o + i] + (1 - b2) * gi * gi;
                u[i] = (m[o + i] / bc1) / (sqrt(v[o + i] / bc2) + 1e-6) + wd * w[o + i];
                wn += w[o + i] * w[o + i], un += u[i] * u[i];
            }
            double trust = wn > 0 && un > 0 ? sqrt(wn) / sqrt(un) : 1.0;
            for (size_t i = 0; i < n; i++) w[o + i] -= lr * trust * u[i];
            free(u);
            o += n;
        }
        free(gcopy);
    }
    double e = rel_err_fd(pb, w, total);
    CHECK(e < 1e-5, "LAMB%s after %d steps: rel err %g vs float64 reference", zero1 ? " (ZeRO-1)" : "", STEPS, e);
    printf("LAMB%s: %d steps on 3 tensors (one without decay, one all-zero): rel err %.3g vs float64\n",
           zero1 ? " (ZeRO-1 path)" : "", STEPS, e);
    dist_optim_destroy(&d);
    grid_destroy(&g);
    free(pb), free(gb), free(w), free(m), free(v);
}

int main(int argc, char **argv) {
    err_t err;
    if (parallel_init(&argc, &argv, &err) != 0) return 1;
    run(0);
    run(1);
    parallel_finalize();
    return test_exit("test_lamb");
}
