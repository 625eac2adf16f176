/* Inference never waits for a sink (issue 13): a sink whose on_record stalls until every sample
 * was submitted makes the record rings fill up. Submitters and workers must go on (a push that
 * waited for room would hang here until the alarm fails the test); the records the sinks could
 * not get are counted in summary.records_dropped, and every sample is either seen by the sink or
 * counted there, exactly once. */
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "rt_common.h"

/* More than the 64 Ki records a push-mode ring holds, almost all dropped by a 2-sample queue. */
#define SUBMITS 70000

static atomic_int released;
static atomic_llong records;

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "test_sink_stall: inference waited for a stalled sink\n";
    ssize_t n = write(2, msg, sizeof msg - 1);
    (void)n;
    _exit(1);
}

static void stalled_record(const dp_result *r, void *user) {
    (void)r;
    (void)user;
    const struct timespec nap = {0, 1000000};
    while (!atomic_load(&released)) nanosleep(&nap, NULL);
    atomic_fetch_add(&records, 1);
}

int main(void) {
    static float sample[3 * 32 * 32];
    dp_model *m = rt_model();
    dp_partitioner *p = rt_partitioner("uniform", NULL, NULL);
    dp_sink_callbacks cb;
    dp_sink_callbacks_init(&cb);
    cb.on_record = stalled_record;
    dp_sink *sink = NULL;
    CHECK_OK(dp_sink_callback_create(&cb, &sink));
    dp_runner_opts o;
    dp_runner_opts_init(&o);
    o.workers = 1;
    o.queue_capacity = 2;
    o.overflow = DP_OVERFLOW_DROP_NEWEST;
    dp_runner *r = NULL;
    CHECK_OK(dp_runner_create(m, p, &o, &r));
    CHECK_OK(dp_runner_add_sink(r, sink));
    CHECK_OK(dp_runner_start(r, 3, 32, 32));

    signal(SIGALRM, on_alarm);
    alarm(120);
    for (int i = 0; i < SUBMITS; i++) CHECK_OK(dp_runner_submit(r, i, sample, NULL));
    CHECK_OK(dp_runner_drain(r));
    alarm(0);
    atomic_store(&released, 1);

    RT_SUMMARY(s);
    CHECK_OK(dp_runner_stop(r, &s));
    CHECK_ACCOUNTING(s);
    CHECK(s.offered == SUBMITS);
    CHECK_MSG(s.records_dropped > 0, "no record dropped: %lld records for %d samples", (long long)atomic_load(&records),
              SUBMITS);
    CHECK_MSG(atomic_load(&records) + s.records_dropped == s.offered,
              "the sink saw %lld records and %lld were dropped, for %lld samples offered",
              (long long)atomic_load(&records), (long long)s.records_dropped, (long long)s.offered);
    printf("%lld records reached the stalled sink, %lld dropped, %lld samples completed\n",
           (long long)atomic_load(&records), (long long)s.records_dropped, (long long)s.completed);
    dp_runner_free(r);
    dp_sink_free(sink);
    dp_partitioner_free(p);
    dp_model_free(m);
    TEST_MAIN_END();
}
