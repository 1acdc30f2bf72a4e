/* ckpt_meta.h — the metadata record of a megac checkpoint and its JSON form.
 *
 * Every HDF5 file of a checkpoint carries the same record as a JSON string in
 * its root attribute `metadata`, with the CRC32C of those bytes in
 * `metadata_crc32c` (attributes cannot carry HDF5's Fletcher32 filter). It holds
 * what a run needs to continue exactly and what a loader needs to find and
 * check the files:
 *
 *   format, format_version, megac_version
 *   iteration, consumed_train_samples
 *   model:        {"type": "gpt", <every gpt_config_t field>}
 *   parallel:     tensor/pipeline/data-parallel sizes, world size, ZeRO-1
 *   optimizer:    {"type": "adamw" | "lamb", "has_state", "step", betas, eps, weight decay}
 *   lr_scheduler: max/min lr, warmup and decay iterations, decay style, num_steps
 *   loss_scaler:  the training precision (fp32 | bf16 | fp16), the loss scale and
 *                 Megatron's dynamic scaler trackers, and the iterations skipped on
 *                 overflow (the schedule's num_steps = iteration - skipped); fp32 and
 *                 bf16 runs write scale 1
 *   rng:          megac's generator is counter-based (Philox of seed, purpose, rank,
 *                 step), so its whole state is the seed and the iteration
 *   data:         consumed_train_samples (the sampler's position) and the seed
 *   origin:       optional: where the weights came from when no megac run trained
 *                 them (megac ckpt import-hf: the file, and which tensors megac
 *                 initialized because the file lacks them)
 *   tokenizer_added_tokens: optional: how many tokens at the end of the model's
 *                 vocabulary the training tokenizer appended to its vocabulary
 *                 file (megac's WordPiece adds [BOS] and [EOS] to a BERT
 *                 vocab.txt: 2); 0 for import-hf. Export to Hugging Face drops
 *                 those rows. Absent in older checkpoints (-1 here: unknown)
 *
 * The model configuration travels as "key=value" lines (gpt_config_to_text: a
 * "model=NAME" line, then numbers), so this file does not depend on models/. */
#ifndef MEGAC_CKPT_META_H
#define MEGAC_CKPT_META_H

#include <stddef.h>
#include <stdint.h>

#include "../framework/crc32c.h" /* crc32c() of the record */
#include "../framework/error.h"
#include "../framework/optim.h"

#define CKPT_FORMAT_NAME "megac-checkpoint"
#define CKPT_FORMAT_VERSION 1

typedef struct ckpt_meta {
    int format_version;
    char megac_version[32];
    int64_t iteration;
    int64_t consumed_samples;
    char model_type[16];
    char model_config[2048];  /* "model=NAME\n" then "key=value\n" lines */
    int tp_size, pp_size, dp_size, world_size;
    int zero1;                /* optimizer state sharded over data-parallel ranks */
    int has_optimizer;        /* whether the files hold Adam moments */
    int64_t optimizer_step;
    adamw_config_t adam;
    lr_schedule_t schedule;
    double loss_scale;
    char precision[8];        /* "fp32" | "bf16" | "fp16" */
    int64_t growth_tracker, hysteresis_tracker; /* the dynamic loss scaler's */
    int64_t skipped_iterations;                 /* steps skipped on fp16 overflow */
    uint64_t seed;
    char origin[512];         /* "" when absent */
    int tokenizer_added_tokens; /* -1 when absent (unknown) */
} ckpt_meta_t;

/* Format version, fp32, loss scale 1, one rank, tokenizer_added_tokens -1
 * (unknown); everything else zero. */
void ckpt_meta_init(ckpt_meta_t *m);

/* The JSON text (malloc'ed, caller frees). */
int ckpt_meta_to_json(const ckpt_meta_t *m, char **json, err_t *err);
/* Parses and checks len bytes of JSON (no NUL needed); messages name the field. */
int ckpt_meta_from_json(const char *json, size_t len, ckpt_meta_t *m, err_t *err);

/* The double nearest the shortest decimal that reads back as f, so a float
 * field prints as 0.003 rather than 0.0030000000260770321 (JSON writers). */
double ckpt_json_float(float f);

#endif
