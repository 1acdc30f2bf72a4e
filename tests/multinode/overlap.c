/* overlap.c — how much of the bucketed data-parallel gradient reduction hides
 * behind the backward, read from megac's comm counters. Run under mpirun at
 * (TP, DP=world/TP):
 *
 *   overlap TP BUCKET STEPS [LAYERS HIDDEN SEQ MICRO]
 *
 * trains STEPS steps (forward, backward, bucketed DP all-reduce, AdamW) of a GPT
 * (vocabulary 256, dropout off) with buckets of BUCKET elements (0: one bucket
 * holding every gradient, started only when the backward has finished, i.e. the
 * reduction serialised after it), then prints, from world rank 0, one line:
 *
 *   overlap: buckets N dp_elements E backward_s B dp_wait_s W step_s S
 *
 * with E the DP all-reduce elements of one step on this rank and B, W, S the
 * medians over the steps after the first of the backward time, of the DP
 * communicator's wait time (comm_t.wait_seconds: time blocked in dist_optim_finish
 * waiting for buckets started during the backward) and of the whole step, each the
 * maximum over ranks. tests/multinode/test_tcp.sh compares W against the time the
 * same bytes take on a bandwidth-capped link. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/backend.h"
#include "framework/optim.h"
#include "framework/rng.h"
#include "training/trainer.h"
#include "models/gpt.h"
#include "parallel/dist_optim.h"
#include "parallel/grid.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double max_over_world(double x) {
    double y = x;
    MPI_Allreduce(&x, &y, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    return y;
}

int main(int argc, char **argv) {
    err_t err = {{0}};
    if (parallel_init(&argc, &argv, &err) != 0) {
        fprintf(stderr, "overlap: %s\n", err.msg);
        return 1;
    }
    if (argc < 4) {
        fprintf(stderr, "usage: overlap TP BUCKET STEPS [LAYERS HIDDEN SEQ MICRO]\n");
        parallel_finalize();
        return 2;
    }
    int tp = atoi(argv[1]), steps = atoi(argv[3]);
    long long bucket = atoll(argv[2]);
    int layers = argc > 4 ? atoi(argv[4]) : 4, hidden = argc > 5 ? atoi(argv[5]) : 128;
    int T = argc > 6 ? atoi(argv[6]) : 64, B = argc > 7 ? atoi(argv[7]) : 4;
    if (tp < 1 || steps < 2 || bucket < 0 || layers < 1 || hidden < 8 || T < 2 || B < 1) {
        fprintf(stderr, "overlap: bad arguments\n");
        parallel_finalize();
        return 2;
    }
    grid_t g;
    if (grid_create(&g, tp, backend_cpu(), &err) != 0) {
        fprintf(stderr, "overlap: grid: %s\n", err.msg);
        parallel_finalize();
        return 1;
    }
    gpt_config_t cfg;
    gpt_config_defaults(&cfg);
    cfg.num_layers = layers, cfg.hidden_size = hidden, cfg.num_attention_heads = 4;
    cfg.ffn_hidden_size = 4 * hidden, cfg.vocab_size = 256;
    cfg.seq_length = cfg.max_position_embeddings = T;
    cfg.hidden_dropout = cfg.attention_dropout = 0.0f;
    gpt_model_t m;
    gpt_parallel_t par = {g.tp, 1};
    dist_optim_t d;
    adamw_config_t ac = {0.9f, 0.999f, 1e-8f, 0.01f, OPTIM_ADAM};
    int rc = gpt_create(&m, &cfg, backend_cpu(), B, T, &par, &err);
    /* bucket 0: one bucket larger than every gradient together */
    size_t bucket_elems = bucket > 0 ? (size_t)bucket : (size_t)1 << 40;
    if (rc == 0)
        rc = dist_optim_create(&d, m.be, &g, &ac, m.store.params, m.store.grads, m.store.n, m.store.param_block,
                               m.store.grad_block, m.store.numel, m.store.alloc, 0, bucket_elems, &err);
    if (rc != 0) {
        fprintf(stderr, "overlap: rank %d: %s\n", g.world_rank, err.msg);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    gpt_init_weights(&m, 5);
    int *tok = malloc(sizeof(int) * (size_t)B * T), *tgt = malloc(sizeof(int) * (size_t)B * T);
    double *bwd = malloc(sizeof(double) * steps), *wait = malloc(sizeof(double) * steps);
    double *step_s = malloc(sizeof(double) * steps);
    if (!tok || !tgt || !bwd || !wait || !step_s) MPI_Abort(MPI_COMM_WORLD, 1);
    rng_key_t key = {3, (uint32_t)g.dp_rank, 0};
    for (int i = 0; i < B * T; i++) tok[i] = (int)(rng_u32(key, 2 * (uint64_t)i) % 256u);
    for (int i = 0; i < B * T; i++) tgt[i] = (int)(rng_u32(key, 2 * (uint64_t)i + 1) % 256u);
    int64_t elems = 0;
    for (int s = 0; s < steps && rc == 0; s++) {
        double loss, norm;
        MPI_Barrier(MPI_COMM_WORLD);
        comm_reset_counters(g.dp);
        double t0 = trainer_now();
        gpt_zero_grads(&m);
        rc = gpt_forward(&m, tok, tgt, NULL, B, T, 1, (uint32_t)s, &loss, &err);
        dist_optim_arm(&d);
        m.grad_ready = dist_optim_grad_ready, m.grad_ready_ctx = &d;
        double t1 = trainer_now();
        if (rc == 0) rc = gpt_backward(&m, 1.0f / g.dp_size, (uint32_t)s, &err);
        double t2 = trainer_now();
        if (rc == 0) rc = dist_optim_finish(&d, &norm, &err);
        if (rc == 0) rc = dist_optim_step(&d, 1e-4f, optim_clip_factor(norm, 1.0f), &err);
        bwd[s] = t2 - t1, wait[s] = g.dp->wait_seconds, step_s[s] = trainer_now() - t0;
        elems = g.dp->elements[COMM_ALLREDUCE];
    }
    if (rc != 0) {
        fprintf(stderr, "overlap: rank %d: %s\n", g.world_rank, err.msg);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    /* the first step warms up (page faults, connections); medians of the rest */
    double b = max_over_world(median(bwd + 1, steps - 1)), w = max_over_world(median(wait + 1, steps - 1));
    double st = max_over_world(median(step_s + 1, steps - 1));
    if (g.world_rank == 0)
        printf("overlap: buckets %d dp_elements %lld backward_s %.4f dp_wait_s %.4f step_s %.4f\n", d.nbuckets,
               (long long)elems, b, w, st);
    free(tok), free(tgt), free(bwd), free(wait), free(step_s);
    dist_optim_destroy(&d);
    gpt_destroy(&m);
    grid_destroy(&g);
    parallel_finalize();
    return 0;
}
