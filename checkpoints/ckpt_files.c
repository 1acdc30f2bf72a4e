/* ckpt_files.c — the names and filesystem steps every checkpoint source uses:
 * tensor groups, box volumes, iteration and file names, path joins, fsync of
 * files and directories, and creating a directory path (see ckpt_internal.h). */
#include "checkpoint.h"
#include "ckpt_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
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
