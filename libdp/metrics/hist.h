/*
 * Log-bucketed latency histogram, HdrHistogram-style: values in ns from 1 ns to ~73 min, 3
 * significant digits (relative bucket width <= 1/1024), fixed memory, no allocation on record.
 * One per worker, written without locks by its owner, merged by the metrics thread.
 */
#ifndef DP_METRICS_HIST_H
#define DP_METRICS_HIST_H

#include <stdint.h>

#define DPI_HIST_SUB_BITS 11                     /* 2048 sub-buckets per power of two */
#define DPI_HIST_MAX_EXP 42                      /* up to 2^42 ns */
#define DPI_HIST_BUCKETS ((DPI_HIST_MAX_EXP - DPI_HIST_SUB_BITS + 2) * (1 << (DPI_HIST_SUB_BITS - 1)))

typedef struct dpi_hist {
    uint64_t count;
    int64_t min, max;
    double sum;                                  /* ns */
    uint64_t buckets[DPI_HIST_BUCKETS];
} dpi_hist;

void dpi_hist_reset(dpi_hist *h);
void dpi_hist_record(dpi_hist *h, int64_t value_ns);
void dpi_hist_merge(dpi_hist *dst, const dpi_hist *src);
/* Value at quantile q in [0,1] (the bucket's highest equivalent value, clamped to max). 0 if empty. */
int64_t dpi_hist_quantile(const dpi_hist *h, double q);
double dpi_hist_mean(const dpi_hist *h);
/* How many recorded values are <= v (for Prometheus cumulative buckets). */
uint64_t dpi_hist_count_le(const dpi_hist *h, int64_t v);

#endif
