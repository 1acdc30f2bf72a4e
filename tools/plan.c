/* plan.c — `megac plan`: before a cluster allocation is spent, whether a model
 * and layout fit on a machine and how fast they will go — memory per rank,
 * FLOPs, communication, time per iteration, PFLOP/s and weak-scaling efficiency.
 * The arithmetic lives in plan/plan_model.c; this file reads flags and prints. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../models/gpt.h"
#include "../framework/args.h"
#include "commands.h"
#include "../plan/plan_model.h"

typedef struct plan_opts {
    const char *model, *preset, *precision, *optimizer, *software, *gpu, *recompute_granularity;
    int layers, hidden, heads, ffn, seq, max_pos, vocab, vocab_multiple;
    int tp, dp, world, micro, global, recompute, zero1, dry_run, bert_record, gpn;
    long long bucket, train_iters;
    float peak16, peak32, mem_gb, hbm_gbs, intra_gbs, intra_us, inter_gbs, inter_us, efficiency, reserve_gb;
} plan_opts_t;

static int parse_enum(const char *flag, const char *v, const char *const *names, int n, int *out, err_t *err) {
    for (int i = 0; i < n; i++)
        if (strcmp(v, names[i]) == 0) return *out = i, 0;
    char known[128] = "";
    for (int i = 0; i < n; i++) {
        strncat(known, names[i], sizeof known - strlen(known) - 1);
        if (i + 1 < n) strncat(known, " | ", sizeof known - strlen(known) - 1);
    }
    return err_set(err, "--%s: unknown value '%s' (%s)", flag, v, known);
}

/* The machine: a preset, then any flag given overrides its field. A GPU that is
 * not a preset needs its peak, memory and memory bandwidth. */
static int build_machine(const plan_opts_t *o, const arg_spec_t *spec, int n, plan_machine_t *m, int *fp32_guessed,
                         err_t *err) {
    err_t ignore;
    *fp32_guessed = 0;
    if (plan_machine_preset(m, o->gpu, &ignore) != 0) {
        if (!args_seen(spec, n, "gpu-peak-tflops") || !args_seen(spec, n, "gpu-memory-gb") ||
            !args_seen(spec, n, "gpu-memory-bandwidth"))
            return err_set(err, "--gpu: '%s' is not one of %s; describe it with --gpu-peak-tflops, --gpu-memory-gb "
                                "and --gpu-memory-bandwidth", o->gpu, plan_gpu_names());
        plan_machine_preset(m, "V100-32GB", &ignore); /* node and network defaults: a DGX-2H */
        snprintf(m->gpu, sizeof m->gpu, "%s", o->gpu);
        m->peak_flops32 = 0; /* unknown unless given */
    }
    if (args_seen(spec, n, "gpu-peak-tflops")) m->peak_flops16 = o->peak16 * 1e12;
    if (args_seen(spec, n, "gpu-peak-fp32-tflops")) m->peak_flops32 = o->peak32 * 1e12;
    if (m->peak_flops32 <= 0) m->peak_flops32 = m->peak_flops16 / 8.0, *fp32_guessed = 1; /* stated when used */
    if (args_seen(spec, n, "gpu-memory-gb")) m->memory_bytes = o->mem_gb * 1073741824.0;
    if (args_seen(spec, n, "gpu-memory-bandwidth")) m->hbm_bandwidth = o->hbm_gbs * 1e9;
    if (args_seen(spec, n, "gpus-per-node")) m->gpus_per_node = o->gpn;
    if (args_seen(spec, n, "intra-node-bandwidth")) m->intra_bandwidth = o->intra_gbs * 1e9;
    if (args_seen(spec, n, "intra-node-latency")) m->intra_latency = o->intra_us * 1e-6;
    if (args_seen(spec, n, "inter-node-bandwidth")) m->inter_bandwidth = o->inter_gbs * 1e9;
    if (args_seen(spec, n, "inter-node-latency")) m->inter_latency = o->inter_us * 1e-6;
    if (args_seen(spec, n, "reserve-gb")) {
        if (o->reserve_gb < 0) return err_set(err, "--reserve-gb must not be negative");
        m->reserve_bytes = o->reserve_gb * 1073741824.0;
    }
    m->efficiency = args_seen(spec, n, "compute-efficiency") ? o->efficiency : plan_calibrate();
    return 0;
}

static void print_calibration(const plan_machine_t *mach, int given) {
    if (given)
        printf("compute efficiency: %.3f of peak (given by --compute-efficiency)\n", mach->efficiency);
    else
        printf("compute efficiency: %.3f of peak, calibrated once so that this model gives Megatron-LM's single-GPU "
               "baseline:\n  39 TFLOP/s for the 1.2B GPT (40 layers, hidden 1536, batch 8, recomputation, fp16) on "
               "one V100 of a DGX-2H\n  (Shoeybi et al. 2019, \"Megatron-LM\", section 5.1); applied to any GPU as "
               "a fraction of its peak\n",
               mach->efficiency);
}

static void print_throughput(const plan_model_t *m, const plan_layout_t *l, const plan_machine_t *mach,
                             const plan_result_t *r) {
    plan_result_t base, one;
    err_t err;
    printf("\nthroughput: %.3f PFLOP/s aggregate, %.1f TFLOP/s per GPU (%.0f%% of the 16-bit peak)\n",
           r->pflops_total, r->tflops_per_gpu,
           100.0 * r->tflops_per_gpu * 1e12 /
               (l->precision == PLAN_FP32 ? mach->peak_flops32 : mach->peak_flops16));
    if (plan_baseline(mach, l->software, &base, &err) == 0)
        printf("weak-scaling efficiency: %.1f%% of the single-GPU baseline on this GPU (%.1f TFLOP/s: the 1.2B "
               "GPT at\n  TP = DP = 1, batch 8, as Megatron-LM measures scaling)\n",
               100.0 * r->tflops_per_gpu / base.tflops_per_gpu, base.tflops_per_gpu);
    plan_layout_t single = *l;
    single.tp = single.dp = 1;
    single.global_batch = single.micro_batch;
    single.zero1 = 0;
    if (plan_evaluate(m, &single, mach, &one, &err) == 0)
        printf("  and %.1f%% of this model on one GPU (%.1f TFLOP/s at micro-batch %d, memory ignored)\n",
               100.0 * r->tflops_per_gpu / one.tflops_per_gpu, one.tflops_per_gpu, l->micro_batch);
    int slice = m->hidden_size / l->tp;
    if (slice < 384)
        printf("note: hidden / TP = %d per rank is narrow; the efficiency was calibrated at hidden 1536 on one GPU, "
               "and Megatron-LM's\n  strong-scaling run at such a width (the 1.2B GPT at TP 8, hidden / TP = 192: "
               "2.98x one GPU, Shoeybi et al. Table 8)\n  was much slower than this model predicts (5.3x)\n",
               slice);
}

/* NVIDIA's BERT-Large record, phase by phase (plan_bert_record_phase) */
static int bert_record(const plan_machine_t *mach, plan_software_t sw, err_t *err) {
    int gpus = PLAN_BERT_RECORD_NODES * mach->gpus_per_node;
    printf("BERT-Large, NVIDIA's 1,472-V100 record: %d nodes of %d %s = %d GPUs, TP 1 x DP %d, fp16, LAMB, no "
           "recomputation\n(published: %.0f minutes in all; per-GPU batches from NVIDIA's DeepLearningExamples "
           "configs for 92 DGX-2H)\n",
           PLAN_BERT_RECORD_NODES, mach->gpus_per_node, mach->gpu, gpus, gpus, PLAN_BERT_RECORD_MINUTES);
    print_calibration(mach, 0);
    double total = 0;
    for (int p = 0; p < 2; p++) {
        plan_record_phase_t ph;
        plan_model_t mp;
        plan_layout_t l;
        plan_result_t r;
        if (plan_bert_record_phase(mach, sw, p, &ph, &mp, &l, err) != 0) return -1;
        if (plan_evaluate(&mp, &l, mach, &r, err) != 0) return -1;
        double minutes = r.t_iteration * ph.steps / 60.0;
        total += minutes;
        printf("\n=== phase %d: sequence %d, micro-batch %d x %d accumulation x %d GPUs = global batch %d, %d "
               "steps ===\n\n",
               p + 1, ph.seq, ph.micro, ph.accumulation, gpus, l.global_batch, ph.steps);
        plan_print_report(stdout, &mp, "bert-large", &l, mach, &r);
        printf("\nphase %d: %.3f s per step x %d steps = %.1f minutes; %.2f PFLOP/s aggregate, %.1f TFLOP/s per GPU\n",
               p + 1, r.t_iteration, ph.steps, minutes, r.pflops_total, r.tflops_per_gpu);
        if (r.mem.total > mach->memory_bytes)
            return err_set(err, "phase %d does not fit: %.2f GiB per rank, the %s has %.2f GiB", p + 1,
                           r.mem.total / 1073741824.0, mach->gpu, mach->memory_bytes / 1073741824.0);
    }
    printf("\npredicted time to train: %.1f minutes (phase 1 + phase 2; published record: %.0f minutes, %+.0f%%)\n",
           total, PLAN_BERT_RECORD_MINUTES, 100.0 * (total / PLAN_BERT_RECORD_MINUTES - 1.0));
    return 0;
}

int cmd_plan(int argc, char **argv) {
    plan_opts_t o;
    memset(&o, 0, sizeof o);
    o.model = "gpt", o.precision = "fp16", o.optimizer = "adam", o.software = "megac", o.gpu = "V100-32GB";
    o.tp = 1, o.micro = 8;
    gpt_config_t gcfg;
    gpt_config_defaults(&gcfg);
    arg_spec_t spec[] = {
        {"model", ARG_STR, &o.model, "gpt | bert (gpt)", 0},
        {"preset", ARG_STR, &o.preset, "GPT: gpt2-124m gpt2-345m gpt-1.2b gpt-2.5b gpt-4.2b gpt-8.3b; BERT: bert-base "
                                       "bert-large bert-3.9b", 0},
        {"num-layers", ARG_INT, &o.layers, "transformer layers", 0},
        {"hidden-size", ARG_INT, &o.hidden, "hidden size", 0},
        {"num-attention-heads", ARG_INT, &o.heads, "attention heads", 0},
        {"ffn-hidden-size", ARG_INT, &o.ffn, "FFN size (4 x hidden)", 0},
        {"seq-length", ARG_INT, &o.seq, "sequence length (GPT 1024, BERT 512)", 0},
        {"max-position-embeddings", ARG_INT, &o.max_pos, "position embeddings (the sequence length; BERT 512)", 0},
        {"vocab-size", ARG_INT, &o.vocab, "vocabulary before padding (GPT 50257, BERT 30522)", 0},
        {"make-vocab-size-divisible-by", ARG_INT, &o.vocab_multiple, "pad the vocabulary to this x TP (128)", 0},
        {"tensor-model-parallel-size", ARG_INT, &o.tp, "TP size (1)", 0},
        {"data-parallel-size", ARG_INT, &o.dp, "DP size (the world size / TP)", 0},
        {"world-size", ARG_INT, &o.world, "GPUs in all (TP x DP)", 0},
        {"micro-batch-size", ARG_INT, &o.micro, "micro-batch per rank (8)", 0},
        {"global-batch-size", ARG_INT, &o.global, "global batch (micro-batch x DP)", 0},
        {"precision", ARG_STR, &o.precision, "fp32 | fp16 | bf16 (fp16: mixed precision, fp32 master weights)", 0},
        {"recompute-activations", ARG_FLAG, &o.recompute, "selective recomputation (core attention), as Megatron-LM", 0},
        {"recompute-granularity", ARG_STR, &o.recompute_granularity,
         "full | selective (full: every layer's forward again, as the 2019-2021 papers)", 0},
        {"use-distributed-optimizer", ARG_FLAG, &o.zero1, "ZeRO-1: optimizer state sharded over DP", 0},
        {"optimizer", ARG_STR, &o.optimizer, "adam | lamb (adam)", 0},
        {"software", ARG_STR, &o.software, "megac | megatron-2019: whose kernels and DDP the time model describes "
                                           "(megac)", 0},
        {"ddp-bucket-size", ARG_I64, &o.bucket, "DP gradient bucket in elements (max(40M, 1M x DP))", 0},
        {"gpu", ARG_STR, &o.gpu, "V100-32GB | A100-80GB | H100-80GB, or a name with the three flags below", 0},
        {"gpu-peak-tflops", ARG_FLOAT, &o.peak16, "dense 16-bit tensor-core peak, TFLOP/s", 0},
        {"gpu-peak-fp32-tflops", ARG_FLOAT, &o.peak32, "fp32 peak, TFLOP/s (peak / 8 if not given)", 0},
        {"gpu-memory-gb", ARG_FLOAT, &o.mem_gb, "memory per GPU, GiB", 0},
        {"gpu-memory-bandwidth", ARG_FLOAT, &o.hbm_gbs, "memory bandwidth, GB/s", 0},
        {"gpus-per-node", ARG_INT, &o.gpn, "GPUs per node (V100: 16, a DGX-2H; A100, H100: 8)", 0},
        {"intra-node-bandwidth", ARG_FLOAT, &o.intra_gbs, "GB/s per GPU per direction inside a node", 0},
        {"intra-node-latency", ARG_FLOAT, &o.intra_us, "microseconds per ring step inside a node (3.4)", 0},
        {"inter-node-bandwidth", ARG_FLOAT, &o.inter_gbs, "GB/s per node per direction between nodes", 0},
        {"inter-node-latency", ARG_FLOAT, &o.inter_us, "microseconds per ring step between nodes (14)", 0},
        {"compute-efficiency", ARG_FLOAT, &o.efficiency, "fraction of peak for the compute (calibrated)", 0},
        {"reserve-gb", ARG_FLOAT, &o.reserve_gb, "CUDA context, workspaces and slack per GPU, GiB (1)", 0},
        {"train-iters", ARG_I64, &o.train_iters, "also print the time to train this many iterations", 0},
        {"dry-run", ARG_FLAG, &o.dry_run, "one rank's tensors, memory and communication (GPT: as megac train gpt "
                                          "would allocate)", 0},
        {"bert-record", ARG_FLAG, &o.bert_record, "the BERT-Large configuration of NVIDIA's 1,472-V100 record", 0},
    };
    int n = (int)(sizeof spec / sizeof spec[0]), help;
    err_t err = {{0}};
    plan_model_t m;
    plan_layout_t l;
    plan_machine_t mach;
    plan_result_t r;
    int arch = 0, prec = 0, opt = 0, sw = 0, fp32_guessed = 0;
    static const char *const archs[] = {"gpt", "bert"}, *const precs[] = {"fp32", "fp16", "bf16"};
    static const char *const opts[] = {"adam", "lamb"}, *const sws[] = {"megac", "megatron-2019"};
    const char *name = "custom";

    if (args_parse(spec, n, argc, argv, "megac plan", &help, &err) != 0) goto fail;
    if (help) {
        args_print_help(stdout, "megac plan [--model gpt|bert] [--preset NAME] [model, layout and machine flags]", spec,
                        n);
        return 0;
    }
    if (parse_enum("model", o.model, archs, 2, &arch, &err) != 0 ||
        parse_enum("precision", o.precision, precs, 3, &prec, &err) != 0 ||
        parse_enum("optimizer", o.optimizer, opts, 2, &opt, &err) != 0 ||
        parse_enum("software", o.software, sws, 2, &sw, &err) != 0)
        goto fail;
    if (build_machine(&o, spec, n, &mach, &fp32_guessed, &err) != 0) goto fail;
    if (o.bert_record) {
        if (bert_record(&mach, (plan_software_t)sw, &err) != 0) goto fail;
        return 0;
    }

    /* the model: a preset, then any model flag given overrides it */
    if (arch == PLAN_GPT) {
        if (o.preset && gpt_config_preset(&gcfg, o.preset, &err) != 0) goto fail;
#define OVERRIDE(flag, field, value) \
    if (args_seen(spec, n, flag)) gcfg.field = value;
        OVERRIDE("num-layers", num_layers, o.layers)
        OVERRIDE("hidden-size", hidden_size, o.hidden)
        OVERRIDE("num-attention-heads", num_attention_heads, o.heads)
        OVERRIDE("ffn-hidden-size", ffn_hidden_size, o.ffn)
        OVERRIDE("vocab-size", vocab_size, o.vocab)
        OVERRIDE("make-vocab-size-divisible-by", make_vocab_size_divisible_by, o.vocab_multiple)
        OVERRIDE("max-position-embeddings", max_position_embeddings, o.max_pos)
        if (args_seen(spec, n, "seq-length")) {
            gcfg.seq_length = o.seq;
            if (!args_seen(spec, n, "max-position-embeddings") && gcfg.max_position_embeddings < o.seq)
                gcfg.max_position_embeddings = o.seq;
        }
#undef OVERRIDE
        if (gpt_config_validate(&gcfg, o.tp, &err) != 0) goto fail;
        plan_model_from_gpt(&m, &gcfg);
    } else {
        if (plan_bert_preset(&m, o.preset ? o.preset : "bert-large", &err) != 0) goto fail;
        if (args_seen(spec, n, "num-layers")) m.num_layers = o.layers;
        if (args_seen(spec, n, "hidden-size")) m.hidden_size = o.hidden;
        if (args_seen(spec, n, "num-attention-heads")) m.num_heads = o.heads;
        if (args_seen(spec, n, "ffn-hidden-size")) m.ffn_hidden_size = o.ffn;
        if (args_seen(spec, n, "seq-length")) m.seq_length = o.seq;
        if (args_seen(spec, n, "max-position-embeddings")) m.max_position_embeddings = o.max_pos;
        if (args_seen(spec, n, "vocab-size")) m.vocab_size = o.vocab;
        if (args_seen(spec, n, "make-vocab-size-divisible-by")) m.vocab_multiple = o.vocab_multiple;
        if (plan_model_validate(&m, o.tp, &err) != 0) goto fail;
        if (!o.preset) o.preset = "bert-large";
    }
    if (o.preset) name = o.preset;

    /* the layout: world = TP x DP */
    if (o.tp <= 0) {
        err_set(&err, "--tensor-model-parallel-size must be positive (got %d)", o.tp);
        goto fail;
    }
    if (args_seen(spec, n, "world-size")) {
        if (o.world <= 0) {
            err_set(&err, "--world-size must be positive (got %d)", o.world);
            goto fail;
        }
        if (o.world % o.tp != 0) {
            err_set(&err, "--world-size %d is not a multiple of --tensor-model-parallel-size %d", o.world, o.tp);
            goto fail;
        }
        if (args_seen(spec, n, "data-parallel-size") && o.dp * o.tp != o.world) {
            err_set(&err, "--data-parallel-size %d x --tensor-model-parallel-size %d is not --world-size %d", o.dp,
                    o.tp, o.world);
            goto fail;
        }
        o.dp = o.world / o.tp;
    } else if (!args_seen(spec, n, "data-parallel-size")) {
        o.dp = 1;
    }
    if (!args_seen(spec, n, "global-batch-size")) o.global = o.micro * o.dp;
    if (o.dry_run && arch == PLAN_GPT) {
        if (plan_dry_run(&gcfg, o.tp, o.tp * o.dp, o.micro, o.global, o.zero1, stdout, &err) != 0) goto fail;
        return 0;
    }
    /* Megatron's flags, as megac train reads them; full is modelled as uniform groups of one layer */
    tf_recompute_t rcp;
    int full = o.recompute_granularity && strcmp(o.recompute_granularity, "full") == 0;
    if (tf_recompute_parse(&rcp, o.recompute, o.recompute_granularity, full ? "uniform" : NULL, full ? 1 : 0, &err) != 0)
        goto fail;
    int recompute = rcp.granularity == TF_RECOMPUTE_FULL        ? PLAN_RECOMPUTE_FULL
                    : rcp.granularity == TF_RECOMPUTE_SELECTIVE ? PLAN_RECOMPUTE_SELECTIVE
                                                                : PLAN_RECOMPUTE_NONE;
    l = (plan_layout_t){o.tp, o.dp, o.micro, o.global, (plan_precision_t)prec, recompute, o.zero1,
                        (plan_optimizer_t)opt, (plan_software_t)sw, o.bucket};
    if (plan_evaluate(&m, &l, &mach, &r, &err) != 0) goto fail;
    if (o.dry_run) { /* BERT: one rank's tensors, then the plan */
        printf("tensors of TP rank 0 (TP rank r holds the slice at r x the local size along the split dimension):\n");
        int64_t local = plan_print_tensors(stdout, &m, o.tp, 0);
        printf("  rank total: %lld parameters; all TP ranks: %lld\n\n", (long long)local,
               (long long)plan_param_count(&m, o.tp));
    }
    plan_print_report(stdout, &m, name, &l, &mach, &r);
    if (prec == PLAN_FP32 && fp32_guessed)
        printf("note: fp32 peak taken as 1/8 of the 16-bit peak (no --gpu-peak-fp32-tflops)\n");
    printf("\n");
    print_calibration(&mach, args_seen(spec, n, "compute-efficiency"));
    print_throughput(&m, &l, &mach, &r);
    if (o.train_iters > 0)
        printf("time to train %lld iterations: %.2f hours\n", o.train_iters, r.t_iteration * o.train_iters / 3600.0);
    if (r.mem.total > mach.memory_bytes) {
        /* name the flags that would help and are not in use yet */
        char hint[256] = "";
        if (l.recompute == PLAN_RECOMPUTE_NONE) strcat(hint, "--recompute-activations, ");
        if (l.recompute != PLAN_RECOMPUTE_FULL) strcat(hint, "--recompute-granularity full, ");
        if (l.dp > 1 && !l.zero1 && l.software == PLAN_SW_MEGAC) strcat(hint, "--use-distributed-optimizer, ");
        if (l.micro_batch > 1) strcat(hint, "a smaller --micro-batch-size, ");
        strcat(hint, "a larger --tensor-model-parallel-size");
        err_set(&err, "does not fit: %.2f GiB per rank, the %s has %.2f GiB (short by %.2f GiB); try %s",
                r.mem.total / 1073741824.0, mach.gpu, mach.memory_bytes / 1073741824.0,
                (r.mem.total - mach.memory_bytes) / 1073741824.0, hint);
        goto fail;
    }
    return 0;
fail:
    fprintf(stderr, "megac plan: error: %s\n", err.msg);
    return 1;
}
