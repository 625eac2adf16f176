/* Injected faults (dp_runner_inject): bad arguments are refused; a fail event fails exactly the
 * samples of its N micro-batches of its worker, in stream and batch mode, and again on the next
 * run; slowdown and stall keep every id exactly once and the accounting exact; a stall delays
 * (a lower bound, so no timing is assumed); an event after the run's end is reported unapplied. */
#include "rt_common.h"

/* What the callbacks saw, with the micro-batch sizes of the failed samples. */
typedef struct seen {
    atomic_int count[RT_MAX_SAMPLES];
    atomic_int failed_elsewhere;  /* failed samples not of the expected worker or status */
    _Atomic double failed_batches; /* sum of 1 / batch_size over failed samples: whole batches */
    int fail_worker;
} seen;

static void on_result(const dp_result *r, void *ctx, void *user) {
    seen *s = user;
    (void)ctx;
    if (r->sample_id >= 0 && r->sample_id < RT_MAX_SAMPLES) atomic_fetch_add(&s->count[r->sample_id], 1);
    if (r->status == DP_OK) return;
    if (r->worker != s->fail_worker || r->status != DP_ERR_BACKEND || r->batch_size < 1) {
        atomic_fetch_add(&s->failed_elsewhere, 1);
        return;
    }
    /* Callbacks run on every worker's thread: a compare-and-swap loop keeps the sum exact. */
    double old = atomic_load(&s->failed_batches);
    while (!atomic_compare_exchange_weak(&s->failed_batches, &old, old + 1.0 / r->batch_size)) {
    }
}

static dp_runner *make_runner(dp_model *m, dp_partitioner *p, int W, int max_batch, seen *s) {
    dp_runner_opts o;
    dp_runner_opts_init(&o);
    o.workers = W;
    o.max_batch = max_batch;
    o.max_delay_us = 200;
    o.on_result = on_result;
    o.on_result_user = s;
    dp_runner *r = NULL;
    CHECK_OK(dp_runner_create(m, p, &o, &r));
    return r;
}

static void check_once(seen *s, int64_t n, const char *what) {
    int once = 1;
    for (int64_t i = 0; i < n; i++) once &= atomic_load(&s->count[i]) == 1;
    CHECK_MSG(once, "%s: a sample id was not delivered exactly once", what);
}

static void bad_arguments(dp_model *m) {
    seen *s = calloc(1, sizeof *s);
    dp_partitioner *p = rt_partitioner("uniform", NULL, NULL);
    dp_runner *r = make_runner(m, p, 2, 1, s);
    CHECK_STATUS(dp_runner_inject(NULL, 0, 0, DP_FAULT_STALL, 1), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_runner_inject(r, -1, 0, DP_FAULT_STALL, 1), DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("at_s");
    CHECK_STATUS(dp_runner_inject(r, NAN, 0, DP_FAULT_STALL, 1), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_runner_inject(r, 0, 2, DP_FAULT_STALL, 1), DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("worker 2");
    CHECK_STATUS(dp_runner_inject(r, 0, 0, (dp_fault_kind)9, 1), DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("kind");
    CHECK_STATUS(dp_runner_inject(r, 0, 0, DP_FAULT_SLOWDOWN, 0.5), DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("slowdown");
    CHECK_STATUS(dp_runner_inject(r, 0, 0, DP_FAULT_STALL, 0), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_runner_inject(r, 0, 0, DP_FAULT_FAIL, 1.5), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_runner_inject(r, 0, 0, DP_FAULT_FAIL, 0), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_runner_clear_faults(NULL), DP_ERR_INVALID_ARG);
    dp_runner_free(r);
    dp_partitioner_free(p);
    free(s);
}

/* fail=N on worker 1 of 2: exactly N of its micro-batches fail, nothing else; twice on one runner. */
static void fail_stream(dp_model *m, dp_dataset *ds) {
    dp_partitioner *p = rt_partitioner("uniform", NULL, NULL);
    const int64_t n = 40;
    for (int run = 0, max_batch = 1; run < 2; run++, max_batch = 3) {
        seen *s = calloc(1, sizeof *s);
        s->fail_worker = 1;
        dp_runner *r = make_runner(m, p, 2, max_batch, s);
        CHECK_OK(dp_runner_inject(r, 0, 1, DP_FAULT_FAIL, 3));
        for (int again = 0; again < 2; again++) {
            memset(s->count, 0, sizeof s->count);
            atomic_store(&s->failed_batches, 0.0);
            dp_source *src = rt_source(ds, 2000, n);
            RT_SUMMARY(S);
            CHECK_OK(dp_runner_run(r, src, &S));
            CHECK_ACCOUNTING(S);
            check_once(s, n, "fail");
            CHECK(S.offered == n && S.dropped == 0);
            CHECK_MSG(fabs(atomic_load(&s->failed_batches) - 3.0) < 1e-9, "failed %g micro-batches, expected 3",
                      atomic_load(&s->failed_batches));
            CHECK(atomic_load(&s->failed_elsewhere) == 0);
            CHECK(S.num_faults == 1 && S.faults[0].failed == S.failed && S.faults[0].applied_s >= 0);
            CHECK(S.per_worker[1].failed == S.failed && S.per_worker[0].failed == 0);
            CHECK(max_batch > 1 || S.failed == 3);
            dp_source_free(src);
        }
        CHECK_OK(dp_runner_clear_faults(r));
        dp_runner_free(r);
        free(s);
    }
    dp_partitioner_free(p);
}

/* Batch mode goes through the same worker loop: fail=2 of worker 0's micro-batches of up to 4. */
static void fail_batch(dp_model *m, dp_dataset *ds) {
    seen *s = calloc(1, sizeof *s);
    dp_partitioner *p = rt_partitioner("uniform", NULL, NULL);
    dp_runner *r = make_runner(m, p, 2, 4, s);
    CHECK_OK(dp_runner_inject(r, 0, 0, DP_FAULT_FAIL, 2));
    RT_SUMMARY(S);
    CHECK_OK(dp_runner_run_batch(r, ds, &S));
    CHECK_ACCOUNTING(S);
    check_once(s, dp_dataset_count(ds), "batch fail");
    CHECK(fabs(atomic_load(&s->failed_batches) - 2.0) < 1e-9 && atomic_load(&s->failed_elsewhere) == 0);
    CHECK(S.failed >= 2 && S.failed <= 8 && S.faults[0].failed == S.failed);
    dp_runner_free(r);
    dp_partitioner_free(p);
    free(s);
}

/* Slowdown on worker 1, a stall on worker 0, and an event the run ends before. */
static void slowdown_and_stall(dp_model *m, dp_dataset *ds) {
    seen *s = calloc(1, sizeof *s);
    s->fail_worker = -1;
    dp_partitioner *p = rt_partitioner("dynamic", NULL, NULL);
    dp_runner *r = make_runner(m, p, 2, 2, s);
    CHECK_OK(dp_runner_inject(r, 0, 1, DP_FAULT_SLOWDOWN, 3));
    CHECK_OK(dp_runner_inject(r, 1e5, 0, DP_FAULT_FAIL, 1));
    CHECK_OK(dp_runner_inject(r, 0, 0, DP_FAULT_STALL, 0.2));
    const int64_t n = 60;
    dp_source *src = rt_source(ds, 300, n);
    RT_SUMMARY(S);
    CHECK_OK(dp_runner_run(r, src, &S));
    CHECK_ACCOUNTING(S);
    check_once(s, n, "slowdown+stall");
    CHECK(S.completed == n && S.failed == 0 && S.dropped == 0);
    /* Sorted by worker, then time: worker 0's stall, its unapplied fail, worker 1's slowdown. */
    CHECK(S.num_faults == 3);
    CHECK(S.faults[0].kind == DP_FAULT_STALL && S.faults[0].worker == 0 && S.faults[0].applied_s >= 0);
    CHECK(S.faults[1].kind == DP_FAULT_FAIL && S.faults[1].applied_s == -1 && S.faults[1].failed == 0);
    CHECK(S.faults[2].kind == DP_FAULT_SLOWDOWN && S.faults[2].worker == 1 && S.faults[2].applied_s >= 0);
    /* The samples worker 0 held while it slept waited at least the stall. */
    CHECK_MSG(S.latency_ms.max >= 200, "max latency %.3f ms after a 200 ms stall", S.latency_ms.max);
    char json[16384];
    CHECK(dp_summary_to_json(&S, json, sizeof json) < sizeof json);
    CHECK(strstr(json, "\"events\":[{\"at_s\":0,\"worker\":0,\"kind\":\"stall\"") != NULL);
    CHECK(strstr(json, "\"applied_s\":null") != NULL);
    dp_source_free(src);
    dp_runner_free(r);
    dp_partitioner_free(p);
    free(s);
}

int main(void) {
    dpt_watchdog(300, "test_inject");
    dp_model *m = rt_model();
    dp_dataset *ds = NULL;
    CHECK_OK(dp_dataset_synthetic(16, 3, 32, 32, 5, &ds));
    bad_arguments(m);
    fail_stream(m, ds);
    fail_batch(m, ds);
    slowdown_and_stall(m, ds);
    dp_dataset_free(ds);
    dp_model_free(m);
    TEST_MAIN_END();
}
