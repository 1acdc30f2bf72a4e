/* train_checkpoint.c — the checkpoint flags and the save/load wiring of the
 * training commands (see train_checkpoint.h). */
#include "train_checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


void train_ckpt_specs(train_ckpt_opts_t *o, arg_spec_t *s) {
    arg_spec_t specs[TRAIN_CKPT_SPECS] = {
        {"save", ARG_STR, &o->save, "checkpoint directory: DIR/iter_NNNNNNN/ (one HDF5 file per TP rank) at the end and every --save-interval", 0},
        {"save-interval", ARG_I64, &o->save_interval, "iterations between checkpoints (0: only at the end)", 0},
        {"keep-last", ARG_INT, &o->keep_last, "keep only the newest K checkpoints in --save (0: all)", 0},
        {"no-save-optim", ARG_FLAG, &o->no_save_optim, "save the weights without the Adam moments", 0},
        {"load", ARG_STR, &o->load, "resume from a checkpoint directory (its latest iteration, or an iter_NNNNNNN directory)", 0},
        {"no-load-optim", ARG_FLAG, &o->no_load_optim, "with --load: start Adam afresh", 0},
        {"no-load-rng", ARG_FLAG, &o->no_load_rng, "with --load: use --seed rather than the checkpoint's", 0},
        {"finetune", ARG_FLAG, &o->finetune, "with --load: weights only; iteration 0, fresh optimizer, --seed", 0},
    };
    memcpy(s, specs, sizeof specs);
}

int train_ckpt_check(const train_ckpt_opts_t *o, err_t *err) {
    if (o->save_interval < 0 || o->keep_last < 0)
        return err_set(err, "--save-interval and --keep-last must not be negative");
    if ((o->save_interval > 0 || o->keep_last > 0 || o->no_save_optim) && !o->save)
        return err_set(err, "--save-interval, --keep-last and --no-save-optim need --save DIR");
    if ((o->finetune || o->no_load_optim || o->no_load_rng) && !o->load)
        return err_set(err, "--finetune, --no-load-optim and --no-load-rng need --load DIR");
    return 0;
}

int train_ckpt_open(train_ckpt_t *c, const train_ckpt_opts_t *o, const model_ckpt_ops_t *ops, void *cfg,
                    long long *seed, err_t *err) {
    memset(c, 0, sizeof *c);
    c->o = *o, c->ops = ops, c->cfg = cfg;
    c->sd.lock_fd = -1, c->lineage_base = -1, c->tokenizer_added_tokens = -1;
    if (!o->load) return 0;
    char iter_dir[CKPT_PATH_MAX];
    err_t why = {{0}};
    int found = ckpt_locate(o->load, iter_dir, sizeof iter_dir, &why);
    if (found < 0) {
        *err = why;
        return err_prefix(err, "--load");
    }
    if (found == 0) {
        snprintf(c->note, sizeof c->note, "--load: %s; training from scratch", why.msg);
        return 0;
    }
    if (ckpt_open(&c->rd, iter_dir, !o->finetune && !o->no_load_optim, err) != 0) return err_prefix(err, "--load");
    c->loading = 1;
    c->lineage_base = o->save && ckpt_same_root(iter_dir, o->save) ? c->rd.meta.iteration : -1;
    if (!o->positions_given && ops->adopt_positions(&c->rd.meta, cfg, err) != 0) return err_prefix(err, "--load %s", iter_dir);
    if (ops->check_config(&c->rd.meta, cfg, err) != 0) return err_prefix(err, "--load %s", iter_dir);
    if (!o->finetune) {
        c->start_iter = c->rd.meta.iteration;
        c->consumed_start = c->rd.meta.consumed_samples;
        if (!o->no_load_rng) *seed = (long long)c->rd.meta.seed;
    }
    return 0;
}

ckpt_param_t *train_ckpt_table(train_ckpt_t *c, int n, err_t *err) {
    free(c->params), free(c->offsets);
    c->n = n;
    c->params = calloc((size_t)n, sizeof *c->params);
    c->offsets = calloc((size_t)n, sizeof *c->offsets);
    if (!c->params || !c->offsets) {
        err_set(err, "out of memory for the checkpoint tables");
        return NULL;
    }
    return c->params;
}

static const char *optim_name(optim_kind_t k) { return k == OPTIM_LAMB ? "LAMB" : "Adam"; }

/* The tensors as the checkpoint holds them: a vocabulary the run's tokenizer
 * extends (within the checkpoint's padding, which the model's check_config
 * allowed) loads its stored rows, and the new rows start at 0, as from the
 * zero padding of a Megatron checkpoint. *grown: the stored vocabulary, or 0. */
static ckpt_param_t *as_stored(const train_ckpt_t *c, int64_t *grown, err_t *err) {
    ckpt_param_t *p = malloc((size_t)c->n * sizeof *p);
    if (!p) {
        err_set(err, "out of memory");
        return NULL;
    }
    memcpy(p, c->params, (size_t)c->n * sizeof *p);
    *grown = 0;
    for (int k = 0; k < c->n; k++) {
        const ckpt_entry_t *e = ckpt_find(&c->rd, CKPT_MODEL, p[k].t->name);
        if (p[k].pad_multiple > 1 && e && e->ndim == p[k].t->ndim && e->shape[0] < p[k].real_extent) {
            p[k].real_extent = e->shape[0];
            *grown = e->shape[0];
        }
    }
    return p;
}

/* the weights, position and optimizer state of the open checkpoint; the note */
static int load_open(train_ckpt_t *c, const ckpt_param_t *params, const adamw_config_t *acfg,
                     const lr_schedule_t *sched, uint64_t seed, int64_t grown, err_t *err) {
    ckpt_reader_t *rd = &c->rd;
    backend_t *be = c->base->be;
    if (ckpt_load_params(rd, be, params, c->n, err) != 0) return err_prefix(err, "--load");
    const ckpt_meta_t *meta = &rd->meta;
    const char *optim = "not loaded (--finetune)";
    if (!c->o.finetune) {
        optim = "not loaded (--no-load-optim)";
        if (!c->o.no_load_optim && !meta->has_optimizer) optim = "not in the checkpoint: Adam starts afresh";
        if (!c->o.no_load_optim && meta->has_optimizer) {
            if (meta->adam.kind != acfg->kind)
                return err_set(err, "--load %s: the checkpoint's moments are %s's, this run uses %s (add --no-load-optim)",
                               rd->dir, optim_name(meta->adam.kind), optim_name(acfg->kind));
            ckpt_optim_state_t st;
            dist_optim_state(&c->base->opt, &st.exp_avg, &st.exp_avg_sq, &st.lo, &st.hi);
            st.offset = c->offsets;
            if (ckpt_load_optim(rd, be, params, c->n, &st, err) != 0) return err_prefix(err, "--load");
            dist_optim_set_step(&c->base->opt, st.step);
            optim = "loaded";
        }
        /* the position in the schedule and, when this run scales its loss the same
         * way, the dynamic scaler where it stood */
        train_base_t *b = c->base;
        b->skipped = meta->skipped_iterations;
        if (b->has_scaler && b->scaler.dynamic && strcmp(meta->precision, "fp16") == 0) {
            b->scaler.scale = (float)meta->loss_scale;
            b->scaler.growth_tracker = (int)meta->growth_tracker;
            b->scaler.hysteresis_tracker = (int)meta->hysteresis_tracker;
        }
    }
    size_t len = sizeof c->note;
    int n = snprintf(c->note, len,
                     "loaded checkpoint %s: iteration %lld, %lld consumed samples, saved at (TP, DP) = (%d, %d)%s; "
                     "optimizer state %s; seed %llu",
                     rd->dir, (long long)meta->iteration, (long long)meta->consumed_samples, meta->tp_size,
                     meta->dp_size, meta->zero1 ? " with ZeRO-1" : "", optim, (unsigned long long)seed);
    if (n > 0 && (size_t)n < len && meta->origin[0])
        n += snprintf(c->note + n, len - (size_t)n, "\norigin of the weights: %s", meta->origin);
    for (int k = 0; k < c->n && grown > 0 && n > 0 && (size_t)n < len; k++)
        if (params[k].real_extent == grown && c->params[k].real_extent > grown) {
            n += snprintf(c->note + n, len - (size_t)n,
                          "\nnote: the checkpoint's vocabulary has %lld tokens, this run's tokenizer %lld: the %lld new "
                          "rows of the embedding and output bias start at 0",
                          (long long)grown, (long long)c->params[k].real_extent, (long long)(c->params[k].real_extent - grown));
            break;
        }
    const lr_schedule_t *a = &meta->schedule, *b = sched;
    if (!c->o.finetune && n > 0 && (size_t)n < len &&
        (a->lr != b->lr || a->min_lr != b->min_lr || a->warmup_iters != b->warmup_iters ||
         a->decay_iters != b->decay_iters || a->style != b->style))
        snprintf(c->note + n, len - (size_t)n,
                 "\nnote: the checkpoint's learning-rate schedule (%s, lr %g..%g, warmup %lld, decay %lld) differs "
                 "from this run's; using this run's",
                 lr_decay_style_name(a->style), (double)a->lr, (double)a->min_lr, (long long)a->warmup_iters,
                 (long long)a->decay_iters);
    return 0;
}

int train_ckpt_load(train_ckpt_t *c, train_base_t *base, const float *block, const lr_schedule_t *sched,
                    const adamw_config_t *acfg, uint64_t seed, err_t *err) {
    c->base = base;
    model_ckpt_offsets(c->params, c->n, block, c->offsets);
    ckpt_meta_init(&c->meta);
    snprintf(c->meta.megac_version, sizeof c->meta.megac_version, "%s", MEGAC_VERSION);
    if (c->ops->put_config(&c->meta, c->cfg, err) != 0) return -1;
    c->meta.adam = *acfg;
    c->meta.schedule = *sched;
    c->meta.seed = seed;
    c->meta.tokenizer_added_tokens = c->tokenizer_added_tokens;
    if (c->o.save && ckpt_savedir_open(&c->sd, c->o.save, base->grid.world, c->lineage_base, c->o.keep_last, err) != 0)
        return -1;
    if (!c->loading) return 0;
    int64_t grown;
    ckpt_param_t *stored = as_stored(c, &grown, err);
    int rc = stored ? load_open(c, stored, acfg, sched, seed, grown, err) : -1;
    free(stored);
    ckpt_close(&c->rd);
    c->loading = 0;
    dist_optim_sync_master(&base->opt); /* the loaded weights become the fp32 masters (mixed precision) */
    return rc;
}

int train_ckpt_save(train_ckpt_t *c, int64_t it, int64_t consumed, err_t *err) {
    grid_t *g = &c->base->grid;
    dist_optim_t *opt = &c->base->opt;
    ckpt_meta_t meta = c->meta;
    meta.iteration = it;
    meta.consumed_samples = consumed;
    train_base_t *b = c->base;
    snprintf(meta.precision, sizeof meta.precision, "%s", precision_name(b->precision));
    meta.skipped_iterations = b->skipped;
    if (b->has_scaler) {
        meta.loss_scale = b->scaler.scale;
        meta.growth_tracker = b->scaler.growth_tracker, meta.hysteresis_tracker = b->scaler.hysteresis_tracker;
    }
    ckpt_layout_t lay = {g->world, g->tp_rank, g->tp_size, g->dp_rank, g->dp_size, opt->zero1};
    ckpt_optim_state_t st;
    dist_optim_state(opt, &st.exp_avg, &st.exp_avg_sq, &st.lo, &st.hi);
    st.offset = c->offsets;
    st.step = dist_optim_get_step(opt);
    if (g->world_rank == 0) {
        printf("saving checkpoint at iteration %7lld to %s\n", (long long)it, c->o.save);
        fflush(stdout);
    }
    ckpt_save_stats_t stats;
    /* the weights saved are the fp32 masters; the rounded model weights come back after */
    if (dist_optim_expose_master(opt, err) != 0) return err_prefix(err, "--save %s", c->o.save);
    int rc = ckpt_savedir_save(&c->sd, &meta, &lay, c->base->be, c->params, c->n, c->o.no_save_optim ? NULL : &st,
                               &stats, err);
    dist_optim_sync_master(opt);
    if (rc != 0) return err_prefix(err, "--save %s", c->o.save);
    if (g->world_rank == 0) {
        printf("  successfully saved checkpoint at iteration %7lld to %s (%.1f MB in %.3f s, %.2f GB/s)\n",
               (long long)it, stats.dir, stats.total_bytes / 1e6, stats.seconds,
               stats.seconds > 0 ? stats.total_bytes / 1e9 / stats.seconds : 0.0);
        fflush(stdout);
    }
    return 0;
}

void train_ckpt_free(train_ckpt_t *c) {
    if (c->loading) ckpt_close(&c->rd);
    if (c->sd.root[0]) ckpt_savedir_close(&c->sd);
    free(c->params), free(c->offsets);
    c->loading = 0, c->params = NULL, c->offsets = NULL;
}
