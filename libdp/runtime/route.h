/* The producer side of stream and push mode (route.c): a sample's arrival is counted, the
 * partitioner picks its replica, and its queue's overflow policy decides whether it waits, is
 * dropped or evicts the oldest. Called by the source thread or any submitting thread. */
#ifndef DP_RUNTIME_ROUTE_H
#define DP_RUNTIME_ROUTE_H

#include "runner_impl.h"

/* Count one offered sample emitted at `now` (first and last emission times for the summary). */
void dpi_note_emit(dp_runner *r, int64_t now);
/* The queue for s: the partitioner's replica, or the shared queue. *replica is the replica
 * index (DP_ROUTE_SHARED for the shared queue), for the record of a dropped sample. */
dp_status dpi_route(dp_runner *r, const dpi_slot *s, dpi_queue **q, int *replica);
/* Enqueue s (with its payload in push mode) under the overflow policy; a dropped sample (the
 * arriving one or the evicted oldest) is counted and reported here, and so is one that meets a
 * closed queue (failed, DP_ERR_CLOSED). Returns what the queue did. */
dpi_push_result dpi_enqueue(dp_runner *r, dpi_queue *q, int replica, const dpi_slot *s, const float *data);
/* No more samples: the workers drain their queues and leave. */
void dpi_close_queues(dp_runner *r);

#endif
