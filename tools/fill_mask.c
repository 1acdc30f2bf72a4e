/* fill_mask.c — `megac fill-mask`: the k most likely tokens, with their softmax
 * probabilities, for each [MASK] of each JSON Lines text, from a BERT's
 * masked-LM head (a megac checkpoint, or a Hugging Face BertForMaskedLM /
 * BertForPreTraining directory). One JSON line per text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bert_cli.h"
#include "commands.h"

#define MAX_MASKS 8 /* per text: the masked-LM buffers hold B x this many rows */

int cmd_fill_mask(int argc, char **argv) {
    bert_cli_t o;
    bert_cli_defaults(&o);
    int top_k = 5;
    arg_spec_t spec[BERT_CLI_SPECS + 1];
    bert_cli_specs(&o, spec);
    spec[BERT_CLI_SPECS] = (arg_spec_t){"top-k", ARG_INT, &top_k, "tokens per [MASK] (5)", 0};
    int nspec = BERT_CLI_SPECS + 1, help, rc = 1;
    err_t err = {{0}};
    float *logits = NULL, *probs = NULL;
    int *pos = NULL, *ids = NULL;
    FILE *out = NULL;
    if (args_parse(spec, nspec, argc, argv, "megac fill-mask", &help, &err) != 0) goto done;
    if (help) {
        args_print_help(stdout, "megac fill-mask (--load CKPT | --hf DIR) --input TEXTS.jsonl [flags]\n"
                        "  (each text holds one or more [MASK], at most 8)", spec, nspec);
        return 0;
    }
    if (top_k <= 0) {
        err_set(&err, "--top-k must be positive (got %d)", top_k);
        goto done;
    }
    if (bert_cli_open(&o, 1, MAX_MASKS, &err) != 0) goto done;
    int V = o.cfg.vocab_size, Vw = wordpiece_vocab_size(o.wp);
    V = V < Vw ? V : Vw; /* ids that name a token */
    top_k = top_k < V ? top_k : V;
    size_t rows = (size_t)o.B * MAX_MASKS;
    logits = malloc(sizeof(float) * rows * o.m.V_local);
    pos = malloc(sizeof(int) * (size_t)o.B * o.T);
    ids = malloc(sizeof(int) * (size_t)top_k), probs = malloc(sizeof(float) * (size_t)top_k);
    if (!logits || !pos || !ids || !probs) {
        err_set(&err, "out of memory");
        goto done;
    }
    if (!(out = bert_cli_output_open(&o, &err))) goto done;
    for (int i = 0; i < o.n; i += o.B) {
        int nb = o.n - i < o.B ? o.n - i : o.B, nm;
        bert_infer_batch_t b;
        if (bert_infer_pack(o.ids + i, nb, o.vocab.pad, &b, &err) != 0) goto done;
        int brc = bert_infer_mask_logits(&o.m, &b, o.vocab.mask, pos, &nm, logits, &err);
        if (brc != 0) {
            bert_infer_batch_free(&b);
            err_prefix(&err, "texts %d..%d", i + 1, i + nb);
            goto done;
        }
        for (int s = 0, k = 0; s < nb; s++) {
            fprintf(out, "{\"index\": %d, \"text\": ", i + s);
            bert_cli_json_string(out, o.texts[i + s]);
            fprintf(out, ", \"masks\": [");
            for (int first = 1; k < nm && pos[k] / b.T == s; k++, first = 0) {
                bert_infer_topk(logits + (size_t)k * o.m.V_local, V, top_k, ids, probs);
                fprintf(out, "%s{\"position\": %d, \"top\": [", first ? "" : ", ", pos[k] % b.T);
                for (int j = 0; j < top_k; j++) {
                    fprintf(out, "%s{\"id\": %d, \"token\": ", j ? ", " : "", ids[j]);
                    bert_cli_json_string(out, wordpiece_token(o.wp, ids[j]));
                    fprintf(out, ", \"score\": %.6g}", probs[j]);
                }
                fprintf(out, "]}");
            }
            fprintf(out, "]}\n");
        }
        bert_infer_batch_free(&b);
    }
    rc = 0;
done:
    if (out && bert_cli_output_close(&o, out, rc == 0, &err) != 0) rc = 1;
    bert_cli_close(&o);
    free(logits), free(pos), free(ids), free(probs);
    if (rc) fprintf(stderr, "megac fill-mask: error: %s\n", err.msg);
    return rc;
}
