/* --repeat N: the median of each headline figure over N runs and its 95 % bootstrap interval
 * (dp_bootstrap_median, docs/metrics.md "Repeats"), as JSON and on the console; and the rule by
 * which two configurations differ significantly (their intervals do not overlap). */
#ifndef DP_BENCH_REPEATS_H
#define DP_BENCH_REPEATS_H

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>

/* The figures summarised, as paths into a run's JSON summary ("latency_ms.p99"). */
extern const char *const dpb_repeat_figures[];
extern const int dpb_num_repeat_figures;

/* {"repeats": n, "confidence": 0.95, "resamples": .., "seed": seed, "<figure>": {"median", "lo",
 * "hi", "values": [...]}, ...} over the n summaries (figures absent from them are left out; a
 * "latency_ms.p99" figure is nested as "latency_ms": {"p99": ...}). NULL when out of memory. */
cJSON *dpb_repeats_json(const cJSON *const *summaries, int n, uint64_t seed);

/* The {median, lo, hi} of figure (a path as in dpb_repeat_figures) in a dpb_repeats_json object
 * into v; 0, or -1 when absent. */
int dpb_repeats_get(const cJSON *agg, const char *figure, double v[3]);

/* 1 when [a_lo, a_hi] and [b_lo, b_hi] (v[1], v[2] as dpb_repeats_get fills them) do not overlap. */
int dpb_repeats_differ(const double a[3], const double b[3]);

/* One line a figure: "throughput  median 123.4  95 % interval [120.1, 125.0]  (n runs)". */
void dpb_repeats_print(FILE *f, const cJSON *agg);

#endif
