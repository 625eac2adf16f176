/* Arrival traces for the `trace` rate policy. */
#ifndef DP_STREAM_TRACE_H
#define DP_STREAM_TRACE_H

#include <stdint.h>

#include "dataparallel/core.h"

/* Read arrival offsets (seconds) from path: one number per line, or a CSV whose header names a
 * "time", "t" or "timestamp" column. Blank lines and lines starting with '#' are skipped. The
 * offsets must be finite and non-decreasing; *offsets_ns gets them in ns relative to the first
 * one (malloc'd, *n >= 1). Errors: DP_ERR_IO (unreadable), DP_ERR_FORMAT (empty, not a number,
 * decreasing, no time column), naming the file and line. */
dp_status dpi_trace_read(const char *path, int64_t **offsets_ns, int64_t *n);

#endif
