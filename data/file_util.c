/* file_util.c — whole-file reads and memory maps (see file_util.h). */
#include "file_util.h"

#include "../framework/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int file_read_all(const char *path, const char *what, char **data, size_t *len, err_t *err) {
    *data = NULL;
    *len = 0;
    FILE *f;
    if (file_fopen_regular(path, what, &f, err) != 0) return -1;
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        fclose(f);
        return err_set(err, "%s %s: %s", what, path, strerror(errno));
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        fclose(f);
        return err_set(err, "%s %s: out of memory reading %zu bytes", what, path, n);
    }
    if (fread(buf, 1, n, f) != n) {
        free(buf);
        fclose(f);
        return err_set(err, "%s %s: short read", what, path);
    }
    fclose(f);
    buf[n] = 0;
    *data = buf;
    *len = n;
    return 0;
}

int file_map_open(file_map_t *m, const char *path, err_t *err) {
    m->data = NULL;
    m->size = 0;
    int fd;
    if (file_open_regular(path, NULL, &fd, err) != 0) return -1;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return err_set(err, "%s: %s", path, strerror(errno));
    }
    if (st.st_size == 0) {
        close(fd);
        return 0;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED) return err_set(err, "%s: cannot map %lld bytes: %s", path, (long long)st.st_size, strerror(errno));
    m->data = p;
    m->size = (size_t)st.st_size;
    return 0;
}

void file_map_close(file_map_t *m) {
    if (m->data) munmap((void *)m->data, m->size);
    m->data = NULL;
    m->size = 0;
}

const char *file_fmt_count(char buf[32], int64_t v) {
    char digits[24];
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    int n = snprintf(digits, sizeof digits, "%llu", (unsigned long long)u), o = 0;
    if (v < 0) buf[o++] = '-';
    for (int i = 0; i < n; i++) {
        if (i > 0 && (n - i) % 3 == 0) buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}
