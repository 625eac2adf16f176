/*
 * Log-bucketed latency histogram, HdrHistogram-style: values in ns from 1 ns to ~73 min, 3
 * significant digits (relative bucket width <= 1/1024), fixed memory, no allocation on record.
 * One per worker, written without locks by its owner, merged by the metrics thread.
 */
#ifndef DP_METRICS_HIST_H
#define DP_METRICS_HIST_H

#include <stdint.h>

#include "dataparallel/runner.h"

#define DPI_HIST_SUB_BITS 11                     /* 2048 sub-buckets per power of two */
#define DPI_HIST_MAX_EXP 42                      /* up to 2^42 ns */
#define DPI_HIST_BUCKETS ((DPI_HIST_MAX_EXP - DPI_HIST_SUB_BITS + 2) * (1 << (DPI_HIST_SUB_BITS - 1)))

typedef struct dpi_hist {
    uint64_t count;
    int64_t min, max;
    double sum;                                  /* ns */
    uint64_t buckets[DPI_HIST_BUCKETS];
} dpi_hist;

/* Empty: count 0, min = max = 0. */
void dpi_hist_reset(dpi_hist *h);
/* Negative values count as 0, values above 2^42-1 ns as 2^42-1 (min/max/sum see the clamped
 * value). No allocation, no lock: one writer per histogram. */
void dpi_hist_record(dpi_hist *h, int64_t value_ns);
/* dst += src, exactly as if src's values had been recorded into dst. */
void dpi_hist_merge(dpi_hist *dst, const dpi_hist *src);
/* The values at n quantiles qs[k] in [0,1], in one pass (fastest when qs is ascending): nearest
 * rank; the bucket's highest equivalent value, clamped to [min,max]; q <= 0 (or NaN) gives min,
 * q >= 1 max. All 0 if empty. */
void dpi_hist_quantiles(const dpi_hist *h, const double *qs, int n, int64_t *out);
double dpi_hist_mean(const dpi_hist *h);
/* out[k] = how many recorded values are <= v[k], for n ascending bounds, in one pass (the
 * cumulative buckets of interval rows). Values in v[k]'s own bucket count as <= v[k] (they are
 * equal to it within the histogram's precision). */
void dpi_hist_count_le(const dpi_hist *h, const int64_t *v, int n, uint64_t *out);
/* mean, p50, p90, p99, p999, max in ms (the latency fields of docs/metrics.md); all 0 if empty. */
void dpi_hist_latency_ms(const dpi_hist *h, dp_latency_ms *out);

#endif
