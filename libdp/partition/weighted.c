/* weighted: share work in proportion to worker speed. Batch mode gives worker k a contiguous
 * range of about n * s_k / sum(s) samples. Stream mode is nginx's smooth weighted round-robin
 * (each pick adds every weight to its worker's credit, takes the largest credit and charges it
 * the total), which interleaves picks instead of sending bursts. Speeds come from the given
 * weights until workers report service times through dp_partitioner_observe(); then each
 * measured worker's speed is 1 / EMA(service time per sample). */
#include <stdlib.h>

#include "partition_impl.h"

void dpi_weighted_speeds(const dp_partitioner *p, int W, double *out) {
    const double *given = p->num_init_weights == W ? p->init_weights : NULL;
    int measured = p->ema && p->ema_workers == W;
    double sum_meas = 0, sum_given_meas = 0;
    for (int w = 0; w < W; w++) {
        double ns = measured ? atomic_load_explicit(&p->ema[w].ns_per_sample, memory_order_relaxed) : 0;
        out[w] = ns > 0 ? 1e9 / ns : -(given ? given[w] : 1.0); /* negative: not measured yet */
        if (out[w] > 0) {
            sum_meas += out[w];
            sum_given_meas += given ? given[w] : 1.0;
        }
    }
    /* Express unmeasured workers in measured units: their given weight times the measured speed
     * per unit of given weight. With nothing measured the given weights are used as they are. */
    double scale = sum_meas > 0 ? sum_meas / sum_given_meas : 1.0, total = 0;
    int live = 0;
    for (int w = 0; w < W; w++) {
        if (out[w] < 0) out[w] = -out[w] * scale;
        /* A worker that left gets nothing; the others keep their ratios, mean 1 among them. */
        if (dpi_gone(p, w)) out[w] = 0;
        live += out[w] > 0;
        total += out[w];
    }
    for (int w = 0; w < W; w++) out[w] = total > 0 ? out[w] * live / total : 0;
}

int dpi_weighted_known(const dp_partitioner *p, int W) {
    if (p->init_weights && p->num_init_weights == W) return 1;
    if (!p->ema || p->ema_workers != W) return 0;
    for (int w = 0; w < W; w++)
        if (atomic_load_explicit(&p->ema[w].ns_per_sample, memory_order_relaxed) > 0) return 1;
    return 0;
}

static dp_status check_count(const dp_partitioner *p) {
    if (p->init_weights && p->num_init_weights != p->workers)
        return dpi_error(DP_ERR_INVALID_ARG, "weighted: %d weights given for %d workers", p->num_init_weights,
                         p->workers);
    return DP_OK;
}

static dp_status weighted_plan(dp_partitioner *p, int64_t n) {
    int W = p->workers;
    if (check_count(p) != DP_OK) return DP_ERR_INVALID_ARG;
    double *s = malloc(sizeof *s * (size_t)W);
    if (!s) return dpi_error(DP_ERR_NOMEM, "out of memory for %d weights", W);
    dp_status st = dpi_plan_alloc(p, W);
    if (st == DP_OK) {
        dpi_weighted_speeds(p, W, s);
        /* Boundaries at rounded cumulative shares: monotone, first 0, last exactly n. */
        double total = 0, cum = 0;
        for (int w = 0; w < W; w++) total += s[w];
        int64_t prev = 0;
        for (int w = 0; w < W; w++) {
            cum += s[w];
            int64_t b = w == W - 1 ? n : (int64_t)((double)n * (cum / total) + 0.5);
            if (b < prev) b = prev;
            if (b > n) b = n;
            p->range_start[w] = prev;
            p->range_count[w] = b - prev;
            p->plan_off[w + 1] = w + 1;
            prev = b;
        }
    }
    free(s);
    return st;
}

static dp_status weighted_stream_begin(dp_partitioner *p) {
    int W = p->workers;
    if (check_count(p) != DP_OK) return DP_ERR_INVALID_ARG;
    p->swrr_current = calloc((size_t)W, sizeof(double));
    p->swrr_weight = malloc(sizeof(double) * (size_t)W);
    if (!p->swrr_current || !p->swrr_weight)
        return dpi_error(DP_ERR_NOMEM, "out of memory for %d workers' round-robin state", W);
    return DP_OK;
}

static dp_status weighted_route(dp_partitioner *p, int64_t sample_id, int64_t key, const int *depths, int *worker) {
    (void)sample_id, (void)key, (void)depths;
    int W = p->workers, best = -1;
    double *cur = p->swrr_current, *wt = p->swrr_weight, total = 0;
    dpi_weighted_speeds(p, W, wt); /* re-read each time: observe() updates them concurrently */
    for (int w = 0; w < W; w++) {
        cur[w] += wt[w];
        total += wt[w];
        if (wt[w] > 0 && (best < 0 || cur[w] > cur[best])) best = w; /* weight 0: it left */
    }
    if (best < 0) return dpi_none_available(p);
    cur[best] -= total;
    *worker = best;
    return DP_OK;
}

const dpi_strategy dpi_strategy_weighted = {.name = "weighted",
                                            .batch_plan = weighted_plan,
                                            .stream_begin = weighted_stream_begin,
                                            .route = weighted_route,
                                            .route_locked = 1};
