/* Whole-file reading shared by the weight loaders and the .npy reader. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "formats.h"
#include "util/util.h"

/* Buffer size to start with when the size is unknown (a pipe, /proc, a character device). */
#define UNKNOWN_SIZE_START 65536

dp_status dpi_read_whole_file(const char *path, uint8_t **buf, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return dpi_error(DP_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    uint8_t *data = NULL;
    dp_status s = DP_OK;
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0) {
        s = dpi_error(DP_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
        goto fail;
    }
    /* fopen() succeeds on a directory; only the first read fails, with a confusing EISDIR. */
    if (S_ISDIR(sb.st_mode)) {
        s = dpi_error(DP_ERR_IO, "%s: is a directory, expected a file", path);
        goto fail;
    }
    /* Read until end of file rather than trusting the size: a pipe or /proc file has none, and a
     * file may change while it is read. +1 so that a regular file is read in one pass and its
     * end is seen without growing the buffer (and so that an empty file gives a valid pointer). */
    size_t cap = S_ISREG(sb.st_mode) && sb.st_size > 0 && (uint64_t)sb.st_size < SIZE_MAX
                     ? (size_t)sb.st_size + 1
                     : UNKNOWN_SIZE_START;
    size_t n = 0;
    if (!(data = malloc(cap))) {
        s = dpi_error(DP_ERR_NOMEM, "%s: out of memory for %zu bytes", path, cap);
        goto fail;
    }
    for (;;) {
        n += fread(data + n, 1, cap - n, f);
        if (ferror(f)) {
            s = dpi_error(DP_ERR_IO, "%s: read error: %s", path, strerror(errno));
            goto fail;
        }
        if (n < cap) break; /* a short read without an error: end of file */
        uint8_t *grown = cap <= SIZE_MAX / 2 ? realloc(data, cap * 2) : NULL;
        if (!grown) {
            s = dpi_error(DP_ERR_NOMEM, "%s: out of memory reading more than %zu bytes", path, cap);
            goto fail;
        }
        data = grown;
        cap *= 2;
    }
    fclose(f);
    *buf = data;
    *len = n;
    return DP_OK;
fail:
    free(data);
    fclose(f);
    return s;
}
