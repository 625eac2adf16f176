/* PyTorch .pth weight files (torch.save zip format): dpi_pth_sniff and dpi_pth_parse, whose
 * data.pkl goes through the restricted unpickler. Input: the file's bytes.
 * Oracle: every tensor as fuzz_check_weights says, with at most what the bytes can encode (a
 * view never holds more elements than its storage, and a storage is a member of the zip); a file
 * that parses is also recognised by the sniffer; a failure names the file. */
#include "fuzz.h"
#include "io/formats.h"

#define NAME "fuzz.pth"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int sniffed = dpi_pth_sniff(data, size);
    dpi_weights *w = dpi_weights_new(NAME);
    FUZZ_CHECK(w != NULL, "out of memory");
    fuzz_clear_error();
    dp_status st = dpi_pth_parse(NAME, data, size, w);
    if (st != DP_OK) fuzz_check_error(st, NAME);
    else FUZZ_CHECK(sniffed, "parsed as .pth, not recognised as one");
    fuzz_check_weights(w, (uint64_t)size * 1100);
    dpi_weights_free(w);
    return 0;
}
