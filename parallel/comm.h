/* comm.h — the one communicator interface every collective goes through.
 *
 * Two implementations: MPI over host memory (comm_mpi.c; buffers in device memory
 * are staged through the host) and NCCL over device memory (CUDA builds). Buffers
 * live in the memory of the communicator's backend. Each collective has a
 * blocking form (req == NULL) and an asynchronous one (req != NULL: the call
 * starts it and comm_wait completes it). Every call is counted per kind, so tests
 * can assert how much a layer communicates. */
#ifndef MEGAC_COMM_H
#define MEGAC_COMM_H

#include <stddef.h>
#include <stdint.h>

#include "../framework/backend.h"
#include "../framework/error.h"

typedef enum comm_op { COMM_SUM = 0, COMM_MAX = 1 } comm_op_t;

typedef enum comm_kind {
    COMM_ALLREDUCE = 0,
    COMM_ALLGATHER,
    COMM_REDUCE_SCATTER,
    COMM_BROADCAST,
    COMM_BARRIER,
    COMM_KINDS
} comm_kind_t;

typedef struct comm_request comm_request_t;
typedef struct comm comm_t;

typedef struct comm_ops {
    /* in place over buf[0..n) */
    int (*allreduce)(comm_t *c, float *buf, size_t n, comm_op_t op, comm_request_t **req, err_t *err);
    /* in place: rank r's chunk is buf[r*n .. (r+1)*n); afterwards every rank has all chunks */
    int (*allgather)(comm_t *c, float *buf, size_t n, comm_request_t **req, err_t *err);
    /* sums buf[0 .. size*n) across ranks; rank r receives chunk r into out[0..n) */
    int (*reduce_scatter)(comm_t *c, const float *buf, float *out, size_t n, comm_request_t **req,
                          err_t *err);
    int (*broadcast)(comm_t *c, void *buf, size_t bytes, int root, err_t *err);
    int (*barrier)(comm_t *c, err_t *err);
    /* host doubles (norms, losses): always blocking */
    int (*allreduce_host_f64)(comm_t *c, double *v, size_t n, comm_op_t op, err_t *err);
    int (*wait)(comm_t *c, comm_request_t *req, err_t *err);
    /* drives progress of started requests without blocking */
    void (*poll)(comm_t *c);
    void (*destroy)(comm_t *c);
} comm_ops_t;

struct comm {
    char name[16];           /* "tp", "dp", "world" — used in error messages */
    int rank, size;
    backend_t *be;
    int64_t calls[COMM_KINDS];
    int64_t elements[COMM_KINDS];
    double wait_seconds;     /* time inside blocking calls and waits */
    const comm_ops_t *ops;
    void *impl;
};

/* monotonic seconds, for wait_seconds */
double comm_clock(void);

/* Counts the call; times it when blocking (an asynchronous start is not waiting). */
#define COMM_CALL(c, kind, n, req, call)                                                            \
    do {                                                                                           \
        (c)->calls[kind]++, (c)->elements[kind] += (int64_t)(n);                                   \
        double t0_ = (req) ? 0.0 : comm_clock();                                                   \
        int rc_ = (call);                                                                          \
        if (!(req)) (c)->wait_seconds += comm_clock() - t0_;                                       \
        return rc_;                                                                                \
    } while (0)

static inline int comm_allreduce(comm_t *c, float *buf, size_t n, comm_op_t op, comm_request_t **req, err_t *err) {
    COMM_CALL(c, COMM_ALLREDUCE, n, req, c->ops->allreduce(c, buf, n, op, req, err));
}
static inline int comm_allgather(comm_t *c, float *buf, size_t n, comm_request_t **req, err_t *err) {
    COMM_CALL(c, COMM_ALLGATHER, n, req, c->ops->allgather(c, buf, n, req, err));
}
static inline int comm_reduce_scatter(comm_t *c, const float *buf, float *out, size_t n, comm_request_t **req,
                                      err_t *err) {
    COMM_CALL(c, COMM_REDUCE_SCATTER, n, req, c->ops->reduce_scatter(c, buf, out, n, req, err));
}
static inline int comm_broadcast(comm_t *c, void *buf, size_t bytes, int root, err_t *err) {
    COMM_CALL(c, COMM_BROADCAST, 0, (comm_request_t **)NULL, c->ops->broadcast(c, buf, bytes, root, err));
}
static inline int comm_barrier(comm_t *c, err_t *err) {
    COMM_CALL(c, COMM_BARRIER, 0, (comm_request_t **)NULL, c->ops->barrier(c, err));
}
/* host-side scalars: counted under allreduce too */
static inline int comm_allreduce_f64(comm_t *c, double *v, size_t n, comm_op_t op, err_t *err) {
    COMM_CALL(c, COMM_ALLREDUCE, n, (comm_request_t **)NULL, c->ops->allreduce_host_f64(c, v, n, op, err));
}
static inline int comm_wait(comm_t *c, comm_request_t *req, err_t *err) {
    double t0 = comm_clock();
    int rc = c->ops->wait(c, req, err);
    c->wait_seconds += comm_clock() - t0;
    return rc;
}
static inline void comm_poll(comm_t *c) { c->ops->poll(c); }
static inline void comm_destroy(comm_t *c) {
    if (c && c->ops) c->ops->destroy(c);
}
void comm_reset_counters(comm_t *c);

/* Collective watchdog (Megatron's --distributed-timeout-minutes). A rank that has
 * waited longer than the timeout inside one collective (a peer stopped, hung or
 * on a dead node: a peer that exits is already caught by the launcher) prints one
 * line naming its world rank, the group and the call, and ends the whole job with
 * MPI_Abort. The check runs on a thread started at the first collective of a
 * group of two or more ranks; the waiting thread is left untouched.
 * The timeout: comm_watchdog_configure (seconds; <= 0 turns it off; before the first
 * collective, when the thread starts with it), else the environment's
 * MEGAC_DISTRIBUTED_TIMEOUT_MINUTES, else 10 minutes. */
#define COMM_DEFAULT_TIMEOUT_MINUTES 10.0
void comm_watchdog_configure(double seconds);
double comm_watchdog_timeout(void);
/* Around every host-blocking wait of a communicator (its implementations call these). */
void comm_watch_enter(const comm_t *c, const char *call);
void comm_watch_leave(void);
/* Device collectives (NCCL) complete on the GPU after the call returns, so the host
 * may block far from the communicator: such a communicator registers a check that
 * the watchdog thread runs; it returns 1, with `what` naming the group, the rank in it
 * and the call ("(tp group rank 1 of 2): ncclAllReduce pending on the GPU for 601 s"), when one of its collectives has been pending more than `timeout` seconds.
 * The check may run at any time on the watchdog thread until it is unregistered. */
typedef int (*comm_watch_check_fn)(void *ctx, double timeout, char *what, size_t n);
void comm_watch_register(comm_watch_check_fn fn, void *ctx);
void comm_watch_unregister(void *ctx);

#endif
