/*
 * dataparallel/sink.h — where a run's metrics go.
 *
 * A dp_sink receives, from a runner's metrics thread (never from a worker): the run's start
 * information, per-sample records (if it asks for them), an interval summary every interval_ms,
 * and the final summary. Several sinks can be attached to one runner (dp_runner_add_sink()).
 * Workers never wait on a sink's I/O: records travel through per-worker rings to the metrics
 * thread; a sink that falls behind loses interval rows (counted), never inference time.
 *
 * Built-in sinks: console (live line on a TTY, periodic lines otherwise, final table), CSV (one
 * row per interval), JSON Lines (one object per sample + a final summary object), Prometheus
 * (HTTP /metrics via libmicrohttpd, text format 0.0.4), a live browser dashboard (HTTP) and
 * callback.
 *
 * Thread safety: a sink is attached to one runner at a time. Create functions validate their
 * arguments and open files / bind ports immediately, so a bad path or a port in use fails
 * before any run starts.
 */
#ifndef DATAPARALLEL_SINK_H
#define DATAPARALLEL_SINK_H

#include <stdio.h>

#include "core.h"
#include "runner.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a run is, given to sinks at its start. Strings valid during the run. */
typedef struct dp_run_info {
    const char *mode;           /* "batch", "stream" or "push" */
    const char *arch;
    const char *strategy;
    int workers;
    int threads_per_worker;
    double target_rate;         /* 0 when unlimited */
    int64_t expected_samples;   /* -1 when unknown (push mode) */
    int64_t start_ns;
} dp_run_info;

/* Metrics over one interval (and cumulative counters). */
typedef struct dp_interval {
    double t_s;                 /* seconds since the run started */
    int64_t offered, completed, dropped, failed;       /* cumulative */
    double throughput;          /* completions/s during this interval */
    dp_latency_ms latency_ms;   /* of samples completed during this interval */
    int queue_depth;            /* total queued now */
    const int *worker_queue_depth;  /* per worker, `workers` entries (with pipeline stages: the
                                       replica's queue at its first stage's worker, 0 at the others) */
    const int64_t *worker_completed; /* cumulative per worker */
    int workers;
    double cpu_pct;             /* process CPU over the interval */
    double rss_mb;
    int64_t sink_rows_dropped;  /* interval rows this sink missed (it was too slow) */
    int64_t dropped_newest, dropped_oldest;  /* cumulative, by overflow reason (sum = dropped) */
    /* The run's latency histogram so far (cumulative, as Prometheus wants it): of the completed
     * samples whose records reached the metrics thread, latency_count_le[b] have a latency <=
     * latency_le_s[b] seconds (to the histogram's 0.1 %). Bounds ascend and are the same in
     * every row; latency_count and latency_sum_s are over all of those samples. */
    int latency_buckets;
    const double *latency_le_s;
    const uint64_t *latency_count_le;
    uint64_t latency_count;
    double latency_sum_s;
    /* Appended (a dp_interval is only read through the library's pointer): the same cumulative
     * buckets for each part of the latency (dp_result_phases()): phase_count_le[p *
     * latency_buckets + b] samples had part p <= latency_le_s[b]; phase_sum_s[p] is the sum of
     * part p in s. Each part counts latency_count samples. */
    const uint64_t *phase_count_le;
    const double *phase_sum_s;
    /* ---- pipelines (dataparallel/pipeline.h; docs/pipeline.md, "Metrics"), so far in the run ---- */
    int stages;                         /* 1: data parallel */
    double bubble_pct;                  /* the pipeline bubble (0 when stages == 1) */
    const dp_stage_summary *per_stage;  /* `workers` rows: replica, stage, bytes_sent, inflight_s, bubble_pct */
    const double *worker_busy_s;        /* `workers` entries: cumulative busy time */
    /* Appended: `workers` entries, the high-water mark so far of what each worker waits on (as
     * dp_worker_summary.queue_hwm: its queue in samples; with stages, a later stage's incoming
     * hand-over in micro-batches). */
    const int64_t *worker_queue_hwm;
} dp_interval;

typedef struct dp_sink dp_sink;

typedef struct dp_sink_callbacks {
    size_t size;                /* set by dp_sink_callbacks_init() */
    void (*on_start)(const dp_run_info *info, void *user);
    void (*on_record)(const dp_result *r, void *user);     /* NULL: no per-sample records */
    void (*on_interval)(const dp_interval *iv, void *user);
    void (*on_summary)(const dp_run_info *info, const dp_summary *s, void *user);
    void *user;
} dp_sink_callbacks;

/* All callbacks NULL, user NULL (a macro: see "Sized structs" in core.h). */
DP_API void dp_sink_callbacks_init_sized(dp_sink_callbacks *cb, size_t size);
#define dp_sink_callbacks_init(cb) DP_SIZED_INIT(dp_sink_callbacks_init, cb)

typedef struct dp_console_opts {
    size_t size;                /* set by dp_console_opts_init() */
    FILE *stream;               /* default stderr */
    int live;                   /* 1: one redrawn status line, 0: periodic lines, -1: auto (TTY) */
    int quiet;                  /* 1: only the final table */
} dp_console_opts;

/* Defaults into *opts (a macro: see "Sized structs" in core.h). */
DP_API void dp_console_opts_init_sized(dp_console_opts *opts, size_t size);
#define dp_console_opts_init(opts) DP_SIZED_INIT(dp_console_opts_init, opts)
DP_API dp_status dp_sink_console_create(const dp_console_opts *opts, dp_sink **out);
/* One row per interval (header row first). */
DP_API dp_status dp_sink_csv_create(const char *path, dp_sink **out);
/* One JSON object per completed sample, then {"type":"summary",...}. */
DP_API dp_status dp_sink_jsonl_create(const char *path, dp_sink **out);
/* Serve /metrics on "HOST:PORT" (PORT 0: any free port, see dp_sink_prometheus_port()). Binds
 * now: DP_ERR_BUSY if the port is in use, DP_ERR_INVALID_ARG for a malformed address. */
DP_API dp_status dp_sink_prometheus_create(const char *host_port, dp_sink **out);
DP_API int dp_sink_prometheus_port(const dp_sink *sink);

/* A live dashboard in the browser (docs/metrics.md, "Dashboard"): serves on "HOST:PORT" the page
 * `/` (self-contained: no network access beyond this server) and its feed `/api/state` (JSON:
 * interval rows, per-worker state, the summary once the run ended). It keeps showing the last
 * run until the sink is freed. Binds now, like the Prometheus sink. */
typedef struct dp_dashboard_opts {
    size_t size;                /* set by dp_dashboard_opts_init() */
    const char *host_port;      /* required; PORT 0: any free port (dp_sink_dashboard_port()) */
    double slo_p99_ms;          /* drawn as a line on the latency chart; 0: none (default) */
    int history_rows;           /* interval rows kept (oldest dropped first); default 3600, 16..1000000 */
} dp_dashboard_opts;

/* Defaults into *opts (a macro: see "Sized structs" in core.h). */
DP_API void dp_dashboard_opts_init_sized(dp_dashboard_opts *opts, size_t size);
#define dp_dashboard_opts_init(opts) DP_SIZED_INIT(dp_dashboard_opts_init, opts)
DP_API dp_status dp_sink_dashboard_create(const dp_dashboard_opts *opts, dp_sink **out);
/* The port it listens on; -1 when sink is not a dashboard sink. */
DP_API int dp_sink_dashboard_port(const dp_sink *sink);
DP_API dp_status dp_sink_callback_create(const dp_sink_callbacks *cb, dp_sink **out);
DP_API void dp_sink_free(dp_sink *sink);

#ifdef __cplusplus
}
#endif
#endif
