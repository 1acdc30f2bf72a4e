/* megatron.h — megac checkpoints <-> the interchange directory of the Megatron-LM
 * converter (convert/megatron_ckpt.py, which reads and writes Megatron's PyTorch
 * files; megac itself keeps no Python dependency).
 *
 * The interchange directory holds tensors.safetensors (float32, megac's names:
 * model/<name>, optimizer/exp_avg/<name>, optimizer/exp_avg_sq/<name>; global
 * shapes, the vocabulary unpadded) and config.json ({"model_type": "gpt" | "bert",
 * "model_config": "model=gpt\n<key=value lines>", "iteration": N,
 * "optimizer_step": S or null, "origin": "...", "notes": [...]}). Both
 * directions copy every tensor bit for bit. */
#ifndef MEGAC_CONVERT_MEGATRON_H
#define MEGAC_CONVERT_MEGATRON_H

#include <stddef.h>

#include "../framework/error.h"

/* The interchange directory dir -> a TP=1 megac checkpoint under out_root (its
 * iteration; the Adam moments and step when dir holds them). summary: one line. */
int megatron_import_interchange(const char *dir, const char *out_root, const char *megac_version, char *summary,
                                size_t len, err_t *err);

/* A megac checkpoint (root or iteration directory, any layout) -> the
 * interchange directory dir (created), with the Adam moments when it has them. */
int megatron_export_interchange(const char *ckpt, const char *dir, err_t *err);

#endif
