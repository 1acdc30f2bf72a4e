/* fuzz_parsers.c — a libFuzzer harness for the two parsers that read untrusted
 * bytes: the safetensors header (st_parse_header) and the checkpoint metadata
 * record (ckpt_meta_from_json). The first input byte picks the parser; the rest
 * is its input (for safetensors: 8 bytes of data-section length, then JSON).
 *
 * Fuzzing (outside CI), from the repository root, with clang (meson builds it
 * with libFuzzer, ASan and UBSan):
 *   CC=clang meson setup build-fuzz -Dfuzz=true -Dcuda=disabled
 *   ninja -C build-fuzz tests/checkpoints/fuzz_parsers_libfuzzer
 *   build-fuzz/tests/checkpoints/fuzz_parsers_libfuzzer -max_total_time=600 corpus/
 *
 * Built with -DFUZZ_SMOKE_MAIN (as meson does) it is a CI test instead: it runs
 * a handful of valid and malformed seeds and 20,000 deterministic mutations of
 * them through both parsers, checking that valid seeds parse and nothing crashes
 * (under the sanitizer build, nothing leaks or overflows either). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoints/ckpt_meta.h"
#include "checkpoints/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    err_t err;
    if (data[0] & 1) {
        ckpt_meta_t m;
        ckpt_meta_from_json((const char *)data + 1, size - 1, &m, &err);
        return 0;
    }
    if (size < 9) return 0;
    uint64_t data_len = 0;
    for (int i = 8; i >= 1; i--) data_len = data_len << 8 | data[i];
    st_tensor_t *ts = NULL;
    int n = 0;
    if (st_parse_header((const char *)data + 9, size - 9, data_len, &ts, &n, &err) == 0) free(ts);
    return 0;
}

#ifdef FUZZ_SMOKE_MAIN
static const char *ST_SEEDS[] = {
    "{\"__metadata__\":{\"format\":\"pt\"},\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
    "\"b\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[16,22]}}",
    "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
    "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,160]}}",
    "{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[4,8]}}",
};
static const uint64_t ST_DATA[] = {22, 12, 16, 8};
static const int ST_VALID[] = {1, 0, 0, 0};

static const char *META_SEED =
    "{\"format\":\"megac-checkpoint\",\"format_version\":1,\"megac_version\":\"0.1.0\",\"iteration\":10,"
    "\"consumed_train_samples\":80,\"model\":{\"type\":\"gpt\",\"num_layers\":2,\"hidden_size\":32},"
    "\"parallel\":{\"tensor_model_parallel_size\":2,\"pipeline_model_parallel_size\":1,\"data_parallel_size\":2,"
    "\"world_size\":4,\"use_distributed_optimizer\":true},\"optimizer\":{\"type\":\"adamw\",\"has_state\":true,"
    "\"step\":10,\"adam_beta1\":0.9,\"adam_beta2\":0.999,\"adam_eps\":1e-8,\"weight_decay\":0.01},"
    "\"lr_scheduler\":{\"max_lr\":0.003,\"min_lr\":0,\"warmup_iters\":2,\"decay_iters\":20,\"decay_style\":\"cosine\","
    "\"num_steps\":10},\"loss_scaler\":{\"scale\":1},\"rng\":{\"generator\":\"philox4x32-10\",\"seed\":1234,"
    "\"iteration\":10},\"data\":{\"consumed_train_samples\":80,\"seed\":1234}}";

static uint64_t state = 0x9E3779B97F4A7C15ull;
static uint32_t next(void) {
    state ^= state << 13, state ^= state >> 7, state ^= state << 17;
    return (uint32_t)(state >> 16);
}

/* input for the harness: selector byte, then the parser's bytes */
static size_t make_input(uint8_t *buf, int meta, const char *text, uint64_t data_len) {
    size_t n = 0, tl = strlen(text);
    buf[n++] = meta ? 1 : 0;
    if (!meta)
        for (int i = 0; i < 8; i++) buf[n++] = (uint8_t)(data_len >> (8 * i));
    memcpy(buf + n, text, tl);
    return n + tl;
}

int main(void) {
    static uint8_t buf[4096], mut[4096];
    int fails = 0;
    err_t err;
    /* the valid seeds parse; the malformed ones are refused with a message */
    for (int s = 0; s < 4; s++) {
        st_tensor_t *ts = NULL;
        int n = 0;
        err.msg[0] = 0;
        int rc = st_parse_header(ST_SEEDS[s], strlen(ST_SEEDS[s]), ST_DATA[s], &ts, &n, &err);
        if ((rc == 0) != ST_VALID[s] || (rc != 0 && !err.msg[0])) {
            fprintf(stderr, "FAIL: safetensors seed %d: rc %d (%s)\n", s, rc, err.msg);
            fails++;
        } else {
            printf("ok: safetensors seed %d: %s\n", s, rc == 0 ? "parsed" : err.msg);
        }
        free(ts);
    }
    ckpt_meta_t m;
    if (ckpt_meta_from_json(META_SEED, strlen(META_SEED), &m, &err) != 0 || m.iteration != 10 || m.tp_size != 2 ||
        !m.zero1 || m.seed != 1234) {
        fprintf(stderr, "FAIL: metadata seed: %s\n", err.msg);
        fails++;
    } else {
        printf("ok: metadata seed parsed (iteration %lld, TP %d, DP %d)\n", (long long)m.iteration, m.tp_size, m.dp_size);
    }
    /* mutations: byte flips, insertions of JSON punctuation, truncations */
    static const char punct[] = "{}[]\":,-0123456789eE.tfn ";
    int runs = 0;
    for (int it = 0; it < 20000; it++) {
        int meta = it % 5 == 0, s = it % 4;
        size_t n = make_input(buf, meta, meta ? META_SEED : ST_SEEDS[s], ST_DATA[s]);
        memcpy(mut, buf, n);
        int edits = 1 + (int)(next() % 4);
        for (int e = 0; e < edits; e++) {
            size_t at = 1 + next() % (n - 1);
            switch (next() % 4) {
            case 0: mut[at] ^= (uint8_t)(1u << (next() % 8)); break;
            case 1: mut[at] = (uint8_t)punct[next() % (sizeof punct - 1)]; break;
            case 2: n = at; break; /* truncate */
            default:
                if (n < sizeof mut - 1) {
                    memmove(mut + at + 1, mut + at, n - at);
                    mut[at] = (uint8_t)punct[next() % (sizeof punct - 1)];
                    n++;
                }
            }
            if (n < 2) break;
        }
        LLVMFuzzerTestOneInput(mut, n);
        runs++;
    }
    printf("ok: %d mutated inputs through both parsers without a crash\n", runs);
    return fails ? 1 : 0;
}
#endif
