/* .npz weight files: dpi_npz_parse (zip, stored or deflate, zip64). Input: the file's bytes.
 * Oracle: every tensor as fuzz_check_weights says, with at most what the bytes can encode (deflate
 * expands at most ~1032:1); a failure names the file. */
#include "fuzz.h"
#include "io/formats.h"

#define NAME "fuzz.npz"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    dpi_weights *w = dpi_weights_new(NAME);
    FUZZ_CHECK(w != NULL, "out of memory");
    fuzz_clear_error();
    dp_status st = dpi_npz_parse(NAME, data, size, w);
    /* A failure may leave the tensors parsed before it in w; they must be sound too. */
    if (st != DP_OK) fuzz_check_error(st, NAME);
    fuzz_check_weights(w, (uint64_t)size * 1100);
    dpi_weights_free(w);
    return 0;
}
