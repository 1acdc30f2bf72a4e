/* ckpt_megatron.h — the Megatron-LM subcommands of `megac ckpt` (ckpt_megatron.c). */
#ifndef MEGAC_CKPT_MEGATRON_H
#define MEGAC_CKPT_MEGATRON_H

#include "../framework/error.h"

int ckpt_import_megatron(int argc, char **argv, err_t *err);
int ckpt_export_megatron(int argc, char **argv, err_t *err);

#endif
