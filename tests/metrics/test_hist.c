/* The latency histogram: quantiles within 0.1 % of the exact nearest-rank value, exact
 * min/max/mean, merge equal to recording everything into one histogram, count_le, clamping. */
#include <stdint.h>
#include <stdlib.h>

#include "metrics/hist.h"
#include "test.h"
#include "util/util.h"

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Exact nearest-rank quantile of sorted v[0..n). */
static int64_t exact_quantile(const int64_t *v, size_t n, double q) {
    size_t rank = (size_t)ceil(q * (double)n - 1e-9);
    if (rank < 1) rank = 1;
    if (rank > n) rank = n;
    return v[rank - 1];
}

/* One quantile through the batched call the library uses. */
static int64_t quantile(const dpi_hist *h, double q) {
    int64_t v;
    dpi_hist_quantiles(h, &q, 1, &v);
    return v;
}

static int within_rel(int64_t got, int64_t want, double rel) {
    return fabs((double)got - (double)want) <= rel * (double)want + 0.5;
}

static void check_distribution(const char *name, int64_t *v, size_t n) {
    dpi_hist *h = malloc(sizeof *h);
    dpi_hist_reset(h);
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        dpi_hist_record(h, v[i]);
        sum += (double)v[i];
    }
    qsort(v, n, sizeof *v, cmp_i64);
    CHECK(h->count == n);
    CHECK(h->min == v[0]);
    CHECK(h->max == v[n - 1]);
    CHECK_MSG(fabs(dpi_hist_mean(h) - sum / (double)n) <= 1e-9 * sum / (double)n, "%s mean", name);
    static const double qs[] = {0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 0.9999};
    for (size_t k = 0; k < sizeof qs / sizeof qs[0]; k++) {
        int64_t want = exact_quantile(v, n, qs[k]), got = quantile(h, qs[k]);
        CHECK_MSG(within_rel(got, want, 0.001), "%s q=%g: got %lld, exact %lld", name, qs[k], (long long)got,
                  (long long)want);
    }
    CHECK(quantile(h, 0.0) == v[0]);
    CHECK(quantile(h, 1.0) == v[n - 1]);

    /* The batched form agrees with single quantiles, in any order. */
    const double many[] = {0.5, 0.9, 0.99, 0.999, 0.1};
    int64_t out[5];
    dpi_hist_quantiles(h, many, 5, out);
    for (int k = 0; k < 5; k++) CHECK_MSG(out[k] == quantile(h, many[k]), "%s batched q=%g", name, many[k]);

    dp_latency_ms ms;
    dpi_hist_latency_ms(h, &ms);
    CHECK(ms.max == (double)v[n - 1] / 1e6);
    CHECK(ms.p99 == (double)quantile(h, 0.99) / 1e6);
    CHECK(fabs(ms.mean - sum / (double)n / 1e6) <= 1e-9 * ms.mean);
    free(h);
}

static void test_distributions(void) {
    enum { N = 200000 };
    int64_t *v = malloc(N * sizeof *v);
    uint64_t seed = 42;

    for (size_t i = 0; i < N; i++) v[i] = 1000000 + (int64_t)(dpi_rand_unit(&seed) * 9e6); /* 1..10 ms */
    check_distribution("uniform", v, N);

    for (size_t i = 0; i < N; i++) v[i] = 50000 + (int64_t)(-log(1.0 - dpi_rand_unit(&seed)) * 2e6);
    check_distribution("exponential", v, N);

    /* Log-uniform over 1 us .. 10 s: spans many buckets. */
    for (size_t i = 0; i < N; i++) v[i] = (int64_t)exp(log(1e3) + dpi_rand_unit(&seed) * (log(1e10) - log(1e3)));
    check_distribution("log-uniform", v, N);

    /* Small integers are recorded exactly (unit-width buckets below 2048 ns). */
    for (size_t i = 0; i < 1000; i++) v[i] = (int64_t)i + 1;
    check_distribution("1..1000", v, 1000);
    dpi_hist *h = malloc(sizeof *h);
    dpi_hist_reset(h);
    for (int i = 1; i <= 100; i++) dpi_hist_record(h, i);
    CHECK(quantile(h, 0.5) == 50);
    CHECK(quantile(h, 0.99) == 99);
    CHECK(quantile(h, 0.9) == 90);
    free(h);
    free(v);
}

static void test_merge(void) {
    dpi_hist *a = malloc(sizeof *a), *b = malloc(sizeof *b), *all = malloc(sizeof *all), *empty = malloc(sizeof *empty);
    dpi_hist_reset(a);
    dpi_hist_reset(b);
    dpi_hist_reset(all);
    dpi_hist_reset(empty);
    uint64_t seed = 7;
    for (int i = 0; i < 50000; i++) {
        int64_t x = (int64_t)(dpi_rand_unit(&seed) * 5e6), y = 3000000 + (int64_t)(dpi_rand_unit(&seed) * 5e8);
        dpi_hist_record(a, x);
        dpi_hist_record(b, y);
        dpi_hist_record(all, x);
        dpi_hist_record(all, y);
    }
    dpi_hist_merge(a, empty);
    dpi_hist_merge(empty, b); /* into an empty one: takes b's min/max */
    CHECK(empty->count == b->count && empty->min == b->min && empty->max == b->max);
    dpi_hist_merge(a, b);
    CHECK(a->count == all->count);
    CHECK(a->min == all->min);
    CHECK(a->max == all->max);
    CHECK(fabs(a->sum - all->sum) <= 1e-12 * all->sum);
    CHECK(memcmp(a->buckets, all->buckets, sizeof a->buckets) == 0);
    free(a);
    free(b);
    free(all);
    free(empty);
}

static uint64_t count_le1(const dpi_hist *h, int64_t v) {
    uint64_t n;
    dpi_hist_count_le(h, &v, 1, &n);
    return n;
}

static void test_count_le(void) {
    dpi_hist *h = malloc(sizeof *h);
    dpi_hist_reset(h);
    CHECK(count_le1(h, 1000) == 0);
    for (int i = 0; i < 1000; i++) dpi_hist_record(h, i); /* exact region */
    CHECK(count_le1(h, -1) == 0);
    CHECK(count_le1(h, 0) == 1);
    CHECK(count_le1(h, 499) == 500);
    CHECK(count_le1(h, 999) == 1000);
    CHECK(count_le1(h, INT64_MAX) == 1000);

    /* Larger values: within one bucket width (0.1 %) of the exact count. */
    dpi_hist_reset(h);
    for (int i = 1; i <= 10000; i++) dpi_hist_record(h, (int64_t)i * 1000); /* 1 us .. 10 ms */
    static const int64_t les[] = {500000, 1000000, 2500000, 5000000, 9999999};
    for (size_t k = 0; k < 5; k++) {
        double exact = (double)(les[k] / 1000);
        double got = (double)count_le1(h, les[k]);
        CHECK_MSG(got >= exact && got <= exact * 1.001 + 1, "count_le(%lld) = %g, exact %g", (long long)les[k], got, exact);
    }
    /* Monotonic in v (Prometheus buckets are cumulative). */
    uint64_t prev = 0;
    int mono = 1;
    for (int64_t v = 0; v < 12000000; v += 7919) {
        uint64_t c = count_le1(h, v);
        if (c < prev) mono = 0;
        prev = c;
    }
    CHECK(mono);
    /* Several ascending bounds in one pass give what each gives alone. */
    static const int64_t bounds[] = {-5, 0, 999, 500000, 500001, 2500000, 9999999, 10000000, INT64_MAX};
    enum { NB = sizeof bounds / sizeof bounds[0] };
    uint64_t many[NB];
    dpi_hist_count_le(h, bounds, NB, many);
    int same = 1;
    for (int k = 0; k < NB; k++) same &= many[k] == count_le1(h, bounds[k]);
    CHECK(same);
    free(h);
}

static void test_empty_and_clamping(void) {
    dpi_hist *h = malloc(sizeof *h);
    dpi_hist_reset(h);
    CHECK(h->count == 0 && h->min == 0 && h->max == 0);
    CHECK(quantile(h, 0.5) == 0);
    CHECK(quantile(h, 1.0) == 0);
    CHECK(dpi_hist_mean(h) == 0.0);
    dp_latency_ms ms;
    dpi_hist_latency_ms(h, &ms);
    CHECK(ms.mean == 0 && ms.p50 == 0 && ms.p99 == 0 && ms.max == 0);

    dpi_hist_record(h, -5);  /* a clock oddity: counts as 0 */
    CHECK(h->count == 1 && h->min == 0 && h->max == 0);
    dpi_hist_record(h, 0);
    dpi_hist_record(h, INT64_MAX);
    CHECK(h->count == 3);
    CHECK(h->max == ((int64_t)1 << DPI_HIST_MAX_EXP) - 1);
    CHECK(quantile(h, 1.0) == h->max);
    CHECK(quantile(h, 0.5) == 0);
    CHECK(count_le1(h, 0) == 2);
    CHECK(count_le1(h, INT64_MAX) == 3);
    CHECK(dpi_hist_mean(h) > 0);
    CHECK(quantile(h, NAN) == 0); /* NaN asks for the minimum, never crashes */
    CHECK(quantile(h, -1.0) == 0);
    CHECK(quantile(h, 2.0) == h->max);

    /* Every power of two up to the limit lands in range and round-trips within 0.1 %. */
    for (int e = 0; e < DPI_HIST_MAX_EXP; e++) {
        dpi_hist_reset(h);
        int64_t v = ((int64_t)1 << e) + ((int64_t)1 << e) / 3;
        dpi_hist_record(h, v);
        dpi_hist_record(h, v + 1);
        CHECK_MSG(within_rel(quantile(h, 0.5), v, 0.001), "2^%d", e);
    }
    free(h);
}

int main(void) {
    test_distributions();
    test_merge();
    test_count_le();
    test_empty_and_clamping();
    TEST_MAIN_END();
}
