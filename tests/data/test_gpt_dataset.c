/* test_gpt_dataset.c — Megatron GPT sample indices: split ranges, per-epoch
 * document permutations, samples that tile the document stream across
 * document boundaries, the sample shuffle (and the separate final epoch),
 * determinism, cache reuse and the rebuilding of corrupted caches, disjoint
 * data-parallel slices, weighted blends, and bad input. Token t of sequence s
 * is written as MARK + s*64 + t, so every sample says where it came from. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/gpt_dataset.h"
#include "tests/testing.h"

#define L 16 /* seq_length */
#define NSEQ 200

static char dir[] = "/tmp/megac-gpt-XXXXXX";
static int seq_len_a[NSEQ], seq_len_b[NSEQ];

static void write_dataset(const char *prefix, int *lens, int32_t mark, uint32_t stream) {
    indexed_writer_t w;
    err_t err = {{0}};
    rng_key_t k = {99, stream, 0};
    if (indexed_writer_open(&w, prefix, MMIDIDX_INT32, &err) != 0) {
        CHECK(0, "%s", err.msg);
        return;
    }
    int32_t tok[64];
    for (int s = 0; s < NSEQ; s++) {
        lens[s] = s == 17 ? 0 : 1 + (int)(rng_u32(k, (uint64_t)s) % 40); /* one empty sequence */
        for (int t = 0; t < lens[s]; t++) tok[t] = mark + s * 64 + t;
        if (indexed_writer_add_sequence(&w, tok, (size_t)lens[s], &err) != 0 || indexed_writer_end_document(&w, &err) != 0)
            CHECK(0, "%s", err.msg);
    }
    CHECK(indexed_writer_finish(&w, &err) == 0, "%s", err.msg);
}

static int open_ds(gpt_dataset_t *ds, const char *path, const char *cache, int64_t train, int64_t valid, uint64_t seed,
                   err_t *err) {
    gpt_dataset_config_t cfg = {path, "80,15,5", L, seed, {train, valid, 5}, cache, 0, 0, {NULL, NULL, NULL}, NULL};
    return gpt_dataset_open(ds, &cfg, err);
}

/* Samples must tile the document stream of the split: sample r = stream[r*L .. r*L+L]. */
static void check_tiling(const gpt_dataset_t *ds, int split, const int *lens, const char *name) {
    const gpt_part_t *p = &ds->parts[split][0];
    int64_t nseq = p->seq_end - p->seq_begin, total = 0;
    for (int e = 0; e < p->num_epochs; e++) { /* each epoch: a permutation of the split's sequences */
        char *seen = calloc((size_t)nseq, 1);
        int ok = 1;
        for (int64_t i = 0; i < nseq; i++) {
            int64_t s = p->doc_index[e * nseq + i];
            if (s < p->seq_begin || s >= p->seq_end || seen[s - p->seq_begin]++) ok = 0;
        }
        CHECK(ok, "%s: epoch %d of the document index is not a permutation of sequences [%lld, %lld)", name, e,
              (long long)p->seq_begin, (long long)p->seq_end);
        free(seen);
    }
    int32_t *stream = malloc(sizeof(int32_t) * (size_t)(p->n_doc * 40 + 1));
    for (int64_t i = 0; i < p->n_doc; i++) {
        int64_t s = p->doc_index[i];
        for (int t = 0; t < lens[s]; t++) stream[total++] = (int32_t)(s * 64 + t);
    }
    CHECK(p->n_samples == (total - 1) / L, "%s: %lld samples from %lld tokens", name, (long long)p->n_samples, (long long)total);
    CHECK(p->n_samples >= p->requested, "%s: %lld samples built, %lld requested", name, (long long)p->n_samples, (long long)p->requested);
    int out[L + 1], bad = 0, crossing = 0;
    err_t err = {{0}};
    for (int64_t r = 0; r < p->n_samples; r++) {
        if (gpt_dataset_raw_sample(ds, split, 0, r, out, &err) != 0) {
            CHECK(0, "%s: raw sample %lld: %s", name, (long long)r, err.msg);
            break;
        }
        for (int i = 0; i <= L; i++) bad += out[i] != stream[r * L + i];
        crossing += out[0] / 64 != out[L] / 64;
    }
    CHECK(bad == 0, "%s: %d tokens differ from the document stream", name, bad);
    CHECK(crossing > 0, "%s: no sample crosses a document boundary", name);
    free(stream);
}

static void check_shuffle(const gpt_dataset_t *ds, int split, const char *name) {
    const gpt_part_t *p = &ds->parts[split][0];
    char *seen = calloc((size_t)p->n_samples, 1);
    int ok = 1, moved = 0;
    for (int64_t i = 0; i < p->n_samples; i++) {
        int64_t r = p->shuffle[i];
        if (r < 0 || r >= p->n_samples || seen[r]++) ok = 0;
        moved += r != i;
    }
    CHECK(ok, "%s: the shuffle index is not a permutation", name);
    CHECK(moved > p->n_samples / 2, "%s: the shuffle moved only %d samples", name, moved);
    int a[L + 1], b[L + 1];
    err_t err = {{0}};
    for (int64_t i = 0; i < p->n_samples; i += 7) {
        gpt_dataset_sample(ds, split, i, a, &err);
        gpt_dataset_raw_sample(ds, split, 0, p->shuffle[i], b, &err);
        if (memcmp(a, b, sizeof a) != 0) {
            CHECK(0, "%s: sample %lld is not raw sample %lld", name, (long long)i, (long long)p->shuffle[i]);
            break;
        }
    }
    free(seen);
}

static int same_samples(const gpt_dataset_t *x, const gpt_dataset_t *y, int split) {
    if (x->num_samples[split] != y->num_samples[split]) return 0;
    int a[L + 1], b[L + 1];
    err_t err = {{0}};
    for (int64_t i = 0; i < x->num_samples[split]; i++) {
        if (gpt_dataset_sample(x, split, i, a, &err) != 0 || gpt_dataset_sample(y, split, i, b, &err) != 0) return 0;
        if (memcmp(a, b, sizeof a) != 0) return 0;
    }
    return 1;
}

static void flip_byte(const char *path, long at) {
    FILE *f = fopen(path, "r+b");
    if (!f) return;
    fseek(f, at, SEEK_SET);
    int c = fgetc(f);
    fseek(f, at, SEEK_SET);
    fputc(c ^ 0x5A, f);
    fclose(f);
}

/* The cache files of one split (by name), at most 8. */
static int cache_files(const char *cache, const char *split, char out[][512]) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls %s/*.%s.gptidx 2>/dev/null", cache, split);
    FILE *p = popen(cmd, "r");
    int n = 0;
    while (p && n < 8 && fgets(out[n], 512, p)) {
        out[n][strcspn(out[n], "\n")] = 0;
        n++;
    }
    if (p) pclose(p);
    return n;
}

int main(void) {
    if (!mkdtemp(dir)) return 1;
    char a[300], b[300], cache[300], cache2[300], blend[700];
    snprintf(a, sizeof a, "%s/a_text_document", dir);
    snprintf(b, sizeof b, "%s/b_text_document", dir);
    snprintf(cache, sizeof cache, "%s/cache", dir);
    snprintf(cache2, sizeof cache2, "%s/cache2", dir);
    if (mkdir(cache, 0755) != 0 || mkdir(cache2, 0755) != 0) return 1;
    write_dataset(a, seq_len_a, 0, 1);
    write_dataset(b, seq_len_b, 1 << 28, 2);
    int64_t tokens_train = 0;
    for (int s = 0; s < 160; s++) tokens_train += seq_len_a[s];
    int64_t per_epoch = (tokens_train - 1) / L;
    err_t err = {{0}};

    /* 3.9 epochs of training samples, a few of valid and test */
    gpt_dataset_t ds;
    int64_t want = per_epoch * 39 / 10;
    if (open_ds(&ds, a, cache, want, 40, 1234, &err) != 0) {
        CHECK(0, "open: %s", err.msg);
        return test_exit("test_gpt_dataset");
    }
    const gpt_part_t *tr = &ds.parts[SPLIT_TRAIN][0], *va = &ds.parts[SPLIT_VALID][0], *te = &ds.parts[SPLIT_TEST][0];
    CHECK(tr->seq_begin == 0 && tr->seq_end == 160 && va->seq_begin == 160 && va->seq_end == 190 && te->seq_begin == 190 &&
          te->seq_end == 200, "split 80,15,5 of 200: [%lld,%lld) [%lld,%lld) [%lld,%lld)", (long long)tr->seq_begin,
          (long long)tr->seq_end, (long long)va->seq_begin, (long long)va->seq_end, (long long)te->seq_begin, (long long)te->seq_end);
    CHECK(tr->num_epochs == 4, "3.9 epochs of samples need 4 epochs, got %d", tr->num_epochs);
    CHECK(!tr->separate_final_epoch, "a final epoch used for more than 80%% is not separate");
    CHECK(ds.cache_built == 3 && ds.cache_loaded == 0 && ds.cache_unsaved == 0, "first open: built %d loaded %d unsaved %d (%s)",
          ds.cache_built, ds.cache_loaded, ds.cache_unsaved, ds.cache_note);
    check_tiling(&ds, SPLIT_TRAIN, seq_len_a, "train");
    check_tiling(&ds, SPLIT_VALID, seq_len_a, "valid");
    check_shuffle(&ds, SPLIT_TRAIN, "train");
    int out[L + 1];
    CHECK(gpt_dataset_sample(&ds, SPLIT_TRAIN, ds.num_samples[0], out, &err) != 0 && strstr(err.msg, "out of range"),
          "an index past the end is refused: %s", err.msg);

    /* a restart maps the cache; a fresh build elsewhere gives the same samples */
    gpt_dataset_t again, fresh, other_seed;
    CHECK(open_ds(&again, a, cache, want, 40, 1234, &err) == 0, "reopen: %s", err.msg);
    CHECK(again.cache_loaded == 3 && again.cache_built == 0, "reopen: loaded %d built %d", again.cache_loaded, again.cache_built);
    CHECK(same_samples(&ds, &again, SPLIT_TRAIN) && same_samples(&ds, &again, SPLIT_VALID), "cached samples differ");
    CHECK(open_ds(&fresh, a, cache2, want, 40, 1234, &err) == 0, "fresh: %s", err.msg);
    CHECK(fresh.cache_built == 3, "fresh cache dir: built %d", fresh.cache_built);
    CHECK(same_samples(&ds, &fresh, SPLIT_TRAIN) && same_samples(&ds, &fresh, SPLIT_TEST), "a rebuild is not deterministic");
    CHECK(open_ds(&other_seed, a, cache, want, 40, 99, &err) == 0, "other seed: %s", err.msg);
    CHECK(!same_samples(&ds, &other_seed, SPLIT_TRAIN), "another seed gives the same samples");
    CHECK(other_seed.cache_built == 3, "another seed reused a cache (built %d)", other_seed.cache_built);
    gpt_dataset_close(&again);
    gpt_dataset_close(&fresh);
    gpt_dataset_close(&other_seed);

    /* corrupted and truncated caches are rebuilt, not trusted */
    char files[8][512];
    int nf = cache_files(cache, "train", files);
    CHECK(nf == 2, "expected two train caches (two seeds), found %d", nf);
    for (int k = 0; k < nf; k++) flip_byte(files[k], 64 + 4 * 10);
    CHECK(open_ds(&again, a, cache, want, 40, 1234, &err) == 0, "open over a corrupted cache: %s", err.msg);
    CHECK(again.cache_rebuilt == 1 && again.cache_loaded == 2, "corrupted cache: rebuilt %d loaded %d", again.cache_rebuilt, again.cache_loaded);
    CHECK(strstr(again.cache_note, "checksum") != NULL, "corrupted cache note: %s", again.cache_note);
    CHECK(same_samples(&ds, &again, SPLIT_TRAIN), "samples after rebuilding a corrupted cache differ");
    gpt_dataset_close(&again);
    nf = cache_files(cache, "valid", files);
    int cut = nf > 0;
    for (int k = 0; k < nf; k++) cut &= truncate(files[k], 100) == 0;
    CHECK(cut, "could not truncate the valid caches");
    if (cut) {
        CHECK(open_ds(&again, a, cache, want, 40, 1234, &err) == 0, "open over a truncated cache: %s", err.msg);
        CHECK(again.cache_rebuilt == 1, "truncated cache: rebuilt %d", again.cache_rebuilt);
        CHECK(same_samples(&ds, &again, SPLIT_VALID), "samples after rebuilding a truncated cache differ");
        gpt_dataset_close(&again);
    }
    /* an unwritable cache directory: indices in memory only */
    char nodir[400];
    snprintf(nodir, sizeof nodir, "%s/missing/dir", dir);
    CHECK(open_ds(&again, a, nodir, want, 40, 1234, &err) == 0, "open with an unwritable cache: %s", err.msg);
    CHECK(again.cache_unsaved == 3 && strstr(again.cache_note, "memory"), "unwritable cache: unsaved %d (%s)", again.cache_unsaved, again.cache_note);
    CHECK(same_samples(&ds, &again, SPLIT_TRAIN), "samples without a cache differ");
    gpt_dataset_close(&again);

    /* a final epoch used for less than 80%: its samples are shuffled apart and come last */
    gpt_dataset_t sep;
    CHECK(open_ds(&sep, a, cache, per_epoch * 2 + per_epoch / 4, 40, 1234, &err) == 0, "open: %s", err.msg);
    const gpt_part_t *sp = &sep.parts[SPLIT_TRAIN][0];
    CHECK(sp->num_epochs == 3 && sp->separate_final_epoch, "2.25 epochs: %d epochs, separate %d", sp->num_epochs, sp->separate_final_epoch);
    int64_t sans = (2 * tokens_train - 1) / L, late = 0;
    for (int64_t i = 0; i < sp->n_samples; i++) late += (i < sans) != (sp->shuffle[i] < sans);
    CHECK(late == 0, "%lld samples of the final epoch are shuffled into the earlier ones", (long long)late);
    check_tiling(&sep, SPLIT_TRAIN, seq_len_a, "train, separate final epoch");
    gpt_dataset_close(&sep);

    /* data-parallel slices: disjoint, and together every sample of every global batch */
    {
        int micro = 2, dp = 4, steps = 2, gbs = micro * dp * steps, iters = 5;
        char *hit = calloc((size_t)(gbs * iters), 1);
        int ok = 1;
        for (int it = 0; it < iters; it++)
            for (int r = 0; r < dp; r++)
                for (int m = 0; m < steps; m++)
                    for (int i = 0; i < micro; i++) {
                        int64_t g = gpt_dataset_dp_index((int64_t)it * gbs, micro, r, dp, m, i);
                        if (g < 0 || g >= gbs * iters || hit[g]++) ok = 0;
                    }
        for (int g = 0; g < gbs * iters; g++) ok &= hit[g] == 1;
        CHECK(ok, "data-parallel slices overlap or leave samples out");
        CHECK(gpt_dataset_dp_index(96, 4, 1, 2, 0, 3) == 96 + 4 + 3, "rank 1's first micro-batch starts after rank 0's");
        free(hit);
        int64_t c[3];
        gpt_dataset_megatron_sample_counts(1000, 32, 100, 10, c);
        CHECK(c[0] == 32000 && c[1] == 11 * 10 * 32 && c[2] == 320, "Megatron sample counts %lld %lld %lld", (long long)c[0], (long long)c[1], (long long)c[2]);
    }

    /* blends: each prefix of the samples follows the weights within one sample */
    {
        snprintf(blend, sizeof blend, "0.3 %s 0.7 %s", a, b);
        gpt_dataset_t bl, only_a;
        int64_t n = 1000;
        gpt_dataset_config_t cfg = {blend, "80,15,5", L, 1234, {n, 0, 0}, cache, 0, 0, {NULL, NULL, NULL}, NULL};
        if (gpt_dataset_open(&bl, &cfg, &err) != 0) {
            CHECK(0, "blend: %s", err.msg);
        } else {
            CHECK(bl.num_samples[0] == n, "blend: %lld samples", (long long)bl.num_samples[0]);
            int64_t taken[2] = {0, 0};
            double worst = 0.0;
            int wrong_source = 0;
            for (int64_t i = 0; i < n; i++) {
                int k = bl.blend_source[0][i];
                taken[k]++;
                double dev = (double)taken[0] - 0.3 * (double)(i + 1);
                if (dev < 0) dev = -dev;
                if (dev > worst) worst = dev;
                gpt_dataset_sample(&bl, SPLIT_TRAIN, i, out, &err);
                wrong_source += (out[0] >= (1 << 28)) != (k == 1);
            }
            CHECK(worst <= 1.0, "blend: dataset A's share strays %.2f samples from 0.3", worst);
            CHECK(taken[0] == 300 && taken[1] == 700, "blend: %lld + %lld samples", (long long)taken[0], (long long)taken[1]);
            CHECK(wrong_source == 0, "blend: %d samples from the wrong dataset", wrong_source);
            /* A's part of the blend is A's own dataset for ceil(300 * 1.005) samples */
            gpt_dataset_config_t ca = {a, "80,15,5", L, 1234, {302, 0, 0}, cache, 0, 0, {NULL, NULL, NULL}, NULL};
            CHECK(bl.parts[0][0].requested == 302, "blend: A built for %lld samples", (long long)bl.parts[0][0].requested);
            if (gpt_dataset_open(&only_a, &ca, &err) == 0) {
                CHECK(only_a.cache_loaded == 1, "A alone reuses the blend's cache (loaded %d)", only_a.cache_loaded);
                int x[L + 1], bad = 0;
                for (int64_t i = 0; i < n; i++) {
                    if (bl.blend_source[0][i] != 0) continue;
                    gpt_dataset_sample(&bl, SPLIT_TRAIN, i, out, &err);
                    gpt_dataset_sample(&only_a, SPLIT_TRAIN, bl.blend_sample[0][i], x, &err);
                    bad += memcmp(out, x, sizeof x) != 0;
                }
                CHECK(bad == 0, "blend: %d samples differ from dataset A's own", bad);
                gpt_dataset_close(&only_a);
            }
            gpt_dataset_close(&bl);
        }
    }

    /* bad input */
    {
        gpt_dataset_t x;
        char missing[400];
        snprintf(missing, sizeof missing, "%s/nope", dir);
        CHECK(open_ds(&x, missing, cache, 10, 0, 1, &err) != 0 && strstr(err.msg, missing), "missing prefix: %s", err.msg);
        snprintf(blend, sizeof blend, "0.3 %s %s", a, b);
        CHECK(open_ds(&x, blend, cache, 10, 0, 1, &err) != 0 && strstr(err.msg, "--data-path"), "odd blend: %s", err.msg);
        snprintf(blend, sizeof blend, "-1 %s 1 %s", a, b);
        CHECK(open_ds(&x, blend, cache, 10, 0, 1, &err) != 0 && strstr(err.msg, "weight"), "negative weight: %s", err.msg);
        /* a zero weight builds no dataset (as Megatron), even when samples are asked of it: the
         * split has 0 samples, and a caller that reads it refuses (issue 17, item 17) */
        gpt_dataset_config_t c0 = {a, "90,0,10", L, 1, {10, 10, 10}, cache, 0, 0, {NULL, NULL, NULL}, NULL};
        if (gpt_dataset_open(&x, &c0, &err) == 0) {
            CHECK(gpt_dataset_num_samples(&x, SPLIT_VALID) == 0 && gpt_dataset_num_samples(&x, SPLIT_TEST) >= 10,
                  "zero valid weight: %lld valid, %lld test samples", (long long)gpt_dataset_num_samples(&x, SPLIT_VALID),
                  (long long)gpt_dataset_num_samples(&x, SPLIT_TEST));
            CHECK(gpt_dataset_sample(&x, SPLIT_VALID, 0, out, &err) != 0, "a sample of an unbuilt split was read");
            gpt_dataset_close(&x);
        } else {
            CHECK(0, "--split 90,0,10 refused: %s", err.msg);
        }
        gpt_dataset_config_t c0b = {a, "90,10,0", L, 1, {10, 10, 10}, cache, 0, 0, {NULL, NULL, NULL}, NULL};
        if (gpt_dataset_open(&x, &c0b, &err) == 0) {
            CHECK(gpt_dataset_num_samples(&x, SPLIT_TEST) == 0, "zero test weight built test samples");
            gpt_dataset_close(&x);
        } else {
            CHECK(0, "--split 90,10,0 refused: %s", err.msg);
        }
        /* a positive weight that rounds to no sequence is refused when its samples are asked for */
        gpt_dataset_config_t c0c = {a, "1000000,1,0", L, 1, {10, 10, 0}, cache, 0, 0, {NULL, NULL, NULL}, NULL};
        CHECK(gpt_dataset_open(&x, &c0c, &err) != 0 && strstr(err.msg, "valid split is empty"), "empty valid split: %s", err.msg);
        gpt_dataset_config_t c1 = {a, "80,15,5", L, 1, {10, 0, 0}, cache, 1000, 0, {NULL, NULL, NULL}, NULL};
        if (gpt_dataset_open(&x, &c1, &err) == 0) {
            CHECK(gpt_dataset_sample(&x, SPLIT_TRAIN, 0, out, &err) != 0 && strstr(err.msg, "outside the vocabulary"),
                  "tokens past --vocab-size are refused: %s", err.msg);
            gpt_dataset_close(&x);
        }
        gpt_dataset_config_t c2 = {a, "80,15,5", 0, 1, {10, 0, 0}, cache, 0, 0, {NULL, NULL, NULL}, NULL};
        CHECK(gpt_dataset_open(&x, &c2, &err) != 0 && strstr(err.msg, "--seq-length"), "seq-length 0: %s", err.msg);
        /* max_epochs: a request of exactly max_epochs epochs builds; one past is refused before
         * any index is built, naming the request (issue 17, item 15) */
        gpt_dataset_config_t c3 = {a, "80,15,5", L, 1, {1, 0, 0}, cache, 0, 3, {"--train-iters 7", NULL, NULL}, NULL};
        if (gpt_dataset_open(&x, &c3, &err) == 0) {
            int64_t per_epoch = gpt_dataset_num_samples(&x, SPLIT_TRAIN);
            gpt_dataset_close(&x);
            c3.num_samples[0] = 3 * per_epoch;
            int built = gpt_dataset_open(&x, &c3, &err) == 0;
            CHECK(built && gpt_dataset_num_samples(&x, SPLIT_TRAIN) >= 3 * per_epoch, "3 epochs under max_epochs 3: %s",
                  built ? "wrong count" : err.msg);
            if (built) gpt_dataset_close(&x);
            c3.num_samples[0] = 4 * (per_epoch + 1);
            CHECK(gpt_dataset_open(&x, &c3, &err) != 0 && strstr(err.msg, "--train-iters 7 asks for") &&
                      strstr(err.msg, "more than 3 epochs"), "4 epochs under max_epochs 3: %s", err.msg);
            snprintf(blend, sizeof blend, "0.5 %s 0.5 %s", a, b);
            gpt_dataset_config_t c4 = {blend, "80,15,5", L, 1, {0, 1000000000, 0}, cache, 0, 3, {NULL, "--eval-iters 9", NULL}, NULL};
            CHECK(gpt_dataset_open(&x, &c4, &err) != 0 && strstr(err.msg, "--eval-iters 9 asks for"),
                  "a blend past max_epochs: %s", err.msg);
        } else {
            CHECK(0, "one sample: %s", err.msg);
        }
        int64_t counts[3];
        gpt_dataset_megatron_sample_counts(1000, 2000000000, 1, INT32_MAX, counts);
        CHECK(counts[0] == 2000000000000LL && counts[1] == INT64_MAX, "sample counts saturate: %lld %lld",
              (long long)counts[0], (long long)counts[1]);
        gpt_dataset_config_t c5 = {a, "80,15,5", L, 1, {0, INT64_MAX, 0}, cache, 0, 3, {NULL, "--eval-iters 9", NULL}, NULL};
        CHECK(gpt_dataset_open(&x, &c5, &err) != 0 && strstr(err.msg, "--eval-iters 9: more than 9,223,372,036,854,775,807"),
              "a saturated count: %s", err.msg);
    }
    gpt_dataset_close(&ds);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return test_exit("test_gpt_dataset");
}
