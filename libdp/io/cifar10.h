/* CIFAR-10 binary format: records of 1 label byte (0..9) followed by 3072 pixel bytes, the
 * 32x32 R, G and B planes in that order. The data set keeps these bytes as they are (a quarter of
 * the float size) and normalises a sample when it is read. */
#ifndef DP_IO_CIFAR10_H
#define DP_IO_CIFAR10_H

#include <stdint.h>

#include "dataparallel/core.h"

#define DPI_CIFAR10_SIDE 32
#define DPI_CIFAR10_PIXELS (3 * DPI_CIFAR10_SIDE * DPI_CIFAR10_SIDE)
#define DPI_CIFAR10_RECORD (1 + DPI_CIFAR10_PIXELS)

typedef struct dpi_cifar10 {
    int64_t n;
    uint8_t *records;   /* n records of DPI_CIFAR10_RECORD bytes, label byte first */
} dpi_cifar10;

/* Load path: one .bin file; a directory with data_batch_*.bin (in numeric order) then
 * test_batch.bin; or a tar archive (gzip-compressed or not, e.g. cifar-10-binary.tar.gz) whose
 * members named data_batch_*.bin / test_batch.bin are taken in that same order. The python
 * version (pickled batches data_batch_N / test_batch, cifar-10-python.tar.gz) is recognised by
 * content and read the same ways. Errors:
 * DP_ERR_IO (cannot open/read), DP_ERR_FORMAT (truncated record, bad size, label byte > 9, bad
 * tar header), DP_ERR_NOT_FOUND (a directory or archive without such files), naming the file. */
dp_status dpi_cifar10_load(const char *path, dpi_cifar10 *out);
void dpi_cifar10_release(dpi_cifar10 *c);

/* One batch of the CIFAR-10 python version (a pickle, cifar10_py.c) as binary records in a
 * malloc'd buffer. DP_ERR_FORMAT naming the file (and the opcode or global a hostile pickle uses). */
dp_status dpi_cifar10_py_records(const char *name, const uint8_t *buf, size_t len, uint8_t **records,
                                 size_t *out_len);

/* Fashion-MNIST / MNIST IDX files as CIFAR-10 records (idx.c): 28x28 grey padded with zeros to
 * 32x32 and replicated into R, G, B; labels kept. path: a directory (its t10k-*-ubyte[.gz] test
 * pair) or a *-images-idx3-ubyte[.gz] file (labels from *-labels-idx1-ubyte[.gz] beside it).
 * Errors name the file: DP_ERR_IO, DP_ERR_FORMAT (bad magic, truncated, counts differ, label > 9),
 * DP_ERR_NOT_FOUND (directory without the test pair), DP_ERR_INVALID_ARG (another file name). */
dp_status dpi_fashion_mnist_load(const char *path, dpi_cifar10 *out);

#endif
