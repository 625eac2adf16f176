/* Calibration files (int8 scales): dp_calibration_load. Input: the file's bytes.
 * Oracle (docs/formats.md, "Calibration files"): a file that loads has an arch name, 1 <= classes,
 * at least 1 sample, a percentile in [50, 100] when that is its method, no more nodes than the
 * file has "node" lines, every range finite and >= 0, every node name non-empty; saving it and
 * loading that again gives the same calibration. A failure names the file. */
#include <math.h>
#include <string.h>

#include "fuzz.h"
#include "model/quant.h"

static void check_fields(const dp_calibration *c, size_t size) {
    FUZZ_CHECK(c->arch[0] && strlen(c->arch) < sizeof c->arch, "arch \"%.40s\"", c->arch);
    FUZZ_CHECK(c->num_classes >= 1 && c->samples >= 1, "classes %d, samples %lld", c->num_classes, (long long)c->samples);
    FUZZ_CHECK(c->method == DP_CALIB_MINMAX || (c->method == DP_CALIB_PERCENTILE && c->percentile >= 50 && c->percentile <= 100),
               "method %d percentile %g", (int)c->method, c->percentile);
    FUZZ_CHECK(c->n >= 0 && (size_t)c->n * 8 <= size, "%d nodes from %zu bytes", c->n, size);
    FUZZ_CHECK(isfinite(c->input_range) && c->input_range >= 0, "input range %g", (double)c->input_range);
    for (int i = 0; i < c->n; i++) {
        FUZZ_CHECK(c->names[i][0] != '\0', "node %d has no name", i);
        FUZZ_CHECK(isfinite(c->range[i]) && c->range[i] >= 0, "node %s range %g", c->names[i], (double)c->range[i]);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_path("model.calib");
    fuzz_write(path, data, size, 0);
    dp_calibration *c = NULL, *again = NULL;
    fuzz_clear_error();
    dp_status st = dp_calibration_load(path, &c);
    if (st != DP_OK) {
        FUZZ_CHECK(c == NULL, "a failed load returned a calibration");
        fuzz_check_error(st, path);
        return 0;
    }
    check_fields(c, size);
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", fuzz_path("again.calib"));
    FUZZ_CHECK(dp_calibration_save(c, copy) == DP_OK, "saving a loaded calibration: %s", dp_last_error());
    FUZZ_CHECK(dp_calibration_load(copy, &again) == DP_OK, "reloading a saved calibration: %s", dp_last_error());
    /* ranges are printed with 9 significant digits: a float survives exactly */
    FUZZ_CHECK(strcmp(again->arch, c->arch) == 0 && again->num_classes == c->num_classes &&
                   again->weights_hash == c->weights_hash && again->method == c->method && again->samples == c->samples &&
                   again->n == c->n && again->input_range == c->input_range,
               "the round trip changed the header");
    for (int i = 0; i < c->n; i++)
        FUZZ_CHECK(strcmp(again->names[i], c->names[i]) == 0 && again->range[i] == c->range[i], "node %d changed", i);
    dp_calibration_free(again);
    dp_calibration_free(c);
    return 0;
}
