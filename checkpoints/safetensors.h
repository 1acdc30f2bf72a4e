/* safetensors.h — reading and writing Hugging Face .safetensors files.
 *
 * Format: an 8-byte little-endian header length N, N bytes of JSON (an object:
 * "__metadata__" -> {string: string}, and per tensor {"dtype", "shape",
 * "data_offsets": [begin, end]} relative to the data that follows), then the
 * tensors' bytes, contiguous. The reader checks every offset and length against
 * the file size: each tensor's byte count must match its dtype and shape, and
 * the tensors must tile the data section exactly (no overlap, no gap, nothing
 * past the end). Tensors are read one at a time (pread), never the whole file. */
#ifndef MEGAC_SAFETENSORS_H
#define MEGAC_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../framework/error.h"

#define ST_MAX_DIMS 8
#define ST_NAME_MAX 256
#define ST_HEADER_MAX 100000000u /* the reference implementation's limit */

typedef struct st_tensor {
    char name[ST_NAME_MAX];
    char dtype[8];       /* "F32", "F16", "BF16", ... */
    int dsize;           /* bytes per element */
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    uint64_t begin, end; /* byte range in the data section */
} st_tensor_t;

/* Parses a header (len bytes of JSON, no NUL needed) for a data section of
 * data_len bytes; *out (malloc'ed, sorted by name) holds *n tensors. Messages
 * name the tensor and the problem; the caller prefixes the file. */
int st_parse_header(const char *json, size_t len, uint64_t data_len, st_tensor_t **out, int *n, err_t *err);

typedef struct st_file {
    char path[4096];
    int fd;
    uint64_t file_size, data_start;
    int ntensors;
    st_tensor_t *tensors; /* sorted by name */
    int allow_nonfinite;  /* 0 (st_open's default): st_read_f32 refuses NaN and Inf */
} st_file_t;

int st_open(st_file_t *f, const char *path, err_t *err);
void st_close(st_file_t *f);
const st_tensor_t *st_find(const st_file_t *f, const char *name);
/* Reads tensor t converted to float32 (F32, F16 and BF16 convert exactly). */
int st_read_f32(st_file_t *f, const st_tensor_t *t, float *dst, err_t *err);

/* Writing: the header first (offsets assigned in the given order), then every
 * tensor's bytes in that order; the file appears under its name only complete
 * (written to PATH.tmp, fsynced, renamed). */
typedef struct st_writer {
    char path[4096], tmp[4104];
    FILE *f;
    uint64_t expect, written;
} st_writer_t;

int st_write_begin(st_writer_t *w, const char *path, st_tensor_t *tensors, int n, err_t *err);
int st_write(st_writer_t *w, const void *data, size_t bytes, err_t *err);
int st_write_end(st_writer_t *w, err_t *err);
void st_write_abort(st_writer_t *w);

#endif
