#include <stdarg.h>
#include <stdio.h>

#include "util.h"

#define MSG_CAP 1024

static _Thread_local char last_error[MSG_CAP];

static const char *const status_names[DP_STATUS_COUNT_] = {
    [DP_OK] = "DP_OK",
    [DP_ERR_INVALID_ARG] = "DP_ERR_INVALID_ARG",
    [DP_ERR_IO] = "DP_ERR_IO",
    [DP_ERR_FORMAT] = "DP_ERR_FORMAT",
    [DP_ERR_SHAPE] = "DP_ERR_SHAPE",
    [DP_ERR_NOT_FOUND] = "DP_ERR_NOT_FOUND",
    [DP_ERR_UNSUPPORTED] = "DP_ERR_UNSUPPORTED",
    [DP_ERR_NOMEM] = "DP_ERR_NOMEM",
    [DP_ERR_BUSY] = "DP_ERR_BUSY",
    [DP_ERR_CLOSED] = "DP_ERR_CLOSED",
    [DP_ERR_TIMEOUT] = "DP_ERR_TIMEOUT",
    [DP_ERR_CANCELLED] = "DP_ERR_CANCELLED",
    [DP_ERR_BACKEND] = "DP_ERR_BACKEND",
    [DP_ERR_INTERNAL] = "DP_ERR_INTERNAL",
};

DP_API const char *dp_status_str(dp_status s) {
    if ((unsigned)s >= DP_STATUS_COUNT_) return "DP_ERR_UNKNOWN";
    return status_names[s];
}

DP_API const char *dp_last_error(void) { return last_error; }

dp_status dpi_error(dp_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return s;
}
