/*
 * dataparallel/core.h — version, status codes, error messages, logging.
 *
 * Every fallible call in the library returns a dp_status (DP_OK == 0). When a call fails it also
 * leaves a human-readable message, naming the file, tensor or argument at fault, in a thread-local
 * buffer read with dp_last_error(). The library never prints: diagnostics go to the log hook.
 *
 * Thread safety: all functions here may be called from any thread, dp_set_log_fn() too (a
 * message logged while the hook changes goes to the old or the new one).
 */
#ifndef DATAPARALLEL_CORE_H
#define DATAPARALLEL_CORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(DP_BUILDING_LIBRARY) && defined(__GNUC__)
#define DP_API __attribute__((visibility("default")))
#else
#define DP_API
#endif

/* ---- Version -------------------------------------------------------------------------------- */

#define DP_VERSION_MAJOR 0
#define DP_VERSION_MINOR 1
#define DP_VERSION_PATCH 0
/* MAJOR*10000 + MINOR*100 + PATCH, the value dp_version() returns. */
#define DP_VERSION_NUMBER (DP_VERSION_MAJOR * 10000 + DP_VERSION_MINOR * 100 + DP_VERSION_PATCH)

/* The library's version as DP_VERSION_NUMBER of the build (may differ from the header's). */
DP_API unsigned dp_version(void);
/* "MAJOR.MINOR.PATCH" of the build. Static storage. */
DP_API const char *dp_version_string(void);
/* What was built in, e.g. "backends=onednn,reference precisions=fp32,bf16 runner=threads,mpi".
 * Static storage. bf16 is listed when compiled in; whether this CPU runs it is a run-time check. */
DP_API const char *dp_build_info(void);
/* The instruction set oneDNN uses on this CPU, as oneDNN names it ("cpu_isa_avx512_core_bf16",
 * "cpu_isa_avx2"), after any DNNL_MAX_CPU_ISA cap: what bf16 support and kernel names depend on.
 * Static storage. */
DP_API const char *dp_cpu_isa(void);

/* ---- Status --------------------------------------------------------------------------------- */

/* Never renumbered: new codes are appended before DP_STATUS_COUNT_. */
typedef enum dp_status {
    DP_OK = 0,
    DP_ERR_INVALID_ARG = 1,  /* a bad argument: NULL, out of range, NaN, unknown name */
    DP_ERR_IO = 2,           /* a file could not be opened, read or written; a socket failed */
    DP_ERR_FORMAT = 3,       /* a file is truncated, corrupt or not of the expected format */
    DP_ERR_SHAPE = 4,        /* a tensor or input has the wrong shape */
    DP_ERR_NOT_FOUND = 5,    /* a named tensor, key or arch does not exist */
    DP_ERR_UNSUPPORTED = 6,  /* valid, but not available here (CPU lacks bf16, not built in) */
    DP_ERR_NOMEM = 7,        /* allocation failed */
    DP_ERR_BUSY = 8,         /* the object is in use (a run is already going; port in use) */
    DP_ERR_CLOSED = 9,       /* the object was stopped or closed */
    DP_ERR_TIMEOUT = 10,     /* a peer did not answer in time */
    DP_ERR_CANCELLED = 11,   /* stopped by dp_runner_stop(), a signal or a callback */
    DP_ERR_BACKEND = 12,     /* oneDNN, BLAS, MPI or HTTP library reported a failure */
    DP_ERR_INTERNAL = 13,    /* a bug in the library: please report it */
    DP_STATUS_COUNT_
} dp_status;

/* Short constant name of a status ("DP_ERR_SHAPE"); "DP_ERR_UNKNOWN" for values out of range. */
DP_API const char *dp_status_str(dp_status s);

/* The message of the last failed call on this thread ("" if none). Valid until the next failing
 * call on the same thread. */
DP_API const char *dp_last_error(void);

/* ---- Sized structs ---------------------------------------------------------------------------
 * Options structs, dp_sink_callbacks and dp_summary start with `size_t size` and are initialised
 * by a macro, e.g. dp_runner_opts_init(&o), that passes sizeof *your* struct to the library: a
 * program built against an older header keeps working with a newer library (fields it does not
 * know keep their defaults), and one built against a newer header works with an older library as
 * long as it leaves the fields that library does not know at zero. Never set `size` by hand. */
#define DP_SIZED_INIT(fn, p) fn##_sized((p), sizeof *(p))

/* ---- Logging -------------------------------------------------------------------------------- */

typedef enum dp_log_level { DP_LOG_ERROR = 0, DP_LOG_WARN = 1, DP_LOG_INFO = 2, DP_LOG_DEBUG = 3 } dp_log_level;

/* Called for every message at or below the configured level, from whichever thread logs. */
typedef void (*dp_log_fn)(dp_log_level level, const char *msg, void *user);

/* Install a log hook (NULL: discard messages, the default) and the most verbose level it gets. */
DP_API void dp_set_log_fn(dp_log_fn fn, void *user, dp_log_level max_level);

/* ---- Clock ---------------------------------------------------------------------------------- */

/* CLOCK_MONOTONIC in nanoseconds: the time base of every timestamp the library reports. */
DP_API int64_t dp_now_ns(void);

#ifdef __cplusplus
}
#endif
#endif
