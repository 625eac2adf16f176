/* Shared set-up for the runner tests: a small model (torchvision resnet18 at 32x32 is the
 * fastest of the four archs there), synthetic data, and result collection from callbacks. */
#ifndef DP_TESTS_RUNTIME_RT_COMMON_H
#define DP_TESTS_RUNTIME_RT_COMMON_H

#include <stdatomic.h>
#include <stdlib.h>

#include "test.h"

#define RT_MAX_SAMPLES 4096

/* What the callbacks saw, per sample id. */
typedef struct rt_seen {
    atomic_int count[RT_MAX_SAMPLES];
    atomic_int top1[RT_MAX_SAMPLES];
    atomic_int status[RT_MAX_SAMPLES];
    atomic_int worker[RT_MAX_SAMPLES];
    atomic_int calls;
} rt_seen;

static inline void rt_on_result(const dp_result *r, void *ctx, void *user) {
    rt_seen *s = user;
    (void)ctx;
    atomic_fetch_add(&s->calls, 1);
    if (r->sample_id < 0 || r->sample_id >= RT_MAX_SAMPLES) return;
    atomic_fetch_add(&s->count[r->sample_id], 1);
    atomic_store(&s->top1[r->sample_id], r->top1);
    atomic_store(&s->status[r->sample_id], (int)r->status);
    atomic_store(&s->worker[r->sample_id], r->worker);
}

static inline rt_seen *rt_seen_new(void) { return calloc(1, sizeof(rt_seen)); }

static inline dp_model *rt_model(void) {
    dp_model *m = NULL;
    dp_model_opts mo;
    dp_model_opts_init(&mo);
    mo.seed = 7;
    dp_status s = dp_model_load("resnet18", NULL, &mo, &m);
    if (s != DP_OK) {
        fprintf(stderr, "cannot load resnet18: %s\n", dp_last_error());
        exit(1);
    }
    return m;
}

static inline dp_partitioner *rt_partitioner(const char *name, dp_partition_fn custom, void *user) {
    dp_partitioner *p = NULL;
    dp_status s = custom ? dp_partitioner_create_custom(custom, user, &p) : dp_partitioner_create(name, NULL, &p);
    if (s != DP_OK) {
        fprintf(stderr, "cannot create partitioner %s: %s\n", name, dp_last_error());
        exit(1);
    }
    return p;
}

static inline int rt_custom_mod(int64_t id, int64_t key, int workers, void *user) {
    (void)id;
    (void)user;
    return (int)(key % workers);
}

/* A runner of W workers reporting into seen; o (NULL: defaults) gives the other options. */
static inline dp_runner *rt_runner(dp_model *m, dp_partitioner *p, int W, rt_seen *seen, dp_runner_opts *o) {
    dp_runner_opts local;
    if (!o) {
        dp_runner_opts_init(&local);
        o = &local;
    }
    o->workers = W;
    o->on_result = rt_on_result;
    o->on_result_user = seen;
    dp_runner *r = NULL;
    CHECK_OK(dp_runner_create(m, p, o, &r));
    return r;
}

/* A source of `samples` samples of ds at `rate` samples/s. */
static inline dp_source *rt_source(dp_dataset *ds, double rate, int64_t samples) {
    dp_source_opts so;
    dp_source_opts_init(&so);
    so.rate = rate;
    so.samples = samples;
    dp_source *src = NULL;
    CHECK_OK(dp_source_create(ds, &so, &src));
    return src;
}

#define RT_SUMMARY(name) \
    dp_summary name;     \
    dp_summary_init(&name)

#define CHECK_ACCOUNTING(s) \
    CHECK_MSG((s).offered == (s).completed + (s).dropped + (s).failed, "offered %lld completed %lld dropped %lld failed %lld", \
              (long long)(s).offered, (long long)(s).completed, (long long)(s).dropped, (long long)(s).failed)

/* Top-1 of every sample of ds from one worker, uniform, batches of 1: the reference every other
 * configuration must reproduce. Returns the number of completed samples. */
static inline int64_t rt_reference_top1(dp_model *m, dp_dataset *ds, int *top1) {
    rt_seen *seen = rt_seen_new();
    dp_partitioner *p = rt_partitioner("uniform", NULL, NULL);
    dp_runner_opts o;
    dp_runner_opts_init(&o);
    o.on_result = rt_on_result;
    o.on_result_user = seen;
    dp_runner *r = NULL;
    CHECK_OK(dp_runner_create(m, p, &o, &r));
    RT_SUMMARY(s);
    CHECK_OK(dp_runner_run_batch(r, ds, &s));
    for (int64_t i = 0; i < dp_dataset_count(ds); i++) top1[i] = atomic_load(&seen->top1[i]);
    dp_runner_free(r);
    dp_partitioner_free(p);
    free(seen);
    return s.completed;
}

#endif
