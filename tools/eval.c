/* eval.c — `megac eval gpt|bert`: evaluation without training. The training
 * command with Megatron's --skip-train: the same flags (model, data, --load,
 * --tensor-model-parallel-size under mpirun for any TP x DP layout, --eval-iters,
 * --metrics-file, --tensorboard-dir), one validation of --eval-iters global
 * batches of the validation split, no optimizer step: loss and perplexity (GPT),
 * loss and masked-LM / sentence accuracy (BERT). */
#include <stdlib.h>
#include <string.h>

#include "commands.h"

static int with_skip_train(int (*train)(int, char **), int argc, char **argv) {
    char **a = malloc(sizeof(char *) * (size_t)(argc + 2));
    if (!a) return 1;
    memcpy(a, argv, sizeof(char *) * (size_t)argc);
    a[argc] = "--skip-train";
    a[argc + 1] = NULL;
    int rc = train(argc + 1, a);
    free(a);
    return rc;
}

int cmd_eval_gpt(int argc, char **argv) { return with_skip_train(cmd_train_gpt, argc, argv); }
int cmd_eval_bert(int argc, char **argv) { return with_skip_train(cmd_train_bert, argc, argv); }
