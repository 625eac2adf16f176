/* Batch mode: every strategy, W in 1..4, N not divisible by W, N < W, N = 0: each sample exactly
 * once with the same top-1 as a single-worker run; per-worker counts add up. */
#include "rt_common.h"

static const char *strategies[] = {"uniform", "sharded", "dynamic", "weighted", "custom"};

static void run_case(dp_model *m, dp_dataset *ds, const char *strategy, int W, int max_batch, const int *ref,
                     int64_t n) {
    rt_seen *seen = rt_seen_new();
    dp_partitioner *p = rt_partitioner(strategy, strcmp(strategy, "custom") == 0 ? rt_custom_mod : NULL, NULL);
    dp_runner_opts o;
    dp_runner_opts_init(&o);
    o.workers = W;
    o.max_batch = max_batch;
    o.on_result = rt_on_result;
    o.on_result_user = seen;
    dp_runner *r = NULL;
    CHECK_OK(dp_runner_create(m, p, &o, &r));
    RT_SUMMARY(s);
    CHECK_OK(dp_runner_run_batch(r, ds, &s));
    int once = 1, same = 1;
    for (int64_t i = 0; i < n; i++) {
        once &= atomic_load(&seen->count[i]) == 1;
        if (ref) same &= atomic_load(&seen->top1[i]) == ref[i];
    }
    CHECK_MSG(once, "%s W=%d N=%lld: a sample was not delivered exactly once", strategy, W, (long long)n);
    CHECK_MSG(same, "%s W=%d N=%lld: top-1 differs from the single-worker run", strategy, W, (long long)n);
    CHECK_MSG(atomic_load(&seen->calls) == n, "%s W=%d: %d callbacks for %lld samples", strategy, W,
              atomic_load(&seen->calls), (long long)n);
    CHECK(s.offered == n && s.completed == n && s.failed == 0 && s.dropped == 0);
    CHECK(s.workers == W && s.per_worker != NULL);
    int64_t sum = 0;
    for (int k = 0; k < s.workers; k++) sum += s.per_worker[k].completed;
    CHECK_MSG(sum == n, "%s W=%d: per-worker completed sum %lld != %lld", strategy, W, (long long)sum, (long long)n);
    CHECK(s.labelled == n); /* synthetic labels are i % 10 */
    dp_runner_free(r);
    dp_partitioner_free(p);
    free(seen);
}

int main(void) {
    dp_model *m = rt_model();
    const int64_t sizes[] = {11, 2, 0};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        int64_t n = sizes[si];
        dp_dataset *ds = NULL;
        CHECK_OK(dp_dataset_synthetic(n, 3, 32, 32, 42, &ds));
        /* The reference: one worker, uniform, batches of 1. */
        int ref[16] = {0};
        if (n > 0) CHECK(rt_reference_top1(m, ds, ref) == n);
        for (size_t k = 0; k < sizeof strategies / sizeof strategies[0]; k++)
            for (int W = 1; W <= 4; W++) run_case(m, ds, strategies[k], W, W == 3 ? 4 : 1, n ? ref : NULL, n);
        dp_dataset_free(ds);
    }
    dp_model_free(m);
    TEST_MAIN_END();
}
