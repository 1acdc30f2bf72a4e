/* ckpt_edit.c — test helper: rewrites one integer field of a checkpoint file's
 * metadata record and its CRC32C consistently, as a newer (or foreign) megac
 * would have written it:
 *   ckpt_edit FILE FIELD VALUE      e.g. ckpt_edit mp_rank_00.h5 format_version 2
 *                                   or  ckpt_edit mp_rank_00.h5 model.hidden_size 32 */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoints/ckpt_meta.h"
#include "checkpoints/h5io.h"

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: ckpt_edit FILE FIELD VALUE\n");
        return 2;
    }
    h5io_init();
    err_t err = {{0}};
    hid_t f = H5Fopen(argv[1], H5F_ACC_RDWR, H5P_DEFAULT);
    if (f < 0) {
        fprintf(stderr, "ckpt_edit: cannot open %s\n", argv[1]);
        return 1;
    }
    char *json = NULL;
    size_t len;
    int rc = 1;
    if (h5io_attr_get_str(f, "metadata", &json, &len, argv[1], &err) != 0) {
        fprintf(stderr, "ckpt_edit: %s\n", err.msg);
        goto out;
    }
    cJSON *root = cJSON_ParseWithLength(json, len);
    /* FIELD may name a member of a section: model.hidden_size */
    char key[256];
    snprintf(key, sizeof key, "%s", argv[2]);
    char *dot = strchr(key, '.');
    cJSON *obj = root;
    if (dot) {
        *dot = 0;
        obj = root ? cJSON_GetObjectItemCaseSensitive(root, key) : NULL;
    }
    cJSON *field = obj ? cJSON_GetObjectItemCaseSensitive(obj, dot ? dot + 1 : key) : NULL;
    if (!cJSON_IsNumber(field)) {
        fprintf(stderr, "ckpt_edit: %s has no numeric metadata field %s\n", argv[1], argv[2]);
        cJSON_Delete(root);
        goto out;
    }
    cJSON_SetNumberValue(field, atof(argv[3]));
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (H5Adelete(f, "metadata") < 0 || H5Adelete(f, "metadata_crc32c") < 0 ||
        h5io_attr_put_str(f, "metadata", text, argv[1], &err) != 0 ||
        h5io_attr_put_u32(f, "metadata_crc32c", crc32c(0, text, strlen(text)), argv[1], &err) != 0) {
        fprintf(stderr, "ckpt_edit: rewriting %s failed %s\n", argv[1], err.msg);
    } else {
        printf("ckpt_edit: %s: %s = %s\n", argv[1], argv[2], argv[3]);
        rc = 0;
    }
    free(text);
out:
    free(json);
    H5Fclose(f);
    return rc;
}
