/* Arrival traces: dpi_trace_read (plain offsets or CSV with a time column). Input: the file's bytes.
 * Oracle (trace.h's promise): at least one offset, no more than the file has lines, the first 0,
 * non-decreasing, none beyond DPI_TRACE_MAX_OFFSET_S; a failure names the file. */
#include <string.h>

#include "fuzz.h"
#include "stream/trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_path("trace.csv");
    fuzz_write(path, data, size, 0);
    int64_t *off = NULL, n = 0;
    fuzz_clear_error();
    dp_status st = dpi_trace_read(path, &off, &n);
    if (st != DP_OK) {
        fuzz_check_error(st, path);
        return 0;
    }
    int64_t lines = 1;
    for (size_t i = 0; i < size; i++) lines += data[i] == '\n';
    FUZZ_CHECK(n >= 1 && n <= lines, "%lld offsets from %lld lines", (long long)n, (long long)lines);
    FUZZ_CHECK(off[0] == 0, "first offset %lld", (long long)off[0]);
    const int64_t max_ns = (int64_t)(DPI_TRACE_MAX_OFFSET_S * 1e9);
    for (int64_t i = 1; i < n; i++)
        FUZZ_CHECK(off[i] >= off[i - 1] && off[i] <= max_ns, "offset %lld is %lld ns after %lld ns",
                   (long long)i, (long long)off[i], (long long)off[i - 1]);
    free(off);
    return 0;
}
