/* model_checkpoint.h — the models' side of megac checkpoints (checkpoints/ knows
 * no model). For GPT and BERT: the parameters as checkpoint tensors (the padding
 * rows of the vocabulary are not stored, so any TP size re-pads), the
 * configuration in the metadata record (model type "gpt" or "bert" and every
 * configuration field), and the checks a loader makes against the model it
 * builds. Code that serves every model (the training wiring, megac ckpt) goes
 * through model_ckpt_ops_t, chosen by the metadata's model type. */
#ifndef MEGAC_MODEL_CHECKPOINT_H
#define MEGAC_MODEL_CHECKPOINT_H

#include "../checkpoints/checkpoint.h"
#include "bert.h"
#include "gpt.h"

/* params[k] for tensor ts[k] of parameter list pl: a tensor with valid_rows
 * (the vocabulary) is stored without its padding rows, which a loader re-pads to
 * a multiple of pad_multiple x TP. */
void model_ckpt_params(const tensor_t *ts, const param_list_t *pl, int64_t pad_multiple, ckpt_param_t *params);
/* offset[k]: flat element offset of params[k]'s tensor in the parameter block. */
void model_ckpt_offsets(const ckpt_param_t *params, int n, const float *block, size_t *offset);

/* GPT: params[k] for each of the model's m->store.n tensors; meta's model
 * type and configuration; the configuration a checkpoint stores (checked by
 * gpt_config_validate at TP 1); and that the checkpoint's model has cfg's
 * architecture (layers, sizes, heads, FFN, vocabulary, positions, LayerNorm
 * epsilon), the message naming the flag. */
void gpt_ckpt_params(const gpt_model_t *m, ckpt_param_t *params);
int gpt_ckpt_put_config(ckpt_meta_t *meta, const gpt_config_t *cfg, err_t *err);
int gpt_ckpt_get_config(const ckpt_meta_t *meta, gpt_config_t *cfg, err_t *err);
int gpt_ckpt_check_config(const ckpt_meta_t *meta, const gpt_config_t *cfg, err_t *err);

/* BERT, the same; its architecture adds the token types, the LayerNorm order
 * and the sentence head. The MLM output bias is vocabulary-padded like the word
 * embedding. The run's vocabulary may extend the checkpoint's within its padding
 * (the tokenizer's added [BOS]/[EOS]; train_checkpoint.h). */
void bert_ckpt_params(const bert_model_t *m, ckpt_param_t *params);
int bert_ckpt_put_config(ckpt_meta_t *meta, const bert_config_t *cfg, err_t *err);
int bert_ckpt_get_config(const ckpt_meta_t *meta, bert_config_t *cfg, err_t *err);
int bert_ckpt_check_config(const ckpt_meta_t *meta, const bert_config_t *cfg, err_t *err);

/* One model's checkpoint functions, for code that serves every model; cfg is a
 * gpt_config_t or a bert_config_t. */
typedef struct model_ckpt_ops {
    const char *type; /* the metadata's model type, and the command: megac train <type> */
    int (*put_config)(ckpt_meta_t *meta, const void *cfg, err_t *err);
    int (*check_config)(const ckpt_meta_t *meta, const void *cfg, err_t *err);
    /* one line: the stored model's architecture */
    int (*describe)(const ckpt_meta_t *meta, char *buf, size_t len, err_t *err);
    /* the stored configuration is valid and splits over tp ranks */
    int (*validate)(const ckpt_meta_t *meta, int tp, err_t *err);
    /* cfg takes the stored model's position table (a run that did not set
     * --max-position-embeddings continues the checkpoint's, e.g. an imported
     * GPT-2's 1024, whatever its --seq-length) */
    int (*adopt_positions)(const ckpt_meta_t *meta, void *cfg, err_t *err);
} model_ckpt_ops_t;

extern const model_ckpt_ops_t model_ckpt_gpt, model_ckpt_bert;

/* The functions for meta's model type; NULL with a message when megac knows no such model. */
const model_ckpt_ops_t *model_ckpt_ops(const ckpt_meta_t *meta, err_t *err);

/* What a loader checks of an open checkpoint before it builds the model: a
 * model type megac knows, a configuration that validates (model_sizes.h) at
 * the stored TP size, and stored model tensors holding exactly the parameters
 * that configuration has (vocabulary padding excluded). `ckpt verify` and
 * `ckpt reshard` run it, so they refuse what train/generate would. */
int model_ckpt_check_reader(const ckpt_reader_t *r, err_t *err);

#endif
