/* gpt_dataset.c — Megatron GPT sample indices, their cache, blends (see gpt_dataset.h). */
#include "gpt_dataset.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../framework/progress.h"
#include "../framework/rng.h"

static const char *const SPLIT_NAME[3] = {"train", "valid", "test"};

static const char *const SPLIT_WORD[3] = {"training", "validation", "test"};

/* a * b for a, b >= 0, INT64_MAX when it would overflow */
static int64_t mul_sat(int64_t a, int64_t b) {
    if (a <= 0 || b <= 0) return a < 0 || b < 0 ? -1 : 0;
    return a > INT64_MAX / b ? INT64_MAX : a * b;
}

void gpt_dataset_megatron_sample_counts(int64_t train_iters, int64_t global_batch, int64_t eval_interval,
                                        int64_t eval_iters, int64_t out[3]) {
    out[0] = mul_sat(train_iters, global_batch);
    out[1] = eval_interval > 0 ? mul_sat(mul_sat(train_iters / eval_interval + 1, eval_iters), global_batch) : 0;
    out[2] = mul_sat(eval_iters, global_batch);
}

/* ---- parsing ----------------------------------------------------------------- */

static int parse_data_path(gpt_dataset_t *ds, const char *spec, err_t *err) {
    if (!spec || !*spec) return err_set(err, "--data-path is required (a PREFIX of PREFIX.bin/.idx, or \"W1 P1 W2 P2 ...\")");
    char *copy = strdup(spec);
    if (!copy) return err_set(err, "out of memory");
    char *words[512];
    int n = 0;
    for (char *t = strtok(copy, " \t\n"); t; t = strtok(NULL, " \t\n")) {
        if (n == 512) {
            free(copy);
            return err_set(err, "--data-path: more than 256 datasets");
        }
        words[n++] = t;
    }
    int weighted = n > 1;
    if (n == 0 || (weighted && n % 2)) {
        free(copy);
        return err_set(err, "--data-path '%s': expected PREFIX or weight/prefix pairs \"0.3 A 0.7 B\"", spec);
    }
    ds->n_sources = weighted ? n / 2 : 1;
    ds->prefixes = calloc((size_t)ds->n_sources, sizeof *ds->prefixes);
    ds->weights = calloc((size_t)ds->n_sources, sizeof *ds->weights);
    if (!ds->prefixes || !ds->weights) {
        free(copy);
        return err_set(err, "out of memory");
    }
    double total = 0.0;
    for (int k = 0; k < ds->n_sources; k++) {
        double w = 1.0;
        if (weighted) {
            char *end;
            errno = 0;
            w = strtod(words[2 * k], &end);
            if (end == words[2 * k] || *end || errno || !(w > 0.0) || !isfinite(w)) {
                err_set(err, "--data-path: '%s' is not a positive weight (expected \"W1 P1 W2 P2 ...\")", words[2 * k]);
                free(copy);
                return -1;
            }
        }
        ds->weights[k] = w;
        total += w;
        ds->prefixes[k] = strdup(words[weighted ? 2 * k + 1 : 0]);
        if (!ds->prefixes[k]) {
            free(copy);
            return err_set(err, "out of memory");
        }
    }
    for (int k = 0; k < ds->n_sources; k++) ds->weights[k] /= total;
    free(copy);
    return 0;
}

static int parse_split(const char *s, double w[3], err_t *err) {
    w[0] = w[1] = w[2] = 0.0;
    const char *p = s ? s : "";
    for (int i = 0; i < 3 && *p; i++) {
        char *end;
        w[i] = strtod(p, &end);
        if (end == p || w[i] < 0.0 || !isfinite(w[i]))
            return err_set(err, "--split '%s': expected up to three non-negative weights like 949,50,1", s);
        p = end;
        if (*p == ',' || *p == '/') p++;
        else if (*p) return err_set(err, "--split '%s': unexpected '%c'", s, *p);
    }
    if (*p) return err_set(err, "--split '%s': more than three weights", s);
    double total = w[0] + w[1] + w[2];
    if (total <= 0.0) return err_set(err, "--split '%s': weights sum to zero", s ? s : "");
    for (int i = 0; i < 3; i++) w[i] /= total;
    return 0;
}

/* ---- the three index arrays ---------------------------------------------------- */

/* Fisher-Yates driven by the counter RNG: a pure function of (key, n). */
static void shuffle_i32(int32_t *a, int64_t n, rng_key_t key) {
    for (int64_t i = n - 1; i > 0; i--) {
        uint64_t r = (uint64_t)rng_u32(key, 2 * (uint64_t)i) << 32 | rng_u32(key, 2 * (uint64_t)i + 1);
        int64_t j = (int64_t)(r % (uint64_t)(i + 1));
        int32_t t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

static void shuffle_i64(int64_t *a, int64_t n, rng_key_t key) {
    for (int64_t i = n - 1; i > 0; i--) {
        uint64_t r = (uint64_t)rng_u32(key, 2 * (uint64_t)i) << 32 | rng_u32(key, 2 * (uint64_t)i + 1);
        int64_t j = (int64_t)(r % (uint64_t)(i + 1));
        int64_t t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

static rng_key_t shuffle_key(uint64_t seed, int split, int what, uint32_t step) {
    rng_key_t k = {seed, rng_stream(RNG_PURPOSE_DATA, 0x800u | (uint32_t)split << 4 | (uint32_t)what, 0), step};
    return k;
}

/* Epochs, sample count and the final-epoch rule, from the split's token count. */
static int plan_part(gpt_part_t *p, const indexed_dataset_t *src, int seq_length, int split, const char *prefix,
                     int64_t *tokens_per_epoch, err_t *err) {
    int64_t tokens = 0;
    for (int64_t s = p->seq_begin; s < p->seq_end; s++) tokens += indexed_sequence_length(src, s);
    *tokens_per_epoch = tokens;
    if (tokens < 2)
        return err_set(err, "%s: the %s split holds %lld tokens (sequences %lld..%lld); --split leaves it too little",
                       prefix, SPLIT_NAME[split], (long long)tokens, (long long)p->seq_begin, (long long)p->seq_end);
    int64_t wanted = p->requested * seq_length + 1;
    int64_t epochs = (wanted + tokens - 1) / tokens;
    if (epochs < 1) epochs = 1;
    if (epochs > INT32_MAX || epochs > INT64_MAX / tokens || epochs > INT64_MAX / (p->seq_end - p->seq_begin))
        return err_set(err, "%s: %lld samples of the %s split need too many epochs", prefix, (long long)p->requested,
                       SPLIT_NAME[split]);
    p->num_epochs = (int)epochs;
    p->n_doc = epochs * (p->seq_end - p->seq_begin);
    p->n_samples = (epochs * tokens - 1) / seq_length;
    p->separate_final_epoch = 0;
    if (epochs > 1) {
        int64_t sans_final = ((epochs - 1) * tokens - 1) / seq_length;
        int64_t from_final = p->requested - sans_final, per_epoch = (tokens - 1) / seq_length;
        p->separate_final_epoch = from_final < (int64_t)(0.80 * (double)per_epoch);
    }
    return 0;
}

static int build_part(gpt_part_t *p, const indexed_dataset_t *src, int seq_length, int split, uint64_t seed,
                      int64_t tokens_per_epoch, progress_t *pg, err_t *err) {
    int64_t nseq = p->seq_end - p->seq_begin;
    int32_t *doc = malloc((size_t)p->n_doc * sizeof *doc);
    int64_t *sdoc = malloc((size_t)(p->n_samples + 1) * sizeof *sdoc);
    int32_t *soff = malloc((size_t)(p->n_samples + 1) * sizeof *soff);
    int64_t *shuf = malloc((size_t)(p->n_samples ? p->n_samples : 1) * sizeof *shuf);
    p->owned[0] = doc, p->owned[1] = sdoc, p->owned[2] = soff, p->owned[3] = shuf;
    if (!doc || !sdoc || !soff || !shuf)
        return err_set(err, "out of memory for the %s sample index (%lld samples)", SPLIT_NAME[split], (long long)p->n_samples);
    /* document index: every epoch a fresh permutation of the split's sequences */
    for (int e = 0; e < p->num_epochs; e++) {
        int32_t *d = doc + (int64_t)e * nseq;
        for (int64_t s = 0; s < nseq; s++) d[s] = (int32_t)(p->seq_begin + s);
        shuffle_i32(d, nseq, shuffle_key(seed, split, 0, (uint32_t)e));
    }
    /* sample index: (document-index position, offset) where each sample starts;
     * a sample is seq_length + 1 tokens, the next one starts on its last token */
    int64_t di = 0;
    int32_t off = 0;
    sdoc[0] = 0, soff[0] = 0;
    for (int64_t s = 1; s <= p->n_samples; s++) {
        if ((s & 0xffff) == 0) progress_update(pg, (double)s, NULL);
        int64_t remaining = (int64_t)seq_length + 1;
        while (remaining != 0) {
            int64_t len = indexed_sequence_length(src, doc[di]) - off;
            remaining -= len;
            if (remaining <= 0) {
                off = (int32_t)(off + remaining + len - 1);
                remaining = 0;
            } else if (di == p->n_doc - 1) {
                off = indexed_sequence_length(src, doc[di]) - 1; /* only reached by the last sample */
                break;
            } else {
                di++;
                off = 0;
            }
        }
        sdoc[s] = di, soff[s] = off;
    }
    /* shuffle index */
    for (int64_t s = 0; s < p->n_samples; s++) shuf[s] = s;
    int64_t first = p->n_samples;
    if (p->separate_final_epoch) first = ((int64_t)(p->num_epochs - 1) * tokens_per_epoch - 1) / seq_length;
    shuffle_i64(shuf, first, shuffle_key(seed, split, 1, 0));
    shuffle_i64(shuf + first, p->n_samples - first, shuffle_key(seed, split, 1, 1));
    p->doc_index = doc, p->sample_doc = sdoc, p->sample_off = soff, p->shuffle = shuf;
    return 0;
}

static void part_free(gpt_part_t *p) {
    for (int k = 0; k < 4; k++) free(p->owned[k]);
    file_map_close(&p->cache);
    memset(p, 0, sizeof *p);
}

/* ---- the cache ----------------------------------------------------------------- */

#define CACHE_MAGIC "megac-gpt-index1" /* 16 bytes */
#define CACHE_HEADER 64

static uint64_t hash_bytes(const uint8_t *p, size_t n, uint64_t h) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0x100000001b3ULL;
        h ^= h >> 29;
    }
    return fnv1a64(p + i, n - i, h);
}

static size_t pad8(size_t n) { return (n + 7) & ~(size_t)7; }

typedef struct cache_layout {
    size_t doc, sdoc, soff, shuf, total;
} cache_layout_t;

static cache_layout_t layout_of(const gpt_part_t *p) {
    cache_layout_t l;
    l.doc = CACHE_HEADER;
    l.sdoc = l.doc + pad8((size_t)p->n_doc * 4);
    l.soff = l.sdoc + (size_t)(p->n_samples + 1) * 8;
    l.shuf = l.soff + pad8((size_t)(p->n_samples + 1) * 4);
    l.total = l.shuf + (size_t)p->n_samples * 8;
    return l;
}

static uint64_t payload_checksum(const gpt_part_t *p) {
    uint64_t h = FNV1A64_INIT;
    h = hash_bytes((const uint8_t *)p->doc_index, (size_t)p->n_doc * 4, h);
    h = hash_bytes((const uint8_t *)p->sample_doc, (size_t)(p->n_samples + 1) * 8, h);
    h = hash_bytes((const uint8_t *)p->sample_off, (size_t)(p->n_samples + 1) * 4, h);
    return hash_bytes((const uint8_t *)p->shuffle, (size_t)p->n_samples * 8, h);
}

/* idx_hash: a hash of the dataset's whole .idx, so that a changed dataset misses the cache */
static uint64_t description_hash(uint64_t idx_hash, const gpt_part_t *p, int split, int seq_length, uint64_t seed) {
    uint64_t h = idx_hash;
    char desc[256];
    int n = snprintf(desc, sizeof desc, "megac GPT indices v1|split %d [%lld,%lld)|seq %d|seed %llu|samples %lld", split,
                     (long long)p->seq_begin, (long long)p->seq_end, seq_length, (unsigned long long)seed,
                     (long long)p->requested);
    return fnv1a64(desc, (size_t)n, h);
}

static char *cache_path(const char *prefix, const char *cache_dir, uint64_t hash, int split) {
    const char *base = strrchr(prefix, '/');
    base = base ? base + 1 : prefix;
    size_t dirlen = cache_dir ? strlen(cache_dir) : (size_t)(base - prefix);
    size_t n = dirlen + strlen(base) + 64;
    char *path = malloc(n);
    if (!path) return NULL;
    if (cache_dir) snprintf(path, n, "%s/%s.%016llx.%s.gptidx", cache_dir, base, (unsigned long long)hash, SPLIT_NAME[split]);
    else snprintf(path, n, "%.*s%s.%016llx.%s.gptidx", (int)dirlen, prefix, base, (unsigned long long)hash, SPLIT_NAME[split]);
    return path;
}

/* Maps and checks a cache file; 1 = usable, 0 = absent, -1 = present but bad (why in note). */
static int cache_load(gpt_part_t *p, const char *path, uint64_t hash, const indexed_dataset_t *src, char *note,
                      size_t note_len) {
    if (access(path, F_OK) != 0) return 0;
    err_t e = {{0}};
    if (file_map_open(&p->cache, path, &e) != 0) {
        snprintf(note, note_len, "%s", e.msg);
        return -1;
    }
    const uint8_t *d = p->cache.data;
    cache_layout_t l = layout_of(p);
    const char *why = NULL;
    uint64_t h[6];
    if (p->cache.size != l.total) why = "its size does not match its parameters";
    else {
        for (int k = 0; k < 6; k++) memcpy(&h[k], d + 16 + 8 * k, 8);
        if (memcmp(d, CACHE_MAGIC, 16) != 0) why = "bad magic";
        else if (h[0] != hash || h[1] != (uint64_t)p->n_doc || h[2] != (uint64_t)p->n_samples || h[3] != (uint64_t)p->num_epochs)
            why = "its header does not match its parameters";
    }
    if (!why) {
        p->doc_index = (const int32_t *)(d + l.doc);
        p->sample_doc = (const int64_t *)(d + l.sdoc);
        p->sample_off = (const int32_t *)(d + l.soff);
        p->shuffle = (const int64_t *)(d + l.shuf);
        if (payload_checksum(p) != h[4]) why = "checksum mismatch (corrupted)";
    }
    /* bounds, so that even a colliding checksum cannot send a read out of range */
    for (int64_t i = 0; !why && i < p->n_doc; i++)
        if (p->doc_index[i] < p->seq_begin || p->doc_index[i] >= p->seq_end) why = "a document id out of range";
    for (int64_t i = 0; !why && i <= p->n_samples; i++) {
        int64_t di = p->sample_doc[i];
        if (di < 0 || di >= p->n_doc || p->sample_off[i] < 0 ||
            p->sample_off[i] >= indexed_sequence_length(src, p->doc_index[di]) + (i == 0))
            why = "a sample boundary out of range";
        else if (i > 0 && (di < p->sample_doc[i - 1] || (di == p->sample_doc[i - 1] && p->sample_off[i] <= p->sample_off[i - 1])))
            why = "sample boundaries out of order";
    }
    for (int64_t i = 0; !why && i < p->n_samples; i++)
        if (p->shuffle[i] < 0 || p->shuffle[i] >= p->n_samples) why = "a shuffle entry out of range";
    if (why) {
        snprintf(note, note_len, "%s: %s; rebuilding it", path, why);
        file_map_close(&p->cache);
        p->doc_index = NULL, p->sample_doc = NULL, p->sample_off = NULL, p->shuffle = NULL;
        return -1;
    }
    return 1;
}

static int cache_save(const gpt_part_t *p, const char *path, uint64_t hash, char *note, size_t note_len) {
    size_t n = strlen(path) + 32;
    char *tmp = malloc(n);
    if (!tmp) return -1;
    snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    int ok = f != NULL;
    if (ok) {
        uint8_t head[CACHE_HEADER] = {0};
        uint64_t h[6] = {hash, (uint64_t)p->n_doc, (uint64_t)p->n_samples, (uint64_t)p->num_epochs, payload_checksum(p), 0};
        memcpy(head, CACHE_MAGIC, 16);
        memcpy(head + 16, h, sizeof h);
        static const uint8_t zeros[8] = {0};
        size_t dn = (size_t)p->n_doc * 4, on = (size_t)(p->n_samples + 1) * 4;
        ok = fwrite(head, 1, sizeof head, f) == sizeof head &&
             fwrite(p->doc_index, 4, (size_t)p->n_doc, f) == (size_t)p->n_doc &&
             fwrite(zeros, 1, pad8(dn) - dn, f) == pad8(dn) - dn &&
             fwrite(p->sample_doc, 8, (size_t)p->n_samples + 1, f) == (size_t)p->n_samples + 1 &&
             fwrite(p->sample_off, 4, (size_t)p->n_samples + 1, f) == (size_t)p->n_samples + 1 &&
             fwrite(zeros, 1, pad8(on) - on, f) == pad8(on) - on &&
             fwrite(p->shuffle, 8, (size_t)p->n_samples, f) == (size_t)p->n_samples && fflush(f) == 0 &&
             fsync(fileno(f)) == 0;
        ok = (fclose(f) == 0) && ok;
        ok = ok && rename(tmp, path) == 0;
    }
    if (!ok) {
        snprintf(note, note_len, "cannot write the index cache %s (%s); indices kept in memory only", path, strerror(errno));
        remove(tmp);
    }
    free(tmp);
    return ok ? 0 : -1;
}

/* ---- opening ----------------------------------------------------------------------- */

/* Refuses, before anything is built, a request of dataset k's split that needs
 * more than max_epochs epochs of it (an empty or tiny split is left to open_part). */
static int check_epochs(const gpt_dataset_t *ds, int k, int split, int64_t requested, const double bounds[4],
                        int64_t max_epochs, const char *request, err_t *err) {
    if (max_epochs <= 0) return 0;
    const indexed_dataset_t *src = &ds->sources[k];
    int64_t n = indexed_num_sequences(src), tokens = 0;
    int64_t b = (int64_t)nearbyint(bounds[split] * (double)n), e = (int64_t)nearbyint(bounds[split + 1] * (double)n);
    for (int64_t s = b; s < e; s++) tokens += indexed_sequence_length(src, s);
    if (tokens < 2) return 0;
    /* requested <= (INT64_MAX - 2) / seq_length / 2 (checked by the caller): no overflow */
    int64_t epochs = (requested * ds->seq_length + 1 + tokens - 1) / tokens;
    if (epochs <= max_epochs) return 0;
    char a[32], w[32], t[32], m[32], x[32], me[32];
    int64_t per_epoch = (tokens - 1) / ds->seq_length;
    return err_set(err, "%s asks for %s %s samples, %s epochs of the %s windows of %d tokens that the %s split of %s "
                   "holds (%s tokens); more than %s epochs is refused, so at most %s samples",
                   request ? request : "the request", file_fmt_count(a, requested), SPLIT_WORD[split],
                   file_fmt_count(x, epochs), file_fmt_count(w, per_epoch), ds->seq_length + 1, SPLIT_WORD[split],
                   ds->prefixes[k], file_fmt_count(t, tokens), file_fmt_count(me, max_epochs),
                   file_fmt_count(m, mul_sat(max_epochs, per_epoch)));
}

static int64_t blend_want(const gpt_dataset_t *ds, int k, int64_t n) {
    return (int64_t)ceil(ceil((double)n * ds->weights[k]) * 1.005);
}

static int open_part(gpt_dataset_t *ds, int k, int split, int64_t requested, const double bounds[4],
                     const char *cache_dir, uint64_t idx_hash, err_t *err) {
    gpt_part_t *p = &ds->parts[split][k];
    const indexed_dataset_t *src = &ds->sources[k];
    int64_t n = indexed_num_sequences(src);
    p->seq_begin = (int64_t)nearbyint(bounds[split] * (double)n); /* round half to even, as Python's round() */
    p->seq_end = (int64_t)nearbyint(bounds[split + 1] * (double)n);
    p->requested = requested;
    if (p->seq_end <= p->seq_begin)
        return err_set(err, "%s: the %s split is empty (%lld sequences cut by --split); %lld samples were requested",
                       ds->prefixes[k], SPLIT_NAME[split], (long long)n, (long long)requested);
    int64_t tokens;
    if (plan_part(p, src, ds->seq_length, split, ds->prefixes[k], &tokens, err) != 0) return -1;
    uint64_t hash = description_hash(idx_hash, p, split, ds->seq_length, ds->seed);
    char *path = cache_path(ds->prefixes[k], cache_dir, hash, split);
    if (!path) return err_set(err, "out of memory");
    int got = cache_load(p, path, hash, src, ds->cache_note, sizeof ds->cache_note);
    if (got == 1) {
        ds->cache_loaded++;
        free(path);
        return 0;
    }
    if (got < 0) ds->cache_rebuilt++;
    char what[256];
    snprintf(what, sizeof what, "building the %s sample index of %s", SPLIT_NAME[split], ds->prefixes[k]);
    progress_t pg;
    progress_start(&pg, ds->progress, what, "samples", (double)p->n_samples, ds->progress == NULL);
    int brc = build_part(p, src, ds->seq_length, split, ds->seed, tokens, &pg, err);
    progress_end(&pg);
    if (brc != 0) {
        free(path);
        return err_prefix(err, "%s", ds->prefixes[k]);
    }
    ds->cache_built++;
    if (cache_save(p, path, hash, ds->cache_note, sizeof ds->cache_note) != 0) ds->cache_unsaved++;
    free(path);
    return 0;
}

/* Megatron's blending: sample i goes to the dataset lagging its weight most. */
static int build_blend(gpt_dataset_t *ds, int split, int64_t n, int64_t *taken, err_t *err) {
    ds->blend_source[split] = malloc((size_t)(n ? n : 1) * sizeof(uint16_t));
    ds->blend_sample[split] = malloc((size_t)(n ? n : 1) * sizeof(int64_t));
    if (!ds->blend_source[split] || !ds->blend_sample[split])
        return err_set(err, "out of memory for the %s blend of %lld samples", SPLIT_NAME[split], (long long)n);
    for (int k = 0; k < ds->n_sources; k++) taken[k] = 0;
    for (int64_t i = 0; i < n; i++) {
        double x = i > 1 ? (double)i : 1.0;
        int best = 0;
        double best_err = ds->weights[0] * x - (double)taken[0];
        for (int k = 1; k < ds->n_sources; k++) {
            double e = ds->weights[k] * x - (double)taken[k];
            if (e > best_err) best_err = e, best = k;
        }
        ds->blend_source[split][i] = (uint16_t)best;
        ds->blend_sample[split][i] = taken[best]++;
    }
    return 0;
}

void gpt_dataset_close(gpt_dataset_t *ds) {
    for (int s = 0; s < 3; s++) {
        if (ds->parts[s])
            for (int k = 0; k < ds->n_sources; k++) part_free(&ds->parts[s][k]);
        free(ds->parts[s]);
        free(ds->blend_source[s]);
        free(ds->blend_sample[s]);
    }
    if (ds->sources)
        for (int k = 0; k < ds->n_sources; k++) indexed_close(&ds->sources[k]);
    free(ds->sources);
    if (ds->prefixes)
        for (int k = 0; k < ds->n_sources; k++) free(ds->prefixes[k]);
    free(ds->prefixes);
    free(ds->weights);
    memset(ds, 0, sizeof *ds);
}

int gpt_dataset_open(gpt_dataset_t *ds, const gpt_dataset_config_t *cfg, err_t *err) {
    memset(ds, 0, sizeof *ds);
    double w[3];
    if (cfg->seq_length < 1) return err_set(err, "--seq-length must be positive (got %d)", cfg->seq_length);
    if (parse_split(cfg->split ? cfg->split : "969,30,1", w, err) != 0) return -1;
    for (int s = 0; s < 3; s++)
        if (cfg->num_samples[s] < 0 || cfg->num_samples[s] > (INT64_MAX - 2) / cfg->seq_length / 2) {
            char a[32];
            return err_set(err, "%s%s%s%s %s samples is out of range", cfg->request[s] ? cfg->request[s] : "",
                           cfg->request[s] ? ": " : "", cfg->num_samples[s] == INT64_MAX ? "more than " : "",
                           file_fmt_count(a, cfg->num_samples[s]), SPLIT_WORD[s]);
        }
    if (parse_data_path(ds, cfg->data_path, err) != 0) goto fail;
    ds->seq_length = cfg->seq_length;
    ds->seed = cfg->seed;
    ds->vocab_size = cfg->vocab_size;
    ds->progress = cfg->progress;
    ds->sources = calloc((size_t)ds->n_sources, sizeof *ds->sources);
    if (!ds->sources) {
        err_set(err, "out of memory");
        goto fail;
    }
    for (int k = 0; k < ds->n_sources; k++) {
        if (indexed_open(&ds->sources[k], ds->prefixes[k], err) != 0) {
            err_prefix(err, "--data-path");
            goto fail;
        }
        if (indexed_num_sequences(&ds->sources[k]) > INT32_MAX) {
            err_set(err, "--data-path %s: more than 2^31 sequences", ds->prefixes[k]);
            goto fail;
        }
    }
    uint64_t idx_hash[256];
    for (int k = 0; k < ds->n_sources; k++)
        idx_hash[k] = hash_bytes(ds->sources[k].idx.data, ds->sources[k].idx.size, FNV1A64_INIT);
    double bounds[4] = {0.0, w[0], w[0] + w[1], w[0] + w[1] + w[2]};
    for (int s = 0; s < 3; s++) /* every request against its splits' sizes, before building any index */
        for (int k = 0; k < ds->n_sources && cfg->num_samples[s] > 0 && w[s] > 0.0; k++) {
            int64_t n = cfg->num_samples[s], want = ds->n_sources == 1 ? n : blend_want(ds, k, n);
            if (check_epochs(ds, k, s, want, bounds, cfg->max_epochs, cfg->request[s], err) != 0) goto fail;
        }
    for (int s = 0; s < 3; s++) {
        int64_t n = cfg->num_samples[s];
        if (n == 0 || w[s] == 0.0) continue; /* not read, or a zero weight: no dataset, as Megatron */
        ds->parts[s] = calloc((size_t)ds->n_sources, sizeof(gpt_part_t));
        if (!ds->parts[s]) {
            err_set(err, "out of memory");
            goto fail;
        }
        if (ds->n_sources == 1) {
            if (open_part(ds, 0, s, n, bounds, cfg->cache_dir, idx_hash[0], err) != 0) goto fail;
            ds->num_samples[s] = ds->parts[s][0].n_samples;
            continue;
        }
        int64_t taken[256];
        if (build_blend(ds, s, n, taken, err) != 0) goto fail;
        for (int k = 0; k < ds->n_sources; k++) {
            int64_t want = blend_want(ds, k, n);
            if (want < taken[k]) want = taken[k];
            if (open_part(ds, k, s, want, bounds, cfg->cache_dir, idx_hash[k], err) != 0) goto fail;
        }
        ds->num_samples[s] = n;
    }
    return 0;
fail:
    gpt_dataset_close(ds);
    return -1;
}

/* ---- reading samples ---------------------------------------------------------------- */

static int read_raw(const gpt_dataset_t *ds, int split, int k, int64_t raw, int *out, err_t *err) {
    const gpt_part_t *p = &ds->parts[split][k];
    const indexed_dataset_t *src = &ds->sources[k];
    int64_t d0 = p->sample_doc[raw], d1 = p->sample_doc[raw + 1];
    int32_t o0 = p->sample_off[raw], o1 = p->sample_off[raw + 1];
    int64_t filled = 0, want = (int64_t)ds->seq_length + 1;
    for (int64_t d = d0; d <= d1; d++) {
        int64_t seq = p->doc_index[d];
        int64_t from = d == d0 ? o0 : 0;
        int64_t to = d == d1 ? (int64_t)o1 + 1 : indexed_sequence_length(src, seq);
        if (to > indexed_sequence_length(src, seq)) to = indexed_sequence_length(src, seq);
        if (to <= from) continue;
        if (filled + (to - from) > want) break;
        indexed_read(src, seq, from, to - from, (int32_t *)out + filled);
        filled += to - from;
    }
    if (filled != want)
        return err_set(err, "%s: %s sample %lld has %lld tokens, not %lld (inconsistent indices)", ds->prefixes[k],
                       SPLIT_NAME[split], (long long)raw, (long long)filled, (long long)want);
    if (ds->vocab_size > 0)
        for (int64_t i = 0; i < want; i++)
            if (out[i] < 0 || out[i] >= ds->vocab_size)
                return err_set(err, "%s.bin: token %d in %s sample %lld is outside the vocabulary of %d (wrong tokenizer or corrupted data)",
                               ds->prefixes[k], out[i], SPLIT_NAME[split], (long long)raw, ds->vocab_size);
    return 0;
}

int gpt_dataset_raw_sample(const gpt_dataset_t *ds, int split, int source, int64_t raw, int *out, err_t *err) {
    if (split < 0 || split > 2 || !ds->parts[split] || source < 0 || source >= ds->n_sources)
        return err_set(err, "no %s samples were built", split >= 0 && split <= 2 ? SPLIT_NAME[split] : "such");
    if (raw < 0 || raw >= ds->parts[split][source].n_samples)
        return err_set(err, "%s sample %lld is out of range (%lld samples)", SPLIT_NAME[split], (long long)raw,
                       (long long)ds->parts[split][source].n_samples);
    return read_raw(ds, split, source, raw, out, err);
}

int gpt_dataset_sample(const gpt_dataset_t *ds, int split, int64_t index, int *out, err_t *err) {
    if (split < 0 || split > 2 || index < 0 || index >= ds->num_samples[split])
        return err_set(err, "%s sample %lld is out of range (%lld samples were built)",
                       split >= 0 && split <= 2 ? SPLIT_NAME[split] : "?", (long long)index,
                       (long long)(split >= 0 && split <= 2 ? ds->num_samples[split] : 0));
    int k = 0;
    int64_t j = index;
    if (ds->blend_source[split]) k = ds->blend_source[split][index], j = ds->blend_sample[split][index];
    const gpt_part_t *p = &ds->parts[split][k];
    if (j >= p->n_samples)
        return err_set(err, "%s: blend sample %lld beyond the %lld built", ds->prefixes[k], (long long)j, (long long)p->n_samples);
    return read_raw(ds, split, k, p->shuffle[j], out, err);
}
