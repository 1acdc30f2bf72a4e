/* flops.h — model FLOPs of GPT and BERT, the one formula that `megac bench` and
 * the training log line ("throughput per GPU (TFLOP/s/GPU)") divide by time.
 *
 * The same formulas as tools/bench_torch.py (tokens = B s; the attention term
 * counts the whole s x s score matrix, also for causal GPT):
 *   GPT   train 6 (P - P_pos) tokens + 12 L h s tokens   (P: every parameter, the
 *         padded vocabulary's tied embedding once, as the LM head)
 *   BERT  train 6 P_layers tokens + 12 L h s tokens + 6 M (h^2 + h V) + 6 B (h^2 + 2h)
 *         (P_layers: the encoder layers' parameters; M masked positions in the batch)
 *   forward only: 2 and 4 in place of 6 and 12, without BERT's heads. */
#ifndef MEGAC_FLOPS_H
#define MEGAC_FLOPS_H

#include "bert.h"
#include "gpt.h"

/* B sequences of T tokens; train: forward and backward, else forward only */
double gpt_model_flops(const gpt_config_t *c, double B, int T, int train);
/* M: masked positions per sequence (the MLM head, train only) */
double bert_model_flops(const bert_config_t *c, double B, int T, int M, int train);

#endif
