/* plan_model.c — the planner's arithmetic (see plan_model.h): tensor lists (the models'), and
 * parameter counts, memory, FLOPs, communication and time per iteration. */
#include "plan_model.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../models/flops.h"

#define GIB (1024.0 * 1024.0 * 1024.0)

/* ---------------------------------------------------------------- software */

/* What an implementation costs beyond its FLOPs. "Passes" are reads or writes of
 * one [b, s, h] activation (b*s*h elements) that every TP rank performs.
 *
 * megac (models/transformer.c, pre-LN layer):
 *   forward   LayerNorm x2 (read x, write y: 2 each), dropout in place x2 (2 each;
 *             masks regenerated from Philox, never stored), residual add x2 (3 each)
 *             = 14
 *   backward  per branch: zero dtmp 1, dropout backward 2, zero dln 1, input-gradient
 *             axpy 3; per LayerNorm: zero dsum 1, backward 3 (read dy and x, write
 *             dx) = 2 * (7 + 4) + 4 (weight-gradient reads) = 26
 *   per micro-batch: position add 2, embedding dropout 2, final LayerNorm 2, their
 *             backward 8 = 14
 * Megatron-LM 2019 (megatron/mpu/transformer.py, PyTorch eager, apex LayerNorm):
 *   forward   LayerNorm x2 (2 each), row-parallel bias add x2 (2 each), dropout x2
 *             (2 + a 1-byte mask = 2.5 each), residual add x2 (3 each) = 19
 *   backward  LayerNorm x2 (dx 3 + weight gradients 2), residual gradient
 *             accumulation x2 (3), dropout x2 (2.5), bias gradient x2 (1) = 23
 *   per micro-batch: position add 3, embedding dropout 2.5 and backward 2.5 + 1,
 *             final LayerNorm 2 + 5 = 16
 * Optimizer bytes per parameter per step (mixed precision):
 *   megac   a fused AdamW: read 16-bit grad 2, read/write fp32 master 8, m and v 16,
 *           write 16-bit weight 2, gradient-norm pass 2, zeroing 2 = 32
 *           (fp32 training: read/write weight 8, m and v 16, grad 4, norm 4, zero 4 = 36)
 *   Megatron-LM 2019 (FP16_Optimizer + FusedAdam): copy grads to fp32 master grads
 *           (2 + 4), overflow check 2, unscale (4 + 4), norm 4, Adam 28, master to
 *           16-bit weights (4 + 2), zeroing 2 = 56 (more than megac: unfused copies)
 *   LAMB adds a pass for the per-tensor trust ratios: reading weight and update, +8.
 * DP reduction:
 *   megac   buckets reduced in place, started during the last micro-batch's backward
 *   Megatron-LM 2019: after backward, all gradients flattened into one buffer (read
 *           + write), all-reduced, scaled (read + write) and copied back (read +
 *           write) = 6 passes over the 16-bit gradients, and the buffer is a copy.
 * Cross-entropy over the vocabulary slice: megac all-reduces the row max and the
 *   (sum of exponentials, target logit) pair; Megatron-LM 2019 three scalars per row. */
typedef struct sw_profile {
    double rep_fwd, rep_bwd, rep_model;
    int xent_allreduces;
    double opt_mixed, opt_fp32, opt_lamb_extra;
    int overlap;
    double flatten_passes;
    int flatten_buffer;
} sw_profile_t;

static const sw_profile_t sw_profiles[2] = {
    {14, 26, 14, 2, 32, 36, 8, 1, 0, 0},  /* PLAN_SW_MEGAC */
    {19, 23, 16, 3, 56, 56, 8, 0, 6, 1},  /* PLAN_SW_MEGATRON_2019 */
};

/* NCCL keeps, per communicator, about 16 channels x (4 MiB Simple + 4.5 MiB LL128 +
 * 0.5 MiB LL) of receive buffers (NCCL_BUFFSIZE default 4 MiB). */
#define NCCL_BUFFERS_PER_COMM (16.0 * 9.0 * 1024.0 * 1024.0)

/* megac's DDP bucket (parallel/dist_optim.h): max(40M, 1M x DP) elements. */
static double default_bucket(int dp) {
    double b = 1e6 * dp;
    return b > 40e6 ? b : 40e6;
}

const char *plan_precision_name(plan_precision_t p) {
    return p == PLAN_FP32 ? "fp32" : p == PLAN_FP16 ? "fp16" : "bf16";
}

const char *plan_software_name(plan_software_t s) {
    return s == PLAN_SW_MEGAC ? "megac" : "megatron-2019";
}

/* ---------------------------------------------------------------- models */

/* The planner's shape fields and their names in gpt_config_t and bert_config_t
 * (the two configurations spell them alike). */
#define SHAPE_FIELDS(X)                                                                                          \
    X(num_layers, num_layers) X(hidden_size, hidden_size) X(num_heads, num_attention_heads)                     \
    X(ffn_hidden_size, ffn_hidden_size) X(seq_length, seq_length)                                              \
    X(max_position_embeddings, max_position_embeddings) X(vocab_size, vocab_size)                              \
    X(vocab_multiple, make_vocab_size_divisible_by)
#define FROM_CONFIG(mine, theirs) m->mine = c->theirs;
#define TO_CONFIG(mine, theirs) c->theirs = m->mine;

void plan_model_from_gpt(plan_model_t *m, const gpt_config_t *c) {
    memset(m, 0, sizeof *m);
    m->arch = PLAN_GPT;
    SHAPE_FIELDS(FROM_CONFIG)
}

void plan_model_from_bert(plan_model_t *m, const bert_config_t *c) {
    memset(m, 0, sizeof *m);
    m->arch = PLAN_BERT;
    SHAPE_FIELDS(FROM_CONFIG)
    m->pre_ln = c->pre_ln;
}

int plan_bert_preset(plan_model_t *m, const char *name, err_t *err) {
    bert_config_t c;
    if (bert_config_preset(&c, name, err) != 0) return -1;
    plan_model_from_bert(m, &c);
    return 0;
}

/* the model's own configuration for the planner's shape (fields the planner does
 * not model keep the models' defaults) */
static void gpt_config_of(const plan_model_t *m, gpt_config_t *c) {
    gpt_config_defaults(c);
    SHAPE_FIELDS(TO_CONFIG)
}

static void bert_config_of(const plan_model_t *m, bert_config_t *c) {
    bert_config_defaults(c);
    SHAPE_FIELDS(TO_CONFIG)
    c->pre_ln = m->pre_ln;
}

#undef TO_CONFIG
#undef FROM_CONFIG
#undef SHAPE_FIELDS

int plan_ffn(const plan_model_t *m) { return m->ffn_hidden_size > 0 ? m->ffn_hidden_size : 4 * m->hidden_size; }

int plan_padded_vocab(const plan_model_t *m, int tp) {
    gpt_config_t c; /* GPT and BERT pad alike */
    gpt_config_of(m, &c);
    return gpt_padded_vocab(&c, tp);
}

int plan_model_validate(const plan_model_t *m, int tp, err_t *err) {
    if (m->num_layers <= 0) return err_set(err, "--num-layers must be positive (got %d)", m->num_layers);
    if (m->hidden_size <= 0) return err_set(err, "--hidden-size must be positive (got %d)", m->hidden_size);
    if (m->num_heads <= 0)
        return err_set(err, "--num-attention-heads must be positive (got %d)", m->num_heads);
    if (m->hidden_size % m->num_heads != 0)
        return err_set(err, "--num-attention-heads %d does not divide --hidden-size %d", m->num_heads,
                       m->hidden_size);
    if (m->ffn_hidden_size < 0)
        return err_set(err, "--ffn-hidden-size must be positive (got %d)", m->ffn_hidden_size);
    if (m->seq_length <= 0) return err_set(err, "--seq-length must be positive (got %d)", m->seq_length);
    if (m->max_position_embeddings < m->seq_length)
        return err_set(err, "--seq-length %d exceeds the %d position embeddings", m->seq_length,
                       m->max_position_embeddings);
    if (m->vocab_size <= 0) return err_set(err, "--vocab-size must be positive (got %d)", m->vocab_size);
    if (m->vocab_multiple <= 0)
        return err_set(err, "--make-vocab-size-divisible-by must be positive (got %d)", m->vocab_multiple);
    if (tp <= 0) return err_set(err, "--tensor-model-parallel-size must be positive (got %d)", tp);
    if (m->num_heads % tp != 0)
        return err_set(err, "--tensor-model-parallel-size %d does not divide --num-attention-heads %d", tp,
                       m->num_heads);
    if (plan_ffn(m) % tp != 0)
        return err_set(err, "--tensor-model-parallel-size %d does not divide the FFN size %d", tp, plan_ffn(m));
    return 0;
}

int64_t plan_param_count(const plan_model_t *m, int tp) {
    if (m->arch == PLAN_GPT) {
        gpt_config_t c;
        gpt_config_of(m, &c);
        return gpt_param_count(&c, tp);
    }
    bert_config_t c;
    bert_config_of(m, &c);
    return bert_param_count(&c, tp);
}

int plan_tensor_list(const plan_model_t *m, int tp, param_list_t *pl) {
    if (m->arch == PLAN_GPT) {
        gpt_config_t c;
        gpt_config_of(m, &c);
        return gpt_param_list(&c, tp, pl);
    }
    bert_config_t c;
    bert_config_of(m, &c);
    return bert_param_list(&c, tp, pl);
}

void plan_tensor_get(const param_list_t *pl, int tp, int tp_rank, int k, plan_tensor_t *t) {
    const param_spec_t *p = &pl->specs[k];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", p->name);
    t->ndim = p->ndim;
    t->global_shape[0] = t->local_shape[0] = p->shape[0];
    t->global_shape[1] = t->local_shape[1] = p->ndim == 2 ? p->shape[1] : 0;
    t->split_dim = p->split;
    if (t->split_dim >= 0) {
        t->local_shape[t->split_dim] = t->global_shape[t->split_dim] / tp;
        t->split_offset = (int64_t)tp_rank * t->local_shape[t->split_dim];
    }
}

static int64_t shape_numel(const int64_t *shape, int ndim) { return ndim == 2 ? shape[0] * shape[1] : shape[0]; }

int64_t plan_local_param_count(const plan_model_t *m, int tp, int tp_rank) {
    param_list_t pl;
    if (plan_tensor_list(m, tp, &pl) != 0) return -1;
    int64_t n = 0;
    plan_tensor_t t;
    for (int k = 0; k < pl.n; k++) {
        plan_tensor_get(&pl, tp, tp_rank, k, &t);
        n += shape_numel(t.local_shape, t.ndim);
    }
    param_list_free(&pl);
    return n;
}

/* ---------------------------------------------------------------- machine */

/* Per GPU unless stated. Sources: NVIDIA V100, A100 and H100 datasheets (dense
 * 16-bit tensor-core and fp32 peaks, HBM bandwidth); DGX-2H as described by
 * Shoeybi et al. 2019 §5 ("300 GB/sec bandwidth between GPUs inside a server via
 * NVSwitch and 100 GB/sec of interconnect bandwidth between servers using 8
 * InfiniBand adapters per server"; NVLink figures count both directions, so 150
 * GB/s each way); DGX A100 (NVLink3 600 GB/s, 8 x 200 Gb/s HDR) and DGX H100
 * (NVLink4 900 GB/s, 8 x 400 Gb/s NDR) system datasheets. Latencies per ring step:
 * NCCL's own tuning model (src/graph/tuning.cc, hwLat for the Simple protocol:
 * NVLink ring 3.4 us, network ring 14 us). Reserve: CUDA context, cuBLAS
 * workspace and allocator slack, a stated 1 GiB. */
typedef struct gpu_spec {
    const char *name;
    double peak16, peak32, mem_gib, hbm;
    int gpn;
    double intra, inter;
} gpu_spec_t;

static const gpu_spec_t gpu_specs[] = {
    {"V100-32GB", 125e12, 15.7e12, 32, 900e9, 16, 150e9, 100e9},
    {"A100-80GB", 312e12, 19.5e12, 80, 2039e9, 8, 300e9, 200e9},
    {"H100-80GB", 989e12, 67e12, 80, 3350e9, 8, 450e9, 400e9},
};

const char *plan_gpu_names(void) { return "V100-32GB A100-80GB H100-80GB"; }

int plan_machine_preset(plan_machine_t *m, const char *gpu, err_t *err) {
    for (size_t i = 0; i < sizeof gpu_specs / sizeof gpu_specs[0]; i++) {
        const gpu_spec_t *g = &gpu_specs[i];
        if (strcmp(g->name, gpu) != 0) continue;
        memset(m, 0, sizeof *m);
        snprintf(m->gpu, sizeof m->gpu, "%s", g->name);
        m->peak_flops16 = g->peak16;
        m->peak_flops32 = g->peak32;
        m->memory_bytes = g->mem_gib * GIB;
        m->hbm_bandwidth = g->hbm;
        m->gpus_per_node = g->gpn;
        m->intra_bandwidth = g->intra;
        m->intra_latency = 3.4e-6;
        m->inter_bandwidth = g->inter;
        m->inter_latency = 14e-6;
        m->reserve_bytes = 1.0 * GIB;
        return 0;
    }
    return err_set(err, "--gpu: unknown GPU '%s' (known: %s)", gpu,
                   plan_gpu_names());
}

/* The Megatron-LM weak-scaling baseline (Shoeybi et al. 2019, Table 1 row 1 and
 * §5.1): 1.2B parameters, 40 layers, hidden 1536, 16 heads, sequence 1024, the
 * vocabulary padded to 51,200, batch 8 on one GPU, activation checkpointing after
 * every layer, fp16: 39 TFLOP/s on one V100 of a DGX-2H. */
#define BASELINE_TFLOPS 39.0
static void baseline_model(plan_model_t *m) {
    memset(m, 0, sizeof *m);
    m->arch = PLAN_GPT;
    m->num_layers = 40;
    m->hidden_size = 1536;
    m->num_heads = 16;
    m->seq_length = m->max_position_embeddings = 1024;
    m->vocab_size = 51200;
    m->vocab_multiple = 128;
}

static void baseline_layout(plan_layout_t *l, plan_software_t sw) {
    memset(l, 0, sizeof *l);
    l->tp = l->dp = 1;
    l->micro_batch = l->global_batch = 8;
    l->precision = PLAN_FP16;
    l->recompute = 1;
    l->optimizer = PLAN_ADAM;
    l->software = sw;
}

/* ---------------------------------------------------------------- layout */

int plan_layout_validate(const plan_model_t *m, const plan_layout_t *l, const plan_machine_t *mach,
                         err_t *err) {
    if (plan_model_validate(m, l->tp, err) != 0) return -1;
    if (l->dp <= 0) return err_set(err, "--data-parallel-size must be positive (got %d)", l->dp);
    if (l->micro_batch <= 0)
        return err_set(err, "--micro-batch-size must be positive (got %d)", l->micro_batch);
    if (l->global_batch <= 0)
        return err_set(err, "--global-batch-size must be positive (got %d)", l->global_batch);
    if (l->global_batch % ((int64_t)l->micro_batch * l->dp) != 0)
        return err_set(err,
                       "--global-batch-size %d is not a multiple of --micro-batch-size %d x data-parallel size "
                       "%d (= %lld)",
                       l->global_batch, l->micro_batch, l->dp, (long long)l->micro_batch * l->dp);
    if (l->bucket_elements < 0) return err_set(err, "--ddp-bucket-size must not be negative");
    if (l->zero1 && l->software == PLAN_SW_MEGATRON_2019)
        return err_set(err, "--use-distributed-optimizer: Megatron-LM 2019 had no distributed optimizer "
                            "(--software megatron-2019)");
    if (!(mach->peak_flops16 > 0 && mach->peak_flops32 > 0))
        return err_set(err, "--gpu-peak-tflops must be positive");
    if (!(mach->memory_bytes > 0)) return err_set(err, "--gpu-memory-gb must be positive");
    if (!(mach->hbm_bandwidth > 0)) return err_set(err, "--gpu-memory-bandwidth must be positive");
    if (!(mach->intra_bandwidth > 0)) return err_set(err, "--intra-node-bandwidth must be positive");
    if (!(mach->inter_bandwidth > 0)) return err_set(err, "--inter-node-bandwidth must be positive");
    if (mach->intra_latency < 0 || mach->inter_latency < 0)
        return err_set(err, "--intra-node-latency and --inter-node-latency must not be negative");
    if (!(mach->efficiency > 0 && mach->efficiency <= 1))
        return err_set(err, "--compute-efficiency must be in (0, 1] (got %g)", mach->efficiency);
    int gpn = mach->gpus_per_node;
    if (gpn <= 0) return err_set(err, "--gpus-per-node must be positive (got %d)", gpn);
    if (l->tp <= gpn && gpn % l->tp != 0)
        return err_set(err, "--gpus-per-node %d is not a multiple of --tensor-model-parallel-size %d (TP groups "
                            "would straddle nodes)", gpn, l->tp);
    if (l->tp > gpn && l->tp % gpn != 0)
        return err_set(err, "--tensor-model-parallel-size %d is not a multiple of --gpus-per-node %d", l->tp, gpn);
    return 0;
}

/* ---------------------------------------------------------------- model */

double plan_allreduce_seconds(const plan_machine_t *mach, double bytes, int n, int per_node, int sharing) {
    if (n <= 1) return 0.0;
    int k = per_node < 1 ? 1 : per_node > n ? n : per_node;
    int nodes = (n + k - 1) / k;
    double ring = 2.0 * (n - 1) / n * bytes;
    if (nodes == 1) return ring / mach->intra_bandwidth + 2.0 * (n - 1) * mach->intra_latency;
    double bw = mach->inter_bandwidth / (sharing < 1 ? 1 : sharing);
    if (mach->intra_bandwidth < bw) bw = mach->intra_bandwidth;
    /* latency as NCCL's tuning model counts it: a ring takes 2(n - N) steps inside
     * nodes and 2N across them; from NCCL 2.4 a double binary tree across the nodes
     * takes 2(k - 1) + 2 log2(N), and NCCL picks the faster (at 1,472 ranks the ring
     * alone would spend ~12 ms per call in latency) */
    double lat_ring = 2.0 * (n - nodes) * mach->intra_latency + 2.0 * nodes * mach->inter_latency;
    double lat_tree = 2.0 * (k - 1) * mach->intra_latency + 2.0 * ceil(log2((double)nodes)) * mach->inter_latency;
    return ring / bw + (lat_tree < lat_ring ? lat_tree : lat_ring);
}

double plan_flops_narayanan(const plan_model_t *m, int tp, int64_t batch, int recompute) {
    double B = (double)batch, s = m->seq_length, l = m->num_layers, h = m->hidden_size;
    double V = plan_padded_vocab(m, tp);
    if (recompute) return 96.0 * B * s * l * h * h * (1.0 + s / (6.0 * h) + V / (16.0 * l * h));
    return 72.0 * B * s * l * h * h * (1.0 + s / (6.0 * h) + V / (12.0 * l * h));
}

/* Model FLOPs of one micro-batch on one replica (models/flops.h): the GEMMs only,
 * the LM/MLM head on every token (as Megatron-LM 2019 ran BERT's), BERT's pooler and
 * sentence head on every sequence. */
static double micro_flops(const plan_model_t *m, int tp, int b, int recompute) {
    double tokens = (double)b * m->seq_length;
    int bert = m->arch == PLAN_BERT;
    model_flops_shape_t s = {m->num_layers, m->hidden_size, plan_ffn(m), m->seq_length, plan_padded_vocab(m, tp),
                             tokens, tokens, bert, bert ? (double)b : 0.0, 0.0};
    return model_flops(&s, 3,
                       recompute == PLAN_RECOMPUTE_FULL        ? TF_RECOMPUTE_FULL
                       : recompute == PLAN_RECOMPUTE_SELECTIVE ? TF_RECOMPUTE_SELECTIVE
                                                               : TF_RECOMPUTE_NONE);
}

/* Korthikanti et al. 2022, eq. 2 (tensor parallel, no sequence parallelism): bytes
 * of one layer's stored activations, s b h (10 + 24/t + 5 a s / (h t)), for 16-bit
 * tensors and 1-byte dropout masks; fp32 doubles it (masks included, a small
 * over-estimate). */
static double layer_activation_bytes(const plan_model_t *m, int tp, int b, int d) {
    double s = m->seq_length, h = m->hidden_size, a = m->num_heads, t = tp;
    return s * b * h * (10.0 + 24.0 / t + 5.0 * a * s / (h * t)) * (d / 2.0);
}

static void memory(const plan_model_t *m, const plan_layout_t *l, const plan_machine_t *mach,
                   const sw_profile_t *sw, int64_t local, plan_memory_t *mem) {
    int d = l->precision == PLAN_FP32 ? 4 : 2;
    double s = m->seq_length, h = m->hidden_size, b = l->micro_batch, L = m->num_layers;
    double shard = l->zero1 ? ceil((double)local / l->dp) : (double)local;
    memset(mem, 0, sizeof *mem);
    mem->weights = (double)local * d;
    mem->grads = (double)local * d;
    /* mixed precision: fp32 master weights + Adam/LAMB m and v; fp32: m and v */
    mem->optimizer = shard * (l->precision == PLAN_FP32 ? 8.0 : 12.0);
    double layer = layer_activation_bytes(m, l->tp, l->micro_batch, d);
    mem->activations_full = L * layer;
    mem->activations_recompute = L * d * s * b * h + layer; /* layer inputs + the one being recomputed */
    /* selective (Korthikanti et al.): the 5as/(ht) softmax/dropout terms are recomputed */
    mem->activations_selective = L * s * b * h * (10.0 + 24.0 / l->tp) * (d / 2.0);
    mem->activations = l->recompute == PLAN_RECOMPUTE_FULL        ? mem->activations_recompute
                       : l->recompute == PLAN_RECOMPUTE_SELECTIVE ? mem->activations_selective
                                                                  : mem->activations_full;
    /* embedding dropout mask (1 byte), final LayerNorm (or MLM transform) input, and
     * the fp32 logits of the vocabulary slice the cross-entropy keeps */
    mem->output = s * b * h + d * s * b * h + 4.0 * s * b * plan_padded_vocab(m, l->tp) / l->tp;
    int comms = (l->tp > 1) + (l->dp > 1);
    mem->comm_buffers = comms * NCCL_BUFFERS_PER_COMM;
    if (l->zero1 && l->dp > 1) mem->comm_buffers += shard * 4.0; /* the reduce-scattered fp32 shard */
    if (sw->flatten_buffer && l->dp > 1) mem->comm_buffers += (double)local * d;
    mem->reserve = mach->reserve_bytes;
    mem->total = mem->weights + mem->grads + mem->optimizer + mem->activations + mem->output +
                 mem->comm_buffers + mem->reserve;
}

int plan_evaluate(const plan_model_t *m, const plan_layout_t *l, const plan_machine_t *mach, plan_result_t *r,
                  err_t *err) {
    if (plan_layout_validate(m, l, mach, err) != 0) return -1;
    const sw_profile_t *sw = &sw_profiles[l->software];
    memset(r, 0, sizeof *r);
    /* rc: full recomputation's extra forward pass (selective adds only its FLOPs) */
    int tp = l->tp, dp = l->dp, gpn = mach->gpus_per_node, rc = l->recompute == PLAN_RECOMPUTE_FULL;
    int d = l->precision == PLAN_FP32 ? 4 : 2;
    double peak = l->precision == PLAN_FP32 ? mach->peak_flops32 : mach->peak_flops16;
    double h = m->hidden_size, L = m->num_layers, tokens = (double)l->micro_batch * m->seq_length;

    r->params = plan_param_count(m, tp);
    r->params_local = plan_local_param_count(m, tp, 0);
    r->micro_batches = l->global_batch / (l->micro_batch * dp);
    r->nodes = (int)(((int64_t)tp * dp + gpn - 1) / gpn);
    memory(m, l, mach, sw, r->params_local, &r->mem);

    /* one micro-batch on one rank */
    r->flops_micro = micro_flops(m, tp, l->micro_batch, l->recompute);
    double t_compute = r->flops_micro / tp / (mach->efficiency * peak);
    double passes = L * (sw->rep_fwd * (1 + rc) + sw->rep_bwd) + sw->rep_model;
    double t_rep = passes * d * tokens * h / mach->hbm_bandwidth;
    int tp_per_node = tp < gpn ? tp : gpn;
    double n_big = (4.0 + 2.0 * rc) * L + 2.0, msg = tokens * h * d;
    double t_tp = n_big * plan_allreduce_seconds(mach, msg, tp, tp_per_node, 1) +
                  sw->xent_allreduces * plan_allreduce_seconds(mach, tokens * 4.0, tp, tp_per_node, 1);
    double t_micro = t_compute + t_rep + t_tp;
    int mb = r->micro_batches;
    r->t_compute = mb * t_compute;
    r->t_replicated = mb * t_rep;
    r->t_tp = mb * t_tp;
    r->tp_allreduces = tp > 1 ? mb * (n_big + sw->xent_allreduces) : 0;
    r->tp_bytes = tp > 1 ? mb * (n_big * msg + sw->xent_allreduces * tokens * 4.0) : 0;

    /* optimizer step over this rank's parameters (its shard under ZeRO-1) */
    double shard = l->zero1 ? ceil((double)r->params_local / dp) : (double)r->params_local;
    double opt_bytes = (l->precision == PLAN_FP32 ? sw->opt_fp32 : sw->opt_mixed) +
                       (l->optimizer == PLAN_LAMB ? sw->opt_lamb_extra : 0.0);
    r->t_optimizer = shard * opt_bytes / mach->hbm_bandwidth;

    /* DP: gradients in the training precision; each node's network links are
     * crossed by the rings of every DP group with a member in the node: one per
     * TP rank it holds */
    if (dp > 1) {
        double S = (double)r->params_local * d;
        int per_node = tp <= gpn ? (dp < gpn / tp ? dp : gpn / tp) : 1;
        int sharing = tp < gpn ? tp : gpn;
        r->dp_bytes = S;
        if (l->zero1) {
            /* reduce-scatter after backward + all-gather of the weights after the step:
             * the bytes of one all-reduce, not overlapped (dist_optim_finish) */
            r->dp_buckets = 1;
            r->t_dp = plan_allreduce_seconds(mach, S, dp, per_node, sharing);
            r->t_dp_exposed = r->t_dp;
        } else if (!sw->overlap) {
            r->dp_buckets = 1;
            r->t_dp = plan_allreduce_seconds(mach, S, dp, per_node, sharing) +
                      sw->flatten_passes * S / mach->hbm_bandwidth;
            r->t_dp_exposed = r->t_dp;
        } else {
            /* buckets formed in reverse layer order; each starts as soon as its
             * gradients are final in the last micro-batch's backward, so all but the
             * last can hide behind the rest of that backward */
            double bucket = l->bucket_elements > 0 ? (double)l->bucket_elements : default_bucket(dp);
            int nb = (int)ceil((double)r->params_local / bucket);
            if (nb < 1) nb = 1;
            double full = (nb - 1) * plan_allreduce_seconds(mach, bucket * d, dp, per_node, sharing);
            double last = plan_allreduce_seconds(mach, S - (nb - 1) * bucket * d, dp, per_node, sharing);
            r->dp_buckets = nb;
            r->t_dp = full + last;
            double backward = t_micro * (2.0 + rc) / (3.0 + rc);
            double hidden = backward * (nb - 1) / nb;
            r->t_dp_exposed = r->t_dp - hidden > r->t_dp / nb ? r->t_dp - hidden : r->t_dp / nb;
        }
    }
    r->t_iteration = mb * t_micro + r->t_dp_exposed + r->t_optimizer;
    r->flops_iteration = r->flops_micro * mb * dp;
    r->flops_narayanan = plan_flops_narayanan(m, tp, l->global_batch, rc);
    r->tflops_per_gpu = r->flops_micro * mb / tp / r->t_iteration / 1e12;
    r->pflops_total = r->flops_iteration / r->t_iteration / 1e15;
    return 0;
}

/* The calibration: one number, the fraction of the V100's fp16 tensor peak at
 * which the baseline's compute must run for the whole modeled iteration
 * (compute + replicated element-wise work + optimizer; no communication at one
 * GPU) to sustain 39 TFLOP/s, the Megatron-LM paper's measured value. Solved in
 * closed form: the iteration is t_other + t_compute(1) / efficiency. */
double plan_calibrate(void) {
    plan_model_t m;
    plan_layout_t l;
    plan_machine_t mach;
    plan_result_t r;
    err_t err;
    baseline_model(&m);
    baseline_layout(&l, PLAN_SW_MEGATRON_2019);
    plan_machine_preset(&mach, "V100-32GB", &err);
    mach.efficiency = 1.0;
    if (plan_evaluate(&m, &l, &mach, &r, &err) != 0) return 0.0;
    double target = r.flops_iteration / (BASELINE_TFLOPS * 1e12);
    double other = r.t_iteration - r.t_compute;
    return r.t_compute / (target - other);
}

int plan_baseline(const plan_machine_t *mach, plan_software_t sw, plan_result_t *r, err_t *err) {
    plan_model_t m;
    plan_layout_t l;
    baseline_model(&m);
    baseline_layout(&l, sw);
    return plan_evaluate(&m, &l, mach, r, err);
}

/* NVIDIA's BERT-Large record (August 2019, "NVIDIA Clocks World's Fastest BERT
 * Training Time"): 53 minutes on 92 DGX-2H (1,472 V100-32GB), PyTorch with AMP and
 * LAMB, in two phases. The per-GPU batch sizes are those of NVIDIA's
 * DeepLearningExamples configurations for 92 DGX-2H nodes
 * (PyTorch/LanguageModeling/BERT/config_DGX2_92x16x48_wiki_books.sh and
 * config_DGX2_92x16x8x3_wiki_books_phase2.sh): phase 1 sequence 128, 48 per GPU,
 * 7,038 steps; phase 2 sequence 512, 8 per GPU x 3 accumulation steps, 1,450 steps.
 * The LAMB paper's recipe (You et al. 2019: 64K then 32K, 7,038 + 1,563 steps)
 * does not divide over 1,472 GPUs; NVIDIA kept its steps in phase 1 (70,656 per
 * step) and its 51.2M samples in phase 2 (35,328 x 1,450). */
int plan_bert_record_phase(const plan_machine_t *mach, plan_software_t sw, int p, plan_record_phase_t *ph,
                           plan_model_t *m, plan_layout_t *l, err_t *err) {
    static const plan_record_phase_t phases[2] = {{128, 48, 1, 7038}, {512, 8, 3, 1450}};
    if (p < 0 || p > 1) return err_set(err, "the BERT record has phases 0 and 1 (got %d)", p);
    if (plan_bert_preset(m, "bert-large", err) != 0) return -1;
    int gpus = PLAN_BERT_RECORD_NODES * mach->gpus_per_node;
    *ph = phases[p];
    m->seq_length = ph->seq;
    *l = (plan_layout_t){1, gpus, ph->micro, ph->micro * ph->accumulation * gpus, PLAN_FP16, 0, 0, PLAN_LAMB, sw, 0};
    return 0;
}

/* ---------------------------------------------------------------- output */

static void print_shape(char *buf, size_t n, const int64_t *shape, int ndim) {
    if (ndim == 2) snprintf(buf, n, "[%lld, %lld]", (long long)shape[0], (long long)shape[1]);
    else snprintf(buf, n, "[%lld]", (long long)shape[0]);
}

static void print_tensor_row(FILE *f, const plan_tensor_t *t) {
    char g[40], lo[40], split[24];
    print_shape(g, sizeof g, t->global_shape, t->ndim);
    print_shape(lo, sizeof lo, t->local_shape, t->ndim);
    if (t->split_dim < 0) snprintf(split, sizeof split, "replicated");
    else snprintf(split, sizeof split, "dim %d @ %lld", t->split_dim, (long long)t->split_offset);
    fprintf(f, "  %-48s %-16s %-16s %-16s %14lld\n", t->name, g, lo, split,
            (long long)shape_numel(t->local_shape, t->ndim));
}

int64_t plan_print_tensors(FILE *f, const plan_model_t *m, int tp, int tp_rank) {
    param_list_t pl;
    if (plan_tensor_list(m, tp, &pl) != 0) return -1;
    int heads = 0, per = TF_LAYER_PARAMS, L = m->num_layers, n = pl.n;
    while (heads < n && strncmp(pl.specs[heads].name, "layers/", 7) != 0) heads++; /* the embeddings */
    plan_tensor_t t;
    int64_t total = 0, layer0 = 0;
    fprintf(f, "  %-48s %-16s %-16s %-16s %14s\n", "tensor", "global shape", "local shape", "split",
            "local params");
    for (int k = 0; k < n; k++) {
        plan_tensor_get(&pl, tp, tp_rank, k, &t);
        int64_t numel = shape_numel(t.local_shape, t.ndim);
        total += numel;
        int in_layers = k >= heads && k < heads + L * per;
        if (in_layers && k < heads + per) layer0 += numel;
        if (!in_layers || k < heads + per) print_tensor_row(f, &t);
        if (in_layers && k == heads + per - 1 && L > 1)
            fprintf(f, "  layers/01 .. layers/%02d: %d tensors each, shapes as layers/00 (%lld local params "
                       "per layer)\n", L - 1, per, (long long)layer0);
    }
    param_list_free(&pl);
    return total;
}

static double gib(double bytes) { return bytes / GIB; }

/* "  label ........ value  note" */
static void row(FILE *f, const char *label, double value, const char *note) {
    fprintf(f, "  %-74s %9.3f%s\n", label, value, note);
}

void plan_print_report(FILE *f, const plan_model_t *m, const char *model_name, const plan_layout_t *l,
                       const plan_machine_t *mach, const plan_result_t *r) {
    const sw_profile_t *sw = &sw_profiles[l->software];
    int tp = l->tp, dp = l->dp, rc = l->recompute == PLAN_RECOMPUTE_FULL, d = l->precision == PLAN_FP32 ? 4 : 2;
    int sel = l->recompute == PLAN_RECOMPUTE_SELECTIVE;
    double peak = l->precision == PLAN_FP32 ? mach->peak_flops32 : mach->peak_flops16;
    char label[160];
    fprintf(f, "model: %s %s: %d layers, hidden %d, %d heads, FFN %d, sequence %d, vocabulary %d padded to %d "
               "(a multiple of %d x TP)\n",
            m->arch == PLAN_GPT ? "GPT" : "BERT", model_name, m->num_layers, m->hidden_size, m->num_heads,
            plan_ffn(m), m->seq_length, m->vocab_size, plan_padded_vocab(m, tp), m->vocab_multiple);
    fprintf(f, "layout: TP %d x DP %d = %d GPUs on %d node(s) of %d; micro-batch %d, global batch %d (%d "
               "micro-batch(es) per DP rank per iteration)\n",
            tp, dp, tp * dp, r->nodes, mach->gpus_per_node, l->micro_batch, l->global_batch, r->micro_batches);
    fprintf(f, "        %s%s, %s, %s optimizer%s; time model of %s software\n",
            plan_precision_name(l->precision), l->precision == PLAN_FP32 ? "" : " mixed precision",
            rc ? "full activation recomputation" : sel ? "selective activation recomputation" : "no activation recomputation",
            l->optimizer == PLAN_ADAM ? "Adam" : "LAMB", l->zero1 ? ", ZeRO-1 (state sharded over DP)" : "",
            plan_software_name(l->software));
    fprintf(f, "machine: %s, %d per node: %.1f TFLOP/s 16-bit tensor, %.1f TFLOP/s fp32, %.1f GiB at %.0f GB/s;\n"
               "         inside a node %.0f GB/s per GPU per direction, %.1f us per ring step; between nodes "
               "%.0f GB/s per node per direction, %.1f us per ring step\n",
            mach->gpu, mach->gpus_per_node, mach->peak_flops16 / 1e12, mach->peak_flops32 / 1e12,
            gib(mach->memory_bytes), mach->hbm_bandwidth / 1e9, mach->intra_bandwidth / 1e9,
            mach->intra_latency * 1e6, mach->inter_bandwidth / 1e9, mach->inter_latency * 1e6);
    fprintf(f, "\nparameters: %lld in all (%.3f B, padded vocabulary), %lld on TP rank 0\n", (long long)r->params,
            r->params / 1e9, (long long)r->params_local);

    const plan_memory_t *mem = &r->mem;
    fprintf(f, "\n%-83sGiB\n", "memory per rank");
    snprintf(label, sizeof label, "weights (%s)", plan_precision_name(l->precision));
    row(f, label, gib(mem->weights), "");
    snprintf(label, sizeof label, "gradients (%s)", plan_precision_name(l->precision));
    row(f, label, gib(mem->grads), "");
    snprintf(label, sizeof label, "optimizer state: %s%s",
             l->precision == PLAN_FP32 ? "m, v (8 B/param)" : "fp32 master + m, v (12 B/param)",
             l->zero1 ? ", 1/DP shard" : "");
    row(f, label, gib(mem->optimizer), "");
    snprintf(label, sizeof label, "activations without recomputation: L x sbh(10 + 24/t + 5as/(ht))%s",
             d == 4 ? " x 2 (fp32)" : "");
    row(f, label, gib(mem->activations_full), rc || sel ? "" : "  <- used");
    snprintf(label, sizeof label, "activations with selective recomputation: L x sbh(10 + 24/t)%s",
             d == 4 ? " x 2 (fp32)" : "");
    row(f, label, gib(mem->activations_selective), sel ? "  <- used" : "");
    snprintf(label, sizeof label, "activations with full recomputation: L x %d sbh (layer inputs) + one layer", d);
    row(f, label, gib(mem->activations_recompute), rc ? "  <- used" : "");
    row(f, "embedding dropout mask, final LN input, fp32 logits 4sbV/t", gib(mem->output), "");
    snprintf(label, sizeof label, "communication buffers (NCCL%s%s)",
             l->zero1 && dp > 1 ? "; ZeRO-1 fp32 gradient shard" : "",
             sw->flatten_buffer && dp > 1 ? "; flattened copy of the gradients" : "");
    row(f, label, gib(mem->comm_buffers), "");
    row(f, "CUDA context, cuBLAS workspace, allocator slack (stated)", gib(mem->reserve), "");
    double spare = mach->memory_bytes - mem->total;
    snprintf(label, sizeof label, "total (of %.2f GiB)", gib(mach->memory_bytes));
    if (spare >= 0) {
        char note[64];
        snprintf(note, sizeof note, "  fits, %.2f GiB spare", gib(spare));
        row(f, label, gib(mem->total), note);
    } else {
        char note[64];
        snprintf(note, sizeof note, "  DOES NOT FIT: short by %.2f GiB", gib(-spare));
        row(f, label, gib(mem->total), note);
    }
    fprintf(f, "  (activations: Korthikanti et al. 2022, eq. 2, 16-bit, tensor parallel, no sequence "
               "parallelism: s b h (10 + 24/t + 5 a s / (h t)) bytes per layer)\n");

    fprintf(f, "\nFLOPs per iteration: %s = %.4g\n",
            rc ? "96 B s l h^2 (1 + s/(6h) + V/(16 l h))" : "72 B s l h^2 (1 + s/(6h) + V/(12 l h))",
            r->flops_narayanan);
    fprintf(f, "  (Narayanan et al. 2021, %s recomputation; B = %d the global batch, V the padded vocabulary); "
               "counted GEMM by GEMM: %.4g%s\n",
            rc ? "with" : "without", l->global_batch, r->flops_iteration,
            m->arch == PLAN_BERT ? " (BERT adds the MLM transform, pooler and sentence head)"
            : plan_ffn(m) != 4 * m->hidden_size ? " (the closed form assumes FFN = 4h)"
                                                 : " (the same for GPT with FFN = 4h)");

    fprintf(f, "\n%-79sseconds\n", "time per iteration (one rank)");
    snprintf(label, sizeof label, "compute: FLOPs / TP at %.3f x %.1f TFLOP/s", mach->efficiency, peak / 1e12);
    row(f, label, r->t_compute, "");
    snprintf(label, sizeof label, "element-wise work TP does not divide: %.0f passes over b s h per layer",
             sw->rep_fwd * (1 + rc) + sw->rep_bwd);
    row(f, label, r->t_replicated, "");
    if (tp > 1) {
        snprintf(label, sizeof label, "TP all-reduces: %.0f, ring of %d %s", r->tp_allreduces, tp,
                 tp <= mach->gpus_per_node ? "inside a node" : "across nodes");
        row(f, label, r->t_tp, "");
        fprintf(f, "    per micro-batch: 2 forward + 2 backward per layer%s, embedding and LM head 2 (%.1f MB each:\n"
                   "    b s h x %d bytes), cross-entropy %d small; each 2(n-1)/n x bytes / bandwidth + 2(n-1) "
                   "steps of latency\n",
                rc ? " + 2 recomputed" : "", (double)l->micro_batch * m->seq_length * m->hidden_size * d / 1e6, d,
                sw->xent_allreduces);
    } else {
        row(f, "TP all-reduces: none (TP = 1)", 0.0, "");
    }
    snprintf(label, sizeof label, "optimizer step (%s, memory-bound)", l->optimizer == PLAN_ADAM ? "Adam" : "LAMB");
    row(f, label, r->t_optimizer, "");
    if (dp > 1) {
        const char *how = l->zero1 ? "reduce-scatter + all-gather after backward, not overlapped"
                          : !sw->overlap ? "one flattened all-reduce after backward, not overlapped"
                          : r->dp_buckets > 1 ? "overlapped with the last micro-batch's backward"
                                              : "one bucket, so reduced after backward";
        row(f, "DP gradient reduction, exposed", r->t_dp_exposed, "");
        fprintf(f, "    %.2f GB per rank in %d bucket(s), %s; on its own %.4f s\n    (ring over %d ranks%s)\n",
                r->dp_bytes / 1e9, r->dp_buckets, how, r->t_dp, dp,
                r->nodes > 1 ? " through each node's network links, shared by the DP groups of its TP ranks"
                             : " inside one node");
    } else {
        row(f, "DP gradient reduction: none (DP = 1)", 0.0, "");
    }
    row(f, "iteration", r->t_iteration, "");
}

/* ---------------------------------------------------------------- dry run */

int plan_dry_run(const gpt_config_t *cfg, int tp, int world, int micro, int global, int zero1, FILE *out,
                 err_t *err) {
    if (gpt_config_validate(cfg, tp, err) != 0) return -1;
    if (world <= 0) return err_set(err, "--world-size must be positive (got %d)", world);
    if (world % tp != 0)
        return err_set(err, "--world-size %d is not a multiple of --tensor-model-parallel-size %d", world, tp);
    int dp = world / tp;
    if (micro <= 0) return err_set(err, "--micro-batch-size must be positive (got %d)", micro);
    if (global <= 0) return err_set(err, "--global-batch-size must be positive (got %d)", global);
    if (global % ((int64_t)micro * dp) != 0)
        return err_set(err,
                       "--global-batch-size %d is not a multiple of --micro-batch-size %d x data-parallel size "
                       "%d (= %lld)",
                       global, micro, dp, (long long)micro * dp);
    plan_model_t m;
    plan_model_from_gpt(&m, cfg);
    int64_t analytic = gpt_param_count(cfg, tp), split_sum = 0, replicated = 0;
    /* every split tensor exactly 1/TP on every rank; the slices of all TP ranks plus
     * the replicated tensors (counted once) must make the analytic count */
    plan_tensor_t t;
    param_list_t pl;
    if (gpt_param_list(cfg, tp, &pl) != 0) return err_set(err, "dry run: out of host memory listing the tensors");
    for (int r = 0; r < tp; r++) {
        for (int k = 0; k < pl.n; k++) {
            plan_tensor_get(&pl, tp, r, k, &t);
            int64_t numel = shape_numel(t.local_shape, t.ndim);
            if (t.split_dim < 0) {
                if (r == 0) replicated += numel;
                continue;
            }
            if (t.local_shape[t.split_dim] * tp != t.global_shape[t.split_dim]) {
                param_list_free(&pl);
                return err_set(err, "dry run: tensor %s does not split evenly over TP %d", t.name, tp);
            }
            split_sum += numel;
        }
    }
    param_list_free(&pl);
    if (split_sum + replicated != analytic)
        return err_set(err, "dry run: the TP ranks hold %lld parameters, gpt_param_count says %lld",
                       (long long)(split_sum + replicated), (long long)analytic);
    int64_t local = plan_local_param_count(&m, tp, 0);
    int mb = global / (micro * dp), F = plan_ffn(&m), L = cfg->num_layers, C = cfg->hidden_size;
    fprintf(out, "dry run: GPT, %d layers, hidden %d, %d heads, FFN %d, sequence %d, vocabulary %d padded to %d\n",
            L, C, cfg->num_attention_heads, F, cfg->seq_length, cfg->vocab_size, gpt_padded_vocab(cfg, tp));
    fprintf(out, "layout: world %d = TP %d x DP %d; micro-batch %d, global batch %d (%d micro-batch(es) per DP "
                 "rank per iteration)%s\n",
            world, tp, dp, micro, global, mb, zero1 ? "; ZeRO-1" : "");
    fprintf(out, "\ntensors of TP rank 0 (TP rank r holds the slice at r x the local size along the split "
                 "dimension):\n");
    plan_print_tensors(out, &m, tp, 0);
    fprintf(out, "  rank total: %lld parameters (%lld in split tensors, %lld replicated on every TP rank)\n",
            (long long)local, (long long)(local - replicated), (long long)replicated);
    fprintf(out, "  across the %d TP ranks: %lld split + %lld replicated = %lld = gpt_param_count\n", tp,
            (long long)split_sum, (long long)replicated, (long long)analytic);

    /* megac trains in fp32: what gpt_create and the optimizer would allocate */
    size_t model_bytes = gpt_memory_bytes(cfg, micro, cfg->seq_length, tp);
    if (model_bytes == (size_t)-1) return err_set(err, "dry run: out of host memory sizing the activations");
    double wbytes = (double)local * 4.0, act = (double)model_bytes - 2.0 * wbytes;
    double shard = zero1 ? ceil((double)local / dp) : (double)local;
    double adam = shard * 8.0, shard_grad = zero1 && dp > 1 ? shard * 4.0 : 0.0;
    char label[120];
    fprintf(out, "\n%-83sGiB\n", "memory per rank (megac, fp32: what gpt_create and the optimizer allocate)");
    row(out, "weights", gib(wbytes), "");
    row(out, "gradients", gib(wbytes), "");
    row(out, zero1 ? "Adam m, v (this rank's 1/DP shard)" : "Adam m, v", gib(adam), "");
    if (shard_grad > 0) row(out, "ZeRO-1 reduce-scattered gradient shard", gib(shard_grad), "");
    snprintf(label, sizeof label, "activations and workspaces (micro-batch %d, sequence %d, gpt_memory_bytes)", micro,
             cfg->seq_length);
    row(out, label, gib(act), "");
    row(out, "total", gib(2.0 * wbytes + adam + shard_grad + act), "");
    fprintf(out, "  (for comparison, what Megatron-LM keeps, Korthikanti et al. 2022 eq. 2, in fp32: %.3f GiB of "
                 "activations)\n",
            gib(cfg->num_layers * layer_activation_bytes(&m, tp, micro, 4)));

    /* communication, as parallel/ and models/ issue it */
    double bt = (double)micro * cfg->seq_length;
    fprintf(out, "\ncommunication per iteration (one rank)\n");
    if (tp > 1) {
        /* per micro-batch: 2 per layer forward + the embedding's, 2 per layer backward +
         * the LM head input's ([b s, h] fp32 each); cross-entropy: the row max ([b s])
         * and the (sum of exponentials, target logit) pair ([2 b s]) */
        double big = (double)(4 * L + 2) * mb, big_bytes = bt * C * 4.0;
        double small = 2.0 * mb, small_bytes = bt * 4.0 + bt * 8.0;
        double ring = 2.0 * (tp - 1) / tp;
        fprintf(out, "  TP: %.0f all-reduces of %.2f MB (per micro-batch %d forward + %d backward: 2 per layer each "
                     "way, the embedding's, the LM head's)\n      and %.0f of the cross-entropy (%.1f KB per "
                     "micro-batch); ring traffic per rank %.3f GB\n",
                big, big_bytes / 1e6, 2 * L + 1, 2 * L + 1, small, small_bytes / 1e3,
                ring * (big * big_bytes + mb * small_bytes) / 1e9);
    } else {
        fprintf(out, "  TP: none (TP = 1)\n");
    }
    if (dp > 1) {
        double bytes = (double)local * 4.0, ring = 2.0 * (dp - 1) / dp;
        if (zero1)
            fprintf(out, "  DP: reduce-scatter of %.3f GB of fp32 gradients + all-gather of %.3f GB of weights; ring "
                         "traffic per rank %.3f GB\n",
                    bytes / 1e9, bytes / 1e9, ring * bytes / 1e9);
        else
            fprintf(out, "  DP: all-reduce of %.3f GB of fp32 gradients in %d bucket(s) of up to %.0fM elements; "
                         "ring traffic per rank %.3f GB\n",
                    bytes / 1e9, (int)ceil(local / default_bucket(dp)), default_bucket(dp) / 1e6, ring * bytes / 1e9);
    } else {
        fprintf(out, "  DP: none (DP = 1)\n");
    }
    fprintf(out, "  and a few scalar all-reduces (loss, gradient norm) per iteration\n");
    return 0;
}
