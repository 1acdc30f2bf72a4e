/* comm_mpi.h — the MPI communicator (host memory; device buffers staged). */
#ifndef MEGAC_COMM_MPI_H
#define MEGAC_COMM_MPI_H

#include "comm.h"

/* Wraps a duplicate of *mpi_comm (an MPI_Comm). `name` labels errors and counters. */
comm_t *comm_mpi_create(const char *name, const void *mpi_comm, backend_t *be, err_t *err);

#endif
