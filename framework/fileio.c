/* fileio.c — opening input files without blocking on a FIFO (see fileio.h). */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *kind_name(mode_t m) {
    if (S_ISFIFO(m)) return "a FIFO";
    if (S_ISDIR(m)) return "a directory";
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    if (S_ISSOCK(m)) return "a socket";
    return "not a plain file";
}

static int refuse(const char *path, const char *what, mode_t m, err_t *err) {
    return err_set(err, "%s%s%s: is %s, not a regular file", what ? what : "", what ? " " : "", path, kind_name(m));
}

int file_open_regular(const char *path, const char *what, int *fd, err_t *err) {
    *fd = -1;
    /* O_NONBLOCK: open() of a FIFO without a writer returns at once instead of waiting */
    int d = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (d < 0) return err_set(err, "%s%s%s: %s", what ? what : "", what ? " " : "", path, strerror(errno));
    struct stat st;
    if (fstat(d, &st) != 0) {
        int e = errno;
        close(d);
        return err_set(err, "%s%s%s: %s", what ? what : "", what ? " " : "", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(d);
        return refuse(path, what, st.st_mode, err);
    }
    int fl = fcntl(d, F_GETFL);
    if (fl < 0 || fcntl(d, F_SETFL, fl & ~O_NONBLOCK) != 0) {
        int e = errno;
        close(d);
        return err_set(err, "%s%s%s: %s", what ? what : "", what ? " " : "", path, strerror(e));
    }
    *fd = d;
    return 0;
}

int file_fopen_regular(const char *path, const char *what, FILE **f, err_t *err) {
    *f = NULL;
    int d;
    if (file_open_regular(path, what, &d, err) != 0) return -1;
    FILE *s = fdopen(d, "rb");
    if (!s) {
        int e = errno;
        close(d);
        return err_set(err, "%s%s%s: %s", what ? what : "", what ? " " : "", path, strerror(e));
    }
    *f = s;
    return 0;
}

int file_check_regular(const char *path, const char *what, err_t *err) {
    struct stat st;
    if (stat(path, &st) != 0) return 0;
    return S_ISREG(st.st_mode) ? 0 : refuse(path, what, st.st_mode, err);
}
