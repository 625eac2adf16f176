/* .npy images: dpi_npy_parse_header and dpi_npy_parse (behind dp_npy_read, the npy: data set and
 * every .npz member). Input: the file's bytes.
 * Oracle: the header parser and the reader agree (shape, count, which dtypes convert); a parsed
 * array has 0..DP_NPY_MAX_DIMS non-negative dimensions whose data lies inside the input, and a
 * buffer of as many floats as its shape says. */
#include <string.h>

#include "fuzz.h"
#include "io/npy.h"

#define NAME "fuzz.npy"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    dpi_npy_header h;
    fuzz_clear_error();
    dp_status hs = dpi_npy_parse_header(NAME, data, size, &h);
    if (hs != DP_OK) fuzz_check_error(hs, NAME);
    dp_array a;
    fuzz_clear_error();
    dp_status st = dpi_npy_parse(NAME, data, size, &a);
    if (st != DP_OK) {
        fuzz_check_error(st, NAME);
        FUZZ_CHECK(hs != DP_OK || !h.convertible, "the header of a convertible array parsed, the array did not");
        return 0;
    }
    FUZZ_CHECK(hs == DP_OK && h.convertible, "the array parsed, its header did not");
    FUZZ_CHECK(a.ndim >= 0 && a.ndim <= DP_NPY_MAX_DIMS && a.ndim == h.ndim, "ndim %d", a.ndim);
    FUZZ_CHECK(memcmp(a.shape, h.shape, sizeof a.shape) == 0, "header and array shapes differ");
    int64_t count = fuzz_shape_count(a.ndim, a.shape);
    FUZZ_CHECK(count >= 0 && (size_t)count == h.count, "%lld elements, the header says %zu", (long long)count,
               h.count);
    size_t item = (size_t)(h.descr[2] - '0'); /* "<f4", "<f8", "<f2" */
    FUZZ_CHECK(h.data_offset <= size && h.count <= (size - h.data_offset) / item,
               "%zu elements of %s at %zu do not fit %zu bytes", h.count, h.descr, h.data_offset, size);
    fuzz_touch(a.data, h.count * sizeof(float));
    dp_array_release(&a);
    return 0;
}
