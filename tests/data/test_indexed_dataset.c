/* test_indexed_dataset.c — MMIDIDX writer/reader round trip (uint16 and int32,
 * multi-sequence and empty documents), and refusal of every truncation and of
 * corrupted header fields and arrays with a message naming the file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/indexed_dataset.h"
#include "tests/testing.h"

typedef struct doc {
    int nseq;
    int len[4];
    int32_t *tok[4];
} doc_t;

static char dir[] = "/tmp/megac-idx-XXXXXX";

static int write_docs(const char *prefix, int dtype, doc_t *docs, int n, err_t *err) {
    indexed_writer_t w;
    if (indexed_writer_open(&w, prefix, dtype, err) != 0) return -1;
    for (int d = 0; d < n; d++) {
        for (int s = 0; s < docs[d].nseq; s++)
            if (indexed_writer_add_sequence(&w, docs[d].tok[s], (size_t)docs[d].len[s], err) != 0) {
                indexed_writer_abort(&w);
                return -1;
            }
        if (indexed_writer_end_document(&w, err) != 0) {
            indexed_writer_abort(&w);
            return -1;
        }
    }
    return indexed_writer_finish(&w, err);
}

static void check_round_trip(const char *name, int dtype, int max_token, uint32_t stream) {
    char prefix[256];
    snprintf(prefix, sizeof prefix, "%s/%s", dir, name);
    enum { N = 200 };
    doc_t docs[N];
    rng_key_t k = {7, stream, 0};
    uint64_t c = 0;
    int64_t nseq = 0, ntok = 0;
    for (int d = 0; d < N; d++) {
        docs[d].nseq = d == 3 ? 0 : (int)(rng_u32(k, c++) % 4); /* document 3 (at least) is empty */
        for (int s = 0; s < docs[d].nseq; s++) {
            int len = (d == 5 && s == 0) ? 0 : (int)(rng_u32(k, c++) % 60);
            docs[d].len[s] = len;
            docs[d].tok[s] = malloc(sizeof(int32_t) * (size_t)(len + 1));
            for (int i = 0; i < len; i++) docs[d].tok[s][i] = (int32_t)(rng_u32(k, c++) % (uint32_t)max_token);
            if (len) docs[d].tok[s][0] = max_token - 1; /* the largest id appears */
            nseq++;
            ntok += len;
        }
    }
    err_t err = {{0}};
    CHECK(write_docs(prefix, dtype, docs, N, &err) == 0, "%s: write: %s", name, err.msg);
    indexed_dataset_t ds;
    if (indexed_open(&ds, prefix, &err) != 0) {
        CHECK(0, "%s: open: %s", name, err.msg);
    } else {
        CHECK(ds.dtype == dtype, "%s: dtype %d", name, ds.dtype);
        CHECK(indexed_num_sequences(&ds) == nseq, "%s: %lld sequences, wrote %lld", name, (long long)indexed_num_sequences(&ds), (long long)nseq);
        CHECK(indexed_num_documents(&ds) == N, "%s: %lld documents", name, (long long)indexed_num_documents(&ds));
        CHECK(ds.n_tokens == ntok, "%s: %lld tokens, wrote %lld", name, (long long)ds.n_tokens, (long long)ntok);
        int64_t seq = 0;
        int32_t buf[64];
        for (int d = 0; d < N; d++) {
            CHECK(indexed_document_index(&ds, d) == seq, "%s: document %d starts at %lld", name, d, (long long)indexed_document_index(&ds, d));
            for (int s = 0; s < docs[d].nseq; s++, seq++) {
                CHECK(indexed_sequence_length(&ds, seq) == docs[d].len[s], "%s: sequence %lld length", name, (long long)seq);
                indexed_read(&ds, seq, 0, docs[d].len[s], buf);
                CHECK(memcmp(buf, docs[d].tok[s], sizeof(int32_t) * (size_t)docs[d].len[s]) == 0, "%s: sequence %lld tokens", name, (long long)seq);
                if (docs[d].len[s] > 3) { /* a read from an offset */
                    indexed_read(&ds, seq, 2, 1, buf);
                    CHECK(buf[0] == docs[d].tok[s][2], "%s: offset read", name);
                }
            }
        }
        CHECK(indexed_document_index(&ds, N) == nseq, "%s: document index ends at %lld", name, (long long)indexed_document_index(&ds, N));
        indexed_close(&ds);
    }
    for (int d = 0; d < N; d++)
        for (int s = 0; s < docs[d].nseq; s++) free(docs[d].tok[s]);
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.bin.tmp", prefix);
    CHECK(access(tmp, F_OK) != 0, "%s: temporary file left behind", name);
}

static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    rewind(f);
    unsigned char *p = malloc(*n + 1);
    if (fread(p, 1, *n, f) != *n) *n = 0;
    fclose(f);
    return p;
}

static void spit(const char *path, const unsigned char *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(p, 1, n, f);
        fclose(f);
    }
}

/* Opens prefix; must fail with a message containing `want` (and the file name). */
static void expect_refused(const char *what, const char *prefix, const char *want) {
    indexed_dataset_t ds;
    err_t err = {{0}};
    if (indexed_open(&ds, prefix, &err) == 0) {
        CHECK(0, "%s: accepted", what);
        indexed_close(&ds);
        return;
    }
    CHECK(strstr(err.msg, prefix) != NULL, "%s: message does not name the file: %s", what, err.msg);
    CHECK(!want || strstr(err.msg, want) != NULL, "%s: message lacks '%s': %s", what, want, err.msg);
    CHECK(strchr(err.msg, '\n') == NULL, "%s: message is more than one line", what);
}

static void put64(unsigned char *p, int64_t v) { memcpy(p, &v, 8); }
static void put32(unsigned char *p, int32_t v) { memcpy(p, &v, 4); }

static void check_corruption(void) {
    char good[256], bad[256], path[300];
    snprintf(good, sizeof good, "%s/u16", dir);
    snprintf(bad, sizeof bad, "%s/bad", dir);
    size_t ni, nb;
    snprintf(path, sizeof path, "%s.idx", good);
    unsigned char *idx = slurp(path, &ni);
    snprintf(path, sizeof path, "%s.bin", good);
    unsigned char *bin = slurp(path, &nb);
    if (!idx || !bin || ni < 100) {
        CHECK(0, "cannot read the written files");
        return;
    }
    char bad_idx[300], bad_bin[300];
    snprintf(bad_idx, sizeof bad_idx, "%s.idx", bad);
    snprintf(bad_bin, sizeof bad_bin, "%s.bin", bad);
    spit(bad_bin, bin, nb);
    /* every truncation of the index */
    int refused = 0;
    for (size_t n = 0; n < ni; n++) {
        spit(bad_idx, idx, n);
        indexed_dataset_t ds;
        err_t err = {{0}};
        if (indexed_open(&ds, bad, &err) == 0) indexed_close(&ds);
        else refused++;
    }
    CHECK(refused == (int)ni, "%d of %zu truncated indices refused", refused, ni);
    spit(bad_idx, idx, 20);
    expect_refused("truncated header", bad, "shorter than");
    spit(bad_idx, idx, ni - 8);
    expect_refused("truncated arrays", bad, "bytes");

    int64_t S, D;
    memcpy(&S, idx + 18, 8);
    memcpy(&D, idx + 26, 8);
    size_t lens = MMIDIDX_HEADER_BYTES, ptrs = lens + 4 * (size_t)S, docs = ptrs + 8 * (size_t)S;
    unsigned char *m = malloc(ni);
#define MUTATE(what, want, stmt)                                                                                       \
    do {                                                                                                               \
        memcpy(m, idx, ni);                                                                                            \
        stmt;                                                                                                          \
        spit(bad_idx, m, ni);                                                                                          \
        expect_refused(what, bad, want);                                                                               \
    } while (0)
    MUTATE("bad magic", "offset 0", m[3] = 'X');
    MUTATE("version 2", "offset 9", m[9] = 2);
    MUTATE("dtype 0", "offset 17", m[17] = 0);
    MUTATE("dtype 9", "offset 17", m[17] = 9);
    MUTATE("float dtype", "offset 17", m[17] = MMIDIDX_FLOAT32);
    MUTATE("int32 dtype over a uint16 .bin", NULL, m[17] = MMIDIDX_INT32);
    MUTATE("sequence count + 1", "offset 18", put64(m + 18, S + 1));
    MUTATE("huge sequence count", "offset 18", put64(m + 18, INT64_MAX / 3));
    MUTATE("document count + 1", NULL, put64(m + 26, D + 1));
    MUTATE("negative length", "offset", put32(m + lens + 8, -5));
    MUTATE("length + 1", NULL, { int32_t v; memcpy(&v, m + lens + 4, 4); put32(m + lens + 4, v + 1); });
    MUTATE("pointer off by 2", "offset", { int64_t v; memcpy(&v, m + ptrs + 8 * 7, 8); put64(m + ptrs + 8 * 7, v + 2); });
    MUTATE("document index not starting at 0", "offset", put64(m + docs, 1));
    MUTATE("document index falling", "offset", put64(m + docs + 8 * 10, 0));
    MUTATE("document index past the sequences", "offset", put64(m + docs + 8 * (size_t)(D - 1), S + 1));
    /* the .bin: truncated, longer, missing */
    spit(bad_idx, idx, ni);
    spit(bad_bin, bin, nb - 1);
    expect_refused("truncated .bin", bad, "truncated");
    unsigned char *longer = calloc(nb + 2, 1);
    memcpy(longer, bin, nb);
    spit(bad_bin, longer, nb + 2);
    expect_refused("longer .bin", bad, ".bin");
    remove(bad_bin);
    expect_refused("missing .bin", bad, ".bin");
    remove(bad_idx);
    expect_refused("missing .idx", bad, ".idx");
    free(longer);
    free(m);
    free(idx);
    free(bin);
}

static void check_writer_errors(void) {
    char prefix[256];
    snprintf(prefix, sizeof prefix, "%s/w", dir);
    indexed_writer_t w;
    err_t err = {{0}};
    CHECK(indexed_writer_open(&w, prefix, MMIDIDX_UINT16, &err) == 0, "open: %s", err.msg);
    int32_t big[2] = {5, 70000};
    CHECK(indexed_writer_add_sequence(&w, big, 2, &err) != 0 && strstr(err.msg, "70000"), "uint16 took 70000: %s", err.msg);
    indexed_writer_abort(&w);
    char path[300];
    snprintf(path, sizeof path, "%s.bin.tmp", prefix);
    CHECK(access(path, F_OK) != 0, "abort left %s", path);
    snprintf(path, sizeof path, "%s.bin", prefix);
    CHECK(access(path, F_OK) != 0, "abort left %s", path);
    CHECK(indexed_writer_open(&w, "/nonexistent-dir/x", MMIDIDX_INT32, &err) != 0 && strstr(err.msg, "/nonexistent-dir/x"),
          "writer in a missing directory: %s", err.msg);
    CHECK(indexed_dtype_for_vocab(50257) == MMIDIDX_UINT16 && indexed_dtype_for_vocab(65499) == MMIDIDX_UINT16 &&
          indexed_dtype_for_vocab(65500) == MMIDIDX_INT32, "optimal dtype");
}

int main(void) {
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    check_round_trip("u16", MMIDIDX_UINT16, 50257, 1);
    check_round_trip("i32", MMIDIDX_INT32, 1 << 30, 2);
    check_corruption();
    check_writer_errors();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return test_exit("test_indexed_dataset");
}
