/* The named-tensor store and format sniffing for weight files. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"
#include "formats.h"
#include "util/util.h"
#include "weights.h"

dpi_weights *dpi_weights_new(const char *path) {
    dpi_weights *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->path = strdup(path ? path : "");
    if (!w->path) {
        free(w);
        return NULL;
    }
    return w;
}

dp_status dpi_weights_add(dpi_weights *w, const char *name, int ndim, const int64_t *shape, float *data) {
    if (ndim < 0 || ndim > DPI_MAX_DIMS) {
        free(data);
        return dpi_error(DP_ERR_FORMAT, "%s: tensor %s has %d dimensions (at most %d supported)", w->path, name,
                         ndim, DPI_MAX_DIMS);
    }
    if (dpi_weights_find(w, name)) {
        free(data);
        return dpi_error(DP_ERR_FORMAT, "%s: tensor %s appears twice", w->path, name);
    }
    if (w->n == w->cap) {
        int cap = w->cap ? w->cap * 2 : 64;
        dpi_tensor *t = realloc(w->t, (size_t)cap * sizeof *t);
        if (!t) {
            free(data);
            return dpi_error(DP_ERR_NOMEM, "%s: out of memory adding tensor %s", w->path, name);
        }
        w->t = t;
        w->cap = cap;
    }
    dpi_tensor *t = &w->t[w->n];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    if (!t->name) {
        free(data);
        return dpi_error(DP_ERR_NOMEM, "%s: out of memory adding tensor %s", w->path, name);
    }
    t->ndim = ndim;
    for (int d = 0; d < ndim; d++) t->shape[d] = shape[d];
    t->data = data;
    w->n++;
    return DP_OK;
}

dp_status dpi_weights_add_unconvertible(dpi_weights *w, const char *name, int ndim, const int64_t *shape,
                                        const char *dtype) {
    dp_status s = dpi_weights_add(w, name, ndim, shape, NULL);
    if (s == DP_OK) snprintf(w->t[w->n - 1].dtype, sizeof w->t[w->n - 1].dtype, "%s", dtype);
    return s;
}

const dpi_tensor *dpi_weights_find(const dpi_weights *w, const char *name) {
    for (int i = 0; i < w->n; i++)
        if (strcmp(w->t[i].name, name) == 0) return &w->t[i];
    return NULL;
}

/* "[64,3,7,7]" into buf. */
static const char *shape_str(char *buf, size_t cap, int ndim, const int64_t *shape) {
    size_t len = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < ndim && len < cap; d++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%lld", d ? "," : "", (long long)shape[d]);
    if (len < cap) snprintf(buf + len, cap - len, "]");
    return buf;
}

dp_status dpi_weights_get(const dpi_weights *w, const char *name, int ndim, const int64_t *shape,
                          const float **data) {
    char want[128], got[128];
    const dpi_tensor *t = dpi_weights_find(w, name);
    if (!t)
        return dpi_error(DP_ERR_NOT_FOUND, "%s: tensor %s is missing (expected shape %s)", w->path, name,
                         shape_str(want, sizeof want, ndim, shape));
    int same = t->ndim == ndim;
    for (int d = 0; same && d < ndim; d++) same = t->shape[d] == shape[d];
    if (!same)
        return dpi_error(DP_ERR_SHAPE, "%s: tensor %s has shape %s, expected %s", w->path, name,
                         shape_str(got, sizeof got, t->ndim, t->shape), shape_str(want, sizeof want, ndim, shape));
    if (!t->data)
        return dpi_error(DP_ERR_FORMAT, "%s: tensor %s has dtype %s; only float32, float64, float16 and bfloat16 "
                         "are supported", w->path, name, t->dtype);
    *data = t->data;
    return DP_OK;
}

dp_status dpi_weights_check_values(const dpi_weights *w, const char *name, const float *data, size_t count,
                                   int nonneg, int allow_nonfinite) {
    for (size_t i = 0; i < count; i++) {
        float v = data[i];
        if (nonneg && v < 0)
            return dpi_error(DP_ERR_FORMAT, "%s: tensor %s has value %g at index %zu; a variance cannot be negative",
                             w->path, name, (double)v, i);
        if (!allow_nonfinite && !isfinite(v))
            return dpi_error(DP_ERR_FORMAT, "%s: tensor %s has value %g at index %zu; weights must be finite (set "
                             "allow_nonfinite in dp_model_opts to load them anyway, for debugging)",
                             w->path, name, (double)v, i);
    }
    return DP_OK;
}

void dpi_weights_free(dpi_weights *w) {
    if (!w) return;
    for (int i = 0; i < w->n; i++) {
        free(w->t[i].name);
        free(w->t[i].data);
    }
    free(w->t);
    free(w->path);
    free(w);
}

dp_status dpi_weights_load(const char *path, dpi_weights **out) {
    if (!path) return dpi_error(DP_ERR_INVALID_ARG, "weights path is NULL");
    size_t len;
    uint8_t *buf;
    dp_status s = dpi_read_whole_file(path, &buf, &len);
    if (s) return s;
    dpi_weights *w = dpi_weights_new(path);
    if (!w) {
        free(buf);
        return dpi_error(DP_ERR_NOMEM, "%s: out of memory", path);
    }
    /* Sniff by content: a zip starts with a local header "PK\3\4" (or an end-of-central-
     * directory record "PK\5\6" when empty) and is a torch.save file when it has <dir>/data.pkl;
     * safetensors starts with a u64 header length that fits, or at least a JSON object after it
     * (then the length error is reported). */
    static const uint8_t legacy_torch[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8};
    if (len == 0)
        s = dpi_error(DP_ERR_FORMAT, "%s: file is empty", path);
    else if (len >= 4 && memcmp(buf, "PK", 2) == 0 && (buf[2] == 3 || buf[2] == 5))
        s = dpi_pth_sniff(buf, len) ? dpi_pth_parse(path, buf, len, w) : dpi_npz_parse(path, buf, len, w);
    else if (len >= sizeof legacy_torch && memcmp(buf, legacy_torch, sizeof legacy_torch) == 0)
        s = dpi_error(DP_ERR_UNSUPPORTED, "%s: torch.save's legacy format (PyTorch < 1.6, or "
                      "_use_new_zipfile_serialization=False) is not read; re-save it with a current PyTorch", path);
    else if (len >= 6 && memcmp(buf, "\x93NUMPY", 6) == 0)
        s = dpi_error(DP_ERR_FORMAT, "%s: a single .npy array, not a weights file (weights need names: .npz, "
                      ".safetensors or .pth)", path);
    else if (len >= 8 && (dpi_le64(buf) <= len - 8 || (len > 8 && buf[8] == '{')))
        s = dpi_safetensors_parse(path, buf, len, w);
    else
        s = dpi_error(DP_ERR_FORMAT, "%s: not a weights file: neither a zip (.npz, torch.save .pth/.pt), nor "
                      ".safetensors (u64 length + JSON header), nor an .npy array", path);
    free(buf);
    if (s) {
        dpi_weights_free(w);
        return s;
    }
    *out = w;
    return DP_OK;
}
