/* comm.c — what all communicators share (see comm.h). */
#include "comm.h"

#include <string.h>
#include <time.h>

double comm_clock(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void comm_reset_counters(comm_t *c) {
    memset(c->calls, 0, sizeof c->calls);
    memset(c->elements, 0, sizeof c->elements);
    c->wait_seconds = 0.0;
}
