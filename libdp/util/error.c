#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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

void dpi_error_prefix(const char *fmt, ...) {
    char prefix[MSG_CAP], old[MSG_CAP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, last_error, sizeof old);
    /* Truncation is acceptable: the message stays NUL-terminated and readable. */
    size_t n = strlen(prefix);
    if (n > sizeof last_error - 3) n = sizeof last_error - 3;
    memcpy(last_error, prefix, n);
    memcpy(last_error + n, ": ", 2);
    size_t room = sizeof last_error - n - 3;
    size_t m = strlen(old);
    if (m > room) m = room;
    memcpy(last_error + n + 2, old, m);
    last_error[n + 2 + m] = '\0';
}

void dpi_clear_error(void) { last_error[0] = '\0'; }
