/* dp_partitioner: the public API, the batch plan shared by the static strategies, and the two
 * simplest strategies (uniform and custom). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "partition_impl.h"
#include "util/sized.h"

DP_API void dp_partitioner_opts_init_sized(dp_partitioner_opts *opts, size_t size) {
    const dp_partitioner_opts d = {.size = sizeof d, .num_shards = 0, .vnodes = 64, .ema_alpha = 0.2, .min_chunk = 1};
    dpi_sized_init(opts, size, &d, sizeof d);
}

static dp_status check_weights(const double *weights, int n, const char *what) {
    if (!weights || n < 1 || n > DP_MAX_WORKERS)
        return dpi_error(DP_ERR_INVALID_ARG, "%s: need 1..%d weights, got %d%s", what, DP_MAX_WORKERS, n,
                         weights ? "" : " (NULL)");
    for (int i = 0; i < n; i++)
        if (!(weights[i] > 0) || !isfinite(weights[i]))
            return dpi_error(DP_ERR_INVALID_ARG, "%s: weight %d is %g, expected a finite value > 0", what, i,
                             weights[i]);
    return DP_OK;
}

static dp_status store_weights(dp_partitioner *p, const double *weights, int n) {
    double *w = malloc(sizeof *w * (size_t)n);
    if (!w) return dpi_error(DP_ERR_NOMEM, "out of memory for %d partitioner weights", n);
    memcpy(w, weights, sizeof *w * (size_t)n);
    free(p->init_weights);
    p->init_weights = w;
    p->num_init_weights = n;
    return DP_OK;
}

static dp_status partitioner_new(const dpi_strategy *s, const dp_partitioner_opts *opts, dp_partitioner **out) {
    dp_partitioner *p = dpi_alloc_aligned(sizeof *p, DPI_CACHELINE);
    if (!p) return dpi_error(DP_ERR_NOMEM, "out of memory for a partitioner");
    memset(p, 0, sizeof *p);
    int rc = pthread_mutex_init(&p->route_mu, NULL);
    if (rc != 0) {
        dpi_free_aligned(p);
        return dpi_error(DP_ERR_INTERNAL, "cannot create a partitioner's lock (error %d)", rc);
    }
    p->strategy = s;
    dp_partitioner_opts_init(&p->opts);
    dp_partitioner_opts *o = &p->opts;
    dp_status st = dpi_sized_take(o, sizeof *o, opts, sizeof *o, "dp_partitioner_create: opts", "dp_partitioner_opts_init");
    if (st != DP_OK)
        ;
    else if (o->num_shards < 0 || o->vnodes < 0 || o->min_chunk < 0 || o->num_weights < 0)
        st = dpi_error(DP_ERR_INVALID_ARG,
                       "partitioner options: num_shards %d, vnodes %d, min_chunk %d, num_weights %d must be >= 0",
                       o->num_shards, o->vnodes, o->min_chunk, o->num_weights);
    else if (o->vnodes > 65536)
        st = dpi_error(DP_ERR_INVALID_ARG, "partitioner options: vnodes %d is more than 65536", o->vnodes);
    else if (!(o->ema_alpha >= 0 && o->ema_alpha <= 1))
        st = dpi_error(DP_ERR_INVALID_ARG, "partitioner options: ema_alpha %g is not in [0, 1] (0: the default)", o->ema_alpha);
    else if (o->weights)
        st = check_weights(o->weights, o->num_weights, "partitioner options");
    if (st == DP_OK && o->weights) st = store_weights(p, o->weights, o->num_weights);
    if (st != DP_OK) {
        dp_partitioner_free(p);
        return st;
    }
    if (o->vnodes == 0) o->vnodes = 64;
    if (o->min_chunk == 0) o->min_chunk = 1;
    if (o->ema_alpha == 0) o->ema_alpha = 0.2;
    o->weights = NULL;
    o->num_weights = 0;
    *out = p;
    return DP_OK;
}

DP_API dp_status dp_partitioner_create(const char *name, const dp_partitioner_opts *opts, dp_partitioner **out) {
    static const dpi_strategy *const all[] = {&dpi_strategy_uniform, &dpi_strategy_sharded, &dpi_strategy_dynamic,
                                              &dpi_strategy_weighted};
    if (!out) return dpi_error(DP_ERR_INVALID_ARG, "dp_partitioner_create: out is NULL");
    *out = NULL;
    if (!name) return dpi_error(DP_ERR_INVALID_ARG, "dp_partitioner_create: name is NULL");
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcmp(name, all[i]->name) == 0) return partitioner_new(all[i], opts, out);
    return dpi_error(DP_ERR_INVALID_ARG,
                     "unknown partitioner \"%s\" (expected uniform, sharded, dynamic or weighted)", name);
}

DP_API dp_status dp_partitioner_create_custom(dp_partition_fn fn, void *user, dp_partitioner **out) {
    if (!out) return dpi_error(DP_ERR_INVALID_ARG, "dp_partitioner_create_custom: out is NULL");
    *out = NULL;
    if (!fn) return dpi_error(DP_ERR_INVALID_ARG, "dp_partitioner_create_custom: callback is NULL");
    dp_status st = partitioner_new(&dpi_strategy_custom, NULL, out);
    if (st != DP_OK) return st;
    (*out)->custom_fn = fn;
    (*out)->custom_user = user;
    return DP_OK;
}

static void plan_free(dp_partitioner *p) {
    free(p->range_start);
    free(p->range_count);
    free(p->plan_off);
    dpi_free_aligned(p->cursor);
    p->range_start = p->range_count = p->plan_off = NULL;
    p->cursor = NULL;
}

static void stream_free(dp_partitioner *p) {
    free(p->ring);
    free(p->swrr_current);
    free(p->swrr_weight);
    p->ring = NULL;
    p->ring_size = 0;
    p->swrr_current = p->swrr_weight = NULL;
}

DP_API void dp_partitioner_free(dp_partitioner *p) {
    if (!p) return;
    plan_free(p);
    stream_free(p);
    free(p->init_weights);
    dpi_free_aligned(p->ema);
    pthread_mutex_destroy(&p->route_mu);
    dpi_free_aligned(p);
}

DP_API const char *dp_partitioner_name(const dp_partitioner *p) { return p ? p->strategy->name : ""; }

DP_API dp_status dp_partitioner_attach(dp_partitioner *p, const void *owner) {
    if (!p || !owner) return dpi_error(DP_ERR_INVALID_ARG, "dp_partitioner_attach: %s is NULL", p ? "owner" : "partitioner");
    const void *none = NULL;
    if (atomic_compare_exchange_strong(&p->owner, &none, owner) || none == owner) return DP_OK;
    return dpi_error(DP_ERR_BUSY,
                     "partitioner %s already serves another runner (it holds that runner's run state): create one "
                     "partitioner per runner",
                     p->strategy->name);
}

DP_API void dp_partitioner_detach(dp_partitioner *p, const void *owner) {
    if (p) atomic_compare_exchange_strong(&p->owner, &owner, NULL);
}

DP_API unsigned dp_partitioner_needs(const dp_partitioner *p, int workers) {
    if (!p) return 0;
    unsigned needs = p->strategy->shared_queue ? DP_PARTITIONER_SHARED_QUEUE : 0;
    if (p->strategy == &dpi_strategy_weighted && !dpi_weighted_known(p, workers)) needs |= DP_PARTITIONER_NEEDS_SPEEDS;
    return needs;
}

DP_API dp_status dp_partitioner_set_weights(dp_partitioner *p, const double *weights, int workers) {
    if (!p) return dpi_error(DP_ERR_INVALID_ARG, "dp_partitioner_set_weights: partitioner is NULL");
    dp_status st = check_weights(weights, workers, "dp_partitioner_set_weights");
    if (st != DP_OK || p->strategy != &dpi_strategy_weighted) return st;
    st = store_weights(p, weights, workers);
    /* Explicit weights replace what was measured so far. */
    if (st == DP_OK && p->ema)
        for (int w = 0; w < p->ema_workers; w++) atomic_store_explicit(&p->ema[w].ns_per_sample, 0.0, memory_order_relaxed);
    return st;
}

static dp_status check_workers(const char *fn, int workers) {
    if (workers < 1 || workers > DP_MAX_WORKERS)
        return dpi_error(DP_ERR_INVALID_ARG, "%s: workers is %d, expected 1..%d", fn, workers, DP_MAX_WORKERS);
    return DP_OK;
}

/* A run starts with every worker in the routing. */
static void all_available(dp_partitioner *p) {
    for (int i = 0; i < DP_MAX_WORKERS / 64; i++) atomic_store(&p->gone[i], 0);
}

/* Measurements belong to a worker count; a different W starts from scratch. */
static dp_status ema_prepare(dp_partitioner *p, int workers) {
    if (p->strategy != &dpi_strategy_weighted || (p->ema && p->ema_workers == workers)) return DP_OK;
    dpi_free_aligned(p->ema);
    p->ema = dpi_alloc_aligned(sizeof *p->ema * (size_t)workers, DPI_CACHELINE);
    p->ema_workers = p->ema ? workers : 0;
    if (!p->ema) return dpi_error(DP_ERR_NOMEM, "out of memory for %d workers' service times", workers);
    for (int w = 0; w < workers; w++) atomic_init(&p->ema[w].ns_per_sample, 0.0);
    return DP_OK;
}

dp_status dpi_plan_alloc(dp_partitioner *p, int64_t nranges) {
    int W = p->workers;
    p->range_start = malloc(sizeof(int64_t) * (size_t)(nranges > 0 ? nranges : 1));
    p->range_count = malloc(sizeof(int64_t) * (size_t)(nranges > 0 ? nranges : 1));
    p->plan_off = calloc((size_t)W + 1, sizeof(int64_t));
    p->cursor = dpi_alloc_aligned(sizeof *p->cursor * (size_t)W, DPI_CACHELINE);
    if (!p->range_start || !p->range_count || !p->plan_off || !p->cursor) {
        plan_free(p);
        return dpi_error(DP_ERR_NOMEM, "out of memory for a batch plan of %lld ranges", (long long)nranges);
    }
    return DP_OK;
}

DP_API dp_status dp_partitioner_batch_begin(dp_partitioner *p, int64_t n, int workers) {
    if (!p) return dpi_error(DP_ERR_INVALID_ARG, "dp_partitioner_batch_begin: partitioner is NULL");
    if (n < 0) return dpi_error(DP_ERR_INVALID_ARG, "dp_partitioner_batch_begin: n is %lld, expected >= 0", (long long)n);
    dp_status st = check_workers("dp_partitioner_batch_begin", workers);
    if (st != DP_OK) return st;
    plan_free(p);
    stream_free(p);
    p->workers = workers;
    all_available(p);
    p->dyn_n = 0;
    atomic_store(&p->dyn_next, 0);
    if ((st = ema_prepare(p, workers)) != DP_OK) return st;
    if (!p->strategy->batch_plan) {
        p->dyn_n = n;
        return DP_OK;
    }
    st = p->strategy->batch_plan(p, n);
    if (st != DP_OK) {
        plan_free(p);
        p->workers = 0;
        return st;
    }
    for (int w = 0; w < workers; w++) {
        p->cursor[w].next = p->plan_off[w];
        p->cursor[w].end = p->plan_off[w + 1];
    }
    return DP_OK;
}

DP_API dp_status dp_partitioner_batch_next(dp_partitioner *p, int worker, int64_t *start, int64_t *count) {
    if (!p || !start || !count) return dpi_error(DP_ERR_INVALID_ARG, "dp_partitioner_batch_next: NULL argument");
    if (p->workers < 1) return dpi_error(DP_ERR_INVALID_ARG, "dp_partitioner_batch_next: no dp_partitioner_batch_begin");
    if (worker < 0 || worker >= p->workers)
        return dpi_error(DP_ERR_INVALID_ARG, "dp_partitioner_batch_next: worker %d is not in 0..%d", worker,
                         p->workers - 1);
    if (p->strategy->batch_next) return p->strategy->batch_next(p, worker, start, count);
    if (!p->cursor) return dpi_error(DP_ERR_INVALID_ARG, "dp_partitioner_batch_next: no batch in progress");
    dpi_cursor *c = &p->cursor[worker];
    *start = 0;
    *count = 0;
    while (c->next < c->end) {
        int64_t r = c->next++;
        if (p->range_count[r] > 0) {
            *start = p->range_start[r];
            *count = p->range_count[r];
            break;
        }
    }
    return DP_OK;
}

DP_API dp_status dp_partitioner_stream_begin(dp_partitioner *p, int workers) {
    if (!p) return dpi_error(DP_ERR_INVALID_ARG, "dp_partitioner_stream_begin: partitioner is NULL");
    dp_status st = check_workers("dp_partitioner_stream_begin", workers);
    if (st != DP_OK) return st;
    plan_free(p);
    stream_free(p);
    p->workers = workers;
    atomic_store(&p->rr, 0);
    all_available(p);
    if ((st = ema_prepare(p, workers)) != DP_OK) return st;
    if (p->strategy->stream_begin && (st = p->strategy->stream_begin(p)) != DP_OK) {
        stream_free(p);
        p->workers = 0;
    }
    return st;
}

DP_API dp_status dp_partitioner_route(dp_partitioner *p, int64_t sample_id, int64_t key, const int *queue_depths,
                                      int *worker) {
    if (!p || !worker) return dpi_error(DP_ERR_INVALID_ARG, "dp_partitioner_route: NULL argument");
    if (p->workers < 1) return dpi_error(DP_ERR_INVALID_ARG, "dp_partitioner_route: no dp_partitioner_stream_begin");
    if (!p->strategy->route_locked) return p->strategy->route(p, sample_id, key, queue_depths, worker);
    pthread_mutex_lock(&p->route_mu);
    dp_status st = p->strategy->route(p, sample_id, key, queue_depths, worker);
    pthread_mutex_unlock(&p->route_mu);
    return st;
}

DP_API void dp_partitioner_observe(dp_partitioner *p, int worker, int batch, int64_t service_ns) {
    if (!p || !p->ema || worker < 0 || worker >= p->ema_workers || batch < 1 || service_ns < 0) return;
    double per = (double)service_ns / batch, alpha = p->opts.ema_alpha;
    _Atomic double *slot = &p->ema[worker].ns_per_sample;
    double old = atomic_load_explicit(slot, memory_order_relaxed), upd;
    do {
        upd = old > 0 ? old + alpha * (per - old) : per;
        if (!(upd > 0)) upd = 1; /* keep "measured" distinguishable from 0 for a zero-time batch */
    } while (!atomic_compare_exchange_weak_explicit(slot, &old, upd, memory_order_relaxed, memory_order_relaxed));
}

DP_API dp_status dp_partitioner_set_available(dp_partitioner *p, int worker, int available) {
    if (!p) return dpi_error(DP_ERR_INVALID_ARG, "dp_partitioner_set_available: partitioner is NULL");
    if (worker < 0 || worker >= DP_MAX_WORKERS)
        return dpi_error(DP_ERR_INVALID_ARG, "dp_partitioner_set_available: worker %d is not in 0..%d", worker,
                         DP_MAX_WORKERS - 1);
    uint64_t bit = (uint64_t)1 << (worker % 64);
    if (available)
        atomic_fetch_and(&p->gone[worker / 64], ~bit);
    else
        atomic_fetch_or(&p->gone[worker / 64], bit);
    return DP_OK;
}

int dpi_next_available(const dp_partitioner *p, int w) {
    for (int i = 0; i < p->workers; i++, w = w + 1 == p->workers ? 0 : w + 1)
        if (!dpi_gone(p, w)) return w;
    return -1;
}

dp_status dpi_none_available(const dp_partitioner *p) {
    return dpi_error(DP_ERR_CLOSED, "partitioner %s: every one of its %d workers left", p->strategy->name, p->workers);
}

DP_API dp_status dp_partitioner_weights(const dp_partitioner *p, double *weights, int workers) {
    if (!p || !weights) return dpi_error(DP_ERR_INVALID_ARG, "dp_partitioner_weights: NULL argument");
    dp_status st = check_workers("dp_partitioner_weights", workers);
    if (st != DP_OK) return st;
    if (p->strategy == &dpi_strategy_weighted) {
        dpi_weighted_speeds(p, workers, weights);
    } else {
        for (int w = 0; w < workers; w++) weights[w] = 1.0;
    }
    return DP_OK;
}

/* ---- uniform ---------------------------------------------------------------------------------- */

static dp_status uniform_plan(dp_partitioner *p, int64_t n) {
    int W = p->workers;
    dp_status st = dpi_plan_alloc(p, W);
    if (st != DP_OK) return st;
    int64_t q = n / W, r = n % W;
    for (int w = 0; w < W; w++) {
        p->range_start[w] = w * q + (w < r ? w : r);
        p->range_count[w] = q + (w < r);
        p->plan_off[w + 1] = w + 1;
    }
    return DP_OK;
}

static dp_status uniform_route(dp_partitioner *p, int64_t sample_id, int64_t key, const int *depths, int *worker) {
    (void)sample_id, (void)key, (void)depths;
    /* A worker that left passes its turn on: the next ticket, so the others stay evenly loaded. */
    for (int i = 0; i < p->workers; i++) {
        *worker = (int)(atomic_fetch_add_explicit(&p->rr, 1, memory_order_relaxed) % (uint64_t)p->workers);
        if (!dpi_gone(p, *worker)) return DP_OK;
    }
    *worker = dpi_next_available(p, *worker);
    return *worker >= 0 ? DP_OK : dpi_none_available(p);
}

const dpi_strategy dpi_strategy_uniform = {
    .name = "uniform", .batch_plan = uniform_plan, .route = uniform_route};

/* ---- custom ----------------------------------------------------------------------------------- */

static dp_status custom_call(dp_partitioner *p, int64_t sample_id, int64_t key, int *worker) {
    int w = p->custom_fn(sample_id, key, p->workers, p->custom_user);
    if (w < 0 || w >= p->workers)
        return dpi_error(DP_ERR_INVALID_ARG, "custom partitioner returned worker %d for sample %lld (workers: 0..%d)",
                         w, (long long)sample_id, p->workers - 1);
    *worker = w;
    return DP_OK;
}

/* Runs of consecutive samples on one worker become one range each. */
static dp_status custom_plan(dp_partitioner *p, int64_t n) {
    int W = p->workers;
    int *who = malloc(sizeof *who * (size_t)(n > 0 ? n : 1));
    int64_t *runs = calloc((size_t)W, sizeof *runs);
    dp_status st = DP_OK;
    if (!who || !runs) {
        st = dpi_error(DP_ERR_NOMEM, "out of memory planning %lld samples", (long long)n);
        goto done;
    }
    int64_t nruns = 0;
    for (int64_t i = 0; i < n; i++) {
        if ((st = custom_call(p, i, i, &who[i])) != DP_OK) goto done;
        if (i == 0 || who[i] != who[i - 1]) {
            runs[who[i]]++;
            nruns++;
        }
    }
    if ((st = dpi_plan_alloc(p, nruns)) != DP_OK) goto done;
    for (int w = 0; w < W; w++) p->plan_off[w + 1] = p->plan_off[w] + runs[w];
    for (int w = 0; w < W; w++) runs[w] = p->plan_off[w]; /* now: fill position per worker */
    for (int64_t i = 0; i < n; i++) {
        if (i == 0 || who[i] != who[i - 1]) {
            int64_t r = runs[who[i]]++;
            p->range_start[r] = i;
            p->range_count[r] = 0;
        }
        p->range_count[runs[who[i]] - 1]++;
    }
done:
    free(who);
    free(runs);
    return st;
}

static dp_status custom_route(dp_partitioner *p, int64_t sample_id, int64_t key, const int *depths, int *worker) {
    (void)depths;
    return custom_call(p, sample_id, key, worker);
}

const dpi_strategy dpi_strategy_custom = {
    .name = "custom", .batch_plan = custom_plan, .route = custom_route, .route_locked = 1};
