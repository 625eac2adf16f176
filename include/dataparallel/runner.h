/*
 * dataparallel/runner.h — running a model over several workers: batch, stream and push mode.
 *
 * A dp_runner owns W workers (threads in this process, or MPI ranks) that share one dp_model and
 * each own a dp_exec with `threads_per_worker` oneDNN threads. Three ways to feed it:
 *  - dp_runner_run_batch(): split a data set with the partitioner's batch mode, as fast as possible;
 *  - dp_runner_run(): pull samples from a rate-limited dp_source, route them (stream mode) into
 *    bounded queues, micro-batch and serve them; latency counts from each intended arrival time;
 *  - push mode: dp_runner_start(), then dp_runner_submit() from any thread (intended arrival =
 *    submit time), a completion callback per sample, then dp_runner_drain() / dp_runner_stop().
 * Every offered sample ends completed, dropped (queue overflow policy) or failed, and the summary
 * always satisfies offered == completed + dropped + failed.
 *
 * Thread safety: one run at a time per runner (DP_ERR_BUSY otherwise). dp_runner_submit() and
 * dp_runner_stop() may be called from any thread. Callbacks run on library threads.
 */
#ifndef DATAPARALLEL_RUNNER_H
#define DATAPARALLEL_RUNNER_H

#include "core.h"
#include "model.h"
#include "partition.h"
#include "source.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dp_runner dp_runner;
typedef struct dp_sink dp_sink;

typedef enum dp_overflow {
    DP_OVERFLOW_BLOCK = 0,        /* the source waits for room (latency grows, nothing dropped) */
    DP_OVERFLOW_DROP_NEWEST = 1,  /* the arriving sample is dropped */
    DP_OVERFLOW_DROP_OLDEST = 2   /* the oldest queued sample is dropped to make room */
} dp_overflow;

typedef enum dp_runner_backend { DP_RUNNER_THREADS = 0, DP_RUNNER_MPI = 1 } dp_runner_backend;

/* One finished sample, as given to completion callbacks and sinks. */
typedef struct dp_result {
    int64_t sample_id;
    int64_t index;          /* data-set index (batch and pull mode) */
    int worker;
    int top1;               /* -1 if failed or dropped */
    int32_t label;          /* -1 if unknown */
    int batch_size;         /* size of the micro-batch it ran in */
    dp_status status;       /* DP_OK, or why it failed / DP_ERR_CANCELLED if dropped */
    int64_t intended_ns;    /* intended arrival (dp_now_ns() base) */
    int64_t start_ns;       /* inference start */
    int64_t end_ns;         /* completion */
    const float *logits;    /* num_classes floats when opts.keep_logits, else NULL; valid only
                               during the callback */
    int num_classes;
    /* Appended fields (a dp_result is only ever read through the library's pointer, so a program
     * built against an older header reads the fields it knows): the steps of the sample's path,
     * for its latency breakdown (dp_result_phases(); docs/metrics.md, "Latency breakdown").
     * 0 where the sample never reached that step (a dropped or unroutable one). With a pipeline
     * (dataparallel/pipeline.h), start_ns is the first stage's start and end_ns the last one's end. */
    int64_t enqueued_ns;    /* entered its queue (after any wait for room); batch mode: = intended */
    int64_t taken_ns;       /* taken out of it by a worker into a micro-batch */
    int64_t service_ns;     /* time in inference: end_ns - start_ns, less the waits between stages */
    int64_t delivered_ns;   /* handed to on_result and the sinks; latency = delivered - intended */
} dp_result;

/* The five parts of a completed sample's latency (docs/metrics.md, "Latency breakdown"). They add
 * up to delivered_ns - intended_ns exactly, by construction:
 *   dispatch = enqueued - intended               (a late source or router, a full queue blocking)
 *   queue    = taken - enqueued  + waits between pipeline stages
 *   batching = start - taken                     (filling the micro-batch: max_delay_us, payloads)
 *   service  = service_ns                        (inference, incl. slowdown, summed over stages)
 *   delivery = delivered - end                   (top-1, callbacks of earlier samples of the batch) */
typedef enum dp_phase {
    DP_PHASE_DISPATCH = 0,
    DP_PHASE_QUEUE = 1,
    DP_PHASE_BATCHING = 2,
    DP_PHASE_SERVICE = 3,
    DP_PHASE_DELIVERY = 4
} dp_phase;
#define DP_PHASES 5

/* out[p] = the part p of r's latency in ns, for p in dp_phase order. Meaningful for a completed
 * sample (status DP_OK); thread-safe, no allocation. */
DP_API void dp_result_phases(const dp_result *r, int64_t out[DP_PHASES]);
/* "dispatch", "queue", "batching", "service", "delivery"; NULL out of range. */
DP_API const char *dp_phase_name(int phase);

typedef void (*dp_result_fn)(const dp_result *result, void *sample_ctx, void *user);

typedef struct dp_runner_opts {
    size_t size;                /* set by dp_runner_opts_init() */
    int workers;                /* 1 <= W <= DP_MAX_WORKERS (partition.h); default 1 */
    int threads_per_worker;     /* >= 1; default 1. More than cores is allowed (logged warning) */
    int max_batch;              /* micro-batch limit; default 1 */
    int64_t max_delay_us;       /* wait at most this long to fill a micro-batch; default 0 */
    int queue_capacity;         /* per queue (>= 1); default 1024 */
    dp_overflow overflow;       /* default DP_OVERFLOW_BLOCK */
    dp_runner_backend backend;  /* default DP_RUNNER_THREADS */
    const double *slowdown;     /* per-worker service-time stretch factors >= 1 (copied); NULL = 1 */
    int num_slowdown;
    double straggler_factor;    /* flag a worker slower than median by this factor; default 1.5 */
    int pin_workers;            /* pin worker k to core k % ncores; default 0 */
    int keep_logits;            /* pass logits to callbacks/sinks; default 0 */
    int interval_ms;            /* sink interval summaries; default 1000 */
    union {
        int handle_signals;     /* SIGINT and SIGTERM stop the run gracefully (summary complete);
                                   default 0 */
        int handle_sigint;      /* the same field under its old name */
    };
    dp_result_fn on_result;     /* push mode completion callback (also called in other modes) */
    void *on_result_user;
    double worker_timeout_s;    /* mpi: a worker silent this long is declared dead; default 10 */
    int retry;                  /* mpi: re-dispatch a dead worker's samples; default 0 */
    int rank_concurrency;       /* mpi: micro-batches a worker rank runs at the same time, each on
                                   its own dp_exec of threads_per_worker threads (rank 0 keeps
                                   workers / worker ranks in flight to each). 0 (default): that
                                   many, at most the rank's cores / threads_per_worker */
    /* Warm-up (docs/metrics.md, "Warm-up"): the samples whose intended arrival is within warmup_s
     * seconds of the run's start, or whose sample id is below warmup_samples (emission order of a
     * source, data-set order in batch mode, the caller's ids in push mode), run and complete as
     * any other but are left out of throughput, efficiency_pct, latency_ms and its intervals; the
     * summary reports them apart (warmup_completed, warmup_latency_ms). Default 0 and 0: none. */
    double warmup_s;            /* 0 <= warmup_s <= 86400 */
    int64_t warmup_samples;     /* >= 0 */
} dp_runner_opts;

/* Defaults into *opts (a macro: see "Sized structs" in core.h). */
DP_API void dp_runner_opts_init_sized(dp_runner_opts *opts, size_t size);
#define dp_runner_opts_init(opts) DP_SIZED_INIT(dp_runner_opts_init, opts)

typedef struct dp_worker_summary {
    int worker;
    int64_t completed;
    int64_t failed;
    double busy_s;              /* time spent in inference (incl. slowdown) */
    double busy_pct;            /* busy_s / elapsed_s * 100 */
    double mean_batch;          /* mean micro-batch size */
    double mean_service_ms;     /* mean service time per sample */
    int64_t queue_hwm;          /* high-water mark of what it takes from: its replica's queue (stream
                                   mode), or the hand-over from the stage before (a pipeline) */
    int straggler;              /* 1 if flagged by straggler_factor */
    int replica, stage;         /* its place in the grid (dataparallel/pipeline.h); stage 0 without one */
} dp_worker_summary;

typedef struct dp_latency_ms {
    double mean, p50, p90, p99, p999, max;
} dp_latency_ms;

/* Where the true percentile lies, from the order statistics of the run's samples (docs/metrics.md,
 * "Confidence"): [0] lower, [1] upper bound in ms; NaN where the run had too few samples on that
 * side for a bound (dp_min_samples_for()). */
typedef struct dp_latency_ci {
    double p50[2], p90[2], p99[2], p999[2];
} dp_latency_ci;

/* The latency of completed samples split into its parts (dp_result_phases()), each summarised as
 * dp_latency_ms (the means add up to the total's mean; percentiles do not add up). */
typedef struct dp_breakdown_ms {
    dp_latency_ms phase[DP_PHASES];   /* indexed by dp_phase */
} dp_breakdown_ms;
/* ---- Pipeline metrics (dataparallel/pipeline.h; docs/pipeline.md, "Metrics") ----------------
 * One row per worker, in worker order. A replica is *in flight* while at least one of its
 * micro-batches is between its first stage taking it and its last stage completing it (or a
 * stage failing it). */
typedef struct dp_stage_summary {
    int worker, replica, stage;
    int64_t bytes_sent;         /* activation bytes handed to the next stage (0 for a last stage) */
    double inflight_s;          /* its replica's in-flight time (its busy_s when stages == 1) */
    double bubble_pct;          /* 100 * (inflight_s - busy_s) / inflight_s: idle while its replica
                                   had work elsewhere (or waiting for a free hand-over buffer) */
} dp_stage_summary;

typedef struct dp_summary {
    size_t size;                /* set by dp_summary_init() */
    int64_t offered;
    int64_t completed;
    int64_t dropped;            /* dropped_newest + dropped_oldest */
    int64_t dropped_newest;
    int64_t dropped_oldest;
    int64_t failed;
    double target_rate;         /* samples/s (0 for unlimited / batch mode) */
    double rate_accuracy_pct;
    double throughput;          /* completed / (t_last_completion - t_first_emit) */
    double efficiency_pct;      /* 100 * throughput / target_rate (0 when no target) */
    dp_latency_ms latency_ms;
    double cpu_pct;
    double rss_mb;
    double elapsed_s;
    int64_t labelled;           /* completed samples with a known label */
    int64_t correct;            /* of those, top-1 == label */
    int workers;
    const dp_worker_summary *per_worker;  /* `workers` entries, owned by the runner, valid until
                                             its next run or dp_runner_free(); NULL when the call
                                             failed before the run started */
    int64_t nonfinite_inputs;   /* samples whose input held NaN or infinity: they run as given
                                   (their logits are usually NaN) and count as completed */
    int64_t records_dropped;    /* per-sample records the sinks did not get (their rings were full:
                                   a sink's on_record slower than the workers); the counters above
                                   still count those samples */
    int signal;                 /* the signal that stopped the run (SIGINT, SIGTERM) or 0 */
    dp_latency_ci latency_ci95_ms; /* 95 % confidence intervals of latency_ms's percentiles */
    dp_latency_ci latency_ci99_ms; /* 99 % */
    const struct dp_fault_report *faults; /* num_faults entries (dp_runner_inject()), owned by the
                                             runner, valid until its next run, dp_runner_inject(),
                                             dp_runner_clear_faults() or dp_runner_free() */
    int num_faults;
    /* ---- latency breakdown (docs/metrics.md, "Latency breakdown") ---- */
    dp_breakdown_ms breakdown_ms;     /* of all completed samples */
    const dp_breakdown_ms *per_worker_breakdown_ms; /* `workers` entries, by the worker that
                                         completed the sample; owned like per_worker */
    int64_t wire_bytes_out;     /* mpi: bytes of the messages rank 0 sent to the worker ranks during
                                   the run (headers included); 0 with threads */
    int64_t wire_bytes_in;      /* mpi: bytes of the messages it received from them */
    /* ---- pipelines (dataparallel/pipeline.h; docs/pipeline.md, "Metrics") ---- */
    int stages, replicas;       /* the grid: workers == stages * replicas (1 x workers: data parallel) */
    double bubble_pct;          /* pipeline bubble: 100 * sum over workers of (inflight_s - busy_s) /
                                   sum of inflight_s; 0 when stages == 1 */
    const dp_stage_summary *per_stage; /* `workers` rows, owned by the runner like per_worker */
    /* Warm-up (dp_runner_opts.warmup_s, warmup_samples): the completed samples it held (also
     * counted in `completed`, but not in throughput, efficiency_pct, latency_ms or the intervals)
     * and their latency; 0 without a warm-up. */
    int64_t warmup_completed;
    dp_latency_ms warmup_latency_ms;
} dp_summary;

/* Prepare a summary for a run function to fill: zeroed, its size set (a macro: see "Sized
 * structs" in core.h). The run functions refuse one that was not prepared. */
DP_API void dp_summary_init_sized(dp_summary *summary, size_t size);
#define dp_summary_init(summary) DP_SIZED_INIT(dp_summary_init, summary)

DP_API dp_status dp_runner_create(const dp_model *model, dp_partitioner *partitioner,
                                  const dp_runner_opts *opts, dp_runner **out);
DP_API void dp_runner_free(dp_runner *runner);

/* Attach a sink (borrowed; must outlive the runs). Before a run starts. */
DP_API dp_status dp_runner_add_sink(dp_runner *runner, dp_sink *sink);

/* Batch mode: every sample of ds once. summary: dp_summary_init() first. */
DP_API dp_status dp_runner_run_batch(dp_runner *runner, dp_dataset *ds, dp_summary *summary);
/* Stream mode: everything src emits. summary: dp_summary_init() first. Returns DP_ERR_CANCELLED
 * (with a complete summary) when stopped early. */
DP_API dp_status dp_runner_run(dp_runner *runner, dp_source *src, dp_summary *summary);

/* Push mode. Samples are [c,h,w] float32, copied on submit. */
DP_API dp_status dp_runner_start(dp_runner *runner, int c, int h, int w);
DP_API dp_status dp_runner_submit(dp_runner *runner, int64_t sample_id, const float *chw, void *sample_ctx);
/* Wait until every submitted sample has completed or failed. */
DP_API dp_status dp_runner_drain(dp_runner *runner);
/* Stop any mode; in push mode also finishes it and fills summary (may be NULL). */
DP_API dp_status dp_runner_stop(dp_runner *runner, dp_summary *summary);

/* 1 if this process is an MPI worker rank (backend DP_RUNNER_MPI, rank > 0): its run functions
 * only serve the coordinator's micro-batches and return an empty summary, so tools print nothing
 * there. 0 otherwise. */
DP_API int dp_runner_is_worker_rank(const dp_runner *runner);

/* Of the completed samples of the runner's last run: how many (*n) and how many took longer than
 * slo_ms (*over), to the latency histogram's 0.1 % — the input of dp_quantile_within()
 * (dataparallel/stats.h). Valid until the next run. */
DP_API dp_status dp_runner_latency_over(const dp_runner *runner, double slo_ms, int64_t *n, int64_t *over);

/* ---- Injected faults (docs/runner.md, "Injected faults") --------------------------------------
 * A schedule of faults that every later run of the runner applies to its own workers, to see
 * what a slow, stalled or failing worker does to the others and to latency. A worker applies an
 * event at its first micro-batch that starts at or after `at_s` seconds into the run (so a worker
 * with nothing to do applies it late or never). Call these only while no run goes on
 * (DP_ERR_BUSY otherwise). With the MPI backend, rank 0 schedules them and the worker rank that
 * runs the micro-batch applies them (docs/distributed.md); on worker ranks the calls are accepted
 * and have no effect. */
typedef enum dp_fault_kind {
    DP_FAULT_SLOWDOWN = 1,  /* value: the worker's service time x value from then on (>= 1; on top of
                               opts.slowdown; a later slowdown event replaces it, 1 ends it) */
    DP_FAULT_STALL = 2,     /* value: seconds the worker sleeps once, before that micro-batch (<= 3600) */
    DP_FAULT_FAIL = 3,      /* value: that many of its micro-batches fail (an integer >= 1); their
                               samples count as failed (status DP_ERR_BACKEND), never retried */
    DP_FAULT_STOP = 4       /* value: ignored. The worker leaves for the rest of the run: the
                               partitioner routes to it no more (dp_partitioner_set_available());
                               the samples it holds and those still reaching its queue are re-routed
                               to the others with opts.retry, else they fail (DP_ERR_CLOSED).
                               Stream and push mode, one-stage runners; at least one worker must
                               stay (the run is refused otherwise) */
} dp_fault_kind;

/* One scheduled event and what it did in the last run (the summary's `faults`). */
typedef struct dp_fault_report {
    double at_s;            /* as scheduled: seconds after the run's start */
    int worker;
    dp_fault_kind kind;
    double value;
    double applied_s;       /* when the worker applied it; -1 if it never did (the run ended first) */
    int64_t failed;         /* samples it failed (DP_FAULT_FAIL; DP_FAULT_STOP without retry) */
    int64_t rerouted;       /* DP_FAULT_STOP with retry: samples it handed on to other workers */
    /* What followed, over the event's window [at_s, window_end_s), measured on the interval rows
     * of the metrics thread (opts.interval_ms apart; docs/runner.md, "What followed"). NaN when
     * it could not be measured. */
    double window_end_s;    /* the next later event's at_s (any worker), or the run's end */
    int64_t window_completed; /* samples completed in the window */
    double p99_after_ms;    /* their p99 latency (NaN: none) */
    double recovery_s;      /* from at_s until the completion rate is back within 5 % of the offered
                               rate and stays there (to the window's end or the last arrival): 0 it
                               never left that band, -1 not back, NaN no whole interval to judge */
    double straggler_s;     /* when the straggler rule first flagged the worker on an interval of the
                               window (that interval's end, s after the start); -1 never */
    double weight_before, weight_after; /* weighted: the worker's relative weight (mean 1) at at_s and
                                           at the window's end; NaN for other strategies */
    double weights_moved_s; /* weighted: when that weight first moved by more than 10 %; -1 never */
} dp_fault_report;

/* Add an event to the runner's schedule (copied). DP_ERR_INVALID_ARG names a bad argument. */
DP_API dp_status dp_runner_inject(dp_runner *runner, double at_s, int worker, dp_fault_kind kind, double value);
/* Empty the schedule. */
DP_API dp_status dp_runner_clear_faults(dp_runner *runner);

/* Write a summary as JSON (the fields of docs/metrics.md). Returns the length it needs, excluding
 * the NUL; writes at most cap bytes. */
DP_API size_t dp_summary_to_json(const dp_summary *summary, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
