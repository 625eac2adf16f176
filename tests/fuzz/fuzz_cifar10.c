/* CIFAR-10 binary data: dpi_cifar10_load on a .bin file, a tar or tar.gz archive, or a directory.
 * Input: byte 0 picks the layout, the rest is the content:
 *   0  one file holding the content as it is (a .bin file, a tar archive, or gzip data)
 *   1  one file holding the content gzip-compressed by this target (a .tar.gz or .bin.gz)
 *   2  a directory: byte 1 % 4 + 1 files, the content after byte 1 split evenly between
 *      data_batch_1.bin, data_batch_2.bin, test_batch.bin and notes.txt (which is ignored)
 * Oracle: a loaded set has n >= 1 records of DPI_CIFAR10_RECORD bytes, each label 0..9, and a
 * plain (not tar, gzip or pickle) single file gives exactly size / DPI_CIFAR10_RECORD records; a
 * failure names the file or directory. */
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "io/cifar10.h"

static const char *const dir_files[] = {"data_batch_1.bin", "data_batch_2.bin", "test_batch.bin", "notes.txt"};

/* Binary records as they are: not a tar, not gzip data, not a pickle (the python version). */
static int is_plain(const uint8_t *p, size_t n) {
    int tar = n >= 512 && memcmp(p + 257, "ustar", 5) == 0, gz = n >= 2 && p[0] == 0x1f && p[1] == 0x8b;
    return !tar && !gz && !(n >= 1 && p[0] == 0x80);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int mode = data[0] % 3;
    const uint8_t *content = data + 1;
    size_t len = size - 1;
    const char *path;
    fuzz_reset();
    if (mode < 2) {
        path = fuzz_path("cifar");
        fuzz_write(path, content, len, mode == 1);
    } else {
        if (len < 1) return 0;
        size_t k = content[0] % 4 + 1, part = (len - 1) / k;
        for (size_t i = 0; i < k; i++)
            fuzz_write(fuzz_path(dir_files[i]), content + 1 + i * part, i + 1 < k ? part : len - 1 - i * part, 0);
        path = fuzz_dir();
    }
    dpi_cifar10 c;
    fuzz_clear_error();
    dp_status st = dpi_cifar10_load(path, &c);
    if (st != DP_OK) {
        fuzz_check_error(st, path);
        FUZZ_CHECK(c.records == NULL && c.n == 0, "an output on failure");
        return 0;
    }
    FUZZ_CHECK(c.n >= 1 && c.records != NULL, "%lld records", (long long)c.n);
    for (int64_t r = 0; r < c.n; r++)
        FUZZ_CHECK(c.records[r * DPI_CIFAR10_RECORD] <= 9, "record %lld: label %u", (long long)r,
                   c.records[r * DPI_CIFAR10_RECORD]);
    fuzz_touch(c.records, (size_t)c.n * DPI_CIFAR10_RECORD);
    if (mode < 2 && is_plain(content, len))
        FUZZ_CHECK((size_t)c.n * DPI_CIFAR10_RECORD == len, "%lld records from %zu bytes", (long long)c.n, len);
    dpi_cifar10_release(&c);
    return 0;
}
