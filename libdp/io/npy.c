/* NumPy .npy: header parsing, conversion to float32, reading and writing files. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"
#include "formats.h"
#include "npy.h"
#include "util/util.h"

static const char magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

/* The value after 'key': in the header's Python dict literal, or NULL. */
static const char *find_value(const char *hdr, const char *key) {
    char pat[32];
    snprintf(pat, sizeof pat, "'%s'", key);
    const char *p = strstr(hdr, pat);
    if (!p) {
        snprintf(pat, sizeof pat, "\"%s\"", key);
        p = strstr(hdr, pat);
    }
    if (!p) return NULL;
    p += strlen(pat);
    while (*p == ' ') p++;
    if (*p++ != ':') return NULL;
    while (*p == ' ') p++;
    return p;
}

static dp_status parse_dict(const char *name, const char *hdr, dpi_npy_header *h) {
    const char *v = find_value(hdr, "descr");
    if (!v || (*v != '\'' && *v != '"'))
        return dpi_error(DP_ERR_FORMAT, "%s: .npy header has no 'descr'", name);
    const char *end = strchr(v + 1, *v);
    if (!end || end - v - 1 >= (ptrdiff_t)sizeof h->descr)
        return dpi_error(DP_ERR_FORMAT, "%s: .npy header has a malformed 'descr'", name);
    memcpy(h->descr, v + 1, (size_t)(end - v - 1));
    h->descr[end - v - 1] = '\0';

    v = find_value(hdr, "fortran_order");
    if (!v) return dpi_error(DP_ERR_FORMAT, "%s: .npy header has no 'fortran_order'", name);
    if (strncmp(v, "True", 4) == 0)
        return dpi_error(DP_ERR_FORMAT, "%s: Fortran-order arrays are not supported (save a C-contiguous array)",
                         name);
    if (strncmp(v, "False", 5) != 0)
        return dpi_error(DP_ERR_FORMAT, "%s: .npy header has a malformed 'fortran_order'", name);

    v = find_value(hdr, "shape");
    if (!v || *v != '(') return dpi_error(DP_ERR_FORMAT, "%s: .npy header has no 'shape' tuple", name);
    v++;
    h->ndim = 0;
    for (;;) {
        while (*v == ' ') v++;
        if (*v == ')') break;
        char *e;
        errno = 0;
        long long d = strtoll(v, &e, 10);
        if (e == v || errno || d < 0)
            return dpi_error(DP_ERR_FORMAT, "%s: .npy header has a malformed 'shape'", name);
        if (h->ndim == DP_NPY_MAX_DIMS)
            return dpi_error(DP_ERR_FORMAT, "%s: array has more than %d dimensions", name, DP_NPY_MAX_DIMS);
        h->shape[h->ndim++] = d;
        v = e;
        while (*v == ' ') v++;
        if (*v == ',') v++;
        else if (*v != ')') return dpi_error(DP_ERR_FORMAT, "%s: .npy header has a malformed 'shape'", name);
    }
    return DP_OK;
}

/* Item size of descr ("<f4" -> 4), 0 when it has none NumPy could write with a fixed size. */
static size_t item_size(const char *descr) {
    if (!strchr("<>|=", descr[0]) || !strchr("biufc", descr[1])) return 0;
    char *e;
    long n = strtol(descr + 2, &e, 10);
    return (*e == '\0' && n > 0 && n <= 16) ? (size_t)n : 0;
}

static int float_dtype(const char *descr, dpi_dtype *dt) {
    if ((descr[0] != '<' && descr[0] != '=') || descr[1] != 'f') return 0;
    if (strcmp(descr + 2, "4") == 0) *dt = DPI_DT_F32;
    else if (strcmp(descr + 2, "8") == 0) *dt = DPI_DT_F64;
    else if (strcmp(descr + 2, "2") == 0) *dt = DPI_DT_F16;
    else return 0;
    return 1;
}

dp_status dpi_npy_parse_header(const char *name, const uint8_t *buf, size_t len, dpi_npy_header *h) {
    memset(h, 0, sizeof *h);
    if (len < 10 || memcmp(buf, magic, sizeof magic) != 0)
        return dpi_error(DP_ERR_FORMAT, "%s: not a .npy file (bad magic)", name);
    int major = buf[6];
    size_t hlen, hstart;
    if (major == 1) {
        hlen = dpi_le16(buf + 8);
        hstart = 10;
    } else if (major == 2 || major == 3) {
        if (len < 12) return dpi_error(DP_ERR_FORMAT, "%s: truncated .npy header", name);
        hlen = dpi_le32(buf + 8);
        hstart = 12;
    } else {
        return dpi_error(DP_ERR_FORMAT, "%s: .npy format version %d is not supported (1, 2 or 3)", name, major);
    }
    if (hlen > len - hstart) return dpi_error(DP_ERR_FORMAT, "%s: truncated .npy header", name);
    char *hdr = malloc(hlen + 1);
    if (!hdr) return dpi_error(DP_ERR_NOMEM, "%s: out of memory", name);
    memcpy(hdr, buf + hstart, hlen);
    hdr[hlen] = '\0';
    dp_status s = parse_dict(name, hdr, h);
    free(hdr);
    if (s) return s;

    size_t isz = item_size(h->descr);
    if (!isz) return dpi_error(DP_ERR_FORMAT, "%s: dtype '%s' is not supported", name, h->descr);
    dpi_dtype dt;
    h->convertible = float_dtype(h->descr, &dt);
    h->data_offset = hstart + hlen;
    size_t avail = len - h->data_offset, count = 1;
    for (int d = 0; d < h->ndim; d++) {
        size_t dim = (size_t)h->shape[d];
        if (dim && count > SIZE_MAX / isz / dim)
            return dpi_error(DP_ERR_FORMAT, "%s: array shape is too large", name);
        count *= dim;
    }
    h->count = count;
    if (count * isz > avail)
        return dpi_error(DP_ERR_FORMAT, "%s: truncated data: %zu bytes for %zu elements of %s, %zu present", name,
                         count * isz, count, h->descr, avail);
    return DP_OK;
}

dp_status dpi_npy_parse(const char *name, const uint8_t *buf, size_t len, dp_array *out) {
    dpi_npy_header h;
    memset(out, 0, sizeof *out);
    dp_status s = dpi_npy_parse_header(name, buf, len, &h);
    if (s) return s;
    dpi_dtype dt;
    if (!float_dtype(h.descr, &dt)) {
        if (h.descr[0] == '>')
            return dpi_error(DP_ERR_FORMAT, "%s: big-endian dtype '%s' is not supported (use '<f4')", name, h.descr);
        return dpi_error(DP_ERR_FORMAT, "%s: dtype '%s' is not supported (float32, float64 or float16)", name,
                         h.descr);
    }
    /* +1: a valid pointer even for zero elements. */
    float *data = malloc(h.count * sizeof *data + 1);
    if (!data) return dpi_error(DP_ERR_NOMEM, "%s: out of memory for %zu elements", name, h.count);
    dpi_convert_to_f32(dt, buf + h.data_offset, h.count, data);
    out->ndim = h.ndim;
    memcpy(out->shape, h.shape, sizeof h.shape);
    out->data = data;
    return DP_OK;
}

DP_API dp_status dp_npy_read(const char *path, dp_array *out) {
    if (!out) return dpi_error(DP_ERR_INVALID_ARG, "dp_npy_read: out is NULL");
    memset(out, 0, sizeof *out);
    if (!path) return dpi_error(DP_ERR_INVALID_ARG, "dp_npy_read: path is NULL");
    uint8_t *buf;
    size_t len;
    dp_status s = dpi_read_whole_file(path, &buf, &len);
    if (s) return s;
    s = dpi_npy_parse(path, buf, len, out);
    free(buf);
    return s;
}

DP_API dp_status dp_npy_write(const char *path, const float *data, int ndim, const int64_t *shape) {
    if (!path) return dpi_error(DP_ERR_INVALID_ARG, "dp_npy_write: path is NULL");
    if (ndim < 0 || ndim > DP_NPY_MAX_DIMS || (ndim > 0 && !shape))
        return dpi_error(DP_ERR_INVALID_ARG, "dp_npy_write: ndim %d out of range [0, %d]", ndim, DP_NPY_MAX_DIMS);
    char dict[512];
    size_t count = 1;
    int n = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0) return dpi_error(DP_ERR_INVALID_ARG, "dp_npy_write: shape[%d] = %lld", d, (long long)shape[d]);
        /* A wrapped count would write a header promising more data than follows. */
        if (shape[d] && count > SIZE_MAX / sizeof *data / (size_t)shape[d])
            return dpi_error(DP_ERR_INVALID_ARG, "%s: dp_npy_write: shape[%d] = %lld makes more elements than memory "
                             "can hold", path, d, (long long)shape[d]);
        count *= (size_t)shape[d];
        n += snprintf(dict + n, sizeof dict - (size_t)n, "%lld%s", (long long)shape[d], ndim == 1 ? "," : (d + 1 < ndim ? ", " : ""));
    }
    n += snprintf(dict + n, sizeof dict - (size_t)n, "), }");
    if (count > 0 && !data) return dpi_error(DP_ERR_INVALID_ARG, "dp_npy_write: data is NULL");
    /* NumPy pads the header with spaces and a final newline so the data starts 64-aligned. */
    size_t total = 10 + (size_t)n + 1;
    size_t pad = (64 - total % 64) % 64;
    uint8_t head[10 + sizeof dict + 64];
    memcpy(head, magic, sizeof magic);
    head[6] = 1;
    head[7] = 0;
    size_t hlen = (size_t)n + pad + 1;
    head[8] = (uint8_t)(hlen & 0xff);
    head[9] = (uint8_t)(hlen >> 8);
    memcpy(head + 10, dict, (size_t)n);
    memset(head + 10 + n, ' ', pad);
    head[10 + n + pad] = '\n';

    FILE *f = fopen(path, "wb");
    if (!f) return dpi_error(DP_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    int ok = fwrite(head, 1, 10 + hlen, f) == 10 + hlen;
    /* The data is written as the host's floats: x86 and every other supported target are little-endian. */
    ok = ok && (count == 0 || fwrite(data, sizeof *data, count, f) == count);
    ok = (fclose(f) == 0) && ok;
    if (!ok) return dpi_error(DP_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    return DP_OK;
}

DP_API void dp_array_release(dp_array *arr) {
    if (!arr) return;
    free(arr->data);
    memset(arr, 0, sizeof *arr);
}
