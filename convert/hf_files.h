/* hf_files.h — the files of a Hugging Face model that megac reads and writes
 * (hf_gpt2.c, hf_bert.c): where model.safetensors and config.json lie,
 * config.json's fields, and writing a JSON file and its directory. */
#ifndef MEGAC_HF_FILES_H
#define MEGAC_HF_FILES_H

#include <cJSON.h>
#include <stddef.h>

#include "../framework/error.h"

/* in: a .safetensors file, or a directory holding model.safetensors; config.json
 * is the file next to it. */
int hf_paths(const char *in, char *st_path, size_t st_len, char *json_path, size_t json_len, err_t *err);
/* config.json as a cJSON object; *out NULL (and 0) when the file does not exist. */
int hf_read_json(const char *path, cJSON **out, err_t *err);
/* A number field of config.json into *v (unchanged when absent or null; cfg may be NULL). */
int hf_json_num(const cJSON *cfg, const char *key, double *v, const char *path, err_t *err);
/* A whole-number field in [lo, hi] into *v (unchanged when absent or null). */
int hf_json_int(const cJSON *cfg, const char *key, int lo, int hi, int *v, const char *path, err_t *err);
/* Writes o, pretty-printed, to path (through path.tmp and a rename). */
int hf_write_json(const char *path, const cJSON *o, err_t *err);

#endif
