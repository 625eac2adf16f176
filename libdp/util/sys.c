#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

int64_t dpi_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

DP_API int64_t dp_now_ns(void) { return dpi_now_ns(); }

void dpi_spin_ns(int64_t ns) {
    int64_t end = dpi_now_ns() + ns;
    while (dpi_now_ns() < end) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
}

void dpi_sleep_until_ns(int64_t t_ns, int64_t spin_ns) {
    int64_t wake = t_ns - spin_ns;
    if (wake > dpi_now_ns()) {
        struct timespec ts = {.tv_sec = wake / 1000000000, .tv_nsec = wake % 1000000000};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
        }
    }
    while (dpi_now_ns() < t_ns) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
}

void *dpi_alloc_aligned(size_t size, size_t alignment) {
    void *p = NULL;
    if (size == 0) size = alignment;
    if (posix_memalign(&p, alignment, size) != 0) return NULL;
    return p;
}

void dpi_free_aligned(void *p) { free(p); }

char *dpi_strdup(const char *s) {
    char *d = strdup(s ? s : "");
    if (!d) dpi_error(DP_ERR_NOMEM, "out of memory copying a string");
    return d;
}

double dpi_process_cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

double dpi_peak_rss_mb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0; /* Linux reports KiB */
}

double dpi_current_rss_mb(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, rss = 0;
    if (!f) return 0.0;
    if (fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = 0;
    fclose(f);
    return rss * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
}

int dpi_num_cpus(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}
