/* The inside of a dp_partitioner: one struct shared by every strategy, plus a small table of
 * strategy functions. Static strategies (uniform, sharded, weighted, custom) build a batch
 * "plan" — a list of ranges per worker — that partitioner.c hands out; dynamic hands out chunks
 * from a shared counter instead. */
#ifndef DP_PARTITION_PARTITION_IMPL_H
#define DP_PARTITION_PARTITION_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "dataparallel/partition_protocol.h"
#include "util/util.h"

typedef struct dpi_strategy {
    const char *name;
    /* Fill the batch plan for n samples over p->workers workers (dpi_plan_alloc + ranges). NULL for
     * dynamic, which uses batch_next instead. */
    dp_status (*batch_plan)(dp_partitioner *p, int64_t n);
    /* Non-NULL: replaces the plan walk (dynamic). */
    dp_status (*batch_next)(dp_partitioner *p, int worker, int64_t *start, int64_t *count);
    /* Prepare stream state for p->workers workers (may be NULL). */
    dp_status (*stream_begin)(dp_partitioner *p);
    dp_status (*route)(dp_partitioner *p, int64_t sample_id, int64_t key, const int *queue_depths,
                       int *worker);
    int shared_queue;
    /* route() changes shared state or calls user code: calls are serialised by p->route_mu. */
    int route_locked;
} dpi_strategy;

/* A worker's position in its list of plan ranges; each on its own cache line since every worker
 * advances only its own. */
typedef struct dpi_cursor {
    _Alignas(DPI_CACHELINE) int64_t next;
    int64_t end;
} dpi_cursor;

/* Per-worker EMA of service time per sample (ns; 0 = not measured yet), written by that worker's
 * dp_partitioner_observe() and read by route(). */
typedef struct dpi_ema_slot {
    _Alignas(DPI_CACHELINE) _Atomic double ns_per_sample;
} dpi_ema_slot;

typedef struct dpi_ring_point {
    uint64_t hash;
    int worker;
} dpi_ring_point;

struct dp_partitioner {
    const dpi_strategy *strategy;
    _Atomic(const void *) owner;  /* the runner it serves (dp_partitioner_attach) */
    pthread_mutex_t route_mu;     /* for strategies with route_locked */
    dp_partitioner_opts opts;   /* opts.weights is not kept: see init_weights */
    int workers;                /* W of the current batch or stream */

    /* weighted: relative speeds given by opts or dp_partitioner_set_weights (NULL = equal) */
    double *init_weights;
    int num_init_weights;
    dpi_ema_slot *ema;          /* ema_workers slots */
    int ema_workers;
    double *swrr_current;       /* smooth weighted round-robin state, `workers` entries */
    double *swrr_weight;

    /* batch plan: ranges of worker w are [plan_off[w], plan_off[w+1]) */
    int64_t *range_start;
    int64_t *range_count;
    int64_t *plan_off;
    dpi_cursor *cursor;

    /* dynamic batch: next unassigned sample */
    _Alignas(DPI_CACHELINE) _Atomic int64_t dyn_next;
    _Alignas(DPI_CACHELINE) int64_t dyn_n;

    /* stream */
    _Atomic uint64_t gone[DP_MAX_WORKERS / 64];  /* workers that left (dp_partitioner_set_available) */
    atomic_ullong rr;           /* uniform: next worker (submitters route concurrently) */
    dpi_ring_point *ring;       /* sharded: sorted hash ring */
    int ring_size;

    dp_partition_fn custom_fn;
    void *custom_user;
};

extern const dpi_strategy dpi_strategy_uniform;
extern const dpi_strategy dpi_strategy_sharded;
extern const dpi_strategy dpi_strategy_dynamic;
extern const dpi_strategy dpi_strategy_weighted;
extern const dpi_strategy dpi_strategy_custom;

/* Allocate a plan of nranges ranges for p->workers workers (plan_off all zero; the strategy fills
 * ranges grouped by worker and sets plan_off[w + 1]). */
dp_status dpi_plan_alloc(dp_partitioner *p, int64_t nranges);

/* Relative speed of each of W workers for `weighted` (mean 1): measured ones from the EMA, the
 * others from the given weights calibrated on the measured ones. */
void dpi_weighted_speeds(const dp_partitioner *p, int workers, double *out);
/* 1 if worker w left the routing (dp_partitioner_set_available). */
static inline int dpi_gone(const dp_partitioner *p, int w) {
    return (int)((atomic_load_explicit(&p->gone[w / 64], memory_order_relaxed) >> (w % 64)) & 1);
}
/* The first worker at or after w (wrapping) that has not left; -1 when every one left. */
int dpi_next_available(const dp_partitioner *p, int w);
/* DP_ERR_CLOSED: route() found no worker left (message set). */
dp_status dpi_none_available(const dp_partitioner *p);

/* 1 if `weighted` knows something of W workers' speeds (weights given for W, or measured). */
int dpi_weighted_known(const dp_partitioner *p, int workers);

#endif
