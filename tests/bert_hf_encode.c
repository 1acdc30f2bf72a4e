/* bert_hf_encode.c — loads a Hugging Face BERT (config.json + model.safetensors)
 * into megac's BERT and writes the encoder's output for a batch:
 *   bert_hf_encode MODEL_DIR BATCH OUT
 * BATCH is text: "B T", then B*T token ids, B*T token types, B*T mask values
 * (1 token, 0 padding); OUT receives B*T*hidden float32 values. */
#include <stdio.h>
#include <stdlib.h>

#include "framework/backend.h"
#include "models/bert.h"
#include "convert/hf_bert.h"

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: bert_hf_encode MODEL_DIR BATCH OUT\n");
        return 2;
    }
    err_t err;
    char path[4096];
    bert_config_t cfg;
    snprintf(path, sizeof path, "%s/config.json", argv[1]);
    if (hf_bert_config(path, &cfg, &err) != 0) goto fail;
    FILE *f = fopen(argv[2], "r");
    int B, T;
    if (!f || fscanf(f, "%d %d", &B, &T) != 2 || B <= 0 || T <= 1 || B * T > 1 << 20) {
        fprintf(stderr, "bert_hf_encode: bad batch file %s\n", argv[2]);
        return 1;
    }
    int *tok = malloc(sizeof(int) * B * T), *types = malloc(sizeof(int) * B * T);
    float *mask = malloc(sizeof(float) * B * T);
    for (int i = 0; i < B * T; i++) if (fscanf(f, "%d", &tok[i]) != 1) return 1;
    for (int i = 0; i < B * T; i++) if (fscanf(f, "%d", &types[i]) != 1) return 1;
    for (int i = 0; i < B * T; i++) if (fscanf(f, "%f", &mask[i]) != 1) return 1;
    fclose(f);
    cfg.seq_length = T;
    cfg.max_predictions_per_seq = T; /* the encoder alone: no masked positions are used */
    bert_model_t m;
    if (bert_create(&m, &cfg, backend_cpu(), B, T, NULL, &err) != 0) goto fail;
    bert_init_weights(&m, 1);
    snprintf(path, sizeof path, "%s/model.safetensors", argv[1]);
    if (hf_bert_load(&m, path, NULL, &err) != 0) goto fail;
    bert_batch_t b = {B, T, tok, types, mask, 0, NULL, NULL, NULL};
    bert_result_t r;
    if (bert_forward(&m, &b, 0, 0, &r, &err) != 0) goto fail;
    float *out = malloc(sizeof(float) * (size_t)B * T * cfg.hidden_size);
    bert_hidden_states(&m, out);
    FILE *o = fopen(argv[3], "wb");
    if (!o || fwrite(out, sizeof(float), (size_t)B * T * cfg.hidden_size, o) != (size_t)B * T * cfg.hidden_size) return 1;
    fclose(o);
    printf("bert_hf_encode: %d layers, hidden %d, %d heads: wrote %d x %d x %d hidden states\n", cfg.num_layers,
           cfg.hidden_size, cfg.num_attention_heads, B, T, cfg.hidden_size);
    bert_destroy(&m);
    free(tok), free(types), free(mask), free(out);
    return 0;
fail:
    fprintf(stderr, "bert_hf_encode: %s\n", err.msg);
    return 1;
}
