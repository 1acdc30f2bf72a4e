/* ckpt_megatron.c — `megac ckpt import-megatron` and `export-megatron`.
 *
 *   import-megatron SRC DIR [--vocab-size N] [--num-attention-heads H]
 *   export-megatron DIR DST --format legacy|torch_dist
 *                   [--tensor-model-parallel-size N] [--pipeline-model-parallel-size P]
 *
 * Megatron-LM's files are PyTorch pickles: convert/megatron_ckpt.py (run with
 * $MEGAC_PYTHON, default python3, which needs torch) reads or writes them through
 * an interchange directory in megac's tensor names, and convert/megatron.c turns
 * that into a megac checkpoint or back. The script is found at $MEGAC_CONVERT_SCRIPT,
 * else convert/megatron_ckpt.py of the source tree the megac binary was built in
 * (its build directory's parent), else next to the binary. */
#define _GNU_SOURCE
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../checkpoints/checkpoint.h"
#include "../convert/megatron.h"
#include "../framework/args.h"
#include "commands.h"
#include "ckpt_megatron.h"

static int find_script(char *out, size_t len, err_t *err) {
    const char *env = getenv("MEGAC_CONVERT_SCRIPT");
    if (env && env[0]) {
        if (access(env, R_OK) != 0) return err_set(err, "MEGAC_CONVERT_SCRIPT=%s: %s", env, strerror(errno));
        snprintf(out, len, "%s", env);
        return 0;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *d = dirname(exe);
        const char *tries[] = {"%s/../convert/megatron_ckpt.py", "%s/convert/megatron_ckpt.py", "%s/megatron_ckpt.py"};
        for (size_t i = 0; i < 3; i++) {
            snprintf(out, len, tries[i], d);
            if (access(out, R_OK) == 0) return 0;
        }
    }
    return err_set(err, "cannot find convert/megatron_ckpt.py next to the megac binary; set MEGAC_CONVERT_SCRIPT");
}

/* runs $MEGAC_PYTHON script argv...; its output goes to files in tmp. On failure
 * err is its last "error: " line (or its last line). */
static int run_converter(char *const *args, const char *tmp, int echo, err_t *err) {
    char script[PATH_MAX + 64], outp[CKPT_PATH_MAX + 16], errp[CKPT_PATH_MAX + 16];
    if (find_script(script, sizeof script, err) != 0) return -1;
    const char *py = getenv("MEGAC_PYTHON");
    if (!py || !py[0]) py = "python3";
    snprintf(outp, sizeof outp, "%s/stdout", tmp);
    snprintf(errp, sizeof errp, "%s/stderr", tmp);
    char *argv[16];
    int n = 0;
    argv[n++] = (char *)py;
    argv[n++] = "-W";
    argv[n++] = "ignore";
    argv[n++] = script;
    for (int i = 0; args[i] && n < 15; i++) argv[n++] = args[i];
    argv[n] = NULL;
    fflush(stdout), fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return err_set(err, "fork: %s", strerror(errno));
    if (pid == 0) {
        if (!freopen(outp, "w", stdout) || !freopen(errp, "w", stderr)) _exit(126);
        execvp(py, argv);
        fprintf(stderr, "error: cannot run %s (set MEGAC_PYTHON to a Python with torch): %s\n", py, strerror(errno));
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return err_set(err, "waitpid: %s", strerror(errno));
    int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    FILE *f = fopen(ok ? outp : errp, "r");
    char line[2048], last[2048] = "", lasterr[2048] = "";
    while (f && fgets(line, sizeof line, f)) {
        if (ok && echo) fputs(line, stdout);
        line[strcspn(line, "\n")] = 0;
        if (line[0]) snprintf(last, sizeof last, "%s", line);
        if (strncmp(line, "error: ", 7) == 0) snprintf(lasterr, sizeof lasterr, "%s", line + 7);
    }
    if (f) fclose(f);
    if (ok) return 0;
    if (lasterr[0]) return err_set(err, "%s", lasterr);
    if (WIFSIGNALED(status)) return err_set(err, "%s %s died of signal %d", py, script, WTERMSIG(status));
    return err_set(err, "%s %s failed (exit %d): %s", py, script, WEXITSTATUS(status), last[0] ? last : "no message");
}

static int make_tmp(char *buf, size_t len, err_t *err) {
    const char *t = getenv("TMPDIR");
    snprintf(buf, len, "%s/megac-megatron-XXXXXX", t && t[0] ? t : "/tmp");
    if (!mkdtemp(buf)) return err_set(err, "%s: %s", buf, strerror(errno));
    return 0;
}

/* leading positional arguments, then flags */
static int positional(int argc, char **argv, int want, const char **pos, const char *cmd, err_t *err) {
    int n = 0;
    while (n < argc && strncmp(argv[n], "--", 2) != 0 && strcmp(argv[n], "-h") != 0) n++;
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return n;
    if (n != want)
        return err_set(err, "%s takes %d path arguments before its flags (got %d; see megac ckpt --help)", cmd, want, n);
    for (int i = 0; i < n; i++) pos[i] = argv[i];
    return n;
}

int ckpt_import_megatron(int argc, char **argv, err_t *err) {
    const char *pos[2];
    int vocab = 0, heads = 0, help = 0;
    arg_spec_t spec[] = {
        {"vocab-size", ARG_INT, &vocab, "the real vocabulary: drops Megatron's padding rows (default: keep them, "
                                        "so megac's loss equals Megatron's)", 0},
        {"num-attention-heads", ARG_INT, &heads, "heads, when the checkpoint stores no args", 0},
    };
    const char *cmd = "megac ckpt import-megatron";
    int n = positional(argc, argv, 2, pos, cmd, err);
    if (n < 0 || args_parse(spec, 2, argc - n, argv + n, cmd, &help, err) != 0) return -1;
    if (help) {
        args_print_help(stdout, "megac ckpt import-megatron SRC DIR [--vocab-size N] [--num-attention-heads H]", spec, 2);
        return 0;
    }
    if (vocab < 0 || heads < 0) return err_set(err, "--vocab-size and --num-attention-heads must be positive");
    char tmp[CKPT_PATH_MAX], ix[CKPT_PATH_MAX + 8], vs[32], hs[32];
    if (make_tmp(tmp, sizeof tmp, err) != 0) return -1;
    snprintf(ix, sizeof ix, "%s/ix", tmp);
    snprintf(vs, sizeof vs, "%d", vocab);
    snprintf(hs, sizeof hs, "%d", heads);
    char *args[] = {"read", (char *)pos[0], ix, "--vocab-size", vs, "--num-attention-heads", hs, NULL};
    char summary[1024];
    int rc = run_converter(args, tmp, 1, err);
    if (rc == 0) rc = megatron_import_interchange(ix, pos[1], MEGAC_VERSION, summary, sizeof summary, err);
    if (rc == 0) printf("imported into %s (TP 1; megac loads it at any layout)\n", summary);
    err_t ignored;
    ckpt_remove(tmp, &ignored);
    return rc;
}

int ckpt_export_megatron(int argc, char **argv, err_t *err) {
    const char *pos[2], *format = NULL;
    int tp = 1, pp = 1, help = 0;
    arg_spec_t spec[] = {
        {"format", ARG_STR, &format, "legacy (iter_N/mp_rank_TT[_PPP]/model_optim_rng.pt) | torch_dist (required)", 0},
        {"tensor-model-parallel-size", ARG_INT, &tp, "legacy: TP ranks to split into (1); torch_dist loads at any", 0},
        {"pipeline-model-parallel-size", ARG_INT, &pp, "legacy: pipeline stages (1)", 0},
    };
    const char *cmd = "megac ckpt export-megatron";
    int n = positional(argc, argv, 2, pos, cmd, err);
    if (n < 0 || args_parse(spec, 3, argc - n, argv + n, cmd, &help, err) != 0) return -1;
    if (help) {
        args_print_help(stdout, "megac ckpt export-megatron DIR DST --format legacy|torch_dist [flags]", spec, 3);
        return 0;
    }
    if (!format || (strcmp(format, "legacy") != 0 && strcmp(format, "torch_dist") != 0))
        return err_set(err, "--format must be legacy or torch_dist");
    if (tp <= 0 || pp <= 0)
        return err_set(err, "--tensor-model-parallel-size and --pipeline-model-parallel-size must be positive");
    char tmp[CKPT_PATH_MAX], ix[CKPT_PATH_MAX + 8], ts[32], ps[32];
    if (make_tmp(tmp, sizeof tmp, err) != 0) return -1;
    snprintf(ix, sizeof ix, "%s/ix", tmp);
    snprintf(ts, sizeof ts, "%d", tp);
    snprintf(ps, sizeof ps, "%d", pp);
    char *args[] = {"write", ix, (char *)pos[1], "--format", (char *)format, "--tp", ts, "--pp", ps, NULL};
    int rc = megatron_export_interchange(pos[0], ix, err);
    if (rc == 0) rc = run_converter(args, tmp, 1, err);
    err_t ignored;
    ckpt_remove(tmp, &ignored);
    return rc;
}
