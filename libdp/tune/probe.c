/* One probe and one warm-up of a runner, shared by dp_tune()'s probes (measure.c) and `dp-bench
 * capacity`, so a configuration's rate is measured the same way by both (docs/tune.md). */
#include "tune_impl.h"
#include "util/util.h"

dp_status dpi_tune_source(dp_dataset *ds, dp_rate_policy policy, double rate, int64_t samples, dp_source **out) {
    dp_source_opts so;
    dp_source_opts_init(&so);
    so.policy = policy;
    so.rate = rate;
    so.samples = samples;
    return dp_source_create(ds, &so, out);
}

DP_API dp_status dp_tune_probe_runner(dp_runner *runner, dp_source *src, dp_tune_outcome *out) {
    if (!runner || !src || !out) return dpi_error(DP_ERR_INVALID_ARG, "dp_tune_probe_runner: NULL argument");
    int64_t t0 = dpi_now_ns();
    dp_summary s;
    dp_summary_init(&s);
    dp_status e = dp_runner_run(runner, src, &s);
    if (e != DP_OK) return e;
    *out = (dp_tune_outcome){.p99_ms = s.latency_ms.p99,
                             .throughput = s.throughput,
                             .dropped = s.dropped,
                             .failed = s.failed,
                             .seconds = (double)(dpi_now_ns() - t0) / 1e9,
                             .p99_ci95_ms = {s.latency_ci95_ms.p99[0], s.latency_ci95_ms.p99[1]}};
    return DP_OK;
}

DP_API dp_status dp_tune_warm_up(dp_runner *runner, dp_dataset *ds, const dp_tune_config *cfg) {
    if (!runner || !ds || !cfg) return dpi_error(DP_ERR_INVALID_ARG, "dp_tune_warm_up: NULL argument");
    dp_source *src = NULL;
    dp_summary s;
    dp_summary_init(&s);
    dp_status e = dpi_tune_source(ds, DP_RATE_UNLIMITED, 1, 4 * (int64_t)cfg->workers * cfg->max_batch + 8, &src);
    if (e == DP_OK) e = dp_runner_run(runner, src, &s);
    dp_source_free(src);
    return e;
}
