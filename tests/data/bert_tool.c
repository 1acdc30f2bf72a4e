/* bert_tool.c — prints the samples of an NVIDIA BERT HDF5 shard, for the h5py test:
 *   bert_tool SHARD VOCAB_SIZE
 * One JSON line per sample: {"tokens":[...],"types":[...],"labels":[...],
 * "padding_mask":[...],"loss_mask":[...],"is_random":0|1}; a refused shard
 * prints its error on stderr and exits 1. */
#include <stdio.h>
#include <stdlib.h>

#include "data/bert_dataset.h"

static void print_array(const char *name, const int32_t *v, int n, int last) {
    printf("\"%s\":[", name);
    for (int i = 0; i < n; i++) printf(i ? ",%d" : "%d", v[i]);
    printf("]%s", last ? "" : ",");
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: bert_tool SHARD VOCAB_SIZE\n");
        return 2;
    }
    bert_shard_t sh;
    err_t err = {{0}};
    if (bert_shard_open(&sh, argv[1], atoi(argv[2]), &err) != 0) {
        fprintf(stderr, "bert_tool: %s\n", err.msg);
        return 1;
    }
    int L = sh.seq_length;
    int32_t *buf = malloc(sizeof(int32_t) * (size_t)(5 * L + 1));
    bert_sample_t s = {buf, buf + L, buf + 2 * L, buf + 3 * L, buf + 4 * L, 0, 0};
    int rc = 0;
    for (int64_t i = 0; i < sh.n; i++) {
        if (bert_shard_sample(&sh, i, &s, &err) != 0) {
            fprintf(stderr, "bert_tool: %s\n", err.msg);
            rc = 1;
            break;
        }
        printf("{");
        print_array("tokens", s.tokens, L, 0);
        print_array("types", s.types, L, 0);
        print_array("labels", s.labels, L, 0);
        print_array("padding_mask", s.padding_mask, L, 0);
        print_array("loss_mask", s.loss_mask, L, 0);
        printf("\"is_random\":%d}\n", s.is_random);
    }
    free(buf);
    bert_shard_close(&sh);
    return rc;
}
