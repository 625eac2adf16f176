/* Stream mode: every strategy under normal load (each id exactly once, same top-1 as batch
 * mode), overload with each overflow policy (accounting, drops, drop-oldest keeps the newest),
 * stop and SIGINT mid-run (complete summary), sinks see the protocol, failing samples counted. */
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "rt_common.h"

static void normal_load(dp_model *m, dp_dataset *ds, const int *ref) {
    const char *strategies[] = {"uniform", "sharded", "dynamic", "weighted", "custom"};
    const int64_t n = 40;
    for (size_t k = 0; k < 5; k++) {
        rt_seen *seen = rt_seen_new();
        dp_partitioner *p = rt_partitioner(strategies[k], k == 4 ? rt_custom_mod : NULL, NULL);
        dp_runner_opts o;
        dp_runner_opts_init(&o);
        o.max_batch = 4;
        o.max_delay_us = 500;
        dp_runner *r = rt_runner(m, p, 2, seen, &o);
        dp_source *src = rt_source(ds, 400, n);
        RT_SUMMARY(s);
        CHECK_OK(dp_runner_run(r, src, &s));
        int once = 1, same = 1;
        for (int64_t i = 0; i < n; i++) {
            once &= atomic_load(&seen->count[i]) == 1;
            same &= atomic_load(&seen->top1[i]) == ref[i % dp_dataset_count(ds)];
        }
        CHECK_MSG(once, "%s: a sample id was not delivered exactly once", strategies[k]);
        CHECK_MSG(same, "%s: top-1 differs from batch mode", strategies[k]);
        CHECK(s.offered == n && s.completed == n && s.dropped == 0 && s.failed == 0);
        CHECK(s.target_rate == 400 && s.rate_accuracy_pct > 50 && s.throughput > 0 && s.latency_ms.p50 > 0);
        CHECK(s.latency_ms.max >= s.latency_ms.p99 && s.latency_ms.p99 >= s.latency_ms.p50);
        dp_source_free(src);
        dp_runner_free(r);
        dp_partitioner_free(p);
        free(seen);
    }
}

static void overload(dp_model *m, dp_dataset *ds, dp_overflow policy, const char *strategy) {
    const int64_t n = policy == DP_OVERFLOW_BLOCK ? 300 : 1500;
    rt_seen *seen = rt_seen_new();
    dp_partitioner *p = rt_partitioner(strategy, NULL, NULL);
    dp_runner_opts o;
    dp_runner_opts_init(&o);
    o.queue_capacity = 64;
    o.overflow = policy;
    dp_runner *r = rt_runner(m, p, 2, seen, &o);
    dp_source *src = rt_source(ds, 20000, n);
    RT_SUMMARY(s);
    CHECK_OK(dp_runner_run(r, src, &s));
    CHECK_ACCOUNTING(s);
    CHECK(s.offered == n);
    CHECK(atomic_load(&seen->calls) == n); /* dropped samples get their callback too */
    int once = 1;
    for (int64_t i = 0; i < n; i++) once &= atomic_load(&seen->count[i]) == 1;
    CHECK_MSG(once, "overflow %d %s: a sample id was not reported exactly once", (int)policy, strategy);
    if (policy == DP_OVERFLOW_BLOCK) {
        CHECK(s.dropped == 0 && s.completed == n);
    } else {
        CHECK_MSG(s.dropped > 0, "overflow %d: nothing dropped at 20000/s", (int)policy);
        CHECK(policy == DP_OVERFLOW_DROP_NEWEST ? s.dropped_newest == s.dropped : s.dropped_oldest == s.dropped);
        if (policy == DP_OVERFLOW_DROP_OLDEST) {
            /* Drop-oldest evicts a full queue's head, so a sample is only ever dropped after a
             * queue's worth (64) of later samples arrived: the last 64 of the run all complete.
             * Which earlier samples were dropped depends on the machine's speed. */
            int newest_ok = 1;
            for (int64_t i = n - 64; i < n; i++) newest_ok &= atomic_load(&seen->status[i]) == DP_OK;
            CHECK_MSG(newest_ok, "%s: drop-oldest dropped one of the last 64 samples", strategy);
        } else {
            /* The first 64 always find room (queues start empty); drops hit later arrivals. */
            int early_ok = 1;
            for (int i = 0; i < 64; i++) early_ok &= atomic_load(&seen->status[i]) == DP_OK;
            CHECK(early_ok);
        }
    }
    int64_t hwm = 0;
    for (int k = 0; k < s.workers; k++) hwm = s.per_worker[k].queue_hwm > hwm ? s.per_worker[k].queue_hwm : hwm;
    CHECK(hwm <= 64 && hwm > 0);
    dp_source_free(src);
    dp_runner_free(r);
    dp_partitioner_free(p);
    free(seen);
}

typedef struct stopper {
    dp_runner *r;
    int signal;              /* 0: dp_runner_stop() */
    rt_seen *seen;
} stopper;

/* Stop once the run is well under way (warm-up can take a while on a loaded machine). */
static void *stop_later(void *arg) {
    stopper *st = arg;
    struct timespec t = {0, 20000000};
    while (atomic_load(&st->seen->calls) < 10) nanosleep(&t, NULL);
    if (st->signal) kill(getpid(), st->signal);
    else dp_runner_stop(st->r, NULL);
    return NULL;
}

/* Stopped by dp_runner_stop(), SIGINT or SIGTERM (what Slurm, systemd and containers send). */
static void stop_mid_run(dp_model *m, dp_dataset *ds, int signal) {
    rt_seen *seen = rt_seen_new();
    dp_partitioner *p = rt_partitioner("uniform", NULL, NULL);
    dp_runner_opts o;
    dp_runner_opts_init(&o);
    o.handle_signals = signal != 0;
    dp_runner *r = rt_runner(m, p, 2, seen, &o);
    dp_source *src = rt_source(ds, 100, 100000);
    struct sigaction before;
    if (signal) sigaction(signal, NULL, &before);
    stopper st = {r, signal, seen};
    pthread_t t;
    pthread_create(&t, NULL, stop_later, &st);
    RT_SUMMARY(s);
    CHECK_STATUS(dp_runner_run(r, src, &s), DP_ERR_CANCELLED);
    pthread_join(t, NULL);
    CHECK_ACCOUNTING(s);
    CHECK(s.offered >= 10 && s.offered < 100000 && s.completed == s.offered);
    CHECK(s.elapsed_s > 0.05 && s.workers == 2 && s.per_worker != NULL);
    CHECK(atomic_load(&seen->calls) == s.offered);
    CHECK_MSG(s.signal == signal, "summary.signal %d, sent %d", s.signal, signal);
    if (signal) {
        CHECK_ERROR_MENTIONS(signal == SIGTERM ? "SIGTERM" : "SIGINT");
        struct sigaction now;
        sigaction(signal, NULL, &now);
        CHECK(now.sa_handler == before.sa_handler); /* the handler in place before the run is back */
    }
    /* The runner is reusable after a stop. */
    dp_source *again = rt_source(ds, 1000, 5);
    CHECK_OK(dp_runner_run(r, again, &s));
    CHECK(s.completed == 5);
    dp_source_free(again);
    dp_source_free(src);
    dp_runner_free(r);
    dp_partitioner_free(p);
    free(seen);
}

/* Sinks: the protocol of sink_impl.h, seen from a callback sink. */
typedef struct sink_log {
    int starts, summaries, intervals;
    int64_t records, last_completed, last_offered, summary_completed;
    int record_before_start, bad_logits;
} sink_log;
static void sl_start(const dp_run_info *info, void *u) {
    sink_log *l = u;
    (void)info;
    l->starts++;
}
static int argmax_ok(const dp_result *r) {
    int best = 0;
    if (!r->logits || r->num_classes < 1) return 0;
    for (int k = 1; k < r->num_classes; k++)
        if (r->logits[k] > r->logits[best]) best = k;
    return best == r->top1;
}
static void sl_record(const dp_result *r, void *u) {
    sink_log *l = u;
    if (!l->starts) l->record_before_start = 1;
    l->records++;
    if (!argmax_ok(r)) l->bad_logits++;
}
static atomic_int callback_bad_logits;
static void logits_cb(const dp_result *r, void *ctx, void *user) {
    if (!argmax_ok(r)) atomic_fetch_add(&callback_bad_logits, 1);
    rt_on_result(r, ctx, user);
}
static void sl_interval(const dp_interval *iv, void *u) {
    sink_log *l = u;
    l->intervals++;
    l->last_completed = iv->completed;
    l->last_offered = iv->offered;
}
static void sl_summary(const dp_run_info *info, const dp_summary *s, void *u) {
    sink_log *l = u;
    (void)info;
    l->summaries++;
    l->summary_completed = s->completed;
}

static void sinks(dp_model *m, dp_dataset *ds) {
    sink_log log = {0};
    dp_sink_callbacks cb;
    dp_sink_callbacks_init(&cb);
    cb.on_start = sl_start;
    cb.on_record = sl_record;
    cb.on_interval = sl_interval;
    cb.on_summary = sl_summary;
    cb.user = &log;
    dp_sink *sink = NULL;
    CHECK_OK(dp_sink_callback_create(&cb, &sink));
    rt_seen *seen = rt_seen_new();
    dp_partitioner *p = rt_partitioner("dynamic", NULL, NULL);
    dp_runner_opts o;
    dp_runner_opts_init(&o);
    o.interval_ms = 50;
    o.keep_logits = 1;
    o.pin_workers = 1;
    o.max_batch = 3;
    dp_runner *r = rt_runner(m, p, 2, seen, &o);
    /* rt_runner installs rt_on_result; check the logits on the way through. */
    dp_runner_free(r);
    o.on_result = logits_cb;
    CHECK_OK(dp_runner_create(m, p, &o, &r));
    CHECK_OK(dp_runner_add_sink(r, sink));
    dp_source *src = rt_source(ds, 200, 60);
    RT_SUMMARY(s);
    CHECK_OK(dp_runner_run(r, src, &s));
    CHECK(log.starts == 1 && log.summaries == 1 && !log.record_before_start);
    CHECK_MSG(log.records == 60, "%lld records", (long long)log.records);
    CHECK_MSG(log.intervals >= 3, "%d intervals", log.intervals);
    CHECK(log.last_completed == s.completed && log.last_offered == s.offered && log.summary_completed == 60);
    CHECK(log.bad_logits == 0 && atomic_load(&callback_bad_logits) == 0); /* keep_logits: logits match top-1 */
    dp_source_free(src);
    dp_runner_free(r);
    dp_sink_free(sink);
    dp_partitioner_free(p);
    free(seen);
}

/* A sink slower than the interval loses rows (counted), the workers do not wait for it. */
static int64_t slow_rows_dropped;
static int slow_calls;
static void slow_interval(const dp_interval *iv, void *u) {
    (void)u;
    slow_calls++;
    slow_rows_dropped = iv->sink_rows_dropped;
    struct timespec t = {0, 60000000};
    nanosleep(&t, NULL);
}

static void slow_sink(dp_model *m, dp_dataset *ds) {
    dp_sink_callbacks cb;
    dp_sink_callbacks_init(&cb);
    cb.on_interval = slow_interval;
    dp_sink *sink = NULL;
    CHECK_OK(dp_sink_callback_create(&cb, &sink));
    rt_seen *seen = rt_seen_new();
    dp_partitioner *p = rt_partitioner("uniform", NULL, NULL);
    dp_runner_opts o;
    dp_runner_opts_init(&o);
    o.interval_ms = 10;
    dp_runner *r = rt_runner(m, p, 2, seen, &o);
    CHECK_OK(dp_runner_add_sink(r, sink));
    dp_source *src = rt_source(ds, 100, 50);
    RT_SUMMARY(s);
    CHECK_OK(dp_runner_run(r, src, &s));
    CHECK(s.completed == 50);
    CHECK_MSG(slow_rows_dropped > 0 && slow_calls < 50, "rows dropped %lld, %d calls", (long long)slow_rows_dropped,
              slow_calls);
    dp_source_free(src);
    dp_runner_free(r);
    dp_sink_free(sink);
    dp_partitioner_free(p);
    free(seen);
}

/* A data set whose callback fails every 5th sample: those are failed, the rest complete. */
static int flaky(int64_t i, float *dst, int32_t *label, void *user) {
    (void)user;
    if (i % 5 == 0) return 1;
    for (int k = 0; k < 3 * 32 * 32; k++) dst[k] = (float)((i * 7 + k) % 13) / 13.0f;
    *label = -1;
    return 0;
}

/* A 20-sample callback data set served by 2 workers in micro-batches of 3, in stream mode (s)
 * and then in batch mode (b); seen gets the stream run's callbacks. The stream summary's JSON
 * goes to json (if not NULL) while its per_worker array is still valid: it points into the
 * runner until the next run. */
static void serve_callback_data(dp_model *m, dp_dataset_fn fill, rt_seen *seen, dp_summary *s, dp_summary *b,
                                char *json, size_t json_cap) {
    dp_dataset *ds = NULL;
    CHECK_OK(dp_dataset_callback(20, 3, 32, 32, fill, NULL, &ds));
    dp_partitioner *p = rt_partitioner("uniform", NULL, NULL);
    dp_runner_opts o;
    dp_runner_opts_init(&o);
    o.max_batch = 3;
    dp_runner *r = rt_runner(m, p, 2, seen, &o);
    dp_source *src = rt_source(ds, 1000, 20);
    CHECK_OK(dp_runner_run(r, src, s));
    CHECK_ACCOUNTING(*s);
    if (json) CHECK(dp_summary_to_json(s, json, json_cap) < json_cap);
    CHECK_OK(dp_runner_run_batch(r, ds, b));
    CHECK_ACCOUNTING(*b);
    dp_source_free(src);
    dp_runner_free(r);
    dp_partitioner_free(p);
    dp_dataset_free(ds);
}

static void failing_samples(dp_model *m) {
    rt_seen *seen = rt_seen_new();
    RT_SUMMARY(s);
    RT_SUMMARY(b);
    serve_callback_data(m, flaky, seen, &s, &b, NULL, 0);
    CHECK(s.failed == 4 && s.completed == 16 && atomic_load(&seen->status[5]) != DP_OK);
    CHECK(b.failed == 4 && b.completed == 16 && b.offered == 20);
    free(seen);
}

/* NaN and infinity in inputs: such samples run as given and are counted, in the summary and in
 * its JSON, so a user sees them. */
static int some_nan(int64_t i, float *dst, int32_t *label, void *user) {
    (void)user;
    for (int k = 0; k < 3 * 32 * 32; k++) dst[k] = (float)((i + k) % 7) / 7.0f;
    if (i % 4 == 0) dst[100] = NAN;
    if (i % 4 == 1) dst[3000] = -INFINITY;
    *label = -1;
    return 0;
}

static void nonfinite(dp_model *m) {
    rt_seen *seen = rt_seen_new();
    RT_SUMMARY(s);
    RT_SUMMARY(b);
    char json[4096];
    serve_callback_data(m, some_nan, seen, &s, &b, json, sizeof json);
    CHECK_MSG(s.nonfinite_inputs == 10 && s.completed == 20, "nonfinite %lld, completed %lld",
              (long long)s.nonfinite_inputs, (long long)s.completed);
    CHECK(strstr(json, "\"nonfinite_inputs\":10") != NULL);
    CHECK(b.nonfinite_inputs == 10 && b.completed == 20);
    free(seen);
}

int main(void) {
    signal(SIGINT, SIG_IGN);
    dp_model *m = rt_model();
    dp_dataset *ds = NULL;
    CHECK_OK(dp_dataset_synthetic(16, 3, 32, 32, 5, &ds));
    /* Reference top-1 from batch mode. */
    int ref[16];
    CHECK(rt_reference_top1(m, ds, ref) == 16);
    normal_load(m, ds, ref);
    overload(m, ds, DP_OVERFLOW_BLOCK, "uniform");
    overload(m, ds, DP_OVERFLOW_DROP_NEWEST, "uniform");
    overload(m, ds, DP_OVERFLOW_DROP_OLDEST, "uniform");
    overload(m, ds, DP_OVERFLOW_DROP_OLDEST, "dynamic");
    overload(m, ds, DP_OVERFLOW_DROP_NEWEST, "weighted");
    stop_mid_run(m, ds, 0);
    stop_mid_run(m, ds, SIGINT);
    stop_mid_run(m, ds, SIGTERM); /* left at its default: without a handler the test dies */
    nonfinite(m);
    sinks(m, ds);
    slow_sink(m, ds);
    failing_samples(m);
    dp_dataset_free(ds);
    dp_model_free(m);
    TEST_MAIN_END();
}
