/* The log hook. dp_set_log_fn() may race with messages logged on library threads (a worker's
 * warning while the application swaps hooks), so the hook and its user pointer change together
 * under a mutex, and the level check on every dpi_log_enabled() is one atomic load. */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>

#include "util.h"

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static dp_log_fn log_fn;   /* guarded by log_mu */
static void *log_user;     /* guarded by log_mu */
static atomic_int log_max = -1; /* -1: no hook installed */

DP_API void dp_set_log_fn(dp_log_fn fn, void *user, dp_log_level max_level) {
    pthread_mutex_lock(&log_mu);
    log_fn = fn;
    log_user = user;
    atomic_store(&log_max, fn ? (int)max_level : -1);
    pthread_mutex_unlock(&log_mu);
}

int dpi_log_enabled(dp_log_level level) { return (int)level <= atomic_load_explicit(&log_max, memory_order_relaxed); }

void dpi_log(dp_log_level level, const char *fmt, ...) {
    if (!dpi_log_enabled(level)) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* Called outside the lock, so a hook may itself call dp_set_log_fn(). */
    pthread_mutex_lock(&log_mu);
    dp_log_fn fn = log_fn;
    void *user = log_user;
    int max = atomic_load_explicit(&log_max, memory_order_relaxed);
    pthread_mutex_unlock(&log_mu);
    if (fn && (int)level <= max) fn(level, msg, user);
}
