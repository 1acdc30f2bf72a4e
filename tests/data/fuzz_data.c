/* fuzz_data.c — a libFuzzer harness for the data pipeline's readers of untrusted
 * bytes: the Megatron .idx reader (the input becomes PREFIX.idx beside a fixed
 * PREFIX.bin, then every sequence is read) and the GPT-2 BPE and WordPiece
 * tokenizers (the input is text to encode and decode). The first byte picks
 * the target. Tokenizers load their files from $MEGAC_REFS (out/refs), where
 * tests/data/fetch_refs.sh puts them; without them only the .idx reader runs.
 *
 * Fuzzing with clang's libFuzzer: tests/data/fuzz_libfuzzer.sh builds this file with
 * the sources it needs and runs it (CI: 5 s, meson test data_fuzz_libfuzzer, so the
 * build line cannot drift; by hand: bash tests/data/fuzz_libfuzzer.sh out/fuzz 600).
 *
 * Built with -DFUZZ_SMOKE_MAIN (as meson does) it is a CI test: a valid .idx and
 * 5,000 mutations of it, and 2,000 random byte strings through both tokenizers,
 * checking that the valid input reads and nothing crashes (or, in the sanitizer
 * build, leaks or overflows). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/indexed_dataset.h"
#include "data/tokenizer.h"

static char prefix[256];
static tokenizer_t bpe, wp;
static int have_bpe, have_wp;

static void setup(void) {
    static int done;
    if (done) return;
    done = 1;
    snprintf(prefix, sizeof prefix, "/tmp/megac_fuzz_%d", (int)getpid());
    char path[300];
    snprintf(path, sizeof path, "%s.bin", prefix);
    FILE *f = fopen(path, "wb");
    uint16_t tokens[64];
    for (int i = 0; i < 64; i++) tokens[i] = (uint16_t)(i * 7);
    if (f) fwrite(tokens, 2, 64, f), fclose(f);
    const char *refs = getenv("MEGAC_REFS");
    err_t err;
    char a[512], b[512];
    if (refs) {
        snprintf(a, sizeof a, "%s/gpt2.tiktoken", refs);
        have_bpe = tokenizer_open(&bpe, "GPT2BPETokenizer", NULL, NULL, a, &err) == 0;
        snprintf(b, sizeof b, "%s/bert-vocab.txt", refs);
        have_wp = tokenizer_open(&wp, "BertWordPieceLowerCase", b, NULL, NULL, &err) == 0;
    }
}

static void fuzz_idx(const uint8_t *data, size_t size) {
    char path[300];
    snprintf(path, sizeof path, "%s.idx", prefix);
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(data, 1, size, f);
    fclose(f);
    indexed_dataset_t ds;
    err_t err;
    if (indexed_open(&ds, prefix, &err) != 0) return;
    int32_t buf[64];
    for (int64_t s = 0; s < indexed_num_sequences(&ds); s++) {
        int32_t len = indexed_sequence_length(&ds, s);
        for (int32_t o = 0; o < len; o += 64) indexed_read(&ds, s, o, len - o < 64 ? len - o : 64, buf);
    }
    indexed_close(&ds);
}

static void fuzz_tok(tokenizer_t *t, const uint8_t *data, size_t size) {
    tokenizer_scratch_t sc;
    err_t err;
    tok_buf_t ids = {0};
    byte_buf_t text = {0};
    if (tokenizer_scratch_init(&sc, t, &err) != 0) return;
    if (tokenizer_encode(t, &sc, (const char *)data, size, &ids, &err) == 0)
        tokenizer_decode(t, ids.v, ids.n, &text, &err);
    free(ids.v), free(text.v);
    tokenizer_scratch_free(&sc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    setup();
    if (size < 1) return 0;
    switch (data[0] % 3) {
    case 0: fuzz_idx(data + 1, size - 1); break;
    case 1: if (have_bpe) fuzz_tok(&bpe, data + 1, size - 1); break;
    default: if (have_wp) fuzz_tok(&wp, data + 1, size - 1); break;
    }
    return 0;
}

#ifdef FUZZ_SMOKE_MAIN
static uint64_t state = 0x243F6A8885A308D3ull;
static uint32_t next(void) {
    state ^= state << 13, state ^= state >> 7, state ^= state << 17;
    return (uint32_t)(state >> 16);
}

/* a valid .idx for the .bin of setup(): 3 sequences (20, 30, 14 tokens), 2 documents */
static size_t valid_idx(uint8_t *b) {
    size_t n = 0;
    memcpy(b, "MMIDIDX\0\0", 9), n = 9;
    uint64_t version = 1, nseq = 3, ndoc = 3;
    memcpy(b + n, &version, 8), n += 8;
    b[n++] = 8; /* uint16 */
    memcpy(b + n, &nseq, 8), n += 8;
    memcpy(b + n, &ndoc, 8), n += 8;
    int32_t lens[3] = {20, 30, 14};
    int64_t ptrs[3] = {0, 40, 100}, docs[3] = {0, 2, 3};
    memcpy(b + n, lens, sizeof lens), n += sizeof lens;
    memcpy(b + n, ptrs, sizeof ptrs), n += sizeof ptrs;
    memcpy(b + n, docs, sizeof docs), n += sizeof docs;
    return n;
}

int main(void) {
    setup();
    static uint8_t buf[4096], mut[4096];
    int fails = 0;
    buf[0] = 0;
    size_t n = 1 + valid_idx(buf + 1);
    indexed_dataset_t ds;
    err_t err;
    LLVMFuzzerTestOneInput(buf, n);
    if (indexed_open(&ds, prefix, &err) != 0) {
        fprintf(stderr, "FAIL: the valid .idx was refused: %s\n", err.msg);
        fails++;
    } else {
        if (indexed_num_sequences(&ds) != 3 || indexed_num_documents(&ds) != 2) fails++;
        indexed_close(&ds);
    }
    for (int i = 0; i < 5000; i++) {
        memcpy(mut, buf, n);
        size_t m = n;
        int edits = 1 + (int)(next() % 4);
        for (int e = 0; e < edits; e++) {
            uint32_t r = next();
            if (r % 4 == 0 && m > 2) m = 1 + next() % (m - 1); /* truncate */
            else if (m > 1) mut[1 + next() % (m - 1)] = (uint8_t)next(); /* overwrite a byte */
        }
        LLVMFuzzerTestOneInput(mut, m);
    }
    for (int i = 0; i < 2000; i++) {
        size_t m = 1 + next() % 300;
        mut[0] = (uint8_t)(1 + i % 2);
        for (size_t k = 1; k < m; k++) mut[k] = (uint8_t)(i % 3 == 0 ? next() : 32 + next() % 95);
        LLVMFuzzerTestOneInput(mut, m);
    }
    char path[300];
    snprintf(path, sizeof path, "%s.idx", prefix), unlink(path);
    snprintf(path, sizeof path, "%s.bin", prefix), unlink(path);
    if (have_bpe) tokenizer_close(&bpe);
    if (have_wp) tokenizer_close(&wp);
    printf("fuzz_data smoke: valid .idx read; 5000 mutated .idx files and 2000 random strings through %s%s: no crash\n",
           have_bpe ? "GPT-2 BPE" : "(no BPE files)", have_wp ? " and WordPiece" : " (no WordPiece vocabulary)");
    return fails ? 1 : 0;
}
#endif
