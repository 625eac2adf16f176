/* dynamic: guided self-scheduling. Batch mode hands out chunks from one shared atomic counter;
 * a chunk is remaining / (DPI_GUIDED_K * W) samples (at least min_chunk), so early chunks are
 * large (little contention) and late ones small (workers finish together even when their speeds
 * differ). Stream mode puts every sample on one shared queue that all workers pull from. */
#include "partition_impl.h"

/* OpenMP's guided uses K = 1; K = 2 leaves more small chunks at the end to balance stragglers. */
#define DPI_GUIDED_K 2

static dp_status dynamic_next(dp_partitioner *p, int worker, int64_t *start, int64_t *count) {
    (void)worker;
    int64_t n = p->dyn_n, min_chunk = p->opts.min_chunk, div = (int64_t)DPI_GUIDED_K * p->workers;
    int64_t next = atomic_load_explicit(&p->dyn_next, memory_order_relaxed), chunk;
    do {
        int64_t remaining = n - next;
        if (remaining <= 0) {
            *start = n;
            *count = 0;
            return DP_OK;
        }
        chunk = (remaining + div - 1) / div;
        if (chunk < min_chunk) chunk = min_chunk;
        if (chunk > remaining) chunk = remaining;
    } while (!atomic_compare_exchange_weak_explicit(&p->dyn_next, &next, next + chunk, memory_order_relaxed,
                                                    memory_order_relaxed));
    *start = next;
    *count = chunk;
    return DP_OK;
}

static dp_status dynamic_route(dp_partitioner *p, int64_t sample_id, int64_t key, const int *depths, int *worker) {
    (void)p, (void)sample_id, (void)key, (void)depths;
    *worker = DP_ROUTE_SHARED;
    return DP_OK;
}

const dpi_strategy dpi_strategy_dynamic = {
    .name = "dynamic", .batch_next = dynamic_next, .route = dynamic_route, .shared_queue = 1};
