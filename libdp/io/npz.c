/* .npz weights: a zip archive (NumPy savez: stored, savez_compressed: deflate) of .npy members. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats.h"
#include "npy.h"
#include "util/util.h"
#include "zip.h"

/* Add one .npy member to w under its name without ".npy". */
static dp_status add_member(const char *path, const dpi_zip_member *m, const uint8_t *data, dpi_weights *w) {
    char label[600], key[256];
    size_t nl = strlen(m->name);
    snprintf(key, sizeof key, "%.*s", (int)(nl - 4), m->name);
    snprintf(label, sizeof label, "%s: tensor %s", path, key);
    dpi_npy_header h;
    dp_status s = dpi_npy_parse_header(label, data, m->usize, &h);
    if (s) return s;
    if (!h.convertible) return dpi_weights_add_unconvertible(w, key, h.ndim, h.shape, h.descr);
    dp_array arr;
    if ((s = dpi_npy_parse(label, data, m->usize, &arr))) return s;
    return dpi_weights_add(w, key, arr.ndim, arr.shape, arr.data);
}

dp_status dpi_npz_parse(const char *path, const uint8_t *buf, size_t len, dpi_weights *w) {
    dpi_zip z;
    dp_status s = dpi_zip_open(path, buf, len, &z);
    if (s) return s;
    for (size_t i = 0; i < z.n && s == DP_OK; i++) {
        const dpi_zip_member *m = &z.m[i];
        size_t nlen = strlen(m->name);
        if (nlen < 5 || strcmp(m->name + nlen - 4, ".npy") != 0) {
            dpi_log(DP_LOG_DEBUG, "%s: ignoring zip member %s (not .npy)", path, m->name);
            continue;
        }
        const uint8_t *data = NULL;
        uint8_t *owned = NULL;
        if ((s = dpi_zip_member_data(&z, m, &data, &owned))) break;
        s = add_member(path, m, data, w);
        free(owned);
    }
    dpi_zip_close(&z);
    return s;
}
