/* precision.c — training precision names and loss scalers (see precision.h). */
#include "precision.h"

const char *precision_name(precision_t p) {
    return p == PRECISION_BF16 ? "bf16" : p == PRECISION_FP16 ? "fp16" : "fp32";
}

dtype_t precision_dtype(precision_t p) {
    return p == PRECISION_BF16 ? DTYPE_BF16 : p == PRECISION_FP16 ? DTYPE_F16 : DTYPE_F32;
}

void loss_scaler_constant(loss_scaler_t *s, float scale) {
    *s = (loss_scaler_t){0, scale, scale, 1.0f, 1.0f, 0, 0, 0, 0};
}

void loss_scaler_dynamic(loss_scaler_t *s, float initial, float min_scale, int window, int hysteresis) {
    *s = (loss_scaler_t){1, initial, min_scale, 2.0f, 0.5f, window, hysteresis, 0, hysteresis};
}

void loss_scaler_update(loss_scaler_t *s, int found_inf) {
    if (!s->dynamic) return;
    if (found_inf) {
        s->growth_tracker = 0;
        s->hysteresis_tracker--;
        if (s->hysteresis_tracker <= 0) {
            float backed = s->scale * s->backoff_factor;
            s->scale = backed > s->min_scale ? backed : s->min_scale;
        }
    } else if (++s->growth_tracker == s->growth_interval) {
        s->growth_tracker = 0;
        s->hysteresis_tracker = s->hysteresis;
        s->scale *= s->growth_factor;
    }
}
