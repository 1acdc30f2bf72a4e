/* tensor.h — tensors (named views with dtype, shape and device) and arenas.
 *
 * A tensor never owns memory: it points into an arena that was sized and
 * allocated once, up front (parameters, gradients, optimizer state and
 * activations each live in one). The training step allocates nothing.
 *
 * Tensors that are parameters also record how they are split across
 * tensor-parallel ranks: the global shape, the split dimension and the offset
 * of this rank's slice, so a checkpoint can be loaded under any layout. */
#ifndef MEGAC_TENSOR_H
#define MEGAC_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef enum dtype {
    DTYPE_F32 = 0,
    DTYPE_BF16 = 1,
    DTYPE_F16 = 2,
    DTYPE_I32 = 3,
} dtype_t;

size_t dtype_size(dtype_t t);
const char *dtype_name(dtype_t t);

typedef enum device_kind {
    DEVICE_CPU = 0,
    DEVICE_CUDA = 1,
} device_kind_t;

#define TENSOR_MAX_DIMS 4
#define TENSOR_NAME_LEN 80

enum {
    TENSOR_NO_WEIGHT_DECAY = 1u << 0, /* biases and LayerNorm: no decoupled decay     */
    TENSOR_TP_REPLICATED = 1u << 1,   /* same on every TP rank (counted once in norms) */
};

typedef struct tensor {
    char name[TENSOR_NAME_LEN];
    dtype_t dtype;
    device_kind_t device;
    int ndim;
    int64_t shape[TENSOR_MAX_DIMS];  /* this rank's (local) shape           */
    int64_t global_shape[TENSOR_MAX_DIMS];
    int split_dim;                   /* -1: not split across TP ranks       */
    int64_t split_offset;            /* offset of this slice along split_dim */
    uint32_t flags;
    void *data;
} tensor_t;

int64_t tensor_numel(const tensor_t *t);
size_t tensor_nbytes(const tensor_t *t);

/* Fills name/shape/dtype (global shape = local shape, no split). */
void tensor_describe(tensor_t *t, const char *name, dtype_t dtype, int ndim, const int64_t *shape);

/* Arena: a bump allocator over one block of backend memory.
 * Measure mode (base == NULL) only counts, so a model can size its arena with
 * the same code that later carves it. */
typedef struct arena {
    char *base;
    size_t capacity;
    size_t used;
} arena_t;

#define ARENA_ALIGN 256

/* Returns a pointer (NULL in measure mode) and advances; -1 if over capacity. */
void *arena_take(arena_t *a, size_t bytes);

/* Host-side conversions used by the precision code. Round to nearest even. */
uint16_t f32_to_bf16(float x);
float bf16_to_f32(uint16_t x);
uint16_t f32_to_f16(float x);
float f16_to_f32(uint16_t x);

#endif
