/* preprocess.c — `megac preprocess`: JSON Lines -> Megatron indexed datasets
 * (Megatron-LM's tools/preprocess_data.py), and `--inspect` of the result.
 *
 * Each line is a JSON object; each --json-keys key's text is tokenized (with
 * the end-of-document token appended under --append-eod) and written to
 * PREFIX_KEY_document.bin/.idx (PREFIX_KEY_sentence with --split-sentences,
 * one sequence per sentence). Lines are read in batches, tokenized by
 * --workers threads and written in input order, so the output does not depend
 * on the thread count and memory stays bounded by the batch. A malformed JSON
 * line, a missing or non-string key or invalid UTF-8 is reported with its line
 * number and skipped (counted), or stops the run under --strict. Blank lines are
 * ignored. A "\u0000" in a text is kept, as Megatron's json.loads keeps it: the
 * document is tokenized with the NUL in it (GPT-2 BPE: byte token 188; BERT
 * WordPiece drops it, as its text cleaning drops control characters). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "../data/buffers.h"
#include "../data/indexed_dataset.h"
#include "../data/sentence_split.h"
#include "../data/tokenizer.h"
#include "../data/utf8.h"
#include "../framework/args.h"
#include "../framework/progress.h"
#include "commands.h"

#define MAX_KEYS 16
#define BATCH_LINES 4096
#define BATCH_BYTES (32u << 20)
#define MAX_SENTENCES 4096
#define ERRORS_SHOWN 20

enum { BAD_NONE, BAD_JSON, BAD_KEY, BAD_UTF8, BAD_NUL, BAD_KINDS, FAILED = BAD_KINDS };
static const char *const BAD_NAME[BAD_KINDS] = {"", "malformed JSON", "missing or non-string key", "invalid UTF-8",
                                                "NUL not keepable"};

typedef struct line_result {
    int bad; /* BAD_* */
    char why[512];
    tok_buf_t tokens[MAX_KEYS]; /* per key: the document's tokens */
    tok_buf_t lengths[MAX_KEYS]; /* per key: its sequence lengths */
} line_result_t;

typedef struct job {
    const tokenizer_t *tok;
    char *keys[MAX_KEYS];
    int n_keys, append_eod, split_sentences;
} job_t;

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Counts the JSON "\u0000" escapes of s (the backslash not itself escaped); with patch (a
 * copy of s), writes `with` ("uFDD0") over the "u0000" of each. */
static size_t escaped_nuls(const char *s, size_t n, char *patch, const char *with) {
    size_t count = 0;
    for (size_t i = 0; i + 6 <= n; i++) {
        if (s[i] != '\\') continue;
        size_t run = 1;
        while (i + run < n && s[i + run] == '\\') run++;
        size_t j = i + run - 1; /* the last backslash of the run escapes what follows when the run is odd */
        if (run % 2 == 1 && j + 6 <= n && memcmp(s + j + 1, "u0000", 5) == 0) {
            count++;
            if (patch) memcpy(patch + j + 1, with, 5);
        }
        i += run - 1;
    }
    return count;
}

/* cJSON ends a string at a decoded NUL, so a line with "\u0000" is parsed with each such
 * escape replaced by a noncharacter (U+FDD0..U+FDEF) that the line does not hold, in UTF-8
 * or escaped; the decoded strings turn it back into a NUL byte (nul_restore). */
typedef struct nul_sentinel {
    int active;
    char escape[6];     /* "uFDD0" */
    unsigned char utf8[3];
} nul_sentinel_t;

static int nul_sentinel_pick(const char *s, size_t n, nul_sentinel_t *ns) {
    for (unsigned cp = 0xFDD0; cp <= 0xFDEF; cp++) {
        unsigned char u[3] = {0xEF, (unsigned char)(0x80 | ((cp >> 6) & 0x3F)), (unsigned char)(0x80 | (cp & 0x3F))};
        char esc[6];
        snprintf(esc, sizeof esc, "u%04X", cp);
        int used = 0;
        for (size_t i = 0; i < n && !used; i++) {
            if (i + 3 <= n && memcmp(s + i, u, 3) == 0) used = 1;
            if (i + 5 <= n && strncasecmp(s + i, esc, 5) == 0) used = 1;
        }
        if (!used) {
            ns->active = 1;
            memcpy(ns->escape, esc, sizeof esc);
            memcpy(ns->utf8, u, 3);
            return 0;
        }
    }
    return -1;
}

/* the length of a decoded string, its sentinels turned back into NUL bytes in place */
static size_t nul_restore(const nul_sentinel_t *ns, char *v) {
    size_t n = strlen(v);
    if (!ns->active) return n;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (i + 3 <= n && memcmp(v + i, ns->utf8, 3) == 0) {
            v[o++] = 0;
            i += 3;
        } else {
            v[o++] = v[i++];
        }
    }
    v[o] = 0;
    return o;
}

/* Tokenizes text into r->tokens[k] / r->lengths[k] (Megatron's Encoder.encode). */
static int encode_text(const job_t *job, tokenizer_scratch_t *scr, const char *text, size_t len, line_result_t *r,
                       int k, err_t *err) {
    size_t ends[MAX_SENTENCES];
    size_t n = job->split_sentences ? sentence_split(text, len, ends, MAX_SENTENCES) : (ends[0] = len, 1);
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        size_t before = r->tokens[k].n;
        if (tokenizer_encode(job->tok, scr, text + start, ends[i] - start, &r->tokens[k], err) != 0) return -1;
        size_t got = r->tokens[k].n - before;
        if (got > 0 && tok_buf_push(&r->lengths[k], (int32_t)got) != 0) return err_set(err, "out of memory");
        start = ends[i];
    }
    if (job->append_eod && r->tokens[k].n > 0) {
        if (tok_buf_push(&r->tokens[k], tokenizer_eod(job->tok)) != 0) return err_set(err, "out of memory");
        r->lengths[k].v[r->lengths[k].n - 1]++;
    }
    return 0;
}

static void process_line(const job_t *job, tokenizer_scratch_t *scr, const char *line, size_t len, line_result_t *r) {
    r->bad = BAD_NONE;
    for (int k = 0; k < job->n_keys; k++) r->tokens[k].n = r->lengths[k].n = 0;
    size_t good = utf8_valid_prefix((const uint8_t *)line, len);
    if (good != len) {
        r->bad = BAD_UTF8;
        snprintf(r->why, sizeof r->why, "invalid UTF-8 at byte %zu of the line", good);
        return;
    }
    nul_sentinel_t ns = {0};
    char *patched = NULL;
    if (escaped_nuls(line, len, NULL, NULL)) {
        int no_sentinel = nul_sentinel_pick(line, len, &ns) != 0;
        if (no_sentinel || !(patched = malloc(len))) {
            r->bad = BAD_NUL;
            snprintf(r->why, sizeof r->why, no_sentinel ? "contains \\u0000 and all of U+FDD0..U+FDEF, so its NULs "
                     "cannot be kept" : "out of memory");
            return;
        }
        memcpy(patched, line, len);
        escaped_nuls(line, len, patched, ns.escape);
    }
    const char *src = patched ? patched : line;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(src, len, &end, 0);
    if (root && end) {
        while (end < src + len && (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')) end++;
        if (end != src + len) {
            cJSON_Delete(root);
            root = NULL;
        }
    }
    free(patched);
    if (!root || !cJSON_IsObject(root)) {
        r->bad = BAD_JSON;
        snprintf(r->why, sizeof r->why, root ? "not a JSON object" : "malformed JSON");
        cJSON_Delete(root);
        return;
    }
    err_t err = {{0}};
    for (int k = 0; k < job->n_keys && !r->bad; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, job->keys[k]);
        if (cJSON_IsString(v)) {
            if (encode_text(job, scr, v->valuestring, nul_restore(&ns, v->valuestring), r, k, &err) != 0) r->bad = FAILED;
            continue;
        }
        /* Megatron also takes a list of strings: sentences already split */
        int is_list = cJSON_IsArray(v);
        const cJSON *e;
        if (is_list)
            cJSON_ArrayForEach(e, v) if (!cJSON_IsString(e)) is_list = 0;
        if (!is_list) {
            r->bad = BAD_KEY;
            snprintf(r->why, sizeof r->why, v ? "key '%s' is not a string" : "no key '%s'", job->keys[k]);
            break;
        }
        job_t one = *job;
        one.split_sentences = 0, one.append_eod = 0;
        cJSON_ArrayForEach(e, v) if (encode_text(&one, scr, e->valuestring, nul_restore(&ns, e->valuestring), r, k, &err) != 0)
            r->bad = FAILED;
        if (job->append_eod && r->tokens[k].n > 0) {
            if (tok_buf_push(&r->tokens[k], tokenizer_eod(job->tok)) != 0) r->bad = FAILED;
            else r->lengths[k].v[r->lengths[k].n - 1]++;
        }
    }
    if (err.msg[0]) snprintf(r->why, sizeof r->why, "%s", err.msg);
    cJSON_Delete(root);
}

static int inspect(const char *prefix, const tokenizer_t *tok, int have_tok, long long doc) {
    err_t err = {{0}};
    indexed_dataset_t ds;
    if (indexed_open(&ds, prefix, &err) != 0) {
        fprintf(stderr, "megac preprocess --inspect: %s\n", err.msg);
        return 1;
    }
    int64_t ndocs = indexed_num_documents(&ds);
    printf("%s: %s tokens, %lld sequences, %lld documents, %lld tokens (%.1f per document), %zu bytes of .bin\n", prefix,
           indexed_dtype_name(ds.dtype), (long long)ds.n_seq, (long long)ndocs, (long long)ds.n_tokens,
           ndocs ? (double)ds.n_tokens / (double)ndocs : 0.0, ds.bin.size);
    int rc = 0;
    if (doc < 0 || doc >= ndocs) {
        if (ndocs) {
            fprintf(stderr, "megac preprocess --inspect: --sample %lld is not a document (0..%lld)\n", doc, (long long)ndocs - 1);
            rc = 1;
        }
        indexed_close(&ds);
        return rc;
    }
    int64_t s0 = indexed_document_index(&ds, doc), s1 = indexed_document_index(&ds, doc + 1);
    tok_buf_t ids = {0};
    for (int64_t s = s0; s < s1; s++) {
        int32_t len = indexed_sequence_length(&ds, s);
        if (buf_reserve((void **)&ids.v, &ids.cap, ids.n + (size_t)len, 4) != 0) {
            fprintf(stderr, "megac preprocess --inspect: out of memory\n");
            rc = 1;
            goto out;
        }
        indexed_read(&ds, s, 0, len, ids.v + ids.n);
        ids.n += (size_t)len;
    }
    printf("document %lld: %lld sequence(s), %zu tokens\n", doc, (long long)(s1 - s0), ids.n);
    if (have_tok) {
        byte_buf_t text = {0};
        if (tokenizer_decode(tok, ids.v, ids.n, &text, &err) != 0) {
            fprintf(stderr, "megac preprocess --inspect: %s (was it written with --tokenizer-type %s?)\n", err.msg,
                    tokenizer_type_name(tok));
            rc = 1;
        } else {
            printf("--- decoded with %s ---\n", tokenizer_type_name(tok));
            fwrite(text.v, 1, text.n, stdout);
            printf("\n---\n");
        }
        free(text.v);
    } else {
        printf("token ids (give the tokenizer flags to decode):");
        for (size_t i = 0; i < ids.n; i++) printf(" %d", ids.v[i]);
        printf("\n");
    }
out:
    free(ids.v);
    indexed_close(&ds);
    return rc;
}

int cmd_preprocess(int argc, char **argv) {
    const char *input = NULL, *json_keys = "text", *output_prefix = NULL, *tokenizer_type = NULL, *vocab = NULL,
               *merges = NULL, *tiktoken = NULL, *inspect_prefix = NULL;
    int append_eod = 0, workers = 1, split_sentences = 0, strict = 0, log_interval = 100000, quiet = 0;
    long long sample = 0;
    arg_spec_t spec[] = {
        {"input", ARG_STR, &input, "JSON Lines file, one document per line (- for standard input)", 0},
        {"json-keys", ARG_STR, &json_keys, "keys to extract, comma-separated (text)", 0},
        {"output-prefix", ARG_STR, &output_prefix, "writes PREFIX_KEY_document.bin/.idx", 0},
        {"tokenizer-type", ARG_STR, &tokenizer_type, "GPT2BPETokenizer | BertWordPieceLowerCase | BertWordPieceCase", 0},
        {"vocab-file", ARG_STR, &vocab, "vocab.json (GPT-2) or vocab.txt (BERT)", 0},
        {"merge-file", ARG_STR, &merges, "merges.txt (GPT-2)", 0},
        {"tiktoken-file", ARG_STR, &tiktoken, "gpt2.tiktoken, instead of --vocab-file/--merge-file", 0},
        {"append-eod", ARG_FLAG, &append_eod, "append the end-of-document token to each document", 0},
        {"workers", ARG_INT, &workers, "tokenizing threads (1)", 0},
        {"split-sentences", ARG_FLAG, &split_sentences, "one sequence per sentence (PREFIX_KEY_sentence)", 0},
        {"strict", ARG_FLAG, &strict, "stop at the first bad line instead of skipping it", 0},
        {"log-interval", ARG_INT, &log_interval, "0: no progress lines, as --quiet (progress is timed: see README)", 0},
        {"quiet", ARG_FLAG, &quiet, "no progress line (a terminal) or periodic lines (a log) on stderr", 0},
        {"inspect", ARG_STR, &inspect_prefix, "print the counts and one document of PREFIX.bin/.idx", 0},
        {"sample", ARG_I64, &sample, "with --inspect: the document to show (0)", 0},
    };
    int nspec = (int)(sizeof spec / sizeof spec[0]);
    err_t err = {{0}};
    int help;
    if (args_parse(spec, nspec, argc, argv, "megac preprocess", &help, &err) != 0) {
        fprintf(stderr, "megac preprocess: %s\n", err.msg);
        return 1;
    }
    if (help) {
        args_print_help(stdout,
                        "megac preprocess --input F.jsonl --output-prefix P --tokenizer-type T --vocab-file V "
                        "[--merge-file M] [--append-eod] [--workers N]\n       megac preprocess --inspect P_text_document "
                        "[--tokenizer-type T --vocab-file V ...]",
                        spec, nspec);
        return 0;
    }
    tokenizer_t tok;
    memset(&tok, 0, sizeof tok);
    if (inspect_prefix) {
        int have = tokenizer_type != NULL;
        if (have && tokenizer_open(&tok, tokenizer_type, vocab, merges, tiktoken, &err) != 0) {
            fprintf(stderr, "megac preprocess: %s\n", err.msg);
            return 1;
        }
        int rc = inspect(inspect_prefix, &tok, have, sample);
        tokenizer_close(&tok);
        return rc;
    }
    if (!input || !output_prefix) {
        fprintf(stderr, "megac preprocess: --input and --output-prefix are required (see megac preprocess --help)\n");
        return 1;
    }
    if (workers < 1 || workers > 1024) {
        fprintf(stderr, "megac preprocess: --workers must be between 1 and 1024 (got %d)\n", workers);
        return 1;
    }
    if (log_interval < 0) {
        fprintf(stderr, "megac preprocess: --log-interval must not be negative (got %d)\n", log_interval);
        return 1;
    }
    job_t job;
    memset(&job, 0, sizeof job);
    job.append_eod = append_eod;
    job.split_sentences = split_sentences;
    char *keys_copy = strdup(json_keys);
    if (!keys_copy) return 1;
    for (char *t = strtok(keys_copy, ", "); t; t = strtok(NULL, ", ")) {
        if (job.n_keys == MAX_KEYS) {
            fprintf(stderr, "megac preprocess: --json-keys: at most %d keys\n", MAX_KEYS);
            free(keys_copy);
            return 1;
        }
        job.keys[job.n_keys++] = t;
    }
    if (job.n_keys == 0) {
        fprintf(stderr, "megac preprocess: --json-keys is empty\n");
        free(keys_copy);
        return 1;
    }
    if (tokenizer_open(&tok, tokenizer_type, vocab, merges, tiktoken, &err) != 0) {
        fprintf(stderr, "megac preprocess: %s\n", err.msg);
        free(keys_copy);
        return 1;
    }
    job.tok = &tok;
    FILE *in = strcmp(input, "-") == 0 ? stdin : fopen(input, "rb");
    if (!in) {
        fprintf(stderr, "megac preprocess: --input %s: %s\n", input, strerror(errno));
        tokenizer_close(&tok);
        free(keys_copy);
        return 1;
    }

    int rc = 1, opened = 0;
    indexed_writer_t writers[MAX_KEYS];
    int dtype = indexed_dtype_for_vocab(tokenizer_vocab_size(&tok));
    char *lines[BATCH_LINES];
    size_t lens[BATCH_LINES], caps[BATCH_LINES];
    long long lineno[BATCH_LINES];
    memset(lines, 0, sizeof lines);
    memset(caps, 0, sizeof caps);
    line_result_t *res = calloc(BATCH_LINES, sizeof *res);
    tokenizer_scratch_t *scr = calloc((size_t)workers, sizeof *scr);
    if (!res || !scr) {
        fprintf(stderr, "megac preprocess: out of memory\n");
        goto out;
    }
    for (int t = 0; t < workers; t++)
        if (tokenizer_scratch_init(&scr[t], &tok, &err) != 0) {
            fprintf(stderr, "megac preprocess: %s\n", err.msg);
            goto out;
        }
    for (; opened < job.n_keys; opened++) {
        char path[4096];
        snprintf(path, sizeof path, "%s_%s_%s", output_prefix, job.keys[opened], split_sentences ? "sentence" : "document");
        if (indexed_writer_open(&writers[opened], path, dtype, &err) != 0) {
            fprintf(stderr, "megac preprocess: --output-prefix: %s\n", err.msg);
            goto out;
        }
    }

    long long n_lines = 0, n_docs = 0, n_blank = 0, n_bad[BAD_KINDS] = {0}, n_tokens = 0, shown = 0;
    double bytes = 0.0, t0 = now_s();
    struct stat st; /* the input's size, when it is a file: the progress line's total */
    progress_t prog;
    progress_start(&prog, stderr, "megac preprocess", "MB",
                   fstat(fileno(in), &st) == 0 && S_ISREG(st.st_mode) ? (double)st.st_size / 1e6 : 0.0,
                   quiet || log_interval == 0);
    int eof = 0, stop = 0;
    while (!eof && !stop) {
        int nb = 0;
        size_t batch_bytes = 0;
        while (nb < BATCH_LINES && batch_bytes < BATCH_BYTES) {
            ssize_t got = getline(&lines[nb], &caps[nb], in);
            if (got < 0) {
                if (ferror(in)) {
                    fprintf(stderr, "megac preprocess: --input %s: read error: %s\n", input, strerror(errno));
                    goto out;
                }
                eof = 1;
                break;
            }
            n_lines++;
            bytes += (double)got;
            size_t l = (size_t)got;
            while (l && (lines[nb][l - 1] == '\n' || lines[nb][l - 1] == '\r')) l--;
            size_t b = 0;
            while (b < l && (lines[nb][b] == ' ' || lines[nb][b] == '\t')) b++;
            if (b == l) {
                n_blank++;
                continue;
            }
            lens[nb] = l;
            lineno[nb] = n_lines;
            batch_bytes += l;
            nb++;
        }
#pragma omp parallel for schedule(dynamic, 8) num_threads(workers)
        for (int i = 0; i < nb; i++) process_line(&job, &scr[omp_get_thread_num()], lines[i], lens[i], &res[i]);
        for (int i = 0; i < nb && !stop; i++) {
            line_result_t *r = &res[i];
            if (r->bad == FAILED) {
                fprintf(stderr, "megac preprocess: %s:%lld: %s\n", input, lineno[i], r->why);
                goto out;
            }
            if (r->bad) {
                n_bad[r->bad]++;
                if (strict) {
                    fprintf(stderr, "megac preprocess: %s:%lld: %s (--strict: stopping; nothing written)\n", input,
                            lineno[i], r->why);
                    stop = 1;
                    break;
                }
                if (shown++ < ERRORS_SHOWN)
                    fprintf(stderr, "megac preprocess: %s:%lld: %s; line skipped\n", input, lineno[i], r->why);
                else if (shown == ERRORS_SHOWN + 1)
                    fprintf(stderr, "megac preprocess: further bad lines are counted, not shown\n");
                continue;
            }
            for (int k = 0; k < job.n_keys; k++) {
                size_t pos = 0;
                for (size_t s = 0; s < r->lengths[k].n; s++) {
                    size_t l = (size_t)r->lengths[k].v[s];
                    if (indexed_writer_add_sequence(&writers[k], r->tokens[k].v + pos, l, &err) != 0) {
                        fprintf(stderr, "megac preprocess: %s\n", err.msg);
                        goto out;
                    }
                    pos += l;
                }
                if (indexed_writer_end_document(&writers[k], &err) != 0) {
                    fprintf(stderr, "megac preprocess: %s\n", err.msg);
                    goto out;
                }
                n_tokens += (long long)r->tokens[k].n;
            }
            n_docs++;
        }
        char extra[96];
        snprintf(extra, sizeof extra, "%lld documents, %lld tokens", n_docs, n_tokens);
        progress_update(&prog, bytes / 1e6, extra);
    }
    progress_end(&prog);
    if (stop) goto out;
    for (int k = 0; k < job.n_keys; k++) {
        if (indexed_writer_finish(&writers[k], &err) != 0) {
            fprintf(stderr, "megac preprocess: %s\n", err.msg);
            for (int j = k + 1; j < job.n_keys; j++) indexed_writer_abort(&writers[j]);
            opened = 0;
            goto out;
        }
    }
    opened = 0;
    {
        double t = now_s() - t0;
        long long skipped = 0;
        for (int b = 1; b < BAD_KINDS; b++) skipped += n_bad[b];
        fprintf(stderr, "megac preprocess: %lld documents, %lld tokens in %.1f s (%.0f docs/s, %.2f MB/s); %lld lines "
                "skipped", n_docs, n_tokens, t, t > 0 ? (double)n_docs / t : 0.0, t > 0 ? bytes / 1e6 / t : 0.0, skipped);
        const char *sep = " (";
        for (int b = 1; b < BAD_KINDS; b++)
            if (n_bad[b]) {
                fprintf(stderr, "%s%lld %s", sep, n_bad[b], BAD_NAME[b]);
                sep = ", ";
            }
        fprintf(stderr, "%s; %lld blank\n", skipped ? ")" : "", n_blank);
        for (int k = 0; k < job.n_keys; k++)
            printf("%s_%s_%s.bin/.idx\n", output_prefix, job.keys[k], split_sentences ? "sentence" : "document");
    }
    rc = 0;
out:
    for (int k = 0; k < opened; k++) indexed_writer_abort(&writers[k]);
    if (in && in != stdin) fclose(in);
    for (int i = 0; i < BATCH_LINES; i++) {
        free(lines[i]);
        if (res)
            for (int k = 0; k < MAX_KEYS; k++) {
                free(res[i].tokens[k].v);
                free(res[i].lengths[k].v);
            }
    }
    free(res);
    if (scr)
        for (int t = 0; t < workers; t++) tokenizer_scratch_free(&scr[t]);
    free(scr);
    tokenizer_close(&tok);
    free(keys_copy);
    return rc;
}
