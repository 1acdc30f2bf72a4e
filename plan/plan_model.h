/* plan_model.h — the planner's arithmetic, shared by `megac plan` and the dry run
 * of `megac train gpt`: for a GPT or BERT model under a (TP, DP) layout on a
 * described machine, the per-tensor local shapes and parameter counts of each
 * rank, the memory per rank, the FLOPs, the communication and a predicted time
 * per iteration.
 *
 * The performance model (plan_evaluate) is deliberately small; every constant in
 * it is named where it is defined, with its source:
 *
 *   time per iteration = micro-batches x (compute + replicated + TP all-reduces)
 *                        + exposed DP gradient reduction + optimizer step
 *
 *   compute     model FLOPs / TP at a fraction `efficiency` of the GPU's peak:
 *               the GEMMs and everything else tensor parallelism divides
 *               (attention softmax, GeLU, the vocabulary slice of the loss).
 *               The fraction is calibrated ONCE (plan_calibrate) from the
 *               Megatron-LM paper's single-V100 baseline (Shoeybi et al. 2019,
 *               §5.1: the 1.2B GPT, batch 8, 39 TFLOP/s on a DGX-2H).
 *   replicated  the element-wise work every TP rank repeats on the full
 *               [b, s, h] activations (LayerNorms, bias + dropout + residual):
 *               memory passes counted from the implementation, at HBM bandwidth.
 *   TP          ring all-reduces of b*s*h 16-bit (or fp32) elements inside the
 *               TP group: 2 forward and 2 backward per layer, 2 more per layer
 *               when the forward is recomputed, plus the embedding's and the LM
 *               head's; each costs 2(n-1)/n * bytes / bandwidth + 2(n-1) steps of
 *               latency (nccl-tests' bus-bandwidth definition, doc/PERFORMANCE.md).
 *   DP          the gradient all-reduce over the DP group: the same ring cost
 *               through the slower of the GPU's NVLink and its share of the node's
 *               network links (every DP group with a member in the node crosses
 *               them); latency the smaller of a ring's and NCCL's tree's; megac
 *               overlaps its buckets with the last micro-batch's backward,
 *               Megatron-LM 2019 reduced after backward (see plan_software_t).
 *   optimizer   memory-bound: bytes per parameter at HBM bandwidth.
 *
 * Activation memory uses Korthikanti et al. 2022 ("Reducing Activation
 * Recomputation in Large Transformer Models"), eq. 2 with tensor parallelism
 * and no sequence parallelism: s*b*h*(10 + 24/t + 5*a*s/(h*t)) bytes per layer
 * for 16-bit activations. */
#ifndef MEGAC_PLAN_MODEL_H
#define MEGAC_PLAN_MODEL_H

#include <stdint.h>
#include <stdio.h>

#include "../framework/error.h"
#include "../models/bert.h"
#include "../models/gpt.h"
#include "../models/params.h"

typedef enum plan_arch { PLAN_GPT = 0, PLAN_BERT = 1 } plan_arch_t;
typedef enum plan_precision { PLAN_FP32 = 0, PLAN_FP16 = 1, PLAN_BF16 = 2 } plan_precision_t;
typedef enum plan_optimizer { PLAN_ADAM = 0, PLAN_LAMB = 1 } plan_optimizer_t;

/* Whose implementation the time model describes: the element-wise passes, the
 * optimizer's memory traffic and the DP reduction differ between them.
 *   PLAN_SW_MEGAC          megac's kernels (models/transformer.c) and its DDP:
 *                          buckets all-reduced during the last micro-batch's
 *                          backward (parallel/dist_optim.h).
 *   PLAN_SW_MEGATRON_2019  Megatron-LM as in the 2019 paper: unfused bias, dropout
 *                          and residual kernels; one flattened all-reduce of all
 *                          gradients after backward (megatron/model/distributed.py,
 *                          "further communication of gradients after the
 *                          back-propagation step"). Used to check the model
 *                          against the paper's published runs. */
typedef enum plan_software { PLAN_SW_MEGAC = 0, PLAN_SW_MEGATRON_2019 = 1 } plan_software_t;

typedef struct plan_model {
    plan_arch_t arch;
    int num_layers, hidden_size, num_heads;
    int ffn_hidden_size;          /* 0: 4 * hidden */
    int seq_length, max_position_embeddings;
    int vocab_size;               /* before padding */
    int vocab_multiple;           /* padded to a multiple of this x TP (megac: 128) */
    int pre_ln;                   /* BERT: Megatron's pre-LN ordering (a final LayerNorm, none after
                                   * the embeddings); GPT is always pre-LN */
} plan_model_t;

typedef struct plan_layout {
    int tp, dp;                   /* tensor- and data-parallel sizes (world = tp * dp) */
    int micro_batch, global_batch;
    plan_precision_t precision;   /* fp16/bf16: mixed precision with fp32 master weights */
    int recompute;                /* PLAN_RECOMPUTE_NONE | _FULL (every layer's forward) | _SELECTIVE (core attention) */
    int zero1;                    /* optimizer state sharded over DP */
    plan_optimizer_t optimizer;
    plan_software_t software;
    int64_t bucket_elements;      /* megac DDP bucket; 0: its default max(40M, 1M x DP) */
} plan_layout_t;

typedef struct plan_machine {
    char gpu[32];
    double peak_flops16;          /* dense fp16/bf16 tensor-core FLOP/s per GPU */
    double peak_flops32;          /* fp32 FLOP/s per GPU */
    double memory_bytes;          /* per GPU */
    double hbm_bandwidth;         /* bytes/s */
    int gpus_per_node;
    double intra_bandwidth;       /* bytes/s per GPU per direction inside a node */
    double intra_latency;         /* seconds per ring step inside a node */
    double inter_bandwidth;       /* bytes/s per node per direction between nodes */
    double inter_latency;         /* seconds per ring step between nodes */
    double reserve_bytes;         /* CUDA context, cuBLAS workspace, allocator slack */
    double efficiency;            /* fraction of peak for `compute` (plan_calibrate) */
} plan_machine_t;

/* One parameter tensor as one TP rank holds it. */
typedef struct plan_tensor {
    char name[80];
    int ndim;
    int64_t global_shape[2], local_shape[2];
    int split_dim;                /* -1: the whole tensor on every TP rank */
    int64_t split_offset;         /* this rank's first index along split_dim */
} plan_tensor_t;

enum { PLAN_RECOMPUTE_NONE = 0, PLAN_RECOMPUTE_FULL = 1, PLAN_RECOMPUTE_SELECTIVE = 2 };

typedef struct plan_memory {
    double weights, grads, optimizer;
    double activations_full;      /* no recomputation */
    double activations_recompute; /* full recomputation: layer inputs + one layer */
    double activations_selective; /* selective: without the attention's s x s terms */
    double activations;           /* the one the layout uses */
    double output;                /* embeddings' dropout mask, final LN input, fp32 logits */
    double comm_buffers, reserve, total;
} plan_memory_t;

typedef struct plan_result {
    int64_t params;               /* global, padded vocabulary */
    int64_t params_local;         /* TP rank 0 */
    int micro_batches;            /* per iteration per DP rank */
    int nodes;
    plan_memory_t mem;
    double flops_micro;           /* model FLOPs of one micro-batch on one replica */
    double flops_iteration;       /* whole job, one iteration */
    double flops_narayanan;       /* the closed form for the same B (GPT, FFN = 4h) */
    /* per rank, per iteration */
    double tp_allreduces, tp_bytes; /* count and message bytes of the TP all-reduces */
    double dp_bytes;              /* gradient bytes reduced over DP */
    int dp_buckets;
    double t_compute, t_replicated, t_tp, t_optimizer;
    double t_dp;                  /* the DP reduction on its own */
    double t_dp_exposed;          /* the part not hidden behind backward */
    double t_iteration;
    double tflops_per_gpu, pflops_total;
} plan_result_t;

/* ------------------------------------------------------------------ models
 * Presets, parameter counts and tensor lists are the models' own (models/gpt.h,
 * models/bert.h); the planner keeps only the shape it computes with. */
void plan_model_from_gpt(plan_model_t *m, const gpt_config_t *cfg);
/* BERT with a binary (sentence) head and 2 token types, as bert_config_defaults */
void plan_model_from_bert(plan_model_t *m, const bert_config_t *cfg);
/* bert_config_preset's bert-base, bert-large, bert-3.9b */
int plan_bert_preset(plan_model_t *m, const char *name, err_t *err);
int plan_ffn(const plan_model_t *m);
int plan_padded_vocab(const plan_model_t *m, int tp);
/* Checks the model and that TP divides heads, FFN and (after padding) the vocabulary. */
int plan_model_validate(const plan_model_t *m, int tp, err_t *err);

/* Exact global parameter count (padded vocabulary): gpt_param_count / bert_param_count. */
int64_t plan_param_count(const plan_model_t *m, int tp);
/* The model's tensor list (gpt_param_list / bert_param_list: megac's order and
 * names) for TP size tp; 0 or -1 (out of host memory). Free with param_list_free. */
int plan_tensor_list(const plan_model_t *m, int tp, param_list_t *pl);
/* Tensor k of the list as TP rank tp_rank of tp holds it. */
void plan_tensor_get(const param_list_t *pl, int tp, int tp_rank, int k, plan_tensor_t *t);
/* Sum of the local tensor sizes of one TP rank (-1: out of host memory). */
int64_t plan_local_param_count(const plan_model_t *m, int tp, int tp_rank);

/* ------------------------------------------------------------------ machine */
/* V100-32GB (in a DGX-2H), A100-80GB (DGX A100), H100-80GB (DGX H100). The
 * efficiency is left 0: plan_calibrate fills it. */
int plan_machine_preset(plan_machine_t *m, const char *gpu, err_t *err);
const char *plan_gpu_names(void);
/* The calibrated compute efficiency: the fraction of the V100's fp16 peak that
 * makes the model reproduce Megatron-LM's 39 TFLOP/s single-GPU baseline. */
double plan_calibrate(void);

/* ------------------------------------------------------------------ layout */
int plan_layout_validate(const plan_model_t *m, const plan_layout_t *l, const plan_machine_t *mach,
                         err_t *err);
/* Seconds of one ring all-reduce of `bytes` over n ranks, per_node of them in each
 * node, with `sharing` such groups crossing each node's network links at once. */
double plan_allreduce_seconds(const plan_machine_t *mach, double bytes, int n, int per_node, int sharing);
/* Memory, FLOPs, communication and time of one iteration (validates first). */
int plan_evaluate(const plan_model_t *m, const plan_layout_t *l, const plan_machine_t *mach, plan_result_t *r,
                  err_t *err);
/* The single-GPU baseline of the weak-scaling efficiency on this machine: the
 * Megatron-LM 1.2B GPT (40 layers, hidden 1536, 16 heads, sequence 1024,
 * vocabulary 51,200) at TP = DP = 1, micro-batch 8, recomputation, 16-bit. */
int plan_baseline(const plan_machine_t *mach, plan_software_t sw, plan_result_t *r, err_t *err);

/* NVIDIA's BERT-Large record (August 2019): 53 minutes on 92 DGX-2H nodes, LAMB,
 * fp16, two phases (the configuration's sources in plan_model.c). */
#define PLAN_BERT_RECORD_NODES 92
#define PLAN_BERT_RECORD_MINUTES 53.0
typedef struct plan_record_phase {
    int seq, micro, accumulation, steps;
} plan_record_phase_t;
/* Phase p (0 or 1) on PLAN_BERT_RECORD_NODES nodes of mach: its batches and steps,
 * the model (bert-large at the phase's sequence) and the layout (TP 1, DP all GPUs). */
int plan_bert_record_phase(const plan_machine_t *mach, plan_software_t sw, int p, plan_record_phase_t *ph,
                           plan_model_t *m, plan_layout_t *l, err_t *err);
/* Narayanan et al. 2021 (eq. 3): 96 B s l h^2 (1 + s/(6h) + V/(16 l h)) with full
 * recomputation; without it 72 B s l h^2 (1 + s/(6h) + V/(12 l h)). */
double plan_flops_narayanan(const plan_model_t *m, int tp, int64_t batch, int recompute);

/* ------------------------------------------------------------------ output */
const char *plan_precision_name(plan_precision_t p);
const char *plan_software_name(plan_software_t s);
/* One rank's tensor table; returns the rank's parameter count. */
int64_t plan_print_tensors(FILE *f, const plan_model_t *m, int tp, int tp_rank);
/* The full report of plan_evaluate's result. */
void plan_print_report(FILE *f, const plan_model_t *m, const char *model_name, const plan_layout_t *l,
                       const plan_machine_t *mach, const plan_result_t *r);

/* The dry run of `megac train gpt --dry-run --world-size N`: one rank's tensors
 * (local shapes, exactly 1/TP of each split tensor, checked to sum over the TP
 * ranks to gpt_param_count), megac's fp32 memory per rank (the sizes gpt_create
 * and the optimizer would allocate) and the communication of one iteration.
 * Allocates nothing large; 0 on success, -1 with err naming the flag at fault. */
int plan_dry_run(const gpt_config_t *cfg, int tp, int world, int micro, int global, int zero1, FILE *out,
                 err_t *err);

#endif
