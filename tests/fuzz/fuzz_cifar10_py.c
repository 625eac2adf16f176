/* One batch of the CIFAR-10 python version: dpi_cifar10_py_records (a pickled dict read by the
 * restricted unpickler, NumPy's array reconstruction only). Input: the pickle's bytes.
 * Oracle: whole records, each label 0..9, no more rows than the input has bytes for (3072 pixel
 * bytes each), and a buffer as long as it says; a failure names the batch. */
#include <stdlib.h>

#include "fuzz.h"
#include "io/cifar10.h"

#define NAME "fuzz_batch"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *rec = NULL;
    size_t len = 0;
    fuzz_clear_error();
    dp_status st = dpi_cifar10_py_records(NAME, data, size, &rec, &len);
    if (st != DP_OK) {
        fuzz_check_error(st, NAME);
        return 0;
    }
    size_t n = len / DPI_CIFAR10_RECORD;
    FUZZ_CHECK(len % DPI_CIFAR10_RECORD == 0, "%zu bytes of records", len);
    FUZZ_CHECK(n <= size / DPI_CIFAR10_PIXELS, "%zu records from %zu bytes", n, size);
    for (size_t r = 0; r < n; r++)
        FUZZ_CHECK(rec[r * DPI_CIFAR10_RECORD] <= 9, "record %zu: label %u", r, rec[r * DPI_CIFAR10_RECORD]);
    fuzz_touch(rec, len);
    free(rec);
    return 0;
}
