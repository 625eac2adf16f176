/* Whole-file reading shared by the weight loaders and the .npy reader. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats.h"
#include "util/util.h"

dp_status dpi_read_whole_file(const char *path, uint8_t **buf, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return dpi_error(DP_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    uint8_t *data = NULL;
    long size;
    dp_status s = DP_OK;
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        s = dpi_error(DP_ERR_IO, "%s: cannot determine size: %s", path, strerror(errno));
        goto fail;
    }
    /* +1 so that an empty file still yields a valid pointer. */
    data = malloc((size_t)size + 1);
    if (!data) {
        s = dpi_error(DP_ERR_NOMEM, "%s: out of memory reading %ld bytes", path, size);
        goto fail;
    }
    if (fread(data, 1, (size_t)size, f) != (size_t)size) {
        s = dpi_error(DP_ERR_IO, "%s: read error", path);
        goto fail;
    }
    fclose(f);
    *buf = data;
    *len = (size_t)size;
    return DP_OK;
fail:
    free(data);
    fclose(f);
    return s;
}
