/*
 * dataparallel/partition.h — which worker gets which samples.
 *
 * A dp_partitioner is a strategy object used in two modes:
 *  - batch mode: N samples known up front are split over W workers. After
 *    dp_partitioner_batch_begin(), each worker calls dp_partitioner_batch_next() for its next
 *    range of sample indices until it gets count 0. Static strategies hand out a precomputed
 *    plan; `dynamic` hands out guided (shrinking) chunks from a shared atomic counter.
 *  - stream mode: each arriving sample is routed to one worker queue by dp_partitioner_route(),
 *    or to the shared queue (DP_ROUTE_SHARED) for `dynamic`. Workers report their service times
 *    with dp_partitioner_observe(), which `weighted` uses to re-estimate its weights online.
 *
 * Strategies (docs/partitioners.md states their guarantees):
 *   uniform   batch: W contiguous ranges of equal size (+-1)      stream: round-robin
 *   sharded   batch: fixed shards, assigned greedily by size      stream: consistent hash of key
 *   dynamic   batch: guided self-scheduling (shared counter)      stream: one shared queue
 *   weighted  batch: ranges proportional to worker speed          stream: smooth weighted RR (EMA)
 *   custom    a user callback, both modes
 *
 * Thread safety: batch_begin / stream_begin / route are called by one thread; batch_next and
 * observe may be called concurrently by the workers (one call per worker at a time).
 */
#ifndef DATAPARALLEL_PARTITION_H
#define DATAPARALLEL_PARTITION_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dp_partitioner dp_partitioner;

typedef struct dp_partitioner_opts {
    size_t size;             /* sizeof(dp_partitioner_opts), set by dp_partitioner_opts_init() */
    int num_shards;          /* sharded: shards in batch mode; default 0 = 4 * workers */
    int vnodes;              /* sharded: virtual nodes per worker on the hash ring; default 64 */
    const double *weights;   /* weighted: initial relative speed per worker (copied); NULL = equal
                                until measured */
    int num_weights;
    double ema_alpha;        /* weighted: EMA factor for service times; default 0.2 */
    int min_chunk;           /* dynamic: smallest chunk in batch mode; default 1 */
} dp_partitioner_opts;

DP_API void dp_partitioner_opts_init(dp_partitioner_opts *opts);

/* name: "uniform", "sharded", "dynamic", "weighted". opts may be NULL.
 * Unknown name: DP_ERR_INVALID_ARG naming it. */
DP_API dp_status dp_partitioner_create(const char *name, const dp_partitioner_opts *opts, dp_partitioner **out);

/* Custom strategy: return the worker (0..workers-1) for a sample; key is the sample's data-set
 * index. Any other return value fails the call that asked (DP_ERR_INVALID_ARG), nothing is lost. */
typedef int (*dp_partition_fn)(int64_t sample_id, int64_t key, int workers, void *user);
DP_API dp_status dp_partitioner_create_custom(dp_partition_fn fn, void *user, dp_partitioner **out);

DP_API void dp_partitioner_free(dp_partitioner *p);
DP_API const char *dp_partitioner_name(const dp_partitioner *p);

/* Set relative speeds (weighted; others ignore it), e.g. from a profiling pass. */
DP_API dp_status dp_partitioner_set_weights(dp_partitioner *p, const double *weights, int workers);

/* ---- batch mode ---- */
DP_API dp_status dp_partitioner_batch_begin(dp_partitioner *p, int64_t n, int workers);
/* Next range [*start, *start + *count) for worker; *count == 0: no more work for it. */
DP_API dp_status dp_partitioner_batch_next(dp_partitioner *p, int worker, int64_t *start, int64_t *count);

/* ---- stream mode ---- */
#define DP_ROUTE_SHARED (-1)
DP_API dp_status dp_partitioner_stream_begin(dp_partitioner *p, int workers);
/* 1 if the strategy wants one shared queue that all workers pull from (dynamic). */
DP_API int dp_partitioner_uses_shared_queue(const dp_partitioner *p);
/* Route one sample; queue_depths[w] are current queue lengths (may be NULL). *worker gets the
 * worker index or DP_ROUTE_SHARED. */
DP_API dp_status dp_partitioner_route(dp_partitioner *p, int64_t sample_id, int64_t key,
                                      const int *queue_depths, int *worker);
/* A worker finished a batch of `batch` samples in service_ns. */
DP_API void dp_partitioner_observe(dp_partitioner *p, int worker, int batch, int64_t service_ns);
/* Current weight of each worker (weighted: normalised estimates; others: 1). */
DP_API dp_status dp_partitioner_weights(const dp_partitioner *p, double *weights, int workers);

#ifdef __cplusplus
}
#endif
#endif
