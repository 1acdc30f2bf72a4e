/* gpt_data.c — tokenizer and dataset selection for GPT training (see gpt_data.h). */
#include "gpt_data.h"

#include <string.h>

int gpt_data_vocab_size(const gpt_data_opts_t *o, int *vocab, err_t *err) {
    if (strcmp(o->tokenizer_type, "Byte") == 0) {
        *vocab = BYTE_VOCAB_SIZE;
        return 0;
    }
    return err_set(err, "--tokenizer-type: unknown tokenizer '%s' (supported: Byte)", o->tokenizer_type);
}

int gpt_data_open(gpt_data_t *d, const gpt_data_opts_t *o, int seq_length, uint64_t seed, err_t *err) {
    memset(d, 0, sizeof *d);
    if (gpt_data_vocab_size(o, &d->vocab_size, err) != 0) return -1;
    if (!o->data_path) return err_set(err, "--data-path is required (a text file to train on)");
    if (text_dataset_open(&d->text, o->data_path, seq_length, o->split, seed, err) != 0) return -1;
    d->tokens = d->text.nbytes;
    return 0;
}

void gpt_data_close(gpt_data_t *d) {
    text_dataset_close(&d->text);
    memset(d, 0, sizeof *d);
}

int64_t gpt_data_num_samples(const gpt_data_t *d, int split) { return text_dataset_num_windows(&d->text, split); }

void gpt_data_sample(const gpt_data_t *d, int split, int64_t index, int *out) {
    text_dataset_sample(&d->text, split, index, out);
}
