/* config_text.h — a model configuration as "key=value" lines (stored in
 * checkpoints), driven by a table of the struct's fields; and the line walker
 * other readers of that text share. */
#ifndef MEGAC_CONFIG_TEXT_H
#define MEGAC_CONFIG_TEXT_H

#include <stddef.h>

#include "../framework/error.h"

typedef struct config_field {
    const char *name;
    int is_float; /* 0: int field, 1: float field */
    size_t offset;
} config_field_t;

/* Calls fn(ctx, key, value) for every non-empty "key=value" line of text; stops
 * at the first -1 from fn. A line without '=' or longer than 159 bytes is an error. */
int config_each_line(const char *text, int (*fn)(void *ctx, const char *key, const char *val, err_t *err), void *ctx,
                     err_t *err);

#define CONFIG_INT(type, f) {#f, 0, offsetof(type, f)}
#define CONFIG_FLOAT(type, f) {#f, 1, offsetof(type, f)}

/* "model=NAME\n" (when model is non-NULL) then one line per field; -1 if buf is too small. */
int config_to_text(const void *cfg, const config_field_t *fields, int n, const char *model, char *buf, size_t len);
/* Sets the fields named in text (others keep their values); a "model=" line must
 * name `model` when given. Unknown keys and malformed numbers are errors. */
int config_from_text(void *cfg, const config_field_t *fields, int n, const char *model, const char *text,
                     err_t *err);

#endif
