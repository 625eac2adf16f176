/*
 * dataparallel/stats.h — how sure a latency percentile is (docs/metrics.md, "Confidence").
 *
 * A percentile measured over n samples is an order statistic; where the true quantile of the
 * latency distribution lies follows from the binomial distribution alone, whatever the
 * distribution is. These functions give the order-statistic bounds, the samples a percentile
 * needs before its interval is bounded above, and the early-stopping verdict "the q-quantile is
 * below the SLO" at a confidence (the test MLPerf LoadGen applies). Pure functions; thread-safe.
 */
#ifndef DATAPARALLEL_STATS_H
#define DATAPARALLEL_STATS_H

#include <stdint.h>

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The equal-tailed interval of the q-quantile (0 < q < 1) at `confidence` (0.5 <= c < 1) from n
 * samples, as 1-based ranks of the sorted samples: P(x_(lo) <= quantile <= x_(hi)) >= confidence.
 * lo = 0 when no sample is a lower bound (too few samples below), hi = 0 when none is an upper
 * bound (too few above: dp_min_samples_for() says how many are needed). DP_ERR_INVALID_ARG for
 * n < 0 or q, confidence out of range. Exact binomial sums up to n = 10^5, a normal approximation
 * beyond. */
DP_API dp_status dp_quantile_ci_ranks(int64_t n, double q, double confidence, int64_t *lo, int64_t *hi);

/* The fewest samples for which the q-quantile's interval at `confidence` is bounded above
 * (p99 at 95 %: 368; at 99 %: 528). -1 for arguments out of range. */
DP_API int64_t dp_min_samples_for(double q, double confidence);

/* Early stopping: with n samples of which `over` exceeded an objective, does "the q-quantile is
 * within the objective" hold at `confidence`? *holds = 1 when, were the quantile above the
 * objective (a sample exceeding it with probability >= 1 - q), so few exceedances would happen
 * with probability <= 1 - confidence; else 0 (not shown yet, or false). */
DP_API dp_status dp_quantile_within(int64_t n, int64_t over, double q, double confidence, int *holds);

/* ---- Across repeated runs -------------------------------------------------------------------
 * A figure measured by N repeated runs (dp-bench --repeat N) is reported as the median of the N
 * values with a percentile-bootstrap interval: the median is recomputed on `resamples` resamples
 * of the N values drawn with replacement, and the interval is the (1 - confidence) / 2 and
 * (1 + confidence) / 2 quantiles of those medians (nearest rank). The generator is seeded, so
 * the same values, resamples and seed give the same interval on every machine. */

/* The resample count dp-bench uses (docs/metrics.md, "Repeats"): the interval's ends move by
 * well under one spacing of the data between seeds at this count. */
#define DP_BOOTSTRAP_RESAMPLES 2000

/* The median of x[0..n) (mean of the two middle values for even n) into *median, and its
 * bootstrap interval at `confidence` (0.5 <= c < 1) into *lo, *hi. The interval always holds the
 * median (with a handful of resamples it could miss it by chance; it is then widened to it).
 * n = 1 gives lo = hi = median. DP_ERR_INVALID_ARG for n < 1, a non-finite value (named
 * by index), resamples outside 1..10^7 or NULL pointers; DP_ERR_NOMEM. Not for a hot path: it
 * allocates n + resamples doubles. */
DP_API dp_status dp_bootstrap_median(const double *x, int64_t n, double confidence, int resamples, uint64_t seed,
                                     double *median, double *lo, double *hi);

#ifdef __cplusplus
}
#endif
#endif
