/* test_progress.c — framework/progress: the line's text (done/total, percentage,
 * rate, ETA; an unknown total), the plain-line mode on a file with the interval
 * overridden, and quiet. The terminal mode is checked by test_progress.sh under
 * a pseudo-terminal. */
#include <stdlib.h>
#include <string.h>

#include "framework/progress.h"
#include "testing.h"

int main(void) {
    progress_t p;
    char line[256];
    progress_start(&p, NULL, "work", "MB", 100.0, 0);
    p.done = 25.0;
    progress_format(&p, p.t0 + 5.0, "7 documents", line, sizeof line);
    CHECK(strcmp(line, "work: 25/100 MB (25%), 5.0 MB/s, ETA 0:15 | 7 documents") == 0, "known total: '%s'", line);
    p.done = 1.5;
    progress_format(&p, p.t0 + 0.001, NULL, line, sizeof line);
    CHECK(strcmp(line, "work: 1.5/100 MB (2%), 1500.0 MB/s, ETA 0:01") == 0, "fractions: '%s'", line);
    p.done = 10.0, p.total = 1e6;
    progress_format(&p, p.t0 + 10.0, NULL, line, sizeof line);
    CHECK(strcmp(line, "work: 10/1000000 MB (0%), 1.0 MB/s, ETA 277:46:30") == 0, "hours: '%s'", line);
    progress_start(&p, NULL, "tensors", "tensors", 0.0, 0);
    p.done = 12;
    progress_format(&p, p.t0 + 4.0, NULL, line, sizeof line);
    CHECK(strcmp(line, "tensors: 12 tensors, 3.0 tensors/s") == 0, "unknown total: '%s'", line);
    progress_format(&p, p.t0 + 4.0, NULL, line, 10);
    CHECK(strlen(line) == 9, "truncated to the buffer: '%s'", line);

    /* a file: plain lines, one per update with the interval at 0; quiet: none */
    setenv("MEGAC_PROGRESS_SECONDS", "0", 1);
    FILE *f = tmpfile();
    progress_start(&p, f, "w", "MB", 4.0, 0);
    CHECK(!p.tty && p.interval == 0.0, "a file is not a terminal; interval from the environment");
    for (int i = 1; i <= 4; i++) progress_update(&p, i, NULL);
    progress_end(&p);
    progress_start(&p, f, "quiet", "MB", 4.0, 1);
    for (int i = 1; i <= 4; i++) progress_update(&p, i, NULL);
    rewind(f);
    int lines = 0, cr = 0, c;
    while ((c = fgetc(f)) != EOF) lines += c == '\n', cr += c == '\r';
    fclose(f);
    CHECK(lines == 4 && cr == 0, "4 plain lines and no carriage return (got %d, %d)", lines, cr);
    setenv("MEGAC_PROGRESS_SECONDS", "soon", 1);
    progress_start(&p, NULL, "w", "MB", 4.0, 0);
    CHECK(p.interval == 10.0, "a malformed MEGAC_PROGRESS_SECONDS is ignored (%g)", p.interval);
    return test_exit("progress");
}
