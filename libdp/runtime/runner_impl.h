/* What a dp_runner is: the configuration dp_runner_create() fixed, the workers, and the state of
 * the current run (dpi_run, cleared in one call by dpi_run_reset()).
 *
 * A runner is a grid of R replicas x S stages. A stage is a contiguous range of the model's
 * layers; a replica is one chain of stages; a worker is the thread running one stage of one
 * replica. By default every replica is one stage holding the whole model (S = 1: data
 * parallelism, worker k is replica k); dp_runner_set_stages() (pipeline.c) makes S > 1. A sample's path goes one way through these files:
 *
 *   pull.c | push.c | batch.c   how samples enter: a source, dp_runner_submit(), a data set
 *   route.c                     the partitioner picks a replica; the overflow policy of its queue
 *   queue.c                     the replica's bounded sample queue
 *   stage.c                     a worker takes a micro-batch, runs its stage, hands the result on
 *   pipeline.c                  (S > 1) the hand-over to the replica's next stage
 *   complete.c                  results: on_result, counters, the record rings
 *   ring.c                      records to the metrics thread (a full ring drops, never waits)
 *   metrics_thread.c            the only caller of sinks: records, interval rows, the summary
 *   summary.c, summary_json.c   the run's summary
 * and around it: runner.c (options, create/free, sinks), run.c (a run's begin and end),
 * signal.c (SIGINT/SIGTERM), fault.c (injected faults), worker_local.c / worker_plugin.c (the
 * backends behind worker.h).
 * docs/architecture.md draws the same map.
 */
#ifndef DP_RUNTIME_RUNNER_IMPL_H
#define DP_RUNTIME_RUNNER_IMPL_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#include "dataparallel/runner.h"
#include "dataparallel/sink.h"
#include "metrics/hist.h"
#include "queue.h"
#include "ring.h"
#include "util/util.h"
#include "worker.h"

typedef enum dpi_state { DPI_IDLE = 0, DPI_RUNNING = 1, DPI_PUSH = 2 } dpi_state;
typedef enum dpi_mode { DPI_MODE_BATCH = 0, DPI_MODE_PULL = 1, DPI_MODE_PUSH = 2 } dpi_mode;

/* The first failure of some kind in a run, with its message (later calls on the same thread
 * overwrite dp_last_error(), so it is copied when it happens). */
typedef struct dpi_failure {
    dp_status status;
    char msg[256];
} dpi_failure;

/* Keep s and the thread's dp_last_error() unless a failure is already kept. Returns s. */
dp_status dpi_failure_note(dpi_failure *f, dp_status s);

/* What a worker counts, written by it with relaxed atomics and read by the metrics thread and
 * the summary. `completed` is published last (release) so drain() sees the callbacks done. */
typedef struct dpi_counters {
    atomic_llong offered;      /* batch mode: samples this worker took */
    atomic_llong completed, failed, samples_run, batches, busy_ns, labelled, correct;
    atomic_llong nonfinite;    /* samples whose input held NaN or infinity */
    atomic_llong bytes_sent;   /* a pipeline stage: activation bytes handed to the next stage */
    atomic_llong last_end_ns;
    /* Warm-up (opts.warmup_s, warmup_samples): its completed samples, and the earliest intended
     * arrival of the others (0: none yet), the start of the measured part for the throughput. */
    atomic_llong warmup_completed, first_measured_ns;
} dpi_counters;

/* The samples a worker took and the buffers it runs them in (sized for max_batch, allocated per
 * run). A pipeline hands these from stage to stage. */
typedef struct dpi_microbatch {
    dpi_slot *slots;
    float *input;            /* max_batch * sample_floats */
    float *logits;           /* max_batch * num_classes */
    int *top1;
    int32_t *labels;
} dpi_microbatch;

typedef struct dpi_worker dpi_worker;

/* A worker's part of the current run, zeroed by dpi_run_reset(). */
typedef struct dpi_worker_run {
    pthread_t thread;
    int started;
    void *ctx;               /* the backend's per-thread context */
    dp_status init_status;
    dpi_queue *in;           /* where it takes samples from (stream, push); NULL in batch mode */
    struct dpi_link *from, *to;  /* hand-overs from the stage before / to the next (pipeline.c) */
    struct dpi_handoff *held;    /* the hand-over this worker is running (taken from `from`) */
    struct dpi_clock *clock;     /* its replica's in-flight clock (pipeline.h); NULL when S == 1 */
    dpi_microbatch mb;
    dpi_ring ring;           /* its records for the sinks (only when sinks are attached) */
    int64_t profile_ns;      /* batch mode speed profile: cost per sample */
    dpi_failure profile;     /* ... or why it could not be measured */
    dp_status first_failure; /* first failed sample on this worker (logged at the end) */
    dpi_failure part;        /* batch mode: the partitioner refused this worker's next range */
    int64_t range_next, range_end;  /* batch mode: what is left of its current range */
    int past_split;          /* batch mode: passed gate 2 (the data set is split) */
    double slowdown;         /* its slowdown now: dpi_worker.slowdown x an injected factor */
    int64_t fault_next_ns;   /* when its next injected event is due (fault.c); INT64_MAX: none */
    int fault_next, fault_end;   /* its events left: r->faults[fault_next .. fault_end) */
    int64_t fault_fail_left; /* micro-batches a fail event still fails */
    struct dp_fault_report *failing; /* that event, or the stop event once it left */
    atomic_int left;         /* a stop event took it out of the run; producers read it in dpi_route */
    int64_t stall_ns;        /* a stall event for a backend with remote_fx to apply */
    _Alignas(DPI_CACHELINE) dpi_counters c;
} dpi_worker_run;

struct dpi_worker {
    _Alignas(DPI_CACHELINE) dp_runner *r;
    int index;               /* the worker id of results and per_worker[] */
    int replica, stage;      /* its place in the grid */
    double slowdown;
    dpi_hist *hist;          /* latency of its completed samples; only it writes */
    dpi_hist *phase_hist;    /* DP_PHASES: the parts of that latency (dp_result_phases()) */
    dpi_hist *warmup_hist;   /* latency of its completed warm-up samples (opts.warmup_s, warmup_samples) */
    dpi_worker_run run;
};

/* The current run: everything here starts at zero (dpi_run_reset()). */
typedef struct dpi_run {
    dpi_mode mode;
    dp_run_info info;        /* info.start_ns == t_start: the one time base of sinks and summary */
    dp_dataset *ds;          /* batch and pull mode */
    int c, h, w;
    size_t sample_floats;
    int shared;              /* stream and push: one queue for every replica */
    int profile;             /* batch: measure the workers' speeds before splitting */
    int (*take)(dpi_worker *w);  /* how a worker gets its next micro-batch (0: no more) */
    atomic_int stop;         /* dp_runner_stop(), a signal or a sink: stop feeding */
    atomic_int abort;        /* a worker could not start: every worker leaves */
    atomic_int signal;       /* the signal that stopped the run (0: none) */
    int ready, gate;         /* workers at the gate / gates opened (runner's gate_mu) */
    _Atomic(dp_source *) src;
    atomic_llong offered, dropped_newest, dropped_oldest, failed_route;
    atomic_llong t_first_emit, t_last_emit;
    int64_t t_start, t_end;
    int64_t warmup_end_ns;   /* samples intended before this are warm-up (0: no warmup_s) */
    double cpu_start;
    atomic_int inflight;     /* push mode: submits between their check and their enqueue */
    atomic_int accepting;
    dpi_failure error;       /* the first source or routing failure */
    dpi_ring producer_ring;  /* drops and routing failures, from any producer thread */
    int records;             /* records go to the metrics thread: sinks attached or events scheduled */
    struct dpi_metrics *metrics;  /* the metrics thread's state (sinks attached) */
} dpi_run;

/* The signal handlers a run replaced (signal.c). */
typedef struct dpi_signals {
    struct sigaction old_int, old_term;
    int installed;
} dpi_signals;

struct dp_runner {
    dp_runner_opts opts;     /* as checked; slowdown points at this->slowdown */
    double *slowdown;        /* `workers` factors */
    const dp_model *model;
    dp_partitioner *partitioner;
    int workers, num_classes;
    int replicas, stages;    /* workers == replicas * stages */
    struct dpi_pipeline *pipe;   /* stage models and hand-overs when stages > 1 (pipeline.c) */
    struct dp_fault_report *faults;  /* injected events sorted by (worker, at_s) (fault.c) */
    int num_faults, cap_faults;

    const dpi_worker_ops *ops;
    void *backend;
    void *dl_handle;
    int is_server;
    dpi_worker_config wcfg;

    dp_sink **sinks;
    int num_sinks;

    dpi_worker *w;           /* `workers` entries */
    dpi_queue *queues;       /* one per replica + the shared one */
    dp_worker_summary *ws;   /* the summary's per_worker[], owned here */
    dp_stage_summary *ss;    /* the summary's per_stage[], owned here */
    double *scratch;         /* `workers` doubles for the straggler medians */
    dpi_hist *merged;        /* the summary's merge of the workers' histograms */
    dp_breakdown_ms *wb;     /* the summary's per_worker_breakdown_ms[], owned here */
    dpi_hist *phase_merged;  /* scratch: one part's histograms merged over the workers */

    atomic_int state;        /* dpi_state */
    pthread_mutex_t ctl_mu;  /* serialises dp_runner_stop() with a run's start and end */
    pthread_mutex_t gate_mu;
    pthread_cond_t gate_cv;
    pthread_t metrics_thread;
    dpi_signals sig;
    dpi_run run;
};

#endif
