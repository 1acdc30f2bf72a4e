/* megac.c — the `megac` command: dispatches to its subcommands through one
 * table, which `megac --help` prints (so every command has its help line). */
#include <stdio.h>
#include <string.h>

#include "commands.h"

typedef struct command {
    const char *name; /* one word, or "group word" (train gpt) */
    int (*run)(int argc, char **argv);
    const char *help;
} command_t;

static const command_t COMMANDS[] = {
    {"train gpt", cmd_train_gpt, "pretrain a GPT model (megac train gpt --help)"},
    {"train bert", cmd_train_bert, "pretrain BERT: masked LM + sentence order"},
    {"eval gpt", cmd_eval_gpt, "validation loss and perplexity of GPT weights (train gpt --skip-train)"},
    {"eval bert", cmd_eval_bert, "validation loss, masked-LM and sentence accuracy of BERT weights"},
    {"generate", cmd_generate, "sample text from trained GPT weights"},
    {"encode", cmd_encode, "BERT sentence embeddings of JSON Lines texts (.npy or JSON Lines)"},
    {"fill-mask", cmd_fill_mask, "BERT's top-k tokens for each [MASK] in JSON Lines texts"},
    {"bench", cmd_bench, "training-step throughput against this machine's sgemm peak"},
    {"ckpt", cmd_ckpt, "inspect|verify|reshard|bench|export-hf|import-hf|export-megatron|import-megatron"},
    {"preprocess", cmd_preprocess, "tokenize JSON Lines into Megatron .bin/.idx datasets"},
    {"plan", cmd_plan, "memory, FLOPs and time of a model and layout on a cluster"},
};
#define NUM_COMMANDS (sizeof COMMANDS / sizeof COMMANDS[0])

static void usage(FILE *f) {
    fprintf(f, "megac %s — Megatron-style model-parallel training in C\n\nusage: megac <command> [flags]"
               "   (megac <command> --help: its flags)\n\ncommands:\n", MEGAC_VERSION);
    for (size_t i = 0; i < NUM_COMMANDS; i++) fprintf(f, "  %-12s %s\n", COMMANDS[i].name, COMMANDS[i].help);
    fprintf(f, "  %-12s %s\n  %-12s %s\n", "--version", "print the version", "--help", "this list");
}

/* the length of name's first word when it is "group word", else 0 */
static size_t group_len(const char *name) {
    const char *sp = strchr(name, ' ');
    return sp ? (size_t)(sp - name) : 0;
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
    int group = 0;
    for (size_t i = 0; i < NUM_COMMANDS; i++) {
        const char *name = COMMANDS[i].name;
        size_t g = group_len(name);
        if (g == 0 && strcmp(cmd, name) == 0) return COMMANDS[i].run(argc - 2, argv + 2);
        if (g > 0 && strlen(cmd) == g && strncmp(cmd, name, g) == 0) {
            group = 1;
            if (argc >= 3 && strcmp(argv[2], name + g + 1) == 0) return COMMANDS[i].run(argc - 3, argv + 3);
        }
    }
    if (group) { /* "train" without a known model: name the known ones */
        fprintf(stderr, "megac %s: ", cmd);
        if (argc < 3 || argv[2][0] == '-') fprintf(stderr, "name what to run (");
        else fprintf(stderr, "unknown '%s' (known: ", argv[2]);
        const char *sep = "";
        for (size_t i = 0; i < NUM_COMMANDS; i++) {
            size_t g = group_len(COMMANDS[i].name);
            if (g == strlen(cmd) && strncmp(cmd, COMMANDS[i].name, g) == 0)
                fprintf(stderr, "%s%s", sep, COMMANDS[i].name + g + 1), sep = ", ";
        }
        fprintf(stderr, ")\n");
        return 2;
    }
    fprintf(stderr, "megac: unknown command '%s' (see megac --help)\n", cmd);
    return 2;
}
