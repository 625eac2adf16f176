/* Rate-limited sources: constant pacing accuracy (2000/s for 5 s), Poisson gap statistics and
 * determinism, trace replay (plain and CSV), wrap-around, interrupt, and bad input. */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "test.h"

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static dp_source *make(dp_dataset *ds, dp_rate_policy policy, double rate, int64_t samples) {
    dp_source_opts o;
    dp_source_opts_init(&o);
    o.policy = policy;
    o.rate = rate;
    o.samples = samples;
    dp_source *src = NULL;
    CHECK_OK(dp_source_create(ds, &o, &src));
    return src;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* docs/metrics.md: rate_accuracy_pct = 100 * ((n-1) / (t_last - t_first)) / rate, on the times at
 * which next() actually returned. Returns it (0 on failure). */
static double constant_pacing(dp_dataset *ds) {
    enum { N = 10000 };
    const double rate = 2000;
    dp_source_opts o;
    dp_source_opts_init(&o);
    o.rate = rate;
    o.samples = N;
    o.spin_ns = 200000; /* a loaded machine wakes late from sleep; the spin absorbs it */
    dp_source *src = NULL;
    CHECK_OK(dp_source_create(ds, &o, &src));
    if (!src) return 0;
    CHECK(dp_source_count(src) == N && dp_source_target_rate(src) == rate);
    int64_t *emit = malloc(sizeof *emit * N), *late = malloc(sizeof *late * N), t0 = dp_now_ns() + 1000000;
    CHECK_OK(dp_source_start(src, t0));
    dp_sample_ref s;
    int in_order = 1, exact = 1, never_early = 1, n = 0;
    while (dp_source_next(src, &s) == DP_OK) {
        emit[n] = dp_now_ns();
        in_order &= s.sample_id == n && s.index == n % dp_dataset_count(ds);
        exact &= llabs(s.intended_ns - (t0 + (int64_t)n * 500000)) <= 1;
        never_early &= emit[n] >= s.intended_ns;
        late[n] = emit[n] - s.intended_ns;
        n++;
    }
    CHECK(n == N && in_order && exact && never_early);
    CHECK_STATUS(dp_source_next(src, &s), DP_ERR_CLOSED);
    CHECK_STATUS(dp_source_peek(src, &s), DP_ERR_CLOSED);
    double acc = 100.0 * ((N - 1) / ((emit[N - 1] - emit[0]) * 1e-9)) / rate;
    qsort(late, N, sizeof *late, cmp_i64); /* informational: how late next() returned */
    printf("constant 2000/s for 5 s, spin 200 us: rate accuracy %.4f %%, lateness p50 %.1f us, p99 %.1f us, "
           "max %.1f us\n", acc, late[N / 2] * 1e-3, late[N * 99 / 100] * 1e-3, late[N - 1] * 1e-3);
    free(emit);
    free(late);
    dp_source_free(src);
    return acc;
}

/* The metric depends on when the first and last samples were emitted, so a preemption of more
 * than ~5 ms at either end (the machine is shared) can spoil a run: up to three runs are allowed.
 * Broken pacing (drift, accumulated error) fails them all. */
static void test_constant_pacing(dp_dataset *ds) {
    double acc = constant_pacing(ds);
    for (int retry = 0; retry < 2 && fabs(acc - 100) > 0.1; retry++) acc = constant_pacing(ds);
    CHECK_MSG(fabs(acc - 100) <= 0.1, "rate accuracy %.4f %% is not within 100 +- 0.1 %%", acc);
}

/* Poisson gaps are exponential with mean 1/rate. The source starts at t0 = 1 ns, so every
 * deadline is in the past and the test does not sleep: the gaps come from intended times. */
static void poisson_gaps(dp_dataset *ds, uint64_t seed, int n, double rate, double *gaps) {
    dp_source_opts o;
    dp_source_opts_init(&o);
    o.policy = DP_RATE_POISSON;
    o.rate = rate;
    o.samples = n + 1;
    o.seed = seed;
    dp_source *src = NULL;
    CHECK_OK(dp_source_create(ds, &o, &src));
    if (!src) return;
    CHECK_OK(dp_source_start(src, 1));
    dp_sample_ref s, peeked;
    int64_t prev = 0;
    int peek_ok = 1;
    for (int i = 0; i <= n; i++) {
        peek_ok &= dp_source_peek(src, &peeked) == DP_OK && dp_source_next(src, &s) == DP_OK;
        peek_ok &= peeked.intended_ns == s.intended_ns && peeked.sample_id == s.sample_id;
        if (i == 0) CHECK(s.intended_ns == 1);
        if (i > 0) gaps[i - 1] = (s.intended_ns - prev) * 1e-9;
        prev = s.intended_ns;
    }
    CHECK(peek_ok);
    dp_source_free(src);
}

static void test_poisson(dp_dataset *ds) {
    enum { N = 50000 };
    const double rate = 1000;
    double *g = malloc(sizeof *g * N), *g2 = malloc(sizeof *g2 * N);
    poisson_gaps(ds, 42, N, rate, g);
    double mean = 0, var = 0;
    for (int i = 0; i < N; i++) mean += g[i];
    mean /= N;
    for (int i = 0; i < N; i++) var += (g[i] - mean) * (g[i] - mean);
    var /= N - 1;
    /* standard errors: mean 1/sqrt(N) = 0.45 %, variance sqrt(8/N) = 1.3 % */
    CHECK_MSG(fabs(mean * rate - 1) < 0.02, "mean gap %g s, expected %g", mean, 1 / rate);
    CHECK_MSG(fabs(var * rate * rate - 1) < 0.06, "gap variance %g, expected %g", var, 1 / (rate * rate));
    poisson_gaps(ds, 42, N, rate, g2);
    CHECK(memcmp(g, g2, sizeof *g * N) == 0);
    poisson_gaps(ds, 43, N, rate, g2);
    CHECK(memcmp(g, g2, sizeof *g * N) != 0);
    free(g);
    free(g2);
}

static void test_trace(dp_dataset *ds) {
    write_text("trace.txt", "# arrivals\n5.0\n5.001\n\n5.0015\n5.0015\n5.004\n");
    dp_source_opts o;
    dp_source_opts_init(&o);
    o.policy = DP_RATE_TRACE;
    o.trace_path = "trace.txt";
    dp_source *src = NULL;
    CHECK_OK(dp_source_create(ds, &o, &src));
    if (!src) return;
    CHECK(dp_source_count(src) == 5);
    CHECK(fabs(dp_source_target_rate(src) - 1000) < 1e-6); /* 4 gaps over 4 ms */
    /* real replay: offsets relative to the first arrival, never early */
    int64_t want[] = {0, 1000000, 1500000, 1500000, 4000000}, t0 = dp_now_ns() + 1000000;
    CHECK_OK(dp_source_start(src, t0));
    dp_sample_ref s;
    int n = 0, ok = 1;
    while (dp_source_next(src, &s) == DP_OK) {
        ok &= n < 5 && s.intended_ns == t0 + want[n] && dp_now_ns() >= s.intended_ns;
        n++;
    }
    CHECK(ok && n == 5);
    dp_source_free(src);

    /* CSV with a named column; fewer samples than the trace */
    write_text("trace.csv", "id,\"Timestamp\",size\n1,100.25,3\n2,100.5,3\n3,101,4\n");
    o.trace_path = "trace.csv";
    o.samples = 2;
    CHECK_OK(dp_source_create(ds, &o, &src));
    if (!src) return;
    CHECK(dp_source_count(src) == 2);
    CHECK_OK(dp_source_start(src, 1));
    CHECK_OK(dp_source_next(src, &s));
    CHECK_OK(dp_source_next(src, &s));
    CHECK(s.intended_ns == 1 + 250000000);
    CHECK_STATUS(dp_source_next(src, &s), DP_ERR_CLOSED);
    dp_source_free(src);
    o.samples = 4;
    CHECK_STATUS(dp_source_create(ds, &o, &src), DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("the trace has 3 arrivals");
}

static void test_wrap_and_unlimited(void) {
    dp_dataset *ds = NULL;
    CHECK_OK(dp_dataset_synthetic(3, 1, 2, 2, 7, &ds));
    dp_source *src = make(ds, DP_RATE_UNLIMITED, 0, 7);
    if (!src) return;
    CHECK(dp_source_target_rate(src) == 0 && dp_source_count(src) == 7);
    dp_sample_ref s;
    int ok = 1, n = 0;
    int64_t before = dp_now_ns();
    while (dp_source_next(src, &s) == DP_OK) {
        ok &= s.sample_id == n && s.index == n % 3 && s.intended_ns >= before;
        n++;
    }
    CHECK(ok && n == 7);
    dp_source_free(src);
    /* default sample count: once through the data set */
    src = make(ds, DP_RATE_CONSTANT, 100, 0);
    CHECK(dp_source_count(src) == 3);
    dp_source_free(src);
    dp_dataset_free(ds);
}

static void *interrupter(void *arg) {
    struct timespec ts = {0, 50000000};
    nanosleep(&ts, NULL);
    dp_source_interrupt(arg);
    return NULL;
}

static void test_interrupt(dp_dataset *ds) {
    dp_source *src = make(ds, DP_RATE_CONSTANT, 0.5, 10); /* one sample every 2 s */
    if (!src) return;
    dp_sample_ref s;
    CHECK_OK(dp_source_start(src, 0));
    CHECK_OK(dp_source_next(src, &s)); /* sample 0 is due at once */
    pthread_t th;
    pthread_create(&th, NULL, interrupter, src);
    int64_t t = dp_now_ns();
    CHECK_STATUS(dp_source_next(src, &s), DP_ERR_CANCELLED);
    double waited = (dp_now_ns() - t) * 1e-9;
    pthread_join(th, NULL);
    CHECK_MSG(waited < 1.0, "interrupted next() took %.3f s", waited); /* not the 2 s to its deadline */
    CHECK_STATUS(dp_source_next(src, &s), DP_ERR_CANCELLED); /* stays stopped */
    CHECK_OK(dp_source_start(src, 0));
    CHECK_OK(dp_source_next(src, &s));
    CHECK(s.sample_id == 0);
    dp_source_free(src);
}

static void test_bad_input(dp_dataset *ds) {
    dp_source *src = NULL;
    const double rates[] = {0, -5, NAN, INFINITY};
    for (int i = 0; i < 4; i++) {
        dp_source_opts o;
        dp_source_opts_init(&o);
        o.policy = i % 2 ? DP_RATE_POISSON : DP_RATE_CONSTANT;
        o.rate = rates[i];
        CHECK_STATUS(dp_source_create(ds, &o, &src), DP_ERR_INVALID_ARG);
        CHECK_ERROR_MENTIONS("rate");
        CHECK(src == NULL);
    }
    dp_source_opts o;
    dp_source_opts_init(&o);
    o.samples = -1;
    CHECK_STATUS(dp_source_create(ds, &o, &src), DP_ERR_INVALID_ARG);
    dp_source_opts_init(&o);
    o.spin_ns = -1;
    CHECK_STATUS(dp_source_create(ds, &o, &src), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_source_create(NULL, NULL, &src), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_source_create(ds, NULL, NULL), DP_ERR_INVALID_ARG);
    dp_dataset *empty = NULL;
    CHECK_OK(dp_dataset_synthetic(0, 3, 4, 4, 1, &empty));
    CHECK_STATUS(dp_source_create(empty, NULL, &src), DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("no samples");
    dp_dataset_free(empty);

    o.policy = DP_RATE_TRACE;
    o.spin_ns = 0;
    CHECK_STATUS(dp_source_create(ds, &o, &src), DP_ERR_INVALID_ARG); /* no trace_path */
    struct {
        const char *text;
        dp_status st;
        const char *mention;
    } bad[] = {
        {"", DP_ERR_FORMAT, "no arrival offsets"},
        {"# only a comment\n\n", DP_ERR_FORMAT, "no arrival offsets"},
        {"0\n0.5\n0.25\n", DP_ERR_FORMAT, "bad_trace:3: offset 0.25 is before"},
        {"0\nabc\n", DP_ERR_FORMAT, "bad_trace:2: \"abc\""},
        {"id,size\n1,2\n", DP_ERR_FORMAT, "time, t or timestamp"},
        {"t\n1\nnan\n", DP_ERR_FORMAT, "bad_trace:3"},
        {"id,t\n1,0\n2\n", DP_ERR_FORMAT, "missing column"},
        {"time\n", DP_ERR_FORMAT, "no arrival offsets"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_text("bad_trace", bad[i].text);
        o.trace_path = "bad_trace";
        CHECK_STATUS(dp_source_create(ds, &o, &src), bad[i].st);
        CHECK_ERROR_MENTIONS(bad[i].mention);
    }
    o.trace_path = "no_such_trace.txt";
    CHECK_STATUS(dp_source_create(ds, &o, &src), DP_ERR_IO);
    CHECK_ERROR_MENTIONS("no_such_trace.txt");
    CHECK_STATUS(dp_source_next(NULL, NULL), DP_ERR_INVALID_ARG);
    dp_source_interrupt(NULL);
    dp_source_free(NULL);
    CHECK(dp_source_count(NULL) == 0);
}

static void *stop_after_50ms(void *src) {
    struct timespec ts = {0, 50000000};
    nanosleep(&ts, NULL);
    dp_source_interrupt(src);
    return NULL;
}

/* Deadlines beyond int64 ns (a tiny rate, a start time near INT64_MAX) saturate: they lie in
 * the future and the source sleeps until interrupted; they used to wrap into the past. */
static void test_far_deadlines(dp_dataset *ds) {
    dpt_watchdog(20, "a source with a far deadline");
    dp_source *src = make(ds, DP_RATE_CONSTANT, 1e-300, 3);
    if (!src) return;
    dp_sample_ref s;
    CHECK_OK(dp_source_start(src, INT64_MAX - 1000));
    CHECK_OK(dp_source_peek(src, &s));
    CHECK(s.intended_ns == INT64_MAX - 1000);
    dp_source_free(src);
    src = make(ds, DP_RATE_CONSTANT, 1e-300, 3);
    if (!src) return;
    CHECK_OK(dp_source_start(src, 0));
    CHECK_OK(dp_source_next(src, &s));
    CHECK_OK(dp_source_peek(src, &s));
    CHECK_MSG(s.intended_ns == INT64_MAX, "sample 1 at 1e-300/s is due at %lld", (long long)s.intended_ns);
    pthread_t th;
    pthread_create(&th, NULL, stop_after_50ms, src);
    CHECK_STATUS(dp_source_next(src, &s), DP_ERR_CANCELLED);
    pthread_join(th, NULL);
    dp_source_free(src);
    alarm(0);
}

int main(void) {
    dp_dataset *ds = NULL;
    CHECK_OK(dp_dataset_synthetic(100, 3, 8, 8, 1, &ds));
    test_poisson(ds);
    test_trace(ds);
    test_wrap_and_unlimited();
    test_interrupt(ds);
    test_bad_input(ds);
    test_far_deadlines(ds);
    test_constant_pacing(ds);
    dp_dataset_free(ds);
    TEST_MAIN_END();
}
