/* ckpt_internal.h — helpers shared by the checkpoint sources (ckpt_save.c,
 * ckpt_write.c, ckpt_read.c); not part of checkpoint.h's interface. */
#ifndef MEGAC_CKPT_INTERNAL_H
#define MEGAC_CKPT_INTERNAL_H

#include "checkpoint.h"

/* out = a/b, or an error when it does not fit in len */
int ckpt_join(char *out, size_t len, const char *a, const char *b, err_t *err);
int ckpt_fsync_dir(const char *dir, err_t *err);
int ckpt_fsync_file(const char *path, err_t *err);
/* "iter_<digits>" -> 1 and its iteration; "iter_<digits>.tmp|.old" -> 2; else 0 */
int ckpt_parse_iter_name(const char *name, int64_t *it);

/* a parameter's dtype, dimensions and padding are ones megac stores */
int ckpt_check_param(const ckpt_param_t *p, err_t *err);
/* the rank's whole local slice of t, in global coordinates */
void ckpt_local_view(const tensor_t *t, ckpt_box_t *b);
/* flat range [a, b) of a tensor's local elements that the moment range [lo, hi) covers */
int ckpt_moment_range(const ckpt_param_t *p, size_t offset, size_t lo, size_t hi, int64_t *a, int64_t *b);
/* the boxes of local flat range [a, b) in global coordinates, each with the
 * local flat index it starts at; returns their number (at most 2 * ndim - 1) */
int ckpt_global_boxes(const tensor_t *t, int64_t a, int64_t b, ckpt_box_t *boxes, int64_t *starts);

#endif
