/* What a dp_runner is, and the pieces its files share: sample queues, record rings, per-worker
 * state, the metrics thread. See docs/runner.md for the design. */
#ifndef DP_RUNTIME_RUNNER_IMPL_H
#define DP_RUNTIME_RUNNER_IMPL_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#include "dataparallel/runner.h"
#include "dataparallel/sink.h"
#include "metrics/hist.h"
#include "util/util.h"
#include "worker.h"

/* ---- sample queues (queue.c) ----------------------------------------------------------------- */

/* One queued sample. In pull mode the payload is read from the data set by the worker after the
 * pop (has_data 0); in push mode it was copied into the queue's slot storage by submit. */
typedef struct dpi_slot {
    int64_t sample_id;
    int64_t index;           /* data-set index (pull, batch); sample_id in push mode */
    int64_t intended_ns;
    void *ctx;               /* push mode sample_ctx */
} dpi_slot;

/* A bounded FIFO of slots guarded by its own mutex (held only to move slots, never during
 * inference). Per worker, or one shared by all workers for `dynamic`. */
typedef struct dpi_queue {
    _Alignas(DPI_CACHELINE) pthread_mutex_t mu;
    pthread_cond_t not_empty, not_full;
    dpi_slot *slots;
    float *data;             /* cap * sample_floats, push mode only */
    size_t sample_floats;
    int cap, head, count, hwm, closed;
    atomic_int depth;        /* == count, readable without the lock */
} dpi_queue;

typedef enum dpi_push_result { DPI_PUSHED = 0, DPI_DROPPED_NEWEST = 1, DPI_DROPPED_OLDEST = 2 } dpi_push_result;

dp_status dpi_queue_init(dpi_queue *q, int cap, size_t sample_floats);
void dpi_queue_destroy(dpi_queue *q);
/* Enqueue s (and its payload, when the queue stores payloads). On overflow: BLOCK waits for
 * room; DROP_NEWEST leaves the queue alone; DROP_OLDEST evicts the head into *evicted. */
dpi_push_result dpi_queue_push(dpi_queue *q, const dpi_slot *s, const float *data, dp_overflow policy,
                               dpi_slot *evicted);
/* Up to max slots (payloads into data, rows of sample_floats, when stored). Blocks until at
 * least one is there; then waits up to max_delay_ns for the batch to fill. 0: closed and empty. */
int dpi_queue_pop(dpi_queue *q, dpi_slot *out, float *data, int max, int64_t max_delay_ns);
/* No more pushes: wakes every waiter; pops drain what is left, then return 0. */
void dpi_queue_close(dpi_queue *q);

/* ---- record rings: worker -> metrics thread, single producer single consumer --------------- */

typedef struct dpi_ring {
    _Alignas(DPI_CACHELINE) atomic_size_t head;   /* consumer position */
    _Alignas(DPI_CACHELINE) atomic_size_t tail;   /* producer position */
    _Alignas(DPI_CACHELINE) size_t mask;
    size_t stride;           /* bytes per entry: a dp_result, then num_classes floats if logits */
    int num_classes;         /* logits carried per entry (0: none) */
    unsigned char *buf;
    int64_t full_waits;      /* producer had to wait (a sink's on_record is slower than the workers) */
} dpi_ring;

dp_status dpi_ring_init(dpi_ring *r, size_t entries, int num_classes);
void dpi_ring_destroy(dpi_ring *r);
/* Producer. Never drops: waits (yielding) while the ring is full. */
void dpi_ring_push(dpi_ring *r, const dp_result *res, const float *logits);
/* Consumer: the oldest entry (its logits pointer fixed up), or NULL when empty; release it with
 * dpi_ring_release() after use. */
dp_result *dpi_ring_peek(dpi_ring *r);
void dpi_ring_release(dpi_ring *r);

/* ---- the runner ---------------------------------------------------------------------------- */

enum { DPI_IDLE = 0, DPI_RUNNING = 1, DPI_PUSH = 2 };
enum { DPI_BATCH = 0, DPI_PULL = 1, DPI_PUSHED_IN = 2 };

typedef struct dpi_worker dpi_worker;

typedef struct dpi_counters {
    atomic_llong offered, completed, failed, samples_run, batches, busy_ns, labelled, correct, last_end_ns;
} dpi_counters;

struct dpi_worker {
    _Alignas(DPI_CACHELINE) dp_runner *r;
    int index;
    pthread_t thread;
    int started;
    void *ctx;               /* the worker backend's per-thread context */
    dp_status init_status;
    double slowdown;
    dpi_queue *q;            /* its own queue, or the shared one */
    float *input;            /* max_batch * sample_floats */
    float *logits;           /* max_batch * num_classes */
    int *top1;
    int32_t *labels;
    dpi_slot *batch;         /* max_batch */
    dpi_hist *hist;          /* latency of completed samples, written only by this worker */
    dpi_ring ring;           /* records for sinks (only when sinks are attached) */
    int64_t profile_ns;      /* batch mode weighted profiling: per-sample service time */
    dp_status run_error;     /* first failure of a sample on this worker (reported, not fatal) */
    dp_status part_error;    /* batch mode: the partitioner refused this worker's next range */
    char part_msg[256];
    _Alignas(DPI_CACHELINE) dpi_counters c;  /* written by the worker, read by the metrics thread */
};

struct dp_runner {
    dp_runner_opts opts;
    double *slowdown;
    const dp_model *model;
    dp_partitioner *partitioner;
    int workers, num_classes;

    /* worker backend */
    const dpi_worker_ops *ops;
    void *backend;
    void *dl_handle;
    int is_server;
    dpi_worker_config wcfg;

    dp_sink **sinks;
    int num_sinks;

    dpi_worker *w;           /* `workers` entries */
    dpi_queue *queues;       /* `workers` per-worker queues + 1 shared */
    int shared;              /* this run uses the shared queue */
    dp_worker_summary *ws;   /* summary per worker, owned here */

    /* the current run */
    atomic_int state;
    int kind;                /* DPI_BATCH, DPI_PULL, DPI_PUSHED_IN */
    dp_dataset *ds;          /* batch and pull mode */
    int c, h, wd;
    size_t sample_floats;
    atomic_int stop;         /* dp_runner_stop() / SIGINT */
    atomic_int abort_run;    /* a worker failed to start: everyone leaves */
    pthread_mutex_t ctl_mu;  /* serialises dp_runner_stop() with a run's start and end */
    _Atomic(dp_source *) src;
    pthread_mutex_t gate_mu;
    pthread_cond_t gate_cv;
    int ready, gate;         /* workers ready / gates opened */
    int profile;             /* batch mode: weighted needs a profiling pass */
    atomic_llong offered, dropped_newest, dropped_oldest, failed_route;
    atomic_llong t_first_emit, t_last_emit;
    int64_t t_start, t_end;
    double cpu_start;
    pthread_mutex_t route_mu;    /* push mode: route() is single-threaded by contract */
    pthread_mutex_t drop_mu;     /* producers' records (drops, routing failures) to the metrics thread */
    dpi_ring drop_ring;
    atomic_int inflight;         /* push mode: submits between their check and their enqueue */
    atomic_int accepting;
    dp_status route_error;
    char route_msg[256];            /* its message: later calls overwrite dp_last_error() */

    /* metrics thread */
    pthread_t metrics_thread;
    int metrics_started;
    atomic_int metrics_done;
    const dp_summary *final_summary;
    dp_run_info info;
    dpi_hist *interval_hist; /* metrics thread: latencies of the current interval */
    dpi_hist *merged;        /* the summary's merge of the workers' histograms */

    struct sigaction old_sigint;
    int sigint_installed;
};

/* runner.c */
/* A finished sample: opts.on_result (with its sample_ctx), then the worker's ring for sinks. */
void dpi_runner_deliver(dpi_worker *w, const dp_result *res, void *ctx);
/* A sample dropped or failed on a producer thread (source thread or submitter). */
void dpi_runner_deliver_producer(dp_runner *r, const dp_result *res, void *ctx);
dp_status dpi_check_summary(const dp_summary *summary, const char *fn);
void dpi_runner_sigint_install(dp_runner *r);
void dpi_runner_sigint_restore(dp_runner *r);
dp_status dpi_runner_begin(dp_runner *r, const char *mode, int c, int h, int w, int64_t expected,
                           double target_rate);
void dpi_runner_end(dp_runner *r, dp_summary *out, double target_rate);
dp_status dpi_runner_serve(dp_runner *r, dp_summary *summary);

/* run_stream.c: finish push mode (stop accepting, drain, join, summary). */
dp_status dpi_runner_push_finish(dp_runner *r, dp_summary *summary);

/* worker_loop.c */
void *dpi_worker_main(void *arg);
void dpi_worker_process(dpi_worker *w, int n, int read_dataset);
dp_status dpi_runner_start_workers(dp_runner *r, void *(*fn)(void *));
/* Workers count themselves ready before each gate; the run thread waits for n of them. */
void dpi_runner_wait_ready(dp_runner *r, int n);
void dpi_runner_open_gate(dp_runner *r, int gate);
int dpi_worker_wait_gate(dpi_worker *w, int gate);
void dpi_runner_join_workers(dp_runner *r);

/* metrics_thread.c */
dp_status dpi_metrics_start(dp_runner *r);
void dpi_metrics_finish(dp_runner *r, const dp_summary *summary);

#endif
