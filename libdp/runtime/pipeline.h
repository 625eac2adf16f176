/* Pipelines (pipeline.c): the stage models of a runner and, per run, the hand-overs between
 * consecutive stages of each replica. A hand-over is a pool of `depth` micro-batch buffers
 * (slots, labels, activations) cycling between two FIFOs: the writer takes a free buffer, runs
 * its stage into it and publishes it; the reader takes it, runs the next stage from it and gives
 * it back. Its mutex is held only to move an index, never during inference; nothing is
 * allocated after the run began. */
#ifndef DP_RUNTIME_PIPELINE_H
#define DP_RUNTIME_PIPELINE_H

#include "runner_impl.h"

typedef struct dpi_handoff {
    int n;
    dpi_slot *slots;         /* max_batch */
    int32_t *labels;         /* max_batch */
    float *act;              /* max_batch * the stage output's floats per sample */
} dpi_handoff;

/* A replica's in-flight clock (docs/pipeline.md, "Metrics"): how many of its micro-batches are
 * between its first stage taking them and their end, and the time the count was above zero,
 * accumulated lock-free: the 0 -> 1 transition subtracts its time, 1 -> 0 adds its. Each thread
 * reads the clock right after its own transition, so two adjacent transitions can overlap only
 * by the time between an atomic and the next instruction (a preemption there). */
typedef struct dpi_clock {
    _Alignas(DPI_CACHELINE) atomic_int inflight;
    atomic_llong acc_ns;
} dpi_clock;

static inline void dpi_clock_enter(dpi_clock *c) {
    if (atomic_fetch_add_explicit(&c->inflight, 1, memory_order_acq_rel) == 0)
        atomic_fetch_sub_explicit(&c->acc_ns, dpi_now_ns(), memory_order_relaxed);
}

static inline void dpi_clock_leave(dpi_clock *c) {
    if (atomic_fetch_sub_explicit(&c->inflight, 1, memory_order_acq_rel) == 1)
        atomic_fetch_add_explicit(&c->acc_ns, dpi_now_ns(), memory_order_relaxed);
}

typedef struct dpi_link {
    _Alignas(DPI_CACHELINE) pthread_mutex_t mu;
    pthread_cond_t cv;       /* a buffer was published, given back, or the link closed */
    int depth;
    dpi_handoff *bufs;
    int *full, *free;        /* FIFOs of buffer indices, `depth` each */
    int full_head, full_count, free_head, free_count;
    int closed;
    atomic_int count;        /* == full_count, readable without the lock (metrics) */
    atomic_int hwm;          /* the most full_count was; written under the lock, read without */
    int64_t sample_bytes;    /* activation bytes per sample it carries */
} dpi_link;

/* Per run: the links of every replica when stages > 1 (batch mode: DP_ERR_UNSUPPORTED). */
dp_status dpi_pipeline_begin(dp_runner *r);
void dpi_pipeline_end(dp_runner *r);
/* The runner's stage models (dp_runner_free). */
void dpi_pipeline_free(dp_runner *r);

/* Writer: a free buffer (waits for one). */
dpi_handoff *dpi_link_acquire(dpi_link *l);
/* Writer: hand h on; or give it back unused (its samples failed). */
void dpi_link_publish(dpi_link *l, dpi_handoff *h);
/* Reader: the oldest published buffer, NULL when the link is closed and empty. */
dpi_handoff *dpi_link_take(dpi_link *l);
/* Reader (or a writer not publishing): h is free again. */
void dpi_link_release(dpi_link *l, dpi_handoff *h);
/* Writer: no more buffers will be published. */
void dpi_link_close(dpi_link *l);

/* run.take of a stage after the first: the next hand-over from the stage before. */
int dpi_take_from_link(dpi_worker *w);
/* The high-water mark of what a worker waits on: its queue, or its incoming hand-over (any
 * thread, during a run too). */
int64_t dpi_worker_queue_hwm(const dpi_worker *w);

struct cJSON;
/* pipeline_metrics.c: the summary's grid, per_stage[] and bubble (workers joined, before
 * dpi_pipeline_end), and its "pipeline" JSON object. */
void dpi_pipeline_summary(dp_runner *r, dp_summary *S);
/* The `workers` rows of per_stage[] as of `now` from the workers' counters and clocks (any
 * thread, during a run too), with each worker's busy time into busy_s (may be NULL). Returns
 * the pipeline bubble %. */
double dpi_pipeline_rows(const dp_runner *r, int64_t now, dp_stage_summary *rows, double *busy_s);
void dpi_pipeline_json_fill(struct cJSON *o, const dp_summary *s);

#endif
