/* The CIFAR-10 python version (cifar-10-batches-py: data_batch_1..5, test_batch): each batch is a
 * pickled dict {b'data': uint8 ndarray [N, 3072], b'labels': [N ints], ...}, written by Python 2's
 * cPickle (protocol 2) and read here with the restricted unpickler, allowing only NumPy's array
 * reconstruction. A row of 'data' is the red, green and blue 32x32 planes: the pixel bytes of a
 * binary-version record, so each batch becomes label byte + row records. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cifar10.h"
#include "pickle.h"
#include "util/util.h"

dp_status dpi_cifar10_py_records(const char *name, const uint8_t *buf, size_t len, uint8_t **records,
                                 size_t *out_len) {
    dpi_unpickler *up;
    const dpi_pk *root, *data, *labels;
    dp_status s = dpi_unpickle(name, buf, len, DPI_PK_NUMPY, &up, &root);
    if (s) return s;
    data = dpi_pk_dict_get(root, "data");
    labels = dpi_pk_dict_get(root, "labels");
    if (!data || !labels) {
        s = dpi_error(DP_ERR_FORMAT, "%s: a pickle without 'data' and 'labels' entries: not a CIFAR-10 python batch",
                      name);
        goto done;
    }
    const dpi_pk_ndarray *a = data->u.array;
    if (data->kind != DPI_PK_NDARRAY || strcmp(a->descr + 1, "u1") != 0 || a->ndim != 2 ||
        a->shape[1] != DPI_CIFAR10_PIXELS || a->fortran) {
        s = dpi_error(DP_ERR_FORMAT, "%s: 'data' is not a C-order uint8 array [N, %d]", name, DPI_CIFAR10_PIXELS);
        goto done;
    }
    size_t n = (size_t)a->shape[0];
    if ((labels->kind != DPI_PK_LIST && labels->kind != DPI_PK_TUPLE) || labels->u.c.n != n) {
        s = dpi_error(DP_ERR_FORMAT, "%s: 'labels' is not a list of %zu labels, one per row of 'data'", name, n);
        goto done;
    }
    /* n rows of 3072 bytes are in the file, so n records are bounded by it too. */
    uint8_t *out = malloc(n * DPI_CIFAR10_RECORD + 1);
    if (!out) {
        s = dpi_error(DP_ERR_NOMEM, "%s: out of memory for %zu records", name, n);
        goto done;
    }
    for (size_t r = 0; r < n; r++) {
        const dpi_pk *l = labels->u.c.v[r];
        if (l->kind != DPI_PK_INT || l->u.i < 0 || l->u.i > 9) {
            free(out);
            s = dpi_error(DP_ERR_FORMAT, "%s: label %zu is not an integer 0..9", name, r);
            goto done;
        }
        out[r * DPI_CIFAR10_RECORD] = (uint8_t)l->u.i;
        memcpy(out + r * DPI_CIFAR10_RECORD + 1, a->data + r * DPI_CIFAR10_PIXELS, DPI_CIFAR10_PIXELS);
    }
    *records = out;
    *out_len = n * DPI_CIFAR10_RECORD;
done:
    dpi_unpickler_free(up);
    return s;
}
