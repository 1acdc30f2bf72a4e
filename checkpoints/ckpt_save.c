/* ckpt_save.c — the save transaction of megac checkpoints: names, the
 * temporary directory, fsync, rename, the `latest` pointer, pruning, and the
 * collective save that drives the writers (see checkpoint.h). */
#define _GNU_SOURCE
#include "checkpoint.h"
#include "ckpt_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
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

/* a file name megac writes into an iteration directory */
static int megac_file_name(const char *n) {
    size_t l = strlen(n);
    return strncmp(n, "mp_rank_", 8) == 0 && l > 11 && strcmp(n + l - 3, ".h5") == 0;
}

/* Whether dir holds only files megac writes (a temporary a crashed save left);
 * 0 with *foreign naming the first other entry. */
static int only_megac_files(const char *dir, char *foreign, size_t len) {
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(foreign, len, "(cannot list: %s)", strerror(errno));
        return 0;
    }
    int ok = 1;
    struct dirent *e;
    while (ok && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char path[CKPT_PATH_MAX];
        struct stat st;
        err_t ignored;
        if (!megac_file_name(e->d_name) || ckpt_join(path, sizeof path, dir, e->d_name, &ignored) != 0 ||
            lstat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            snprintf(foreign, len, "%s", e->d_name);
            ok = 0;
        }
    }
    closedir(d);
    return ok;
}

/* ".iter_0000100.trash": where pruning moves an iteration before deleting it */
static int trash_name(const char *name) {
    size_t l = strlen(name);
    return name[0] == '.' && strncmp(name + 1, "iter_", 5) == 0 && l > 12 && strcmp(name + l - 6, ".trash") == 0;
}

/* Deletes an iteration directory: renames it to a hidden trash name first, so a
 * process killed while deleting never leaves a half-deleted iter_N behind. */
static int delete_iteration(const char *root, const char *name, err_t *err) {
    char path[CKPT_PATH_MAX], trash[CKPT_PATH_MAX], tname[96];
    snprintf(tname, sizeof tname, ".%s.trash", name);
    if (ckpt_join(path, sizeof path, root, name, err) != 0 || ckpt_join(trash, sizeof trash, root, tname, err) != 0 ||
        rm_rf(trash, err) != 0)
        return -1;
    if (rename(path, trash) != 0) return err_set(err, "%s: cannot move to %s: %s", path, tname, strerror(errno));
    if (ckpt_fsync_dir(root, err) != 0) return -1;
    return rm_rf(trash, err);
}

/* After a commit of `current`: removes trash a killed prune left, temporaries a
 * crashed save left (only when they hold nothing but megac's files), and, with
 * keep_last > 0, all but the newest keep_last iterations of the lineage: those
 * at or below tx->base and those in tx->mine. Never `current`, never another
 * iteration (a newer one a rolled-back run left stays). */
static int prune(const ckpt_txn_t *tx, int64_t current, int keep_last, err_t *err) {
    const char *root = tx->root;
    DIR *d = opendir(root);
    if (!d) return err_set(err, "%s: cannot list: %s", root, strerror(errno));
    int64_t *its = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && rc == 0) {
        int64_t it;
        int kind = ckpt_parse_iter_name(e->d_name, &it);
        char path[CKPT_PATH_MAX], foreign[256];
        if (ckpt_join(path, sizeof path, root, e->d_name, err) != 0) continue;
        struct stat st;
        if (lstat(path, &st) != 0 || !S_ISDIR(st.st_mode)) continue;
        if (trash_name(e->d_name)) {
            rc = rm_rf(path, err);
        } else if (kind == 2) {
            if (only_megac_files(path, foreign, sizeof foreign)) rc = rm_rf(path, err);
        } else if (kind == 1) {
            int lineage = it <= tx->base;
            for (size_t k = 0; k < tx->nmine && !lineage; k++) lineage = tx->mine[k] == it;
            if (!lineage) continue;
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
            char name[64];
            ckpt_iter_name(its[i], name, sizeof name);
            rc = delete_iteration(root, name, err);
        }
    }
    free(its);
    if (rc == 0) rc = ckpt_fsync_dir(root, err);
    return rc;
}

/* ---------------------------------------------------------------- the lock */

#define LOCK_NAME CKPT_LOCK

/* Takes the exclusive lock of a save directory (created if need be): 0 and *fd,
 * or -1 naming the job that holds it. */
static int lock_dir(const char *root, int *fd, err_t *err) {
    *fd = -1;
    char path[CKPT_PATH_MAX];
    if (ckpt_mkdirs(root, err) != 0 || ckpt_join(path, sizeof path, root, LOCK_NAME, err) != 0) return -1;
    int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (f < 0) return err_set(err, "%s: cannot open the lock file: %s", path, strerror(errno));
    if (flock(f, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        if (e == EWOULDBLOCK) {
            /* the holder writes its description just after taking the lock: a job
             * started at the same instant waits up to a second to read it */
            char who[128] = {0};
            ssize_t r = 0;
            for (int k = 0; k < 20 && (r = pread(f, who, sizeof who - 1, 0)) <= 0; k++) {
                struct timespec ts = {0, 50 * 1000 * 1000};
                nanosleep(&ts, NULL);
            }
            close(f);
            who[r > 0 ? r : 0] = 0;
            who[strcspn(who, "\n")] = 0;
            for (char *p = who; *p; p++)
                if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f) *p = '?';
            return err_set(err, "%s: another megac job (%s) is saving checkpoints here (lock %s); one job per save directory",
                           root, who[0] ? who : "unknown", LOCK_NAME);
        }
        close(f);
        if (e == ENOLCK || e == EOPNOTSUPP || e == ENOSYS) return 0; /* a filesystem without locks: go on unlocked */
        return err_set(err, "%s: cannot lock: %s", path, strerror(e));
    }
    char host[64] = "?", text[160];
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = 0;
    int tl = snprintf(text, sizeof text, "pid %d on host %s\n", (int)getpid(), host);
    if (ftruncate(f, 0) != 0 || pwrite(f, text, (size_t)tl, 0) != tl) {
        /* the lock holds all the same; only the holder's description is missing */
    }
    *fd = f;
    return 0;
}

static void unlock_dir(int *fd) {
    if (*fd >= 0) close(*fd); /* releases the flock */
    *fd = -1;
}

/* ---------------------------------------------------------------- commit */

static int txn_names(ckpt_txn_t *tx, const char *root, int64_t iteration, err_t *err) {
    memset(tx, 0, sizeof *tx);
    tx->lock_fd = -1;
    tx->base = INT64_MAX;
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

/* the temporary directory, after txn_names, under the directory's lock */
static int txn_make_tmp(ckpt_txn_t *tx, err_t *err) {
    struct stat st;
    if (lstat(tx->tmp, &st) == 0) { /* left by a save that crashed, or not megac's */
        char foreign[256];
        if (!S_ISDIR(st.st_mode))
            return err_set(err, "%s: exists and is not a directory megac made; move it away", tx->tmp);
        if (!only_megac_files(tx->tmp, foreign, sizeof foreign))
            return err_set(err, "%s: holds '%s', which megac did not write; move it away (megac removes a leftover "
                           "temporary only when it holds nothing but its own mp_rank_*.h5 files)", tx->tmp, foreign);
        if (rm_rf(tx->tmp, err) != 0) return -1;
    }
    if (mkdir(tx->tmp, 0755) != 0) return err_set(err, "%s: cannot create: %s", tx->tmp, strerror(errno));
    return 0;
}

int ckpt_txn_begin(ckpt_txn_t *tx, const char *root, int64_t iteration, err_t *err) {
    if (txn_names(tx, root, iteration, err) != 0 || lock_dir(root, &tx->lock_fd, err) != 0) return -1;
    if (txn_make_tmp(tx, err) != 0) {
        unlock_dir(&tx->lock_fd);
        return -1;
    }
    return 0;
}

int ckpt_remove(const char *path, err_t *err) { return rm_rf(path, err); }

void ckpt_txn_abort(ckpt_txn_t *tx) {
    err_t ignored;
    if (tx->tmp[0]) rm_rf(tx->tmp, &ignored);
    unlock_dir(&tx->lock_fd);
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

static int txn_commit(ckpt_txn_t *tx, int keep_last, err_t *err) {
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
    return prune(tx, tx->iteration, keep_last, err);
}

int ckpt_txn_commit(ckpt_txn_t *tx, int keep_last, err_t *err) {
    int rc = txn_commit(tx, keep_last, err);
    unlock_dir(&tx->lock_fd);
    return rc;
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

/* every rank: rank 0's message after rank 0 failed alone */
static int share_rank0_error(comm_t *world, int failed, err_t *local, err_t *err) {
    int who, st = agree(world, failed, &who, err);
    if (st < 0) return -1;
    if (st == 0) return 0;
    *err = *local;
    if (world && world->size > 1 && comm_broadcast(world, err->msg, sizeof err->msg, 0, local) != 0) *err = *local;
    return -1;
}

int ckpt_savedir_open(ckpt_savedir_t *sd, const char *root, comm_t *world, int64_t base, int keep_last, err_t *err) {
    memset(sd, 0, sizeof *sd);
    sd->lock_fd = -1;
    sd->world = world;
    sd->base = base;
    sd->keep_last = keep_last;
    err_t local = {{0}};
    int failed = 0;
    if (strlen(root) == 0 || strlen(root) >= sizeof sd->root - 32) failed = err_set(&local, "--save: bad directory name '%s'", root) != 0;
    else snprintf(sd->root, sizeof sd->root, "%s", root);
    int rank = world ? world->rank : 0;
    if (!failed && rank == 0) {
        failed = lock_dir(root, &sd->lock_fd, &local) != 0;
        /* trash a prune killed mid-way left (the lock is ours now) */
        DIR *d = failed ? NULL : opendir(root);
        struct dirent *e;
        while (d && (e = readdir(d)) != NULL) {
            char path[CKPT_PATH_MAX];
            if (trash_name(e->d_name) && ckpt_join(path, sizeof path, root, e->d_name, &local) == 0) rm_rf(path, &local);
        }
        if (d) closedir(d);
    }
    if (share_rank0_error(world, failed, &local, err) != 0) {
        ckpt_savedir_close(sd);
        return -1;
    }
    return 0;
}

void ckpt_savedir_close(ckpt_savedir_t *sd) {
    unlock_dir(&sd->lock_fd);
    free(sd->mine);
    sd->mine = NULL, sd->nmine = sd->cap = 0;
}

int ckpt_savedir_save(ckpt_savedir_t *sd, ckpt_meta_t *meta, const ckpt_layout_t *lay, backend_t *be,
                      const ckpt_param_t *params, int nparams, const ckpt_optim_state_t *opt, ckpt_save_stats_t *stats,
                      err_t *err) {
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
    /* this iteration joins the lineage pruning may delete from */
    if (sd->nmine == sd->cap) {
        size_t cap = sd->cap ? 2 * sd->cap : 16;
        int64_t *nm = realloc(sd->mine, cap * sizeof *nm);
        if (!nm) return err_set(err, "out of memory saving iteration %lld", (long long)it);
        sd->mine = nm, sd->cap = cap;
    }
    sd->mine[sd->nmine++] = it;
    /* 1. rank 0 (holding the directory's lock) makes the temporary directory */
    int failed = txn_names(&tx, sd->root, it, &local) != 0;
    if (!failed && rank == 0) failed = txn_make_tmp(&tx, &local) != 0;
    tx.base = sd->base, tx.mine = sd->mine, tx.nmine = sd->nmine;
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
    failed = rank == 0 ? txn_commit(&tx, sd->keep_last, &local) != 0 : 0;
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

int ckpt_save(const char *root, ckpt_meta_t *meta, const ckpt_layout_t *lay, backend_t *be,
              const ckpt_param_t *params, int nparams, const ckpt_optim_state_t *opt, int keep_last,
              ckpt_save_stats_t *stats, err_t *err) {
    ckpt_savedir_t sd;
    if (ckpt_savedir_open(&sd, root, lay->world, INT64_MAX, keep_last, err) != 0) return -1;
    int rc = ckpt_savedir_save(&sd, meta, lay, be, params, nparams, opt, stats, err);
    ckpt_savedir_close(&sd);
    return rc;
}

int ckpt_same_root(const char *iter_dir, const char *root) {
    char a[PATH_MAX], b[PATH_MAX], parent[CKPT_PATH_MAX];
    snprintf(parent, sizeof parent, "%s/..", iter_dir);
    return realpath(parent, a) != NULL && realpath(root, b) != NULL && strcmp(a, b) == 0;
}
