/* encode.c — `megac encode`: sentence embeddings of JSON Lines texts with a BERT
 * (a megac checkpoint or a Hugging Face directory): [CLS] or mean pooling,
 * optionally L2-normalized (sentence-transformers' all-MiniLM-L6-v2 is mean +
 * normalize); written as a float32 .npy [texts, hidden] or JSON Lines. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../training/trainer.h"
#include "bert_cli.h"
#include "commands.h"

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

int cmd_encode(int argc, char **argv) {
    bert_cli_t o;
    bert_cli_defaults(&o);
    const char *pooling = "mean";
    int normalize = 0, quiet = 0;
    arg_spec_t spec[BERT_CLI_SPECS + 3];
    bert_cli_specs(&o, spec);
    spec[BERT_CLI_SPECS] = (arg_spec_t){"pooling", ARG_STR, &pooling, "cls | mean (mean: over the real tokens)", 0};
    spec[BERT_CLI_SPECS + 1] = (arg_spec_t){"normalize", ARG_FLAG, &normalize, "divide each embedding by its L2 norm", 0};
    spec[BERT_CLI_SPECS + 2] = (arg_spec_t){"quiet", ARG_FLAG, &quiet, "no summary line on standard error", 0};
    int nspec = BERT_CLI_SPECS + 3, help, rc = 1;
    err_t err = {{0}};
    float *emb = NULL, *hidden = NULL;
    FILE *out = NULL;
    bert_pool_t pool;
    if (args_parse(spec, nspec, argc, argv, "megac encode", &help, &err) != 0) goto done;
    if (help) {
        args_print_help(stdout, "megac encode (--load CKPT | --hf DIR) --input TEXTS.jsonl [--output OUT.npy|.jsonl] [flags]",
                        spec, nspec);
        return 0;
    }
    if (bert_pool_parse(pooling, &pool, &err) != 0) goto done;
    double t0 = trainer_now();
    if (bert_cli_open(&o, 0, 0, &err) != 0) goto done;
    int C = o.m.C;
    emb = malloc(sizeof(float) * (size_t)o.n * C);
    hidden = malloc(sizeof(float) * (size_t)o.B * o.T * C);
    if (!emb || !hidden) {
        err_set(&err, "out of memory for %d embeddings", o.n);
        goto done;
    }
    double t1 = trainer_now();
    for (int i = 0; i < o.n; i += o.B) {
        int nb = o.n - i < o.B ? o.n - i : o.B;
        bert_infer_batch_t b;
        if (bert_infer_pack(o.ids + i, nb, o.vocab.pad, &b, &err) != 0) goto done;
        int brc = bert_infer_encode(&o.m, &b, pool, normalize, hidden, emb + (size_t)i * C, &err);
        bert_infer_batch_free(&b);
        if (brc != 0) {
            err_prefix(&err, "texts %d..%d", i + 1, i + nb);
            goto done;
        }
    }
    double t2 = trainer_now();
    if (o.output && ends_with(o.output, ".npy")) {
        if (infer_write_npy(o.output, emb, o.n, C, &err) != 0) goto done;
    } else {
        if (!(out = bert_cli_output_open(&o, &err))) goto done;
        for (int i = 0; i < o.n; i++) {
            fprintf(out, "{\"index\": %d, \"embedding\": [", i);
            for (int c = 0; c < C; c++) fprintf(out, c ? ", %.9g" : "%.9g", emb[(size_t)i * C + c]);
            fprintf(out, "]}\n");
        }
        FILE *done_out = out;
        out = NULL;
        if (bert_cli_output_close(&o, done_out, 1, &err) != 0) goto done;
    }
    if (!quiet)
        fprintf(stderr, "megac encode: %d texts (%d tokens at most), %s pooling%s, %d x %d float32 in %.2f s "
                "(%.1f texts/s; loading %.2f s)\n", o.n, o.T, pooling, normalize ? ", L2-normalized" : "", o.n, C,
                t2 - t1, o.n / (t2 - t1 > 0 ? t2 - t1 : 1e-9), t1 - t0);
    rc = 0;
done:
    if (out) bert_cli_output_close(&o, out, 0, &err);
    bert_cli_close(&o);
    free(emb), free(hidden);
    if (rc) fprintf(stderr, "megac encode: error: %s\n", err.msg);
    return rc;
}
