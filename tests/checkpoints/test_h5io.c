/* test_h5io.c — the checkpoint layers below the end-to-end tests:
 *   - Fletcher32 (block-wise SSE2 form, and fused with a copy) against HDF5's own
 *     byte-at-a-time algorithm, on random lengths, odd ones included;
 *   - tensors of 1 to 4 dimensions that span many chunks, with partial edge
 *     chunks and rows longer than a chunk: written through H5Dwrite_chunk, read
 *     back whole and in random boxes through HDF5's filter pipeline (which checks
 *     every checksum), and verified chunk by chunk;
 *   - Adam moments of 3-D and 4-D tensors saved by DP shards whose boundaries cut
 *     rows anywhere (ZeRO-1 files written rank by rank), then loaded under other
 *     shardings: every element lands where it belongs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoints/checkpoint.h"
#include "testing.h"

/* HDF5's H5_checksum_fletcher32, verbatim in behaviour */
static uint32_t fletcher_ref(const uint8_t *data, size_t n) {
    size_t len = n / 2;
    uint32_t s1 = 0, s2 = 0;
    while (len) {
        size_t t = len > 360 ? 360 : len;
        len -= t;
        do {
            s1 += (uint32_t)(((uint16_t)data[0]) << 8) | ((uint16_t)data[1]);
            data += 2;
            s2 += s1;
        } while (--t);
        s1 = (s1 & 0xffff) + (s1 >> 16);
        s2 = (s2 & 0xffff) + (s2 >> 16);
    }
    if (n % 2) {
        s1 += (uint32_t)(((uint16_t)*data) << 8);
        s2 += s1;
        s1 = (s1 & 0xffff) + (s1 >> 16);
        s2 = (s2 & 0xffff) + (s2 >> 16);
    }
    s1 = (s1 & 0xffff) + (s1 >> 16);
    s2 = (s2 & 0xffff) + (s2 >> 16);
    return (s2 << 16) | s1;
}

static uint64_t rs = 88172645463325252ull;
static uint64_t rnd(void) {
    rs ^= rs << 13, rs ^= rs >> 7, rs ^= rs << 17;
    return rs;
}

static void test_fletcher(void) {
    size_t cap = 20000;
    uint8_t *buf = malloc(cap + 16), *copy = malloc(cap + 16);
    int bad = 0;
    for (int t = 0; t < 3000; t++) {
        size_t n = (size_t)(rnd() % cap), off = (size_t)(rnd() % 16);
        for (size_t i = 0; i < n; i++) buf[off + i] = t % 7 == 0 ? 0xff : (uint8_t)rnd(); /* all-ones stresses the folds */
        uint32_t ref = fletcher_ref(buf + off, n);
        if (h5io_fletcher32(buf + off, n) != ref) bad++;
        if (h5io_fletcher32_copy(copy, buf + off, n) != ref || memcmp(copy, buf + off, n) != 0) bad++;
    }
    CHECK(bad == 0, "Fletcher32 differs from HDF5's in %d of 6000 cases", bad);
    printf("ok: Fletcher32 (and the fused copy) equal HDF5's algorithm on 3000 random buffers\n");
    free(buf), free(copy);
}

static int64_t volume(int nd, const int64_t *s) {
    int64_t v = 1;
    for (int d = 0; d < nd; d++) v *= s[d];
    return v;
}

static void test_tensors(const char *dir) {
    static const struct { int nd; int64_t shape[4]; } cases[] = {
        {1, {600001}},               /* 1-D: three chunks, the last partial */
        {2, {1000, 700}},            /* rows per chunk 374: a partial edge chunk */
        {2, {3, 300001}},            /* rows longer than a chunk: row segments */
        {3, {5, 7, 9001}},           /* 3-D, 4 rows of the middle dimension per chunk */
        {4, {2, 3, 4, 100003}},      /* 4-D, the third dimension cut */
    };
    char path[512];
    snprintf(path, sizeof path, "%s/t.h5", dir);
    err_t err = {{0}};
    h5io_stage_t stage = {0};
    hid_t f = h5io_create(path, &err);
    CHECK(f >= 0, "%s", err.msg);
    float *data[5];
    for (int c = 0; c < 5; c++) {
        int64_t n = volume(cases[c].nd, cases[c].shape);
        data[c] = malloc((size_t)n * sizeof(float));
        fill_normal(data[c], (size_t)n, 1.0f, 100 + (uint32_t)c);
        char name[32];
        snprintf(name, sizeof name, "g/t%d", c);
        hid_t ds = h5io_write_tensor(f, name, cases[c].nd, cases[c].shape, data[c], backend_cpu(), &stage, path, &err);
        CHECK(ds >= 0, "%s", err.msg);
        if (ds >= 0) H5Dclose(ds);
    }
    CHECK(h5io_close(f, path, &err) == 0, "%s", err.msg);
    f = h5io_open(path, &err);
    CHECK(f >= 0, "%s", err.msg);
    for (int c = 0; c < 5 && f >= 0; c++) {
        int nd = cases[c].nd;
        const int64_t *s = cases[c].shape;
        char name[32];
        snprintf(name, sizeof name, "g/t%d", c);
        hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
        int64_t bytes = 0, nch;
        uint64_t a0, s0;
        CHECK(h5io_verify_dataset(ds, &stage, &bytes, name, &err) == 0 && bytes == volume(nd, s) * 4, "verify %s: %s", name, err.msg);
        CHECK(h5io_chunk_info(ds, &nch, &a0, &s0) == 0 && nch > 1, "%s: %lld chunks", name, (long long)nch);
        /* random boxes, each compared element by element */
        int wrong = 0;
        for (int b = 0; b < 40; b++) {
            int64_t off[4], cnt[4], zero[4] = {0, 0, 0, 0};
            for (int d = 0; d < nd; d++) {
                off[d] = (int64_t)(rnd() % (uint64_t)s[d]);
                cnt[d] = 1 + (int64_t)(rnd() % (uint64_t)(s[d] - off[d]));
                if (cnt[d] > 2000) cnt[d] = 2000;
            }
            if (b == 0)
                for (int d = 0; d < nd; d++) off[d] = 0, cnt[d] = s[d]; /* the whole tensor */
            int64_t n = volume(nd, cnt);
            float *got = malloc((size_t)n * sizeof(float));
            if (h5io_read_box(ds, nd, off, cnt, cnt, zero, got, name, &err) != 0) {
                CHECK(0, "read %s: %s", name, err.msg);
                free(got);
                break;
            }
            for (int64_t i = 0; i < n; i++) {
                int64_t rem = i, lin = 0, idx[4];
                for (int d = nd - 1; d >= 0; d--) idx[d] = off[d] + rem % cnt[d], rem /= cnt[d];
                for (int d = 0; d < nd; d++) lin = lin * s[d] + idx[d];
                if (got[i] != data[c][lin]) wrong++;
            }
            free(got);
        }
        CHECK(wrong == 0, "%s: %d elements read back wrong", name, wrong);
        printf("ok: %d-D tensor of %lld elements in %lld chunks: verified, whole and 39 random boxes read back exactly\n",
               nd, (long long)volume(nd, s), (long long)nch);
        H5Dclose(ds);
    }
    if (f >= 0) h5io_close(f, path, &err);
    for (int c = 0; c < 5; c++) free(data[c]);
    h5io_stage_free(&stage);
    unlink(path);
}

/* A ZeRO-1 checkpoint written shard by shard for DP `dp`, then loaded under DP
 * `dp2`: the moments of two tensors (3-D and 4-D) in a flat block. */
static void test_shards(const char *dir, int dp, int dp2) {
    tensor_t t[2];
    int64_t s0[3] = {6, 5, 7}, s1[4] = {3, 2, 5, 11};
    tensor_describe(&t[0], "a/weight", DTYPE_F32, 3, s0);
    tensor_describe(&t[1], "b/weight", DTYPE_F32, 4, s1);
    size_t n0 = (size_t)tensor_numel(&t[0]), n1 = (size_t)tensor_numel(&t[1]), numel = n0 + n1;
    size_t offset[2] = {0, n0};
    float *block = malloc(numel * sizeof(float)), *m = malloc(numel * sizeof(float)), *v = malloc(numel * sizeof(float));
    fill_normal(block, numel, 1.0f, 7);
    fill_normal(m, numel, 1.0f, 8);
    fill_normal(v, numel, 1.0f, 9);
    t[0].data = block, t[1].data = block + n0;
    ckpt_param_t params[2] = {{&t[0], 0, 1}, {&t[1], 0, 1}};
    ckpt_meta_t meta;
    ckpt_meta_init(&meta);
    snprintf(meta.megac_version, sizeof meta.megac_version, "test");
    snprintf(meta.model_config, sizeof meta.model_config, "model=test\nwidth=7\n");
    meta.iteration = 3;
    meta.dp_size = dp, meta.world_size = dp, meta.zero1 = 1, meta.has_optimizer = 1, meta.optimizer_step = 3;
    char root[512];
    snprintf(root, sizeof root, "%s/shards_%d", dir, dp);
    err_t err = {{0}};
    ckpt_txn_t tx;
    CHECK(ckpt_txn_begin(&tx, root, 3, &err) == 0, "%s", err.msg);
    ckpt_writer_t w;
    CHECK(ckpt_writer_open(&w, tx.tmp, "mp_rank_00.h5", &meta, "model", 0, 0, &err) == 0 &&
              ckpt_writer_put_params(&w, backend_cpu(), params, 2, &err) == 0 && ckpt_writer_close(&w, &err) == 0,
          "%s", err.msg);
    /* uneven shards: cut points at random flat positions */
    size_t cut[65];
    cut[0] = 0, cut[dp] = numel;
    for (int d = 1; d < dp; d++) /* some shards empty, most cutting rows anywhere */
        cut[d] = cut[d - 1] + (size_t)(rnd() % (uint64_t)(numel - cut[d - 1] + 1)) / 2;
    for (int d = 0; d < dp; d++) {
        char name[64];
        ckpt_optim_file_name(0, d, name, sizeof name);
        ckpt_optim_state_t st = {m + cut[d], v + cut[d], cut[d], cut[d + 1], offset, 3};
        CHECK(ckpt_writer_open(&w, tx.tmp, name, &meta, "optimizer", 0, d, &err) == 0 &&
                  ckpt_writer_put_moments(&w, backend_cpu(), params, 2, &st, &err) == 0 &&
                  ckpt_writer_close(&w, &err) == 0,
              "%s", err.msg);
    }
    CHECK(ckpt_txn_commit(&tx, 0, &err) == 0, "%s", err.msg);
    /* load under dp2 even shards */
    ckpt_reader_t r;
    char it[600];
    snprintf(it, sizeof it, "%s/iter_0000003", root);
    CHECK(ckpt_open(&r, it, 1, &err) == 0, "%s", err.msg);
    float *m2 = calloc(numel, sizeof(float)), *v2 = calloc(numel, sizeof(float)), *w2 = calloc(numel, sizeof(float));
    tensor_t u[2] = {t[0], t[1]};
    u[0].data = w2, u[1].data = w2 + n0;
    ckpt_param_t p2[2] = {{&u[0], 0, 1}, {&u[1], 0, 1}};
    CHECK(ckpt_load_params(&r, backend_cpu(), p2, 2, &err) == 0, "%s", err.msg);
    size_t per = (numel + (size_t)dp2 - 1) / (size_t)dp2;
    for (int d = 0; d < dp2; d++) {
        size_t lo = (size_t)d * per < numel ? (size_t)d * per : numel, hi = lo + per < numel ? lo + per : numel;
        ckpt_optim_state_t st = {m2 + lo, v2 + lo, lo, hi, offset, 0};
        CHECK(ckpt_load_optim(&r, backend_cpu(), p2, 2, &st, &err) == 0 && st.step == 3, "%s", err.msg);
    }
    ckpt_close(&r);
    CHECK(memcmp(w2, block, numel * 4) == 0 && memcmp(m2, m, numel * 4) == 0 && memcmp(v2, v, numel * 4) == 0,
          "DP %d -> %d: weights or moments misplaced", dp, dp2);
    printf("ok: 3-D and 4-D moments saved by %d uneven DP shards load exactly under %d shards\n", dp, dp2);
    err_t ignored;
    ckpt_remove(root, &ignored);
    free(block), free(m), free(v), free(m2), free(v2), free(w2);
}

int main(void) {
    char dir[] = "/tmp/megac-test-h5io-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_fletcher();
    test_tensors(dir);
    int layouts[][2] = {{1, 3}, {3, 1}, {5, 2}, {7, 64}, {64, 5}};
    for (int i = 0; i < 5; i++) test_shards(dir, layouts[i][0], layouts[i][1]);
    rmdir(dir);
    return test_exit("test_h5io");
}
