/* args.h — Megatron-style long flags ("--name value" or "--name=value"). */
#ifndef MEGAC_ARGS_H
#define MEGAC_ARGS_H

#include <stdio.h>

#include "../framework/error.h"

/* ARG_STRS takes every following word up to the next "--flag", joined by spaces
 * (Megatron's nargs='*' flags such as --data-path 0.3 A 0.7 B). */
typedef enum arg_kind { ARG_INT, ARG_I64, ARG_FLOAT, ARG_STR, ARG_FLAG, ARG_STRS } arg_kind_t;

typedef struct arg_spec {
    const char *name;  /* without the leading "--" */
    arg_kind_t kind;
    void *dst;         /* int*, long long*, float*, const char**, int* */
    const char *help;
    int seen;          /* set by args_parse */
} arg_spec_t;

/* Parses argv[0..argc) into the specs. "--help"/"-h" sets *want_help.
 * `cmd` names the command in messages ("megac train gpt"). */
int args_parse(arg_spec_t *spec, int n, int argc, char **argv, const char *cmd, int *want_help,
               err_t *err);
/* whether flag `name` was given */
int args_seen(const arg_spec_t *spec, int n, const char *name);
/* Copies into dst each flag given whose destination lies inside src (a struct
 * of src_size bytes; int and float fields), at the same offset: the flags that
 * override a configuration a preset filled. */
void args_copy_seen(const arg_spec_t *spec, int n, const void *src, size_t src_size, void *dst);
void args_print_help(FILE *f, const char *usage, const arg_spec_t *spec, int n);

#endif
