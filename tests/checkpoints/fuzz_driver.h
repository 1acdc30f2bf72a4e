/* fuzz_driver.h — the standalone driver of megac's file fuzz targets (included
 * by fuzz_checkpoint.c and fuzz_hf.c when built with -DFUZZ_DRIVER_MAIN; a
 * libFuzzer build uses LLVMFuzzerTestOneInput instead).
 *
 *   TARGET SEED_DIR WORK_DIR SECONDS [RNG_SEED]
 *
 * copies the target's files from SEED_DIR, checks the unmutated files are
 * accepted, then until SECONDS have passed: mutates one file (bit flips, byte
 * sets, extreme integers, text edits, truncation; half of the edits in the
 * file's first bytes, where the headers lie), and runs the target on WORK_DIR in
 * a forked child under a 20 s alarm. A child killed by a signal (a crash; SIGALRM:
 * a hang) is a failure: its input is kept as WORK_DIR/crash-N.* and the driver
 * exits 1. Prints the number of executions, accepted and refused inputs.
 *
 * The target defines FUZZ_FILES (file names), FUZZ_NFILES, and
 * fuzz_run(dir, err): 0 when the files are accepted, -1 with a message. */
#ifndef MEGAC_FUZZ_DRIVER_H
#define MEGAC_FUZZ_DRIVER_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "framework/error.h"

static int fuzz_run(const char *dir, err_t *err);

typedef struct fuzz_file {
    unsigned char *data;
    size_t size;
} fuzz_file_t;

static uint64_t fz_state = 0x9E3779B97F4A7C15ull;
static uint64_t fz_next(void) {
    fz_state ^= fz_state << 13, fz_state ^= fz_state >> 7, fz_state ^= fz_state << 17;
    return fz_state;
}

static int fz_read(const char *path, fuzz_file_t *f) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return -1;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    f->data = malloc((size_t)n + 64);
    f->size = f->data && n > 0 && fread(f->data, 1, (size_t)n, fp) == (size_t)n ? (size_t)n : 0;
    fclose(fp);
    return f->size ? 0 : -1;
}

static int fz_write(const char *path, const unsigned char *d, size_t n) {
    FILE *fp = fopen(path, "wb");
    if (!fp) return -1;
    int ok = fwrite(d, 1, n, fp) == n;
    return fclose(fp) == 0 && ok ? 0 : -1;
}

/* one mutation of buf[0..*n) (capacity cap) */
static void fz_mutate(unsigned char *buf, size_t *n, size_t cap) {
    static const char text[] = "{}[]\":,-0123456789eE.+ntfaINF";
    static const int64_t extreme[] = {0, -1, 1, 0x7fffffff, -0x7fffffffLL - 1, 0x7fffffffffffffffLL, 1LL << 32,
                                      1LL << 40, 0xffffffffLL};
    if (*n < 2) return;
    size_t hot = *n < 16384 ? *n : 16384;
    size_t at = (size_t)(fz_next() % (fz_next() & 1 ? hot : *n));
    switch (fz_next() % 6) {
    case 0: buf[at] ^= (unsigned char)(1u << (fz_next() % 8)); break;
    case 1: buf[at] = (unsigned char)fz_next(); break;
    case 2: buf[at] = (unsigned char)text[fz_next() % (sizeof text - 1)]; break;
    case 3:
        if (at + 8 <= *n) {
            int64_t v = extreme[fz_next() % (sizeof extreme / sizeof *extreme)];
            memcpy(buf + at, &v, (fz_next() & 1) ? 8 : 4);
        }
        break;
    case 4:
        if (fz_next() % 4 == 0) *n = at > 0 ? at : 1; /* truncate (rarely) */
        else buf[at] ^= 0xff;
        break;
    default: /* insert a byte */
        if (*n < cap) {
            memmove(buf + at + 1, buf + at, *n - at);
            buf[at] = (unsigned char)text[fz_next() % (sizeof text - 1)];
            (*n)++;
        }
    }
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s SEED_DIR WORK_DIR SECONDS [RNG_SEED]\n", argv[0]);
        return 2;
    }
    const char *seed_dir = argv[1], *work = argv[2];
    double seconds = atof(argv[3]);
    if (argc > 4) fz_state ^= strtoull(argv[4], NULL, 10) * 0x2545F4914F6CDD1Dull;
    fuzz_file_t seeds[FUZZ_NFILES];
    char path[4096];
    for (int i = 0; i < FUZZ_NFILES; i++) {
        snprintf(path, sizeof path, "%s/%s", seed_dir, FUZZ_FILES[i]);
        if (fz_read(path, &seeds[i]) != 0) {
            fprintf(stderr, "%s: cannot read\n", path);
            return 2;
        }
    }
    err_t err = {{0}};
    for (int i = 0; i < FUZZ_NFILES; i++) {
        snprintf(path, sizeof path, "%s/%s", work, FUZZ_FILES[i]);
        fz_write(path, seeds[i].data, seeds[i].size);
    }
    if (fuzz_run(work, &err) != 0) {
        fprintf(stderr, "FAIL: the unmutated seed files are refused: %s\n", err.msg);
        return 1;
    }
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long execs = 0, accepted = 0, refused = 0, crashes = 0, hangs = 0;
    size_t cap = 0;
    for (int i = 0; i < FUZZ_NFILES; i++) cap = seeds[i].size + 64 > cap ? seeds[i].size + 64 : cap;
    unsigned char *buf = malloc(cap);
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((double)(t.tv_sec - t0.tv_sec) + 1e-9 * (double)(t.tv_nsec - t0.tv_nsec) >= seconds) break;
        int which = (int)(fz_next() % FUZZ_NFILES);
        size_t n = seeds[which].size;
        memcpy(buf, seeds[which].data, n);
        int edits = 1 + (int)(fz_next() % 8);
        for (int e = 0; e < edits; e++) fz_mutate(buf, &n, cap);
        for (int i = 0; i < FUZZ_NFILES; i++) {
            snprintf(path, sizeof path, "%s/%s", work, FUZZ_FILES[i]);
            fz_write(path, i == which ? buf : seeds[i].data, i == which ? n : seeds[i].size);
        }
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            alarm(20);
            err_t e = {{0}};
            _exit(fuzz_run(work, &e) == 0 ? 0 : 1);
        }
        int status = 0;
        if (pid < 0 || waitpid(pid, &status, 0) < 0) {
            perror("fork");
            return 2;
        }
        execs++;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) accepted++;
        else if (WIFEXITED(status) && WEXITSTATUS(status) == 1) refused++;
        else {
            int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
            if (sig == SIGALRM) hangs++;
            else crashes++;
            snprintf(path, sizeof path, "%s/crash-%ld.%s", work, crashes + hangs, FUZZ_FILES[which]);
            fz_write(path, buf, n);
            fprintf(stderr, "FAIL: %s (status %d, signal %d); input kept as %s\n", sig == SIGALRM ? "hang" : "crash",
                    status, sig, path);
            if (crashes + hangs >= 5) break;
        }
    }
    printf("%s: %ld executions in %.0f s: %ld accepted, %ld refused with a message, %ld crashes, %ld hangs\n", argv[0],
           execs, seconds, accepted, refused, crashes, hangs);
    free(buf);
    for (int i = 0; i < FUZZ_NFILES; i++) free(seeds[i].data);
    return crashes + hangs ? 1 : 0;
}

#endif
