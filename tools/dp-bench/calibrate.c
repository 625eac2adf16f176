/* dp-bench calibrate: the activation ranges an int8 model needs, measured over the first samples
 * of a data set and written as a calibration file (docs/formats.md) for --calibration. */
#include <stdio.h>

#include "bench.h"
#include "cli.h"

int dpb_calibrate(const dpc_command *cmd, int argc, char **argv) {
    dpb_opts o;
    int rc = dpb_parse(cmd, argc, argv, &o);
    if (rc != DPC_CONTINUE) return rc;
    dp_model_opts mo;
    dpb_model_opts(&o, &mo);
    dp_model *m = NULL;
    dp_dataset *ds = NULL;
    dp_calibration *cal = NULL;
    dp_calib_opts co;
    dp_calib_opts_init(&co);
    if (o.percentile > 0) {
        co.method = DP_CALIB_PERCENTILE;
        co.percentile = o.percentile;
    }
    if ((rc = dpc_model_load(o.arch, o.weights, NULL, &mo, &m)) || (rc = dpb_open_data(&o, &ds))) goto done;
    rc = DPC_EXIT_FAILED;
    int64_t n = o.samples > 0 ? o.samples : dp_dataset_count(ds) < 512 ? dp_dataset_count(ds) : 512;
    int64_t t0 = dp_now_ns();
    dp_status s = dp_model_calibrate(m, ds, n, &co, &cal);
    if (s) {
        dpc_fail(s, "calibrating");
        goto done;
    }
    if ((s = dp_calibration_save(cal, o.out))) {
        dpc_fail(s, "--out");
        goto done;
    }
    printf("%s: %s over %lld samples of %s (%s) in %.1f s -> %s\n", dpc_prog(), o.arch, (long long)n, o.data,
           co.method == DP_CALIB_PERCENTILE ? "percentile" : "min/max", (double)(dp_now_ns() - t0) / 1e9, o.out);
    rc = 0;
done:
    dp_calibration_free(cal);
    dp_dataset_free(ds);
    dp_model_free(m);
    return rc;
}
