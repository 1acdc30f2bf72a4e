/* optim.c — learning-rate schedule, gradient norm and AdamW (see optim.h). */
#include "optim.h"

#include <math.h>
#include <string.h>

int lr_decay_style_parse(const char *s, lr_decay_style_t *out) {
    if (strcmp(s, "constant") == 0) *out = LR_DECAY_CONSTANT;
    else if (strcmp(s, "linear") == 0) *out = LR_DECAY_LINEAR;
    else if (strcmp(s, "cosine") == 0) *out = LR_DECAY_COSINE;
    else if (strcmp(s, "poly") == 0) *out = LR_DECAY_POLY;
    else return -1;
    return 0;
}

const char *lr_decay_style_name(lr_decay_style_t s) {
    switch (s) {
    case LR_DECAY_CONSTANT: return "constant";
    case LR_DECAY_LINEAR: return "linear";
    case LR_DECAY_COSINE: return "cosine";
    case LR_DECAY_POLY: return "poly";
    }
    return "?";
}

float lr_at(const lr_schedule_t *s, int64_t it) {
    if (s->warmup_iters > 0 && it <= s->warmup_iters)
        return s->lr * (float)it / (float)s->warmup_iters;
    if (s->style == LR_DECAY_CONSTANT) return s->lr;
    if (it > s->decay_iters) return s->min_lr;
    double span = (double)(s->decay_iters - s->warmup_iters);
    double ratio = span > 0 ? (double)(it - s->warmup_iters) / span : 1.0;
    double coeff = s->style == LR_DECAY_LINEAR ? 1.0 - ratio
                   : s->style == LR_DECAY_POLY ? sqrt(1.0 - ratio)
                                                : 0.5 * (cos(M_PI * ratio) + 1.0);
    return (float)(s->min_lr + coeff * (s->lr - s->min_lr));
}

int optim_create(optimizer_t *o, backend_t *be, const adamw_config_t *cfg, tensor_t *params,
                 tensor_t *grads, int ntensors, err_t *err) {
    memset(o, 0, sizeof *o);
    o->be = be;
    o->cfg = *cfg;
    o->params = params;
    o->grads = grads;
    o->ntensors = ntensors;
    for (int i = 0; i < ntensors; i++) o->numel += (size_t)tensor_numel(&params[i]);
    if (be->alloc(be, (void **)&o->m, o->numel * sizeof(float), err) != 0 ||
        be->alloc(be, (void **)&o->v, o->numel * sizeof(float), err) != 0) {
        optim_destroy(o);
        return err_prefix(err, "optimizer state (%zu floats)", 2 * o->numel);
    }
    be->memset_zero(be, o->m, o->numel * sizeof(float));
    be->memset_zero(be, o->v, o->numel * sizeof(float));
    return 0;
}

void optim_destroy(optimizer_t *o) {
    if (o->be) {
        if (o->m) o->be->free(o->be, o->m);
        if (o->v) o->be->free(o->be, o->v);
    }
    memset(o, 0, sizeof *o);
}

double optim_grad_sumsq(const optimizer_t *o, int tp_rank) {
    double total = 0.0;
    for (int i = 0; i < o->ntensors; i++) {
        const tensor_t *g = &o->grads[i];
        if ((g->flags & TENSOR_TP_REPLICATED) && tp_rank != 0) continue;
        total += o->be->sumsq(o->be, g->data, (size_t)tensor_numel(g));
    }
    return total;
}

float optim_clip_factor(double grad_norm, float clip_grad) {
    if (clip_grad <= 0.0f) return 1.0f;
    double f = clip_grad / (grad_norm + 1e-6);
    return f < 1.0 ? (float)f : 1.0f;
}

void optim_step(optimizer_t *o, float lr, float grad_scale) {
    o->step++;
    float bc1 = 1.0f - powf(o->cfg.beta1, (float)o->step);
    float bc2 = 1.0f - powf(o->cfg.beta2, (float)o->step);
    size_t off = 0;
    for (int i = 0; i < o->ntensors; i++) {
        tensor_t *p = &o->params[i];
        size_t n = (size_t)tensor_numel(p);
        float wd = (p->flags & TENSOR_NO_WEIGHT_DECAY) ? 0.0f : o->cfg.weight_decay;
        o->be->adamw(o->be, p->data, o->grads[i].data, o->m + off, o->v + off, n, lr, o->cfg.beta1,
                     o->cfg.beta2, o->cfg.eps, wd, bc1, bc2, grad_scale);
        off += n;
    }
}
