/* dist_optim.c — bucketed DDP gradient reduction and the ZeRO-1 optimizer
 * (see dist_optim.h). */
#include "dist_optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

size_t dist_optim_default_bucket(int dp_size) {
    size_t b = 1000000u * (size_t)dp_size;
    return b > 40000000u ? b : 40000000u;
}

static int build_buckets(dist_optim_t *d, size_t bucket_elems, err_t *err) {
    d->buckets = calloc((size_t)d->ntensors, sizeof(dp_bucket_t));
    if (!d->buckets) return err_set(err, "out of memory for gradient buckets");
    int n = 0;
    int last = d->ntensors - 1;
    size_t count = 0;
    for (int k = d->ntensors - 1; k >= 0; k--) {
        count += (size_t)tensor_numel(&d->grads[k]);
        if (count >= bucket_elems || k == 0) {
            dp_bucket_t *b = &d->buckets[n++];
            b->first = k, b->last = last;
            b->begin = d->offset[k];
            b->end = d->offset[last] + (size_t)tensor_numel(&d->grads[last]);
            last = k - 1;
            count = 0;
        }
    }
    d->nbuckets = n;
    return 0;
}

/* the weight-decay runs of [ulo, uhi), relative to ulo, merged where adjacent
 * tensors share a decay; copied to backend memory */
static int build_segments(dist_optim_t *d, err_t *err) {
    d->ulo = d->zero1 ? (d->lo < d->numel ? d->lo : d->numel) : 0;
    d->uhi = d->zero1 ? (d->hi < d->numel ? d->hi : d->numel) : d->numel;
    optim_segment_t *h = calloc((size_t)d->ntensors + 1, sizeof *h);
    if (!h) return err_set(err, "out of memory for the optimizer segments");
    int n = 0;
    for (int k = 0; k < d->ntensors; k++) {
        size_t off = d->offset[k], len = (size_t)tensor_numel(&d->params[k]);
        size_t a = off > d->ulo ? off : d->ulo, b = off + len < d->uhi ? off + len : d->uhi;
        if (a >= b) continue;
        float wd = (d->params[k].flags & TENSOR_NO_WEIGHT_DECAY) ? 0.0f : d->cfg.weight_decay;
        if (n > 0 && h[n - 1].end == a - d->ulo && h[n - 1].weight_decay == wd) {
            h[n - 1].end = b - d->ulo;
        } else {
            h[n++] = (optim_segment_t){a - d->ulo, b - d->ulo, wd, 0.0f};
        }
    }
    d->nsegs = n;
    int rc = 0;
    if (d->be->alloc(d->be, (void **)&d->segs, (size_t)(n > 0 ? n : 1) * sizeof *h, err) != 0)
        rc = err_prefix(err, "optimizer segments");
    else
        d->be->copy_to_device(d->be, d->segs, h, (size_t)n * sizeof *h);
    free(h);
    return rc;
}

int dist_optim_create(dist_optim_t *d, backend_t *be, grid_t *grid, const adamw_config_t *cfg,
                      tensor_t *params, tensor_t *grads, int ntensors, float *param_block,
                      float *grad_block, size_t numel, size_t alloc, int zero1, size_t bucket_elems,
                      err_t *err) {
    memset(d, 0, sizeof *d);
    d->be = be, d->grid = grid, d->cfg = *cfg;
    d->params = params, d->grads = grads, d->ntensors = ntensors;
    d->param_block = param_block, d->grad_block = grad_block;
    d->numel = numel, d->alloc = alloc, d->zero1 = zero1;
    d->offset = calloc((size_t)ntensors, sizeof(size_t));
    d->ready = calloc((size_t)ntensors, 1);
    if (!d->offset || !d->ready) return err_set(err, "out of memory for the optimizer tables");
    for (int k = 0; k < ntensors; k++) d->offset[k] = (size_t)((float *)params[k].data - param_block);
    int dp = grid->dp_size;
    if (!zero1) {
        if (dp > 1 && build_buckets(d, bucket_elems > 0 ? bucket_elems : dist_optim_default_bucket(dp), err) != 0)
            return -1;
        if (build_segments(d, err) != 0) return -1;
        return optim_create(&d->local, be, cfg, params, grads, ntensors, err);
    }
    if (alloc % (size_t)dp != 0)
        return err_set(err, "internal: parameter block %zu not padded to a multiple of DP %d", alloc, dp);
    d->shard = alloc / (size_t)dp;
    d->lo = d->shard * (size_t)grid->dp_rank;
    d->hi = d->lo + d->shard;
    if (build_segments(d, err) != 0) return -1;
    if (be->alloc(be, (void **)&d->shard_grad, d->shard * sizeof(float), err) != 0 ||
        be->alloc(be, (void **)&d->m, d->shard * sizeof(float), err) != 0 ||
        be->alloc(be, (void **)&d->v, d->shard * sizeof(float), err) != 0)
        return err_prefix(err, "distributed optimizer state (%zu floats)", 3 * d->shard);
    be->memset_zero(be, d->m, d->shard * sizeof(float));
    be->memset_zero(be, d->v, d->shard * sizeof(float));
    return 0;
}

void dist_optim_destroy(dist_optim_t *d) {
    if (d->be) {
        if (d->shard_grad) d->be->free(d->be, d->shard_grad);
        if (d->m) d->be->free(d->be, d->m);
        if (d->v) d->be->free(d->be, d->v);
        if (d->master) d->be->free(d->be, d->master);
        if (d->segs) d->be->free(d->be, d->segs);
    }
    if (d->local.be) optim_destroy(&d->local);
    free(d->offset), free(d->ready), free(d->buckets);
    memset(d, 0, sizeof *d);
}

int dist_optim_set_precision(dist_optim_t *d, dtype_t weights, dtype_t grads, err_t *err) {
    d->weight_dtype = weights, d->grad_dtype = grads;
    if (weights == DTYPE_F32 || d->master) {
        if (d->master) dist_optim_sync_master(d);
        return 0;
    }
    d->mlo = d->zero1 ? (d->lo < d->numel ? d->lo : d->numel) : 0;
    d->mhi = d->zero1 ? (d->hi < d->numel ? d->hi : d->numel) : d->numel;
    size_t n = d->mhi - d->mlo;
    if (d->be->alloc(d->be, (void **)&d->master, (n > 0 ? n : 1) * sizeof(float), err) != 0)
        return err_prefix(err, "fp32 master weights (%zu floats)", n);
    dist_optim_sync_master(d);
    return 0;
}

void dist_optim_sync_master(dist_optim_t *d) {
    if (!d->master) return;
    backend_t *be = d->be;
    be->copy(be, d->master, d->param_block + d->mlo, (d->mhi - d->mlo) * sizeof(float));
    be->round_to(be, d->param_block, d->param_block, d->numel, d->weight_dtype);
}

int dist_optim_expose_master(dist_optim_t *d, err_t *err) {
    if (!d->master) return 0;
    d->be->copy(d->be, d->param_block + d->mlo, d->master, (d->mhi - d->mlo) * sizeof(float));
    if (d->zero1 && d->grid->dp_size > 1 && comm_allgather(d->grid->dp, d->param_block, d->shard, NULL, err) != 0)
        return -1;
    return 0;
}

/* fp16 gradients: what a reduction in fp16 would see and give */
static void round_grads(dist_optim_t *d, float *g, size_t n) {
    if (d->grad_dtype != DTYPE_F32) d->be->round_to(d->be, g, g, n, d->grad_dtype);
}

void dist_optim_arm(dist_optim_t *d) {
    memset(d->ready, 0, (size_t)d->ntensors);
    for (int b = 0; b < d->nbuckets; b++) d->buckets[b].started = 0, d->buckets[b].req = NULL;
    d->armed = 1;
}

/* starts, in bucket order, every bucket whose tensors are all final; an error
 * here is reported again by the wait in dist_optim_finish */
static void start_ready_buckets(dist_optim_t *d, err_t *err) {
    for (int b = 0; b < d->nbuckets; b++) {
        dp_bucket_t *bk = &d->buckets[b];
        if (bk->started) continue;
        int all = 1;
        for (int k = bk->first; k <= bk->last && all; k++) all = d->ready[k];
        if (!all) continue;
        bk->started = 1;
        round_grads(d, d->grad_block + bk->begin, bk->end - bk->begin);
        if (comm_allreduce(d->grid->dp, d->grad_block + bk->begin, bk->end - bk->begin, COMM_SUM,
                           &bk->req, err) != 0)
            bk->req = NULL, bk->started = -1;
    }
    comm_poll(d->grid->dp);
}

void dist_optim_grad_ready(void *ctx, int first, int last) {
    dist_optim_t *d = ctx;
    if (!d->armed || d->zero1 || d->nbuckets == 0) return;
    for (int k = first; k <= last; k++) d->ready[k] = 1;
    err_t ignored;
    start_ready_buckets(d, &ignored);
}

/* squared norm of grads[off .. off+n) of tensor k restricted to [lo, hi) */
static double shard_sumsq(dist_optim_t *d, const float *base, size_t base_at, int k, size_t lo, size_t hi) {
    size_t off = d->offset[k], n = (size_t)tensor_numel(&d->grads[k]);
    size_t a = off > lo ? off : lo, b = off + n < hi ? off + n : hi;
    if (a >= b) return 0.0;
    return d->be->sumsq(d->be, base + (a - base_at), b - a);
}

int dist_optim_finish(dist_optim_t *d, double *grad_norm, err_t *err) {
    grid_t *g = d->grid;
    double sumsq = 0.0;
    d->armed = 0;
    if (!d->zero1) {
        if (d->nbuckets > 0) {
            for (int k = 0; k < d->ntensors; k++) d->ready[k] = 1;
            start_ready_buckets(d, err);
            for (int b = 0; b < d->nbuckets; b++) {
                dp_bucket_t *bk = &d->buckets[b];
                if (bk->started < 0 || !bk->req) return bk->started < 0 ? -1 : err_set(err, "internal: bucket %d not started", b);
                if (comm_wait(g->dp, bk->req, err) != 0) return -1;
                bk->req = NULL;
                round_grads(d, d->grad_block + bk->begin, bk->end - bk->begin);
            }
        } else {
            round_grads(d, d->grad_block, d->numel);
        }
        for (int k = 0; k < d->ntensors; k++) {
            if ((d->grads[k].flags & TENSOR_TP_REPLICATED) && g->tp_rank != 0) continue;
            sumsq += d->be->sumsq(d->be, d->grads[k].data, (size_t)tensor_numel(&d->grads[k]));
        }
        if (g->tp_size > 1 && comm_allreduce_f64(g->tp, &sumsq, 1, COMM_SUM, err) != 0) return -1;
    } else {
        round_grads(d, d->grad_block, d->numel);
        if (g->dp_size > 1) {
            if (comm_reduce_scatter(g->dp, d->grad_block, d->shard_grad, d->shard, NULL, err) != 0) return -1;
        } else {
            d->be->copy(d->be, d->shard_grad, d->grad_block, d->shard * sizeof(float));
        }
        round_grads(d, d->shard_grad, d->shard);
        for (int k = 0; k < d->ntensors; k++) {
            if ((d->grads[k].flags & TENSOR_TP_REPLICATED) && g->tp_rank != 0) continue;
            sumsq += shard_sumsq(d, d->shard_grad, d->lo, k, d->lo, d->hi);
        }
        if (g->world_size > 1 && comm_allreduce_f64(g->world, &sumsq, 1, COMM_SUM, err) != 0) return -1;
    }
    *grad_norm = sqrt(sumsq);
    return 0;
}

/* The part of tensor k this rank updates: the whole tensor without ZeRO-1, its
 * intersection with this rank's shard with it. Returns 0 when empty. */
typedef struct piece {
    size_t n;
    float *p, *g, *m, *v;
} piece_t;

/* the weights the optimizer updates: the fp32 masters when there are any */
static float *weights_at(dist_optim_t *d, size_t at) {
    return d->master ? d->master + (at - d->mlo) : d->param_block + at;
}

static int piece_of(dist_optim_t *d, int k, piece_t *out) {
    size_t off = d->offset[k], n = (size_t)tensor_numel(&d->params[k]);
    if (!d->zero1) {
        *out = (piece_t){n, weights_at(d, off), d->grad_block + off, d->local.m + off, d->local.v + off};
        return n > 0;
    }
    size_t a = off > d->lo ? off : d->lo, b = off + n < d->hi ? off + n : d->hi;
    if (a >= b) return 0;
    size_t s = a - d->lo;
    *out = (piece_t){b - a, weights_at(d, a), d->shard_grad + s, d->m + s, d->v + s};
    return 1;
}

/* the whole range this rank updates, for the one-pass ops */
typedef struct updated {
    size_t n;
    float *p, *g, *m, *v;
} updated_t;

static updated_t updated_range(dist_optim_t *d) {
    size_t n = d->uhi - d->ulo;
    if (!d->zero1) return (updated_t){n, weights_at(d, 0), d->grad_block, d->local.m, d->local.v};
    return (updated_t){n, weights_at(d, d->ulo), d->shard_grad, d->m, d->v};
}

/* after an update: the model's weights are the masters rounded, then (ZeRO-1)
 * every rank's shard is gathered */
static int publish_weights(dist_optim_t *d, err_t *err) {
    if (d->master)
        d->be->round_to(d->be, d->param_block + d->mlo, d->master, d->mhi - d->mlo, d->weight_dtype);
    if (d->zero1 && d->grid->dp_size > 1 && comm_allgather(d->grid->dp, d->param_block, d->shard, NULL, err) != 0)
        return -1;
    return 0;
}

/* NVLAMB (You et al. 2020, NVIDIA's BERT record): Adam moments with bias
 * correction, u = m^/(sqrt(v^)+eps) + wd*w, then w -= lr * (||w|| / ||u||) * u per
 * tensor (ratio 1 when either norm is 0). The norms are the whole tensor's: the
 * squared norms of the pieces are all-reduced (TP splits; ZeRO-1 shards), with
 * TP-replicated tensors counted on TP rank 0 only. */
static int lamb_step(dist_optim_t *d, float lr, float grad_scale, int64_t step, err_t *err) {
    grid_t *g = d->grid;
    backend_t *be = d->be;
    float bc1 = 1.0f - powf(d->cfg.beta1, (float)step), bc2 = 1.0f - powf(d->cfg.beta2, (float)step);
    double *sq = calloc(2 * (size_t)d->ntensors, sizeof(double));
    if (!sq) return err_set(err, "out of memory for the LAMB norms");
    updated_t u = updated_range(d);
    be->lamb_moments_multi(be, u.p, u.g, u.m, u.v, u.g, u.n, d->segs, d->nsegs, d->cfg.beta1, d->cfg.beta2,
                           d->cfg.eps, bc1, bc2, grad_scale);
    piece_t pc;
    for (int k = 0; k < d->ntensors; k++) {
        if (!piece_of(d, k, &pc)) continue;
        if ((d->params[k].flags & TENSOR_TP_REPLICATED) && g->tp_rank != 0) continue;
        sq[2 * k] = be->sumsq(be, pc.p, pc.n);
        sq[2 * k + 1] = be->sumsq(be, pc.g, pc.n);
    }
    comm_t *over = d->zero1 ? g->world : g->tp;
    int rc = over->size > 1 ? comm_allreduce_f64(over, sq, 2 * (size_t)d->ntensors, COMM_SUM, err) : 0;
    for (int k = 0; rc == 0 && k < d->ntensors; k++) {
        if (!piece_of(d, k, &pc)) continue;
        double wn = sqrt(sq[2 * k]), un = sqrt(sq[2 * k + 1]);
        double trust = wn > 0 && un > 0 ? wn / un : 1.0;
        be->axpy(be, pc.p, pc.g, pc.n, (float)(-lr * trust));
    }
    free(sq);
    return rc;
}

int dist_optim_step(dist_optim_t *d, float lr, float grad_scale, err_t *err) {
    int64_t step = d->zero1 ? ++d->step : ++d->local.step;
    if (d->cfg.kind == OPTIM_LAMB) {
        if (lamb_step(d, lr, grad_scale, step, err) != 0) return -1;
        return publish_weights(d, err);
    }
    float bc1 = 1.0f - powf(d->cfg.beta1, (float)step);
    float bc2 = 1.0f - powf(d->cfg.beta2, (float)step);
    updated_t u = updated_range(d);
    d->be->adamw_multi(d->be, u.p, u.g, u.m, u.v, u.n, d->segs, d->nsegs, lr, d->cfg.beta1, d->cfg.beta2, d->cfg.eps,
                       bc1, bc2, grad_scale);
    return publish_weights(d, err);
}

void dist_optim_state(dist_optim_t *d, float **exp_avg, float **exp_avg_sq, size_t *lo, size_t *hi) {
    if (!d->zero1) {
        *exp_avg = d->local.m, *exp_avg_sq = d->local.v;
        *lo = 0, *hi = d->numel;
        return;
    }
    *exp_avg = d->m, *exp_avg_sq = d->v;
    *lo = d->lo < d->numel ? d->lo : d->numel;
    *hi = d->hi < d->numel ? d->hi : d->numel;
}

int64_t dist_optim_get_step(const dist_optim_t *d) { return d->zero1 ? d->step : d->local.step; }

void dist_optim_set_step(dist_optim_t *d, int64_t step) {
    if (d->zero1) d->step = step;
    else d->local.step = step;
}
