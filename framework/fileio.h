/* fileio.h — opening input files safely.
 *
 * open() of a FIFO blocks until a writer appears, so a FIFO given where megac
 * expects a data, tokenizer or weight file would hang the job forever. These
 * helpers open with O_NONBLOCK (which returns at once for a FIFO), refuse
 * anything that is not a regular file with one line naming it, and only then
 * clear O_NONBLOCK. */
#ifndef MEGAC_FILEIO_H
#define MEGAC_FILEIO_H

#include <stdio.h>

#include "error.h"

/* Opens `path` read-only into *fd (close it with close()). `what` names the flag
 * or role in messages ("--vocab-file"; NULL for none). A FIFO, socket, device or
 * directory is refused ("... is a FIFO, not a regular file"). */
int file_open_regular(const char *path, const char *what, int *fd, err_t *err);

/* The same as a stdio stream opened "rb" (close it with fclose()). */
int file_fopen_regular(const char *path, const char *what, FILE **f, err_t *err);

/* Refuses a path that exists and is not a regular file, without opening it (for a
 * library that opens the file itself, such as HDF5). A missing path passes: the
 * opener's own message reports it. */
int file_check_regular(const char *path, const char *what, err_t *err);

#endif
