/* generate.c — `megac generate`: sample text from a checkpoint's weights (any
 * layout, loaded at TP=1) with temperature and top-k, one token at a time over a
 * sliding window. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../models/model_checkpoint.h"
#include "../framework/backend.h"
#include "../data/tokenizer.h"
#include "../framework/rng.h"
#include "../models/gpt.h"
#include "../framework/args.h"
#include "commands.h"

#define GENERATE_CONTEXTS_MAX 1000

/* Picks a token from logits[0..V) with temperature and top-k; u in [0,1). */
static int sample_token(float *logits, int V, float temperature, int top_k, float *scratch, double u) {
    if (temperature <= 0.0f) {
        int best = 0;
        for (int i = 1; i < V; i++)
            if (logits[i] > logits[best]) best = i;
        return best;
    }
    float cutoff = -INFINITY;
    if (top_k > 0 && top_k < V) {
        /* the k-th largest logit: partial selection on a copy */
        memcpy(scratch, logits, sizeof(float) * V);
        for (int i = 0; i < top_k; i++) {
            int best = i;
            for (int j = i + 1; j < V; j++)
                if (scratch[j] > scratch[best]) best = j;
            float t = scratch[i];
            scratch[i] = scratch[best];
            scratch[best] = t;
        }
        cutoff = scratch[top_k - 1];
    }
    float mx = -INFINITY;
    for (int i = 0; i < V; i++) mx = logits[i] > mx ? logits[i] : mx;
    double sum = 0.0;
    for (int i = 0; i < V; i++) {
        double p = logits[i] >= cutoff ? exp((logits[i] - mx) / temperature) : 0.0;
        scratch[i] = (float)p;
        sum += p;
    }
    double acc = 0.0, target = u * sum;
    for (int i = 0; i < V; i++) {
        acc += scratch[i];
        if (acc > target && scratch[i] > 0.0f) return i;
    }
    for (int i = V - 1; i >= 0; i--)
        if (scratch[i] > 0.0f) return i;
    return 0;
}

int cmd_generate(int argc, char **argv) {
    const char *load = NULL, *prompt = "\n", *device = "auto", *tokenizer_type = "Byte";
    const char *vocab_file = NULL, *merge_file = NULL, *tiktoken_file = NULL;
    int max_new = 200, top_k = 40;
    float temperature = 0.8f;
    long long seed = 1234;
    arg_spec_t spec[] = {
        {"load", ARG_STR, &load, "checkpoint directory of megac train gpt --save (its latest iteration, or an iter_NNNNNNN directory; required)", 0},
        {"prompt", ARG_STR, &prompt, "text to continue (default: a newline)", 0},
        {"max-new-tokens", ARG_INT, &max_new, "tokens to generate (200)", 0},
        {"temperature", ARG_FLOAT, &temperature, "softmax temperature, 0 = greedy (0.8)", 0},
        {"top-k", ARG_INT, &top_k, "sample among the k most likely tokens, 0 = all (40)", 0},
        {"seed", ARG_I64, &seed, "sampling seed (1234)", 0},
        {"device", ARG_STR, &device, "cpu | cuda | auto (auto: cuda when megac has it and a GPU is present)", 0},
        {"tokenizer-type", ARG_STR, &tokenizer_type, "the training run's: Byte | GPT2BPETokenizer | BertWordPiece* (Byte)", 0},
        {"vocab-file", ARG_STR, &vocab_file, "tokenizer vocabulary (vocab.json / vocab.txt)", 0},
        {"merge-file", ARG_STR, &merge_file, "GPT-2 BPE merges.txt", 0},
        {"tiktoken-file", ARG_STR, &tiktoken_file, "GPT-2 BPE ranks (gpt2.tiktoken) instead of the two above", 0},
    };
    int nspec = (int)(sizeof spec / sizeof spec[0]);
    err_t err = {{0}};
    int help, rc = 1;
    gpt_model_t m;
    memset(&m, 0, sizeof m);
    ckpt_param_t *cparams = NULL;
    ckpt_reader_t rd;
    memset(&rd, 0, sizeof rd);
    float *logits = NULL, *scratch = NULL;
    int *ctx = NULL;
    int byte_level = strcmp(tokenizer_type, "Byte") == 0, have_tok = 0;
    tokenizer_t tok;
    tokenizer_scratch_t tsc;
    tok_buf_t ids = {0};
    byte_buf_t text = {0};
    memset(&tsc, 0, sizeof tsc);
    if (args_parse(spec, nspec, argc, argv, "megac generate", &help, &err) != 0) goto out;
    if (help) {
        args_print_help(stdout, "megac generate --load DIR [--prompt TEXT] [flags]", spec, nspec);
        return 0;
    }
    if (!load) {
        err_set(&err, "--load is required (a checkpoint directory from megac train gpt --save)");
        goto out;
    }
    if (max_new < 0) {
        err_set(&err, "--max-new-tokens must not be negative (got %d)", max_new);
        goto out;
    }
    if (temperature < 0.0f || top_k < 0) {
        err_set(&err, "--temperature and --top-k must not be negative");
        goto out;
    }
    if (prompt[0] == 0) prompt = "\n";
    byte_level = strcmp(tokenizer_type, "Byte") == 0;
    if (!byte_level) {
        if (tokenizer_open(&tok, tokenizer_type, vocab_file, merge_file, tiktoken_file, &err) != 0) goto out;
        have_tok = 1;
        if (tokenizer_scratch_init(&tsc, &tok, &err) != 0) goto out;
    }
    backend_t *be = backend_by_name(device, &err);
    if (!be) goto out;
    gpt_config_t cfg;
    char iter_dir[CKPT_PATH_MAX];
    if (ckpt_locate(load, iter_dir, sizeof iter_dir, &err) != 1 || ckpt_open(&rd, iter_dir, 0, &err) != 0) {
        err_prefix(&err, "--load");
        goto out;
    }
    if (gpt_ckpt_get_config(&rd.meta, &cfg, &err) != 0) {
        err_prefix(&err, "--load %s", iter_dir);
        goto out;
    }
    int T = cfg.seq_length;
    /* each new token is one forward pass over up to T tokens: far past the
     * context, a mistyped count would run for hours without a word */
    if ((int64_t)max_new > (int64_t)GENERATE_CONTEXTS_MAX * T) {
        err_set(&err, "--max-new-tokens %d is more than %d times the model's context of %d tokens; use %lld or less",
                max_new, GENERATE_CONTEXTS_MAX, T, (long long)GENERATE_CONTEXTS_MAX * T);
        goto out;
    }
    if (gpt_create(&m, &cfg, be, 1, T, NULL, &err) != 0) goto out;
    cparams = calloc((size_t)m.store.n, sizeof *cparams);
    if (!cparams) {
        err_set(&err, "out of memory");
        goto out;
    }
    gpt_ckpt_params(&m, cparams);
    if (ckpt_load_params(&rd, be, cparams, m.store.n, &err) != 0) {
        err_prefix(&err, "--load");
        goto out;
    }
    ckpt_close(&rd);
    int V = cfg.vocab_size;
    int tok_vocab = byte_level ? 256 : tokenizer_vocab_size(&tok);
    if (tok_vocab != V) {
        err_set(&err, "--tokenizer-type %s has %d tokens but the checkpoint's model has %d (the training run's tokenizer?)",
                tokenizer_type, tok_vocab, V);
        goto out;
    }
    size_t plen = strlen(prompt);
    if (!byte_level) {
        if (tokenizer_encode(&tok, &tsc, prompt, plen, &ids, &err) != 0) goto out;
        plen = ids.n;
        if (plen == 0) {
            err_set(&err, "--prompt encodes to no tokens");
            goto out;
        }
    }
    size_t cap = plen + (size_t)max_new;
    ctx = malloc(sizeof(int) * (cap > 0 ? cap : 1));
    logits = malloc(sizeof(float) * m.V_local);
    scratch = malloc(sizeof(float) * m.V_local);
    if (!ctx || !logits || !scratch) {
        err_set(&err, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < plen; i++) ctx[i] = byte_level ? (unsigned char)prompt[i] : ids.v[i];
    size_t n = plen;
    fputs(prompt, stdout);
    rng_key_t key = {(uint64_t)seed, rng_stream(RNG_PURPOSE_SAMPLE, 0, 0), 0};
    for (int s = 0; s < max_new; s++) {
        size_t start = n > (size_t)T ? n - (size_t)T : 0;
        int len = (int)(n - start);
        double unused;
        if (gpt_forward(&m, ctx + start, NULL, NULL, 1, len, 0, 0, &unused, &err) != 0) goto out;
        gpt_logits_at(&m, 0, len - 1, logits);
        double u = rng_uniform_from_u32(rng_u32(key, (uint64_t)s));
        int next = sample_token(logits, V, temperature, top_k, scratch, u);
        ctx[n++] = next;
        if (byte_level) {
            putchar(next);
        } else { /* a token's bytes (a character may span two BPE tokens: bytes go out as they come) */
            int32_t one = next;
            text.n = 0;
            if (tokenizer_decode(&tok, &one, 1, &text, &err) != 0) goto out;
            fwrite(text.v, 1, text.n, stdout);
        }
        fflush(stdout);
    }
    putchar('\n');
    rc = 0;
out:
    if (m.store.params) gpt_destroy(&m);
    ckpt_close(&rd);
    free(cparams), free(ctx), free(logits), free(scratch);
    free(ids.v), free(text.v);
    if (have_tok) {
        tokenizer_scratch_free(&tsc);
        tokenizer_close(&tok);
    }
    if (rc) fprintf(stderr, "megac generate: error: %s\n", err.msg);
    return rc;
}
