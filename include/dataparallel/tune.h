/*
 * dataparallel/tune.h — the configuration that serves a latency objective best (docs/tune.md).
 *
 * dp_tune() searches workers x threads per worker x max_batch x max_delay_us (x partitioner,
 * x precision) for the highest constant arrival rate whose p99 latency stays within an SLO with
 * nothing dropped or failed, within a time budget. The search policy (what to probe next, what
 * to prune, which configuration wins) is dp_tune_search(), which measures nothing itself: it calls
 * a probe function and a service-time function, so it can be driven by a table in a test or by
 * dp_tune()'s runner-backed ones. The same search over one configuration is a capacity search
 * (dp-bench capacity). Not thread-safe per call; separate calls are independent.
 */
#ifndef DATAPARALLEL_TUNE_H
#define DATAPARALLEL_TUNE_H

#include <stddef.h>
#include <stdint.h>

#include "core.h"
#include "model.h"
#include "runner.h"
#include "source.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dp_sink dp_sink;

/* One point of the search space. `strategy` points into dp_tune_opts.strategies (or a static
 * default), valid as long as they are. */
typedef struct dp_tune_config {
    int workers;
    int threads_per_worker;
    int max_batch;
    int64_t max_delay_us;
    const char *strategy;
    dp_precision precision;
} dp_tune_config;

/* What one probe (a constant-rate run of `samples` samples) measured. */
typedef struct dp_tune_outcome {
    double p99_ms;
    double throughput;        /* samples/s */
    int64_t dropped, failed;
    double seconds;           /* wall time the probe took, set-up included: charged to the budget */
    double p99_ci95_ms[2];    /* the 95 % interval of p99 (dp_summary.latency_ci95_ms); NaN: unbounded */
} dp_tune_outcome;

/* Run `samples` samples of cfg at a constant `rate` and fill *out. Another status than DP_OK
 * ends the search with it (DP_ERR_UNSUPPORTED: the configuration is marked unsupported instead). */
typedef dp_status (*dp_tune_probe_fn)(const dp_tune_config *cfg, double rate, int64_t samples,
                                      dp_tune_outcome *out, void *user);
/* One probe as dp_tune() and `dp-bench capacity` both run it, so that they measure alike: src
 * (the probe's samples at their rate) run on runner; its p99 (and interval), throughput, dropped
 * and failed into *out, out->seconds the run's wall time. A run error is returned as is. */
DP_API dp_status dp_tune_probe_runner(dp_runner *runner, dp_source *src, dp_tune_outcome *out);
/* What dp_tune() does to a new runner of cfg before its first probe, so that the probe's first
 * samples do not pay for first touches: an unlimited stream of 4 x workers x max_batch + 8
 * samples of ds, measured by nothing. */
DP_API dp_status dp_tune_warm_up(dp_runner *runner, dp_dataset *ds, const dp_tune_config *cfg);

/* Service time in ms of one full micro-batch of `batch` samples on one worker of `threads`
 * threads at `precision`, and the wall *seconds the measurement took. DP_ERR_UNSUPPORTED marks
 * the configurations of that precision unsupported; another error ends the search. */
typedef dp_status (*dp_tune_service_fn)(int batch, int threads, dp_precision precision, double *ms,
                                        double *seconds, void *user);

/* Why a configuration was or was not measured (dp_tune_verdict_str() names it). */
typedef enum dp_tune_verdict {
    DP_TUNE_MEASURED = 0,       /* its capacity was searched */
    DP_TUNE_BELOW_BEST = 1,     /* failed its first probe, just above the best capacity so far */
    DP_TUNE_PRUNED_SLO = 2,     /* one full micro-batch on one worker already takes longer than the SLO */
    DP_TUNE_PRUNED_CORES = 3,   /* workers x threads above the cores (allow with oversubscribe) */
    DP_TUNE_PRUNED_BOUND = 4,   /* even workers x batch / service time is below the best capacity */
    DP_TUNE_PRUNED_SAME = 5,    /* equivalent to another configuration (one worker: any strategy;
                                   max_batch 1: any delay) */
    DP_TUNE_UNSUPPORTED = 6,    /* its precision does not run here */
    DP_TUNE_NOT_REACHED = 7,    /* the budget ran out first */
    DP_TUNE_FAILS_START = 8,    /* passed at the best capacity so far but failed at start_rate: it does
                                   not sustain the low rates (docs/tune.md) */
} dp_tune_verdict;

DP_API const char *dp_tune_verdict_str(dp_tune_verdict v);

/* A configuration after the search. */
typedef struct dp_tune_candidate {
    dp_tune_config config;
    dp_tune_verdict verdict;
    double service_ms;        /* of one full micro-batch; 0 when not measured */
    double bound;             /* workers x max_batch / service time, samples/s; 0 when not measured */
    double capacity;          /* highest rate it sustains: a probe passed there, every probe of it at a
                                 lower rate passed, one of them at or below start_rate (0: none) */
    double failed_rate;       /* lowest rate a probe of it failed at (0: none) */
} dp_tune_candidate;

typedef enum dp_tune_phase { DP_TUNE_COARSE = 0, DP_TUNE_FINE = 1, DP_TUNE_CONFIRM = 2 } dp_tune_phase;

/* One probe as it ran. */
typedef struct dp_tune_probe {
    int candidate;            /* index into dp_tune_result.candidates */
    dp_tune_phase phase;
    double rate;
    int64_t samples;
    dp_tune_outcome outcome;
    int ok;                   /* p99 <= SLO, nothing dropped, nothing failed */
} dp_tune_probe;

/* Called after every probe: the probe, its number k (1-based), an estimate of the total probes,
 * the seconds charged so far and the budget. */
typedef void (*dp_tune_progress_fn)(const dp_tune_probe *probe, const dp_tune_config *cfg, int k, int planned,
                                    double used_s, double budget_s, void *user);

typedef struct dp_tune_opts {
    size_t size;                    /* set by dp_tune_opts_init() */
    double slo_p99_ms;              /* > 0; default 10 */
    double budget_s;                /* > 0; default 120 */
    /* The search space: lists (copied values, not owned), NULL/0 for the default. */
    const int *workers;             /* default 1..cores */
    int num_workers;
    const int *threads;             /* default 1..cores */
    int num_threads;
    const int *max_batch;           /* default 1, 2, 4, 8, 16 */
    int num_max_batch;
    const int64_t *max_delay_us;    /* default 0, 500, 2000 */
    int num_max_delay_us;
    const char *const *strategies;  /* partitioner names; default "dynamic" */
    int num_strategies;
    const dp_precision *precisions; /* default fp32 */
    int num_precisions;
    int cores;                      /* 0: the online CPUs */
    int oversubscribe;              /* search workers x threads > cores too; default 0 */
    /* Probes: samples = max(rate x probe_seconds, min_samples). */
    double confidence;              /* default 0.95 */
    int64_t min_samples;            /* 0: what a bounded p99 needs at `confidence` (368 at 0.95) */
    double probe_seconds;           /* default 1: a probe of 368 samples at 10^4/s would last 37 ms, too
                                       short for a queue to show whether it keeps up */
    double start_rate;              /* > 0; where a capacity search starts, and the rate every configuration
                                       is also probed at before a higher one counts; default 100 */
    double max_rate;                /* highest rate probed; default 1e6 */
    double coarse_tolerance;        /* bisect each configuration to this relative width; default 0.10 */
    double fine_tolerance;          /* then the best few to this; default 0.02 */
    int refine;                     /* how many best configurations the fine phase bisects; default 3 */
    int confirm;                    /* repeat the best's probe before reporting it; default 1 */
    int max_probes;                 /* stop after this many probes; default 1000 */
    int shrink;                     /* a search whose first probe fails halves the rate at most this many
                                       times; default 6 */
    dp_tune_progress_fn on_probe;   /* optional */
    void *on_probe_user;
    /* dp_tune() only: sinks attached to every probe's runner (borrowed), e.g. a dashboard. */
    dp_sink *const *sinks;
    int num_sinks;
} dp_tune_opts;

DP_API void dp_tune_opts_init_sized(dp_tune_opts *opts, size_t size);
#define dp_tune_opts_init(opts) DP_SIZED_INIT(dp_tune_opts_init, opts)

typedef struct dp_tune_result dp_tune_result;

/* The search: every configuration of opts' space, pruned and probed through probe and service
 * (service may be NULL: nothing is pruned by service time). *out is the result even when the
 * budget ran out (then the best so far); free with dp_tune_result_free(). DP_ERR_INVALID_ARG for
 * bad options (message names the field). */
DP_API dp_status dp_tune_search(const dp_tune_opts *opts, dp_tune_probe_fn probe, dp_tune_service_fn service,
                                void *user, dp_tune_result **out);

/* The search with real runs: `arch` loaded (weights, model opts; precision is the search's) once
 * per precision, every probe a stream of ds at a constant rate on a runner of its configuration,
 * every service time measured once per (max_batch, threads, precision) on one execution context. */
DP_API dp_status dp_tune(const char *arch, const char *weights, const dp_model_opts *model_opts, dp_dataset *ds,
                         const dp_tune_opts *opts, dp_tune_result **out);

DP_API void dp_tune_result_free(dp_tune_result *r);

/* The best configuration's capacity (samples/s), its configuration into *best and whether the
 * probe repeating it at that rate passed into *confirmed (either may be NULL); 0 when no
 * configuration met the SLO at any probed rate (then *best is unset). */
DP_API double dp_tune_best(const dp_tune_result *r, dp_tune_config *best, int *confirmed);
DP_API int dp_tune_num_candidates(const dp_tune_result *r);
DP_API const dp_tune_candidate *dp_tune_candidates(const dp_tune_result *r);
DP_API int dp_tune_num_probes(const dp_tune_result *r);
DP_API const dp_tune_probe *dp_tune_probes(const dp_tune_result *r);
/* Seconds charged (probes and service measurements) and whether the budget ran out. */
DP_API double dp_tune_seconds(const dp_tune_result *r, int *budget_exhausted);

/* The result as JSON (docs/tune.md): like snprintf, the length it needs (without the NUL). */
DP_API size_t dp_tune_result_to_json(const dp_tune_result *r, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
