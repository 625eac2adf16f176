/* Warm-up (dp_runner_opts.warmup_s, warmup_samples): its samples complete as any other but are
 * counted apart, and only the others reach latency_ms and dp_runner_latency_over(). Checked by
 * counts, never by timing: stream and batch mode, by samples and by a window that holds the
 * whole run, none by default, and bad values. */
#include <math.h>

#include "rt_common.h"

/* Run n samples (stream at `rate`, or batch when rate is 0) with the warm-up given; returns the
 * summary's counts and the samples the measured latency histogram holds. */
static void run(dp_model *m, dp_dataset *ds, double rate, int64_t n, double warmup_s, int64_t warmup_samples,
                dp_summary *s, int64_t *measured) {
    dp_partitioner *p = rt_partitioner("dynamic", NULL, NULL);
    dp_runner_opts o;
    dp_runner_opts_init(&o);
    o.workers = 2;
    o.warmup_s = warmup_s;
    o.warmup_samples = warmup_samples;
    dp_runner *r = NULL;
    dp_source *src = NULL;
    CHECK_OK(dp_runner_create(m, p, &o, &r));
    dp_summary_init(s);
    if (rate > 0) {
        dp_source_opts so;
        dp_source_opts_init(&so);
        so.rate = rate;
        so.samples = n;
        CHECK_OK(dp_source_create(ds, &so, &src));
        CHECK_OK(dp_runner_run(r, src, s));
    } else {
        CHECK_OK(dp_runner_run_batch(r, ds, s));
    }
    int64_t over = -1;
    CHECK_OK(dp_runner_latency_over(r, 1e6, measured, &over));
    CHECK(over == 0);
    CHECK_ACCOUNTING(*s);
    dp_source_free(src);
    dp_runner_free(r);
    dp_partitioner_free(p);
}

static void by_samples(dp_model *m, dp_dataset *ds) {
    dp_summary s;
    int64_t measured;
    run(m, ds, 1000, 60, 0, 25, &s, &measured);
    CHECK_MSG(s.completed == 60 && s.warmup_completed == 25 && measured == 35, "stream: completed %lld, warm-up %lld, "
              "measured %lld", (long long)s.completed, (long long)s.warmup_completed, (long long)measured);
    CHECK(s.warmup_latency_ms.p50 > 0 && s.warmup_latency_ms.max >= s.warmup_latency_ms.p99 && s.throughput > 0);
    CHECK(s.latency_ms.p50 > 0);
    /* Batch mode: the data set's first 10 samples. */
    run(m, ds, 0, 0, 0, 10, &s, &measured);
    CHECK_MSG(s.completed == 40 && s.warmup_completed == 10 && measured == 30, "batch: completed %lld, warm-up %lld, "
              "measured %lld", (long long)s.completed, (long long)s.warmup_completed, (long long)measured);
}

static void by_time(dp_model *m, dp_dataset *ds) {
    dp_summary s;
    int64_t measured;
    /* A window of an hour holds the whole run: everything is warm-up, nothing is measured. */
    run(m, ds, 2000, 30, 3600, 0, &s, &measured);
    CHECK_MSG(s.completed == 30 && s.warmup_completed == 30 && measured == 0, "completed %lld, warm-up %lld, measured "
              "%lld", (long long)s.completed, (long long)s.warmup_completed, (long long)measured);
    CHECK(s.throughput == 0 && s.latency_ms.p50 == 0 && s.warmup_latency_ms.p50 > 0 && isnan(s.latency_ci95_ms.p50[0]));
    /* None by default. */
    run(m, ds, 2000, 30, 0, 0, &s, &measured);
    CHECK(s.completed == 30 && s.warmup_completed == 0 && measured == 30 && s.warmup_latency_ms.max == 0);
}

static void bad_values(dp_model *m) {
    dp_partitioner *p = rt_partitioner("uniform", NULL, NULL);
    dp_runner_opts o;
    dp_runner *r = NULL;
    dp_runner_opts_init(&o);
    CHECK(o.warmup_s == 0 && o.warmup_samples == 0);
    o.warmup_s = -1;
    CHECK_STATUS(dp_runner_create(m, p, &o, &r), DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("warmup_s");
    o.warmup_s = NAN;
    CHECK_STATUS(dp_runner_create(m, p, &o, &r), DP_ERR_INVALID_ARG);
    o.warmup_s = 0;
    o.warmup_samples = -5;
    CHECK_STATUS(dp_runner_create(m, p, &o, &r), DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("warmup_samples");
    CHECK(r == NULL);
    dp_partitioner_free(p);
}

int main(void) {
    dp_model *m = rt_model();
    dp_dataset *ds = NULL;
    CHECK_OK(dp_dataset_synthetic(40, 3, 32, 32, 1, &ds));
    by_samples(m, ds);
    by_time(m, ds);
    bad_values(m);
    dp_dataset_free(ds);
    dp_model_free(m);
    TEST_MAIN_END();
}
