/* bert_infer.h — BERT inference on text: sentence embeddings (`megac encode`) and
 * masked-token prediction (`megac fill-mask`) over a loaded bert_model_t.
 *
 * Each text becomes [CLS] WordPiece-tokens [SEP] (the literal "[MASK]" in a text
 * is the mask token), truncated to max_len tokens with [SEP] kept. Texts run in
 * batches, each padded to its longest sequence; padding is masked out of
 * attention (bert_batch_t.pad_mask) and out of mean pooling. Pooling as
 * sentence-transformers does it: the [CLS] row, or the mean of the real tokens'
 * rows (sum(h * mask) / max(sum(mask), 1e-9)), optionally divided by its L2
 * norm (max(||x||, 1e-12)), as all-MiniLM-L6-v2's Normalize module does. */
#ifndef MEGAC_BERT_INFER_H
#define MEGAC_BERT_INFER_H

#include <stddef.h>
#include <stdint.h>

#include "../data/buffers.h"
#include "../data/wordpiece.h"
#include "../framework/error.h"
#include "../models/bert.h"

typedef enum bert_pool { BERT_POOL_CLS, BERT_POOL_MEAN } bert_pool_t;

/* "cls" or "mean"; the message names --pooling */
int bert_pool_parse(const char *name, bert_pool_t *out, err_t *err);

/* The special tokens' ids in the vocabulary ([CLS], [SEP], [PAD], [MASK]). */
typedef struct bert_infer_vocab {
    const wordpiece_t *wp;
    int cls, sep, pad, mask;
} bert_infer_vocab_t;
/* Fails naming the missing token when vocab.txt lacks one. */
int bert_infer_vocab(bert_infer_vocab_t *v, const wordpiece_t *wp, err_t *err);

/* Replaces out with [CLS] tokens(text) [SEP], "[MASK]" as the mask id, at most
 * max_len (>= 2) ids. */
int bert_infer_tokenize(const bert_infer_vocab_t *v, const char *text, size_t len, int max_len, tok_buf_t *out,
                        err_t *err);

/* n sequences padded to the longest: tokens/types/pad_mask [B*T] (types 0). */
typedef struct bert_infer_batch {
    int B, T;
    int *tokens, *types;
    float *mask;
} bert_infer_batch_t;
int bert_infer_pack(const tok_buf_t *seqs, int n, int pad_id, bert_infer_batch_t *b, err_t *err);
void bert_infer_batch_free(bert_infer_batch_t *b);

/* Pools hidden [B, T, C] into out [B, C]. */
void bert_infer_pool(const float *hidden, const float *mask, int B, int T, int C, bert_pool_t mode, int normalize,
                     float *out);

/* The encoder on a packed batch (B, T within the model's buffers), pooled into
 * out [B, C]; hidden: scratch of B*T*C floats. */
int bert_infer_encode(bert_model_t *m, const bert_infer_batch_t *b, bert_pool_t mode, int normalize, float *hidden,
                      float *out, err_t *err);

/* The masked-LM head's logits at each mask-id position of the batch (row-major
 * order): *n_masks positions into pos [.. <= B*T] (flat b*T + t) and logits
 * [n_masks, V_local]. The model needs max_predictions_per_seq >= T and TP 1. */
int bert_infer_mask_logits(bert_model_t *m, const bert_infer_batch_t *b, int mask_id, int *pos, int *n_masks,
                           float *logits, err_t *err);

/* The k largest of logits[0..V) (k <= V), in decreasing order, with their
 * softmax probabilities over all V. */
void bert_infer_topk(const float *logits, int V, int k, int *ids, float *probs);

/* Writes a float32 [rows, cols] array as a NumPy .npy file (version 1.0). */
int infer_write_npy(const char *path, const float *data, int64_t rows, int64_t cols, err_t *err);

#endif
