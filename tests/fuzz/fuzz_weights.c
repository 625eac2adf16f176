/* The weights loader as users reach it: dpi_weights_load reads a file and recognises its format by
 * content (torch.save zip -> .pth, other zip -> .npz, else .safetensors). Input: the file's bytes,
 * written to a scratch file with no telling extension.
 * Oracle: as fuzz_npz (the loosest bound of the formats); a failure names the file. */
#include "fuzz.h"
#include "io/weights.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_path("weights");
    fuzz_write(path, data, size, 0);
    dpi_weights *w = NULL;
    fuzz_clear_error();
    dp_status st = dpi_weights_load(path, &w);
    if (st != DP_OK) {
        fuzz_check_error(st, path);
        FUZZ_CHECK(w == NULL, "an output on failure");
        return 0;
    }
    fuzz_check_weights(w, (uint64_t)size * 1100);
    dpi_weights_free(w);
    return 0;
}
