/* What followed an injected event, as pure functions on synthetic data: the recovery time from an
 * interval series (never left the band, back after a dip, never back, nothing to judge, the
 * offered rate used when there is no target), and the straggler rule on one interval's service
 * times. */
#include "runtime/fault_report.h"
#include "test.h"

/* A series at 1 s intervals from 0: rate[i] samples/s completed in interval i, 100/s offered. */
static int series(const double *rate, int n, dpi_series_row *rows) {
    rows[0] = (dpi_series_row){0, 0, 0};
    for (int i = 1; i <= n; i++) {
        rows[i].t_s = i;
        rows[i].completed = rows[i - 1].completed + (int64_t)llround(rate[i - 1]);
        rows[i].offered = rows[i - 1].offered + 100;
    }
    return n + 1;
}

static void recovery(void) {
    dpi_series_row rows[32];
    /* Steady at the rate: 0 (it never left the band). */
    const double steady[10] = {100, 100, 100, 100, 100, 100, 100, 100, 100, 100};
    int n = series(steady, 10, rows);
    CHECK(dpi_recovery_s(rows, n, 100, 3, 10, 0.05) == 0);
    /* A dip in intervals 4 and 5 (4-6 s), back from 6 s, the backlog draining at exactly the
     * rate: event at 3.5 s -> intervals from 4 s count; back at 6 s: 2.5 s. */
    const double dip[10] = {100, 100, 100, 100, 50, 60, 100, 100, 100, 100};
    n = series(dip, 10, rows);
    CHECK_MSG(fabs(dpi_recovery_s(rows, n, 100, 3.5, 10, 0.05) - 2.5) < 1e-9, "%g",
              dpi_recovery_s(rows, n, 100, 3.5, 10, 0.05));
    /* Within 5 % is good on both sides (96 and 104 per s are good, 110 is not). */
    const double wobble[10] = {100, 100, 96, 104, 110, 100, 100, 100, 100, 100};
    n = series(wobble, 10, rows);
    CHECK(fabs(dpi_recovery_s(rows, n, 100, 2, 10, 0.05) - 3) < 1e-9);
    CHECK(dpi_recovery_s(rows, n, 100, 5, 10, 0.05) == 0);
    /* Not back by the horizon: -1; a bad interval after the horizon does not count. */
    const double never[10] = {100, 100, 100, 50, 50, 50, 100, 50, 50, 50};
    n = series(never, 10, rows);
    CHECK(dpi_recovery_s(rows, n, 100, 3, 10, 0.05) == -1);
    CHECK(fabs(dpi_recovery_s(rows, n, 100, 3, 7, 0.05) - 3) < 1e-9);
    /* A good stretch followed by a bad interval is not a recovery: only the last stretch counts. */
    const double relapse[10] = {100, 100, 50, 100, 100, 50, 100, 100, 100, 100};
    n = series(relapse, 10, rows);
    CHECK(fabs(dpi_recovery_s(rows, n, 100, 2, 10, 0.05) - 4) < 1e-9);
    /* No whole interval between event and horizon: NaN. */
    CHECK(isnan(dpi_recovery_s(rows, n, 100, 9.5, 10, 0.05)));
    CHECK(isnan(dpi_recovery_s(rows, 1, 100, 0, 10, 0.05)));
    /* Without a target rate the interval's offered rate is the reference: offered 100 per interval
     * is 100/s, so the same dip recovers the same way. */
    n = series(dip, 10, rows);
    CHECK(fabs(dpi_recovery_s(rows, n, 0, 3.5, 10, 0.05) - 2.5) < 1e-9);
    /* ... and a source that fell behind (offered 50/s) is matched by completing 50/s, which a
     * target of 100/s does not accept. */
    const double half[10] = {50, 50, 50, 50, 50, 50, 50, 50, 50, 50};
    n = series(half, 10, rows);
    for (int i = 1; i < n; i++) rows[i].offered = 50 * i;
    CHECK(dpi_recovery_s(rows, n, 0, 0, 10, 0.05) == 0);
    CHECK(dpi_recovery_s(rows, n, 100, 0, 10, 0.05) == -1);
}

static void straggler(void) {
    double scratch[4];
    const double service[4] = {2, 2.2, 7, 1};
    const int64_t ran[4] = {10, 10, 10, 0};
    const int stage[4] = {0, 0, 0, 0};
    CHECK(dpi_is_straggler(service, ran, stage, 4, 2, 1.5, scratch));   /* 7 > 1.5 x median(2, 2.2) */
    CHECK(!dpi_is_straggler(service, ran, stage, 4, 2, 4.0, scratch));  /* ... not above 4 x 2.1 */
    CHECK(!dpi_is_straggler(service, ran, stage, 4, 0, 1.5, scratch));
    CHECK(!dpi_is_straggler(service, ran, stage, 4, 3, 1.5, scratch));  /* it ran nothing */
    /* Only peers of the same stage count: alone in its stage, nobody to compare with. */
    const int stages[4] = {0, 0, 1, 0};
    CHECK(!dpi_is_straggler(service, ran, stages, 4, 2, 1.5, scratch));
}

int main(void) {
    recovery();
    straggler();
    TEST_MAIN_END();
}
