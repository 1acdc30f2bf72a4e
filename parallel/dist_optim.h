/* dist_optim.h — the data-parallel optimizer step, with or without ZeRO-1.
 *
 * Without ZeRO-1 (Megatron's DDP): gradients are all-reduced over the DP group in
 * buckets of about --ddp-bucket-size elements, formed over the flat gradient
 * block in reverse parameter order; a bucket's all-reduce starts (asynchronously)
 * during the last micro-batch's backward as soon as all its gradients are final,
 * and everything is waited for before the step. Every rank then runs AdamW on
 * its whole (TP-local) parameter block.
 *
 * With ZeRO-1 (--use-distributed-optimizer): the gradient block (padded to a
 * multiple of DP) is reduce-scattered, each DP rank keeps fp32 Adam moments for
 * its 1/DP shard only, updates that shard of the weights, and the weights are
 * all-gathered. Any DP size works: the padding is never read as a parameter.
 *
 * The step is AdamW or LAMB (cfg.kind); LAMB's per-tensor trust ratios use the
 * norms of whole tensors across TP splits and ZeRO-1 shards.
 *
 * Mixed precision (dist_optim_set_precision): the model's parameter block then
 * holds weights rounded to bf16/fp16 and the optimizer updates fp32 master
 * weights (the whole block, or this rank's shard under ZeRO-1) and rounds them
 * back after each step; fp16 gradients are rounded to fp16 before and after
 * each reduction, so an overflow shows as an inf in the gradient norm.
 *
 * Gradients are pre-scaled by 1/(micro-batches * DP) in backward, so the sums
 * are means. The global gradient norm counts TP-split tensors on every rank and
 * TP-replicated ones on TP rank 0 only, then one all-reduce (over the TP group,
 * or over the world under ZeRO-1, where each rank holds a different shard). */
#ifndef MEGAC_DIST_OPTIM_H
#define MEGAC_DIST_OPTIM_H

#include "../framework/optim.h"
#include "grid.h"

typedef struct dp_bucket {
    size_t begin, end;        /* element range in the flat gradient block */
    int first, last;          /* parameter tensors it covers */
    int started;
    comm_request_t *req;
} dp_bucket_t;

typedef struct dist_optim {
    backend_t *be;
    grid_t *grid;
    adamw_config_t cfg;
    tensor_t *params, *grads;
    int ntensors;
    size_t *offset;           /* element offset of each tensor in the flat blocks */
    float *param_block, *grad_block;
    size_t numel, alloc;      /* used and padded lengths of the blocks */
    int zero1;
    /* DDP */
    optimizer_t local;        /* AdamW over the whole local block */
    dp_bucket_t *buckets;
    int nbuckets;
    unsigned char *ready;     /* per tensor, during the last micro-batch */
    int armed;
    /* ZeRO-1 */
    size_t shard, lo, hi;     /* this rank owns [lo, hi) of the block, shard = alloc / DP */
    float *shard_grad, *m, *v;
    int64_t step;
    /* the updated range's weight-decay runs (backend memory), for the one-pass optimizer ops */
    optim_segment_t *segs;
    int nsegs;
    size_t ulo, uhi;          /* the updated range of the block: [0, numel) or the shard's part */
    /* mixed precision */
    dtype_t weight_dtype, grad_dtype;  /* DTYPE_F32: no rounding */
    float *master;            /* fp32 master weights of [mlo, mhi), or NULL */
    size_t mlo, mhi;
} dist_optim_t;

/* Megatron's default bucket: max(40M, 1M * DP) elements. */
size_t dist_optim_default_bucket(int dp_size);

int dist_optim_create(dist_optim_t *d, backend_t *be, grid_t *grid, const adamw_config_t *cfg,
                      tensor_t *params, tensor_t *grads, int ntensors, float *param_block,
                      float *grad_block, size_t numel, size_t alloc, int zero1, size_t bucket_elems,
                      err_t *err);
void dist_optim_destroy(dist_optim_t *d);

/* Mixed precision: the model's weights are rounded to `weights` and its
 * gradients to `grads` (DTYPE_F32: not rounded). Allocates the fp32 master
 * weights and takes them from the parameter block (dist_optim_sync_master). */
int dist_optim_set_precision(dist_optim_t *d, dtype_t weights, dtype_t grads, err_t *err);
/* After the parameter block was written (initialization, checkpoint load): the
 * master weights take its values and the block is rounded. No communication. */
void dist_optim_sync_master(dist_optim_t *d);
/* Before saving: the parameter block gets the fp32 master weights (under ZeRO-1
 * an all-gather, so every rank calls it); dist_optim_sync_master afterwards
 * restores the rounded model weights exactly. Nothing to do in fp32. */
int dist_optim_expose_master(dist_optim_t *d, err_t *err);

/* Before the last micro-batch's backward: gradients become final from now on. */
void dist_optim_arm(dist_optim_t *d);
/* The model's grad-ready hook (ctx = dist_optim_t*). */
void dist_optim_grad_ready(void *ctx, int first, int last);
/* After backward: completes the gradient reduction and returns the global norm. */
int dist_optim_finish(dist_optim_t *d, double *grad_norm, err_t *err);
/* An AdamW or LAMB step with learning rate lr on gradients times grad_scale
 * (clipping); LAMB overwrites the gradients with its update direction. */
int dist_optim_step(dist_optim_t *d, float lr, float grad_scale, err_t *err);

/* For checkpoints: the Adam moments this rank holds (backend memory) cover
 * elements [*lo, *hi) of the TP-local parameter block: the whole block without
 * ZeRO-1, this rank's shard (clipped to the parameters) with it. */
void dist_optim_state(dist_optim_t *d, float **exp_avg, float **exp_avg_sq, size_t *lo, size_t *hi);
/* Completed optimizer steps (the Adam bias corrections follow it). */
int64_t dist_optim_get_step(const dist_optim_t *d);
void dist_optim_set_step(dist_optim_t *d, int64_t step);

#endif
