/* ckpt_save.c — the save transaction of megac checkpoints: names, the
 * temporary directory, fsync, rename, the `latest` pointer, pruning, and the
 * collective save that drives the writers (see checkpoint.h). */
#define _GNU_SOURCE
#include "checkpoint.h"
#include "ckpt_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *GROUPS[CKPT_KINDS] = {"model", "optimizer/exp_avg", "optimizer/exp_avg_sq"};

const char *ckpt_kind_group(ckpt_kind_t k) { return k >= 0 && k < CKPT_KINDS ? GROUPS[k] : "?"; }

int64_t ckpt_box_volume(const ckpt_box_t *b) {
    int64_t v = 1;
    for (int d = 0; d < b->ndim; d++) v *= b->cnt[d];
    return v;
}

void ckpt_iter_name(int64_t iteration, char *buf, size_t len) { snprintf(buf, len, "iter_%07lld", (long long)iteration); }
void ckpt_model_file_name(int tp_rank, char *buf, size_t len) { snprintf(buf, len, "mp_rank_%02d.h5", tp_rank); }
void ckpt_optim_file_name(int tp_rank, int dp_rank, char *buf, size_t len) {
    snprintf(buf, len, "mp_rank_%02d_dp_%03d_optim.h5", tp_rank, dp_rank);
}

int ckpt_join(char *out, size_t len, const char *a, const char *b, err_t *err) {
    if ((size_t)snprintf(out, len, "%s/%s", a, b) >= len) return err_set(err, "%s/%s: path too long", a, b);
    return 0;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
/* ---------------------------------------------------------------- filesystem */

int ckpt_fsync_dir(const char *dir, err_t *err) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return err_set(err, "%s: cannot open to fsync: %s", dir, strerror(errno));
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    if (rc != 0 && e != EINVAL) return err_set(err, "%s: fsync failed: %s", dir, strerror(e));
    return 0;
}

int ckpt_fsync_file(const char *path, err_t *err) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return err_set(err, "%s: cannot open to fsync: %s", path, strerror(errno));
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    if (rc != 0) return err_set(err, "%s: fsync failed: %s", path, strerror(e));
    return 0;
}

int ckpt_mkdirs(const char *path, err_t *err) {
    char buf[CKPT_PATH_MAX];
    if (strlen(path) >= sizeof buf) return err_set(err, "%s: path too long", path);
    strcpy(buf, path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == 0) {
            char c = *p;
            *p = 0;
            if (mkdir(buf, 0755) != 0 && errno != EEXIST) return err_set(err, "%s: cannot create: %s", buf, strerror(errno));
            *p = c;
            if (!c) break;
        }
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) return err_set(err, "%s: not a directory", path);
    return 0;
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static int rm_rf(const char *path, err_t *err) {
    struct stat st;
    if (lstat(path, &st) != 0) return errno == ENOENT ? 0 : err_set(err, "%s: %s", path, strerror(errno));
    if (nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS) != 0) return err_set(err, "%s: cannot remove: %s", path, strerror(errno));
    return 0;
}

/* "iter_<digits>" -> 1 and its iteration; "iter_<digits>.tmp|.old" -> 2; else 0 */
int ckpt_parse_iter_name(const char *name, int64_t *it) {
    if (strncmp(name, "iter_", 5) != 0) return 0;
    const char *p = name + 5;
    size_t nd = strspn(p, "0123456789");
    if (nd == 0 || nd > 15) return 0;
    *it = strtoll(p, NULL, 10);
    if (p[nd] == 0) return 1;
    if (strcmp(p + nd, ".tmp") == 0 || strcmp(p + nd, ".old") == 0) return 2;
    return 0;
}

static int cmp_desc_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* removes stale temporaries and, with keep_last > 0, all but the newest
 * keep_last iteration directories (never `current`) */
static int prune(const char *root, int64_t current, int keep_last, err_t *err) {
    DIR *d = opendir(root);
    if (!d) return err_set(err, "%s: cannot list: %s", root, strerror(errno));
    int64_t *its = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && rc == 0) {
        int64_t it;
        int kind = ckpt_parse_iter_name(e->d_name, &it);
        char path[CKPT_PATH_MAX];
        if (kind == 0 || ckpt_join(path, sizeof path, root, e->d_name, err) != 0) continue;
        struct stat st;
        if (lstat(path, &st) != 0 || !S_ISDIR(st.st_mode)) continue;
        if (kind == 2) {
            rc = rm_rf(path, err);
        } else {
            if (n == cap) {
                cap = cap ? 2 * cap : 16;
                int64_t *ni = realloc(its, cap * sizeof *its);
                if (!ni) {
                    rc = err_set(err, "out of memory pruning %s", root);
                    break;
                }
                its = ni;
            }
            its[n++] = it;
        }
    }
    closedir(d);
    if (rc == 0 && keep_last > 0 && n > (size_t)keep_last) {
        qsort(its, n, sizeof *its, cmp_desc_i64);
        for (size_t i = (size_t)keep_last; i < n && rc == 0; i++) {
            if (its[i] == current) continue;
            char name[64], path[CKPT_PATH_MAX];
            ckpt_iter_name(its[i], name, sizeof name);
            if (ckpt_join(path, sizeof path, root, name, err) == 0) rc = rm_rf(path, err);
            else rc = -1;
        }
    }
    free(its);
    if (rc == 0) rc = ckpt_fsync_dir(root, err);
    return rc;
}

/* ---------------------------------------------------------------- commit */

static int txn_names(ckpt_txn_t *tx, const char *root, int64_t iteration, err_t *err) {
    memset(tx, 0, sizeof *tx);
    if (iteration < 0) return err_set(err, "checkpoint iteration %lld is negative", (long long)iteration);
    if (strlen(root) == 0) return err_set(err, "--save: empty directory name");
    if (strlen(root) >= sizeof tx->root - 32) return err_set(err, "%s: path too long", root);
    snprintf(tx->root, sizeof tx->root, "%s", root);
    char name[64];
    ckpt_iter_name(iteration, name, sizeof name);
    if (ckpt_join(tx->final, sizeof tx->final, root, name, err) != 0) return -1;
    snprintf(tx->tmp, sizeof tx->tmp, "%s.tmp", tx->final);
    tx->iteration = iteration;
    return 0;
}

int ckpt_txn_begin(ckpt_txn_t *tx, const char *root, int64_t iteration, err_t *err) {
    if (txn_names(tx, root, iteration, err) != 0 || ckpt_mkdirs(root, err) != 0) return -1;
    if (rm_rf(tx->tmp, err) != 0) return -1; /* left by a save that crashed */
    if (mkdir(tx->tmp, 0755) != 0) return err_set(err, "%s: cannot create: %s", tx->tmp, strerror(errno));
    return 0;
}

int ckpt_remove(const char *path, err_t *err) { return rm_rf(path, err); }

void ckpt_txn_abort(ckpt_txn_t *tx) {
    err_t ignored;
    if (tx->tmp[0]) rm_rf(tx->tmp, &ignored);
}

static int write_pointer(const char *root, int64_t iteration, err_t *err) {
    char path[CKPT_PATH_MAX], tmp[CKPT_PATH_MAX + 8];
    if (ckpt_join(path, sizeof path, root, CKPT_LATEST, err) != 0) return -1;
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return err_set(err, "%s: %s", tmp, strerror(errno));
    int bad = fprintf(f, "%lld\n", (long long)iteration) < 0;
    bad |= fflush(f) != 0 || fsync(fileno(f)) != 0;
    int e = errno;
    bad |= fclose(f) != 0;
    if (bad) {
        unlink(tmp);
        return err_set(err, "%s: write failed: %s", tmp, strerror(e));
    }
    if (rename(tmp, path) != 0) {
        e = errno;
        unlink(tmp);
        return err_set(err, "%s: rename failed: %s", path, strerror(e));
    }
    return ckpt_fsync_dir(root, err);
}

int ckpt_txn_commit(ckpt_txn_t *tx, int keep_last, err_t *err) {
    if (ckpt_fsync_dir(tx->tmp, err) != 0) return -1;
    struct stat st;
    if (lstat(tx->final, &st) == 0) {
        /* this iteration was saved before (a run resumed from an older checkpoint);
         * the pointer may name it, so swap the two atomically where possible */
        int swapped = 0;
#ifdef RENAME_EXCHANGE
        swapped = renameat2(AT_FDCWD, tx->tmp, AT_FDCWD, tx->final, RENAME_EXCHANGE) == 0;
#endif
        if (swapped) {
            if (rm_rf(tx->tmp, err) != 0) return -1;
        } else {
            char old[CKPT_PATH_MAX + 8];
            snprintf(old, sizeof old, "%s.old", tx->final);
            if (rm_rf(old, err) != 0) return -1;
            if (rename(tx->final, old) != 0) return err_set(err, "%s: cannot move aside: %s", tx->final, strerror(errno));
            if (rename(tx->tmp, tx->final) != 0) return err_set(err, "%s: rename failed: %s", tx->final, strerror(errno));
            if (rm_rf(old, err) != 0) return -1;
        }
    } else if (rename(tx->tmp, tx->final) != 0) {
        return err_set(err, "%s: rename failed: %s", tx->final, strerror(errno));
    }
    if (ckpt_fsync_dir(tx->root, err) != 0 || write_pointer(tx->root, tx->iteration, err) != 0) return -1;
    return prune(tx->root, tx->iteration, keep_last, err);
}
/* ---------------------------------------------------------------- collective save */

/* All ranks pass whether they failed; returns 1 when any did, with *who the
 * lowest failing world rank; -1 when the agreement itself failed. */
static int agree(comm_t *world, int failed, int *who, err_t *err) {
    if (!world || world->size <= 1) {
        *who = failed ? 0 : -1;
        return failed ? 1 : 0;
    }
    double v = failed ? (double)(world->size - world->rank) : 0.0;
    if (comm_allreduce_f64(world, &v, 1, COMM_MAX, err) != 0) return -1;
    *who = v > 0.0 ? world->size - (int)v : -1;
    return v > 0.0 ? 1 : 0;
}

/* after a failed agreement: the rank's own message, or which rank failed */
static int agreement_error(int status, int who, int rank, err_t *local, const char *step, int64_t it, err_t *err) {
    if (status < 0) return err_prefix(err, "saving iteration %lld: %s", (long long)it, step);
    if (who == rank) {
        *err = *local;
        return -1;
    }
    return err_set(err, "saving iteration %lld: %s failed on rank %d (see its message)", (long long)it, step, who);
}

static int write_rank_files(const ckpt_txn_t *tx, const ckpt_meta_t *meta, const ckpt_layout_t *lay, backend_t *be,
                            const ckpt_param_t *params, int n, const ckpt_optim_state_t *opt, int64_t *bytes,
                            err_t *err) {
    char name[64];
    ckpt_writer_t w;
    int wrote = 0;
    if (lay->dp_rank == 0) { /* the model file of this TP rank */
        ckpt_model_file_name(lay->tp_rank, name, sizeof name);
        if (ckpt_writer_open(&w, tx->tmp, name, meta, "model", lay->tp_rank, 0, err) != 0) return -1;
        if (ckpt_writer_put_params(&w, be, params, n, err) != 0 ||
            (opt && !lay->zero1 && ckpt_writer_put_moments(&w, be, params, n, opt, err) != 0)) {
            ckpt_writer_discard(&w);
            return -1;
        }
        *bytes += w.bytes;
        if (ckpt_writer_close(&w, err) != 0) return -1;
        wrote = 1;
    }
    if (opt && lay->zero1) { /* this rank's shard of the moments */
        ckpt_optim_file_name(lay->tp_rank, lay->dp_rank, name, sizeof name);
        if (ckpt_writer_open(&w, tx->tmp, name, meta, "optimizer", lay->tp_rank, lay->dp_rank, err) != 0) return -1;
        if (ckpt_writer_put_moments(&w, be, params, n, opt, err) != 0) {
            ckpt_writer_discard(&w);
            return -1;
        }
        *bytes += w.bytes;
        if (ckpt_writer_close(&w, err) != 0) return -1;
        wrote = 1;
    }
    return wrote ? ckpt_fsync_dir(tx->tmp, err) : 0;
}

int ckpt_save(const char *root, ckpt_meta_t *meta, const ckpt_layout_t *lay, backend_t *be,
              const ckpt_param_t *params, int nparams, const ckpt_optim_state_t *opt, int keep_last,
              ckpt_save_stats_t *stats, err_t *err) {
    double t0 = now_s();
    memset(stats, 0, sizeof *stats);
    comm_t *world = lay->world;
    int rank = world ? world->rank : 0, who, st;
    int64_t it = meta->iteration;
    meta->tp_size = lay->tp_size, meta->pp_size = 1, meta->dp_size = lay->dp_size;
    meta->world_size = lay->tp_size * lay->dp_size;
    meta->has_optimizer = opt != NULL;
    meta->zero1 = opt != NULL && lay->zero1;
    meta->optimizer_step = opt ? opt->step : 0;
    ckpt_txn_t tx;
    err_t local = {{0}};
    /* 1. rank 0 makes the temporary directory */
    int failed = rank == 0 ? ckpt_txn_begin(&tx, root, it, &local) != 0 : txn_names(&tx, root, it, &local) != 0;
    if ((st = agree(world, failed, &who, err)) != 0)
        return agreement_error(st, who, rank, &local, "preparing the directory", it, err);
    /* 2. every writer writes and fsyncs its files */
    int64_t bytes = 0;
    failed = write_rank_files(&tx, meta, lay, be, params, nparams, opt, &bytes, &local) != 0;
    if ((st = agree(world, failed, &who, err)) != 0) {
        if (rank == 0) ckpt_txn_abort(&tx);
        return agreement_error(st, who, rank, &local, "writing the files", it, err);
    }
    /* 3. all files are durable: rank 0 commits */
    failed = rank == 0 ? ckpt_txn_commit(&tx, keep_last, &local) != 0 : 0;
    if ((st = agree(world, failed, &who, err)) != 0)
        return agreement_error(st, who, rank, &local, "committing", it, err);
    double total = (double)bytes;
    if (world && world->size > 1 && comm_allreduce_f64(world, &total, 1, COMM_SUM, err) != 0) return -1;
    stats->bytes = bytes;
    stats->total_bytes = (int64_t)total;
    stats->seconds = now_s() - t0;
    snprintf(stats->dir, sizeof stats->dir, "%s", tx.final);
    return 0;
}
