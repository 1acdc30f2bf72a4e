/* train_checkpoint.h — checkpoints in `megac train gpt` and `megac train bert`:
 * Megatron-LM's flags (--save, --save-interval, --load, --finetune, ...), their
 * checks, and one save/load wiring between a model's checkpoint functions
 * (model_checkpoint.h), the (distributed) optimizer and checkpoints/.
 *
 * A run calls, in order:
 *   train_ckpt_open   with --load: find the checkpoint, check its model against
 *                     the run's before anything large is allocated, take its
 *                     seed, iteration and consumed samples;
 *   train_ckpt_table  once the model exists: a table the model's
 *                     <model>_ckpt_params fills;
 *   train_ckpt_load   once the optimizer and the precision exist (the training
 *                     job, job.h, creates them): the checkpoint's weights and
 *                     optimizer state (with --load), and the record every save
 *                     starts from;
 *   train_ckpt_save   from the trainer's save hook, on every rank;
 *   train_ckpt_free. */
#ifndef MEGAC_TRAIN_CHECKPOINT_H
#define MEGAC_TRAIN_CHECKPOINT_H

#include "../checkpoints/checkpoint.h"
#include "../models/model_checkpoint.h"
#include "train_common.h"

typedef struct train_ckpt_opts {
    const char *save, *load;
    long long save_interval;
    int keep_last, no_save_optim, no_load_optim, no_load_rng, finetune;
    int positions_given;          /* --max-position-embeddings was given (else --load's is taken) */
} train_ckpt_opts_t;

#define TRAIN_CKPT_SPECS 8

/* Writes the TRAIN_CKPT_SPECS flag specs into out. */
void train_ckpt_specs(train_ckpt_opts_t *o, arg_spec_t *out);
int train_ckpt_check(const train_ckpt_opts_t *o, err_t *err);

typedef struct train_ckpt {
    train_ckpt_opts_t o;
    const model_ckpt_ops_t *ops;
    const void *cfg;              /* the run's model configuration */
    ckpt_reader_t rd;
    int loading;                  /* rd is open: --load found a checkpoint */
    int64_t start_iter, consumed_start; /* where the checkpoint left off (0 without one, or --finetune) */
    /* from train_ckpt_load */
    train_base_t *base;
    ckpt_param_t *params;         /* the model's tensors as checkpoint tensors */
    size_t *offsets;              /* their offsets in the flat parameter block */
    int n;
    ckpt_meta_t meta;             /* what every save writes but the position */
    int tokenizer_added_tokens;   /* for meta: set by the task before train_ckpt_load; -1 unknown */
    ckpt_savedir_t sd;            /* with --save: the directory's lock and pruning lineage */
    int64_t lineage_base;         /* the loaded iteration when it lies in --save, else -1 */
    char note[1280];              /* what --load did, for rank 0 to print ("" when no --load) */
} train_ckpt_t;

/* Before the model exists (every rank). With --load of a checkpoint: opens it,
 * checks its model (ops->check_config against cfg) and, unless --finetune or
 * --no-load-rng, replaces *seed by the checkpoint's; without --max-position-embeddings
 * the run takes the checkpoint's position table. A --load directory without a
 * checkpoint trains from scratch (the note says so). cfg must outlive c. */
int train_ckpt_open(train_ckpt_t *c, const train_ckpt_opts_t *o, const model_ckpt_ops_t *ops, void *cfg,
                    long long *seed, err_t *err);
/* A zeroed table of n parameters for the model's <model>_ckpt_params. */
ckpt_param_t *train_ckpt_table(train_ckpt_t *c, int n, err_t *err);
/* After the table is filled: the weights, the Adam/LAMB moments (re-split for
 * this layout) and the optimizer step from the checkpoint, unless --finetune /
 * --no-load-optim; closes the checkpoint. block: the model's parameter block.
 * A vocabulary the run extends within the checkpoint's padding (only a model's
 * check_config allows that) gets zero rows and zero moments for its new tokens. */
int train_ckpt_load(train_ckpt_t *c, train_base_t *base, const float *block, const lr_schedule_t *sched,
                    const adamw_config_t *acfg, uint64_t seed, err_t *err);
/* Collective: saves iteration `it` with `consumed` samples under --save. */
int train_ckpt_save(train_ckpt_t *c, int64_t it, int64_t consumed, err_t *err);
void train_ckpt_free(train_ckpt_t *c);

#endif
