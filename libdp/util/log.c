#include <stdarg.h>
#include <stdio.h>

#include "util.h"

static dp_log_fn log_fn;
static void *log_user;
static dp_log_level log_max = DP_LOG_WARN;

DP_API void dp_set_log_fn(dp_log_fn fn, void *user, dp_log_level max_level) {
    log_fn = fn;
    log_user = user;
    log_max = max_level;
}

int dpi_log_enabled(dp_log_level level) { return log_fn != NULL && level <= log_max; }

void dpi_log(dp_log_level level, const char *fmt, ...) {
    if (!dpi_log_enabled(level)) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_fn(level, msg, log_user);
}
