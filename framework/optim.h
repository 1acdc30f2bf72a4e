/* optim.h — learning-rate schedule, gradient-norm clipping and AdamW.
 *
 * The optimizer sees parameters as a list of tensors (data and gradient) and
 * keeps its fp32 moments in one backend allocation with the same layout. The
 * schedule follows Megatron-LM's OptimizerParamScheduler (iteration-based). */
#ifndef MEGAC_OPTIM_H
#define MEGAC_OPTIM_H

#include <stdint.h>

#include "backend.h"
#include "tensor.h"

typedef enum lr_decay_style {
    LR_DECAY_CONSTANT = 0,
    LR_DECAY_LINEAR = 1,
    LR_DECAY_COSINE = 2,
    LR_DECAY_POLY = 3, /* NVIDIA BERT's: (1 - progress)^0.5 */
} lr_decay_style_t;

typedef struct lr_schedule {
    float lr, min_lr;
    int64_t warmup_iters;
    int64_t decay_iters;
    lr_decay_style_t style;
} lr_schedule_t;

/* "constant" | "linear" | "cosine" | "poly"; -1 if unknown */
int lr_decay_style_parse(const char *s, lr_decay_style_t *out);
const char *lr_decay_style_name(lr_decay_style_t s);
/* learning rate for iteration `it` (1-based, as Megatron counts steps) */
float lr_at(const lr_schedule_t *s, int64_t it);

typedef enum optim_kind {
    OPTIM_ADAM = 0, /* AdamW: decoupled weight decay */
    OPTIM_LAMB = 1, /* NVIDIA's NVLAMB: AdamW's update scaled per tensor by ||w|| / ||update|| */
} optim_kind_t;

/* Adam-family hyper-parameters (AdamW and LAMB). */
typedef struct adamw_config {
    float beta1, beta2, eps, weight_decay;
    optim_kind_t kind;
} adamw_config_t;

typedef struct optimizer {
    backend_t *be;
    adamw_config_t cfg;
    int ntensors;
    tensor_t *params;     /* borrowed: the model's descriptors */
    tensor_t *grads;
    float *m, *v;         /* moments, flat, one element per parameter element */
    size_t numel;
    int64_t step;         /* completed optimizer steps */
} optimizer_t;

int optim_create(optimizer_t *o, backend_t *be, const adamw_config_t *cfg, tensor_t *params,
                 tensor_t *grads, int ntensors, err_t *err);
void optim_destroy(optimizer_t *o);

/* Global L2 norm of the gradients, summed in a fixed order (deterministic).
 * `tp_rank`: replicated tensors count only on TP rank 0 (Megatron's rule). */
double optim_grad_sumsq(const optimizer_t *o, int tp_rank);

/* Megatron's clip factor: clip / (norm + 1e-6) when that is below 1, else 1. */
float optim_clip_factor(double grad_norm, float clip_grad);

/* One AdamW step with the given lr; gradients are multiplied by grad_scale. */
void optim_step(optimizer_t *o, float lr, float grad_scale);

#endif
