/* bert_cli.h — what `megac encode` and `megac fill-mask` share: the model flags
 * (--load a megac BERT checkpoint, or --hf a Hugging Face BERT directory with
 * config.json, model.safetensors and vocab.txt), the WordPiece tokenizer, the
 * JSON Lines input (tokenized up front, so the model's buffers fit the longest
 * text), and the batch loop's sizes. */
#ifndef MEGAC_BERT_CLI_H
#define MEGAC_BERT_CLI_H

#include "../framework/backend.h"
#include "../inference/bert_infer.h"
#include "../models/bert.h"
#include "../framework/args.h"

typedef struct bert_cli {
    /* flags */
    const char *load, *hf, *vocab_file, *tokenizer_type, *device, *input, *json_key, *output;
    int micro_batch_size, max_seq_length;
    /* state */
    bert_config_t cfg;
    bert_model_t m;
    backend_t *be;
    wordpiece_t *wp;
    bert_infer_vocab_t vocab;
    int n;          /* texts */
    char **texts;   /* [n] */
    tok_buf_t *ids; /* [n]: [CLS] ... [SEP] */
    int B, T;       /* the model's buffers */
} bert_cli_t;

#define BERT_CLI_SPECS 10

void bert_cli_defaults(bert_cli_t *o);
void bert_cli_specs(bert_cli_t *o, arg_spec_t *out);
/* Reads the configuration, the tokenizer and the texts, builds the model for
 * them and loads its weights. need_mlm: the weights must hold the masked-LM
 * head; max_masks: buffers for this many [MASK] per text (fill-mask), else 0. */
int bert_cli_open(bert_cli_t *o, int need_mlm, int max_masks, err_t *err);
void bert_cli_close(bert_cli_t *o);

/* --output opened for writing (standard output without it); NULL with a message. */
FILE *bert_cli_output_open(const bert_cli_t *o, err_t *err);
/* Closes what bert_cli_output_open gave (standard output stays open). After a
 * complete write (ok), a failed flush or close is an error naming --output. */
int bert_cli_output_close(const bert_cli_t *o, FILE *out, int ok, err_t *err);

/* Writes text as a JSON string (quotes and escapes) to f. */
void bert_cli_json_string(FILE *f, const char *text);

#endif
