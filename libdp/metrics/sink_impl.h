/* What a dp_sink is: the callbacks the runner's metrics thread calls, and a destructor.
 *
 * The protocol a runner follows (the built-in sinks rely on it):
 *  1. dpi_sink_start(info) once, before the first sample is offered. info->start_ns is the time
 *     base for the relative times sinks write; info->expected_samples drives progress bars.
 *  2. dpi_sink_record(r) for every finished sample (completed, failed or dropped, status says
 *     which), from the per-worker rings, in any order across workers. Skipped for sinks whose
 *     cb.on_record is NULL (dpi_sink_wants_records()), so the runner can avoid the work.
 *  3. dpi_sink_interval(iv) every interval_ms, and once more for the final partial interval after
 *     the last sample finished and before the summary, so that the last row's cumulative counters
 *     equal the summary's and the largest per-interval latency max equals the summary's max.
 *  4. dpi_sink_summary(info, s) once at the end (also after a stopped run).
 * All calls come from one thread (the runner's metrics thread), never concurrently and never
 * from a worker; a sink may therefore do I/O in them. A sink can be reused for a later run.
 */
#ifndef DP_METRICS_SINK_IMPL_H
#define DP_METRICS_SINK_IMPL_H

#include "dataparallel/sink.h"

/* The stream a built-in sink writes (CSV, JSONL: a file it opened; console: a stream it was
 * given). what ("CSV sink") and name (the path) go into every message. */
typedef struct dpi_sink_file {
    FILE *f;
    const char *what;
    char *name;
    int owned;        /* opened here: closed by dpi_sink_file_close */
    int write_errno;  /* the first write failure (0: none) */
} dpi_sink_file;

struct dp_sink {
    dp_sink_callbacks cb;            /* every built-in sink is a set of callbacks too */
    void (*destroy)(void *user);     /* frees cb.user; NULL for callback sinks */
    const dpi_sink_file *file;       /* what it writes, for dpi_sink_failure(); NULL: nothing */
};

/* Wrap callbacks (cb->size must be set) into a sink that owns cb->user through destroy (may be
 * NULL) and writes `file` (may be NULL). On failure destroy(cb->user) has been called, so
 * constructors need no cleanup of it. */
dp_status dpi_sink_create(const dp_sink_callbacks *cb, void (*destroy)(void *user), const dpi_sink_file *file,
                          dp_sink **out);

/* Open path for writing: DP_ERR_INVALID_ARG for a NULL or empty path, DP_ERR_IO naming the path
 * and the reason when it cannot be created. */
dp_status dpi_sink_file_open(dpi_sink_file *o, const char *what, const char *path);
/* Write to a stream the sink does not own (it is flushed, never closed). */
dp_status dpi_sink_file_borrow(dpi_sink_file *o, const char *what, FILE *f, const char *name);
/* Flush; the first failure (disk full, ...) is kept for dpi_sink_failure() and logged as a
 * warning at once. Returns 0 if the stream is fine so far. */
int dpi_sink_file_flush(dpi_sink_file *o);
void dpi_sink_file_close(dpi_sink_file *o);

/* DP_OK, or DP_ERR_IO naming the sink, its file and the reason when a write failed during the
 * run: the runner then fails the run (its summary is still complete). */
dp_status dpi_sink_failure(const dp_sink *s);

static inline int dpi_sink_wants_records(const dp_sink *s) { return s->cb.on_record != NULL; }

static inline void dpi_sink_start(dp_sink *s, const dp_run_info *info) {
    if (s->cb.on_start) s->cb.on_start(info, s->cb.user);
}
static inline void dpi_sink_record(dp_sink *s, const dp_result *r) {
    if (s->cb.on_record) s->cb.on_record(r, s->cb.user);
}
static inline void dpi_sink_interval(dp_sink *s, const dp_interval *iv) {
    if (s->cb.on_interval) s->cb.on_interval(iv, s->cb.user);
}
static inline void dpi_sink_summary(dp_sink *s, const dp_run_info *info, const dp_summary *sum) {
    if (s->cb.on_summary) s->cb.on_summary(info, sum, s->cb.user);
}

#endif
