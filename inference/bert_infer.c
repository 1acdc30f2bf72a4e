/* bert_infer.c — BERT sentence embeddings and masked-token prediction (see bert_infer.h). */
#include "bert_infer.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int bert_pool_parse(const char *name, bert_pool_t *out, err_t *err) {
    if (strcmp(name, "cls") == 0) *out = BERT_POOL_CLS;
    else if (strcmp(name, "mean") == 0) *out = BERT_POOL_MEAN;
    else return err_set(err, "--pooling: '%s' is not cls or mean", name);
    return 0;
}

int bert_infer_vocab(bert_infer_vocab_t *v, const wordpiece_t *wp, err_t *err) {
    const char *names[4] = {"[CLS]", "[SEP]", "[PAD]", "[MASK]"};
    int *ids[4] = {&v->cls, &v->sep, &v->pad, &v->mask};
    v->wp = wp;
    for (int i = 0; i < 4; i++)
        if ((*ids[i] = wordpiece_token_id(wp, names[i])) < 0)
            return err_set(err, "the vocabulary has no %s token", names[i]);
    return 0;
}

static int push(tok_buf_t *b, int32_t id, err_t *err) {
    if (b->n == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 64;
        int32_t *v = realloc(b->v, cap * sizeof *v);
        if (!v) return err_set(err, "out of memory tokenizing");
        b->v = v, b->cap = cap;
    }
    b->v[b->n++] = id;
    return 0;
}

int bert_infer_tokenize(const bert_infer_vocab_t *v, const char *text, size_t len, int max_len, tok_buf_t *out,
                        err_t *err) {
    static const char MASK[] = "[MASK]";
    const size_t mn = sizeof MASK - 1;
    out->n = 0;
    if (max_len < 2) return err_set(err, "the maximum sequence length %d leaves no room for [CLS] and [SEP]", max_len);
    if (push(out, v->cls, err) != 0) return -1;
    size_t start = 0;
    for (;;) {
        size_t at = start;
        while (at + mn <= len && memcmp(text + at, MASK, mn) != 0) at++;
        int found = at + mn <= len;
        size_t end = found ? at : len;
        if (end > start && wordpiece_encode(v->wp, text + start, end - start, out, err) != 0) return -1;
        if (!found) break;
        if (push(out, v->mask, err) != 0) return -1;
        start = at + mn;
    }
    if (out->n > (size_t)max_len - 1) out->n = (size_t)max_len - 1;
    return push(out, v->sep, err);
}

void bert_infer_batch_free(bert_infer_batch_t *b) {
    free(b->tokens), free(b->types), free(b->mask);
    memset(b, 0, sizeof *b);
}

int bert_infer_pack(const tok_buf_t *seqs, int n, int pad_id, bert_infer_batch_t *b, err_t *err) {
    memset(b, 0, sizeof *b);
    int T = 2;
    for (int i = 0; i < n; i++) T = seqs[i].n > (size_t)T ? (int)seqs[i].n : T;
    size_t N = (size_t)n * T;
    b->B = n, b->T = T;
    b->tokens = malloc(N * sizeof(int)), b->types = calloc(N, sizeof(int)), b->mask = malloc(N * sizeof(float));
    if (!b->tokens || !b->types || !b->mask) {
        bert_infer_batch_free(b);
        return err_set(err, "out of memory for a batch of %d x %d", n, T);
    }
    for (int i = 0; i < n; i++)
        for (int t = 0; t < T; t++) {
            int real = (size_t)t < seqs[i].n;
            b->tokens[(size_t)i * T + t] = real ? seqs[i].v[t] : pad_id;
            b->mask[(size_t)i * T + t] = real ? 1.0f : 0.0f;
        }
    return 0;
}

void bert_infer_pool(const float *hidden, const float *mask, int B, int T, int C, bert_pool_t mode, int normalize,
                     float *out) {
    for (int b = 0; b < B; b++) {
        float *o = out + (size_t)b * C;
        const float *h = hidden + (size_t)b * T * C;
        if (mode == BERT_POOL_CLS) {
            memcpy(o, h, sizeof(float) * C);
        } else {
            double count = 0.0;
            for (int t = 0; t < T; t++) count += mask[(size_t)b * T + t];
            for (int c = 0; c < C; c++) {
                double s = 0.0;
                for (int t = 0; t < T; t++) s += (double)h[(size_t)t * C + c] * mask[(size_t)b * T + t];
                o[c] = (float)(s / (count > 1e-9 ? count : 1e-9));
            }
        }
        if (normalize) {
            double ss = 0.0;
            for (int c = 0; c < C; c++) ss += (double)o[c] * o[c];
            double norm = sqrt(ss);
            norm = norm > 1e-12 ? norm : 1e-12;
            for (int c = 0; c < C; c++) o[c] = (float)(o[c] / norm);
        }
    }
}

int bert_infer_encode(bert_model_t *m, const bert_infer_batch_t *b, bert_pool_t mode, int normalize, float *hidden,
                      float *out, err_t *err) {
    bert_batch_t bb = {b->B, b->T, b->tokens, b->types, b->mask, 0, NULL, NULL, NULL};
    bert_result_t r;
    if (bert_forward(m, &bb, 0, 0, &r, err) != 0) return -1;
    bert_hidden_states(m, hidden);
    bert_infer_pool(hidden, b->mask, b->B, b->T, m->C, mode, normalize, out);
    return 0;
}

int bert_infer_mask_logits(bert_model_t *m, const bert_infer_batch_t *b, int mask_id, int *pos, int *n_masks,
                           float *logits, err_t *err) {
    int n = 0, N = b->B * b->T;
    for (int i = 0; i < N; i++)
        if (b->tokens[i] == mask_id && b->mask[i] > 0) pos[n++] = i;
    *n_masks = n;
    if (n == 0) return 0;
    if (m->tp_size != 1) return err_set(err, "fill-mask runs at tensor-parallel size 1");
    int *labels = calloc((size_t)n, sizeof(int)); /* any valid id: the loss is not used */
    if (!labels) return err_set(err, "out of memory");
    bert_batch_t bb = {b->B, b->T, b->tokens, b->types, b->mask, n, pos, labels, NULL};
    bert_result_t r;
    int rc = bert_forward(m, &bb, 0, 0, &r, err);
    free(labels);
    if (rc != 0) return -1;
    bert_mlm_logits(m, logits);
    return 0;
}

void bert_infer_topk(const float *logits, int V, int k, int *ids, float *probs) {
    float mx = -INFINITY;
    for (int i = 0; i < V; i++) mx = logits[i] > mx ? logits[i] : mx;
    double sum = 0.0;
    for (int i = 0; i < V; i++) sum += exp((double)logits[i] - mx);
    for (int j = 0; j < k; j++) {
        int best = -1;
        for (int i = 0; i < V; i++) {
            int taken = 0;
            for (int q = 0; q < j && !taken; q++) taken = ids[q] == i;
            if (!taken && (best < 0 || logits[i] > logits[best])) best = i;
        }
        ids[j] = best;
        probs[j] = (float)(exp((double)logits[best] - mx) / sum);
    }
}

int infer_write_npy(const char *path, const float *data, int64_t rows, int64_t cols, err_t *err) {
    char hdr[128];
    int n = snprintf(hdr, sizeof hdr, "{'descr': '<f4', 'fortran_order': False, 'shape': (%lld, %lld), }",
                     (long long)rows, (long long)cols);
    /* magic (6) + version (2) + header length (2) + header, padded with spaces and
     * a newline to a multiple of 64 bytes */
    int total = (10 + n + 1 + 63) / 64 * 64;
    FILE *f = fopen(path, "wb");
    if (!f) return err_set(err, "--output %s: %s", path, strerror(errno));
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)((total - 10) & 0xff),
                             (unsigned char)((total - 10) >> 8)};
    int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(hdr, 1, (size_t)n, f) == (size_t)n;
    for (int i = 10 + n; ok && i < total - 1; i++) ok = fputc(' ', f) != EOF;
    ok = ok && fputc('\n', f) != EOF;
    /* little-endian float32 (every platform megac builds on) */
    ok = ok && fwrite(data, sizeof(float), (size_t)(rows * cols), f) == (size_t)(rows * cols);
    if (fclose(f) != 0) ok = 0;
    if (!ok) return err_set(err, "--output %s: write failed", path);
    return 0;
}
