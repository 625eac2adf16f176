/* Fashion-MNIST (and MNIST) in IDX format, converted to CIFAR-10 records so that the data sets,
 * sources and tools take it like any CIFAR-10 file: each 28x28 grey image is padded with zeros to
 * 32x32 (2 pixels on every side) and replicated into the R, G and B planes; labels are kept. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cifar10.h"
#include "formats.h"
#include "util/util.h"

#define IDX_IMAGES 0x00000803u  /* unsigned bytes, 3 dimensions */
#define IDX_LABELS 0x00000801u  /* unsigned bytes, 1 dimension */

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

/* One IDX file of unsigned bytes: its dims (ndim of them) and a pointer to the payload in *buf. */
static dp_status idx_read(const char *path, uint32_t magic, int ndim, uint8_t **buf, uint32_t *dims,
                          const uint8_t **payload) {
    size_t len;
    dp_status st = dpi_gz_read_whole_file(path, buf, &len);
    if (st != DP_OK) return st;
    size_t head = 4 + 4 * (size_t)ndim, count = 1;
    if (len < head || be32(*buf) != magic) {
        st = dpi_error(DP_ERR_FORMAT, "%s: not an IDX %s file (magic 0x%08x expected)", path,
                       ndim == 3 ? "image" : "label", magic);
        goto fail;
    }
    for (int d = 0; d < ndim; d++) {
        dims[d] = be32(*buf + 4 + 4 * d);
        count = dims[d] && count > SIZE_MAX / dims[d] ? SIZE_MAX : count * dims[d];
    }
    if (len - head != count) {
        st = dpi_error(DP_ERR_FORMAT, "%s: %zu bytes of data for %zu expected (truncated?)", path, len - head, count);
        goto fail;
    }
    *payload = *buf + head;
    return DP_OK;
fail:
    free(*buf);
    *buf = NULL;
    return st;
}

static int exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* The image and label files: a directory gives its t10k (test) pair, gzip-compressed or not; an
 * images file gives the labels file next to it with "images-idx3" replaced by "labels-idx1". */
static dp_status resolve(const char *path, char *images, char *labels, size_t cap) {
    struct stat sb;
    if (stat(path, &sb) != 0) return dpi_error(DP_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (S_ISDIR(sb.st_mode)) {
        const char *suffix = "";
        snprintf(images, cap, "%s/t10k-images-idx3-ubyte.gz", path);
        if (exists(images)) suffix = ".gz";
        snprintf(images, cap, "%s/t10k-images-idx3-ubyte%s", path, suffix);
        snprintf(labels, cap, "%s/t10k-labels-idx1-ubyte%s", path, suffix);
        if (!exists(images))
            return dpi_error(DP_ERR_NOT_FOUND, "%s: no t10k-images-idx3-ubyte[.gz] in this directory", path);
        return DP_OK;
    }
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *at = strstr(base, "images-idx3");
    if (!at)
        return dpi_error(DP_ERR_INVALID_ARG, "%s: expected a directory or an IDX images file named "
                         "*-images-idx3-ubyte[.gz]", path);
    if (strlen(path) >= cap) return dpi_error(DP_ERR_INVALID_ARG, "%s: path too long", path);
    snprintf(images, cap, "%s", path);
    snprintf(labels, cap, "%.*slabels-idx1%s", (int)(at - path), path, at + strlen("images-idx3"));
    return DP_OK;
}

dp_status dpi_fashion_mnist_load(const char *path, dpi_cifar10 *out) {
    out->n = 0;
    out->records = NULL;
    char images[4096], labels[4096];
    uint8_t *ibuf = NULL, *lbuf = NULL;
    const uint8_t *pix, *lab;
    uint32_t idims[3], ldims[1];
    dp_status st = resolve(path, images, labels, sizeof images);
    if (st == DP_OK) st = idx_read(images, IDX_IMAGES, 3, &ibuf, idims, &pix);
    if (st == DP_OK) st = idx_read(labels, IDX_LABELS, 1, &lbuf, ldims, &lab);
    if (st != DP_OK) goto done;
    uint32_t n = idims[0], rows = idims[1], cols = idims[2];
    if (ldims[0] != n) {
        st = dpi_error(DP_ERR_FORMAT, "%s has %u images but %s has %u labels", images, n, labels, ldims[0]);
        goto done;
    }
    if (n == 0 || rows < 1 || cols < 1 || rows > DPI_CIFAR10_SIDE || cols > DPI_CIFAR10_SIDE) {
        st = dpi_error(DP_ERR_FORMAT, "%s: %u images of %ux%u, expected at least one of at most %dx%d", images, n, rows,
                       cols, DPI_CIFAR10_SIDE, DPI_CIFAR10_SIDE);
        goto done;
    }
    for (uint32_t i = 0; i < n; i++)
        if (lab[i] > 9) {
            st = dpi_error(DP_ERR_FORMAT, "%s: label %u of sample %u, expected 0..9", labels, lab[i], i);
            goto done;
        }
    out->records = calloc(n, DPI_CIFAR10_RECORD);
    if (!out->records) {
        st = dpi_error(DP_ERR_NOMEM, "%s: out of memory for %u records", images, n);
        goto done;
    }
    const size_t plane = DPI_CIFAR10_SIDE * DPI_CIFAR10_SIDE;
    const uint32_t top = (DPI_CIFAR10_SIDE - rows) / 2, left = (DPI_CIFAR10_SIDE - cols) / 2;
    for (uint32_t i = 0; i < n; i++) {
        uint8_t *rec = out->records + (size_t)i * DPI_CIFAR10_RECORD;
        const uint8_t *img = pix + (size_t)i * rows * cols;
        rec[0] = lab[i];
        for (uint32_t y = 0; y < rows; y++)
            memcpy(rec + 1 + (top + y) * DPI_CIFAR10_SIDE + left, img + (size_t)y * cols, cols);
        memcpy(rec + 1 + plane, rec + 1, plane);
        memcpy(rec + 1 + 2 * plane, rec + 1, plane);
    }
    out->n = n;
done:
    free(ibuf);
    free(lbuf);
    return st;
}
