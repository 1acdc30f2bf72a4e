/* train_gpt.c — `megac train gpt`: the GPT flags (the shared training and
 * checkpoint flags, the architecture, the data), the configuration they make,
 * --print-params and --dry-run; the training job (training/job.h) runs the rest.
 * Launch with mpirun/srun for tensor and data parallelism; one process needs no
 * launcher. */
#include <stdio.h>
#include <string.h>

#include "../framework/args.h"
#include "../models/gpt.h"
#include "../training/gpt_data.h"
#include "../training/job.h"
#include "commands.h"
#include "../plan/plan_model.h"

typedef struct train_opts {
    train_common_t c;                         /* the flags every model shares */
    const char *preset, *data_path, *tokenizer_type, *vocab_file, *merge_file, *tiktoken_file;
    train_ckpt_opts_t ck;                     /* --save, --load, ... */
    int print_params, dry_run, world_size;
} train_opts_t;

static void print_params(const gpt_config_t *c, const train_common_t *o) {
    int micro_batch = o->micro_batch_size;
    int64_t total = gpt_param_count(c, 1);
    int64_t C = c->hidden_size;
    int64_t emb = (int64_t)gpt_padded_vocab(c, 1) * C + (int64_t)c->max_position_embeddings * C;
    printf("model: %d layers, hidden %d, %d heads, FFN %d, sequence %d, vocabulary %d (padded %d)\n",
           c->num_layers, c->hidden_size, c->num_attention_heads,
           c->ffn_hidden_size > 0 ? c->ffn_hidden_size : 4 * c->hidden_size, c->seq_length, c->vocab_size,
           gpt_padded_vocab(c, 1));
    printf("parameters: %lld (%.3f B); embeddings %lld, transformer layers %lld\n", (long long)total,
           total / 1e9, (long long)emb, (long long)(total - emb));
    double mem = (double)gpt_memory_bytes(c, micro_batch, c->seq_length, 1) + train_common_optimizer_bytes(o, (double)total);
    printf("training memory at micro-batch %d (weights, grads, Adam moments%s, activations): %.2f GiB\n", micro_batch,
           o->bf16 || o->fp16 ? ", fp32 master weights" : "", mem / (1024.0 * 1024.0 * 1024.0));
}

int cmd_train_gpt(int argc, char **argv) {
    gpt_config_t over;
    gpt_config_defaults(&over);
    train_opts_t o = {.tokenizer_type = "Byte"};
    train_common_defaults(&o.c);
    arg_spec_t own[] = {
        {"preset", ARG_STR, &o.preset, "model preset (gpt2-124m gpt2-345m gpt-1.2b gpt-2.5b gpt-4.2b gpt-8.3b)", 0},
        {"num-layers", ARG_INT, &over.num_layers, "transformer layers", 0},
        {"hidden-size", ARG_INT, &over.hidden_size, "hidden size", 0},
        {"num-attention-heads", ARG_INT, &over.num_attention_heads, "attention heads", 0},
        {"ffn-hidden-size", ARG_INT, &over.ffn_hidden_size, "MLP hidden size (default 4 x hidden)", 0},
        {"seq-length", ARG_INT, &over.seq_length, "sequence length", 0},
        {"max-position-embeddings", ARG_INT, &over.max_position_embeddings, "position table size (>= seq-length)", 0},
        {"make-vocab-size-divisible-by", ARG_INT, &over.make_vocab_size_divisible_by, "pad the vocabulary to a multiple of this x TP (128)", 0},
        {"hidden-dropout", ARG_FLOAT, &over.hidden_dropout, "dropout after embeddings and sublayers (0.1)", 0},
        {"attention-dropout", ARG_FLOAT, &over.attention_dropout, "dropout of attention probabilities (0.1)", 0},
        {"layernorm-epsilon", ARG_FLOAT, &over.layernorm_epsilon, "LayerNorm epsilon (1e-5)", 0},
        {"init-method-std", ARG_FLOAT, &over.init_method_std, "weight init standard deviation (0.02)", 0},
        {"data-path", ARG_STRS, &o.data_path, "indexed dataset prefix, a blend \"W1 P1 W2 P2 ...\", or (Byte) a text file", 0},
        {"tokenizer-type", ARG_STR, &o.tokenizer_type, "Byte | GPT2BPETokenizer | BertWordPieceLowerCase | BertWordPieceCase (Byte)", 0},
        {"vocab-file", ARG_STR, &o.vocab_file, "tokenizer vocabulary (vocab.json / vocab.txt)", 0},
        {"merge-file", ARG_STR, &o.merge_file, "GPT-2 BPE merges.txt", 0},
        {"tiktoken-file", ARG_STR, &o.tiktoken_file, "GPT-2 BPE ranks in tiktoken's format (gpt2.tiktoken), instead of the two above", 0},
        {"print-params", ARG_FLAG, &o.print_params, "print the parameter count and memory, allocate nothing", 0},
        {"dry-run", ARG_FLAG, &o.dry_run, "one rank's shapes, parameters, memory and communication for --world-size ranks; allocate nothing", 0},
        {"world-size", ARG_INT, &o.world_size, "ranks the dry run plans for (default: TP)", 0},
    };
    arg_spec_t spec[TRAIN_COMMON_SPECS + TRAIN_CKPT_SPECS + sizeof own / sizeof own[0]];
    train_common_specs(&o.c, spec);
    train_ckpt_specs(&o.ck, spec + TRAIN_COMMON_SPECS);
    memcpy(spec + TRAIN_COMMON_SPECS + TRAIN_CKPT_SPECS, own, sizeof own);
    int nspec = (int)(sizeof spec / sizeof spec[0]);
    const train_common_t *c = &o.c;
    err_t err = {{0}};
    int help, failed = 0;
    gpt_config_t cfg;
    gpt_config_defaults(&cfg);
    if (args_parse(spec, nspec, argc, argv, "megac train gpt", &help, &err) != 0) failed = 1;
    if (!failed && help) {
        args_print_help(stdout, "[mpirun -np N] megac train gpt --data-path FILE --train-iters N --lr X [flags]",
                        spec, nspec);
        return 0;
    }
    if (!failed) {
        /* configuration: preset (or Megatron defaults), then every flag given */
        gpt_config_defaults(&cfg);
        if (o.preset && gpt_config_preset(&cfg, o.preset, &err) != 0) failed = 1;
        if (!failed) args_copy_seen(spec, nspec, &over, sizeof over, &cfg);
        if (!args_seen(spec, nspec, "max-position-embeddings") && cfg.max_position_embeddings < cfg.seq_length)
            cfg.max_position_embeddings = cfg.seq_length;
        o.ck.positions_given = args_seen(spec, nspec, "max-position-embeddings");
    }
    /* the vocabulary comes from the tokenizer; --print-params alone keeps GPT-2's */
    gpt_data_opts_t dopts = {o.data_path, c->split, o.tokenizer_type, o.vocab_file, o.merge_file, o.tiktoken_file,
                             0, 0, 0, 0, NULL};
    if (!failed && (!(o.print_params || o.dry_run) || args_seen(spec, nspec, "tokenizer-type")) &&
        gpt_data_vocab_size(&dopts, &cfg.vocab_size, &err) != 0)
        failed = 1;
    if (!failed && train_common_recompute(c, &cfg.recompute, &err) != 0) failed = 1;
    cfg.use_flash_attn = c->use_flash_attn;
    if (!failed && gpt_config_validate(&cfg, 1, &err) != 0) failed = 1;
    if (!failed && train_common_check_batch(c, &err) != 0) failed = 1;
    if (!failed && o.print_params) {
        print_params(&cfg, c);
        return 0;
    }
    if (!failed && o.dry_run) { /* the planner's numbers for one rank, from the same code as megac plan */
        int world = o.world_size > 0 ? o.world_size : c->tensor_parallel;
        int dp = c->tensor_parallel > 0 ? world / c->tensor_parallel : 0;
        int gb = c->global_batch_size > 0 ? c->global_batch_size : c->micro_batch_size * (dp > 0 ? dp : 1);
        if (plan_dry_run(&cfg, c->tensor_parallel, world, c->micro_batch_size, gb, c->distributed_optimizer, stdout,
                         &err) != 0) {
            fprintf(stderr, "megac train gpt: error: %s\n", err.msg);
            return 1;
        }
        return 0;
    }
    return train_job_main(&train_task_gpt, &cfg, &o.c, &o.ck, &dopts, failed, &err, argc, argv);
}
