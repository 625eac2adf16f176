/* Order-statistic confidence bounds for percentiles; see dataparallel/stats.h. */
#include <math.h>

#include "dataparallel/stats.h"
#include "util/util.h"

/* Exact sums up to this many samples (one pass over up to n terms; a summary computes a few
 * dozen); beyond, the normal approximation with continuity correction is within a rank or two of
 * ranks in the thousands. */
#define EXACT_MAX 100000

static int q_ok(double q) { return q > 0 && q < 1; }
static int c_ok(double c) { return c >= 0.5 && c < 1; }

/* The standard normal quantile by bisection on erfc (60 halvings of [-40, 40]). */
static double norm_quantile(double p) {
    double lo = -40, hi = 40;
    for (int i = 0; i < 60; i++) {
        double mid = 0.5 * (lo + hi);
        if (0.5 * erfc(-mid / sqrt(2.0)) < p) lo = mid;
        else hi = mid;
    }
    return 0.5 * (lo + hi);
}

/* The smallest k in [0, n] with P(B <= k) >= p for B ~ Binomial(n, q). */
static int64_t binom_quantile(int64_t n, double q, double p) {
    if (n > EXACT_MAX) {
        double sd = sqrt((double)n * q * (1 - q));
        double k = ceil((double)n * q + norm_quantile(p) * sd - 0.5);
        return k < 0 ? 0 : k > (double)n ? n : (int64_t)k;
    }
    /* log pmf(k) from log pmf(0) = n log(1-q) by the ratio pmf(k+1)/pmf(k) = (n-k)/(k+1) q/(1-q);
     * the running sum stays in logs because pmf(0) underflows for large n. */
    double ratio = log(q) - log1p(-q), lp = (double)n * log1p(-q), log_cdf = lp, log_p = log(p);
    for (int64_t k = 0; k < n; k++) {
        if (log_cdf >= log_p) return k;
        lp += log((double)(n - k) / (double)(k + 1)) + ratio;
        log_cdf = log_cdf > lp ? log_cdf + log1p(exp(lp - log_cdf)) : lp + log1p(exp(log_cdf - lp));
    }
    return n;
}

DP_API dp_status dp_quantile_ci_ranks(int64_t n, double q, double confidence, int64_t *lo, int64_t *hi) {
    if (!lo || !hi) return dpi_error(DP_ERR_INVALID_ARG, "dp_quantile_ci_ranks: lo or hi is NULL");
    if (n < 0 || !q_ok(q) || !c_ok(confidence))
        return dpi_error(DP_ERR_INVALID_ARG,
                         "dp_quantile_ci_ranks: n = %lld, q = %g, confidence = %g: need n >= 0, 0 < q < 1, "
                         "0.5 <= confidence < 1",
                         (long long)n, q, confidence);
    *lo = *hi = 0;
    if (n == 0) return DP_OK;
    double a = (1 - confidence) / 2;
    /* B = number of samples below the quantile ~ Binomial(n, q). x_(l) <= quantile iff B >= l:
     * the largest l with P(B <= l - 1) <= a; x_(u) >= quantile iff B <= u - 1: the smallest u
     * with P(B <= u - 1) >= 1 - a. */
    *lo = binom_quantile(n, q, a); /* P(B <= lo - 1) < a; 0: no sample is a lower bound */
    int64_t ku = binom_quantile(n, q, 1 - a);
    *hi = ku + 1 <= n ? ku + 1 : 0;
    return DP_OK;
}

DP_API int64_t dp_min_samples_for(double q, double confidence) {
    if (!q_ok(q) || !c_ok(confidence)) return -1;
    /* Bounded above once P(B <= n - 1) >= 1 - a, i.e. 1 - q^n >= 1 - a: q^n <= a. */
    double a = (1 - confidence) / 2;
    double n = ceil(log(a) / log(q) - 1e-9);
    return n < 1 ? 1 : (int64_t)n;
}

DP_API dp_status dp_quantile_within(int64_t n, int64_t over, double q, double confidence, int *holds) {
    if (!holds) return dpi_error(DP_ERR_INVALID_ARG, "dp_quantile_within: holds is NULL");
    if (n < 0 || over < 0 || over > n || !q_ok(q) || !c_ok(confidence))
        return dpi_error(DP_ERR_INVALID_ARG,
                         "dp_quantile_within: n = %lld, over = %lld, q = %g, confidence = %g: need 0 <= over <= n, "
                         "0 < q < 1, 0.5 <= confidence < 1",
                         (long long)n, (long long)over, q, confidence);
    /* Exceedances E ~ Binomial(n, p) with p >= 1 - q if the quantile were above the objective;
     * the verdict holds when P(E <= over | p = 1 - q) <= 1 - confidence, i.e. when `over` is
     * below the (1 - confidence)-quantile of that binomial. */
    *holds = n > 0 && over < binom_quantile(n, 1 - q, 1 - confidence);
    return DP_OK;
}
