/* test_bert_infer.c — inference/bert_infer on a small vocabulary: [CLS]/[SEP]
 * framing, the literal [MASK], truncation keeping [SEP]; padded batches and their
 * masks; CLS and mean pooling (padding excluded) with L2 normalization against
 * double-precision sums; top-k with softmax probabilities; the .npy header; and
 * a padded batch's pooled embeddings equal to each text alone through a small
 * random BERT (what masking padding buys). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "framework/backend.h"
#include "inference/bert_infer.h"
#include "testing.h"

static const char *VOCAB = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\ncat\nsat\non\nmat\n.\n##s\n";

int main(void) {
    char path[] = "/tmp/megac_vocab_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, VOCAB, strlen(VOCAB)) != (ssize_t)strlen(VOCAB)) return 1;
    close(fd);
    err_t err = {{0}};
    wordpiece_t *wp;
    bert_infer_vocab_t v;
    CHECK(wordpiece_load(&wp, path, 1, &err) == 0, "load: %s", err.msg);
    unlink(path);
    CHECK(bert_infer_vocab(&v, wp, &err) == 0 && v.cls == 2 && v.sep == 3 && v.pad == 0 && v.mask == 4, "specials");

    tok_buf_t ids[3] = {{0}};
    const char *texts[3] = {"The cat sat on the [MASK].", "cats", "the cat sat on the mat . the cat sat"};
    CHECK(bert_infer_tokenize(&v, texts[0], strlen(texts[0]), 64, &ids[0], &err) == 0, "tokenize");
    int want0[] = {2, 5, 6, 7, 8, 5, 4, 10, 3};
    CHECK(ids[0].n == 9 && memcmp(ids[0].v, want0, sizeof want0) == 0, "[CLS] the cat sat on the [MASK] . [SEP]");
    CHECK(bert_infer_tokenize(&v, texts[1], strlen(texts[1]), 64, &ids[1], &err) == 0 && ids[1].n == 4 &&
              ids[1].v[1] == 6 && ids[1].v[2] == 11 && ids[1].v[3] == 3, "cat ##s");
    CHECK(bert_infer_tokenize(&v, texts[2], strlen(texts[2]), 6, &ids[2], &err) == 0 && ids[2].n == 6 &&
              ids[2].v[0] == 2 && ids[2].v[4] == 8 && ids[2].v[5] == 3, "truncated to 6, [SEP] kept");
    CHECK(bert_infer_tokenize(&v, "x", 1, 1, &ids[2], &err) != 0, "max length 1 refused");

    bert_infer_batch_t b;
    CHECK(bert_infer_pack(ids, 2, v.pad, &b, &err) == 0 && b.B == 2 && b.T == 9, "pack");
    CHECK(b.tokens[9 + 3] == 3 && b.tokens[9 + 4] == 0 && b.mask[9 + 3] == 1.0f && b.mask[9 + 4] == 0.0f &&
              b.types[17] == 0, "padding and its mask");

    /* pooling against double sums */
    int B = 2, T = 9, C = 5;
    float h[2 * 9 * 5], out[2 * 5];
    fill_normal(h, sizeof h / sizeof h[0], 1.0f, 7);
    bert_infer_pool(h, b.mask, B, T, C, BERT_POOL_MEAN, 0, out);
    double e = 0;
    for (int c = 0; c < C; c++) {
        double s = 0;
        for (int t = 0; t < 4; t++) s += h[(9 + t) * C + c];
        e = fmax(e, fabs(out[C + c] - s / 4));
    }
    CHECK(e < 1e-6, "mean over the 4 real tokens only: %g", e);
    bert_infer_pool(h, b.mask, B, T, C, BERT_POOL_CLS, 1, out);
    double n2 = 0;
    for (int c = 0; c < C; c++) n2 += (double)h[c] * h[c];
    CHECK(fabs(out[2] - h[2] / sqrt(n2)) < 1e-6, "CLS, L2-normalized");

    float logits[6] = {0.5f, 2.0f, -1.0f, 3.0f, 2.0f, 0.0f};
    int top[3];
    float prob[3];
    bert_infer_topk(logits, 6, 3, top, prob);
    double z = 0;
    for (int i = 0; i < 6; i++) z += exp(logits[i]);
    CHECK(top[0] == 3 && top[1] == 1 && top[2] == 4 && fabs(prob[0] - exp(3.0) / z) < 1e-6, "top-3 %d %d %d", top[0],
          top[1], top[2]);

    /* padded batch = each text alone, through a small random BERT */
    bert_config_t cfg;
    bert_config_defaults(&cfg);
    cfg.num_layers = 2, cfg.hidden_size = 16, cfg.num_attention_heads = 2, cfg.vocab_size = 12;
    cfg.seq_length = cfg.max_position_embeddings = 16, cfg.max_predictions_per_seq = 2;
    cfg.hidden_dropout = cfg.attention_dropout = 0.0f;
    bert_model_t m;
    CHECK(bert_create(&m, &cfg, backend_cpu(), 2, 9, NULL, &err) == 0, "create: %s", err.msg);
    bert_init_weights(&m, 5);
    float hid[2 * 9 * 16], both[2 * 16], alone[16];
    CHECK(bert_infer_encode(&m, &b, BERT_POOL_MEAN, 1, hid, both, &err) == 0, "encode: %s", err.msg);
    bert_infer_batch_t one;
    CHECK(bert_infer_pack(&ids[1], 1, v.pad, &one, &err) == 0 && one.T == 4, "pack one");
    CHECK(bert_infer_encode(&m, &one, BERT_POOL_MEAN, 1, hid, alone, &err) == 0, "encode alone");
    CHECK(rel_err_ff(both + 16, alone, 16) < 1e-6, "padded = alone: %g", rel_err_ff(both + 16, alone, 16));
    int pos[18], nm;
    float ml[18 * 128];
    CHECK(m.V_local <= 128 && bert_infer_mask_logits(&m, &b, v.mask, pos, &nm, ml, &err) == 0 && nm == 1 && pos[0] == 6,
          "one [MASK] at 6: %d %s", nm, err.msg);
    bert_destroy(&m);
    bert_infer_batch_free(&one);
    bert_infer_batch_free(&b);

    char npy[] = "/tmp/megac_npy_XXXXXX";
    fd = mkstemp(npy);
    close(fd);
    float data[6] = {1, 2, 3, 4, 5, 6};
    CHECK(infer_write_npy(npy, data, 2, 3, &err) == 0, "npy: %s", err.msg);
    FILE *f = fopen(npy, "rb");
    unsigned char head[128];
    size_t got = f ? fread(head, 1, sizeof head, f) : 0;
    if (f) fclose(f);
    unlink(npy);
    CHECK(got == 128 && memcmp(head, "\x93NUMPY\x01\x00", 8) == 0 && head[8] + 256 * head[9] + 10 == 128 &&
              head[127] == '\n' && strstr((char *)head + 10, "'shape': (2, 3)") != NULL,
          "npy header: 128 bytes, shape (2, 3)");
    for (int i = 0; i < 3; i++) free(ids[i].v);
    wordpiece_free(wp);
    return test_exit("bert_infer");
}
