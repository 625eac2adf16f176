/* dp_dataset: random access to samples from a synthetic generator, float32 arrays (.npy or
 * caller memory), CIFAR-10 bytes (normalised when read; Fashion-MNIST is converted to them) or a
 * user callback. Every kind is
 * read-only after creation, so dp_dataset_get() needs no lock. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataparallel/io.h"
#include "dataparallel/source.h"
#include "dataset.h"
#include "io/cifar10.h"
#include "util/util.h"

/* Bound on one sample's size (floats), so c*h*w cannot overflow. */
#define MAX_SAMPLE_FLOATS ((int64_t)1 << 28)

typedef enum ds_kind { DS_SYNTHETIC, DS_FLOATS, DS_CIFAR10, DS_CALLBACK } ds_kind;

struct dp_dataset {
    ds_kind kind;
    char *path;              /* the file it was read from (messages), NULL for the other kinds */
    int64_t n;
    int c, h, w;
    size_t sample_floats;
    const float *data;       /* DS_FLOATS: borrowed memory or owned.data */
    const int32_t *labels;   /* DS_FLOATS: borrowed, may be NULL */
    dp_array owned;          /* .npy contents */
    dpi_cifar10 cifar;
    float lut[3][256];       /* DS_CIFAR10: byte value -> normalised float, per channel */
    uint64_t seed;           /* DS_SYNTHETIC: already mixed */
    dp_dataset_fn fn;
    void *user;
};

DP_API dp_normalize dp_normalize_cifar10(void) {
    return (dp_normalize){{0.4914f, 0.4822f, 0.4465f}, {0.2470f, 0.2435f, 0.2616f}};
}

DP_API dp_normalize dp_normalize_fashion_mnist(void) {
    return (dp_normalize){{0.2860f, 0.2860f, 0.2860f}, {0.3530f, 0.3530f, 0.3530f}};
}

DP_API dp_normalize dp_normalize_identity(void) { return (dp_normalize){{0, 0, 0}, {1, 1, 1}}; }

static dp_status check_shape(const char *fn, int64_t n, int c, int h, int w) {
    /* c * h cannot overflow int64 (each is an int); c * h * w can, hence the division. */
    if (n < 0 || c < 1 || h < 1 || w < 1 || (int64_t)c * h > MAX_SAMPLE_FLOATS / w)
        return dpi_error(DP_ERR_INVALID_ARG, "%s: shape [%lld,%d,%d,%d] is invalid (need n >= 0, c,h,w >= 1)", fn,
                         (long long)n, c, h, w);
    return DP_OK;
}

static dp_status ds_new(ds_kind kind, int64_t n, int c, int h, int w, dp_dataset **out) {
    dp_dataset *ds = calloc(1, sizeof *ds);
    if (!ds) return dpi_error(DP_ERR_NOMEM, "out of memory for a data set");
    ds->kind = kind;
    ds->n = n;
    ds->c = c;
    ds->h = h;
    ds->w = w;
    ds->sample_floats = (size_t)c * (size_t)h * (size_t)w;
    *out = ds;
    return DP_OK;
}

DP_API dp_status dp_dataset_synthetic(int64_t n, int c, int h, int w, uint64_t seed, dp_dataset **out) {
    if (!out) return dpi_error(DP_ERR_INVALID_ARG, "dp_dataset_synthetic: out is NULL");
    *out = NULL;
    dp_status st = check_shape("dp_dataset_synthetic", n, c, h, w);
    if (st != DP_OK || (st = ds_new(DS_SYNTHETIC, n, c, h, w, out)) != DP_OK) return st;
    (*out)->seed = dpi_splitmix64(&seed);
    return DP_OK;
}

DP_API dp_status dp_dataset_from_memory(const float *data, const int32_t *labels, int64_t n, int c, int h, int w,
                                        dp_dataset **out) {
    if (!out) return dpi_error(DP_ERR_INVALID_ARG, "dp_dataset_from_memory: out is NULL");
    *out = NULL;
    if (!data && n > 0) return dpi_error(DP_ERR_INVALID_ARG, "dp_dataset_from_memory: data is NULL");
    dp_status st = check_shape("dp_dataset_from_memory", n, c, h, w);
    if (st != DP_OK || (st = ds_new(DS_FLOATS, n, c, h, w, out)) != DP_OK) return st;
    (*out)->data = data;
    (*out)->labels = labels;
    return DP_OK;
}

DP_API dp_status dp_dataset_callback(int64_t n, int c, int h, int w, dp_dataset_fn fn, void *user, dp_dataset **out) {
    if (!out) return dpi_error(DP_ERR_INVALID_ARG, "dp_dataset_callback: out is NULL");
    *out = NULL;
    if (!fn) return dpi_error(DP_ERR_INVALID_ARG, "dp_dataset_callback: callback is NULL");
    dp_status st = check_shape("dp_dataset_callback", n, c, h, w);
    if (st != DP_OK || (st = ds_new(DS_CALLBACK, n, c, h, w, out)) != DP_OK) return st;
    (*out)->fn = fn;
    (*out)->user = user;
    return DP_OK;
}

/* Remember the file *out came from, so that later errors (a model that cannot take its samples)
 * can name it; frees *out when out of memory. */
static dp_status keep_path(dp_dataset **out, const char *path) {
    if (((*out)->path = dpi_strdup(path)) != NULL) return DP_OK;
    dp_dataset_free(*out);
    *out = NULL;
    return DP_ERR_NOMEM;
}

const char *dpi_dataset_path(const dp_dataset *ds) { return ds ? ds->path : NULL; }

DP_API dp_status dp_dataset_npy(const char *path, dp_dataset **out) {
    if (!out) return dpi_error(DP_ERR_INVALID_ARG, "dp_dataset_npy: out is NULL");
    *out = NULL;
    if (!path) return dpi_error(DP_ERR_INVALID_ARG, "dp_dataset_npy: path is NULL");
    dp_array arr;
    memset(&arr, 0, sizeof arr);
    dp_status st = dp_npy_read(path, &arr);
    if (st != DP_OK) return st;
    if (arr.ndim != 4 || arr.shape[1] > INT32_MAX || arr.shape[2] > INT32_MAX || arr.shape[3] > INT32_MAX) {
        char dims[160] = "";
        for (int d = 0, len = 0; d < arr.ndim && len < (int)sizeof dims - 24; d++)
            len += snprintf(dims + len, sizeof dims - (size_t)len, d ? ",%lld" : "%lld", (long long)arr.shape[d]);
        dp_array_release(&arr);
        return dpi_error(DP_ERR_SHAPE, "%s: array has shape [%s], expected 4 dimensions [N,C,H,W]", path, dims);
    }
    st = check_shape(path, arr.shape[0], (int)arr.shape[1], (int)arr.shape[2], (int)arr.shape[3]);
    if (st == DP_OK) st = ds_new(DS_FLOATS, arr.shape[0], (int)arr.shape[1], (int)arr.shape[2], (int)arr.shape[3], out);
    if (st != DP_OK) {
        dp_array_release(&arr);
        return st;
    }
    (*out)->owned = arr;
    (*out)->data = arr.data;
    return keep_path(out, path);
}

/* A data set over CIFAR-10 records (from a CIFAR-10 file, or converted from Fashion-MNIST by
 * load), normalised on read through a per-channel lookup table. */
static dp_status bytes_dataset(const char *fn, const char *path, const dp_normalize *norm,
                               dp_status (*load)(const char *, dpi_cifar10 *), dp_dataset **out) {
    if (!out) return dpi_error(DP_ERR_INVALID_ARG, "%s: out is NULL", fn);
    *out = NULL;
    if (!path) return dpi_error(DP_ERR_INVALID_ARG, "%s: path is NULL", fn);
    for (int ch = 0; ch < 3; ch++)
        if (!isfinite(norm->mean[ch]) || !isfinite(norm->std[ch]) || norm->std[ch] == 0)
            return dpi_error(DP_ERR_INVALID_ARG, "%s: normalisation channel %d has mean %g, std %g "
                             "(need finite values, std != 0)", fn, ch, norm->mean[ch], norm->std[ch]);
    dpi_cifar10 cf;
    dp_status st = load(path, &cf);
    if (st != DP_OK) return st;
    if ((st = ds_new(DS_CIFAR10, cf.n, 3, DPI_CIFAR10_SIDE, DPI_CIFAR10_SIDE, out)) != DP_OK) {
        dpi_cifar10_release(&cf);
        return st;
    }
    (*out)->cifar = cf;
    for (int ch = 0; ch < 3; ch++)
        for (int v = 0; v < 256; v++) (*out)->lut[ch][v] = ((float)v / 255.0f - norm->mean[ch]) / norm->std[ch];
    return keep_path(out, path);
}

DP_API dp_status dp_dataset_cifar10(const char *path, const dp_normalize *norm, dp_dataset **out) {
    dp_normalize nm = norm ? *norm : dp_normalize_cifar10();
    return bytes_dataset("dp_dataset_cifar10", path, &nm, dpi_cifar10_load, out);
}

DP_API dp_status dp_dataset_fashion_mnist(const char *path, const dp_normalize *norm, dp_dataset **out) {
    dp_normalize nm = norm ? *norm : dp_normalize_fashion_mnist();
    return bytes_dataset("dp_dataset_fashion_mnist", path, &nm, dpi_fashion_mnist_load, out);
}

DP_API void dp_dataset_free(dp_dataset *ds) {
    if (!ds) return;
    dp_array_release(&ds->owned);
    dpi_cifar10_release(&ds->cifar);
    free(ds->path);
    free(ds);
}

DP_API int64_t dp_dataset_count(const dp_dataset *ds) { return ds ? ds->n : 0; }

DP_API void dp_dataset_shape(const dp_dataset *ds, int *c, int *h, int *w) {
    if (c) *c = ds ? ds->c : 0;
    if (h) *h = ds ? ds->h : 0;
    if (w) *w = ds ? ds->w : 0;
}

DP_API dp_status dp_dataset_get(const dp_dataset *ds, int64_t i, float *dst, int32_t *label) {
    if (!ds || !dst) return dpi_error(DP_ERR_INVALID_ARG, "dp_dataset_get: NULL argument");
    if (i < 0 || i >= ds->n)
        return dpi_error(DP_ERR_INVALID_ARG, "dp_dataset_get: sample %lld is not in 0..%lld", (long long)i,
                         (long long)ds->n - 1);
    int32_t lab = -1;
    switch (ds->kind) {
    case DS_SYNTHETIC: {
        /* A generator state per (seed, index): any thread gets the same sample in any order. */
        uint64_t state = ds->seed ^ ((uint64_t)i * 0xD1B54A32D192ED03ull);
        /* Two values per 64 random bits, as signed 32-bit fractions: uniform in [-1, 1]. */
        for (size_t k = 0; k < ds->sample_floats; k += 2) {
            uint64_t r = dpi_splitmix64(&state);
            dst[k] = (float)(int32_t)(uint32_t)r * 0x1p-31f;
            if (k + 1 < ds->sample_floats) dst[k + 1] = (float)(int32_t)(uint32_t)(r >> 32) * 0x1p-31f;
        }
        lab = (int32_t)(i % 10);
        break;
    }
    case DS_FLOATS:
        memcpy(dst, ds->data + (size_t)i * ds->sample_floats, ds->sample_floats * sizeof *dst);
        if (ds->labels) lab = ds->labels[i];
        break;
    case DS_CIFAR10: {
        const uint8_t *rec = ds->cifar.records + (size_t)i * DPI_CIFAR10_RECORD;
        const size_t plane = DPI_CIFAR10_SIDE * DPI_CIFAR10_SIDE;
        for (int ch = 0; ch < 3; ch++)
            for (size_t k = 0; k < plane; k++) dst[ch * plane + k] = ds->lut[ch][rec[1 + ch * plane + k]];
        lab = rec[0];
        break;
    }
    case DS_CALLBACK: {
        int rc = ds->fn(i, dst, &lab, ds->user);
        if (rc != 0)
            return dpi_error(DP_ERR_IO, "data set callback failed for sample %lld (returned %d)", (long long)i, rc);
        break;
    }
    }
    if (label) *label = lab;
    return DP_OK;
}
