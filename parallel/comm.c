/* comm.c — what all communicators share (see comm.h). */
#include "comm.h"

#include <string.h>

void comm_reset_counters(comm_t *c) {
    memset(c->calls, 0, sizeof c->calls);
    memset(c->elements, 0, sizeof c->elements);
}
