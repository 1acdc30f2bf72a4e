/* precision.h — mixed-precision bookkeeping: the training precision and
 * Megatron-LM's loss scalers.
 *
 * With --bf16 or --fp16 the model computes with weights rounded to bf16/fp16
 * while the optimizer keeps fp32 master weights and fp32 Adam state
 * (parallel/dist_optim.h); with --fp16 the gradients are fp16 too (unless
 * --accumulate-allreduce-grads-in-fp32), so the loss is multiplied by a loss
 * scale before backward and the gradients divided by it before the step. A
 * step whose gradients hold an inf or NaN is skipped (never applied) and the
 * dynamic scaler backs off; the scaler is host code, identical on every rank.
 *
 * DynamicGradScaler (Megatron-LM): on an overflow the growth tracker resets and
 * the hysteresis tracker drops by one; once it reaches 0 the scale is multiplied
 * by the back-off factor (not below the minimum). After `window` clean steps
 * in a row the scale grows by the growth factor and the hysteresis tracker is
 * refilled. Defaults: initial 2^32, window 1000, hysteresis 2, min 1, x2, x0.5. */
#ifndef MEGAC_PRECISION_H
#define MEGAC_PRECISION_H

#include <stdint.h>

#include "tensor.h"

typedef enum precision {
    PRECISION_FP32 = 0,
    PRECISION_BF16 = 1,
    PRECISION_FP16 = 2,
} precision_t;

const char *precision_name(precision_t p);
/* the storage type of model weights under p */
dtype_t precision_dtype(precision_t p);

typedef struct loss_scaler {
    int dynamic;                 /* 0: constant scale (--loss-scale) */
    float scale, min_scale;
    float growth_factor, backoff_factor;
    int growth_interval, hysteresis;
    int growth_tracker, hysteresis_tracker;
} loss_scaler_t;

/* Megatron's defaults for --fp16 without --loss-scale */
#define LOSS_SCALE_INITIAL 4294967296.0f /* 2^32 */
#define LOSS_SCALE_WINDOW 1000
#define LOSS_SCALE_HYSTERESIS 2

void loss_scaler_constant(loss_scaler_t *s, float scale);
void loss_scaler_dynamic(loss_scaler_t *s, float initial, float min_scale, int window, int hysteresis);
/* after each iteration: found_inf = the gradients held an inf or NaN */
void loss_scaler_update(loss_scaler_t *s, int found_inf);

#endif
