/* hf_bert.h — Hugging Face BERT <-> megac.
 *
 * Hugging Face's BERT (BertModel, BertForPreTraining, BertForMaskedLM:
 * model.safetensors + config.json) is post-LN. Its encoder tensors, under
 * "bert." in the models with heads, are embeddings.{word,position,token_type}_
 * embeddings, embeddings.LayerNorm, encoder.layer.N.attention.self.{query,key,
 * value}, .attention.output.{dense,LayerNorm}, .intermediate.dense,
 * .output.{dense,LayerNorm}, and pooler.dense; the heads are
 * cls.predictions.{transform.dense, transform.LayerNorm, bias} (the decoder is
 * tied to the word embeddings) and cls.seq_relationship. Linear weights are
 * [out, in] as in megac; Q, K and V fuse into megac's QKV rows grouped per head
 * as [q k v]. Conversions move floats without arithmetic, so an F32 file
 * imported and exported again is identical bit for bit. */
#ifndef MEGAC_HF_BERT_H
#define MEGAC_HF_BERT_H

#include <stddef.h>
#include <stdint.h>

#include "../framework/error.h"
#include "../framework/progress.h"
#include "../models/bert.h"

/* Which parts besides the encoder a file held (the rest keep their megac initialization). */
typedef struct hf_bert_found {
    int pooler, mlm_head, sentence_head;
} hf_bert_found_t;

/* Reads HF's config.json (hidden_size, num_hidden_layers, ...) into c: post-LN,
 * with a sentence head, sequence = max_position_embeddings. */
int hf_bert_config(const char *config_json, bert_config_t *c, err_t *err);

/* Loads a .safetensors file into m (TP = 1, post-LN, built from the file's
 * config). The encoder must be complete; the pooler and each head are loaded
 * when the file has them (all of their tensors, or none), and *found (may be
 * NULL) says which. A tensor megac does not know, a shape that differs, or a
 * decoder not tied to the embeddings is an error naming the tensor. */
int hf_bert_load(bert_model_t *m, const char *safetensors, hf_bert_found_t *found, err_t *err);

/* in: a .safetensors file or a directory holding model.safetensors, with
 * config.json next to it. Writes a TP = 1 checkpoint of iteration 0 without
 * optimizer state under out_root; what the file lacks is initialized as megac
 * initializes it with `seed`, and the metadata's origin says so. summary: one
 * line on what was imported. A NaN or Inf weight is refused, naming the tensor,
 * unless allow_nonfinite.
 * pg (or NULL: none; started by the caller, total unknown): its total set to the
 * tensors and updated after each one. */
int hf_bert_import(const char *in, const char *out_root, uint64_t seed, int allow_nonfinite, const char *megac_version,
                   char *summary, size_t summary_len, progress_t *pg, err_t *err);

/* ckpt: a BERT checkpoint root or iteration directory (any layout, post-LN).
 * Writes out_dir/model.safetensors (BertForPreTraining's names, or
 * BertForMaskedLM's without a sentence head) and out_dir/config.json; pg as for import. */
int hf_bert_export(const char *ckpt, const char *out_dir, progress_t *pg, err_t *err);

/* Whether in (as for hf_bert_import) holds a BERT: its word embeddings under
 * BERT's name. 0 when not, or when it cannot be read (the GPT-2 path reports that). */
int hf_bert_detect(const char *in);

#endif
