/* bert_dataset.c — BERT samples from sentence-level indexed datasets, and
 * NVIDIA's HDF5 shards (see bert_dataset.h). */
#include "bert_dataset.h"

#include <hdf5.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../framework/fileio.h"
#include "../framework/progress.h"
#include "../framework/rng.h"
#include "buffers.h"

#define LONG_SENTENCE_LEN 512
#define MAX_NGRAM 3

static const char *const SPLIT_NAME[3] = {"train", "valid", "test"};

/* A stream of counter-RNG draws. */
typedef struct draw {
    rng_key_t key;
    uint64_t c;
} draw_t;

static uint32_t draw_u32(draw_t *d) { return rng_u32(d->key, d->c++); }

static double draw_u01(draw_t *d) { /* 53 bits, [0, 1) */
    uint64_t a = draw_u32(d) >> 5, b = draw_u32(d) >> 6;
    return ((double)a * 67108864.0 + (double)b) / 9007199254740992.0;
}

static int64_t draw_below(draw_t *d, int64_t n) {
    uint64_t r = (uint64_t)draw_u32(d) << 32 | draw_u32(d);
    return (int64_t)(r % (uint64_t)n);
}

static draw_t draw_key(uint64_t seed, int split, int what, uint64_t index) {
    /* index: the sample; its high bits go to the stream, so billions of samples stay distinct */
    uint32_t sub = 0xB00u | (uint32_t)split << 4 | (uint32_t)what;
    draw_t d = {{seed, rng_stream(RNG_PURPOSE_DATA, sub, (uint32_t)(index >> 32) & 0xFF), (uint32_t)index}, 0};
    return d;
}

/* Megatron's get_target_sample_len. */
static int64_t target_length(int ratio, int64_t max_len, draw_t *d) {
    if (ratio == 0) return max_len;
    uint32_t r = draw_u32(d);
    if (r % (uint32_t)ratio == 0) return 2 + (int64_t)(r % (uint32_t)(max_len - 1));
    return max_len;
}

static int build_map(bert_dataset_t *ds, int split, progress_t *pg, err_t *err) {
    const bert_dataset_config_t *c = &ds->cfg;
    const indexed_dataset_t *src = &ds->src;
    int64_t want = c->num_samples[split], cap = 0, n = 0, shown = 0;
    int64_t *m = NULL;
    int min_sent = c->binary_head ? 2 : 1;
    int64_t max_len = c->seq_length - 3;
    int ratio = c->short_seq_prob > 0 ? (int)nearbyint(1.0 / c->short_seq_prob) : 0;
    draw_t d = draw_key(c->seed, split, 0, 0);
    while (n < want) {
        int64_t before = n;
        for (int64_t doc = ds->doc_begin[split]; doc < ds->doc_end[split]; doc++) {
            int64_t s0 = indexed_document_index(src, doc), s1 = indexed_document_index(src, doc + 1);
            int64_t remain = s1 - s0;
            int long_sentence = 0;
            if (remain > 1)
                for (int64_t s = s0; s < s1 && !long_sentence; s++) long_sentence = indexed_sequence_length(src, s) > LONG_SENTENCE_LEN;
            if (remain < min_sent || long_sentence) continue;
            int64_t seq_len = 0, num_sent = 0, prev = s0, target = target_length(ratio, max_len, &d);
            for (int64_t s = s0; s < s1; s++) {
                seq_len += indexed_sequence_length(src, s);
                num_sent++;
                remain--;
                if ((seq_len >= target && remain > 1 && num_sent >= min_sent) || remain == 0) {
                    if (n == cap) {
                        cap = cap ? 2 * cap : 1024;
                        int64_t *p = realloc(m, (size_t)cap * 3 * sizeof *m);
                        if (!p) {
                            free(m);
                            return err_set(err, "out of memory for the BERT %s sample mapping", SPLIT_NAME[split]);
                        }
                        m = p;
                    }
                    m[3 * n] = prev, m[3 * n + 1] = s + 1, m[3 * n + 2] = target;
                    n++;
                    prev = s + 1;
                    target = target_length(ratio, max_len, &d);
                    seq_len = 0, num_sent = 0;
                }
            }
            if (n > shown && shown < want) progress_update(pg, (double)((shown = n) < want ? n : want), NULL);
        }
        if (n == before) {
            free(m);
            return err_set(err, "%s: no document of the %s split has %d or more sentences of at most %d tokens "
                           "(was it preprocessed with --split-sentences?)", ds->src.prefix, SPLIT_NAME[split], min_sent,
                           LONG_SENTENCE_LEN);
        }
        if (before == 0 && c->max_epochs > 0 && (want - 1) / n + 1 > c->max_epochs) {
            /* one pass made n samples: refuse before building the rest */
            static const char *const word[3] = {"training", "validation", "test"};
            char a[32], e[32], p1[32], mx[32], me[32];
            int64_t most = n > INT64_MAX / c->max_epochs ? INT64_MAX : n * c->max_epochs;
            free(m);
            return err_set(err, "%s asks for %s %s samples, %s passes over the %s samples one pass over the %s split "
                           "of %s makes; more than %s passes is refused, so at most %s samples",
                           c->request[split] ? c->request[split] : "the request", file_fmt_count(a, want), word[split],
                           file_fmt_count(e, (want - 1) / n + 1), file_fmt_count(p1, n), word[split], ds->src.prefix,
                           file_fmt_count(me, c->max_epochs), file_fmt_count(mx, most));
        }
    }
    draw_t sh = draw_key(c->seed, split, 1, 0);
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = draw_below(&sh, i + 1);
        for (int k = 0; k < 3; k++) {
            int64_t t = m[3 * i + k];
            m[3 * i + k] = m[3 * j + k];
            m[3 * j + k] = t;
        }
    }
    ds->map[split] = m;
    ds->num_samples[split] = n;
    return 0;
}

void bert_dataset_close(bert_dataset_t *ds) {
    indexed_close(&ds->src);
    free(ds->is_piece);
    for (int s = 0; s < 3; s++) free(ds->map[s]);
    memset(ds, 0, sizeof *ds);
}

int bert_dataset_open(bert_dataset_t *ds, const bert_dataset_config_t *cfg, const wordpiece_t *vocab, err_t *err) {
    memset(ds, 0, sizeof *ds);
    ds->cfg = *cfg;
    ds->vocab = vocab;
    if (cfg->seq_length < 8) return err_set(err, "--seq-length %d is too short for BERT samples (at least 8)", cfg->seq_length);
    if (!(cfg->mask_prob > 0 && cfg->mask_prob < 1)) return err_set(err, "--mask-prob must be in (0, 1) (got %g)", cfg->mask_prob);
    if (!(cfg->short_seq_prob >= 0 && cfg->short_seq_prob <= 1))
        return err_set(err, "--short-seq-prob must be in [0, 1] (got %g)", cfg->short_seq_prob);
    static const char *const need[4] = {"[CLS]", "[SEP]", "[MASK]", "[PAD]"};
    int *ids[4] = {&ds->cls, &ds->sep, &ds->mask, &ds->pad};
    for (int k = 0; k < 4; k++)
        if ((*ids[k] = wordpiece_token_id(vocab, need[k])) < 0) return err_set(err, "the BERT vocabulary has no %s token", need[k]);
    ds->vocab_size = wordpiece_vocab_size(vocab);
    ds->is_piece = malloc((size_t)ds->vocab_size);
    if (!ds->is_piece) return err_set(err, "out of memory");
    for (int i = 0; i < ds->vocab_size; i++) {
        const char *t = wordpiece_token(vocab, i);
        ds->is_piece[i] = t[0] == '#' && t[1] == '#';
    }
    if (indexed_open(&ds->src, cfg->data_path, err) != 0) {
        err_prefix(err, "--data-path");
        bert_dataset_close(ds);
        return -1;
    }
    /* split by documents, bounds rounded half to even as Python's round() */
    double w[3] = {969, 30, 1}, total;
    if (cfg->split && sscanf(cfg->split, "%lf,%lf,%lf", &w[0], &w[1], &w[2]) != 3) {
        bert_dataset_close(ds);
        return err_set(err, "--split '%s': expected three weights like 949,50,1", cfg->split);
    }
    total = w[0] + w[1] + w[2];
    if (!(w[0] >= 0 && w[1] >= 0 && w[2] >= 0 && total > 0)) {
        bert_dataset_close(ds);
        return err_set(err, "--split '%s': weights must be non-negative and not all zero", cfg->split);
    }
    int64_t ndocs = indexed_num_documents(&ds->src);
    double b[4] = {0, w[0] / total, w[0] / total + w[1] / total, w[0] / total + w[1] / total + w[2] / total};
    for (int s = 0; s < 3; s++) {
        ds->doc_begin[s] = (int64_t)nearbyint(b[s] * (double)ndocs);
        ds->doc_end[s] = (int64_t)nearbyint(b[s + 1] * (double)ndocs);
        if (cfg->num_samples[s] <= 0 || w[s] == 0.0) continue; /* not read, or a zero weight: no dataset */
        if (ds->doc_end[s] <= ds->doc_begin[s]) {
            err_set(err, "%s: the %s split is empty (%lld documents cut by --split %s); %lld samples were requested",
                    ds->src.prefix, SPLIT_NAME[s], (long long)ndocs, cfg->split ? cfg->split : "969,30,1",
                    (long long)cfg->num_samples[s]);
            bert_dataset_close(ds);
            return -1;
        }
        char what[4200];
        snprintf(what, sizeof what, "building the BERT %s sample map of %s", SPLIT_NAME[s], ds->src.prefix);
        progress_t pg;
        progress_start(&pg, cfg->progress, what, "samples", (double)cfg->num_samples[s], cfg->progress == NULL);
        int brc = build_map(ds, s, &pg, err);
        progress_end(&pg);
        if (brc != 0) {
            bert_dataset_close(ds);
            return -1;
        }
    }
    /* every token must be an id of the vocabulary */
    int32_t *buf = NULL;
    size_t cap = 0;
    for (int64_t s = 0; s < ds->src.n_seq; s++) {
        int32_t len = indexed_sequence_length(&ds->src, s);
        if (buf_reserve((void **)&buf, &cap, (size_t)len + 1, sizeof *buf) != 0) {
            free(buf);
            bert_dataset_close(ds);
            return err_set(err, "out of memory");
        }
        indexed_read(&ds->src, s, 0, len, buf);
        for (int32_t i = 0; i < len; i++)
            if (buf[i] < 0 || buf[i] >= ds->vocab_size) {
                err_set(err, "%s.bin: token %d of sentence %lld is outside the vocabulary of %d (another tokenizer?)",
                        cfg->data_path, buf[i], (long long)s, ds->vocab_size);
                free(buf);
                bert_dataset_close(ds);
                return -1;
            }
    }
    free(buf);
    return 0;
}

/* Megatron's _create_masked_lm_predictions with whole-word n-grams (n <= 3). */
static int mask_tokens(const bert_dataset_t *ds, int32_t *tok, int n, int64_t target, draw_t *d, bert_sample_t *out) {
    int *cand_pos = malloc(sizeof(int) * (size_t)n * 2 + sizeof(int) * 2), *cand_off = cand_pos + n;
    int *order = malloc(sizeof(int) * (size_t)(n + 1));
    uint8_t *masked = calloc((size_t)n + 1, 1);
    int32_t *orig = malloc(sizeof(int32_t) * (size_t)(n + 1));
    if (!cand_pos || !order || !masked || !orig) {
        free(cand_pos), free(order), free(masked), free(orig);
        return -1;
    }
    memcpy(orig, tok, sizeof(int32_t) * (size_t)n);
    int ncand = 0, npos = 0;
    for (int i = 0; i < n; i++) {
        if (tok[i] == ds->cls || tok[i] == ds->sep) continue;
        if (!ds->is_piece[tok[i]] || ncand == 0) cand_off[ncand++] = npos; /* a word starts a candidate */
        cand_pos[npos++] = i;
    }
    cand_off[ncand] = npos;
    double n_maskings = fmin(ds->cfg.mask_prob * (double)target, fmax(1.0, nearbyint((double)n * ds->cfg.mask_prob)));
    for (int k = 0; k < ncand; k++) order[k] = k;
    for (int k = ncand - 1; k > 0; k--) {
        int j = (int)draw_below(d, k + 1), t = order[k];
        order[k] = order[j], order[j] = t;
    }
    double h = 0.0;
    for (int g = 1; g <= MAX_NGRAM; g++) h += 1.0 / g;
    int count = 0;
    for (int c = 0; c < ncand && count < n_maskings; c++) {
        int k = order[c];
        double u = draw_u01(d), acc = 0.0;
        int g = MAX_NGRAM;
        for (int x = 1; x <= MAX_NGRAM; x++) {
            acc += 1.0 / x / h;
            if (u < acc) {
                g = x;
                break;
            }
        }
        int first = 0, last = 0, fits = 0; /* positions cand_pos[first..last) */
        for (; g >= 1; g--) {
            int end = k + g < ncand ? k + g : ncand;
            first = cand_off[k], last = cand_off[end];
            if (n_maskings >= count + (last - first)) {
                fits = 1;
                break;
            }
        }
        if (!fits) continue;
        int taken = 0;
        for (int p = first; p < last; p++) taken |= masked[cand_pos[p]];
        if (taken) continue;
        for (int p = first; p < last; p++) {
            int i = cand_pos[p];
            masked[i] = 1;
            if (draw_u01(d) < 0.8) tok[i] = ds->mask;
            else if (draw_u01(d) >= 0.5) tok[i] = (int32_t)draw_below(d, ds->vocab_size);
            out->labels[i] = orig[i];
            out->loss_mask[i] = 1;
            count++;
        }
    }
    free(cand_pos), free(order), free(masked), free(orig);
    return 0;
}

int bert_dataset_sample(const bert_dataset_t *ds, int split, int64_t index, bert_sample_t *out, err_t *err) {
    if (split < 0 || split > 2 || index < 0 || index >= ds->num_samples[split])
        return err_set(err, "BERT %s sample %lld is out of range (%lld built)", split >= 0 && split <= 2 ? SPLIT_NAME[split] : "?",
                       (long long)index, (long long)(split >= 0 && split <= 2 ? ds->num_samples[split] : 0));
    const int64_t *m = ds->map[split] + 3 * index;
    int64_t s0 = m[0], s1 = m[1], target = m[2];
    const indexed_dataset_t *src = &ds->src;
    draw_t d = draw_key(ds->cfg.seed, split, 2, (uint64_t)index);
    int64_t nsent = s1 - s0, pivot = nsent;
    out->is_random = 0;
    if (ds->cfg.binary_head) {
        pivot = 1;
        if (nsent >= 3) pivot = 1 + draw_below(&d, nsent - 1);
        out->is_random = draw_u01(&d) < 0.5;
    }
    int64_t total = 0;
    for (int64_t s = s0; s < s1; s++) total += indexed_sequence_length(src, s);
    int32_t *buf = malloc(sizeof(int32_t) * (size_t)(total + 1));
    if (!buf) return err_set(err, "out of memory");
    int64_t a0 = 0, a1 = 0;
    for (int64_t s = s0, pos = 0; s < s1; s++) {
        int32_t len = indexed_sequence_length(src, s);
        indexed_read(src, s, 0, len, buf + pos);
        pos += len;
        if (s - s0 + 1 == pivot) a1 = pos;
    }
    int64_t b0 = a1, b1 = total;
    if (out->is_random) { /* B then A */
        int64_t t0 = a0, t1 = a1;
        a0 = b0, a1 = b1, b0 = t0, b1 = t1;
    }
    out->truncated = 0;
    while ((a1 - a0) + (b1 - b0) > target) {
        int trim_a = (a1 - a0) > (b1 - b0);
        int front = draw_u01(&d) < 0.5;
        if (trim_a) front ? a0++ : a1--;
        else front ? b0++ : b1--;
        out->truncated = 1;
    }
    int64_t la = a1 - a0, lb = b1 - b0, n = 2 + la + (lb ? lb + 1 : 0);
    int L = ds->cfg.seq_length;
    if (n > L) {
        free(buf);
        return err_set(err, "BERT sample %lld has %lld tokens, more than --seq-length %d", (long long)index, (long long)n, L);
    }
    int k = 0;
    out->tokens[k] = ds->cls, out->types[k++] = 0;
    for (int64_t i = a0; i < a1; i++) out->tokens[k] = buf[i], out->types[k++] = 0;
    out->tokens[k] = ds->sep, out->types[k++] = 0;
    if (lb) {
        for (int64_t i = b0; i < b1; i++) out->tokens[k] = buf[i], out->types[k++] = 1;
        out->tokens[k] = ds->sep, out->types[k++] = 1;
    }
    free(buf);
    for (int i = 0; i < L; i++) {
        out->labels[i] = -1;
        out->loss_mask[i] = 0;
        out->padding_mask[i] = i < n;
        if (i >= n) out->tokens[i] = ds->pad, out->types[i] = 0;
    }
    if (mask_tokens(ds, out->tokens, (int)n, target, &d, out) != 0) return err_set(err, "out of memory");
    return 0;
}

/* ---- NVIDIA HDF5 shards ----------------------------------------------------------- */

/* Reads integer dataset `name` (rank 1 or 2) as int32; rows/cols receive its shape. */
static int read_ints(hid_t f, const char *path, const char *name, int rank, int64_t *rows, int *cols, int32_t **out,
                     err_t *err) {
    *out = NULL;
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0) return err_set(err, "%s: no dataset '%s' (not an NVIDIA BERT shard?)", path, name);
    hid_t space = H5Dget_space(d), type = H5Dget_type(d);
    int r = H5Sget_simple_extent_ndims(space);
    hsize_t dims[2] = {0, 1};
    int ok = r == rank && H5Sget_simple_extent_dims(space, dims, NULL) == rank && H5Tget_class(type) == H5T_INTEGER;
    H5Tclose(type);
    H5Sclose(space);
    if (!ok) {
        H5Dclose(d);
        return err_set(err, "%s: dataset '%s' is not a %d-D integer array", path, name, rank);
    }
    if (rank == 1) dims[1] = 1;
    if (dims[0] > ((hsize_t)1 << 40) || dims[1] > ((hsize_t)1 << 20) || dims[0] * dims[1] > ((hsize_t)1 << 34)) {
        H5Dclose(d);
        return err_set(err, "%s: dataset '%s' of %llu x %llu is implausibly large", path, name,
                       (unsigned long long)dims[0], (unsigned long long)dims[1]);
    }
    *out = malloc(sizeof(int32_t) * (size_t)(dims[0] * dims[1] + 1));
    if (!*out) {
        H5Dclose(d);
        return err_set(err, "%s: out of memory reading '%s'", path, name);
    }
    herr_t rc = H5Dread(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, *out);
    H5Dclose(d);
    if (rc < 0) return err_set(err, "%s: cannot read dataset '%s' (corrupted?)", path, name);
    *rows = (int64_t)dims[0];
    *cols = (int)dims[1];
    return 0;
}

void bert_shard_close(bert_shard_t *sh) {
    free(sh->path);
    free(sh->input_ids), free(sh->input_mask), free(sh->segment_ids);
    free(sh->positions), free(sh->lm_ids), free(sh->nsp);
    memset(sh, 0, sizeof *sh);
}

static int check_range(const int32_t *v, int64_t n, int32_t lo, int32_t hi, const char *path, const char *name, err_t *err) {
    for (int64_t i = 0; i < n; i++)
        if (v[i] < lo || v[i] > hi)
            return err_set(err, "%s: %s[%lld] = %d is outside [%d, %d]", path, name, (long long)i, v[i], lo, hi);
    return 0;
}

int bert_shard_open(bert_shard_t *sh, const char *path, int vocab_size, err_t *err) {
    memset(sh, 0, sizeof *sh);
    if (access(path, R_OK) != 0) return err_set(err, "%s: cannot read it", path);
    if (file_check_regular(path, NULL, err) != 0) return -1; /* HDF5 would block opening a FIFO */
    H5E_auto2_t old_func;
    void *old_data;
    H5Eget_auto2(H5E_DEFAULT, &old_func, &old_data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* our own messages instead of HDF5's error stack */
    int rc = -1;
    hid_t f = H5Fis_hdf5(path) > 0 ? H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT) : -1;
    if (f < 0) {
        err_set(err, "%s: not a readable HDF5 file", path);
        goto out;
    }
    sh->path = strdup(path);
    int64_t n[6];
    int cols[6];
    int32_t **dst[6] = {&sh->input_ids, &sh->input_mask, &sh->segment_ids, &sh->positions, &sh->lm_ids, &sh->nsp};
    static const char *const names[6] = {"input_ids", "input_mask", "segment_ids", "masked_lm_positions", "masked_lm_ids",
                                         "next_sentence_labels"};
    for (int k = 0; k < 6; k++)
        if (read_ints(f, path, names[k], k == 5 ? 1 : 2, &n[k], &cols[k], dst[k], err) != 0) goto out;
    sh->n = n[0];
    sh->seq_length = cols[0];
    sh->max_pred = cols[3];
    for (int k = 1; k < 6; k++)
        if (n[k] != sh->n || (k < 3 && cols[k] != sh->seq_length) || (k == 4 && cols[k] != sh->max_pred)) {
            err_set(err, "%s: '%s' is %lld x %d, which does not match input_ids (%lld x %d) / masked_lm_positions (x %d)",
                    path, names[k], (long long)n[k], cols[k], (long long)sh->n, sh->seq_length, sh->max_pred);
            goto out;
        }
    int64_t nt = sh->n * sh->seq_length, np = sh->n * sh->max_pred;
    int32_t top = vocab_size > 0 ? vocab_size - 1 : INT32_MAX;
    if (check_range(sh->input_ids, nt, 0, top, path, "input_ids", err) || check_range(sh->input_mask, nt, 0, 1, path, "input_mask", err) ||
        check_range(sh->segment_ids, nt, 0, 1, path, "segment_ids", err) ||
        check_range(sh->positions, np, 0, sh->seq_length - 1, path, "masked_lm_positions", err) ||
        check_range(sh->lm_ids, np, 0, top, path, "masked_lm_ids", err) ||
        check_range(sh->nsp, sh->n, 0, 1, path, "next_sentence_labels", err))
        goto out;
    rc = 0;
out:
    if (f >= 0) H5Fclose(f);
    H5Eset_auto2(H5E_DEFAULT, old_func, old_data);
    if (rc != 0) bert_shard_close(sh);
    return rc;
}

int bert_shard_sample(const bert_shard_t *sh, int64_t i, bert_sample_t *out, err_t *err) {
    if (i < 0 || i >= sh->n) return err_set(err, "%s: sample %lld is out of range (%lld)", sh->path, (long long)i, (long long)sh->n);
    int L = sh->seq_length;
    for (int t = 0; t < L; t++) {
        out->tokens[t] = sh->input_ids[i * L + t];
        out->types[t] = sh->segment_ids[i * L + t];
        out->padding_mask[t] = sh->input_mask[i * L + t];
        out->labels[t] = -1;
        out->loss_mask[t] = 0;
    }
    const int32_t *pos = sh->positions + i * sh->max_pred, *ids = sh->lm_ids + i * sh->max_pred;
    for (int k = 0; k < sh->max_pred && pos[k] != 0; k++) { /* NVIDIA pads the positions with 0 */
        out->labels[pos[k]] = ids[k];
        out->loss_mask[pos[k]] = 1;
    }
    out->is_random = sh->nsp[i];
    out->truncated = 0;
    return 0;
}
