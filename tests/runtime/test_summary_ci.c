/* The summary's percentile confidence intervals and dp_runner_latency_over on a real batch run:
 * each interval contains its percentile, the 99 % one contains the 95 % one, a bound the samples
 * cannot give is NaN (and null in JSON), and the count over an objective matches the extremes. */
#include <math.h>
#include <string.h>

#include "dataparallel.h"
#include "rt_common.h"
#include "test.h"

static void check_ci(const char *name, double p, const double ci95[2], const double ci99[2], int bounded_above) {
    CHECK_MSG(ci95[0] <= p && ci99[0] <= ci95[0], "%s: lower bounds %g (99 %%), %g (95 %%), value %g", name, ci99[0],
              ci95[0], p);
    if (bounded_above)
        CHECK_MSG(p <= ci95[1] && ci95[1] <= ci99[1], "%s: upper bounds %g (95 %%), %g (99 %%), value %g", name,
                  ci95[1], ci99[1], p);
    else
        CHECK_MSG(isnan(ci95[1]) && isnan(ci99[1]), "%s: an upper bound from too few samples", name);
}

int main(void) {
    dp_model *m = rt_model();
    dp_dataset *ds = NULL;
    /* 200 samples: enough for bounded p50 and p90 intervals, too few for an upper bound of p99
     * (368 at 95 %) or p999. */
    CHECK_OK(dp_dataset_synthetic(200, 3, 32, 32, 5, &ds));
    dp_partitioner *p = rt_partitioner("dynamic", NULL, NULL);
    dp_runner_opts o;
    dp_runner_opts_init(&o);
    o.workers = 2;
    dp_runner *r = NULL;
    CHECK_OK(dp_runner_create(m, p, &o, &r));
    RT_SUMMARY(s);
    CHECK_OK(dp_runner_run_batch(r, ds, &s));
    CHECK(s.completed == 200);
    const dp_latency_ms *l = &s.latency_ms;
    check_ci("p50", l->p50, s.latency_ci95_ms.p50, s.latency_ci99_ms.p50, 1);
    check_ci("p90", l->p90, s.latency_ci95_ms.p90, s.latency_ci99_ms.p90, 1);
    check_ci("p99", l->p99, s.latency_ci95_ms.p99, s.latency_ci99_ms.p99, 0);
    check_ci("p999", l->p999, s.latency_ci95_ms.p999, s.latency_ci99_ms.p999, 0);
    char json[8192];
    CHECK(dp_summary_to_json(&s, json, sizeof json) < sizeof json);
    CHECK(strstr(json, "\"latency_ci95_ms\":{\"p50\":[") != NULL);
    CHECK_MSG(strstr(json, "\"p999\":[") && strstr(json, ",null]"), "unbounded side not null: %s", json);

    int64_t n = -1, over = -1;
    CHECK_OK(dp_runner_latency_over(r, l->max * 1.01, &n, &over));
    CHECK(n == 200 && over == 0);
    CHECK_OK(dp_runner_latency_over(r, 0, &n, &over));
    CHECK(n == 200 && over == 200);
    CHECK_OK(dp_runner_latency_over(r, l->p50, &n, &over));
    CHECK_MSG(over >= 80 && over <= 120, "over p50: %lld of 200", (long long)over);
    CHECK_STATUS(dp_runner_latency_over(r, NAN, &n, &over), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_runner_latency_over(NULL, 1, &n, &over), DP_ERR_INVALID_ARG);

    dp_runner_free(r);
    dp_partitioner_free(p);
    dp_dataset_free(ds);
    dp_model_free(m);
    TEST_MAIN_END();
}
