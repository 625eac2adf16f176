/* .safetensors weight files: dpi_safetensors_parse. Input: the file's bytes.
 * Oracle: every tensor as fuzz_check_weights says, each with at most one element per byte of the
 * file; a failure names the file. */
#include "fuzz.h"
#include "io/formats.h"

#define NAME "fuzz.safetensors"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    dpi_weights *w = dpi_weights_new(NAME);
    FUZZ_CHECK(w != NULL, "out of memory");
    fuzz_clear_error();
    dp_status st = dpi_safetensors_parse(NAME, data, size, w);
    if (st != DP_OK) fuzz_check_error(st, NAME);
    fuzz_check_weights(w, size);
    dpi_weights_free(w);
    return 0;
}
