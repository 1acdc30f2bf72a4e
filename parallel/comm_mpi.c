/* comm_mpi.c — collectives over MPI (see comm.h).
 *
 * CPU-backend buffers go to MPI directly (in place). Buffers of another backend
 * are copied to a host staging buffer, reduced there, and copied back (on wait,
 * for asynchronous calls): this is how several ranks share one GPU, where NCCL
 * cannot run. Errors come back as messages naming the group and the call. */
#include "comm_mpi.h"

#include <math.h>
#include <mpi.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_REQUESTS 256

struct comm_request {
    MPI_Request r;
    int in_use;
    float *host;          /* staging (device buffers only) */
    size_t host_cap;      /* floats */
    const float *result;  /* staged result to copy back on wait */
    float *dev;           /* where to copy it */
    size_t dev_count;
    const char *what;     /* "MPI_Wait of MPI_Iallreduce": for the watchdog */
};

typedef struct mpi_impl {
    MPI_Comm comm;
    struct comm_request reqs[MAX_REQUESTS];
    float *stage;         /* blocking-call staging */
    size_t stage_cap;
} mpi_impl_t;

static mpi_impl_t *impl(comm_t *c) { return c->impl; }
static int staged(comm_t *c) { return c->be->device != DEVICE_CPU; }

static int mpi_fail(comm_t *c, int rc, const char *call, err_t *err) {
    char s[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, s, &len);
    return err_set(err, "rank %d of %s group: %s failed: %s", c->rank, c->name, call, s);
}

static float *stage_buf(comm_t *c, size_t n, err_t *err) {
    mpi_impl_t *m = impl(c);
    if (n > m->stage_cap) {
        float *p = realloc(m->stage, n * sizeof(float));
        if (!p) {
            err_set(err, "%s group: out of host memory staging %zu floats", c->name, n);
            return NULL;
        }
        m->stage = p, m->stage_cap = n;
    }
    return m->stage;
}

static comm_request_t *new_request(comm_t *c, size_t host_floats, err_t *err) {
    mpi_impl_t *m = impl(c);
    for (int i = 0; i < MAX_REQUESTS; i++) {
        comm_request_t *q = &m->reqs[i];
        if (q->in_use) continue;
        if (host_floats > q->host_cap) {
            float *p = realloc(q->host, host_floats * sizeof(float));
            if (!p) {
                err_set(err, "%s group: out of host memory staging %zu floats", c->name, host_floats);
                return NULL;
            }
            q->host = p, q->host_cap = host_floats;
        }
        q->in_use = 1;
        q->dev = NULL;
        q->dev_count = 0;
        return q;
    }
    err_set(err, "%s group: more than %d collectives in flight", c->name, MAX_REQUESTS);
    return NULL;
}

static MPI_Op mpi_op(comm_op_t op) { return op == COMM_MAX ? MPI_MAX : MPI_SUM; }

static int m_allreduce(comm_t *c, float *buf, size_t n, comm_op_t op, comm_request_t **req, err_t *err) {
    if (n > (size_t)INT32_MAX) return err_set(err, "%s group: all-reduce of %zu elements is too large", c->name, n);
    mpi_impl_t *m = impl(c);
    int rc;
    if (!req) {
        float *b = buf;
        if (staged(c)) {
            if (!(b = stage_buf(c, n, err))) return -1;
            c->be->copy_to_host(c->be, b, buf, n * sizeof(float));
        }
        comm_watch_enter(c, "MPI_Allreduce");
        rc = MPI_Allreduce(MPI_IN_PLACE, b, (int)n, MPI_FLOAT, mpi_op(op), m->comm);
        comm_watch_leave();
        if (rc != MPI_SUCCESS) return mpi_fail(c, rc, "MPI_Allreduce", err);
        if (staged(c)) c->be->copy_to_device(c->be, buf, b, n * sizeof(float));
        return 0;
    }
    comm_request_t *q = new_request(c, staged(c) ? n : 0, err);
    if (!q) return -1;
    float *b = buf;
    if (staged(c)) {
        b = q->host;
        c->be->copy_to_host(c->be, b, buf, n * sizeof(float));
        q->result = b, q->dev = buf, q->dev_count = n;
    }
    q->what = "MPI_Wait of MPI_Iallreduce";
    rc = MPI_Iallreduce(MPI_IN_PLACE, b, (int)n, MPI_FLOAT, mpi_op(op), m->comm, &q->r);
    if (rc != MPI_SUCCESS) {
        q->in_use = 0;
        return mpi_fail(c, rc, "MPI_Iallreduce", err);
    }
    *req = q;
    return 0;
}

static int m_allgather(comm_t *c, float *buf, size_t n, comm_request_t **req, err_t *err) {
    if (n > (size_t)INT32_MAX) return err_set(err, "%s group: all-gather of %zu elements is too large", c->name, n);
    mpi_impl_t *m = impl(c);
    size_t total = n * (size_t)c->size;
    int rc;
    float *b = buf;
    comm_request_t *q = NULL;
    if (req && !(q = new_request(c, staged(c) ? total : 0, err))) return -1;
    if (staged(c)) {
        b = q ? q->host : stage_buf(c, total, err);
        if (!b) return -1;
        c->be->copy_to_host(c->be, b, buf, total * sizeof(float));
    }
    if (!q) {
        comm_watch_enter(c, "MPI_Allgather");
        rc = MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, b, (int)n, MPI_FLOAT, m->comm);
        comm_watch_leave();
        if (rc != MPI_SUCCESS) return mpi_fail(c, rc, "MPI_Allgather", err);
        if (staged(c)) c->be->copy_to_device(c->be, buf, b, total * sizeof(float));
        return 0;
    }
    if (staged(c)) q->result = b, q->dev = buf, q->dev_count = total;
    q->what = "MPI_Wait of MPI_Iallgather";
    rc = MPI_Iallgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, b, (int)n, MPI_FLOAT, m->comm, &q->r);
    if (rc != MPI_SUCCESS) {
        q->in_use = 0;
        return mpi_fail(c, rc, "MPI_Iallgather", err);
    }
    *req = q;
    return 0;
}

static int m_reduce_scatter(comm_t *c, const float *buf, float *out, size_t n, comm_request_t **req, err_t *err) {
    if (n > (size_t)INT32_MAX) return err_set(err, "%s group: reduce-scatter of %zu elements is too large", c->name, n);
    mpi_impl_t *m = impl(c);
    size_t total = n * (size_t)c->size;
    int rc;
    const float *src = buf;
    float *dst = out;
    comm_request_t *q = NULL;
    if (req && !(q = new_request(c, staged(c) ? total + n : 0, err))) return -1;
    if (staged(c)) {
        float *h = q ? q->host : stage_buf(c, total + n, err);
        if (!h) return -1;
        c->be->copy_to_host(c->be, h, buf, total * sizeof(float));
        src = h, dst = h + total;
    }
    if (!q) {
        comm_watch_enter(c, "MPI_Reduce_scatter_block");
        rc = MPI_Reduce_scatter_block(src, dst, (int)n, MPI_FLOAT, MPI_SUM, m->comm);
        comm_watch_leave();
        if (rc != MPI_SUCCESS) return mpi_fail(c, rc, "MPI_Reduce_scatter_block", err);
        if (staged(c)) c->be->copy_to_device(c->be, out, dst, n * sizeof(float));
        return 0;
    }
    if (staged(c)) q->result = dst, q->dev = out, q->dev_count = n;
    q->what = "MPI_Wait of MPI_Ireduce_scatter_block";
    rc = MPI_Ireduce_scatter_block(src, dst, (int)n, MPI_FLOAT, MPI_SUM, m->comm, &q->r);
    if (rc != MPI_SUCCESS) {
        q->in_use = 0;
        return mpi_fail(c, rc, "MPI_Ireduce_scatter_block", err);
    }
    *req = q;
    return 0;
}

static int m_wait(comm_t *c, comm_request_t *q, err_t *err) {
    comm_watch_enter(c, q->what);
    int rc = MPI_Wait(&q->r, MPI_STATUS_IGNORE);
    comm_watch_leave();
    q->in_use = 0;
    if (rc != MPI_SUCCESS) return mpi_fail(c, rc, "MPI_Wait", err);
    if (q->dev) c->be->copy_to_device(c->be, q->dev, q->result, q->dev_count * sizeof(float));
    return 0;
}

static void m_poll(comm_t *c) {
    mpi_impl_t *m = impl(c);
    int flag;
    MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, m->comm, &flag, MPI_STATUS_IGNORE);
}

static int m_broadcast(comm_t *c, void *buf, size_t bytes, int root, err_t *err) {
    if (bytes > (size_t)INT32_MAX) return err_set(err, "%s group: broadcast of %zu bytes is too large", c->name, bytes);
    void *b = buf;
    if (staged(c)) {
        if (!(b = stage_buf(c, (bytes + 3) / 4, err))) return -1;
        c->be->copy_to_host(c->be, b, buf, bytes);
    }
    comm_watch_enter(c, "MPI_Bcast");
    int rc = MPI_Bcast(b, (int)bytes, MPI_BYTE, root, impl(c)->comm);
    comm_watch_leave();
    if (rc != MPI_SUCCESS) return mpi_fail(c, rc, "MPI_Bcast", err);
    if (staged(c)) c->be->copy_to_device(c->be, buf, b, bytes);
    return 0;
}

static int m_barrier(comm_t *c, err_t *err) {
    comm_watch_enter(c, "MPI_Barrier");
    int rc = MPI_Barrier(impl(c)->comm);
    comm_watch_leave();
    return rc == MPI_SUCCESS ? 0 : mpi_fail(c, rc, "MPI_Barrier", err);
}

static int m_allreduce_f64(comm_t *c, double *v, size_t n, comm_op_t op, err_t *err) {
    comm_watch_enter(c, "MPI_Allreduce (double)");
    int rc = MPI_Allreduce(MPI_IN_PLACE, v, (int)n, MPI_DOUBLE, mpi_op(op), impl(c)->comm);
    comm_watch_leave();
    return rc == MPI_SUCCESS ? 0 : mpi_fail(c, rc, "MPI_Allreduce", err);
}

static void m_destroy(comm_t *c) {
    mpi_impl_t *m = impl(c);
    if (m) {
        for (int i = 0; i < MAX_REQUESTS; i++) free(m->reqs[i].host);
        free(m->stage);
        MPI_Comm_free(&m->comm);
        free(m);
    }
    free(c);
}

static const comm_ops_t mpi_ops = {m_allreduce, m_allgather, m_reduce_scatter, m_broadcast, m_barrier,
                                   m_allreduce_f64, m_wait, m_poll, m_destroy};

comm_t *comm_mpi_create(const char *name, const void *mpi_comm, backend_t *be, err_t *err) {
    comm_t *c = calloc(1, sizeof *c);
    mpi_impl_t *m = calloc(1, sizeof *m);
    if (!c || !m) {
        free(c), free(m);
        err_set(err, "out of memory creating the %s communicator", name);
        return NULL;
    }
    int rc = MPI_Comm_dup(*(const MPI_Comm *)mpi_comm, &m->comm);
    if (rc != MPI_SUCCESS) {
        free(c), free(m);
        err_set(err, "MPI_Comm_dup for the %s group failed", name);
        return NULL;
    }
    MPI_Comm_set_errhandler(m->comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(m->comm, &c->rank);
    MPI_Comm_size(m->comm, &c->size);
    snprintf(c->name, sizeof c->name, "%s", name);
    c->be = be;
    c->ops = &mpi_ops;
    c->impl = m;
    return c;
}

/* ---- the collective watchdog (see comm.h) -------------------------------------- */

static pthread_mutex_t wd_lock = PTHREAD_MUTEX_INITIALIZER;
static double wd_timeout = -1.0; /* seconds; < 0: not configured yet */
static _Atomic int wd_started;
static _Atomic int64_t wd_since_ns;            /* 0: not inside a collective */
static _Atomic(const char *) wd_call, wd_group; /* what is being waited in */
static _Atomic int wd_group_rank, wd_group_size;

static int64_t wd_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void comm_watchdog_configure(double seconds) {
    pthread_mutex_lock(&wd_lock);
    wd_timeout = seconds > 0.0 ? seconds : 0.0;
    pthread_mutex_unlock(&wd_lock);
}

/* the configured timeout, else the environment's, else the default (caller holds wd_lock) */
static double wd_timeout_locked(void) {
    if (wd_timeout < 0.0) {
        double minutes = COMM_DEFAULT_TIMEOUT_MINUTES;
        const char *env = getenv("MEGAC_DISTRIBUTED_TIMEOUT_MINUTES");
        if (env && *env) {
            char *end;
            double v = strtod(env, &end);
            if (end != env && !*end && isfinite(v)) minutes = v;
        }
        wd_timeout = minutes > 0.0 ? minutes * 60.0 : 0.0;
    }
    return wd_timeout;
}

double comm_watchdog_timeout(void) {
    pthread_mutex_lock(&wd_lock);
    double t = wd_timeout_locked();
    pthread_mutex_unlock(&wd_lock);
    return t;
}

#define WD_CHECKS 16
static struct {
    comm_watch_check_fn fn;
    void *ctx;
} wd_checks[WD_CHECKS]; /* under wd_lock */

static _Noreturn void wd_abort(const char *what, double timeout) {
    int world = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &world);
    fprintf(stderr, "megac: rank %d %s, over --distributed-timeout-minutes %g: another rank is stalled or gone; "
            "aborting the job\n", world, what, timeout / 60.0);
    fflush(stderr);
    /* the working thread is stuck inside MPI or CUDA: the abort is the one MPI call made from here */
    MPI_Abort(MPI_COMM_WORLD, 1);
    _exit(1);
}

static void *wd_main(void *arg) {
    double timeout = *(double *)arg;
    free(arg);
    int64_t limit = (int64_t)(timeout * 1e9);
    /* checks 4 times per timeout, at most once a second */
    double step = timeout / 4.0 < 1.0 ? timeout / 4.0 : 1.0;
    struct timespec nap = {(time_t)step, (long)((step - (double)(time_t)step) * 1e9)};
    char what[256];
    for (;;) {
        nanosleep(&nap, NULL);
        pthread_mutex_lock(&wd_lock);
        for (int i = 0; i < WD_CHECKS; i++)
            if (wd_checks[i].fn && wd_checks[i].fn(wd_checks[i].ctx, timeout, what, sizeof what)) wd_abort(what, timeout);
        pthread_mutex_unlock(&wd_lock);
        int64_t since = atomic_load(&wd_since_ns);
        if (!since || wd_now_ns() - since <= limit) continue;
        const char *call = atomic_load(&wd_call), *group = atomic_load(&wd_group);
        if (atomic_load(&wd_since_ns) != since) continue; /* it finished meanwhile */
        snprintf(what, sizeof what, "(%s group rank %d of %d) waited %.0f s in %s", group, atomic_load(&wd_group_rank),
                 atomic_load(&wd_group_size), (double)(wd_now_ns() - since) / 1e9, call);
        wd_abort(what, timeout);
    }
    return NULL;
}

/* starts the thread once (caller holds wd_lock) */
static void wd_start_locked(void) {
    if (wd_started) return;
    wd_started = 1; /* also when off: decided once */
    double t = wd_timeout_locked();
    if (t <= 0.0) return;
    double *arg = malloc(sizeof *arg);
    if (!arg) return;
    *arg = t;
    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&th, &attr, wd_main, arg) != 0) free(arg);
    pthread_attr_destroy(&attr);
}

void comm_watch_register(comm_watch_check_fn fn, void *ctx) {
    pthread_mutex_lock(&wd_lock);
    for (int i = 0; i < WD_CHECKS; i++)
        if (!wd_checks[i].fn) {
            wd_checks[i].fn = fn, wd_checks[i].ctx = ctx;
            break;
        }
    wd_start_locked();
    pthread_mutex_unlock(&wd_lock);
}

void comm_watch_unregister(void *ctx) {
    pthread_mutex_lock(&wd_lock);
    for (int i = 0; i < WD_CHECKS; i++)
        if (wd_checks[i].ctx == ctx) wd_checks[i].fn = NULL, wd_checks[i].ctx = NULL;
    pthread_mutex_unlock(&wd_lock);
}

void comm_watch_enter(const comm_t *c, const char *call) {
    if (c->size < 2) return;
    if (!wd_started) {
        pthread_mutex_lock(&wd_lock);
        wd_start_locked();
        pthread_mutex_unlock(&wd_lock);
    }
    atomic_store(&wd_call, call);
    atomic_store(&wd_group, c->name);
    atomic_store(&wd_group_rank, c->rank);
    atomic_store(&wd_group_size, c->size);
    atomic_store(&wd_since_ns, wd_now_ns());
}

void comm_watch_leave(void) { atomic_store(&wd_since_ns, 0); }
