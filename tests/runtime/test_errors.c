/* Bad input: clear statuses, no hang, nothing lost. Zero workers, queue capacity 0, bad options,
 * unknown strategy, a custom callback out of range (batch and stream), more threads than cores
 * (allowed, warned), the MPI backend without its plugin, bad summaries, NULL arguments. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <stdatomic.h>

#include "rt_common.h"

static atomic_int warnings;
static char last_warning[512];
static void log_hook(dp_log_level level, const char *msg, void *user) {
    (void)user;
    if (level == DP_LOG_WARN) {
        atomic_fetch_add(&warnings, 1);
        snprintf(last_warning, sizeof last_warning, "%s", msg);
    }
}

static int out_of_range(int64_t id, int64_t key, int workers, void *user) {
    (void)id;
    (void)user;
    return key == 3 ? workers : 0; /* sample 3 goes nowhere */
}

/* A data set whose sample 0 cannot be read. */
static int no_zero(int64_t i, float *dst, int32_t *label, void *user) {
    (void)user;
    if (i == 0) return 1;
    for (int k = 0; k < 3 * 32 * 32; k++) dst[k] = 0.25f;
    *label = -1;
    return 0;
}

/* weighted without weights profiles every worker on one sample first; a worker whose profile
 * fails must not be taken for the fastest (it got weight 1e9 and nearly the whole data set). */
static void failed_profile(dp_model *m) {
    dp_dataset *ds = NULL;
    CHECK_OK(dp_dataset_callback(40, 3, 32, 32, no_zero, NULL, &ds));
    dp_partitioner *wp = rt_partitioner("weighted", NULL, NULL);
    dp_runner_opts o;
    dp_runner_opts_init(&o);
    o.workers = 2;
    dp_runner *r = NULL;
    CHECK_OK(dp_runner_create(m, wp, &o, &r));
    RT_SUMMARY(s);
    dp_status st = dp_runner_run_batch(r, ds, &s);
    CHECK_MSG(st != DP_OK, "a failed profile was ignored: worker 0 completed %lld of %lld",
              s.per_worker ? (long long)s.per_worker[0].completed : -1LL, (long long)s.completed);
    CHECK_ERROR_MENTIONS("profiling worker 0");
    CHECK_ACCOUNTING(s);
    CHECK(s.offered == 0 && s.per_worker != NULL);
    /* Given weights need no profile: the same data set runs (sample 0 fails on its own). */
    double w11[2] = {1, 1};
    CHECK_OK(dp_partitioner_set_weights(wp, w11, 2));
    CHECK_OK(dp_runner_run_batch(r, ds, &s));
    CHECK(s.completed == 39 && s.failed == 1);
    dp_runner_free(r);
    dp_partitioner_free(wp);
    dp_dataset_free(ds);
}

/* The one rule for sized structs, as an older or a newer caller sees it. */
static void sized_structs(dp_model *m, dp_dataset *ds) {
    /* An older caller's dp_runner_opts ends before worker_timeout_s: taken, the rest defaults. */
    dp_runner_opts o;
    dp_runner_opts_init(&o);
    CHECK(o.size == sizeof o && o.workers == 1 && o.worker_timeout_s == 10.0);
    o.size = offsetof(dp_runner_opts, worker_timeout_s);
    o.worker_timeout_s = -1; /* beyond its size: never read */
    dp_partitioner *p = rt_partitioner("uniform", NULL, NULL);
    dp_runner *r = NULL;
    CHECK_OK(dp_runner_create(m, p, &o, &r));
    dp_runner_free(r);
    o.size = 8;
    CHECK_STATUS(dp_runner_create(m, p, &o, &r), DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("dp_runner_opts_init");
    /* A newer caller's larger struct: fine while the fields this library lacks are zero. */
    struct {
        dp_runner_opts o;
        int newer_field;
    } big;
    memset(&big, 0, sizeof big);
    dp_runner_opts_init_sized(&big.o, sizeof big);
    CHECK(big.o.size == sizeof big && big.o.workers == 1 && big.newer_field == 0);
    CHECK_OK(dp_runner_create(m, p, &big.o, &r));
    dp_runner_free(r);
    big.newer_field = 3;
    CHECK_STATUS(dp_runner_create(m, p, &big.o, &r), DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("newer header");
    /* An older caller's summary: filled as far as it reaches, nothing written beyond. */
    CHECK_OK(dp_runner_create(m, p, NULL, &r));
    struct {
        dp_summary s;
        unsigned char guard[8];
    } old;
    memset(&old, 0xab, sizeof old);
    dp_summary_init_sized(&old.s, offsetof(dp_summary, nonfinite_inputs));
    CHECK_OK(dp_runner_run_batch(r, ds, &old.s));
    CHECK(old.s.completed == dp_dataset_count(ds) && old.s.size == offsetof(dp_summary, nonfinite_inputs));
    const unsigned char *tail = (const unsigned char *)&old.s + offsetof(dp_summary, nonfinite_inputs);
    int untouched = 1;
    for (size_t i = offsetof(dp_summary, nonfinite_inputs); i < sizeof old; i++, tail++) untouched &= *tail == 0xab;
    CHECK_MSG(untouched, "a run wrote beyond an older caller's summary");
    dp_summary bad;
    memset(&bad, 0, sizeof bad);
    CHECK_STATUS(dp_runner_run_batch(r, ds, &bad), DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("dp_summary_init");
    dp_runner_free(r);
    dp_partitioner_free(p);
}

int main(void) {
    dp_set_log_fn(log_hook, NULL, DP_LOG_WARN);
    dp_model *m = rt_model();
    dp_partitioner *p = rt_partitioner("uniform", NULL, NULL);
    dp_dataset *ds = NULL;
    CHECK_OK(dp_dataset_synthetic(8, 3, 32, 32, 1, &ds));
    dp_runner *r = NULL;
    dp_runner_opts o;

    dp_runner_opts_init(&o);
    o.workers = 0;
    CHECK_STATUS(dp_runner_create(m, p, &o, &r), DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("workers");
    CHECK(r == NULL);
    /* One bound on workers, checked at create (it was unbounded until a stack array overflowed). */
    dp_runner_opts_init(&o);
    o.workers = DP_MAX_WORKERS + 1;
    CHECK_STATUS(dp_runner_create(m, p, &o, &r), DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("DP_MAX_WORKERS");
    CHECK(r == NULL);
    dp_runner_opts_init(&o);
    o.queue_capacity = 0;
    CHECK_STATUS(dp_runner_create(m, p, &o, &r), DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("queue_capacity");
    dp_runner_opts_init(&o);
    o.max_batch = 0;
    CHECK_STATUS(dp_runner_create(m, p, &o, &r), DP_ERR_INVALID_ARG);
    dp_runner_opts_init(&o);
    o.threads_per_worker = 0;
    CHECK_STATUS(dp_runner_create(m, p, &o, &r), DP_ERR_INVALID_ARG);
    dp_runner_opts_init(&o);
    o.overflow = (dp_overflow)7;
    CHECK_STATUS(dp_runner_create(m, p, &o, &r), DP_ERR_INVALID_ARG);
    double bad_slow[2] = {1.0, 0.5};
    dp_runner_opts_init(&o);
    o.workers = 2;
    o.slowdown = bad_slow;
    o.num_slowdown = 2;
    CHECK_STATUS(dp_runner_create(m, p, &o, &r), DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("slowdown[1]");
    o.num_slowdown = 3;
    CHECK_STATUS(dp_runner_create(m, p, &o, &r), DP_ERR_INVALID_ARG);
    dp_runner_opts_init(&o);
    o.straggler_factor = NAN;
    CHECK_STATUS(dp_runner_create(m, p, &o, &r), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_runner_create(NULL, p, NULL, &r), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_runner_create(m, NULL, NULL, &r), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_runner_create(m, p, NULL, NULL), DP_ERR_INVALID_ARG);

    /* One partitioner serves one runner at a time (it holds that runner's run state). */
    dp_runner *first = NULL, *second = NULL;
    CHECK_OK(dp_runner_create(m, p, NULL, &first));
    CHECK_STATUS(dp_runner_create(m, p, NULL, &second), DP_ERR_BUSY);
    CHECK_ERROR_MENTIONS("one partitioner per runner");
    CHECK(second == NULL);
    dp_runner_free(first);
    CHECK_OK(dp_runner_create(m, p, NULL, &second)); /* free again once the first is gone */
    dp_runner_free(second);

    /* Unknown strategy: the partitioner refuses it by name. */
    dp_partitioner *bad = NULL;
    CHECK_STATUS(dp_partitioner_create("round-robin-ish", NULL, &bad), DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("round-robin-ish");

    /* The MPI backend without its plugin: a clear DP_ERR_UNSUPPORTED. */
    setenv("DP_MPI_PLUGIN", "/nonexistent/libdataparallel_mpi.so.0", 1);
    dp_runner_opts_init(&o);
    o.backend = DP_RUNNER_MPI;
    CHECK_STATUS(dp_runner_create(m, p, &o, &r), DP_ERR_UNSUPPORTED);
    CHECK_ERROR_MENTIONS("libdataparallel_mpi.so.0");
    unsetenv("DP_MPI_PLUGIN");

    /* More threads than cores: allowed, with a warning through the log hook. */
    atomic_store(&warnings, 0);
    dp_runner_opts_init(&o);
    o.workers = 2;
    o.threads_per_worker = 64;
    CHECK_OK(dp_runner_create(m, p, &o, &r));
    CHECK(atomic_load(&warnings) >= 1 && strstr(last_warning, "cores") != NULL);
    RT_SUMMARY(s);
    CHECK_OK(dp_runner_run_batch(r, ds, &s));
    CHECK(s.completed == 8);
    dp_runner_free(r);

    /* Summary problems and NULL arguments. */
    dp_runner_opts_init(&o);
    CHECK_OK(dp_runner_create(m, p, &o, &r));
    CHECK_STATUS(dp_runner_run_batch(r, ds, NULL), DP_ERR_INVALID_ARG);
    dp_summary small = {.size = 8};
    CHECK_STATUS(dp_runner_run_batch(r, ds, &small), DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("size");
    CHECK_STATUS(dp_runner_run_batch(r, NULL, &s), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_runner_run(r, NULL, &s), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_runner_run_batch(NULL, ds, &s), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_runner_add_sink(r, NULL), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_runner_submit(r, 0, NULL, NULL), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_runner_start(r, 0, 32, 32), DP_ERR_INVALID_ARG);
    CHECK_OK(dp_runner_stop(r, NULL)); /* nothing running: a no-op */
    /* A sample shape the model refuses: the workers cannot start; clear status, no hang. */
    dp_dataset *tiny = NULL;
    CHECK_OK(dp_dataset_synthetic(4, 3, 8, 8, 1, &tiny));
    CHECK_STATUS(dp_runner_run_batch(r, tiny, &s), DP_ERR_SHAPE);
    /* One channel where the model wants three: refused before any sample is read. */
    dp_dataset *gray = NULL;
    CHECK_OK(dp_dataset_synthetic(4, 1, 32, 32, 1, &gray));
    CHECK_STATUS(dp_runner_run_batch(r, gray, &s), DP_ERR_SHAPE);
    CHECK_ERROR_MENTIONS("[1,32,32]");
    /* A data set read from a file: the message names the file. */
    float four[4 * 32 * 32] = {0};
    CHECK_OK(dp_npy_write("four_channels.npy", four, 4, (int64_t[]){1, 4, 32, 32}));
    dp_dataset *npy4 = NULL;
    CHECK_OK(dp_dataset_npy("four_channels.npy", &npy4));
    CHECK_STATUS(dp_runner_run_batch(r, npy4, &s), DP_ERR_SHAPE);
    CHECK_ERROR_MENTIONS("four_channels.npy: samples are [4,32,32]");
    dp_dataset_free(npy4);
    CHECK(dp_runner_run_batch(r, ds, &s) == DP_OK && s.completed == 8); /* still usable */
    dp_dataset_free(gray);
    dp_dataset_free(tiny);
    dp_runner_free(r);
    dp_runner_free(NULL);

    /* A custom callback returning an out-of-range worker. */
    dp_partitioner *cp = rt_partitioner("custom", out_of_range, NULL);
    dp_runner_opts_init(&o);
    o.workers = 2;
    CHECK_OK(dp_runner_create(m, cp, &o, &r));
    CHECK_STATUS(dp_runner_run_batch(r, ds, &s), DP_ERR_INVALID_ARG);
    CHECK_ACCOUNTING(s);
    dp_source *src = NULL;
    dp_source_opts so;
    dp_source_opts_init(&so);
    so.rate = 1000;
    CHECK_OK(dp_source_create(ds, &so, &src));
    CHECK_STATUS(dp_runner_run(r, src, &s), DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("custom");  /* the partitioner's message, not the source's end-of-stream */
    CHECK_ACCOUNTING(s);
    CHECK(s.offered == 8 && s.failed == 1 && s.completed == 7);
    dp_source_free(src);
    dp_runner_free(r);
    dp_partitioner_free(cp);

    failed_profile(m);
    sized_structs(m, ds);

    /* JSON of a summary: the contract's field names, truncation like snprintf. */
    RT_SUMMARY(js);
    js.offered = 3;
    js.completed = 3;
    char buf[4096];
    size_t need = dp_summary_to_json(&js, buf, sizeof buf);
    CHECK(need == strlen(buf) && strstr(buf, "\"latency_ms\":{\"mean\"") && strstr(buf, "\"per_worker\":[]"));
    char tinybuf[8];
    CHECK(dp_summary_to_json(&js, tinybuf, sizeof tinybuf) == need && strlen(tinybuf) == 7);
    CHECK(dp_summary_to_json(NULL, tinybuf, sizeof tinybuf) == 0);

    dp_dataset_free(ds);
    dp_partitioner_free(p);
    dp_model_free(m);
    TEST_MAIN_END();
}
