/* Internal helpers shared by every part of the library: errors, logging, time, memory. */
#ifndef DP_UTIL_UTIL_H
#define DP_UTIL_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "dataparallel/core.h"

#if defined(__GNUC__)
#define DPI_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define DPI_PRINTF(a, b)
#endif

#define DPI_CACHELINE 64

/* Record a failure for dp_last_error() and return s, so callers write
 * `return dpi_error(DP_ERR_SHAPE, "%s: tensor %s has shape ...", path, name);` */
dp_status dpi_error(dp_status s, const char *fmt, ...) DPI_PRINTF(2, 3);

/* Send a message to the user's log hook (nothing happens without one). */
void dpi_log(dp_log_level level, const char *fmt, ...) DPI_PRINTF(2, 3);
int dpi_log_enabled(dp_log_level level);

/* CLOCK_MONOTONIC in ns (same as dp_now_ns()). */
int64_t dpi_now_ns(void);
/* Sleep until the absolute CLOCK_MONOTONIC time t_ns, then busy-wait the last spin_ns. */
void dpi_sleep_until_ns(int64_t t_ns, int64_t spin_ns);
/* Busy-wait for ns (simulated slow workers must keep their core busy, not sleep). */
void dpi_spin_ns(int64_t ns);

/* Aligned allocation (alignment a power of two >= sizeof(void*)); free with dpi_free_aligned. */
void *dpi_alloc_aligned(size_t size, size_t alignment);
void dpi_free_aligned(void *p);

/* strdup that reports DP_ERR_NOMEM through dpi_error on failure. */
char *dpi_strdup(const char *s);

/* Process resource use: CPU seconds (user+sys) and peak / current RSS in MiB. */
double dpi_process_cpu_s(void);
double dpi_peak_rss_mb(void);
double dpi_current_rss_mb(void);

/* Number of online CPUs (>= 1). */
int dpi_num_cpus(void);

/* SplitMix64: a small seeded generator for deterministic data and weights. */
static inline uint64_t dpi_splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
/* Uniform double in [0, 1). */
static inline double dpi_rand_unit(uint64_t *state) {
    return (double)(dpi_splitmix64(state) >> 11) * (1.0 / 9007199254740992.0);
}

#endif
