/* progress.c — progress lines on a terminal or a log (see progress.h). */
#include "progress.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void progress_start(progress_t *p, FILE *f, const char *what, const char *unit, double total, int quiet) {
    memset(p, 0, sizeof *p);
    p->f = f, p->what = what, p->unit = unit, p->total = total, p->quiet = quiet || !f;
    p->tty = f && isatty(fileno(f));
    p->interval = p->tty ? 0.25 : 10.0;
    const char *env = getenv("MEGAC_PROGRESS_SECONDS");
    if (env && *env) {
        char *end;
        double s = strtod(env, &end);
        if (*end == '\0' && s >= 0 && isfinite(s)) p->interval = s;
    }
    p->t0 = p->last = now_s();
}

/* a count without decimals, a measure (MB) with one */
static int fmt_num(char *buf, size_t n, double v) {
    return v == floor(v) && fabs(v) < 1e15 ? snprintf(buf, n, "%.0f", v) : snprintf(buf, n, "%.1f", v);
}

void progress_format(const progress_t *p, double now, const char *extra, char *buf, size_t n) {
    char d[32], t[32];
    double el = now - p->t0, rate = el > 0 ? p->done / el : 0.0;
    size_t k = 0;
    fmt_num(d, sizeof d, p->done);
#define PUT(...)                                                                   \
    do {                                                                           \
        int w = snprintf(buf + k, k < n ? n - k : 0, __VA_ARGS__);                 \
        if (w > 0) k += (size_t)w;                                                 \
    } while (0)
    if (p->total > 0) {
        fmt_num(t, sizeof t, p->total);
        PUT("%s: %s/%s %s (%.0f%%), ", p->what, d, t, p->unit, 100.0 * p->done / p->total);
    } else {
        PUT("%s: %s %s, ", p->what, d, p->unit);
    }
    PUT("%.1f %s/s", rate, p->unit);
    if (p->total > 0 && rate > 0 && p->done < p->total) {
        long s = (long)ceil((p->total - p->done) / rate);
        if (s >= 3600) PUT(", ETA %ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
        else PUT(", ETA %ld:%02ld", s / 60, s % 60);
    }
    if (extra && *extra) PUT(" | %s", extra);
#undef PUT
    if (n > 0 && k >= n) buf[n - 1] = '\0';
}

void progress_update(progress_t *p, double done, const char *extra) {
    p->done = done;
    if (p->quiet) return;
    double now = now_s();
    if (now - p->last < p->interval) return;
    p->last = now;
    char line[512];
    progress_format(p, now, extra, line, sizeof line);
    if (p->tty) {
        fprintf(p->f, "\r\033[K%s", line); /* rewrite the line in place */
        p->shown = 1;
    } else {
        fprintf(p->f, "%s\n", line);
    }
    fflush(p->f);
}

void progress_end(progress_t *p) {
    if (p->shown) {
        fputs("\r\033[K", p->f);
        fflush(p->f);
    }
    p->shown = 0;
}
