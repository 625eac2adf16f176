/* Bounded sample queues: what the router puts in and a worker takes out. One per replica, or one
 * shared by every replica when the partitioner asks for it (dynamic). A queue's mutex is held
 * only to move slots, never during inference. */
#ifndef DP_RUNTIME_QUEUE_H
#define DP_RUNTIME_QUEUE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include "dataparallel/runner.h"
#include "util/util.h"

/* One queued sample. In pull mode the payload is read from the data set by the worker after the
 * pop; in push mode it was copied into the queue's slot storage by submit. */
typedef struct dpi_slot {
    int64_t sample_id;
    int64_t index;           /* data-set index (pull, batch); sample_id in push mode */
    int64_t intended_ns;
    void *ctx;               /* push mode sample_ctx */
    /* The steps of its path so far (dp_result has the same names): the producer sets
     * enqueued_ns, the pop taken_ns, the first stage start_ns, every stage adds service_ns. */
    int64_t enqueued_ns, taken_ns, start_ns, service_ns;
} dpi_slot;

typedef struct dpi_queue {
    _Alignas(DPI_CACHELINE) pthread_mutex_t mu;
    pthread_cond_t not_empty, not_full;
    dpi_slot *slots;
    float *data;             /* cap * sample_floats, push mode only */
    size_t sample_floats;
    int cap, head, count, closed;
    atomic_int depth;        /* == count, readable without the lock */
    atomic_int hwm;          /* the most count was; written under the lock, read without (metrics) */
} dpi_queue;

typedef enum dpi_push_result {
    DPI_PUSHED = 0,
    DPI_DROPPED_NEWEST = 1,
    DPI_DROPPED_OLDEST = 2,
    DPI_QUEUE_CLOSED = 3     /* closed: not taken (only a stopped worker's hand-over meets one) */
} dpi_push_result;

/* cap slots, with payload storage of sample_floats floats each when sample_floats > 0. */
dp_status dpi_queue_init(dpi_queue *q, int cap, size_t sample_floats);
/* A queue never initialised (zeroed) or already destroyed is left alone. */
void dpi_queue_destroy(dpi_queue *q);
static inline int dpi_queue_in_use(const dpi_queue *q) { return q->slots != NULL; }
/* Enqueue s (and its payload, when the queue stores payloads). On overflow: BLOCK waits for
 * room (and then stamps enqueued_ns anew: the wait was dispatch time); DROP_NEWEST leaves the
 * queue alone; DROP_OLDEST evicts the head into *evicted. A closed queue takes nothing (its
 * workers may be gone). */
dpi_push_result dpi_queue_push(dpi_queue *q, const dpi_slot *s, const float *data, dp_overflow policy,
                               dpi_slot *evicted);
/* Up to max slots (payloads into data, rows of sample_floats, when stored), each stamped with
 * taken_ns. Blocks until at least one is there; then waits up to max_delay_ns for the batch to
 * fill. 0: closed and empty. */
int dpi_queue_pop(dpi_queue *q, dpi_slot *out, float *data, int max, int64_t max_delay_ns);
/* No more pushes: wakes every waiter; pops drain what is left, then return 0. */
void dpi_queue_close(dpi_queue *q);

#endif
