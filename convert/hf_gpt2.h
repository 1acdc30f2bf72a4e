/* hf_gpt2.h — Hugging Face GPT-2 weights <-> megac checkpoints.
 *
 * Hugging Face's GPT-2 (GPT2Model / GPT2LMHeadModel, model.safetensors +
 * config.json) names its tensors wte, wpe, h.N.{ln_1, attn.c_attn, attn.c_proj,
 * ln_2, mlp.c_fc, mlp.c_proj}, ln_f, optionally under "transformer.", and stores
 * its linear layers as Conv1D: weight [in, out], y = x W + b. megac (Megatron)
 * stores Linear weights [out, in] and its fused QKV rows per head as [q k v]
 * (head h: rows h*3*HS ...), where c_attn's columns are [all q | all k | all v].
 * The conversion transposes and regroups both ways, exactly (no arithmetic), so
 * import -> export reproduces every tensor bit for bit. The LM head is tied to
 * wte (an lm_head.weight is accepted when it equals wte); the attention-mask
 * buffers (attn.bias, attn.masked_bias) some files carry are skipped.
 *
 * Both directions stream one tensor at a time (memory: about twice the largest
 * tensor). BERT's names come with the BERT model. */
#ifndef MEGAC_HF_GPT2_H
#define MEGAC_HF_GPT2_H

#include "../framework/error.h"
#include "../framework/progress.h"

/* in: a .safetensors file, or a directory holding model.safetensors; config.json
 * next to it supplies n_head (or heads > 0), layer_norm_epsilon and the dropouts.
 * Writes a TP=1 checkpoint of iteration 0 (no optimizer state) under out_root.
 * A NaN or Inf weight is refused, naming the tensor, unless allow_nonfinite.
 * pg (or NULL: none; started by the caller, total unknown): its total set to the
 * tensors and updated after each one. */
int hf_gpt2_import(const char *in, const char *out_root, int heads, int allow_nonfinite, const char *megac_version,
                   progress_t *pg, err_t *err);

/* ckpt: a checkpoint root or iteration directory (any layout). Writes
 * out_dir/model.safetensors and out_dir/config.json; pg as for import. */
int hf_gpt2_export(const char *ckpt, const char *out_dir, progress_t *pg, err_t *err);

#endif
