/* The median of repeated runs and its percentile-bootstrap interval; see dataparallel/stats.h. */
#include <math.h>
#include <stdlib.h>

#include "dataparallel/stats.h"
#include "util/util.h"

#define MAX_RESAMPLES 10000000

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of v[0..n), which it sorts. */
static double sorted_median(double *v, int64_t n) {
    qsort(v, (size_t)n, sizeof v[0], cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

DP_API dp_status dp_bootstrap_median(const double *x, int64_t n, double confidence, int resamples, uint64_t seed,
                                     double *median, double *lo, double *hi) {
    if (!x || !median || !lo || !hi)
        return dpi_error(DP_ERR_INVALID_ARG, "dp_bootstrap_median: x, median, lo or hi is NULL");
    if (n < 1 || !(confidence >= 0.5 && confidence < 1) || resamples < 1 || resamples > MAX_RESAMPLES)
        return dpi_error(DP_ERR_INVALID_ARG,
                         "dp_bootstrap_median: n = %lld, confidence = %g, resamples = %d: need n >= 1, "
                         "0.5 <= confidence < 1, 1 <= resamples <= %d",
                         (long long)n, confidence, resamples, MAX_RESAMPLES);
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return dpi_error(DP_ERR_INVALID_ARG, "dp_bootstrap_median: x[%lld] is %g", (long long)i, x[i]);
    double *v = malloc((size_t)n * sizeof *v), *meds = malloc((size_t)resamples * sizeof *meds);
    if (!v || !meds) {
        free(v);
        free(meds);
        return dpi_error(DP_ERR_NOMEM, "dp_bootstrap_median: %lld values, %d resamples", (long long)n, resamples);
    }
    for (int64_t i = 0; i < n; i++) v[i] = x[i];
    *median = sorted_median(v, n);
    uint64_t state = seed;
    for (int b = 0; b < resamples; b++) {
        for (int64_t i = 0; i < n; i++) v[i] = x[(int64_t)(dpi_rand_unit(&state) * (double)n)];
        meds[b] = sorted_median(v, n);
    }
    qsort(meds, (size_t)resamples, sizeof meds[0], cmp_double);
    /* Nearest rank: the a-quantile of B sorted values is the ceil(a B)-th (1-based). */
    double a = (1 - confidence) / 2;
    int64_t rlo = (int64_t)ceil(a * resamples - 1e-9), rhi = (int64_t)ceil((1 - a) * resamples - 1e-9);
    *lo = fmin(meds[rlo < 1 ? 0 : rlo - 1], *median);
    *hi = fmax(meds[rhi > resamples ? resamples - 1 : rhi - 1], *median);
    free(v);
    free(meds);
    return DP_OK;
}
