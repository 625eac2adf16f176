/* Routing and enqueueing, on the producer's thread (the source thread, or any thread calling
 * dp_runner_submit()). Nothing here allocates or takes a lock shared by all producers: the
 * partitioner's route is safe to call concurrently (docs/partitioners.md), and each queue has
 * its own lock. */
#include "route.h"

#include "complete.h"
#include "dataparallel/partition_protocol.h"

void dpi_note_emit(dp_runner *r, int64_t now) {
    dpi_run *run = &r->run;
    int64_t zero = 0, last = atomic_load_explicit(&run->t_last_emit, memory_order_relaxed);
    atomic_compare_exchange_strong(&run->t_first_emit, &zero, now);
    while (last < now && !atomic_compare_exchange_weak(&run->t_last_emit, &last, now)) {
    }
    atomic_fetch_add_explicit(&run->offered, 1, memory_order_relaxed);
}

dp_status dpi_route(dp_runner *r, const dpi_slot *s, dpi_queue **q, int *replica) {
    /* No built-in strategy looks at queue depths, so none are gathered (docs/partitioners.md). */
    dp_status st = dp_partitioner_route(r->partitioner, s->sample_id, s->index, NULL, replica);
    if (st != DP_OK) return st;
    /* A strategy that asked for the shared queue gets it whatever it answers per sample. */
    if (r->run.shared) *replica = DP_ROUTE_SHARED;
    if (*replica == DP_ROUTE_SHARED ? !r->run.shared : (*replica < 0 || *replica >= r->replicas))
        return dpi_error(DP_ERR_INTERNAL, "runner: partitioner %s routed sample %lld to %d",
                         dp_partitioner_name(r->partitioner), (long long)s->sample_id, *replica);
    /* A replica that left (an injected stop; one stage, so replica k is worker k): the built-in
     * strategies avoid it already, a custom one may not, and a route racing with the stop may
     * not. The next one that stayed gets the sample. */
    for (int i = 0; *replica >= 0 && i < r->replicas &&
                    atomic_load_explicit(&r->w[*replica].run.left, memory_order_relaxed);
         i++)
        *replica = (*replica + 1) % r->replicas;
    if (*replica >= 0 && atomic_load_explicit(&r->w[*replica].run.left, memory_order_relaxed))
        return dpi_error(DP_ERR_CLOSED, "runner: every worker left (injected stops)");
    *q = &r->queues[*replica == DP_ROUTE_SHARED ? r->replicas : *replica];
    return DP_OK;
}

dpi_push_result dpi_enqueue(dp_runner *r, dpi_queue *q, int replica, const dpi_slot *s, const float *data) {
    dpi_slot evicted;
    dpi_push_result res = dpi_queue_push(q, s, data, r->opts.overflow, &evicted);
    switch (res) {
    case DPI_DROPPED_NEWEST:
        dpi_complete_dropped(r, s, replica, DPI_DROPPED_NEWEST);
        break;
    case DPI_DROPPED_OLDEST:
        dpi_complete_dropped(r, &evicted, replica, DPI_DROPPED_OLDEST);
        break;
    case DPI_QUEUE_CLOSED:
        dpi_complete_unrouted(r, s, DP_ERR_CLOSED);
        break;
    case DPI_PUSHED:
        break;
    }
    return res;
}

void dpi_close_queues(dp_runner *r) {
    /* A worker that left (an injected stop) hands on what still reaches its queue: its queue
     * closes first and it finishes handing on before the queues it hands to close, so what it
     * held does not fail for the run's end. (One that leaves during this end may still fail some.) */
    for (int k = 0; k < r->replicas && !r->run.shared && r->stages == 1; k++) {
        dpi_worker_run *wr = &r->w[k].run;
        if (!atomic_load(&wr->left) || !wr->started) continue;
        dpi_queue_close(&r->queues[k]);
        pthread_join(wr->thread, NULL);
        wr->started = 0;
    }
    for (int k = 0; k <= r->replicas; k++)
        if (dpi_queue_in_use(&r->queues[k])) dpi_queue_close(&r->queues[k]);
}
