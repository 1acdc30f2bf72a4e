/* comm_nccl.h — the NCCL communicator (device memory; CUDA builds only). */
#ifndef MEGAC_COMM_NCCL_H
#define MEGAC_COMM_NCCL_H

#include "comm.h"

/* 1 when this build has NCCL and every rank on this node can own a GPU. */
int comm_nccl_usable(int node_ranks);
/* A communicator over the ranks of *mpi_comm (an MPI_Comm); the NCCL unique id
 * is broadcast over MPI, which also carries host scalars and barriers. */
comm_t *comm_nccl_create(const char *name, const void *mpi_comm, backend_t *be, err_t *err);

#endif
