/*
 * dataparallel/partition.h — which worker gets which samples.
 *
 * A dp_partitioner is a strategy object given to dp_runner_create(). It serves the runner in two
 * modes: batch mode (a data set of N samples is split over W workers) and stream mode (each
 * arriving sample is routed to one worker's queue, or to one queue all workers share). The
 * protocol a runner follows to drive it is in dataparallel/partition_protocol.h; a program that
 * only runs models needs nothing from there.
 *
 * Strategies (docs/partitioners.md states their guarantees):
 *   uniform   batch: W contiguous ranges of equal size (+-1)      stream: round-robin
 *   sharded   batch: fixed shards, assigned greedily by size      stream: consistent hash of key
 *   dynamic   batch: guided self-scheduling (shared counter)      stream: one shared queue
 *   weighted  batch: ranges proportional to worker speed          stream: smooth weighted RR (EMA)
 *   custom    a user callback, both modes
 *
 * One partitioner serves one runner: it holds that runner's run state (plans, round-robin
 * position, measured speeds), so dp_runner_create() with a partitioner another runner still uses
 * fails with DP_ERR_BUSY. Create one per runner; free it after its runner.
 *
 * Thread safety: create/free/set_weights between runs; name and weights from any thread.
 */
#ifndef DATAPARALLEL_PARTITION_H
#define DATAPARALLEL_PARTITION_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dp_partitioner dp_partitioner;

/* The most workers a partitioner or a runner takes. Each worker holds a latency histogram
 * (~270 KB) and, with sinks, a record ring: beyond this a bad argument would become an
 * allocation of gigabytes. */
#define DP_MAX_WORKERS 1024

typedef struct dp_partitioner_opts {
    size_t size;             /* set by dp_partitioner_opts_init() */
    int num_shards;          /* sharded: shards in batch mode; default 0 = 4 * workers */
    int vnodes;              /* sharded: virtual nodes per worker on the hash ring; default 64 */
    const double *weights;   /* weighted: initial relative speed per worker (copied); NULL = equal
                                until measured */
    int num_weights;
    double ema_alpha;        /* weighted: EMA factor for service times; default 0.2 */
    int min_chunk;           /* dynamic: smallest chunk in batch mode; default 1 */
} dp_partitioner_opts;

/* Defaults into *opts (a macro: see "Sized structs" in core.h). */
DP_API void dp_partitioner_opts_init_sized(dp_partitioner_opts *opts, size_t size);
#define dp_partitioner_opts_init(opts) DP_SIZED_INIT(dp_partitioner_opts_init, opts)

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
/* Current weight of each worker (weighted: normalised estimates; others: 1). */
DP_API dp_status dp_partitioner_weights(const dp_partitioner *p, double *weights, int workers);

#ifdef __cplusplus
}
#endif
#endif
