/*
 * dataparallel/partition_protocol.h — advanced: how a runner drives a dp_partitioner.
 *
 * dp_runner follows this protocol; it is public for programs that drive a partitioner with their
 * own workers, and for tests. Everything else a user needs is in dataparallel/partition.h.
 *
 *  - Ownership: dp_partitioner_attach(p, owner) once before driving it, dp_partitioner_detach()
 *    after; a partitioner attached to another owner is DP_ERR_BUSY (it holds its owner's run
 *    state). dp_runner_create() / dp_runner_free() do this.
 *  - What the strategy needs: dp_partitioner_needs() (a shared queue; measured worker speeds
 *    before a batch split).
 *  - Batch mode: N samples known up front are split over W workers. After
 *    dp_partitioner_batch_begin(), each worker calls dp_partitioner_batch_next() for its next
 *    range of sample indices until it gets count 0. Static strategies hand out a precomputed
 *    plan; `dynamic` hands out guided (shrinking) chunks from a shared atomic counter.
 *  - Stream mode: after dp_partitioner_stream_begin(), each arriving sample is routed to one
 *    worker queue by dp_partitioner_route(), or to the shared queue (DP_ROUTE_SHARED). Workers
 *    report their service times with dp_partitioner_observe(), which `weighted` uses to
 *    re-estimate its weights online. dp_partitioner_set_available() takes a worker out of the
 *    routing (it left: an injected stop, docs/runner.md) or puts it back.
 *
 * Thread safety: attach/detach, batch_begin and stream_begin from one thread between runs.
 * route may be called concurrently by any number of threads (push mode has many submitters):
 * uniform, sharded and dynamic route without a lock; weighted (its round-robin credits) and
 * custom (the user's callback is not assumed thread-safe) take the partitioner's own lock.
 * batch_next and observe may be called concurrently by the workers, one call per worker at a
 * time, and take no lock.
 */
#ifndef DATAPARALLEL_PARTITION_PROTOCOL_H
#define DATAPARALLEL_PARTITION_PROTOCOL_H

#include "partition.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- ownership ---- */
/* Bind p to owner (any non-NULL address identifying it). DP_ERR_BUSY naming the strategy when
 * p is bound to another owner; binding again to the same owner is DP_OK. */
DP_API dp_status dp_partitioner_attach(dp_partitioner *p, const void *owner);
/* Release p if owner holds it (otherwise nothing happens). */
DP_API void dp_partitioner_detach(dp_partitioner *p, const void *owner);

/* ---- what a strategy needs from its runner ---- */
/* Stream mode: one queue that every worker pulls from (dynamic); route answers DP_ROUTE_SHARED. */
#define DP_PARTITIONER_SHARED_QUEUE 1u
/* Batch mode: the worker speeds are unknown (weighted without weights for this many workers,
 * given or measured): time the workers and call dp_partitioner_set_weights() before
 * dp_partitioner_batch_begin(). */
#define DP_PARTITIONER_NEEDS_SPEEDS 2u
/* The DP_PARTITIONER_* flags that hold now for a run of `workers` workers. */
DP_API unsigned dp_partitioner_needs(const dp_partitioner *p, int workers);

/* ---- batch mode ---- */
DP_API dp_status dp_partitioner_batch_begin(dp_partitioner *p, int64_t n, int workers);
/* Next range [*start, *start + *count) for worker; *count == 0: no more work for it. */
DP_API dp_status dp_partitioner_batch_next(dp_partitioner *p, int worker, int64_t *start, int64_t *count);

/* ---- stream mode ---- */
#define DP_ROUTE_SHARED (-1)
DP_API dp_status dp_partitioner_stream_begin(dp_partitioner *p, int workers);
/* Route one sample; queue_depths[w] are current queue lengths (may be NULL: no built-in strategy
 * uses them, and dp_runner passes NULL). *worker gets the worker index or DP_ROUTE_SHARED. */
DP_API dp_status dp_partitioner_route(dp_partitioner *p, int64_t sample_id, int64_t key,
                                      const int *queue_depths, int *worker);
/* A worker finished a batch of `batch` samples in service_ns. */
DP_API void dp_partitioner_observe(dp_partitioner *p, int worker, int batch, int64_t service_ns);
/* Worker `worker` left (available 0) or is back (1): route() picks it no more, or again.
 * uniform round-robins over the others; sharded sends its keys to the next worker on the hash
 * ring (the other keys stay where they were); weighted gives it weight 0 (dp_partitioner_weights()
 * reports 0) and shares among the others; dynamic routes to the shared queue anyway (a worker
 * that left just stops taking from it); custom is asked as before (the runner moves what it
 * answers). With no worker available, route() fails with DP_ERR_CLOSED. stream_begin makes
 * every worker available. May be called concurrently with route() and observe().
 * DP_ERR_INVALID_ARG for a worker out of 0..DP_MAX_WORKERS-1. */
DP_API dp_status dp_partitioner_set_available(dp_partitioner *p, int worker, int available);

#ifdef __cplusplus
}
#endif
#endif
