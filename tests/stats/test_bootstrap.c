/* The bootstrap interval of a median across repeats: against the exact bootstrap distribution
 * (every one of the n^n resamples enumerated), holding the median, deterministic for a seed,
 * and bad arguments. */
#include <math.h>
#include <stdlib.h>

#include "dataparallel.h"
#include "test.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median_of(double *v, int n) {
    qsort(v, (size_t)n, sizeof v[0], cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* The exact bootstrap distribution of the median of x[0..6): all 6^6 resamples, sorted. */
#define N 6
#define ALL (6 * 6 * 6 * 6 * 6 * 6)
static double *exact_medians(const double *x) {
    double *meds = malloc(ALL * sizeof *meds), v[N];
    for (int code = 0; meds && code < ALL; code++) {
        for (int i = 0, c = code; i < N; i++, c /= N) v[i] = x[c % N];
        meds[code] = median_of(v, N);
    }
    if (meds) qsort(meds, ALL, sizeof meds[0], cmp_double);
    return meds;
}

/* The a-quantile of the exact distribution (smallest value whose CDF reaches a) and how far the
 * CDF is from a on either side of it (the Monte Carlo estimate agrees when both are wide). */
static double exact_quantile(const double *meds, double a, double *margin) {
    int64_t k = (int64_t)ceil(a * ALL - 1e-9) - 1; /* 0-based nearest rank */
    double v = meds[k];
    int64_t below = 0, upto = 0;
    for (int64_t i = 0; i < ALL; i++) {
        below += meds[i] < v;
        upto += meds[i] <= v;
    }
    *margin = fmin(a - (double)below / ALL, (double)upto / ALL - a);
    return v;
}

static void matches_exact_distribution(void) {
    /* Skewed, like throughputs of repeats with one slow spell. */
    const double x[N] = {101.0, 97.5, 103.2, 80.1, 99.9, 104.4};
    double *meds = exact_medians(x);
    CHECK(meds != NULL);
    if (!meds) return;
    double m_lo, m_hi;
    double want_lo = exact_quantile(meds, 0.025, &m_lo), want_hi = exact_quantile(meds, 0.975, &m_hi);
    /* 20000 resamples estimate a CDF to ~0.0011 (one sd): the quantiles are unambiguous when the
     * exact CDF steps over 0.025 and 0.975 by more than five of those. */
    CHECK_MSG(m_lo > 0.0055 && m_hi > 0.0055, "the data's CDF steps are too close to the quantiles (%g, %g)", m_lo, m_hi);
    double med, lo, hi, v[N] = {x[0], x[1], x[2], x[3], x[4], x[5]};
    CHECK_OK(dp_bootstrap_median(x, N, 0.95, 20000, 42, &med, &lo, &hi));
    CHECK_MSG(med == median_of(v, N), "median %g", med);
    CHECK_MSG(lo == want_lo && hi == want_hi, "interval [%g, %g], exact bootstrap [%g, %g]", lo, hi, want_lo, want_hi);
    free(meds);
}

static void holds_median_and_deterministic(void) {
    const double x[] = {12.5, 11.0, 14.2, 13.3, 12.9, 30.0, 12.1};
    double med, lo, hi, med2, lo2, hi2;
    for (uint64_t seed = 1; seed <= 20; seed++) {
        CHECK_OK(dp_bootstrap_median(x, 7, 0.95, DP_BOOTSTRAP_RESAMPLES, seed, &med, &lo, &hi));
        CHECK_MSG(med == 12.9 && lo <= med && med <= hi && lo >= 11.0 && hi <= 30.0, "seed %llu: %g [%g, %g]",
                  (unsigned long long)seed, med, lo, hi);
        CHECK_OK(dp_bootstrap_median(x, 7, 0.95, DP_BOOTSTRAP_RESAMPLES, seed, &med2, &lo2, &hi2));
        CHECK_MSG(med2 == med && lo2 == lo && hi2 == hi, "seed %llu: not deterministic", (unsigned long long)seed);
    }
    /* Two values: resample medians a, (a+b)/2, b with probabilities 1/4, 1/2, 1/4. */
    const double two[] = {3.0, 5.0};
    CHECK_OK(dp_bootstrap_median(two, 2, 0.95, DP_BOOTSTRAP_RESAMPLES, 7, &med, &lo, &hi));
    CHECK_MSG(med == 4.0 && lo == 3.0 && hi == 5.0, "%g [%g, %g]", med, lo, hi);
    const double one = 2.5, same[] = {8, 8, 8, 8};
    CHECK_OK(dp_bootstrap_median(&one, 1, 0.95, 10, 1, &med, &lo, &hi));
    CHECK(med == 2.5 && lo == 2.5 && hi == 2.5);
    CHECK_OK(dp_bootstrap_median(same, 4, 0.99, 10, 1, &med, &lo, &hi));
    CHECK(med == 8 && lo == 8 && hi == 8);
}

static void bad_arguments(void) {
    const double x[] = {1, 2, NAN};
    double med, lo, hi;
    CHECK_STATUS(dp_bootstrap_median(x, 3, 0.95, 100, 1, &med, &lo, &hi), DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("x[2]");
    CHECK_STATUS(dp_bootstrap_median(x, 0, 0.95, 100, 1, &med, &lo, &hi), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_bootstrap_median(x, 2, 1.0, 100, 1, &med, &lo, &hi), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_bootstrap_median(x, 2, 0.95, 0, 1, &med, &lo, &hi), DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("dp_bootstrap_median");
    CHECK_STATUS(dp_bootstrap_median(NULL, 2, 0.95, 100, 1, &med, &lo, &hi), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_bootstrap_median(x, 2, 0.95, 100, 1, &med, NULL, &hi), DP_ERR_INVALID_ARG);
}

int main(void) {
    matches_exact_distribution();
    holds_median_and_deterministic();
    bad_arguments();
    TEST_MAIN_END();
}
