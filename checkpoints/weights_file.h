/* weights_file.h — megac's interim single-file weight format (used by
 * `megac train --save` and `megac generate --load` until HDF5 checkpoints land).
 *
 * Layout (little-endian):
 *   "MEGACWT1" | u64 config_len | config text (key=value lines)
 *   | u32 ntensors | per tensor: u16 name_len, name, u32 ndim, i64 dims[ndim], f32 data
 *   | u32 CRC-32 of everything before it
 * Written to PATH.tmp, fsynced and renamed, so PATH is either the old file or the
 * complete new one. Every length is checked against the file size on load. */
#ifndef MEGAC_WEIGHTS_FILE_H
#define MEGAC_WEIGHTS_FILE_H

#include "../framework/backend.h"
#include "../framework/error.h"
#include "../framework/tensor.h"

/* Saves the (global, unsplit) tensors; data is read through the backend. */
int wfile_save(const char *path, const char *config_text, backend_t *be, const tensor_t *tensors,
               int ntensors, err_t *err);
/* Reads and verifies the file; returns the config text (caller frees). */
int wfile_read_config(const char *path, char **config_text, err_t *err);
/* Loads every tensor by name (shapes must match) into backend memory. */
int wfile_load(const char *path, backend_t *be, tensor_t *tensors, int ntensors, err_t *err);

uint32_t crc32_update(uint32_t crc, const void *data, size_t n);

#endif
