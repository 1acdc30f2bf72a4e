/* comm_mpi.c — collectives over MPI (see comm.h).
 *
 * CPU-backend buffers go to MPI directly (in place). Buffers of another backend
 * are copied to a host staging buffer, reduced there, and copied back (on wait,
 * for asynchronous calls): this is how several ranks share one GPU, where NCCL
 * cannot run. Errors come back as messages naming the group and the call. */
#include "comm_mpi.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REQUESTS 256

struct comm_request {
    MPI_Request r;
    int in_use;
    float *host;          /* staging (device buffers only) */
    size_t host_cap;      /* floats */
    const float *result;  /* staged result to copy back on wait */
    float *dev;           /* where to copy it */
    size_t dev_count;
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
        rc = MPI_Allreduce(MPI_IN_PLACE, b, (int)n, MPI_FLOAT, mpi_op(op), m->comm);
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
        rc = MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, b, (int)n, MPI_FLOAT, m->comm);
        if (rc != MPI_SUCCESS) return mpi_fail(c, rc, "MPI_Allgather", err);
        if (staged(c)) c->be->copy_to_device(c->be, buf, b, total * sizeof(float));
        return 0;
    }
    if (staged(c)) q->result = b, q->dev = buf, q->dev_count = total;
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
        rc = MPI_Reduce_scatter_block(src, dst, (int)n, MPI_FLOAT, MPI_SUM, m->comm);
        if (rc != MPI_SUCCESS) return mpi_fail(c, rc, "MPI_Reduce_scatter_block", err);
        if (staged(c)) c->be->copy_to_device(c->be, out, dst, n * sizeof(float));
        return 0;
    }
    if (staged(c)) q->result = dst, q->dev = out, q->dev_count = n;
    rc = MPI_Ireduce_scatter_block(src, dst, (int)n, MPI_FLOAT, MPI_SUM, m->comm, &q->r);
    if (rc != MPI_SUCCESS) {
        q->in_use = 0;
        return mpi_fail(c, rc, "MPI_Ireduce_scatter_block", err);
    }
    *req = q;
    return 0;
}

static int m_wait(comm_t *c, comm_request_t *q, err_t *err) {
    int rc = MPI_Wait(&q->r, MPI_STATUS_IGNORE);
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
    int rc = MPI_Bcast(b, (int)bytes, MPI_BYTE, root, impl(c)->comm);
    if (rc != MPI_SUCCESS) return mpi_fail(c, rc, "MPI_Bcast", err);
    if (staged(c)) c->be->copy_to_device(c->be, buf, b, bytes);
    return 0;
}

static int m_barrier(comm_t *c, err_t *err) {
    int rc = MPI_Barrier(impl(c)->comm);
    return rc == MPI_SUCCESS ? 0 : mpi_fail(c, rc, "MPI_Barrier", err);
}

static int m_allreduce_f64(comm_t *c, double *v, size_t n, comm_op_t op, err_t *err) {
    int rc = MPI_Allreduce(MPI_IN_PLACE, v, (int)n, MPI_DOUBLE, mpi_op(op), impl(c)->comm);
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
