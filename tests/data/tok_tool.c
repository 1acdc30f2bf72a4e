/* tok_tool.c — a tokenizer driver for the Python comparison tests.
 *
 *   tok_tool encode TYPE VOCAB MERGES TIKTOKEN IN OUT   ("-" for an unused file)
 *   tok_tool decode TYPE VOCAB MERGES TIKTOKEN IN OUT
 *   tok_tool bench  TYPE VOCAB MERGES TIKTOKEN IN [THREADS]
 *
 * encode: IN holds records [u32 byte length][bytes]; OUT gets, per record,
 *         [u32 token count][int32 ids].
 * decode: IN holds [u32 count][int32 ids] records; OUT gets [u32 length][bytes].
 * bench:  encodes every record of IN (threads split the records) and prints
 *         "tokens=N bytes=N seconds=S". All integers little-endian. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "data/file_util.h"
#include "data/tokenizer.h"

static const char *opt(const char *s) { return strcmp(s, "-") == 0 ? NULL : s; }

static int read_u32(const char *buf, size_t len, size_t *pos, uint32_t *v) {
    if (*pos + 4 > len) return -1;
    memcpy(v, buf + *pos, 4);
    *pos += 4;
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 7) {
        fprintf(stderr, "usage: tok_tool encode|decode|bench TYPE VOCAB MERGES TIKTOKEN IN [OUT|THREADS]\n");
        return 2;
    }
    const char *mode = argv[1];
    err_t err = {{0}};
    tokenizer_t tok;
    if (tokenizer_open(&tok, argv[2], opt(argv[3]), opt(argv[4]), opt(argv[5]), &err) != 0) {
        fprintf(stderr, "tok_tool: %s\n", err.msg);
        return 1;
    }
    char *in;
    size_t len;
    if (file_read_all(argv[6], "input", &in, &len, &err) != 0) {
        fprintf(stderr, "tok_tool: %s\n", err.msg);
        return 1;
    }
    /* record boundaries */
    size_t nrec = 0, cap = 0, pos = 0;
    size_t *off = NULL, *rl = NULL;
    size_t unit = strcmp(mode, "decode") == 0 ? 4 : 1;
    while (pos < len) {
        uint32_t n;
        if (read_u32(in, len, &pos, &n) != 0 || pos + (size_t)n * unit > len) {
            fprintf(stderr, "tok_tool: %s: truncated record at byte %zu\n", argv[6], pos);
            return 1;
        }
        if (nrec == cap) {
            cap = cap ? 2 * cap : 1024;
            off = realloc(off, cap * sizeof *off);
            rl = realloc(rl, cap * sizeof *rl);
            if (!off || !rl) return 1;
        }
        off[nrec] = pos, rl[nrec] = n, nrec++;
        pos += (size_t)n * unit;
    }
    int rc = 0;
    if (strcmp(mode, "bench") == 0) {
        int threads = argc > 7 ? atoi(argv[7]) : 1;
        if (threads < 1) threads = 1;
        long long total_tokens = 0;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
#pragma omp parallel num_threads(threads) reduction(+ : total_tokens)
        {
            tokenizer_scratch_t s;
            tok_buf_t ids = {0};
            err_t e = {{0}};
            tokenizer_scratch_init(&s, &tok, &e);
#pragma omp for schedule(dynamic, 64)
            for (size_t r = 0; r < nrec; r++) {
                ids.n = 0;
                if (tokenizer_encode(&tok, &s, in + off[r], rl[r], &ids, &e) == 0) total_tokens += (long long)ids.n;
            }
            free(ids.v);
            tokenizer_scratch_free(&s);
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double sec = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        printf("tokens=%lld bytes=%zu seconds=%.4f\n", total_tokens, len - 4 * nrec, sec);
    } else {
        FILE *f = argc > 7 ? fopen(argv[7], "wb") : NULL;
        if (!f) {
            fprintf(stderr, "tok_tool: cannot write the output file\n");
            return 1;
        }
        tokenizer_scratch_t s;
        tok_buf_t ids = {0};
        byte_buf_t bytes = {0};
        if (tokenizer_scratch_init(&s, &tok, &err) != 0) rc = 1;
        for (size_t r = 0; r < nrec && rc == 0; r++) {
            uint32_t n;
            if (unit == 1) {
                ids.n = 0;
                if (tokenizer_encode(&tok, &s, in + off[r], rl[r], &ids, &err) != 0) {
                    rc = 1;
                    break;
                }
                n = (uint32_t)ids.n;
                fwrite(&n, 4, 1, f);
                fwrite(ids.v, 4, ids.n, f);
            } else {
                bytes.n = 0;
                int32_t *v = malloc(rl[r] * 4 + 4);
                memcpy(v, in + off[r], rl[r] * 4);
                if (tokenizer_decode(&tok, v, rl[r], &bytes, &err) != 0) rc = 1;
                free(v);
                n = (uint32_t)bytes.n;
                fwrite(&n, 4, 1, f);
                fwrite(bytes.v, 1, bytes.n, f);
            }
        }
        if (rc) fprintf(stderr, "tok_tool: %s\n", err.msg);
        if (fclose(f) != 0) rc = 1;
        free(ids.v);
        free(bytes.v);
        tokenizer_scratch_free(&s);
    }
    free(off);
    free(rl);
    free(in);
    tokenizer_close(&tok);
    return rc;
}
