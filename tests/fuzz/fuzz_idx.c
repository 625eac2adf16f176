/* Fashion-MNIST / MNIST IDX files: dpi_fashion_mnist_load, converting to CIFAR-10 records.
 * Input: byte 0: bit 0 gzip-compresses both files, bit 1 passes the images file instead of the
 * directory; bytes 1-2: length L (little-endian) of the labels file, cut to what is left; then L
 * bytes of the t10k labels file, then the t10k images file.
 * Oracle: a loaded set has as many records as the images header says, each label 0..9, the grey
 * image replicated into three equal planes; a failure names a file in the directory. */
#include <string.h>

#include "fuzz.h"
#include "io/cifar10.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 3) return 0;
    int gz = data[0] & 1, by_file = data[0] & 2;
    size_t nlab = (size_t)data[1] | (size_t)data[2] << 8;
    if (nlab > size - 3) nlab = size - 3;
    const uint8_t *labels = data + 3, *images = labels + nlab;
    size_t nimg = size - 3 - nlab;
    fuzz_reset();
    char images_path[600];
    snprintf(images_path, sizeof images_path, "%s", fuzz_path(gz ? "t10k-images-idx3-ubyte.gz" : "t10k-images-idx3-ubyte"));
    fuzz_write(images_path, images, nimg, gz);
    fuzz_write(fuzz_path(gz ? "t10k-labels-idx1-ubyte.gz" : "t10k-labels-idx1-ubyte"), labels, nlab, gz);
    const char *path = by_file ? images_path : fuzz_dir();
    dpi_cifar10 c;
    fuzz_clear_error();
    dp_status st = dpi_fashion_mnist_load(path, &c);
    if (st != DP_OK) {
        fuzz_check_error(st, fuzz_dir());
        return 0;
    }
    FUZZ_CHECK(nimg >= 8, "loaded from a %zu-byte images file", nimg);
    int64_t declared = (int64_t)images[4] << 24 | images[5] << 16 | images[6] << 8 | images[7];
    FUZZ_CHECK(c.n == declared, "%lld records, the header says %lld", (long long)c.n, (long long)declared);
    const size_t plane = DPI_CIFAR10_SIDE * DPI_CIFAR10_SIDE;
    for (int64_t r = 0; r < c.n; r++) {
        const uint8_t *rec = c.records + r * DPI_CIFAR10_RECORD;
        FUZZ_CHECK(rec[0] <= 9, "record %lld: label %u", (long long)r, rec[0]);
        FUZZ_CHECK(memcmp(rec + 1, rec + 1 + plane, plane) == 0 && memcmp(rec + 1, rec + 1 + 2 * plane, plane) == 0,
                   "record %lld: the three planes differ", (long long)r);
    }
    dpi_cifar10_release(&c);
    return 0;
}
