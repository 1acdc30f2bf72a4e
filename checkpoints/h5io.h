/* h5io.h — the HDF5 layer under megac checkpoints: files, attributes, and float32
 * tensors written as Fletcher32-checksummed chunks, read back by hyperslab.
 *
 * Files use the HDF5 1.10 format (object headers, chunk indexes and the superblock
 * carry their own checksums), so `h5dump` and `h5py` read them. Tensors are
 * chunked so that every chunk is one contiguous run of the row-major data (whole
 * trailing dimensions, about 1 MiB); the writer computes each chunk's Fletcher32
 * itself and hands the filtered bytes to HDF5 (H5Dwrite_chunk), streaming the
 * data through one chunk-sized buffer. Reads go through HDF5's filter pipeline,
 * which verifies the checksum of every chunk it touches.
 *
 * Errors name the file, the object and HDF5's own innermost message; HDF5's
 * automatic error printing is switched off by h5io_init. */
#ifndef MEGAC_H5IO_H
#define MEGAC_H5IO_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

#include "../framework/backend.h"
#include "../framework/error.h"

/* Idempotent: silences HDF5's error printing. Every entry point calls it. */
void h5io_init(void);

/* The innermost message of HDF5's current error stack ("" when there is none).
 * Call it right after the failing HDF5 call, before any other HDF5 call. */
void h5io_error_text(char *buf, size_t len);

/* Fletcher32 exactly as HDF5's filter computes it (16-bit big-endian words). */
uint32_t h5io_fletcher32(const void *data, size_t nbytes);
/* The same while copying data to dst (one pass over the source). */
uint32_t h5io_fletcher32_copy(void *dst, const void *data, size_t nbytes);

/* Elements in one chunk (1 MiB of float32). */
#define H5IO_CHUNK_ELEMS ((int64_t)1 << 18)

/* Staging buffer for one chunk, reused across writes. */
typedef struct h5io_stage {
    unsigned char *buf;
    size_t cap;
} h5io_stage_t;
void h5io_stage_free(h5io_stage_t *s);

/* New file (truncating), or an existing one read-only. <0 on failure. */
hid_t h5io_create(const char *path, err_t *err);
hid_t h5io_open(const char *path, err_t *err);
/* Closes (flushing) a file opened by h5io_create/h5io_open. */
int h5io_close(hid_t file, const char *path, err_t *err);

/* Attributes of obj (a file or dataset); `where` names it in errors. */
int h5io_attr_put_str(hid_t obj, const char *name, const char *value, const char *where, err_t *err);
/* n values as a 1-D attribute; n == -1: one value as a scalar attribute */
int h5io_attr_put_i64(hid_t obj, const char *name, const int64_t *v, int n, const char *where, err_t *err);
int h5io_attr_put_i32(hid_t obj, const char *name, int v, const char *where, err_t *err);
int h5io_attr_put_u32(hid_t obj, const char *name, uint32_t v, const char *where, err_t *err);
/* *out is malloc'ed (NUL-terminated); *len its length. Fixed or variable-length strings. */
int h5io_attr_get_str(hid_t obj, const char *name, char **out, size_t *len, const char *where, err_t *err);
/* exactly n integers (any integer type that converts) */
int h5io_attr_get_i64(hid_t obj, const char *name, int64_t *v, int n, const char *where, err_t *err);
int h5io_attr_exists(hid_t obj, const char *name);

/* The chunk shape h5io_write_tensor uses for a dataset of `shape`. */
void h5io_chunk_shape(int ndim, const int64_t *shape, int64_t *chunk);

/* Creates dataset `path` (intermediate groups too) of float32 `shape` and writes
 * `data` (contiguous row-major, in the memory of `be`) chunk by chunk. Returns the
 * open dataset (for attributes; close with H5Dclose) or <0. */
hid_t h5io_write_tensor(hid_t file, const char *path, int ndim, const int64_t *shape, const float *data,
                        backend_t *be, h5io_stage_t *stage, const char *where, err_t *err);

/* Reads the box [file_off, file_off + count) of a float32 dataset into the box at
 * mem_off of a dense row-major host array of shape mem_shape. */
int h5io_read_box(hid_t dset, int ndim, const int64_t *file_off, const int64_t *count,
                  const int64_t *mem_shape, const int64_t *mem_off, float *dst, const char *where,
                  err_t *err);

/* Reads every chunk of a dataset through the filter pipeline (which verifies each
 * Fletcher32 checksum); checks the dataset is float32 with the Fletcher32 filter.
 * Adds the bytes read to *bytes. */
int h5io_verify_dataset(hid_t dset, h5io_stage_t *stage, int64_t *bytes, const char *where, err_t *err);

/* Number of chunks a dataset has stored, and the file offset and stored size
 * (data + checksum) of the first one. */
int h5io_chunk_info(hid_t dset, int64_t *nchunks, uint64_t *addr0, uint64_t *size0);

/* Checks a dataset is float32 (little-endian, 4 bytes), chunked, with the
 * Fletcher32 filter; fills its shape. */
int h5io_check_dataset(hid_t dset, int *ndim, int64_t *shape, const char *where, err_t *err);

#endif
