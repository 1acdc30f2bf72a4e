/* grid.h — the process grid: world -> tensor-parallel groups x data-parallel groups.
 *
 * Rank order as Megatron-LM: TP fastest-varying (TP groups are contiguous ranks,
 * which share a node), then pipeline stages (size 1 for now), then DP. So with
 * world 8 and TP 2: TP groups {0,1} {2,3} {4,5} {6,7}; DP groups {0,2,4,6} {1,3,5,7}. */
#ifndef MEGAC_GRID_H
#define MEGAC_GRID_H

#include "comm.h"

typedef struct grid {
    int world_rank, world_size;
    int tp_rank, tp_size;
    int pp_rank, pp_size; /* 1: no pipeline parallelism yet */
    int dp_rank, dp_size;
    comm_t *world, *tp, *dp;
} grid_t;

/* MPI start-up (threads funnelled) and shut-down; safe without mpirun. */
int parallel_init(int *argc, char ***argv, err_t *err);
void parallel_finalize(void);
/* Ends every rank of the job at once (after a rank-local failure). */
void parallel_abort(int code);
int parallel_world_rank(void);
/* Start-up agreement: every rank passes whether it failed; returns the lowest
 * failing world rank, or -1 when all succeeded. */
int parallel_first_failure(int failed);
int parallel_world_size(void);
/* number of ranks on this node (sharing its memory) */
int parallel_node_size(void);

/* Builds the groups over MPI_COMM_WORLD; the world size must be a multiple of tp_size. */
int grid_create(grid_t *g, int tp_size, backend_t *be, err_t *err);
/* A grid of this rank alone (TP = DP = 1), e.g. for a reference model in tests. */
int grid_create_self(grid_t *g, backend_t *be, err_t *err);
void grid_destroy(grid_t *g);

#endif
