/* ckpt.c — `megac ckpt`: look at, check, convert and time checkpoints.
 *
 *   inspect DIR [--boxes] [--metadata]   metadata, layout, files, the tensor tree
 *   verify DIR                           every chunk's checksum, every shard present
 *   reshard DIR OUT --tensor-model-parallel-size T
 *                                        rewrite for another TP size, streaming
 *   export-hf DIR OUT                    Hugging Face GPT-2 or BERT: OUT/model.safetensors + config.json
 *   import-hf IN DIR [--num-attention-heads H] [--seed S] [--force] [--allow-nonfinite]
 *                                        a GPT-2 or BERT model.safetensors (+ config.json)
 *   bench [--dir D] [--preset P] [--repeats R]
 *                                        save throughput against a plain sequential
 *                                        write of the same bytes, in the same run
 *
 * DIR is a checkpoint root (its latest_checkpointed_iteration.txt) or an
 * iteration directory. Errors are one line naming the file and the problem. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../models/model_checkpoint.h"
#include "../convert/hf_bert.h"
#include "../convert/hf_gpt2.h"
#include "../framework/args.h"
#include "../framework/progress.h"
#include "commands.h"
#include "ckpt_megatron.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: megac ckpt <command> ...\n\n"
            "commands:\n"
            "  inspect DIR [--boxes] [--metadata]   metadata, layout, files and the tensor tree\n"
            "  verify DIR                           read every chunk (Fletcher32) and check every shard\n"
            "  reshard DIR OUT --tensor-model-parallel-size T\n"
            "                                       rewrite for TP size T (streaming, one tensor at a time)\n"
            "  export-hf DIR OUT                    write OUT/model.safetensors and OUT/config.json (GPT-2 or BERT)\n"
            "  import-hf IN DIR [--num-attention-heads H] [--seed S] [--force] [--allow-nonfinite]\n"
            "                                       a GPT-2 or BERT model.safetensors (file or directory) into a checkpoint\n"
            "  import-megatron SRC DIR / export-megatron DIR DST --format legacy|torch_dist\n"
            "                                       Megatron-LM checkpoints (needs a Python with torch)\n"
            "  bench [--dir D] [--preset P] [--repeats R]\n"
            "                                       save throughput against a plain write of the same bytes\n\n"
            "DIR: a checkpoint root (uses %s) or an iter_NNNNNNN directory.\n",
            CKPT_LATEST);
}

/* leading positional arguments, then flags */
static int split_args(int argc, char **argv, int want, const char **pos, const char *cmd, err_t *err) {
    int n = 0;
    while (n < argc && strncmp(argv[n], "--", 2) != 0 && strcmp(argv[n], "-h") != 0) n++;
    if (n != want) {
        for (int i = 0; i < argc; i++)
            if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return n;
        return err_set(err, "%s takes %d path argument%s before its flags (got %d; see megac ckpt --help)", cmd, want,
                       want == 1 ? "" : "s", n);
    }
    for (int i = 0; i < n; i++) pos[i] = argv[i];
    return n;
}

static int open_checkpoint(const char *path, int optim, ckpt_reader_t *r, char *pointer, size_t plen, err_t *err) {
    char dir[CKPT_PATH_MAX];
    int found = ckpt_locate(path, dir, sizeof dir, err);
    if (found != 1) return -1;
    if (pointer) {
        pointer[0] = 0;
        if (strcmp(dir, path) != 0) snprintf(pointer, plen, "%s/%s", path, CKPT_LATEST);
    }
    return ckpt_open(r, dir, optim, err);
}

/* ---------------------------------------------------------------- inspect */

static void print_shape(const ckpt_entry_t *e, char *buf, size_t len) {
    size_t o = (size_t)snprintf(buf, len, "[");
    for (int d = 0; d < e->ndim && o < len; d++) o += (size_t)snprintf(buf + o, len - o, "%s%lld", d ? " x " : "", (long long)e->shape[d]);
    if (o < len) snprintf(buf + o, len - o, "]");
}

static int inspect(ckpt_reader_t *r, const char *pointer, int boxes, int show_meta) {
    const ckpt_meta_t *m = &r->meta;
    err_t err;
    printf("checkpoint: %s", r->dir);
    if (pointer && pointer[0]) printf(" (from %s)", pointer);
    printf("\nformat: %s version %d, written by megac %s\n", CKPT_FORMAT_NAME, m->format_version, m->megac_version);
    printf("iteration %lld, %lld consumed samples; RNG: counter-based Philox, state = seed %llu + iteration\n",
           (long long)m->iteration, (long long)m->consumed_samples, (unsigned long long)m->seed);
    printf("optimizer: %s, step %lld, beta1 %g, beta2 %g, eps %g, weight decay %g; moments %s\n",
           m->adam.kind == OPTIM_LAMB ? "lamb" : "adamw", (long long)m->optimizer_step, (double)m->adam.beta1,
           (double)m->adam.beta2, (double)m->adam.eps, (double)m->adam.weight_decay,
           !m->has_optimizer ? "not saved" : m->zero1 ? "in ZeRO-1 shard files" : "in the model files");
    printf("lr schedule: %s, lr %g -> %g, warmup %lld, decay over %lld iterations\n", lr_decay_style_name(m->schedule.style),
           (double)m->schedule.lr, (double)m->schedule.min_lr, (long long)m->schedule.warmup_iters,
           (long long)m->schedule.decay_iters);
    printf("precision: %s; loss scale %g (growth tracker %lld, hysteresis tracker %lld); %lld iterations skipped on "
           "overflow\n", m->precision, m->loss_scale, (long long)m->growth_tracker, (long long)m->hysteresis_tracker,
           (long long)m->skipped_iterations);
    const model_ckpt_ops_t *ops = model_ckpt_ops(m, &err);
    char desc[512];
    if (ops && ops->describe(m, desc, sizeof desc, &err) == 0) printf("model: %s\n", desc);
    else printf("model: %s (%s)\n", m->model_type, err.msg);
    if (m->origin[0]) printf("origin: %s\n", m->origin);
    if (m->tokenizer_added_tokens >= 0)
        printf("tokenizer_added_tokens: %d (the vocabulary's last %d tokens are not in the vocabulary file; export-hf "
               "leaves them out)\n", m->tokenizer_added_tokens, m->tokenizer_added_tokens);
    printf("layout: tensor-parallel %d x data-parallel %d (world %d), ZeRO-1 %s\n", m->tp_size, m->dp_size,
           m->world_size, m->zero1 ? "yes" : "no");
    int64_t total = 0;
    printf("files:\n");
    for (int i = 0; i < r->nfiles; i++) {
        const ckpt_rfile_t *f = &r->files[i];
        printf("  %-32s %12lld bytes  %s, TP rank %d", f->name, (long long)f->size, f->optim ? "optimizer shard" : "model",
               f->tp_rank);
        if (f->optim) printf(", DP rank %d", f->dp_rank);
        printf("\n");
        total += f->size;
    }
    int64_t counts[CKPT_KINDS] = {0}, elems[CKPT_KINDS] = {0};
    for (int i = 0; i < r->nentries; i++) {
        int64_t n = 1;
        for (int d = 0; d < r->entries[i].ndim; d++) n *= r->entries[i].shape[d];
        counts[r->entries[i].kind]++, elems[r->entries[i].kind] += n;
    }
    printf("total: %lld bytes in %d files; %lld model tensors (%lld parameters, %.2f MB fp32)", (long long)total,
           r->nfiles, (long long)counts[CKPT_MODEL], (long long)elems[CKPT_MODEL], elems[CKPT_MODEL] * 4e-6);
    if (counts[CKPT_EXP_AVG]) printf("; Adam moments: 2 x %lld tensors", (long long)counts[CKPT_EXP_AVG]);
    printf("\n");
    if (show_meta) printf("metadata record (root attribute 'metadata' of every file):\n%s\n", r->meta_json);
    /* the tree: group names, then leaves with shape, split and boxes */
    char prev[TENSOR_NAME_LEN + 32] = "";
    for (int i = 0; i < r->nentries; i++) {
        const ckpt_entry_t *e = &r->entries[i];
        char full[TENSOR_NAME_LEN + 32];
        snprintf(full, sizeof full, "%s/%s", ckpt_kind_group(e->kind), e->name);
        /* shared leading components with the previous name are not repeated */
        size_t common = 0, k = 0;
        while (full[k] && prev[k] == full[k]) {
            if (full[k] == '/') common = k + 1;
            k++;
        }
        int depth = 0;
        for (size_t j = 0; j < common; j++) depth += full[j] == '/';
        const char *p = full + common;
        for (;;) {
            const char *slash = strchr(p, '/');
            if (!slash) break;
            printf("%*s%.*s/\n", 2 * depth, "", (int)(slash - p), p);
            depth++;
            p = slash + 1;
        }
        char shape[96], split[64];
        print_shape(e, shape, sizeof shape);
        if (e->split_dim < 0) snprintf(split, sizeof split, "replicated");
        else if (e->pad_multiple > 1) snprintf(split, sizeof split, "split dim %d, padded to %lld x TP", e->split_dim, (long long)e->pad_multiple);
        else snprintf(split, sizeof split, "split dim %d", e->split_dim);
        int64_t n = 1;
        for (int d = 0; d < e->ndim; d++) n *= e->shape[d];
        printf("%*s%s  %s  %s  %d box%s, %lld bytes\n", 2 * depth, "", p, shape, split, e->npieces,
               e->npieces == 1 ? "" : "es", (long long)n * 4);
        for (int b = 0; boxes && b < e->npieces; b++) {
            const ckpt_piece_t *pc = &e->pieces[b];
            const ckpt_rfile_t *f = &r->files[pc->file];
            char bt[128];
            size_t o = 0;
            for (int d = 0; d < pc->box.ndim && o < sizeof bt; d++)
                o += (size_t)snprintf(bt + o, sizeof bt - o, "%s%lld:%lld", d ? ", " : "[", (long long)pc->box.off[d],
                                      (long long)(pc->box.off[d] + pc->box.cnt[d]));
            if (o < sizeof bt) snprintf(bt + o, sizeof bt - o, "]");
            int64_t nch = 0;
            uint64_t addr = 0, size = 0;
            hid_t ds = H5Dopen2(f->h, pc->dset, H5P_DEFAULT);
            int ok = ds >= 0 && h5io_chunk_info(ds, &nch, &addr, &size) == 0;
            if (ds >= 0) H5Dclose(ds);
            printf("%*s  %s  %s:%s (TP %d, DP %d)", 2 * depth, "", bt, f->name, pc->dset, pc->tp_rank, pc->dp_rank);
            if (ok) printf(", %lld chunk%s, first at byte %llu (%llu bytes)", (long long)nch, nch == 1 ? "" : "s",
                           (unsigned long long)addr, (unsigned long long)size);
            printf("\n");
        }
        snprintf(prev, sizeof prev, "%s", full);
    }
    return 0;
}

static int cmd_inspect(int argc, char **argv, err_t *err) {
    const char *pos[1];
    int boxes = 0, meta = 0, help = 0;
    arg_spec_t spec[] = {
        {"boxes", ARG_FLAG, &boxes, "list every stored box with its file, writer and first chunk's file offset", 0},
        {"metadata", ARG_FLAG, &meta, "print the metadata record (JSON)", 0},
    };
    int n = split_args(argc, argv, 1, pos, "megac ckpt inspect", err);
    if (n < 0 || args_parse(spec, 2, argc - n, argv + n, "megac ckpt inspect", &help, err) != 0) return -1;
    if (help) {
        args_print_help(stdout, "megac ckpt inspect DIR [--boxes] [--metadata]", spec, 2);
        return 0;
    }
    ckpt_reader_t r;
    char pointer[CKPT_PATH_MAX + 64];
    if (open_checkpoint(pos[0], 1, &r, pointer, sizeof pointer, err) != 0) return -1;
    int rc = inspect(&r, pointer, boxes, meta);
    ckpt_close(&r);
    return rc;
}

/* ---------------------------------------------------------------- verify */

static int cmd_verify(int argc, char **argv, err_t *err) {
    const char *pos[1];
    int help = 0, quiet = 0;
    arg_spec_t spec[] = {{"quiet", ARG_FLAG, &quiet, "no progress line on stderr", 0}};
    int n = split_args(argc, argv, 1, pos, "megac ckpt verify", err);
    if (n < 0 || args_parse(spec, 1, argc - n, argv + n, "megac ckpt verify", &help, err) != 0) return -1;
    if (help) {
        args_print_help(stdout, "megac ckpt verify DIR [--quiet]", spec, 1);
        return 0;
    }
    ckpt_reader_t r;
    char pointer[CKPT_PATH_MAX + 64];
    if (open_checkpoint(pos[0], 1, &r, pointer, sizeof pointer, err) != 0) return -1;
    int64_t bytes;
    int datasets;
    int rc = model_ckpt_check_reader(&r, err);
    progress_t pg;
    progress_start(&pg, stderr, "megac ckpt verify", "datasets", 0, quiet);
    if (rc == 0) rc = ckpt_verify(&r, &bytes, &datasets, &pg, err);
    progress_end(&pg);
    if (rc == 0)
        printf("ok: %s%s%s: iteration %lld, %d files, %d datasets, %.2f MB read; every chunk's Fletcher32, every "
               "file's metadata CRC32C and every tensor's completeness verified\n",
               r.dir, pointer[0] ? " via " : "", pointer, (long long)r.meta.iteration, r.nfiles, datasets, bytes / 1e6);
    ckpt_close(&r);
    return rc;
}

/* ---------------------------------------------------------------- reshard */

/* TP rank t's box of entry e at TP size T (0 when it stores none) */
static int reshard_box(const ckpt_entry_t *e, int t, int T, ckpt_box_t *box, int64_t *split_off, err_t *err) {
    box->ndim = e->ndim;
    for (int d = 0; d < e->ndim; d++) box->off[d] = 0, box->cnt[d] = e->shape[d];
    *split_off = 0;
    if (e->split_dim < 0) return t == 0;
    int s = e->split_dim;
    int64_t mult = e->pad_multiple * T, padded = (e->shape[s] + mult - 1) / mult * mult, local = padded / T;
    if (e->pad_multiple == 1 && padded != e->shape[s])
        return err_set(err, "--tensor-model-parallel-size %d does not divide dimension %d (%lld) of %s", T, s,
                       (long long)e->shape[s], e->name);
    int64_t lo = (int64_t)t * local, hi = lo + local < e->shape[s] ? lo + local : e->shape[s];
    *split_off = lo;
    if (hi <= lo) return 0;
    box->off[s] = lo, box->cnt[s] = hi - lo;
    return 1;
}

static int cmd_reshard(int argc, char **argv, err_t *err) {
    const char *pos[2];
    int tp = 0, help = 0, quiet = 0;
    arg_spec_t spec[] = {{"tensor-model-parallel-size", ARG_INT, &tp, "the new tensor-parallel size (required)", 0},
                         {"quiet", ARG_FLAG, &quiet, "no progress line on stderr", 0}};
    int n = split_args(argc, argv, 2, pos, "megac ckpt reshard", err);
    if (n < 0 || args_parse(spec, 2, argc - n, argv + n, "megac ckpt reshard", &help, err) != 0) return -1;
    if (help) {
        args_print_help(stdout, "megac ckpt reshard DIR OUT --tensor-model-parallel-size T", spec, 2);
        return 0;
    }
    if (tp <= 0) return err_set(err, "--tensor-model-parallel-size must be given and positive");
    char a[PATH_MAX], b[PATH_MAX];
    if (realpath(pos[0], a) && realpath(pos[1], b) && strcmp(a, b) == 0)
        return err_set(err, "%s: the output directory must differ from the input", pos[1]);
    ckpt_reader_t r;
    if (open_checkpoint(pos[0], 1, &r, NULL, 0, err) != 0) return -1;
    ckpt_meta_t meta = r.meta;
    ckpt_txn_t tx;
    ckpt_writer_t w;
    float *buf = NULL;
    int rc = -1, began = 0, opened = 0;
    progress_t pg = {0};
    const model_ckpt_ops_t *ops = model_ckpt_ops(&meta, err);
    if (!ops) {
        err_prefix(err, "%s", r.dir);
        goto out;
    }
    if (model_ckpt_check_reader(&r, err) != 0 || ops->validate(&meta, tp, err) != 0) goto out;
    /* one buffer of the largest tensor: memory is bounded by it */
    int64_t most = 0;
    for (int i = 0; i < r.nentries; i++) {
        int64_t v = 1;
        for (int d = 0; d < r.entries[i].ndim; d++) v *= r.entries[i].shape[d];
        if (v > most) most = v;
    }
    if (!(buf = malloc((size_t)most * sizeof(float)))) {
        err_set(err, "out of memory for a %lld-element tensor", (long long)most);
        goto out;
    }
    meta.tp_size = tp, meta.dp_size = 1, meta.pp_size = 1, meta.world_size = tp, meta.zero1 = 0;
    if (ckpt_txn_begin(&tx, pos[1], meta.iteration, err) != 0) goto out;
    began = 1;
    int64_t written = 0;
    progress_start(&pg, stderr, "megac ckpt reshard", "tensors", (double)tp * r.nentries, quiet);
    for (int t = 0; t < tp; t++) {
        char name[64];
        ckpt_model_file_name(t, name, sizeof name);
        if (ckpt_writer_open(&w, tx.tmp, name, &meta, "model", t, 0, err) != 0) goto out;
        opened = 1;
        for (int i = 0; i < r.nentries; i++) {
            const ckpt_entry_t *e = &r.entries[i];
            progress_update(&pg, (double)t * r.nentries + i, NULL);
            ckpt_piece_desc_t d = {.tensor = e->name, .ndim = e->ndim, .split_dim = e->split_dim,
                                   .pad_multiple = e->pad_multiple, .part = -1};
            memcpy(d.shape, e->shape, sizeof d.shape);
            int has = reshard_box(e, t, tp, &d.box, &d.split_offset, err);
            if (has < 0) goto out;
            if (!has) continue;
            if (ckpt_read(&r, e, &d.box, buf, err) != 0 || ckpt_writer_put(&w, e->kind, &d, buf, backend_cpu(), err) != 0)
                goto out;
        }
        progress_update(&pg, (double)(t + 1) * r.nentries, NULL);
        written += w.bytes;
        opened = 0;
        if (ckpt_writer_close(&w, err) != 0) goto out;
    }
    progress_end(&pg);
    if (ckpt_txn_commit(&tx, 0, err) != 0) goto out;
    began = 0;
    printf("resharded %s (TP %d, DP %d%s) into %s (TP %d): iteration %lld, %.2f MB%s\n", r.dir, r.meta.tp_size,
           r.meta.dp_size, r.meta.zero1 ? ", ZeRO-1" : "", tx.final, tp, (long long)meta.iteration, written / 1e6,
           meta.has_optimizer ? " with the Adam moments" : "");
    rc = 0;
out:
    progress_end(&pg);
    if (opened) ckpt_writer_discard(&w);
    if (began) ckpt_txn_abort(&tx);
    free(buf);
    ckpt_close(&r);
    return rc;
}

/* ---------------------------------------------------------------- Hugging Face */

static int cmd_export_hf(int argc, char **argv, err_t *err) {
    const char *pos[2];
    int help = 0, quiet = 0;
    arg_spec_t spec[] = {{"quiet", ARG_FLAG, &quiet, "no progress line on stderr", 0}};
    int n = split_args(argc, argv, 2, pos, "megac ckpt export-hf", err);
    if (n < 0 || args_parse(spec, 1, argc - n, argv + n, "megac ckpt export-hf", &help, err) != 0) return -1;
    if (help) {
        args_print_help(stdout, "megac ckpt export-hf DIR OUT [--quiet]", spec, 1);
        return 0;
    }
    /* the checkpoint's model type picks the Hugging Face model */
    ckpt_reader_t r;
    if (open_checkpoint(pos[0], 0, &r, NULL, 0, err) != 0) return -1;
    int bert = strcmp(r.meta.model_type, "bert") == 0;
    ckpt_close(&r);
    progress_t pg;
    progress_start(&pg, stderr, "megac ckpt export-hf", "tensors", 0, quiet);
    int rc = bert ? hf_bert_export(pos[0], pos[1], &pg, err) : hf_gpt2_export(pos[0], pos[1], &pg, err);
    progress_end(&pg);
    if (rc != 0) return -1;
    printf("exported %s to %s/model.safetensors and %s/config.json (Hugging Face %s)\n", pos[0], pos[1], pos[1],
           bert ? "BERT" : "GPT-2");
    return 0;
}

/* entries of a directory besides ., .. and the save lock (0 when it does not exist) */
static int dir_entries(const char *path) {
    DIR *d = opendir(path);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 && strcmp(e->d_name, CKPT_LOCK) != 0;
    closedir(d);
    return n;
}

static int file_exists(const char *dir, const char *name) {
    char p[CKPT_PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

static int cmd_import_hf(int argc, char **argv, err_t *err) {
    const char *pos[2];
    int heads = 0, help = 0, force = 0, nonfinite = 0, quiet = 0;
    long long seed = 1234;
    arg_spec_t spec[] = {
        {"num-attention-heads", ARG_INT, &heads, "GPT-2: heads, when no config.json lies next to the file", 0},
        {"seed", ARG_I64, &seed, "BERT: megac's initialization of the heads the file lacks (1234)", 0},
        {"force", ARG_FLAG, &force, "import into a directory that is not empty (latest then points to iteration 0)", 0},
        {"allow-nonfinite", ARG_FLAG, &nonfinite, "import NaN or Inf weights (refused by default)", 0},
        {"quiet", ARG_FLAG, &quiet, "no progress line on stderr", 0},
    };
    int n = split_args(argc, argv, 2, pos, "megac ckpt import-hf", err);
    if (n < 0 || args_parse(spec, 5, argc - n, argv + n, "megac ckpt import-hf", &help, err) != 0) return -1;
    if (help) {
        args_print_help(stdout, "megac ckpt import-hf IN DIR [--num-attention-heads H] [--seed S] [--force] [--allow-nonfinite] [--quiet]", spec, 5);
        return 0;
    }
    if (!force && dir_entries(pos[1]) > 0)
        return err_set(err, "%s: not empty%s; import-hf writes iteration 0 there and points %s at it: give an empty "
                       "directory, or --force", pos[1], file_exists(pos[1], CKPT_LATEST) ? " (it holds a checkpoint)" : "",
                       CKPT_LATEST);
    if (heads < 0) return err_set(err, "--num-attention-heads must be positive (got %d)", heads);
    if (seed < 0) return err_set(err, "--seed must not be negative (got %lld)", seed);
    if (hf_bert_detect(pos[0])) {
        if (heads > 0) return err_set(err, "--num-attention-heads: a BERT import takes its head count from config.json");
        char summary[1024];
        progress_t pg;
        progress_start(&pg, stderr, "megac ckpt import-hf", "tensors", 0, quiet);
        int rc = hf_bert_import(pos[0], pos[1], (uint64_t)seed, nonfinite, MEGAC_VERSION, summary, sizeof summary, &pg, err);
        progress_end(&pg);
        if (rc != 0) return -1;
        printf("%s (TP 1, no optimizer state; train from it with megac train bert --load %s --finetune)\n", summary,
               pos[1]);
        return 0;
    }
    if (args_seen(spec, 5, "seed")) return err_set(err, "--seed: a GPT-2 import initializes nothing");
    progress_t pg;
    progress_start(&pg, stderr, "megac ckpt import-hf", "tensors", 0, quiet);
    int rc = hf_gpt2_import(pos[0], pos[1], heads, nonfinite, MEGAC_VERSION, &pg, err);
    progress_end(&pg);
    if (rc != 0) return -1;
    printf("imported %s into %s/iter_0000000 (TP 1, no optimizer state; train from it with --load %s --finetune)\n",
           pos[0], pos[1], pos[1]);
    return 0;
}

/* ---------------------------------------------------------------- bench */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* writes the same buffers sequentially in 1 MiB writes (the checkpoint's chunk
 * size), fsyncs the file and the directory */
static int plain_write(const char *dir, const float *const *bufs, const size_t *lens, int nbufs, double *sec, err_t *err) {
    char path[CKPT_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/plain.bin", dir);
    double t0 = now_s();
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return err_set(err, "%s: %s", path, strerror(errno));
    for (int b = 0; b < nbufs; b++) {
        const char *p = (const char *)bufs[b];
        size_t left = lens[b];
        while (left > 0) {
            ssize_t w = write(fd, p, left > (1u << 20) ? (1u << 20) : left);
            if (w <= 0) {
                close(fd);
                return err_set(err, "%s: write failed: %s", path, strerror(errno));
            }
            p += w, left -= (size_t)w;
        }
    }
    int bad = fsync(fd) != 0;
    bad |= close(fd) != 0;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) bad |= fsync(dfd) != 0, close(dfd);
    *sec = now_s() - t0;
    unlink(path);
    return bad ? err_set(err, "%s: fsync failed", path) : 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int ckpt_bench(int argc, char **argv, err_t *err) {
    const char *dir = NULL, *preset = "gpt2-124m";
    int repeats = 5, help = 0;
    arg_spec_t spec[] = {
        {"dir", ARG_STR, &dir, "directory to write in (default: a new one under $TMPDIR or /tmp, removed after)", 0},
        {"preset", ARG_STR, &preset, "model shape to save, with its Adam moments (gpt2-124m)", 0},
        {"repeats", ARG_INT, &repeats, "measurements of each, alternating (5); the table ends with their median and best", 0},
    };
    if (args_parse(spec, 3, argc, argv, "megac ckpt bench", &help, err) != 0) return -1;
    if (help) {
        args_print_help(stdout, "megac ckpt bench [--dir D] [--preset P] [--repeats R]", spec, 3);
        return 0;
    }
    if (repeats <= 0 || repeats > 100) return err_set(err, "--repeats must be in 1..100 (got %d)", repeats);
    gpt_config_t cfg;
    if (gpt_config_preset(&cfg, preset, err) != 0) return -1;
    char made[CKPT_PATH_MAX] = "";
    if (!dir) {
        const char *tmp = getenv("TMPDIR");
        snprintf(made, sizeof made, "%s/megac-ckpt-bench-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
        if (!mkdtemp(made)) return err_set(err, "%s: %s", made, strerror(errno));
        dir = made;
    } else if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        return err_set(err, "--dir %s: %s", dir, strerror(errno));
    }
    backend_t *be = backend_cpu();
    gpt_model_t m;
    memset(&m, 0, sizeof m);
    int rc = -1;
    float *mom = NULL;
    ckpt_param_t *params = NULL;
    size_t *offs = NULL;
    char root[CKPT_PATH_MAX + 16];
    snprintf(root, sizeof root, "%s/ckpt", dir);
    if (gpt_create(&m, &cfg, be, 1, 1, NULL, err) != 0) goto out_dir;
    gpt_init_weights(&m, 1234);
    size_t numel = m.store.numel;
    mom = malloc(2 * numel * sizeof(float));
    params = calloc((size_t)m.store.n, sizeof *params);
    offs = calloc((size_t)m.store.n, sizeof *offs);
    if (!mom || !params || !offs) {
        err_set(err, "out of memory for the Adam moments (%zu floats)", 2 * numel);
        goto out;
    }
    for (size_t i = 0; i < numel; i++) { /* moments shaped like a trained run's: m ~ w/10, v ~ w^2 */
        float w = m.store.param_block[i];
        mom[i] = 0.1f * w, mom[numel + i] = w * w;
    }
    gpt_ckpt_params(&m, params);
    model_ckpt_offsets(params, m.store.n, m.store.param_block, offs);
    ckpt_optim_state_t st = {mom, mom + numel, 0, numel, offs, 100};
    ckpt_layout_t lay = {NULL, 0, 1, 0, 1, 0};
    const float *bufs[3] = {m.store.param_block, mom, mom + numel};
    size_t lens[3] = {numel * sizeof(float), numel * sizeof(float), numel * sizeof(float)};
    double *plain = calloc((size_t)repeats, sizeof(double)), *ck = calloc((size_t)repeats, sizeof(double));
    double *ratio = calloc((size_t)repeats, sizeof(double));
    if (!plain || !ck || !ratio) {
        free(plain), free(ck), free(ratio);
        err_set(err, "out of memory");
        goto out;
    }
    double bytes = 3.0 * (double)numel * sizeof(float);
    printf("megac ckpt bench: %s (%zu parameters) with its Adam moments, %.1f MB of tensors, in %s\n", preset, numel,
           bytes / 1e6, dir);
    printf("| run | plain write (s) | plain GB/s | checkpoint save (s) | checkpoint GB/s | checkpoint / plain |\n");
    printf("|-----|-----------------|------------|---------------------|-----------------|--------------------|\n");
    int ok = 1;
    for (int r = 0; r < repeats && ok; r++) {
        /* alternate the order so neither always meets a cold or warm page cache */
        for (int step = 0; step < 2 && ok; step++) {
            sync(); /* start each measurement with no dirty pages of the previous one */
            if ((step == 0) == (r % 2 == 0)) {
                ok = plain_write(dir, bufs, lens, 3, &plain[r], err) == 0;
            } else {
                ckpt_meta_t meta;
                ckpt_meta_init(&meta);
                snprintf(meta.megac_version, sizeof meta.megac_version, "%s", MEGAC_VERSION);
                meta.iteration = 100 + r;
                meta.seed = 1234;
                meta.adam = (adamw_config_t){0.9f, 0.999f, 1e-8f, 0.01f, OPTIM_ADAM};
                ckpt_save_stats_t stats;
                ok = gpt_ckpt_put_config(&meta, &cfg, err) == 0 &&
                     ckpt_save(root, &meta, &lay, be, params, m.store.n, &st, 0, &stats, err) == 0 &&
                     ckpt_remove(root, err) == 0; /* as the plain file is: both start from nothing */
                ck[r] = stats.seconds;
            }
        }
        if (!ok) break;
        ratio[r] = plain[r] / ck[r];
        printf("| %3d | %15.3f | %10.2f | %19.3f | %15.2f | %18.2f |\n", r + 1, plain[r], bytes / 1e9 / plain[r], ck[r],
               bytes / 1e9 / ck[r], ratio[r]);
    }
    if (ok) {
        /* medians, and the best of each: the least disturbed by the rest of the machine */
        double bp = plain[0], bc = ck[0];
        for (int r = 1; r < repeats; r++) bp = plain[r] < bp ? plain[r] : bp, bc = ck[r] < bc ? ck[r] : bc;
        qsort(plain, (size_t)repeats, sizeof(double), cmp_double);
        qsort(ck, (size_t)repeats, sizeof(double), cmp_double);
        qsort(ratio, (size_t)repeats, sizeof(double), cmp_double);
        int mid = repeats / 2;
        printf("| median | %12.3f | %10.2f | %19.3f | %15.2f | %18.2f |\n", plain[mid], bytes / 1e9 / plain[mid], ck[mid],
               bytes / 1e9 / ck[mid], ratio[mid]);
        printf("| best | %14.3f | %10.2f | %19.3f | %15.2f | %18.2f |\n", bp, bytes / 1e9 / bp, bc, bytes / 1e9 / bc, bp / bc);
        rc = 0;
    }
    free(plain), free(ck), free(ratio);
out:
    if (m.store.params) gpt_destroy(&m);
    free(mom), free(params), free(offs);
    err_t ignored;
    ckpt_remove(root, &ignored); /* the bench's checkpoints */
out_dir:
    if (made[0]) rmdir(made);
    return rc;
}

int cmd_ckpt(int argc, char **argv) {
    if (argc < 1 || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
        usage(argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    err_t err = {{0}};
    const char *sub = argv[0];
    int rc;
    if (strcmp(sub, "inspect") == 0) rc = cmd_inspect(argc - 1, argv + 1, &err);
    else if (strcmp(sub, "verify") == 0) rc = cmd_verify(argc - 1, argv + 1, &err);
    else if (strcmp(sub, "reshard") == 0) rc = cmd_reshard(argc - 1, argv + 1, &err);
    else if (strcmp(sub, "export-hf") == 0) rc = cmd_export_hf(argc - 1, argv + 1, &err);
    else if (strcmp(sub, "import-hf") == 0) rc = cmd_import_hf(argc - 1, argv + 1, &err);
    else if (strcmp(sub, "import-megatron") == 0 || strcmp(sub, "export-megatron") == 0)
        rc = (sub[0] == 'i' ? ckpt_import_megatron : ckpt_export_megatron)(argc - 1, argv + 1, &err);
    else if (strcmp(sub, "bench") == 0) rc = ckpt_bench(argc - 1, argv + 1, &err);
    else {
        fprintf(stderr, "megac ckpt: unknown command '%s' (see megac ckpt --help)\n", sub);
        return 2;
    }
    if (rc != 0) {
        fprintf(stderr, "megac ckpt %s: error: %s\n", sub, err.msg);
        return 1;
    }
    return 0;
}
