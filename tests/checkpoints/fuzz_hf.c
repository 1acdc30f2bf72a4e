/* fuzz_hf.c — fuzz target over a Hugging Face model directory: model.safetensors
 * and config.json (GPT-2 or BERT, as `megac ckpt import-hf` detects), imported
 * in-process into DIR/out exactly as import-hf does. A malformed file must be
 * refused with a message: never a crash, a hang or a runaway allocation.
 *
 * Built by meson as the driver (fuzz_driver.h: mutations of real files, each run
 * in a forked child with a timeout); with clang, `meson setup build-fuzz
 * -Dfuzz=true` (CC=clang) also builds a libFuzzer binary whose input is
 * config.json's text, a NUL byte, then model.safetensors' bytes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoints/checkpoint.h"
#include "convert/hf_bert.h"
#include "convert/hf_gpt2.h"

static const char *const FUZZ_FILES[] = {"model.safetensors", "config.json"};
#define FUZZ_NFILES 2

static int fuzz_run(const char *dir, err_t *err) {
    char out[4200];
    snprintf(out, sizeof out, "%s/out", dir);
    if (ckpt_remove(out, err) != 0) return -1;
    char summary[512];
    if (hf_bert_detect(dir)) return hf_bert_import(dir, out, 1, 0, "fuzz", summary, sizeof summary, NULL, err);
    return hf_gpt2_import(dir, out, 0, 0, "fuzz", NULL, err);
}

#ifdef FUZZ_DRIVER_MAIN
#include "fuzz_driver.h"
#else
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char dir[64];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/megac_fuzz_hf_%d", (int)getpid());
        mkdir(dir, 0755);
    }
    const uint8_t *nul = memchr(data, 0, size);
    if (!nul) return 0;
    char path[128];
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, i ? "model.safetensors" : "config.json");
        FILE *f = fopen(path, "wb");
        if (!f) return 0;
        if (i) fwrite(nul + 1, 1, size - (size_t)(nul + 1 - data), f);
        else fwrite(data, 1, (size_t)(nul - data), f);
        fclose(f);
    }
    err_t err;
    fuzz_run(dir, &err);
    return 0;
}
#endif
