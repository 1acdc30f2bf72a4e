/* megac.c — the `megac` command: dispatches to its subcommands. */
#include <stdio.h>
#include <string.h>

#include "commands.h"

static void usage(FILE *f) {
    fprintf(f,
            "megac %s — Megatron-style model-parallel training in C\n\n"
            "usage: megac <command> [flags]\n\n"
            "commands:\n"
            "  train gpt    pretrain a GPT model (megac train gpt --help)\n"
            "  train bert   pretrain BERT: masked LM + sentence order (megac train bert --help)\n"
            "  generate     sample text from trained weights\n"
            "  bench        training-step throughput against this machine's sgemm peak\n"
            "  ckpt         inspect, verify, reshard, convert (Hugging Face) and time checkpoints\n"
            "  preprocess   tokenize JSON Lines into Megatron .bin/.idx datasets\n"
            "  plan         memory, FLOPs and time of a model and layout on a cluster\n"
            "  --version    print the version\n",
            MEGAC_VERSION);
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--version") == 0) {
        printf("megac %s\n", MEGAC_VERSION);
        return 0;
    }
    if (strcmp(cmd, "train") == 0) {
        if (argc < 3 || argv[2][0] == '-') {
            fprintf(stderr, "megac train: name the model to train: megac train gpt [flags]\n");
            return 2;
        }
        if (strcmp(argv[2], "gpt") == 0) return cmd_train_gpt(argc - 3, argv + 3);
        if (strcmp(argv[2], "bert") == 0) return cmd_train_bert(argc - 3, argv + 3);
        fprintf(stderr, "megac train: unknown model '%s' (known: gpt, bert)\n", argv[2]);
        return 2;
    }
    if (strcmp(cmd, "generate") == 0) return cmd_generate(argc - 2, argv + 2);
    if (strcmp(cmd, "bench") == 0) return cmd_bench(argc - 2, argv + 2);
    if (strcmp(cmd, "ckpt") == 0) return cmd_ckpt(argc - 2, argv + 2);
    if (strcmp(cmd, "preprocess") == 0) return cmd_preprocess(argc - 2, argv + 2);
    if (strcmp(cmd, "plan") == 0) return cmd_plan(argc - 2, argv + 2);
    fprintf(stderr, "megac: unknown command '%s' (see megac --help)\n", cmd);
    return 2;
}
