/* bert_cli.c — model, tokenizer and input for megac encode / fill-mask (see bert_cli.h). */
#include "bert_cli.h"

#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../checkpoints/checkpoint.h"
#include "../data/file_util.h"
#include "../convert/hf_bert.h"
#include "../models/model_checkpoint.h"

void bert_cli_defaults(bert_cli_t *o) {
    memset(o, 0, sizeof *o);
    o->tokenizer_type = "BertWordPieceLowerCase", o->device = "auto", o->json_key = "text";
    o->micro_batch_size = 16;
}

void bert_cli_specs(bert_cli_t *o, arg_spec_t *s) {
    arg_spec_t specs[BERT_CLI_SPECS] = {
        {"load", ARG_STR, &o->load, "a megac BERT checkpoint (root or iter_NNNNNNN directory)", 0},
        {"hf", ARG_STR, &o->hf, "or a Hugging Face BERT directory (config.json, model.safetensors, vocab.txt)", 0},
        {"input", ARG_STR, &o->input, "JSON Lines, one object per text (required)", 0},
        {"json-key", ARG_STR, &o->json_key, "the key holding each text (text)", 0},
        {"output", ARG_STR, &o->output, "output file (default: standard output, JSON Lines)", 0},
        {"vocab-file", ARG_STR, &o->vocab_file, "WordPiece vocab.txt (default with --hf: its vocab.txt)", 0},
        {"tokenizer-type", ARG_STR, &o->tokenizer_type, "BertWordPieceLowerCase | BertWordPieceCase (lower case)", 0},
        {"micro-batch-size", ARG_INT, &o->micro_batch_size, "texts per forward pass (16)", 0},
        {"max-seq-length", ARG_INT, &o->max_seq_length, "tokens per text at most, [CLS] and [SEP] included (the model's positions)", 0},
        {"device", ARG_STR, &o->device, "cpu | cuda | auto (auto: cuda when megac has it and a GPU is present)", 0},
    };
    memcpy(s, specs, sizeof specs);
}

/* the texts of the JSON Lines file: each non-empty line an object with json_key a string */
static int read_texts(bert_cli_t *o, err_t *err) {
    char *data;
    size_t len;
    if (file_read_all(o->input, "--input", &data, &len, err) != 0) return -1;
    int cap = 0, line = 0, rc = 0;
    for (char *p = data, *end = data + len; p < end && rc == 0;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        line++;
        char *q = p;
        p += n + 1;
        while (n > 0 && (q[n - 1] == '\r' || q[n - 1] == ' ')) n--;
        if (n == 0) continue;
        cJSON *root = cJSON_ParseWithLength(q, n);
        const cJSON *v = root ? cJSON_GetObjectItemCaseSensitive(root, o->json_key) : NULL;
        if (!cJSON_IsString(v)) {
            rc = err_set(err, "--input %s line %d: not a JSON object with a string \"%s\"", o->input, line, o->json_key);
        } else {
            if (o->n == cap) {
                cap = cap ? 2 * cap : 64;
                char **t = realloc(o->texts, (size_t)cap * sizeof *t);
                if (!t) rc = err_set(err, "out of memory reading --input");
                else o->texts = t;
            }
            if (rc == 0 && !(o->texts[o->n++] = strdup(v->valuestring))) rc = err_set(err, "out of memory");
        }
        cJSON_Delete(root);
    }
    free(data);
    if (rc == 0 && o->n == 0) rc = err_set(err, "--input %s holds no texts", o->input);
    return rc;
}

int bert_cli_open(bert_cli_t *o, int need_mlm, int max_masks, err_t *err) {
    ckpt_reader_t rd;
    memset(&rd, 0, sizeof rd);
    int rc = -1;
    char path[CKPT_PATH_MAX], vocab_path[CKPT_PATH_MAX];
    if (!o->load == !o->hf) return err_set(err, "give the model with --load (a megac checkpoint) or --hf (a directory)");
    if (!o->input) return err_set(err, "--input is required (JSON Lines)");
    if (o->micro_batch_size <= 0) return err_set(err, "--micro-batch-size must be positive (got %d)", o->micro_batch_size);
    if (o->max_seq_length < 0 || o->max_seq_length == 1)
        return err_set(err, "--max-seq-length must be at least 2 (got %d)", o->max_seq_length);
    int lower;
    if (strcmp(o->tokenizer_type, "BertWordPieceLowerCase") == 0) lower = 1;
    else if (strcmp(o->tokenizer_type, "BertWordPieceCase") == 0) lower = 0;
    else return err_set(err, "--tokenizer-type: '%s' is not BertWordPieceLowerCase or BertWordPieceCase", o->tokenizer_type);
    /* the configuration */
    if (o->hf) {
        snprintf(path, sizeof path, "%s/config.json", o->hf);
        if (hf_bert_config(path, &o->cfg, err) != 0) return err_prefix(err, "--hf");
    } else {
        if (ckpt_locate(o->load, path, sizeof path, err) != 1 || ckpt_open(&rd, path, 0, err) != 0)
            return err_prefix(err, "--load");
        if (bert_ckpt_get_config(&rd.meta, &o->cfg, err) != 0) {
            err_prefix(err, "--load %s", path);
            goto out;
        }
    }
    /* the tokenizer and the texts */
    if (!o->vocab_file && o->hf) snprintf(vocab_path, sizeof vocab_path, "%s/vocab.txt", o->hf);
    else if (!o->vocab_file) {
        err_set(err, "--vocab-file is required with --load (the training run's vocab.txt)");
        goto out;
    } else snprintf(vocab_path, sizeof vocab_path, "%s", o->vocab_file);
    if (wordpiece_load(&o->wp, vocab_path, lower, err) != 0 || bert_infer_vocab(&o->vocab, o->wp, err) != 0) {
        err_prefix(err, "--vocab-file");
        goto out;
    }
    int max_len = o->max_seq_length > 0 ? o->max_seq_length : o->cfg.max_position_embeddings;
    if (max_len > o->cfg.max_position_embeddings) {
        err_set(err, "--max-seq-length %d exceeds the model's %d positions", max_len, o->cfg.max_position_embeddings);
        goto out;
    }
    if (read_texts(o, err) != 0) goto out;
    o->ids = calloc((size_t)o->n, sizeof *o->ids);
    if (!o->ids) {
        err_set(err, "out of memory");
        goto out;
    }
    o->T = 2;
    for (int i = 0; i < o->n; i++) {
        if (bert_infer_tokenize(&o->vocab, o->texts[i], strlen(o->texts[i]), max_len, &o->ids[i], err) != 0) goto out;
        o->T = o->ids[i].n > (size_t)o->T ? (int)o->ids[i].n : o->T;
        int masks = 0;
        for (size_t t = 0; t < o->ids[i].n; t++) masks += o->ids[i].v[t] == o->vocab.mask;
        if (max_masks > 0 && masks > max_masks) {
            err_set(err, "--input text %d has %d [MASK] tokens; at most %d", i + 1, masks, max_masks);
            goto out;
        }
    }
    /* the model, for these texts */
    o->B = o->micro_batch_size < o->n ? o->micro_batch_size : o->n;
    o->cfg.seq_length = o->T;
    o->cfg.max_predictions_per_seq = max_masks > 0 ? max_masks : 1;
    o->cfg.hidden_dropout = o->cfg.attention_dropout = 0.0f;
    if (!(o->be = backend_by_name(o->device, err))) goto out;
    if (bert_create(&o->m, &o->cfg, o->be, o->B, o->T, NULL, err) != 0) goto out;
    bert_init_weights(&o->m, 1);
    if (o->hf) {
        hf_bert_found_t found;
        snprintf(path, sizeof path, "%s/model.safetensors", o->hf);
        if (hf_bert_load(&o->m, path, &found, err) != 0) {
            err_prefix(err, "--hf");
            goto out;
        }
        if (need_mlm && !found.mlm_head) {
            err_set(err, "--hf %s: the model has no masked-LM head (cls.predictions.*): a BertModel, not BertForMaskedLM",
                    o->hf);
            goto out;
        }
    } else {
        ckpt_param_t *cp = calloc((size_t)o->m.store.n, sizeof *cp);
        if (!cp) {
            err_set(err, "out of memory");
            goto out;
        }
        bert_ckpt_params(&o->m, cp);
        int lrc = ckpt_load_params(&rd, o->be, cp, o->m.store.n, err);
        free(cp);
        if (lrc != 0) {
            err_prefix(err, "--load");
            goto out;
        }
    }
    rc = 0;
out:
    ckpt_close(&rd);
    return rc;
}

void bert_cli_close(bert_cli_t *o) {
    if (o->m.store.params) bert_destroy(&o->m);
    if (o->wp) wordpiece_free(o->wp);
    for (int i = 0; i < o->n; i++) {
        free(o->texts[i]);
        if (o->ids) free(o->ids[i].v);
    }
    free(o->texts), free(o->ids);
    o->texts = NULL, o->ids = NULL, o->wp = NULL, o->n = 0;
}

FILE *bert_cli_output_open(const bert_cli_t *o, err_t *err) {
    FILE *out = o->output ? fopen(o->output, "w") : stdout;
    if (!out) err_set(err, "--output %s: %s", o->output, strerror(errno));
    return out;
}

int bert_cli_output_close(const bert_cli_t *o, FILE *out, int ok, err_t *err) {
    int flushed = !ok || (fflush(out) == 0 && !ferror(out));
    int closed = out == stdout || fclose(out) == 0;
    if (ok && !(flushed && closed))
        return err_set(err, "--output %s: write failed", o->output ? o->output : "(standard output)");
    return 0;
}

void bert_cli_json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\') fprintf(f, "\\%c", *c);
        else if (*c == '\n') fputs("\\n", f);
        else if (*c < 0x20) fprintf(f, "\\u%04x", *c);
        else fputc(*c, f);
    }
    fputc('"', f);
}
