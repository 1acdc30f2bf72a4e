/* hf_bert.h — Hugging Face BERT (BertModel / BertForPreTraining .safetensors,
 * post-LN) into a megac BERT model: config.json to bert_config_t, and the
 * weights with Q, K and V fused per head into megac's [q k v] QKV rows. */
#ifndef MEGAC_HF_BERT_H
#define MEGAC_HF_BERT_H

#include "../framework/error.h"
#include "../models/bert.h"

/* Reads HF's config.json (hidden_size, num_hidden_layers, ...) into c. */
int hf_bert_config(const char *config_json, bert_config_t *c, err_t *err);
/* Loads model.safetensors into m (TP=1). Keys may carry the "bert." prefix; the
 * pooler and the MLM/NSP heads are loaded when present. */
int hf_bert_load(bert_model_t *m, const char *safetensors, err_t *err);

#endif
