/* ckpt_meta.c — the checkpoint metadata record and its JSON form (see ckpt_meta.h). */
#include "ckpt_meta.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../framework/config_text.h"

void ckpt_meta_init(ckpt_meta_t *m) {
    memset(m, 0, sizeof *m);
    m->format_version = CKPT_FORMAT_VERSION;
    m->tp_size = m->pp_size = m->dp_size = m->world_size = 1;
    m->loss_scale = 1.0;
    m->tokenizer_added_tokens = -1;
    snprintf(m->precision, sizeof m->precision, "fp32");
    snprintf(m->model_type, sizeof m->model_type, "gpt");
}

/* ---------------------------------------------------------------- encode */

#define EXACT_INT_MAX 9007199254740992.0 /* 2^53: integers JSON numbers hold exactly */

static const char *LOSS_SCALER_NOTE =
    "fp16 runs scale the loss (Megatron's dynamic scaler: the trackers continue on resume); fp32 and bf16 "
    "runs write scale 1";
static const char *RNG_NOTE =
    "counter-based: every random number is Philox4x32-10 of (seed, purpose, rank, step) and the step "
    "derives from the iteration, so seed and iteration are the whole generator state";

double ckpt_json_float(float f) {
    char buf[32];
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)f);
        double d = strtod(buf, NULL);
        if ((float)d == f) return d;
    }
    return (double)f;
}

/* one "key=value" line of the model's configuration as a JSON number */
static int add_model_field(void *ctx, const char *key, const char *val, err_t *err) {
    if (strcmp(key, "model") == 0) return 0; /* the model's name: "type" */
    char *end;
    double v = strtod(val, &end);
    if (end == val || *end || !isfinite(v))
        return err_set(err, "model configuration field %s: '%s' is not a number", key, val);
    if (v != floor(v)) v = ckpt_json_float((float)v); /* a float field */
    if (!cJSON_AddNumberToObject((cJSON *)ctx, key, v)) return err_set(err, "out of memory");
    return 0;
}

static int add_model(cJSON *obj, const ckpt_meta_t *m, err_t *err) {
    if (!cJSON_AddStringToObject(obj, "type", m->model_type)) return err_set(err, "out of memory");
    if (config_each_line(m->model_config, add_model_field, obj, err) != 0) return err_prefix(err, "model configuration");
    return 0;
}

int ckpt_meta_to_json(const ckpt_meta_t *m, char **json, err_t *err) {
    *json = NULL;
    cJSON *root = cJSON_CreateObject();
    /* the identifying scalars first, so a reader of h5dump's output sees them on top */
    cJSON_AddStringToObject(root, "format", CKPT_FORMAT_NAME);
    cJSON_AddNumberToObject(root, "format_version", m->format_version);
    cJSON_AddStringToObject(root, "megac_version", m->megac_version);
    cJSON_AddNumberToObject(root, "iteration", (double)m->iteration);
    cJSON_AddNumberToObject(root, "consumed_train_samples", (double)m->consumed_samples);
    cJSON *model = cJSON_AddObjectToObject(root, "model");
    cJSON *par = cJSON_AddObjectToObject(root, "parallel");
    cJSON *opt = cJSON_AddObjectToObject(root, "optimizer");
    cJSON *lrs = cJSON_AddObjectToObject(root, "lr_scheduler");
    cJSON *ls = cJSON_AddObjectToObject(root, "loss_scaler");
    cJSON *rng = cJSON_AddObjectToObject(root, "rng");
    cJSON *data = cJSON_AddObjectToObject(root, "data");
    if (!root || !model || !par || !opt || !lrs || !ls || !rng || !data) {
        cJSON_Delete(root);
        return err_set(err, "out of memory building the checkpoint metadata");
    }
    if ((double)m->iteration > EXACT_INT_MAX || (double)m->consumed_samples > EXACT_INT_MAX ||
        (double)m->optimizer_step > EXACT_INT_MAX) {
        cJSON_Delete(root);
        return err_set(err, "iteration or sample count too large for the metadata");
    }
    if (add_model(model, m, err) != 0) {
        cJSON_Delete(root);
        return -1;
    }
    cJSON_AddNumberToObject(par, "tensor_model_parallel_size", m->tp_size);
    cJSON_AddNumberToObject(par, "pipeline_model_parallel_size", m->pp_size);
    cJSON_AddNumberToObject(par, "data_parallel_size", m->dp_size);
    cJSON_AddNumberToObject(par, "world_size", m->world_size);
    cJSON_AddBoolToObject(par, "use_distributed_optimizer", m->zero1);
    cJSON_AddStringToObject(opt, "type", m->adam.kind == OPTIM_LAMB ? "lamb" : "adamw");
    cJSON_AddBoolToObject(opt, "has_state", m->has_optimizer);
    cJSON_AddNumberToObject(opt, "step", (double)m->optimizer_step);
    cJSON_AddNumberToObject(opt, "adam_beta1", ckpt_json_float(m->adam.beta1));
    cJSON_AddNumberToObject(opt, "adam_beta2", ckpt_json_float(m->adam.beta2));
    cJSON_AddNumberToObject(opt, "adam_eps", ckpt_json_float(m->adam.eps));
    cJSON_AddNumberToObject(opt, "weight_decay", ckpt_json_float(m->adam.weight_decay));
    cJSON_AddNumberToObject(lrs, "max_lr", ckpt_json_float(m->schedule.lr));
    cJSON_AddNumberToObject(lrs, "min_lr", ckpt_json_float(m->schedule.min_lr));
    cJSON_AddNumberToObject(lrs, "warmup_iters", (double)m->schedule.warmup_iters);
    cJSON_AddNumberToObject(lrs, "decay_iters", (double)m->schedule.decay_iters);
    cJSON_AddStringToObject(lrs, "decay_style", lr_decay_style_name(m->schedule.style));
    cJSON_AddNumberToObject(lrs, "num_steps", (double)(m->iteration - m->skipped_iterations));
    cJSON_AddStringToObject(ls, "precision", m->precision);
    cJSON_AddNumberToObject(ls, "scale", m->loss_scale);
    cJSON_AddNumberToObject(ls, "growth_tracker", (double)m->growth_tracker);
    cJSON_AddNumberToObject(ls, "hysteresis_tracker", (double)m->hysteresis_tracker);
    cJSON_AddNumberToObject(ls, "skipped_iterations", (double)m->skipped_iterations);
    cJSON_AddStringToObject(ls, "note", LOSS_SCALER_NOTE);
    char seed[24];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)m->seed);
    cJSON_AddStringToObject(rng, "generator", "philox4x32-10");
    if ((double)m->seed <= EXACT_INT_MAX) cJSON_AddNumberToObject(rng, "seed", (double)m->seed);
    else cJSON_AddStringToObject(rng, "seed", seed);
    cJSON_AddNumberToObject(rng, "iteration", (double)m->iteration);
    cJSON_AddStringToObject(rng, "note", RNG_NOTE);
    cJSON_AddNumberToObject(data, "consumed_train_samples", (double)m->consumed_samples);
    if ((double)m->seed <= EXACT_INT_MAX) cJSON_AddNumberToObject(data, "seed", (double)m->seed);
    else cJSON_AddStringToObject(data, "seed", seed);
    if (m->origin[0]) cJSON_AddStringToObject(root, "origin", m->origin);
    if (m->tokenizer_added_tokens >= 0) cJSON_AddNumberToObject(root, "tokenizer_added_tokens", m->tokenizer_added_tokens);
    *json = cJSON_Print(root);
    cJSON_Delete(root);
    return *json ? 0 : err_set(err, "out of memory printing the checkpoint metadata");
}

/* ---------------------------------------------------------------- decode */

static const cJSON *member(const cJSON *o, const char *key) { return cJSON_GetObjectItemCaseSensitive(o, key); }

static int get_obj(const cJSON *o, const char *key, const cJSON **out, err_t *err) {
    *out = member(o, key);
    if (!cJSON_IsObject(*out)) return err_set(err, "metadata: '%s' is missing or not an object", key);
    return 0;
}

static int get_num(const cJSON *o, const char *sect, const char *key, double *v, err_t *err) {
    const cJSON *it = member(o, key);
    *v = 0.0;
    if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble))
        return err_set(err, "metadata: %s%s%s is missing or not a number", sect, sect[0] ? "." : "", key);
    *v = it->valuedouble;
    return 0;
}

static int get_int(const cJSON *o, const char *sect, const char *key, int64_t lo, int64_t hi, int64_t *v,
                   err_t *err) {
    double d = 0.0;
    if (get_num(o, sect, key, &d, err) != 0) return -1;
    if (d != floor(d) || d < (double)lo || d > (double)hi)
        return err_set(err, "metadata: %s%s%s = %.17g is not an integer in [%lld, %lld]", sect, sect[0] ? "." : "",
                       key, d, (long long)lo, (long long)hi);
    *v = (int64_t)d;
    return 0;
}

static int get_float(const cJSON *o, const char *sect, const char *key, float *v, err_t *err) {
    double d = 0.0;
    if (get_num(o, sect, key, &d, err) != 0) return -1;
    *v = (float)d;
    return 0;
}

static int get_bool(const cJSON *o, const char *sect, const char *key, int *v, err_t *err) {
    const cJSON *it = member(o, key);
    if (!cJSON_IsBool(it)) return err_set(err, "metadata: %s.%s is missing or not true/false", sect, key);
    *v = cJSON_IsTrue(it);
    return 0;
}

static int get_str(const cJSON *o, const char *sect, const char *key, char *buf, size_t cap, err_t *err) {
    const cJSON *it = member(o, key);
    if (!cJSON_IsString(it) || !it->valuestring)
        return err_set(err, "metadata: %s%s%s is missing or not a string", sect, sect[0] ? "." : "", key);
    if (strlen(it->valuestring) >= cap)
        return err_set(err, "metadata: %s%s%s is longer than %zu bytes", sect, sect[0] ? "." : "", key, cap - 1);
    memcpy(buf, it->valuestring, strlen(it->valuestring) + 1);
    return 0;
}

static int get_seed(const cJSON *o, const char *sect, uint64_t *seed, err_t *err) {
    const cJSON *it = member(o, "seed");
    if (cJSON_IsString(it) && it->valuestring) {
        char *end;
        unsigned long long v = strtoull(it->valuestring, &end, 10);
        if (end == it->valuestring || *end) return err_set(err, "metadata: %s.seed '%s' is not a number", sect, it->valuestring);
        *seed = v;
        return 0;
    }
    int64_t v;
    if (get_int(o, sect, "seed", 0, (int64_t)EXACT_INT_MAX, &v, err) != 0) return -1;
    *seed = (uint64_t)v;
    return 0;
}

static int model_from_json(const cJSON *model, ckpt_meta_t *m, err_t *err) {
    if (get_str(model, "model", "type", m->model_type, sizeof m->model_type, err) != 0) return -1;
    size_t tl = strlen(m->model_type);
    if (tl == 0 || strspn(m->model_type, "abcdefghijklmnopqrstuvwxyz0123456789_") != tl)
        return err_set(err, "metadata: model.type '%s' is not a plain identifier", m->model_type);
    /* the configuration text names the model first (config_text's "model=" line) */
    size_t off = (size_t)snprintf(m->model_config, sizeof m->model_config, "model=%s\n", m->model_type);
    for (const cJSON *it = model->child; it; it = it->next) {
        if (!it->string) return err_set(err, "metadata: model has an unnamed member");
        if (strcmp(it->string, "type") == 0) continue;
        size_t kl = strlen(it->string);
        if (kl == 0 || kl > 64 || strspn(it->string, "abcdefghijklmnopqrstuvwxyz0123456789_") != kl)
            return err_set(err, "metadata: model field name '%.64s' is not a plain identifier", it->string);
        if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble))
            return err_set(err, "metadata: model.%s is not a number", it->string);
        double v = it->valuedouble;
        char line[128];
        int n = v == floor(v) && fabs(v) < EXACT_INT_MAX ? snprintf(line, sizeof line, "%s=%lld\n", it->string, (long long)v)
                                                         : snprintf(line, sizeof line, "%s=%.17g\n", it->string, v);
        if (n < 0 || off + (size_t)n >= sizeof m->model_config)
            return err_set(err, "metadata: the model configuration is longer than %zu bytes", sizeof m->model_config);
        memcpy(m->model_config + off, line, (size_t)n + 1);
        off += (size_t)n;
    }
    return 0;
}

static int meta_from_tree(const cJSON *root, ckpt_meta_t *m, err_t *err) {
    if (!cJSON_IsObject(root)) return err_set(err, "metadata: not a JSON object");
    char format[32];
    if (get_str(root, "", "format", format, sizeof format, err) != 0) return -1;
    if (strcmp(format, CKPT_FORMAT_NAME) != 0)
        return err_set(err, "metadata: format '%s' is not a megac checkpoint", format);
    int64_t v;
    if (get_int(root, "", "format_version", 1, 1000000, &v, err) != 0) return -1;
    if (v > CKPT_FORMAT_VERSION)
        return err_set(err, "checkpoint format version %lld is newer than this megac reads (%d); use a newer megac",
                       (long long)v, CKPT_FORMAT_VERSION);
    m->format_version = (int)v;
    if (get_str(root, "", "megac_version", m->megac_version, sizeof m->megac_version, err) != 0) return -1;
    const int64_t big = (int64_t)EXACT_INT_MAX;
    if (get_int(root, "", "iteration", 0, big, &m->iteration, err) != 0 ||
        get_int(root, "", "consumed_train_samples", 0, big, &m->consumed_samples, err) != 0)
        return -1;
    const cJSON *model, *par, *opt, *lrs, *ls, *rng, *data;
    if (get_obj(root, "model", &model, err) != 0 || get_obj(root, "parallel", &par, err) != 0 ||
        get_obj(root, "optimizer", &opt, err) != 0 || get_obj(root, "lr_scheduler", &lrs, err) != 0 ||
        get_obj(root, "loss_scaler", &ls, err) != 0 || get_obj(root, "rng", &rng, err) != 0 ||
        get_obj(root, "data", &data, err) != 0)
        return -1;
    if (model_from_json(model, m, err) != 0) return -1;
    int64_t tp, pp, dp, world;
    if (get_int(par, "parallel", "tensor_model_parallel_size", 1, 1 << 20, &tp, err) != 0 ||
        get_int(par, "parallel", "pipeline_model_parallel_size", 1, 1 << 20, &pp, err) != 0 ||
        get_int(par, "parallel", "data_parallel_size", 1, 1 << 20, &dp, err) != 0 ||
        get_int(par, "parallel", "world_size", 1, 1 << 30, &world, err) != 0 ||
        get_bool(par, "parallel", "use_distributed_optimizer", &m->zero1, err) != 0)
        return -1;
    if (tp * pp * dp != world)
        return err_set(err, "metadata: world size %lld is not tensor %lld x pipeline %lld x data %lld", (long long)world,
                       (long long)tp, (long long)pp, (long long)dp);
    if (pp != 1) return err_set(err, "metadata: pipeline parallelism (size %lld) is not supported", (long long)pp);
    m->tp_size = (int)tp, m->pp_size = (int)pp, m->dp_size = (int)dp, m->world_size = (int)world;
    char type[16];
    if (get_str(opt, "optimizer", "type", type, sizeof type, err) != 0) return -1;
    if (strcmp(type, "adamw") == 0) m->adam.kind = OPTIM_ADAM;
    else if (strcmp(type, "lamb") == 0) m->adam.kind = OPTIM_LAMB;
    else return err_set(err, "metadata: optimizer type '%s' is neither adamw nor lamb", type);
    if (get_bool(opt, "optimizer", "has_state", &m->has_optimizer, err) != 0 ||
        get_int(opt, "optimizer", "step", 0, big, &m->optimizer_step, err) != 0 ||
        get_float(opt, "optimizer", "adam_beta1", &m->adam.beta1, err) != 0 ||
        get_float(opt, "optimizer", "adam_beta2", &m->adam.beta2, err) != 0 ||
        get_float(opt, "optimizer", "adam_eps", &m->adam.eps, err) != 0 ||
        get_float(opt, "optimizer", "weight_decay", &m->adam.weight_decay, err) != 0)
        return -1;
    char style[16];
    if (get_float(lrs, "lr_scheduler", "max_lr", &m->schedule.lr, err) != 0 ||
        get_float(lrs, "lr_scheduler", "min_lr", &m->schedule.min_lr, err) != 0 ||
        get_int(lrs, "lr_scheduler", "warmup_iters", 0, big, &m->schedule.warmup_iters, err) != 0 ||
        get_int(lrs, "lr_scheduler", "decay_iters", 0, big, &m->schedule.decay_iters, err) != 0 ||
        get_str(lrs, "lr_scheduler", "decay_style", style, sizeof style, err) != 0)
        return -1;
    if (lr_decay_style_parse(style, &m->schedule.style) != 0)
        return err_set(err, "metadata: lr_scheduler.decay_style '%s' is unknown", style);
    double scale = 0.0;
    if (get_num(ls, "loss_scaler", "scale", &scale, err) != 0) return -1;
    if (!(scale > 0.0)) return err_set(err, "metadata: loss_scaler.scale %g is not positive", scale);
    m->loss_scale = scale;
    /* absent in checkpoints written before mixed precision: fp32, no trackers */
    if (member(ls, "precision")) {
        if (get_str(ls, "loss_scaler", "precision", m->precision, sizeof m->precision, err) != 0) return -1;
        if (strcmp(m->precision, "fp32") != 0 && strcmp(m->precision, "bf16") != 0 && strcmp(m->precision, "fp16") != 0)
            return err_set(err, "metadata: loss_scaler.precision '%s' is not fp32, bf16 or fp16", m->precision);
    }
    if ((member(ls, "growth_tracker") && get_int(ls, "loss_scaler", "growth_tracker", 0, big, &m->growth_tracker, err) != 0) ||
        (member(ls, "hysteresis_tracker") &&
         get_int(ls, "loss_scaler", "hysteresis_tracker", -big, big, &m->hysteresis_tracker, err) != 0) ||
        (member(ls, "skipped_iterations") &&
         get_int(ls, "loss_scaler", "skipped_iterations", 0, m->iteration, &m->skipped_iterations, err) != 0))
        return -1;
    int64_t rng_it, data_samples;
    uint64_t data_seed;
    if (get_seed(rng, "rng", &m->seed, err) != 0 || get_int(rng, "rng", "iteration", 0, big, &rng_it, err) != 0 ||
        get_seed(data, "data", &data_seed, err) != 0 ||
        get_int(data, "data", "consumed_train_samples", 0, big, &data_samples, err) != 0)
        return -1;
    if (rng_it != m->iteration || data_samples != m->consumed_samples || data_seed != m->seed)
        return err_set(err, "metadata: rng/data positions disagree with iteration %lld and %lld consumed samples",
                       (long long)m->iteration, (long long)m->consumed_samples);
    if (member(root, "origin") && get_str(root, "", "origin", m->origin, sizeof m->origin, err) != 0) return -1;
    if (member(root, "tokenizer_added_tokens")) { /* absent before it was recorded: unknown */
        int64_t added;
        if (get_int(root, "", "tokenizer_added_tokens", 0, 1 << 30, &added, err) != 0) return -1;
        m->tokenizer_added_tokens = (int)added;
    }
    return 0;
}

int ckpt_meta_from_json(const char *json, size_t len, ckpt_meta_t *m, err_t *err) {
    ckpt_meta_init(m);
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) return err_set(err, "metadata: not valid JSON");
    int rc = meta_from_tree(root, m, err);
    cJSON_Delete(root);
    return rc;
}
