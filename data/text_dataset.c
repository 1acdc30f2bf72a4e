/* text_dataset.c — byte-level token stream samples (see text_dataset.h). */
#include "text_dataset.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../framework/fileio.h"
#include "../framework/rng.h"

static int parse_split(const char *s, double w[3], err_t *err) {
    w[0] = w[1] = w[2] = 0.0;
    const char *p = s;
    for (int i = 0; i < 3 && *p; i++) {
        char *end;
        w[i] = strtod(p, &end);
        if (end == p || w[i] < 0.0) return err_set(err, "--split '%s': expected up to three non-negative weights like 949,50,1", s);
        p = end;
        if (*p == ',' || *p == '/') p++;
        else if (*p) return err_set(err, "--split '%s': unexpected '%c'", s, *p);
    }
    if (*p) return err_set(err, "--split '%s': more than three weights", s);
    if (w[0] + w[1] + w[2] <= 0.0) return err_set(err, "--split '%s': weights sum to zero", s);
    return 0;
}

int text_dataset_open(text_dataset_t *ds, const char *path, int seq_length, const char *split,
                      uint64_t seed, err_t *err) {
    memset(ds, 0, sizeof *ds);
    double w[3];
    if (parse_split(split, w, err) != 0) return -1;
    if (seq_length <= 0) return err_set(err, "--seq-length must be positive (got %d)", seq_length);
    FILE *f;
    if (file_fopen_regular(path, "--data-path", &f, err) != 0) return -1;
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return err_set(err, "--data-path %s: cannot seek (not a regular file?)", path);
    }
    long size = ftell(f);
    if (size < 0) {
        fclose(f);
        return err_set(err, "--data-path %s: cannot tell its size", path);
    }
    rewind(f);
    double total = w[0] + w[1] + w[2];
    int64_t n = size;
    int64_t a = (int64_t)((double)n * w[0] / total), b = (int64_t)((double)n * (w[0] + w[1]) / total);
    if (a < (int64_t)seq_length + 1) {
        fclose(f);
        return err_set(err,
                       "--data-path %s: the training split holds %lld tokens, fewer than one sample "
                       "of --seq-length %d + 1",
                       path, (long long)a, seq_length);
    }
    ds->bytes = malloc((size_t)n);
    if (!ds->bytes) {
        fclose(f);
        return err_set(err, "--data-path %s: out of memory reading %lld bytes", path, (long long)n);
    }
    if (fread(ds->bytes, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        text_dataset_close(ds);
        return err_set(err, "--data-path %s: short read", path);
    }
    fclose(f);
    ds->nbytes = n;
    ds->begin[0] = 0, ds->end[0] = a;
    ds->begin[1] = a, ds->end[1] = b;
    ds->begin[2] = b, ds->end[2] = n;
    ds->seq_length = seq_length;
    ds->seed = seed;
    return 0;
}

void text_dataset_close(text_dataset_t *ds) {
    free(ds->bytes);
    memset(ds, 0, sizeof *ds);
}

int64_t text_dataset_num_windows(const text_dataset_t *ds, int split) {
    int64_t len = ds->end[split] - ds->begin[split];
    return len < ds->seq_length + 1 ? 0 : (len - 1) / ds->seq_length;
}

/* Feistel round function: Philox of the half-block. */
static uint64_t feistel_f(uint64_t x, uint64_t seed, uint32_t round_key, int round, uint64_t mask) {
    rng_key_t k = {seed, rng_stream(RNG_PURPOSE_DATA, round_key, 0), (uint32_t)round};
    uint32_t w[4];
    rng_philox(k, x, w);
    return ((uint64_t)w[0] << 32 | w[1]) & mask;
}

int64_t permute_index(int64_t i, int64_t n, uint64_t seed, uint32_t round_key) {
    if (n <= 1) return 0;
    int bits = 0;
    while (((int64_t)1 << bits) < n) bits++;
    if (bits % 2) bits++;
    int half = bits / 2;
    uint64_t mask = ((uint64_t)1 << half) - 1;
    uint64_t x = (uint64_t)i;
    do { /* cycle walking: the permutation of [0, 2^bits) restricted to [0, n) */
        uint64_t l = x >> half, r = x & mask;
        for (int round = 0; round < 4; round++) {
            uint64_t nl = r, nr = l ^ feistel_f(r, seed, round_key, round, mask);
            l = nl, r = nr;
        }
        x = l << half | r;
    } while (x >= (uint64_t)n);
    return (int64_t)x;
}

void text_dataset_sample(const text_dataset_t *ds, int split, int64_t index, int *out) {
    int64_t nw = text_dataset_num_windows(ds, split);
    int64_t epoch = index / nw, within = index % nw;
    int64_t w = split == SPLIT_TRAIN ? permute_index(within, nw, ds->seed, (uint32_t)epoch) : within;
    const uint8_t *src = ds->bytes + ds->begin[split] + w * ds->seq_length;
    for (int i = 0; i <= ds->seq_length; i++) out[i] = src[i];
}
