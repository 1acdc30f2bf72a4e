/* megac_logits.c CKPT TOKENS OUT — test helper: loads a megac GPT or BERT
 * checkpoint (any layout) at TP 1 on the CPU and runs the forward on TOKENS (raw
 * int32, B rows of T, B given by the file's length / T where T = the checkpoint's
 * seq_length).
 *   GPT: writes OUT, the logits (raw float32 [B, T, vocabulary]), and prints the
 *        mean cross-entropy of predicting token t+1 from t (the last predicts the first).
 *   BERT: token types 1 from T/2 on, masked-LM targets the tokens at t % 3 == 1,
 *        sentence labels b % 2 (as tests/megatron/mcore_tool.py); prints
 *        "losses MLM SOP" and writes them to OUT (two float64). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoints/checkpoint.h"
#include "models/bert.h"
#include "models/gpt.h"

static void ckpt_params_of(const tensor_t *ts, const param_list_t *pl, int n, int64_t pad, ckpt_param_t *cp) {
    for (int k = 0; k < n; k++) { /* as models' checkpoint code: vocabulary rows unpadded */
        cp[k].t = &ts[k];
        cp[k].real_extent = ts[k].split_dim >= 0 ? ts[k].global_shape[ts[k].split_dim] : 0;
        cp[k].pad_multiple = 1;
        if (pl->specs[k].valid_rows > 0) cp[k].real_extent = pl->specs[k].valid_rows, cp[k].pad_multiple = pad;
    }
}

static int run_bert(ckpt_reader_t *r, const int *tok, long ntok, const char *out_path, err_t *err) {
    bert_config_t cfg;
    if (bert_config_from_text(&cfg, r->meta.model_config, err) != 0) return -1;
    int T = cfg.seq_length, B = (int)(ntok / T), rc = -1, n = 0;
    bert_model_t m;
    memset(&m, 0, sizeof m);
    ckpt_param_t *cp = NULL;
    int *types = malloc((size_t)B * T * sizeof(int)), *pos = malloc((size_t)B * T * sizeof(int));
    int *lab = malloc((size_t)B * T * sizeof(int)), *sop = malloc((size_t)B * sizeof(int));
    float *ones = malloc((size_t)B * T * sizeof(float));
    if (!types || !pos || !lab || !sop || !ones) goto out;
    for (int i = 0; i < B * T; i++) ones[i] = 1.0f; /* no padding */
    for (int b = 0; b < B; b++) {
        sop[b] = b % 2;
        for (int t = 0; t < T; t++) {
            types[b * T + t] = t >= T / 2;
            if (t % 3 == 1) pos[n] = b * T + t, lab[n++] = tok[b * T + t];
        }
    }
    if (n > B * cfg.max_predictions_per_seq) cfg.max_predictions_per_seq = (n + B - 1) / B;
    if (bert_create(&m, &cfg, backend_cpu(), B, T, NULL, err) != 0) goto out;
    if (!(cp = calloc((size_t)m.store.n, sizeof *cp))) goto out;
    ckpt_params_of(m.store.params, &m.store.list, m.store.n, cfg.make_vocab_size_divisible_by, cp);
    cp[m.p_lm_bias].real_extent = cfg.vocab_size, cp[m.p_lm_bias].pad_multiple = cfg.make_vocab_size_divisible_by;
    if (ckpt_load_params(r, backend_cpu(), cp, m.store.n, err) != 0) goto out;
    bert_batch_t bt = {B, T, tok, types, ones, n, pos, lab, sop};
    bert_result_t res;
    if (bert_forward(&m, &bt, 0, 0, &res, err) != 0) goto out;
    double both[2] = {res.mlm_loss, res.sop_loss};
    FILE *o = fopen(out_path, "wb");
    if (!o || fwrite(both, sizeof both, 1, o) != 1) {
        if (o) fclose(o);
        err_set(err, "%s: cannot write", out_path);
        goto out;
    }
    fclose(o);
    printf("losses %.9g %.9g over %d x %d tokens, %d masked\n", res.mlm_loss, res.sop_loss, B, T, n);
    rc = 0;
out:
    if (rc && !err->msg[0]) err_set(err, "out of memory");
    if (m.store.params) bert_destroy(&m);
    free(cp), free(types), free(pos), free(lab), free(sop), free(ones);
    return rc;
}

static int run(const char *ckpt, const char *tok_path, const char *out_path, err_t *err) {
    char dir[CKPT_PATH_MAX];
    if (ckpt_locate(ckpt, dir, sizeof dir, err) != 1) return -1;
    ckpt_reader_t r;
    if (ckpt_open(&r, dir, 0, err) != 0) return -1;
    gpt_config_t cfg;
    int rc = -1;
    gpt_model_t m;
    memset(&m, 0, sizeof m);
    ckpt_param_t *cp = NULL;
    int *tok = NULL, *tgt = NULL;
    float *logits = NULL;
    int bert = strcmp(r.meta.model_type, "bert") == 0;
    if (!bert && gpt_config_from_text(&cfg, r.meta.model_config, err) != 0) goto out;
    if (bert) {
        bert_config_t bc;
        if (bert_config_from_text(&bc, r.meta.model_config, err) != 0) goto out;
        cfg.seq_length = bc.seq_length;
    }
    FILE *f = fopen(tok_path, "rb");
    if (!f) {
        err_set(err, "%s: cannot open", tok_path);
        goto out;
    }
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    fseek(f, 0, SEEK_SET);
    int T = cfg.seq_length, B = (int)(bytes / 4 / T);
    tok = malloc((size_t)B * T * sizeof(int));
    tgt = malloc((size_t)B * T * sizeof(int));
    if (B < 1 || bytes != (long)B * T * 4 || !tok || !tgt || fread(tok, 4, (size_t)B * T, f) != (size_t)B * T) {
        fclose(f);
        err_set(err, "%s: not B x %d int32 tokens", tok_path, T);
        goto out;
    }
    fclose(f);
    if (bert) {
        rc = run_bert(&r, tok, (long)B * T, out_path, err);
        goto out;
    }
    if (gpt_create(&m, &cfg, backend_cpu(), B, T, NULL, err) != 0) goto out;
    cp = calloc((size_t)m.store.n, sizeof *cp);
    if (cp) ckpt_params_of(m.store.params, &m.store.list, m.store.n, cfg.make_vocab_size_divisible_by, cp);
    if (!cp || ckpt_load_params(&r, backend_cpu(), cp, m.store.n, err) != 0) goto out;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) tgt[b * T + t] = t + 1 < T ? tok[b * T + t + 1] : tok[b * T];
    double loss;
    if (gpt_forward(&m, tok, tgt, NULL, B, T, 0, 0, &loss, err) != 0) goto out;
    int V = cfg.vocab_size;
    logits = malloc((size_t)m.V_local * sizeof(float));
    FILE *o = fopen(out_path, "wb");
    if (!logits || !o) {
        if (o) fclose(o);
        err_set(err, "%s: cannot write", out_path);
        goto out;
    }
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            gpt_logits_at(&m, b, t, logits);
            fwrite(logits, sizeof(float), (size_t)V, o);
        }
    if (fclose(o) != 0) {
        err_set(err, "%s: write failed", out_path);
        goto out;
    }
    printf("loss %.9g over %d x %d tokens, vocabulary %d\n", loss, B, T, V);
    rc = 0;
out:
    if (m.store.params) gpt_destroy(&m);
    ckpt_close(&r);
    free(cp), free(tok), free(tgt), free(logits);
    return rc;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: megac_logits CKPT TOKENS OUT\n");
        return 2;
    }
    err_t err = {{0}};
    if (run(argv[1], argv[2], argv[3], &err) != 0) {
        fprintf(stderr, "megac_logits: error: %s\n", err.msg);
        return 1;
    }
    return 0;
}
