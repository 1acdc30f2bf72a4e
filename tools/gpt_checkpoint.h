/* gpt_checkpoint.h — the GPT model's side of megac checkpoints: its parameters as
 * checkpoint tensors (the padding rows of the vocabulary are not stored, so any
 * TP size re-pads), its configuration in the metadata record, and the checks a
 * loader makes against the model it builds. */
#ifndef MEGAC_GPT_CHECKPOINT_H
#define MEGAC_GPT_CHECKPOINT_H

#include "../models/gpt.h"
#include "../checkpoints/checkpoint.h"

/* params[k] for each of the model's m->num_params tensors. */
void gpt_ckpt_params(const gpt_model_t *m, ckpt_param_t *params);
/* offset[k]: flat element offset of tensor k in the model's parameter block. */
void gpt_ckpt_offsets(const gpt_model_t *m, size_t *offset);

/* Sets meta's model type and configuration. */
int gpt_ckpt_put_config(ckpt_meta_t *meta, const gpt_config_t *cfg, err_t *err);
/* The configuration a checkpoint stores (checked by gpt_config_validate at TP 1). */
int gpt_ckpt_get_config(const ckpt_meta_t *meta, gpt_config_t *cfg, err_t *err);
/* The checkpoint's model has cfg's architecture (layers, sizes, heads, FFN,
 * vocabulary, positions, LayerNorm epsilon); the message names the flag. */
int gpt_ckpt_check_config(const ckpt_meta_t *meta, const gpt_config_t *cfg, err_t *err);

#endif
