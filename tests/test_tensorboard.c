/* test_tensorboard.c — the TensorBoard writer's encodings against known vectors
 * (CRC-32C from RFC 3720, masked CRCs, protobuf varints, one Event written out by
 * hand) and its files' TFRecord framing read back. tests/test_tensorboard.py reads
 * the same files with TensorBoard's own reader. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "framework/crc32c.h"
#include "framework/tensorboard.h"
#include "testing.h"

static uint64_t get_le(const uint8_t *p, int bytes) {
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static void test_crc(void) {
    uint8_t zeros[32] = {0}, ones[32], inc[32];
    memset(ones, 0xff, sizeof ones);
    for (int i = 0; i < 32; i++) inc[i] = (uint8_t)i;
    CHECK(crc32c(0, "123456789", 9) == 0xE3069283u, "crc32c check value");
    CHECK(crc32c(0, zeros, 32) == 0x8A9136AAu, "crc32c 32 zeros (RFC 3720 B.4)");
    CHECK(crc32c(0, ones, 32) == 0x62A8AB43u, "crc32c 32 x 0xff (RFC 3720 B.4)");
    CHECK(crc32c(0, inc, 32) == 0x46DD794Eu, "crc32c 0..31 (RFC 3720 B.4)");
    CHECK(crc32c(crc32c(0, "1234", 4), "56789", 5) == 0xE3069283u, "crc32c chains");
    CHECK(tb_masked_crc32c("123456789", 9) == 0xC78AB0E5u, "masked crc of the check string");
    CHECK(tb_masked_crc32c(zeros, 32) == 0x0FD7FFFAu, "masked crc of 32 zeros");
}

static void test_varint(void) {
    struct {
        uint64_t v;
        size_t n;
        uint8_t b[10];
    } cases[] = {{0, 1, {0x00}},
                 {1, 1, {0x01}},
                 {127, 1, {0x7f}},
                 {128, 2, {0x80, 0x01}},
                 {300, 2, {0xac, 0x02}},
                 {16384, 3, {0x80, 0x80, 0x01}},
                 {UINT64_MAX, 10, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        uint8_t out[10];
        size_t n = tb_varint(cases[c].v, out);
        CHECK(n == cases[c].n && memcmp(out, cases[c].b, n) == 0, "varint %llu", (unsigned long long)cases[c].v);
    }
}

static void test_event(void) {
    /* Event{wall_time 1.5, step 300, summary{value{tag "a", simple_value 1.0}}} */
    static const uint8_t want[] = {0x09, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f, 0x10, 0xac, 0x02, 0x2a, 0x0a, 0x0a, 0x08,
                                   0x0a, 0x01, 'a', 0x15, 0, 0, 0x80, 0x3f};
    uint8_t out[2048];
    size_t n = tb_encode_event(out, sizeof out, 1.5, 300, NULL, "a", 1.0f);
    CHECK(n == sizeof want && memcmp(out, want, n) == 0, "scalar event bytes (length %zu)", n);
    /* Event{wall_time 0, step 0, file_version "brain.Event:2"} */
    static const uint8_t fv[] = {0x09, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0x00, 0x1a, 13, 'b', 'r', 'a', 'i', 'n',
                                 '.', 'E', 'v', 'e', 'n', 't', ':', '2'};
    n = tb_encode_event(out, sizeof out, 0.0, 0, "brain.Event:2", NULL, 0.0f);
    CHECK(n == sizeof fv && memcmp(out, fv, n) == 0, "file_version event bytes");
    char longtag[1200];
    memset(longtag, 'x', sizeof longtag - 1);
    longtag[sizeof longtag - 1] = '\0';
    CHECK(tb_encode_event(out, sizeof out, 0.0, 1, NULL, longtag, 1.0f) == 0, "an over-long tag is refused");
}

/* writes three scalars, then walks the file's TFRecords checking both CRCs */
static void test_file(void) {
    char dir[] = "/tmp/megac_tb_XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp");
        return;
    }
    char sub[256];
    snprintf(sub, sizeof sub, "%s/run/a", dir);
    err_t err = {{0}};
    tb_writer_t *w;
    CHECK(tb_writer_open(&w, sub, &err) == 0, "open: %s", err.msg);
    if (!w) return;
    CHECK(strstr(tb_writer_path(w), "/events.out.tfevents.") != NULL, "file name %s", tb_writer_path(w));
    for (int i = 1; i <= 3; i++) CHECK(tb_add_scalar(w, "lm loss", i, 10.0 / i, &err) == 0, "add: %s", err.msg);
    char path[4096];
    snprintf(path, sizeof path, "%s", tb_writer_path(w));
    CHECK(tb_writer_close(w, &err) == 0, "close: %s", err.msg);
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL, "reopen %s", path);
    if (!f) return;
    uint8_t buf[4096];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    int records = 0;
    size_t off = 0;
    while (off + 12 <= len) {
        uint64_t n = get_le(buf + off, 8);
        CHECK(get_le(buf + off + 8, 4) == tb_masked_crc32c(buf + off, 8), "record %d length crc", records);
        if (off + 12 + n + 4 > len) break;
        CHECK(get_le(buf + off + 12 + n, 4) == tb_masked_crc32c(buf + off + 12, n), "record %d data crc", records);
        off += 12 + n + 4, records++;
    }
    CHECK(off == len && records == 4, "4 whole records (file version + 3 scalars): %d, %zu of %zu bytes", records,
          off, len);
    unlink(path);
    /* a run directory that is a file is refused with its name */
    tb_writer_t *w2;
    FILE *g = fopen(path, "w");
    if (g) fclose(g);
    CHECK(tb_writer_open(&w2, path, &err) != 0 && strstr(err.msg, path) != NULL, "file as directory refused: %s",
          err.msg);
    unlink(path);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0, "cleanup");
}

int main(void) {
    test_crc();
    test_varint();
    test_event();
    test_file();
    return test_exit("tensorboard");
}
