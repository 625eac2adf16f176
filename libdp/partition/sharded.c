/* sharded: batch mode cuts the keys 0..n-1 into num_shards fixed contiguous shards and gives
 * them to workers greedily (largest shard first, to the least loaded worker), so a worker only
 * reads its own shards. Stream mode routes a key on a consistent-hash ring with `vnodes` points
 * per worker: a worker's points do not depend on W, so adding a worker moves only the keys that
 * now fall on its points (about 1/(W+1) of them), and every moved key moves to it. */
#include <stdlib.h>

#include "partition_impl.h"

typedef struct shard {
    int64_t start, count;
    int worker;
} shard;

static int by_size_desc(const void *a, const void *b) {
    const shard *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return x->start < y->start ? -1 : x->start > y->start;
}

static int by_worker_then_start(const void *a, const void *b) {
    const shard *x = a, *y = b;
    if (x->worker != y->worker) return x->worker < y->worker ? -1 : 1;
    return x->start < y->start ? -1 : x->start > y->start;
}

static dp_status sharded_plan(dp_partitioner *p, int64_t n) {
    int W = p->workers;
    int64_t S = p->opts.num_shards > 0 ? p->opts.num_shards : 4 * (int64_t)W;
    if (S > n) S = n; /* no empty shards */
    shard *sh = malloc(sizeof *sh * (size_t)(S > 0 ? S : 1));
    int64_t *load = calloc((size_t)W, sizeof *load);
    dp_status st = DP_OK;
    if (!sh || !load) {
        st = dpi_error(DP_ERR_NOMEM, "out of memory for %lld shards", (long long)S);
        goto done;
    }
    int64_t q = S ? n / S : 0, r = S ? n % S : 0;
    for (int64_t s = 0; s < S; s++) {
        sh[s].start = s * q + (s < r ? s : r);
        sh[s].count = q + (s < r);
    }
    qsort(sh, (size_t)S, sizeof *sh, by_size_desc);
    for (int64_t s = 0; s < S; s++) {
        int best = 0;
        for (int w = 1; w < W; w++)
            if (load[w] < load[best]) best = w;
        sh[s].worker = best;
        load[best] += sh[s].count;
    }
    /* Each worker walks its shards in key order (sequential reads). */
    qsort(sh, (size_t)S, sizeof *sh, by_worker_then_start);
    if ((st = dpi_plan_alloc(p, S)) != DP_OK) goto done;
    for (int64_t s = 0; s < S; s++) {
        p->range_start[s] = sh[s].start;
        p->range_count[s] = sh[s].count;
        p->plan_off[sh[s].worker + 1]++;
    }
    for (int w = 0; w < W; w++) p->plan_off[w + 1] += p->plan_off[w];
done:
    free(sh);
    free(load);
    return st;
}

static uint64_t mix(uint64_t x) { return dpi_splitmix64(&x); }

static int by_hash(const void *a, const void *b) {
    const dpi_ring_point *x = a, *y = b;
    if (x->hash != y->hash) return x->hash < y->hash ? -1 : 1;
    return x->worker - y->worker;
}

static dp_status sharded_stream_begin(dp_partitioner *p) {
    int W = p->workers, V = p->opts.vnodes;
    int64_t n = (int64_t)W * V;
    if (n > (1 << 24))
        return dpi_error(DP_ERR_INVALID_ARG, "sharded: %d workers x %d vnodes is too large a hash ring", W, V);
    p->ring = malloc(sizeof *p->ring * (size_t)n);
    if (!p->ring) return dpi_error(DP_ERR_NOMEM, "out of memory for a hash ring of %lld points", (long long)n);
    for (int w = 0; w < W; w++)
        for (int v = 0; v < V; v++) {
            /* A second round of mixing keeps ring points independent of the key hash below. */
            p->ring[(int64_t)w * V + v].hash = mix(mix(((uint64_t)w << 32) | (uint32_t)v) ^ 0x5ca1ab1eull);
            p->ring[(int64_t)w * V + v].worker = w;
        }
    qsort(p->ring, (size_t)n, sizeof *p->ring, by_hash);
    p->ring_size = (int)n;
    return DP_OK;
}

static dp_status sharded_route(dp_partitioner *p, int64_t sample_id, int64_t key, const int *depths, int *worker) {
    (void)sample_id, (void)depths;
    uint64_t h = mix((uint64_t)key);
    /* first point with hash >= h, wrapping to the start of the ring */
    int lo = 0, hi = p->ring_size;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (p->ring[mid].hash < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* A worker that left hands its keys to the next live point clockwise (consistent hashing:
     * no other key moves). */
    for (int i = 0; i < p->ring_size; i++, lo++) {
        *worker = p->ring[lo % p->ring_size].worker;
        if (!dpi_gone(p, *worker)) return DP_OK;
    }
    return dpi_none_available(p);
}

const dpi_strategy dpi_strategy_sharded = {.name = "sharded",
                                           .batch_plan = sharded_plan,
                                           .stream_begin = sharded_stream_begin,
                                           .route = sharded_route};
