/* params.h — declaring a model's parameters once: names, global shapes, how
 * tensor parallelism splits them, weight-decay and replication flags, and how
 * they are initialised. From the list a model gets its tensor descriptors (local
 * shapes and slice offsets for its TP rank) and its initial weights. */
#ifndef MEGAC_PARAMS_H
#define MEGAC_PARAMS_H

#include "../framework/backend.h"
#include "../framework/tensor.h"
#include "transformer.h"

/* parameters per transformer layer (param_add_tf_layer) */
#define TF_LAYER_PARAMS 12

typedef enum param_init {
    INIT_NORMAL = 0,  /* N(0, std) */
    INIT_NORMAL_OUT,  /* N(0, std / sqrt(2 L)): output projections of residual branches */
    INIT_ONES,
    INIT_ZEROS,
} param_init_t;

typedef struct param_spec {
    char name[TENSOR_NAME_LEN];
    int ndim;
    int64_t shape[2];     /* global */
    int split;            /* -1, or the dimension TP splits */
    uint32_t flags;       /* TENSOR_NO_WEIGHT_DECAY, TENSOR_TP_REPLICATED */
    param_init_t init;
    int64_t valid_rows;   /* rows at and beyond are zero (vocabulary padding); 0: all valid */
} param_spec_t;

typedef struct param_list {
    param_spec_t *specs;
    int n, cap;
} param_list_t;

/* Appends one parameter; returns its index, -1 when out of memory. */
int param_add(param_list_t *pl, const char *name, int ndim, int64_t d0, int64_t d1, int split, uint32_t flags,
              param_init_t init);
/* A LayerNorm's weight and bias, replicated, no decay. */
int param_add_layernorm(param_list_t *pl, const char *prefix, int64_t C);
/* The 12 parameters of transformer layer l (tf_layer_t order), Megatron's names. */
int param_add_tf_layer(param_list_t *pl, int l, int64_t C, int64_t F);
void param_list_free(param_list_t *pl);

/* Local descriptors for TP rank r of tp (data pointers left NULL). */
void params_describe(const param_list_t *pl, tensor_t *out, int tp_rank, int tp_size, device_kind_t dev);

/* A model's parameter store: its declarations and one flat block each for the
 * parameters and the gradients (same layout), with a descriptor per tensor
 * pointing into them. GPT and BERT both keep theirs here; the optimizer, the
 * checkpoints and the training job read a model's parameters through it. */
typedef struct param_store {
    param_list_t list;          /* the declarations (filled by the model, then param_store_alloc) */
    int n;                      /* number of parameter tensors (list.n) */
    tensor_t *params, *grads;   /* descriptors; data points into the blocks */
    float *param_block, *grad_block;
    size_t numel;               /* elements in this rank's flat block */
    size_t alloc;               /* numel rounded up to the padding multiple */
} param_store_t;

/* Allocates the blocks for the declared list (zeroed; length padded to a
 * multiple of pad) and this TP rank's descriptors pointing into them. */
int param_store_alloc(param_store_t *s, backend_t *be, int tp_rank, int tp_size, size_t pad, err_t *err);
/* Frees what param_store_alloc made and the declarations (be may be NULL when nothing was allocated). */
void param_store_free(param_store_t *s, backend_t *be);
void param_store_zero_grads(const param_store_t *s, backend_t *be);
/* Initial weights (params_init) with the output projections' std scaled by 1/sqrt(2 L). */
void param_store_init(param_store_t *s, backend_t *be, uint64_t seed, float std, int num_layers);

/* Points w at the 12 tensors of a layer starting at ts. */
void params_bind_tf_layer(tf_layer_t *w, tensor_t *ts);
/* Initial weights by global element position (identical for any TP size). */
void params_init(backend_t *be, tensor_t *ts, const param_list_t *pl, uint64_t seed, float std, float out_std);

#endif
