/* test_bert_dataset.c — BERT samples from a sentence-level indexed dataset:
 * the sample mapping (whole sentences of one document, eligible documents
 * only, every eligible sentence once per epoch, the short-target rate), the
 * sample layout ([CLS] A [SEP] B [SEP], types, padding; A and B trimmed pieces
 * of the sentences on either side of a pivot, swapped when is_random),
 * whole-word masking (budget, 80/10/10, never [CLS]/[SEP]), determinism, and
 * bad input. The vocabulary: 5 specials, 200 words, 100 "##" pieces. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/bert_dataset.h"
#include "tests/testing.h"

#define NDOC 150
#define L 64
enum { PAD = 0, CLS = 2, SEP = 3, MASK = 4, WORD0 = 5, PIECE0 = 205, NVOCAB = 307 };

static char dir[] = "/tmp/megac-bert-XXXXXX";
static int32_t *sent_tok[2000];
static int sent_len[2000], doc_first[NDOC + 1];

static int is_piece(int32_t t) { return t >= PIECE0 && t < PIECE0 + 100; }

static void make_data(const char *prefix, const char *vocab_path) {
    FILE *f = fopen(vocab_path, "w");
    fprintf(f, "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n");
    for (int i = 0; i < 200; i++) fprintf(f, "w%d\n", i);
    for (int i = 0; i < 100; i++) fprintf(f, "##p%d\n", i);
    fclose(f);
    indexed_writer_t w;
    err_t err = {{0}};
    rng_key_t k = {5, 77, 0};
    uint64_t c = 0;
    int ns = 0;
    CHECK(indexed_writer_open(&w, prefix, MMIDIDX_UINT16, &err) == 0, "%s", err.msg);
    for (int d = 0; d < NDOC; d++) {
        doc_first[d] = ns;
        int nsent = d % 9 == 0 ? 1 : 1 + (int)(rng_u32(k, c++) % 7);
        for (int s = 0; s < nsent; s++, ns++) {
            int len = (d == 20 && s == 1) ? 600 : 3 + (int)(rng_u32(k, c++) % 25); /* document 20 holds a long sentence */
            sent_tok[ns] = malloc(sizeof(int32_t) * (size_t)len);
            for (int i = 0; i < len; i++) {
                int piece = i > 0 && rng_u32(k, c++) % 3 == 0;
                sent_tok[ns][i] = piece ? PIECE0 + (int)(rng_u32(k, c++) % 100) : WORD0 + (int)(rng_u32(k, c++) % 200);
            }
            sent_len[ns] = len;
            CHECK(indexed_writer_add_sequence(&w, sent_tok[ns], (size_t)len, &err) == 0, "%s", err.msg);
        }
        CHECK(indexed_writer_end_document(&w, &err) == 0, "%s", err.msg);
    }
    doc_first[NDOC] = ns;
    CHECK(indexed_writer_finish(&w, &err) == 0, "%s", err.msg);
}

/* Is x[0..nx) a contiguous run of y[0..ny)? */
static int is_run(const int32_t *x, int nx, const int32_t *y, int ny) {
    for (int o = 0; o + nx <= ny; o++)
        if (memcmp(x, y + o, sizeof(int32_t) * (size_t)nx) == 0) return 1;
    return 0;
}

int main(void) {
    if (!mkdtemp(dir)) return 1;
    char prefix[300], vocab_path[300];
    snprintf(prefix, sizeof prefix, "%s/bert_text_sentence", dir);
    snprintf(vocab_path, sizeof vocab_path, "%s/vocab.txt", dir);
    make_data(prefix, vocab_path);
    err_t err = {{0}};
    wordpiece_t *vocab;
    if (wordpiece_load(&vocab, vocab_path, 1, &err) != 0) {
        CHECK(0, "%s", err.msg);
        return test_exit("test_bert_dataset");
    }
    CHECK(wordpiece_vocab_size(vocab) == NVOCAB, "vocabulary of %d", wordpiece_vocab_size(vocab));
    bert_dataset_config_t cfg = {prefix, "80,15,5", L, 1234, {2000, 50, 0}, 0.1, 0.15, 1, 0, {NULL, NULL, NULL}, NULL};
    bert_dataset_t ds;
    if (bert_dataset_open(&ds, &cfg, vocab, &err) != 0) {
        CHECK(0, "open: %s", err.msg);
        return test_exit("test_bert_dataset");
    }
    int64_t n = bert_dataset_num_samples(&ds, SPLIT_TRAIN);
    CHECK(n >= 2000, "%lld train samples for 2000 requested", (long long)n);
    CHECK(ds.doc_begin[0] == 0 && ds.doc_end[0] == 120 && ds.doc_begin[1] == 120 && ds.doc_end[1] == 142, /* round(142.5) = 142 */
          "document split [%lld,%lld) [%lld,%lld)", (long long)ds.doc_begin[0], (long long)ds.doc_end[0],
          (long long)ds.doc_begin[1], (long long)ds.doc_end[1]);

    /* the mapping: whole sentences of one eligible document; each eligible sentence equally often */
    int cover[2000] = {0}, short_targets = 0, bad_map = 0;
    for (int64_t i = 0; i < n; i++) {
        const int64_t *m = ds.map[0] + 3 * i;
        int d = 0;
        while (d < NDOC && doc_first[d + 1] <= m[0]) d++;
        int ok = d < 120 && m[1] <= doc_first[d + 1] && m[1] - m[0] >= 2 && d != 20 && m[2] >= 2 && m[2] <= L - 3;
        bad_map += !ok;
        for (int64_t s = m[0]; s < m[1]; s++) cover[s]++;
        short_targets += m[2] < L - 3;
    }
    CHECK(bad_map == 0, "%d mapping entries are not >= 2 whole sentences of one eligible training document", bad_map);
    int epochs = -1, uneven = 0;
    for (int d = 0; d < 120; d++) {
        int eligible = doc_first[d + 1] - doc_first[d] >= 2 && d != 20;
        for (int s = doc_first[d]; s < doc_first[d + 1]; s++) {
            if (!eligible) uneven += cover[s] != 0;
            else if (epochs < 0) epochs = cover[s];
            else uneven += cover[s] != epochs;
        }
    }
    CHECK(epochs >= 1 && uneven == 0, "sentences covered unevenly (%d differ from %d epochs)", uneven, epochs);
    double short_rate = (double)short_targets / (double)n;
    CHECK(short_rate > 0.05 && short_rate < 0.16, "short targets in %.3f of samples, expected about 0.1", short_rate);

    /* the samples */
    int32_t tok[L], types[L], labels[L], pad[L], loss[L], tok2[L], types2[L], labels2[L], pad2[L], loss2[L];
    bert_sample_t s = {tok, types, labels, pad, loss, 0, 0}, s2 = {tok2, types2, labels2, pad2, loss2, 0, 0};
    int bad_layout = 0, bad_ab = 0, bad_mask = 0, bad_word = 0, randoms = 0, truncs = 0;
    long masked = 0, as_mask = 0, kept = 0, tokens = 0;
    for (int64_t i = 0; i < n; i++) {
        if (bert_dataset_sample(&ds, SPLIT_TRAIN, i, &s, &err) != 0) {
            CHECK(0, "sample %lld: %s", (long long)i, err.msg);
            break;
        }
        const int64_t *m = ds.map[0] + 3 * i;
        int32_t orig[L];
        int nmask = 0, ntok = 0;
        for (int t = 0; t < L; t++) orig[t] = loss[t] ? labels[t] : tok[t];
        for (int t = 0; t < L; t++) {
            if ((loss[t] != 0) != (labels[t] >= 0)) bad_mask++;
            if (loss[t]) {
                nmask++;
                as_mask += tok[t] == MASK;
                kept += tok[t] == labels[t];
                if (orig[t] == CLS || orig[t] == SEP) bad_mask++;
                /* whole words: a masked piece's word start is masked, and a masked word's pieces */
                if (is_piece(orig[t]) && t > 0 && !loss[t - 1] && orig[t - 1] != SEP && orig[t - 1] != CLS) bad_word++;
                if (t + 1 < L && is_piece(orig[t + 1]) && !loss[t + 1]) bad_word++;
            }
            ntok += pad[t];
        }
        masked += nmask;
        tokens += ntok;
        int seps[2], nsep = 0;
        for (int t = 0; t < ntok; t++)
            if (orig[t] == SEP && nsep < 2) seps[nsep++] = t;
        int ok = orig[0] == CLS && nsep == 2 && seps[1] == ntok - 1 && ntok <= L && ntok - 3 <= m[2];
        for (int t = 0; ok && t < L; t++) {
            int want_type = t > seps[0] && t < ntok;
            ok = types[t] == want_type && pad[t] == (t < ntok) && (t < ntok || tok[t] == PAD);
        }
        bad_layout += !ok;
        if (!ok) continue;
        CHECK(nmask >= (0.15 * (double)m[2] >= 1.0) && nmask <= (int)(0.15 * (double)m[2]) + 1 && nmask <= (int)(0.15 * ntok + 0.5) + 1,
              "sample %lld: %d masked of %d tokens (target %lld)", (long long)i, nmask, ntok, (long long)m[2]);
        /* A and B: runs of the sentences before and after some pivot (swapped when is_random) */
        int32_t cat[4096];
        int bounds[16], nb = 0, total = 0;
        for (int64_t x = m[0]; x < m[1]; x++) {
            memcpy(cat + total, sent_tok[x], sizeof(int32_t) * (size_t)sent_len[x]);
            total += sent_len[x];
            bounds[nb++] = total;
        }
        const int32_t *A = orig + 1, *B = orig + seps[0] + 1;
        int la = seps[0] - 1, lb = ntok - seps[0] - 2, found = 0;
        for (int p = 0; p + 1 < nb && !found; p++) {
            int P = bounds[p];
            if (!s.is_random) found = is_run(A, la, cat, P) && is_run(B, lb, cat + P, total - P);
            else found = is_run(B, lb, cat, P) && is_run(A, la, cat + P, total - P);
        }
        bad_ab += !found;
        randoms += s.is_random;
        truncs += s.truncated;
        if (i % 97 == 0) { /* the same sample twice */
            bert_dataset_sample(&ds, SPLIT_TRAIN, i, &s2, &err);
            CHECK(memcmp(tok, tok2, sizeof tok) == 0 && memcmp(labels, labels2, sizeof labels) == 0 && s.is_random == s2.is_random,
                  "sample %lld differs when drawn again", (long long)i);
        }
    }
    CHECK(bad_layout == 0, "%d samples are not [CLS] A [SEP] B [SEP] with matching types and padding", bad_layout);
    CHECK(bad_ab == 0, "%d samples' A/B are not pieces of their sentences around a pivot", bad_ab);
    CHECK(bad_mask == 0, "%d masking inconsistencies (labels/loss mask, [CLS]/[SEP] masked)", bad_mask);
    CHECK(bad_word == 0, "%d masked positions split a word", bad_word);
    double mrate = (double)masked / (double)tokens, frac_mask = (double)as_mask / (double)masked, frac_kept = (double)kept / (double)masked;
    CHECK(mrate > 0.11 && mrate < 0.16, "masked %.3f of tokens, expected about 0.15", mrate);
    CHECK(frac_mask > 0.76 && frac_mask < 0.84, "[MASK] at %.3f of masked positions, expected 0.8", frac_mask);
    CHECK(frac_kept > 0.07 && frac_kept < 0.14, "kept at %.3f of masked positions, expected 0.1", frac_kept);
    CHECK(randoms > n * 0.45 && randoms < n * 0.55, "is_random in %d of %lld samples", randoms, (long long)n);
    CHECK(truncs > 0, "no sample was truncated");

    /* the same in another process' view: reopen; another seed differs */
    bert_dataset_t again, other;
    CHECK(bert_dataset_open(&again, &cfg, vocab, &err) == 0, "reopen: %s", err.msg);
    int differ = 0;
    for (int64_t i = 0; i < 200; i++) {
        bert_dataset_sample(&ds, SPLIT_VALID, i % ds.num_samples[1], &s, &err);
        bert_dataset_sample(&again, SPLIT_VALID, i % ds.num_samples[1], &s2, &err);
        differ += memcmp(tok, tok2, sizeof tok) != 0;
    }
    CHECK(differ == 0, "%d samples differ after reopening", differ);
    bert_dataset_config_t c2 = cfg;
    c2.seed = 99;
    CHECK(bert_dataset_open(&other, &c2, vocab, &err) == 0, "other seed: %s", err.msg);
    differ = 0;
    for (int64_t i = 0; i < 50; i++) {
        bert_dataset_sample(&ds, SPLIT_TRAIN, i, &s, &err);
        bert_dataset_sample(&other, SPLIT_TRAIN, i, &s2, &err);
        differ += memcmp(tok, tok2, sizeof tok) != 0;
    }
    CHECK(differ > 40, "another seed changes only %d of 50 samples", differ);
    CHECK(bert_dataset_sample(&ds, SPLIT_TRAIN, n, &s, &err) != 0 && strstr(err.msg, "out of range"), "index past the end: %s", err.msg);
    CHECK(bert_dataset_sample(&ds, SPLIT_TEST, 0, &s, &err) != 0, "an unbuilt split gives samples");
    bert_dataset_close(&again);
    bert_dataset_close(&other);

    /* no short targets at probability 0 */
    bert_dataset_config_t c3 = cfg;
    c3.short_seq_prob = 0.0;
    if (bert_dataset_open(&other, &c3, vocab, &err) == 0) {
        int shorts = 0;
        for (int64_t i = 0; i < other.num_samples[0]; i++) shorts += other.map[0][3 * i + 2] != L - 3;
        CHECK(shorts == 0, "%d short targets at probability 0", shorts);
        bert_dataset_close(&other);
    }

    /* max_epochs: a request past max_epochs passes over a split is refused after the first pass,
     * naming the request; max_epochs passes are built (issue 17, item 15) */
    {
        bert_dataset_config_t c6 = cfg;
        c6.num_samples[0] = 1, c6.num_samples[1] = 0;
        if (bert_dataset_open(&other, &c6, vocab, &err) == 0) {
            int64_t pass = other.num_samples[0]; /* one pass: at least the one sample asked */
            bert_dataset_close(&other);
            c6.max_epochs = 2, c6.request[0] = "--train-iters 5";
            c6.num_samples[0] = 2 * pass - 10; /* the second pass may make a few samples fewer */
            int built = bert_dataset_open(&other, &c6, vocab, &err) == 0;
            CHECK(built && pass > 10, "2 passes under max_epochs 2 (%lld a pass): %s", (long long)pass, err.msg);
            if (built) bert_dataset_close(&other);
            c6.num_samples[0] = 2 * pass + 1;
            CHECK(bert_dataset_open(&other, &c6, vocab, &err) != 0 && strstr(err.msg, "--train-iters 5 asks for") &&
                      strstr(err.msg, "more than 2 passes"), "3 passes under max_epochs 2: %s", err.msg);
        } else {
            CHECK(0, "one sample: %s", err.msg);
        }
    }

    /* a zero --split weight builds no dataset even when samples are asked of it (Megatron builds
     * none); a positive weight that rounds to no document is refused (issue 17, item 17) */
    {
        bert_dataset_config_t c5 = cfg;
        c5.split = "90,0,10";
        c5.num_samples[1] = c5.num_samples[2] = 10;
        if (bert_dataset_open(&other, &c5, vocab, &err) == 0) {
            CHECK(other.num_samples[1] == 0 && other.num_samples[2] >= 10, "zero valid weight: %lld valid, %lld test",
                  (long long)other.num_samples[1], (long long)other.num_samples[2]);
            bert_dataset_close(&other);
        } else {
            CHECK(0, "--split 90,0,10 refused: %s", err.msg);
        }
        c5.split = "1000000,1,0";
        CHECK(bert_dataset_open(&other, &c5, vocab, &err) != 0 && strstr(err.msg, "valid split is empty"),
              "a valid split that rounds to no document: %s", err.msg);
    }

    /* bad input: a document-level dataset, a vocabulary without [MASK], a token past the vocabulary */
    {
        char doc_prefix[300], small_vocab[300];
        snprintf(doc_prefix, sizeof doc_prefix, "%s/doc_level", dir);
        indexed_writer_t w;
        int32_t t[3] = {WORD0, WORD0 + 1, WORD0 + 2};
        indexed_writer_open(&w, doc_prefix, MMIDIDX_UINT16, &err);
        for (int d = 0; d < 20; d++) {
            indexed_writer_add_sequence(&w, t, 3, &err);
            indexed_writer_end_document(&w, &err);
        }
        indexed_writer_finish(&w, &err);
        bert_dataset_config_t c4 = cfg;
        c4.data_path = doc_prefix;
        CHECK(bert_dataset_open(&other, &c4, vocab, &err) != 0 && strstr(err.msg, "--split-sentences"),
              "a document-level dataset: %s", err.msg);
        snprintf(small_vocab, sizeof small_vocab, "%s/small.txt", dir);
        FILE *f = fopen(small_vocab, "w");
        fprintf(f, "[PAD]\n[UNK]\n[CLS]\n[SEP]\n");
        for (int i = 0; i < 200; i++) fprintf(f, "w%d\n", i);
        fclose(f);
        wordpiece_t *sv;
        if (wordpiece_load(&sv, small_vocab, 1, &err) == 0) {
            CHECK(bert_dataset_open(&other, &cfg, sv, &err) != 0 && strstr(err.msg, "[MASK]"), "no [MASK]: %s", err.msg);
            wordpiece_free(sv);
        }
        f = fopen(small_vocab, "w");
        fprintf(f, "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n");
        for (int i = 0; i < 100; i++) fprintf(f, "w%d\n", i);
        fclose(f);
        if (wordpiece_load(&sv, small_vocab, 1, &err) == 0) {
            CHECK(bert_dataset_open(&other, &cfg, sv, &err) != 0 && strstr(err.msg, "outside the vocabulary"),
                  "tokens past the vocabulary: %s", err.msg);
            wordpiece_free(sv);
        }
    }
    bert_dataset_close(&ds);
    wordpiece_free(vocab);
    for (int i = 0; i < doc_first[NDOC]; i++) free(sent_tok[i]);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return test_exit("test_bert_dataset");
}
