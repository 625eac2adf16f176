/* Arrival traces for the `trace` rate policy. */
#ifndef DP_STREAM_TRACE_H
#define DP_STREAM_TRACE_H

#include <stdint.h>

#include "dataparallel/core.h"

/* The largest offset from the first arrival (s): 11.6 days, far beyond any replay, and small
 * enough that t0 + offset in ns stays far from int64 overflow for any start time. */
#define DPI_TRACE_MAX_OFFSET_S 1e6

/* Read arrival offsets (seconds) from path: one number per line, or a CSV (RFC 4180 quoting, LF
 * or CRLF) whose header names a "time", "t" or "timestamp" column. Blank lines and lines starting
 * with '#' are skipped. The offsets must be finite, non-decreasing and at most
 * DPI_TRACE_MAX_OFFSET_S after the first; *offsets_ns gets them in ns relative to the first one
 * (malloc'd, *n >= 1, offsets_ns[0] == 0, non-decreasing). Errors: DP_ERR_IO (unreadable),
 * DP_ERR_FORMAT (empty, not a number, decreasing, too far, no time column), naming the file and
 * line. */
dp_status dpi_trace_read(const char *path, int64_t **offsets_ns, int64_t *n);

#endif
