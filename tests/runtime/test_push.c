/* Push mode: 4 threads submitting concurrently, every callback exactly once with the sample's
 * context, top-1 equal to a batch run on the same data; drops reported; submit outside a push
 * run is refused; a stop finishes what was queued and fills the summary. */
#include <pthread.h>

#include "rt_common.h"

/* Allocations made by this thread while `counting` is set, seen by wrapping glibc's allocator
 * (the library is linked statically into this test, so its calls land here too). Sanitizers
 * bring their own allocator, which a wrapper would bypass: there the check is skipped. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define COUNT_ALLOCATIONS 0
#else
#define COUNT_ALLOCATIONS 1
static _Thread_local int counting, allocations;
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
void *malloc(size_t n) {
    allocations += counting;
    return __libc_malloc(n);
}
void *calloc(size_t n, size_t s) {
    allocations += counting;
    return __libc_calloc(n, s);
}
void *realloc(void *p, size_t n) {
    allocations += counting;
    return __libc_realloc(p, n);
}
#endif

#define N 64
#define THREADS 4

static float data[N][3 * 32 * 32];

typedef struct submitter {
    dp_runner *r;
    int first;
    int errors;
} submitter;

static void *submit_some(void *arg) {
    submitter *s = arg;
    for (int i = s->first; i < N; i += THREADS)
        if (dp_runner_submit(s->r, i, data[i], &data[i]) != DP_OK) s->errors++;
    return NULL;
}

static atomic_int ctx_mismatch;
static void check_ctx(const dp_result *r, void *ctx, void *user) {
    if (ctx != &data[r->sample_id]) atomic_fetch_add(&ctx_mismatch, 1);
    rt_on_result(r, ctx, user);
}

static dp_runner *push_runner(dp_model *m, dp_partitioner *p, rt_seen *seen, int cap, dp_overflow ov) {
    dp_runner_opts o;
    dp_runner_opts_init(&o);
    o.workers = 2;
    o.max_batch = 4;
    o.max_delay_us = 200;
    o.queue_capacity = cap;
    o.overflow = ov;
    o.on_result = check_ctx;
    o.on_result_user = seen;
    dp_runner *r = NULL;
    CHECK_OK(dp_runner_create(m, p, &o, &r));
    return r;
}

int main(void) {
    dp_model *m = rt_model();
    dp_dataset *ds = NULL;
    CHECK_OK(dp_dataset_synthetic(N, 3, 32, 32, 9, &ds));
    for (int i = 0; i < N; i++) CHECK_OK(dp_dataset_get(ds, i, data[i], NULL));

    int ref[N];
    CHECK(rt_reference_top1(m, ds, ref) == N);

    const char *strategies[] = {"uniform", "dynamic", "weighted", "sharded"};
    for (int k = 0; k < 4; k++) {
        rt_seen *seen = rt_seen_new();
        dp_partitioner *p = rt_partitioner(strategies[k], NULL, NULL);
        dp_runner *r = push_runner(m, p, seen, 1024, DP_OVERFLOW_BLOCK);
        CHECK_STATUS(dp_runner_submit(r, 0, data[0], NULL), DP_ERR_CLOSED);
        CHECK_STATUS(dp_runner_drain(r), DP_ERR_CLOSED);
        CHECK_OK(dp_runner_start(r, 3, 32, 32));
        CHECK_STATUS(dp_runner_start(r, 3, 32, 32), DP_ERR_BUSY);
        RT_SUMMARY(busy);
        CHECK_STATUS(dp_runner_run_batch(r, ds, &busy), DP_ERR_BUSY);
        pthread_t t[THREADS];
        submitter sub[THREADS];
        for (int i = 0; i < THREADS; i++) {
            sub[i] = (submitter){r, i, 0};
            pthread_create(&t[i], NULL, submit_some, &sub[i]);
        }
        for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
        for (int i = 0; i < THREADS; i++) CHECK(sub[i].errors == 0);
        CHECK_OK(dp_runner_drain(r));
        CHECK(atomic_load(&seen->calls) == N); /* drain waits for every callback */
        RT_SUMMARY(s);
        CHECK_OK(dp_runner_stop(r, &s));
        int once = 1, same = 1;
        for (int i = 0; i < N; i++) {
            once &= atomic_load(&seen->count[i]) == 1;
            same &= atomic_load(&seen->top1[i]) == ref[i];
        }
        CHECK_MSG(once, "%s: a callback did not fire exactly once", strategies[k]);
        CHECK_MSG(same, "%s: push-mode top-1 differs from batch mode", strategies[k]);
        CHECK(atomic_load(&ctx_mismatch) == 0);
        CHECK(s.offered == N && s.completed == N && s.dropped == 0 && s.failed == 0 && s.latency_ms.p50 > 0);
        CHECK_STATUS(dp_runner_submit(r, 0, data[0], NULL), DP_ERR_CLOSED);
        dp_runner_free(r);
        dp_partitioner_free(p);
        free(seen);
    }

    /* Overload in push mode: capacity 2, drop-oldest; every sample still gets one callback. */
    for (int pol = DP_OVERFLOW_DROP_NEWEST; pol <= DP_OVERFLOW_DROP_OLDEST; pol++) {
        rt_seen *seen = rt_seen_new();
        dp_partitioner *p = rt_partitioner("uniform", NULL, NULL);
        dp_runner *r = push_runner(m, p, seen, 2, (dp_overflow)pol);
        CHECK_OK(dp_runner_start(r, 3, 32, 32));
        for (int i = 0; i < N; i++) CHECK_OK(dp_runner_submit(r, i, data[i], &data[i]));
        RT_SUMMARY(s);
        CHECK_OK(dp_runner_stop(r, &s)); /* stop without drain: queued samples still finish */
        CHECK_ACCOUNTING(s);
        CHECK(s.offered == N && s.dropped > 0 && atomic_load(&seen->calls) == N);
        int once = 1;
        for (int i = 0; i < N; i++) once &= atomic_load(&seen->count[i]) == 1;
        CHECK(once);
        if (pol == DP_OVERFLOW_DROP_OLDEST) CHECK(atomic_load(&seen->status[N - 1]) == DP_OK);
        dp_runner_free(r);
        dp_partitioner_free(p);
        free(seen);
    }

    /* Submit allocates nothing at any worker count (it used to calloc above 64 workers). */
    if (COUNT_ALLOCATIONS) {
        rt_seen *seen = rt_seen_new();
        dp_partitioner *p = rt_partitioner("uniform", NULL, NULL);
        dp_runner_opts o;
        dp_runner_opts_init(&o);
        o.workers = 65;
        o.on_result = rt_on_result;
        o.on_result_user = seen;
        dp_runner *r = NULL;
        CHECK_OK(dp_runner_create(m, p, &o, &r));
        CHECK_OK(dp_runner_start(r, 3, 32, 32));
#if COUNT_ALLOCATIONS
        counting = 1;
        void *volatile probe = calloc(1, 16); /* the wrapper itself counts */
        free(probe);
        CHECK(allocations == 1);
        allocations = 0;
        for (int i = 0; i < N; i++) CHECK_OK(dp_runner_submit(r, i, data[i], NULL));
        counting = 0;
        CHECK_MSG(allocations == 0, "%d allocations in %d submits to 65 workers", allocations, N);
#endif
        RT_SUMMARY(s);
        CHECK_OK(dp_runner_stop(r, &s));
        CHECK(s.completed == N);
        dp_runner_free(r);
        dp_partitioner_free(p);
        free(seen);
    } else {
        printf("skipped: allocation counting (a sanitizer owns the allocator)\n");
    }

    /* dp_runner_free() in the middle of push mode stops it cleanly. */
    {
        rt_seen *seen = rt_seen_new();
        dp_partitioner *p = rt_partitioner("dynamic", NULL, NULL);
        dp_runner *r = push_runner(m, p, seen, 16, DP_OVERFLOW_BLOCK);
        CHECK_OK(dp_runner_start(r, 3, 32, 32));
        for (int i = 0; i < 8; i++) CHECK_OK(dp_runner_submit(r, i, data[i], &data[i]));
        dp_runner_free(r);
        CHECK(atomic_load(&seen->calls) == 8);
        dp_partitioner_free(p);
        free(seen);
    }
    dp_dataset_free(ds);
    dp_model_free(m);
    TEST_MAIN_END();
}
