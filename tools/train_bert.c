/* train_bert.c — `megac train bert`: BERT pretraining (masked LM + sentence order
 * or next sentence) on Megatron sentence-level datasets or NVIDIA's HDF5 shards:
 * the BERT flags (the shared training and checkpoint flags, the architecture,
 * the data) and the configuration they make; the training job
 * (training/job.h) runs the rest, with tensor and data parallelism, ZeRO-1,
 * Adam or LAMB, and checkpoints (--save/--load, any layout loads any other). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../framework/args.h"
#include "../models/bert.h"
#include "../training/bert_data.h"
#include "../training/job.h"
#include "commands.h"

int cmd_train_bert(int argc, char **argv) {
    train_common_t o;
    train_common_defaults(&o);
    bert_config_t over;
    bert_config_defaults(&over);
    const char *preset = NULL, *data_path = NULL, *tokenizer_type = "BertWordPieceLowerCase", *vocab_file = NULL;
    const char *ln_order = NULL;
    int no_binary_head = 0;
    float mask_prob = 0.15f, short_seq_prob = 0.1f;
    train_ckpt_opts_t ck = {0};
    arg_spec_t spec[TRAIN_COMMON_SPECS + TRAIN_CKPT_SPECS + 24];
    train_common_specs(&o, spec);
    train_ckpt_specs(&ck, spec + TRAIN_COMMON_SPECS);
    arg_spec_t own[] = {
        {"preset", ARG_STR, &preset, "bert-base | bert-large | bert-3.9b", 0},
        {"num-layers", ARG_INT, &over.num_layers, "encoder layers", 0},
        {"hidden-size", ARG_INT, &over.hidden_size, "hidden size", 0},
        {"num-attention-heads", ARG_INT, &over.num_attention_heads, "attention heads", 0},
        {"ffn-hidden-size", ARG_INT, &over.ffn_hidden_size, "MLP hidden size (default 4 x hidden)", 0},
        {"seq-length", ARG_INT, &over.seq_length, "sequence length (128 or 512 in NVIDIA's phases)", 0},
        {"max-position-embeddings", ARG_INT, &over.max_position_embeddings, "position table size (512)", 0},
        {"max-predictions-per-seq", ARG_INT, &over.max_predictions_per_seq, "masked positions per sequence at most (ceil(mask-prob x seq))", 0},
        {"make-vocab-size-divisible-by", ARG_INT, &over.make_vocab_size_divisible_by, "pad the vocabulary to a multiple of this x TP (128)", 0},
        {"hidden-dropout", ARG_FLOAT, &over.hidden_dropout, "dropout after embeddings and sublayers (0.1)", 0},
        {"attention-dropout", ARG_FLOAT, &over.attention_dropout, "dropout of attention probabilities (0.1)", 0},
        {"layernorm-epsilon", ARG_FLOAT, &over.layernorm_epsilon, "LayerNorm epsilon (1e-12; 1e-5 for bert-3.9b)", 0},
        {"init-method-std", ARG_FLOAT, &over.init_method_std, "weight init standard deviation (0.02)", 0},
        {"bert-layernorm-order", ARG_STR, &ln_order, "post (original BERT) | pre (Megatron; bert-3.9b's default)", 0},
        {"bert-no-binary-head", ARG_FLAG, &no_binary_head, "masked LM only: no sentence head", 0},
        {"data-path", ARG_STRS, &data_path, "sentence-level dataset prefix (megac preprocess --split-sentences) or .hdf5 shards", 0},
        {"tokenizer-type", ARG_STR, &tokenizer_type, "BertWordPieceLowerCase | BertWordPieceCase", 0},
        {"vocab-file", ARG_STR, &vocab_file, "BERT vocab.txt (required)", 0},
        {"mask-prob", ARG_FLOAT, &mask_prob, "fraction of tokens masked (0.15)", 0},
        {"short-seq-prob", ARG_FLOAT, &short_seq_prob, "probability of a shorter target length (0.1)", 0},
    };
    int nown = (int)(sizeof own / sizeof own[0]);
    memcpy(spec + TRAIN_COMMON_SPECS + TRAIN_CKPT_SPECS, own, sizeof own);
    int nspec = TRAIN_COMMON_SPECS + TRAIN_CKPT_SPECS + nown;
    err_t err = {{0}};
    int help, failed = 0;
    bert_config_t cfg;
    bert_config_defaults(&cfg);
    if (args_parse(spec, nspec, argc, argv, "megac train bert", &help, &err) != 0) failed = 1;
    if (!failed && help) {
        args_print_help(stdout, "[mpirun -np N] megac train bert --data-path P --vocab-file F --train-iters N --lr X [flags]",
                        spec, nspec);
        return 0;
    }
    if (!failed) {
        bert_config_defaults(&cfg);
        if (preset && bert_config_preset(&cfg, preset, &err) != 0) failed = 1;
        if (!failed) args_copy_seen(spec, nspec, &over, sizeof over, &cfg);
        if (ln_order && strcmp(ln_order, "pre") == 0) cfg.pre_ln = 1;
        else if (ln_order && strcmp(ln_order, "post") == 0) cfg.pre_ln = 0;
        else if (ln_order) failed = err_set(&err, "--bert-layernorm-order: '%s' is not pre or post", ln_order) != 0;
        if (no_binary_head) cfg.binary_head = 0;
        /* masked positions per sequence: --mask-prob of the sequence, rounded up
         * (NVIDIA's data: 20 at 128, 80 at 512) unless given */
        if (!args_seen(spec, nspec, "max-predictions-per-seq")) {
            int mp = (int)ceil(mask_prob * cfg.seq_length);
            cfg.max_predictions_per_seq = mp < 1 ? 1 : mp;
        }
        if (!args_seen(spec, nspec, "max-position-embeddings") && cfg.max_position_embeddings < cfg.seq_length)
            cfg.max_position_embeddings = cfg.seq_length;
        ck.positions_given = args_seen(spec, nspec, "max-position-embeddings");
    }
    if (!failed && !(mask_prob > 0.0f && mask_prob < 1.0f))
        failed = err_set(&err, "--mask-prob must be in (0, 1) (got %g)", mask_prob) != 0;
    bert_data_opts_t dopts = {data_path, o.split, tokenizer_type, vocab_file, cfg.seq_length, cfg.max_predictions_per_seq,
                              cfg.binary_head, mask_prob, short_seq_prob, (uint64_t)o.seed, {0, 0, 0}, {NULL, NULL, NULL}, NULL};
    if (!failed && bert_data_vocab_size(&dopts, &cfg.vocab_size, &err) != 0) failed = 1;
    if (!failed && train_common_recompute(&o, &cfg.recompute, &err) != 0) failed = 1;
    cfg.use_flash_attn = o.use_flash_attn;
    if (!failed && bert_config_validate(&cfg, 1, &err) != 0) failed = 1;

    return train_job_main(&train_task_bert, &cfg, &o, &ck, &dopts, failed, &err, argc, argv);
}
