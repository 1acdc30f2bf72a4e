/* grid.c — MPI start-up and the TP x DP process grid (see grid.h). */
#include "grid.h"

#include <mpi.h>
#include <string.h>

#include "comm_mpi.h"
#ifdef MEGAC_HAVE_NCCL
#include "comm_nccl.h"
#endif
#include <stdlib.h>

int parallel_init(int *argc, char ***argv, err_t *err) {
    int have = 0;
    MPI_Initialized(&have);
    if (have) return 0;
    int provided;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return err_set(err, "MPI_Init_thread failed");
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    return 0;
}

void parallel_finalize(void) {
    int have = 0, done = 0;
    MPI_Initialized(&have);
    MPI_Finalized(&done);
    if (have && !done) MPI_Finalize();
}

void parallel_abort(int code) { MPI_Abort(MPI_COMM_WORLD, code); }

int parallel_world_rank(void) {
    int r = 0, have = 0;
    MPI_Initialized(&have);
    if (have) MPI_Comm_rank(MPI_COMM_WORLD, &r);
    return r;
}

int parallel_first_failure(int failed) {
    int size = parallel_world_size(), mine = failed ? parallel_world_rank() : size, first = mine;
    if (size > 1) MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    return first < size ? first : -1;
}

int parallel_world_size(void) {
    int s = 1, have = 0;
    MPI_Initialized(&have);
    if (have) MPI_Comm_size(MPI_COMM_WORLD, &s);
    return s;
}

int parallel_node_size(void) {
    int have = 0, n = 1;
    MPI_Initialized(&have);
    if (!have) return 1;
    MPI_Comm node;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) != MPI_SUCCESS) return 1;
    MPI_Comm_size(node, &n);
    MPI_Comm_free(&node);
    return n;
}

/* NCCL when the ranks' buffers are on GPUs and each rank of this node owns one
 * (MEGAC_COMM=mpi forces MPI); otherwise MPI, staging device buffers on the host. */
static int want_nccl(backend_t *be) {
    const char *force = getenv("MEGAC_COMM");
    if (be->device != DEVICE_CUDA || (force && strcmp(force, "mpi") == 0)) return 0;
#ifdef MEGAC_HAVE_NCCL
    return comm_nccl_usable(parallel_node_size());
#else
    return 0;
#endif
}

static comm_t *make_comm(const char *name, MPI_Comm *mc, backend_t *be, int nccl, err_t *err) {
#ifdef MEGAC_HAVE_NCCL
    if (nccl) return comm_nccl_create(name, mc, be, err);
#else
    (void)nccl;
#endif
    return comm_mpi_create(name, mc, be, err);
}

int grid_create(grid_t *g, int tp_size, backend_t *be, err_t *err) {
    memset(g, 0, sizeof *g);
    MPI_Comm_rank(MPI_COMM_WORLD, &g->world_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g->world_size);
    if (tp_size <= 0) return err_set(err, "--tensor-model-parallel-size must be positive (got %d)", tp_size);
    if (g->world_size % tp_size != 0)
        return err_set(err, "the world size %d is not divisible by --tensor-model-parallel-size %d",
                       g->world_size, tp_size);
    g->tp_size = tp_size;
    g->pp_size = 1;
    g->dp_size = g->world_size / tp_size;
    g->tp_rank = g->world_rank % tp_size;
    g->pp_rank = 0;
    g->dp_rank = g->world_rank / tp_size;
    MPI_Comm tp, dp, world = MPI_COMM_WORLD;
    if (MPI_Comm_split(MPI_COMM_WORLD, g->dp_rank, g->tp_rank, &tp) != MPI_SUCCESS ||
        MPI_Comm_split(MPI_COMM_WORLD, g->tp_rank, g->dp_rank, &dp) != MPI_SUCCESS)
        return err_set(err, "rank %d: MPI_Comm_split failed building the process grid", g->world_rank);
    int nccl = want_nccl(be);
    g->world = make_comm("world", &world, be, nccl, err);
    g->tp = g->world ? make_comm("tp", &tp, be, nccl, err) : NULL;
    g->dp = g->tp ? make_comm("dp", &dp, be, nccl, err) : NULL;
    MPI_Comm_free(&tp);
    MPI_Comm_free(&dp);
    if (!g->dp) {
        grid_destroy(g);
        return -1;
    }
    return 0;
}

int grid_create_self(grid_t *g, backend_t *be, err_t *err) {
    memset(g, 0, sizeof *g);
    g->world_size = g->tp_size = g->pp_size = g->dp_size = 1;
    MPI_Comm self = MPI_COMM_SELF;
    g->world = comm_mpi_create("world", &self, be, err);
    g->tp = g->world ? comm_mpi_create("tp", &self, be, err) : NULL;
    g->dp = g->tp ? comm_mpi_create("dp", &self, be, err) : NULL;
    if (!g->dp) {
        grid_destroy(g);
        return -1;
    }
    return 0;
}

void grid_destroy(grid_t *g) {
    comm_destroy(g->world);
    comm_destroy(g->tp);
    comm_destroy(g->dp);
    g->world = g->tp = g->dp = NULL;
}
