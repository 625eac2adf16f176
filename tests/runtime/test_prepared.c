/* No primitive is created while a runner serves micro-batches (issue 13): every batch size of
 * 1..max_batch is prepared before the first sample, so a partial batch never evicts and rebuilds
 * primitives inside the measured latency. Push mode with bursts of random sizes and random gaps
 * (the batch sizes of bursty traffic), and pull mode from a source with constant and Poisson
 * arrivals faster than the workers, at max_batch 8 and 32; the count of primitives created
 * across the process stays what it was when the first sample completed (push: after start, over
 * a short and a ten times longer stretch). */
#include <pthread.h>
#include <time.h>

#include "model/onednn_impl.h"
#include "rt_common.h"
#include "util/util.h"

static float sample[3 * 32 * 32];
static atomic_ullong sizes_seen; /* bit b: a micro-batch of b samples (b < 64) ran */

static void on_result(const dp_result *r, void *ctx, void *user) {
    (void)ctx;
    if (r->batch_size > 0 && r->batch_size < 64) atomic_fetch_or(&sizes_seen, 1ull << r->batch_size);
    rt_on_result(r, ctx, user);
}

/* `samples` samples in bursts of 1..max_batch, with pauses of 0..2 ms between them. */
static void submit_bursts(dp_runner *r, int max_batch, int samples, uint64_t *seed, int64_t *id) {
    for (int left = samples; left > 0;) {
        int burst = 1 + (int)(dpi_splitmix64(seed) % (uint64_t)max_batch);
        for (int i = 0; i < burst && left > 0; i++, left--) CHECK_OK(dp_runner_submit(r, (*id)++ % RT_MAX_SAMPLES, sample, NULL));
        struct timespec gap = {0, (long)(dpi_splitmix64(seed) % 2000000)};
        nanosleep(&gap, NULL);
    }
}

/* Two workers micro-batching up to max_batch, waiting up to delay_us to fill a batch. */
static dp_runner_opts batching_opts(int max_batch, int delay_us, dp_result_fn fn, rt_seen *seen) {
    dp_runner_opts o;
    dp_runner_opts_init(&o);
    o.workers = 2;
    o.max_batch = max_batch;
    o.max_delay_us = delay_us;
    o.on_result = fn;
    o.on_result_user = seen;
    return o;
}

static void no_creation(dp_model *m, int max_batch) {
    rt_seen *seen = rt_seen_new();
    dp_partitioner *p = rt_partitioner("dynamic", NULL, NULL);
    dp_runner_opts o = batching_opts(max_batch, 1000, on_result, seen);
    dp_runner *r = NULL;
    CHECK_OK(dp_runner_create(m, p, &o, &r));
    atomic_store(&sizes_seen, 0);
    CHECK_OK(dp_runner_start(r, 3, 32, 32));
    uint64_t warm = dpo_primitives_created_total(), seed = (uint64_t)max_batch;
    int64_t id = 0;
    submit_bursts(r, max_batch, 40, &seed, &id);
    CHECK_OK(dp_runner_drain(r));
    uint64_t short_run = dpo_primitives_created_total();
    submit_bursts(r, max_batch, 400, &seed, &id);
    CHECK_OK(dp_runner_drain(r));
    uint64_t long_run = dpo_primitives_created_total();
    RT_SUMMARY(s);
    CHECK_OK(dp_runner_stop(r, &s));
    CHECK_ACCOUNTING(s);
    CHECK(s.completed == 440);
    CHECK_MSG(short_run == warm && long_run == warm,
              "max_batch %d: %llu primitives created after start by 40 samples, %llu by 440", max_batch,
              (unsigned long long)(short_run - warm), (unsigned long long)(long_run - warm));
    /* The bursts must have made partial batches larger than 4, or this proves nothing. */
    unsigned long long seen_sizes = atomic_load(&sizes_seen);
    CHECK_MSG(seen_sizes >> 5, "max_batch %d: no micro-batch above 4 samples (sizes seen %#llx)", max_batch, seen_sizes);
    printf("max_batch %d: %llu primitives created by start, %llu after; batch sizes seen %#llx\n", max_batch,
           (unsigned long long)warm, (unsigned long long)(long_run - warm), seen_sizes);
    dp_runner_free(r);
    dp_partitioner_free(p);
    free(seen);
}

/* Pull mode: the count when the first sample completed (every worker was prepared before the
 * first sample was offered) against the count at the end of the run. */
static atomic_ullong at_first_result;

static void on_result_first(const dp_result *r, void *ctx, void *user) {
    unsigned long long none = 0;
    atomic_compare_exchange_strong(&at_first_result, &none, dpo_primitives_created_total());
    on_result(r, ctx, user);
}

static void no_creation_pull(dp_model *m, int max_batch, dp_rate_policy policy) {
    rt_seen *seen = rt_seen_new();
    dp_partitioner *p = rt_partitioner("dynamic", NULL, NULL);
    dp_dataset *ds = NULL;
    CHECK_OK(dp_dataset_synthetic(64, 3, 32, 32, 1, &ds));
    dp_runner_opts o = batching_opts(max_batch, 2000, on_result_first, seen);
    o.overflow = DP_OVERFLOW_DROP_NEWEST;
    dp_source_opts so;
    dp_source_opts_init(&so);
    so.policy = policy;
    so.rate = 5000; /* faster than two workers serve resnet18 one sample at a time here */
    so.samples = 1500;
    dp_runner *r = NULL;
    dp_source *src = NULL;
    CHECK_OK(dp_runner_create(m, p, &o, &r));
    CHECK_OK(dp_source_create(ds, &so, &src));
    atomic_store(&sizes_seen, 0);
    atomic_store(&at_first_result, 0);
    RT_SUMMARY(s);
    CHECK_OK(dp_runner_run(r, src, &s));
    uint64_t end = dpo_primitives_created_total(), first = atomic_load(&at_first_result);
    const char *arrivals = policy == DP_RATE_POISSON ? "poisson" : "constant";
    CHECK_ACCOUNTING(s);
    CHECK(s.completed > 0 && first > 0);
    CHECK_MSG(end == first, "%s arrivals, max_batch %d: %llu primitives created after the first sample completed",
              arrivals, max_batch, (unsigned long long)(end - first));
    unsigned long long seen_sizes = atomic_load(&sizes_seen);
    CHECK_MSG(seen_sizes >> 5, "%s arrivals, max_batch %d: no micro-batch above 4 samples (sizes seen %#llx)", arrivals,
              max_batch, seen_sizes);
    printf("pull, %s arrivals, max_batch %d: %lld completed, %lld dropped, %llu primitives created after the first "
           "result; batch sizes seen %#llx\n",
           arrivals, max_batch, (long long)s.completed, (long long)s.dropped, (unsigned long long)(end - first), seen_sizes);
    dp_source_free(src);
    dp_runner_free(r);
    dp_dataset_free(ds);
    dp_partitioner_free(p);
    free(seen);
}

int main(void) {
    dp_model *m = rt_model();
    no_creation(m, 8);
    no_creation(m, 32);
    for (int b = 8; b <= 32; b *= 4) {
        no_creation_pull(m, b, DP_RATE_CONSTANT);
        no_creation_pull(m, b, DP_RATE_POISSON);
    }
    dp_model_free(m);
    TEST_MAIN_END();
}
