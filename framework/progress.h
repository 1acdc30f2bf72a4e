/* progress.h — progress of long work (preprocessing, checkpoint conversion, index
 * builds) on a stream, usually stderr:
 *   a terminal: one line rewritten in place ("\r"), at most 4 times a second:
 *     "megac preprocess: 12.5/40.0 MB (31%), 3.1 MB/s, ETA 0:09 | 1200 documents"
 *   otherwise (a log file, a pipe): the same text as plain lines, one every 10 s;
 *   quiet: nothing.
 * MEGAC_PROGRESS_SECONDS overrides the interval (seconds, >= 0) in both modes.
 * A total <= 0 is unknown: no percentage and no ETA. */
#ifndef MEGAC_PROGRESS_H
#define MEGAC_PROGRESS_H

#include <stdio.h>

typedef struct progress {
    FILE *f;
    const char *what, *unit;
    double total, done;
    int tty, quiet, shown; /* shown: a TTY line is on screen */
    double t0, last, interval;
} progress_t;

void progress_start(progress_t *p, FILE *f, const char *what, const char *unit, double total, int quiet);
/* done so far (same unit as total); extra: appended after " | " (or NULL). Prints when due. */
void progress_update(progress_t *p, double done, const char *extra);
/* clears the terminal line (the caller prints its own summary) */
void progress_end(progress_t *p);
/* the line progress_update would print, into buf (for tests and summaries) */
void progress_format(const progress_t *p, double now, const char *extra, char *buf, size_t n);

#endif
