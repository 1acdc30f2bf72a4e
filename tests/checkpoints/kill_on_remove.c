/* kill_on_remove.c — test shim (LD_PRELOAD): after the process has removed
 * MEGAC_KILL_AFTER_REMOVES files or directories (remove, unlink, rmdir), it
 * kills itself with SIGKILL, as a kill in the middle of deleting a checkpoint
 * would. Without the variable it changes nothing. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

static int counted(int rc) {
    static long n = -1;
    if (n < 0) {
        const char *v = getenv("MEGAC_KILL_AFTER_REMOVES");
        n = v ? atol(v) : 0;
        if (n <= 0) n = 0x7fffffff;
    }
    if (rc == 0 && --n == 0) raise(SIGKILL);
    return rc;
}

int remove(const char *path) {
    int (*real)(const char *) = (int (*)(const char *))dlsym(RTLD_NEXT, "remove");
    return counted(real(path));
}
int unlink(const char *path) {
    int (*real)(const char *) = (int (*)(const char *))dlsym(RTLD_NEXT, "unlink");
    return counted(real(path));
}
int rmdir(const char *path) {
    int (*real)(const char *) = (int (*)(const char *))dlsym(RTLD_NEXT, "rmdir");
    return counted(real(path));
}
