/* rng.h — counter-based random numbers (Philox4x32-10).
 *
 * Every random number in megac is a pure function of (seed, stream, step, index):
 * no generator state advances, so results do not depend on the number of threads,
 * on call order, or on the device (CUDA's kernels use the same function).
 *
 *   stream: what the numbers are for (rng_stream below: weight init of tensor k,
 *           dropout site of layer l, ...), offset by the TP rank where Megatron
 *           uses a per-TP-rank stream.
 *   step:   the micro-step (iteration * micro-batches + micro-batch) for dropout;
 *           0 for initialisation.
 *   index:  the element's position (a global position for weight init). */
#ifndef MEGAC_RNG_H
#define MEGAC_RNG_H

#include <stdint.h>

typedef struct rng_key {
    uint64_t seed;
    uint32_t stream;
    uint32_t step;
} rng_key_t;

/* Purposes, combined into a stream id by rng_stream(). */
enum {
    RNG_PURPOSE_INIT = 1,      /* weight init: sub = parameter tensor id       */
    RNG_PURPOSE_DROPOUT = 2,   /* dropout: sub = site (layer * 8 + which)       */
    RNG_PURPOSE_DATA = 3,      /* data shuffling: sub = epoch                   */
    RNG_PURPOSE_SAMPLE = 4,    /* text generation                               */
};

static inline uint32_t rng_stream(uint32_t purpose, uint32_t sub, uint32_t tp_rank) {
    return (purpose << 28) ^ (tp_rank << 20) ^ sub;
}

/* Four 32-bit words for counter (index / 4) of key; used by the element helpers. */
void rng_philox(rng_key_t key, uint64_t counter, uint32_t out[4]);

/* One uniform 32-bit word for element `index`. */
uint32_t rng_u32(rng_key_t key, uint64_t index);

/* Uniform in [0,1) with 24 bits. */
static inline float rng_uniform_from_u32(uint32_t x) { return (float)(x >> 8) * (1.0f / 16777216.0f); }

/* Standard normal for element `index` (Box-Muller on two words of one Philox block). */
double rng_normal(rng_key_t key, uint64_t index);

/* Dropout keep decision for element `index` with drop probability p. */
static inline int rng_keep(rng_key_t key, uint64_t index, float p) {
    return rng_uniform_from_u32(rng_u32(key, index)) >= p;
}

#endif
