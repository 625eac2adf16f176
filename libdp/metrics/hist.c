/* Log-bucketed histogram (the HdrHistogram layout with a unit of 1 ns).
 *
 * Bucket b >= 1 covers [2^(b+10), 2^(b+11)) with 1024 sub-buckets of width 2^b; bucket 0 covers
 * [0, 2048) with width 1. A value's relative error is therefore at most 1/1024 (< 0.1 %). Only the
 * upper half of each bucket b >= 1 is stored, the lower half being bucket b-1, which gives the
 * flat index (b+1)*1024 + (sub - 1024). */
#include "hist.h"

#include <math.h>
#include <string.h>

#define SUB_COUNT (1 << DPI_HIST_SUB_BITS)
#define SUB_HALF (SUB_COUNT / 2)
#define SUB_MASK ((int64_t)SUB_COUNT - 1)
#define VALUE_MAX (((int64_t)1 << DPI_HIST_MAX_EXP) - 1)

_Static_assert(DPI_HIST_BUCKETS == (DPI_HIST_MAX_EXP - DPI_HIST_SUB_BITS + 2) * SUB_HALF,
               "bucket count must match the layout");

static inline int64_t clamp_value(int64_t v) {
    if (v < 0) return 0;
    if (v > VALUE_MAX) return VALUE_MAX;
    return v;
}

static inline int bucket_of(int64_t v) { return 63 - __builtin_clzll((uint64_t)(v | SUB_MASK)) - (DPI_HIST_SUB_BITS - 1); }

static inline int index_of(int64_t v) {
    int b = bucket_of(v);
    int sub = (int)(v >> b);
    return ((b + 1) << (DPI_HIST_SUB_BITS - 1)) + sub - SUB_HALF;
}

/* Lowest value and width of the values counted in flat index i. */
static inline void index_range(int i, int64_t *lo, int64_t *width) {
    int b = (i >> (DPI_HIST_SUB_BITS - 1)) - 1;
    int sub = (i & (SUB_HALF - 1)) + SUB_HALF;
    if (b < 0) {
        b = 0;
        sub -= SUB_HALF;
    }
    *lo = (int64_t)sub << b;
    *width = (int64_t)1 << b;
}

static inline int64_t clamp_to_range(const dpi_hist *h, int64_t v) {
    if (v < h->min) return h->min;
    if (v > h->max) return h->max;
    return v;
}

void dpi_hist_reset(dpi_hist *h) { memset(h, 0, sizeof *h); }

void dpi_hist_record(dpi_hist *h, int64_t value_ns) {
    int64_t v = clamp_value(value_ns);
    if (h->count == 0 || v < h->min) h->min = v;
    if (h->count == 0 || v > h->max) h->max = v;
    h->count++;
    h->sum += (double)v;
    h->buckets[index_of(v)]++;
}

void dpi_hist_merge(dpi_hist *dst, const dpi_hist *src) {
    if (src->count == 0) return;
    if (dst->count == 0 || src->min < dst->min) dst->min = src->min;
    if (dst->count == 0 || src->max > dst->max) dst->max = src->max;
    dst->count += src->count;
    dst->sum += src->sum;
    /* Only the occupied index range needs adding: a 1 s interval rarely spans many octaves. */
    int lo = index_of(src->min), hi = index_of(src->max);
    for (int i = lo; i <= hi; i++) dst->buckets[i] += src->buckets[i];
}

/* Nearest-rank: the smallest rank r with r >= q*count (at least 1). The small tolerance keeps
 * q*count that should be an integer (0.99 * 100) from rounding up to the next rank. */
static uint64_t rank_of(const dpi_hist *h, double q) {
    double r = q * (double)h->count;
    uint64_t rank = (uint64_t)r;
    if ((double)rank < r * (1.0 - 1e-12)) rank++;
    if (rank < 1) rank = 1;
    if (rank > h->count) rank = h->count;
    return rank;
}

void dpi_hist_quantiles(const dpi_hist *h, const double *qs, int n, int64_t *out) {
    int k = 0;
    if (h->count == 0) {
        for (k = 0; k < n; k++) out[k] = 0;
        return;
    }
    uint64_t cum = 0;
    int i = index_of(h->min), hi = index_of(h->max);
    for (k = 0; k < n; k++) {
        double q = qs[k];
        if (!(q > 0.0)) {
            out[k] = h->min; /* also catches NaN */
            continue;
        }
        if (q >= 1.0) {
            out[k] = h->max;
            continue;
        }
        uint64_t rank = rank_of(h, q);
        /* Walk on from where the previous (smaller) quantile stopped; restart if out of order. */
        if (k > 0 && qs[k] < qs[k - 1]) {
            cum = 0;
            i = index_of(h->min);
        }
        while (i < hi && cum + h->buckets[i] < rank) cum += h->buckets[i++];
        int64_t lo, width;
        index_range(i, &lo, &width);
        out[k] = clamp_to_range(h, lo + width - 1);
    }
}

double dpi_hist_mean(const dpi_hist *h) { return h->count ? h->sum / (double)h->count : 0.0; }

void dpi_hist_count_le(const dpi_hist *h, const int64_t *v, int n, uint64_t *out) {
    uint64_t cum = 0;
    int i = h->count ? index_of(h->min) : 0;
    for (int k = 0; k < n; k++) {
        if (h->count == 0 || v[k] < h->min) {
            out[k] = 0;
            continue;
        }
        if (v[k] >= h->max) {
            out[k] = h->count;
            continue;
        }
        for (int hi = index_of(clamp_value(v[k])); i <= hi; i++) cum += h->buckets[i];
        out[k] = cum;
    }
}

void dpi_hist_latency_ms(const dpi_hist *h, dp_latency_ms *out) {
    static const double qs[4] = {0.50, 0.90, 0.99, 0.999};
    int64_t v[4];
    dpi_hist_quantiles(h, qs, 4, v);
    out->mean = dpi_hist_mean(h) / 1e6;
    out->p50 = (double)v[0] / 1e6;
    out->p90 = (double)v[1] / 1e6;
    out->p99 = (double)v[2] / 1e6;
    out->p999 = (double)v[3] / 1e6;
    out->max = (double)h->max / 1e6;
}
