/* Percentile confidence bounds against a brute-force binomial computation (long double sums of
 * every term), the samples a percentile needs, the early-stopping verdict, and bad arguments. */
#include <math.h>

#include "dataparallel.h"
#include "test.h"

#include <stdlib.h>

/* F[k] = P(B <= k) for B ~ Binomial(n, q), k = 0..n, every term in long double from lgamma. */
static long double *cdf_table(int64_t n, double q) {
    long double *F = malloc((size_t)(n + 1) * sizeof *F), s = 0;
    for (int64_t j = 0; F && j <= n; j++) {
        s += expl(lgammal((long double)n + 1) - lgammal((long double)j + 1) - lgammal((long double)(n - j) + 1) +
                  (long double)j * logl(q) + (long double)(n - j) * log1pl(-q));
        F[j] = s;
    }
    return F;
}

static long double cdf(int64_t n, double q, int64_t k) {
    long double *F = cdf_table(n, q), v = F ? F[k] : -1;
    free(F);
    return v;
}

static void ranks_match_brute_force(void) {
    const int64_t ns[] = {1, 2, 5, 10, 37, 100, 367, 368, 999, 2500};
    const double qs[] = {0.5, 0.9, 0.99, 0.999}, cs[] = {0.95, 0.99};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
        for (size_t j = 0; j < 4; j++)
            for (size_t c = 0; c < 2; c++) {
                int64_t n = ns[i], lo = -1, hi = -1;
                double a = (1 - cs[c]) / 2;
                CHECK_OK(dp_quantile_ci_ranks(n, qs[j], cs[c], &lo, &hi));
                /* lo: the largest l with P(B <= l - 1) <= a (0: none); hi: the smallest u with
                 * P(B <= u - 1) >= 1 - a (0: none within n). */
                long double *F = cdf_table(n, qs[j]);
                if (!F) continue;
                int64_t blo = 0, bhi = 0;
                for (int64_t l = 1; l <= n; l++)
                    if (F[l - 1] <= a) blo = l;
                for (int64_t u = n; u >= 1; u--)
                    if (F[u - 1] >= 1 - a) bhi = u;
                CHECK_MSG(lo == blo && hi == bhi, "n %lld q %g c %g: ranks [%lld, %lld], brute force [%lld, %lld]",
                          (long long)n, qs[j], cs[c], (long long)lo, (long long)hi, (long long)blo, (long long)bhi);
                /* Coverage as the brute force computes it. */
                if (lo > 0 && hi > 0) CHECK(F[hi - 1] - F[lo - 1] >= cs[c] - 1e-12);
                free(F);
            }
}

static void min_samples(void) {
    const double qs[] = {0.5, 0.9, 0.99, 0.999}, cs[] = {0.95, 0.99};
    for (int j = 0; j < 4; j++)
        for (int c = 0; c < 2; c++) {
            int64_t n = dp_min_samples_for(qs[j], cs[c]), lo, hi;
            CHECK(n >= 1);
            CHECK_OK(dp_quantile_ci_ranks(n, qs[j], cs[c], &lo, &hi));
            CHECK_MSG(hi > 0, "q %g c %g: %lld samples leave no upper bound", qs[j], cs[c], (long long)n);
            if (n > 1) {
                CHECK_OK(dp_quantile_ci_ranks(n - 1, qs[j], cs[c], &lo, &hi));
                CHECK_MSG(hi == 0, "q %g c %g: %lld samples already bound it", qs[j], cs[c], (long long)(n - 1));
            }
        }
    CHECK(dp_min_samples_for(0.99, 0.95) == 368 && dp_min_samples_for(0.99, 0.99) == 528);
    CHECK(dp_min_samples_for(1.0, 0.95) == -1 && dp_min_samples_for(0.99, 0.3) == -1 && dp_min_samples_for(NAN, 0.9) == -1);
}

static void verdict(void) {
    const int64_t ns[] = {10, 100, 459, 1000, 3000};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
        for (int64_t over = 0; over <= ns[i] / 20; over++) {
            int holds = -1;
            CHECK_OK(dp_quantile_within(ns[i], over, 0.99, 0.99, &holds));
            int want = cdf(ns[i], 0.01, over) < 0.01L; /* the definition, term by term */
            CHECK_MSG(holds == want, "n %lld over %lld: %d, brute force %d", (long long)ns[i], (long long)over, holds, want);
        }
    /* 459 samples with none over: p99 within the objective at 99 % (0.99^459 < 0.01); 458: not yet. */
    int holds;
    CHECK_OK(dp_quantile_within(459, 0, 0.99, 0.99, &holds));
    CHECK(holds == 1);
    CHECK_OK(dp_quantile_within(458, 0, 0.99, 0.99, &holds));
    CHECK(holds == 0);
    CHECK_OK(dp_quantile_within(0, 0, 0.99, 0.99, &holds));
    CHECK(holds == 0);
}

static void large_n_and_bad_arguments(void) {
    /* Beyond exact sums: the normal approximation, centred on n q with width 2 z sd. */
    int64_t n = 10000000, lo, hi;
    CHECK_OK(dp_quantile_ci_ranks(n, 0.99, 0.95, &lo, &hi));
    double sd = sqrt(n * 0.99 * 0.01), want = 2 * 1.959964 * sd;
    CHECK_MSG(lo < n * 0.99 && hi > n * 0.99 && fabs((double)(hi - lo) - want) < 3, "[%lld, %lld]", (long long)lo,
              (long long)hi);
    CHECK_STATUS(dp_quantile_ci_ranks(-1, 0.5, 0.95, &lo, &hi), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_quantile_ci_ranks(10, 0, 0.95, &lo, &hi), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_quantile_ci_ranks(10, 0.5, 1, &lo, &hi), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_quantile_ci_ranks(10, NAN, 0.95, &lo, &hi), DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("dp_quantile_ci_ranks");
    CHECK_STATUS(dp_quantile_ci_ranks(10, 0.5, 0.95, NULL, &hi), DP_ERR_INVALID_ARG);
    int holds;
    CHECK_STATUS(dp_quantile_within(10, 11, 0.99, 0.99, &holds), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_quantile_within(10, -1, 0.99, 0.99, &holds), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_quantile_within(10, 1, 0.99, 0.99, NULL), DP_ERR_INVALID_ARG);
}

int main(void) {
    ranks_match_brute_force();
    min_samples();
    verdict();
    large_n_and_bad_arguments();
    TEST_MAIN_END();
}
