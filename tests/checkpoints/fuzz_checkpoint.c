/* fuzz_checkpoint.c — fuzz target over whole HDF5 checkpoint files: the bytes
 * are a checkpoint's mp_rank_00.h5 (of a TP 1 checkpoint), run through what
 * `megac ckpt verify` and `--load` do in-process: open and index every dataset
 * (ckpt_open), validate the stored model configuration (model_ckpt_ops), read
 * every chunk (ckpt_verify) and read every model tensor whole (ckpt_read, the
 * loader's path). A corrupted file must be refused with a message: never a
 * crash, a hang or a runaway allocation.
 *
 * Built by meson as the driver (fuzz_driver.h: mutations of a real checkpoint
 * file, each run in a forked child with a timeout); with clang,
 * `meson setup build-fuzz -Dfuzz=true` (CC=clang) also builds it as a libFuzzer
 * binary, run as: build-fuzz/tests/checkpoints/fuzz_checkpoint_libfuzzer CORPUS/ */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoints/checkpoint.h"
#include "models/model_checkpoint.h"

static const char *const FUZZ_FILES[] = {"mp_rank_00.h5"};
#define FUZZ_NFILES 1

static int fuzz_run(const char *dir, err_t *err) {
    ckpt_reader_t r;
    if (ckpt_open(&r, dir, 1, err) != 0) return -1;
    int rc = -1;
    const model_ckpt_ops_t *ops = model_ckpt_ops(&r.meta, err);
    int64_t bytes;
    int datasets;
    if (!ops || ops->validate(&r.meta, r.meta.tp_size, err) != 0 || ckpt_verify(&r, &bytes, &datasets, NULL, err) != 0)
        goto out;
    for (int i = 0; i < r.nentries; i++) {
        const ckpt_entry_t *e = &r.entries[i];
        ckpt_box_t box = {.ndim = e->ndim};
        for (int d = 0; d < e->ndim; d++) box.off[d] = 0, box.cnt[d] = e->shape[d];
        int64_t vol = ckpt_box_volume(&box);
        if (vol > (int64_t)1 << 24) {
            err_set(err, "%s: %lld elements (more than the fuzz target reads)", e->name, (long long)vol);
            goto out;
        }
        float *buf = malloc((size_t)vol * sizeof(float));
        if (!buf) goto out;
        int bad = ckpt_read(&r, e, &box, buf, err);
        free(buf);
        if (bad) goto out;
    }
    rc = 0;
out:
    ckpt_close(&r);
    return rc;
}

#ifdef FUZZ_DRIVER_MAIN
#include "fuzz_driver.h"
#else
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char dir[64];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/megac_fuzz_ckpt_%d", (int)getpid());
        mkdir(dir, 0755);
    }
    char path[128];
    snprintf(path, sizeof path, "%s/mp_rank_00.h5", dir);
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    err_t err;
    fuzz_run(dir, &err);
    return 0;
}
#endif
