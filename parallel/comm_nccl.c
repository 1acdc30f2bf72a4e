/* comm_nccl.c — collectives over NCCL on device memory (see comm.h).
 *
 * Blocking calls are queued on the CUDA legacy default stream, where the CUDA
 * backend queues its kernels, so they are ordered with compute without a host
 * synchronisation. Asynchronous calls run on the communicator's own stream after
 * an event from the default stream, and record an event that comm_wait makes the
 * default stream wait for: gradient buckets overlap the backward kernels. Host
 * scalars, barriers and broadcasts of host data go over the MPI communicator the
 * NCCL one was built from.
 *
 * The watchdog (comm.h): every NCCL collective records an event after it; the
 * watchdog thread polls the oldest unfinished one and ends the job when it has
 * been pending longer than --distributed-timeout-minutes (the host may be blocked
 * anywhere meanwhile, e.g. copying a loss back). MPI waits are timed as on MPI. */
#include "comm_nccl.h"

#include <cuda_runtime.h>
#include <mpi.h>
#include <nccl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REQUESTS 256
#define WATCH_SLOTS 64 /* collectives tracked per communicator (the oldest dropped beyond) */

struct comm_request {
    cudaEvent_t done;
    int in_use;
};

typedef struct nccl_impl {
    MPI_Comm mpi;
    ncclComm_t nccl;
    cudaStream_t stream;
    cudaEvent_t ready; /* the default stream's position before an asynchronous call */
    struct comm_request reqs[MAX_REQUESTS];
    /* the watchdog's ring of enqueued collectives: [tail, head) pending, under lock */
    pthread_mutex_t lock;
    int lock_ready, device, watched;
    struct {
        cudaEvent_t ev;
        double t;
        const char *call;
    } watch[WATCH_SLOTS];
    unsigned head, tail;
    comm_t *self;
} nccl_impl_t;

static nccl_impl_t *impl(comm_t *c) { return c->impl; }

/* drops finished collectives from the ring (caller holds m->lock) */
static void watch_reap(nccl_impl_t *m) {
    /* cudaErrorNotReady is not recorded as the thread's last error; any other result ends the wait */
    while (m->tail != m->head && cudaEventQuery(m->watch[m->tail % WATCH_SLOTS].ev) != cudaErrorNotReady) m->tail++;
}

/* after a collective is enqueued on `stream` */
static void watch_track(comm_t *c, cudaStream_t stream, const char *call) {
    nccl_impl_t *m = c->impl;
    if (!m->watched) return;
    pthread_mutex_lock(&m->lock);
    watch_reap(m);
    if (m->head - m->tail == WATCH_SLOTS) m->tail++; /* full: later ones finish after it anyway */
    unsigned i = m->head % WATCH_SLOTS;
    if (cudaEventRecord(m->watch[i].ev, stream) == cudaSuccess) {
        m->watch[i].t = comm_clock();
        m->watch[i].call = call;
        m->head++;
    }
    pthread_mutex_unlock(&m->lock);
}

/* the watchdog thread's check (comm_watch_check_fn) */
static int watch_check(void *ctx, double timeout, char *what, size_t n) {
    nccl_impl_t *m = ctx;
    int late = 0;
    pthread_mutex_lock(&m->lock);
    cudaSetDevice(m->device); /* the watchdog thread's own current device */
    watch_reap(m);
    if (m->tail != m->head) {
        double waited = comm_clock() - m->watch[m->tail % WATCH_SLOTS].t;
        if (waited > timeout) {
            snprintf(what, n, "(%s group rank %d of %d): %s pending on the GPU for %.0f s", m->self->name, m->self->rank,
                     m->self->size, m->watch[m->tail % WATCH_SLOTS].call, waited);
            late = 1;
        }
    }
    pthread_mutex_unlock(&m->lock);
    return late;
}

static int nccl_fail(comm_t *c, ncclResult_t r, const char *call, err_t *err) {
    return err_set(err, "rank %d of %s group: %s failed: %s", c->rank, c->name, call, ncclGetErrorString(r));
}

static int cuda_fail(comm_t *c, cudaError_t e, const char *call, err_t *err) {
    return err_set(err, "rank %d of %s group: %s failed: %s", c->rank, c->name, call, cudaGetErrorString(e));
}

int comm_nccl_usable(int node_ranks) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return n >= node_ranks;
}

/* stream for the call: the default one, or (async) the own stream after the default's work */
static int begin(comm_t *c, comm_request_t **req, cudaStream_t *stream, comm_request_t **q, err_t *err) {
    nccl_impl_t *m = impl(c);
    *q = NULL;
    *stream = 0;
    if (!req) return 0;
    for (int i = 0; i < MAX_REQUESTS && !*q; i++)
        if (!m->reqs[i].in_use) *q = &m->reqs[i];
    if (!*q) return err_set(err, "%s group: more than %d collectives in flight", c->name, MAX_REQUESTS);
    cudaError_t e = cudaEventRecord(m->ready, 0);
    if (e == cudaSuccess) e = cudaStreamWaitEvent(m->stream, m->ready, 0);
    if (e != cudaSuccess) return cuda_fail(c, e, "cudaStreamWaitEvent", err);
    (*q)->in_use = 1;
    *stream = m->stream;
    return 0;
}

static int finish(comm_t *c, ncclResult_t r, const char *call, comm_request_t **req, comm_request_t *q, err_t *err) {
    if (r != ncclSuccess) {
        if (q) q->in_use = 0;
        return nccl_fail(c, r, call, err);
    }
    if (!q) return 0;
    cudaError_t e = cudaEventRecord(q->done, impl(c)->stream);
    if (e != cudaSuccess) {
        q->in_use = 0;
        return cuda_fail(c, e, "cudaEventRecord", err);
    }
    *req = q;
    return 0;
}

static int n_allreduce(comm_t *c, float *buf, size_t n, comm_op_t op, comm_request_t **req, err_t *err) {
    cudaStream_t s;
    comm_request_t *q;
    if (begin(c, req, &s, &q, err) != 0) return -1;
    ncclResult_t r = ncclAllReduce(buf, buf, n, ncclFloat, op == COMM_MAX ? ncclMax : ncclSum, impl(c)->nccl, s);
    if (r == ncclSuccess) watch_track(c, s, "ncclAllReduce");
    return finish(c, r, "ncclAllReduce", req, q, err);
}

static int n_allgather(comm_t *c, float *buf, size_t n, comm_request_t **req, err_t *err) {
    cudaStream_t s;
    comm_request_t *q;
    if (begin(c, req, &s, &q, err) != 0) return -1;
    ncclResult_t r = ncclAllGather(buf + n * (size_t)c->rank, buf, n, ncclFloat, impl(c)->nccl, s);
    if (r == ncclSuccess) watch_track(c, s, "ncclAllGather");
    return finish(c, r, "ncclAllGather", req, q, err);
}

static int n_reduce_scatter(comm_t *c, const float *buf, float *out, size_t n, comm_request_t **req, err_t *err) {
    cudaStream_t s;
    comm_request_t *q;
    if (begin(c, req, &s, &q, err) != 0) return -1;
    ncclResult_t r = ncclReduceScatter(buf, out, n, ncclFloat, ncclSum, impl(c)->nccl, s);
    if (r == ncclSuccess) watch_track(c, s, "ncclReduceScatter");
    return finish(c, r, "ncclReduceScatter", req, q, err);
}

static int n_wait(comm_t *c, comm_request_t *q, err_t *err) {
    cudaError_t e = cudaStreamWaitEvent(0, q->done, 0);
    q->in_use = 0;
    return e == cudaSuccess ? 0 : cuda_fail(c, e, "cudaStreamWaitEvent", err);
}

static void n_poll(comm_t *c) { (void)c; }

static int n_broadcast(comm_t *c, void *buf, size_t bytes, int root, err_t *err) {
    ncclResult_t r = ncclBroadcast(buf, buf, bytes, ncclChar, root, impl(c)->nccl, 0);
    if (r == ncclSuccess) watch_track(c, 0, "ncclBroadcast");
    return r == ncclSuccess ? 0 : nccl_fail(c, r, "ncclBroadcast", err);
}

static int n_barrier(comm_t *c, err_t *err) {
    cudaError_t e = cudaStreamSynchronize(0); /* pending collectives are watched by watch_check */
    if (e != cudaSuccess) return cuda_fail(c, e, "cudaStreamSynchronize", err);
    comm_watch_enter(c, "MPI_Barrier");
    int rc = MPI_Barrier(impl(c)->mpi);
    comm_watch_leave();
    return rc == MPI_SUCCESS ? 0 : err_set(err, "%s group: MPI_Barrier failed", c->name);
}

static int n_allreduce_f64(comm_t *c, double *v, size_t n, comm_op_t op, err_t *err) {
    comm_watch_enter(c, "MPI_Allreduce (double)");
    int rc = MPI_Allreduce(MPI_IN_PLACE, v, (int)n, MPI_DOUBLE, op == COMM_MAX ? MPI_MAX : MPI_SUM, impl(c)->mpi);
    comm_watch_leave();
    return rc == MPI_SUCCESS ? 0 : err_set(err, "rank %d of %s group: MPI_Allreduce failed", c->rank, c->name);
}

static void n_destroy(comm_t *c) {
    nccl_impl_t *m = impl(c);
    if (m) {
        if (m->watched) comm_watch_unregister(m);
        for (int i = 0; i < WATCH_SLOTS; i++)
            if (m->watch[i].ev) cudaEventDestroy(m->watch[i].ev);
        if (m->lock_ready) pthread_mutex_destroy(&m->lock);
        for (int i = 0; i < MAX_REQUESTS; i++)
            if (m->reqs[i].done) cudaEventDestroy(m->reqs[i].done);
        if (m->ready) cudaEventDestroy(m->ready);
        if (m->stream) cudaStreamDestroy(m->stream);
        if (m->nccl) ncclCommDestroy(m->nccl);
        MPI_Comm_free(&m->mpi);
        free(m);
    }
    free(c);
}

static const comm_ops_t nccl_ops = {n_allreduce, n_allgather, n_reduce_scatter, n_broadcast, n_barrier,
                                    n_allreduce_f64, n_wait, n_poll, n_destroy};

comm_t *comm_nccl_create(const char *name, const void *mpi_comm, backend_t *be, err_t *err) {
    comm_t *c = calloc(1, sizeof *c);
    nccl_impl_t *m = calloc(1, sizeof *m);
    if (!c || !m) {
        free(c), free(m);
        err_set(err, "out of memory creating the %s communicator", name);
        return NULL;
    }
    snprintf(c->name, sizeof c->name, "%s", name);
    c->be = be, c->ops = &nccl_ops, c->impl = m;
    if (MPI_Comm_dup(*(const MPI_Comm *)mpi_comm, &m->mpi) != MPI_SUCCESS) {
        free(c), free(m);
        err_set(err, "MPI_Comm_dup for the %s group failed", name);
        return NULL;
    }
    MPI_Comm_rank(m->mpi, &c->rank);
    MPI_Comm_size(m->mpi, &c->size);
    ncclUniqueId id;
    ncclResult_t r = ncclSuccess;
    if (c->rank == 0) r = ncclGetUniqueId(&id);
    int ok = r == ncclSuccess, all = 0;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, m->mpi);
    if (!all) {
        if (r != ncclSuccess) nccl_fail(c, r, "ncclGetUniqueId", err);
        else err_set(err, "%s group: rank 0 could not create the NCCL id", name);
        n_destroy(c);
        return NULL;
    }
    MPI_Bcast(&id, (int)sizeof id, MPI_BYTE, 0, m->mpi);
    r = ncclCommInitRank(&m->nccl, c->size, id, c->rank);
    if (r != ncclSuccess) {
        m->nccl = NULL;
        nccl_fail(c, r, "ncclCommInitRank", err);
        n_destroy(c);
        return NULL;
    }
    cudaError_t e = cudaStreamCreateWithFlags(&m->stream, cudaStreamNonBlocking);
    if (e == cudaSuccess) e = cudaEventCreateWithFlags(&m->ready, cudaEventDisableTiming);
    for (int i = 0; i < MAX_REQUESTS && e == cudaSuccess; i++)
        e = cudaEventCreateWithFlags(&m->reqs[i].done, cudaEventDisableTiming);
    for (int i = 0; i < WATCH_SLOTS && e == cudaSuccess; i++)
        e = cudaEventCreateWithFlags(&m->watch[i].ev, cudaEventDisableTiming);
    if (e == cudaSuccess) e = cudaGetDevice(&m->device);
    if (e != cudaSuccess) {
        cuda_fail(c, e, "creating the communication stream", err);
        n_destroy(c);
        return NULL;
    }
    m->self = c;
    if (pthread_mutex_init(&m->lock, NULL) == 0) {
        m->lock_ready = 1;
        if (c->size > 1 && comm_watchdog_timeout() > 0.0) {
            m->watched = 1;
            comm_watch_register(watch_check, m);
        }
    }
    return c;
}
