/* The runner's metrics thread: the only caller of sinks. It drains the workers' record rings
 * (and the producers' ring of drops), feeds per-sample records to sinks that want them, builds
 * an interval row every interval_ms, and ends with a final interval and the summary. A sink
 * whose on_interval is slow loses rows (counted here, per sink, and shown to it in
 * dp_interval.sink_rows_dropped); the workers never wait for it. */
#include "metrics_thread.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fault_report.h"
#include "metrics/sink_impl.h"
#include "pipeline.h"

/* Bounds of the cumulative latency buckets interval rows carry (1-2-5 steps, 0.5 ms .. 10 s):
 * fine where a real-time service lives (a few ms) and wide enough to show overload. */
static const double latency_le_s[] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10};
#define LATENCY_BUCKETS ((int)(sizeof latency_le_s / sizeof latency_le_s[0]))

/* Everything the thread keeps during a run (allocated at its start, freed at its end). */
typedef struct dpi_metrics {
    dp_runner *r;
    int *depth;              /* per worker: its replica's queue depth at a first stage, else 0 */
    int64_t *completed;      /* per worker cumulative */
    dp_stage_summary *stage_rows;  /* per worker: the interval row's pipeline metrics */
    double *busy_s;          /* per worker cumulative */
    int64_t *hwm;            /* per worker: dpi_worker_queue_hwm so far */
    int64_t *skip;           /* per sink: rows still to skip after a slow on_interval */
    int64_t *rows_dropped;   /* per sink: rows it missed this run */
    dpi_hist *interval_hist; /* latencies completed during the current interval */
    dpi_hist *run_hist;      /* ... and during the whole run, for the cumulative buckets */
    dpi_hist *phase_hist;    /* DP_PHASES: the parts of those latencies, during the whole run */
    int64_t le_ns[LATENCY_BUCKETS];
    uint64_t count_le[LATENCY_BUCKETS];
    uint64_t phase_count_le[DP_PHASES * LATENCY_BUCKETS];
    double phase_sum_s[DP_PHASES];
    int64_t t_prev, completed_prev;
    double cpu_prev;
    atomic_int started;      /* every on_start has run */
    atomic_int done;         /* the run is over: drain, final row, summary, exit */
    const dp_summary *final_summary;
    dpi_fault_track *faults; /* what followed each injected event (NULL: none) */
} dpi_metrics;

static void metrics_free(dpi_metrics *m) {
    if (!m) return;
    dpi_fault_track_free(m->faults);
    free(m->depth);
    free(m->completed);
    free(m->stage_rows);
    free(m->busy_s);
    free(m->hwm);
    free(m->skip);
    free(m->rows_dropped);
    dpi_free_aligned(m->interval_hist);
    dpi_free_aligned(m->run_hist);
    dpi_free_aligned(m->phase_hist);
    free(m);
}

static dpi_metrics *metrics_new(dp_runner *r) {
    dpi_metrics *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->r = r;
    m->depth = calloc((size_t)r->workers, sizeof *m->depth);
    m->completed = calloc((size_t)r->workers, sizeof *m->completed);
    m->stage_rows = calloc((size_t)r->workers, sizeof *m->stage_rows);
    m->busy_s = calloc((size_t)r->workers, sizeof *m->busy_s);
    m->hwm = calloc((size_t)r->workers, sizeof *m->hwm);
    m->skip = calloc((size_t)r->num_sinks, sizeof *m->skip);
    m->rows_dropped = calloc((size_t)r->num_sinks, sizeof *m->rows_dropped);
    m->interval_hist = dpi_alloc_aligned(sizeof *m->interval_hist, DPI_CACHELINE);
    m->run_hist = dpi_alloc_aligned(sizeof *m->run_hist, DPI_CACHELINE);
    m->phase_hist = dpi_alloc_aligned(DP_PHASES * sizeof *m->phase_hist, DPI_CACHELINE);
    if (!m->depth || !m->completed || !m->stage_rows || !m->busy_s || !m->hwm || !m->skip || !m->rows_dropped ||
        !m->interval_hist || !m->run_hist || !m->phase_hist) {
        metrics_free(m);
        return NULL;
    }
    dpi_hist_reset(m->interval_hist);
    dpi_hist_reset(m->run_hist);
    for (int p = 0; p < DP_PHASES; p++) dpi_hist_reset(&m->phase_hist[p]);
    m->faults = dpi_fault_track_new(r);
    for (int b = 0; b < LATENCY_BUCKETS; b++) m->le_ns[b] = (int64_t)(latency_le_s[b] * 1e9 + 0.5);
    atomic_init(&m->started, 0);
    atomic_init(&m->done, 0);
    return m;
}

static void drain_ring(dpi_metrics *m, dpi_ring *ring, int want_records) {
    dp_runner *r = m->r;
    dp_result *res;
    while ((res = dpi_ring_peek(ring)) != NULL) {
        if (res->status == DP_OK) {
            int64_t part[DP_PHASES];
            dp_result_phases(res, part);
            for (int p = 0; p < DP_PHASES; p++) dpi_hist_record(&m->phase_hist[p], part[p]);
            dpi_hist_record(m->interval_hist, res->delivered_ns - res->intended_ns);
        }
        dpi_fault_track_record(m->faults, res);
        if (want_records)
            for (int i = 0; i < r->num_sinks; i++) dpi_sink_record(r->sinks[i], res);
        dpi_ring_release(ring);
    }
}

static void drain(dpi_metrics *m) {
    dp_runner *r = m->r;
    int want = 0;
    for (int i = 0; i < r->num_sinks; i++) want |= dpi_sink_wants_records(r->sinks[i]);
    for (int k = 0; k < r->workers; k++) drain_ring(m, &r->w[k].run.ring, want);
    drain_ring(m, &r->run.producer_ring, want);
}

static void emit_interval(dpi_metrics *m, int64_t now) {
    dp_runner *r = m->r;
    dpi_run *run = &r->run;
    dp_interval iv;
    memset(&iv, 0, sizeof iv);
    iv.t_s = (double)(now - run->info.start_ns) * 1e-9;
    int64_t completed = 0, failed = atomic_load(&run->failed_route), offered = 0;
    for (int k = 0; k < r->workers; k++) {
        dpi_counters *c = &r->w[k].run.c;
        m->completed[k] = atomic_load_explicit(&c->completed, memory_order_relaxed);
        completed += m->completed[k];
        failed += atomic_load_explicit(&c->failed, memory_order_relaxed);
        offered += atomic_load_explicit(&c->offered, memory_order_relaxed);
    }
    int total_depth = 0;
    for (int k = 0; k <= r->replicas; k++) {
        const dpi_queue *q = &r->queues[k];
        total_depth += dpi_queue_in_use(q) ? atomic_load_explicit(&q->depth, memory_order_relaxed) : 0;
    }
    /* The row is per worker (sink.h); a replica's queue feeds the worker of its first stage. */
    for (int k = 0; k < r->workers; k++) {
        const dpi_queue *q = &r->queues[r->w[k].replica];
        m->depth[k] = r->w[k].stage == 0 && dpi_queue_in_use(q) ? atomic_load_explicit(&q->depth, memory_order_relaxed) : 0;
        m->hwm[k] = dpi_worker_queue_hwm(&r->w[k]);
    }
    iv.offered = run->mode == DPI_MODE_BATCH ? offered : atomic_load(&run->offered);
    iv.completed = completed;
    iv.failed = failed;
    iv.dropped_newest = atomic_load(&run->dropped_newest);
    iv.dropped_oldest = atomic_load(&run->dropped_oldest);
    iv.dropped = iv.dropped_newest + iv.dropped_oldest;
    double dt = (double)(now - m->t_prev) * 1e-9;
    iv.throughput = dt > 0 ? (double)(completed - m->completed_prev) / dt : 0;
    dpi_fault_track_interval(m->faults, now, completed, iv.offered);
    dpi_hist_latency_ms(m->interval_hist, &iv.latency_ms);
    dpi_hist_merge(m->run_hist, m->interval_hist);
    dpi_hist_count_le(m->run_hist, m->le_ns, LATENCY_BUCKETS, m->count_le);
    iv.latency_buckets = LATENCY_BUCKETS;
    iv.latency_le_s = latency_le_s;
    iv.latency_count_le = m->count_le;
    iv.latency_count = m->run_hist->count;
    iv.latency_sum_s = m->run_hist->sum * 1e-9;
    for (int p = 0; p < DP_PHASES; p++) {
        dpi_hist_count_le(&m->phase_hist[p], m->le_ns, LATENCY_BUCKETS, &m->phase_count_le[p * LATENCY_BUCKETS]);
        m->phase_sum_s[p] = m->phase_hist[p].sum * 1e-9;
    }
    iv.phase_count_le = m->phase_count_le;
    iv.phase_sum_s = m->phase_sum_s;
    iv.queue_depth = total_depth;
    iv.worker_queue_depth = m->depth;
    iv.worker_completed = m->completed;
    iv.workers = r->workers;
    iv.stages = r->stages;
    iv.bubble_pct = dpi_pipeline_rows(r, now, m->stage_rows, m->busy_s);
    iv.per_stage = m->stage_rows;
    iv.worker_busy_s = m->busy_s;
    iv.worker_queue_hwm = m->hwm;
    double cpu = dpi_process_cpu_s();
    iv.cpu_pct = dt > 0 ? 100.0 * (cpu - m->cpu_prev) / dt : 0;
    iv.rss_mb = dpi_current_rss_mb();
    int64_t interval_ns = (int64_t)r->opts.interval_ms * 1000000;
    for (int i = 0; i < r->num_sinks; i++) {
        if (m->skip[i] > 0) {
            m->skip[i]--;
            m->rows_dropped[i]++;
            continue;
        }
        iv.sink_rows_dropped = m->rows_dropped[i];
        int64_t t0 = dpi_now_ns();
        dpi_sink_interval(r->sinks[i], &iv);
        int64_t took = dpi_now_ns() - t0;
        /* A sink slower than the interval skips the rows it would have blocked. */
        if (took > interval_ns) m->skip[i] = took / interval_ns;
    }
    dpi_hist_reset(m->interval_hist);
    m->t_prev = now;
    m->completed_prev = completed;
    m->cpu_prev = cpu;
}

static void *metrics_main(void *arg) {
    dpi_metrics *m = arg;
    dp_runner *r = m->r;
    int64_t interval_ns = (int64_t)r->opts.interval_ms * 1000000;
    int64_t next = r->run.info.start_ns + interval_ns;
    /* Wake for the next interval row, and at least every 10 ms to drain the rings (they hold
     * >= 1024 records per worker). Waking every 1 ms took CPU from the workers on a small machine
     * (docs/performance.md, "Sinks overhead"). */
    const int64_t max_nap_ns = 10000000;
    for (int i = 0; i < r->num_sinks; i++) dpi_sink_start(r->sinks[i], &r->run.info);
    m->t_prev = dpi_now_ns();
    m->cpu_prev = dpi_process_cpu_s();
    atomic_store(&m->started, 1);
    for (;;) {
        int done = atomic_load(&m->done);
        drain(m);
        int64_t now = dpi_now_ns();
        if (done) break;
        if (now >= next) {
            emit_interval(m, now);
            next += interval_ns;
            if (now >= next) {
                /* The thread fell a whole interval behind (a slow sink): those rows are lost. */
                int64_t missed = (now - next) / interval_ns + 1;
                for (int i = 0; i < r->num_sinks; i++) m->rows_dropped[i] += missed;
                next += missed * interval_ns;
            }
        }
        int64_t nap_ns = next - dpi_now_ns();
        if (nap_ns > max_nap_ns) nap_ns = max_nap_ns;
        if (nap_ns > 0) {
            struct timespec nap = {0, (long)nap_ns};
            nanosleep(&nap, NULL);
        }
    }
    int64_t end = dpi_now_ns();
    emit_interval(m, end);
    /* Before the sinks see the summary: its events point at these reports. */
    dpi_fault_track_finish(m->faults, end);
    for (int i = 0; i < r->num_sinks; i++) dpi_sink_summary(r->sinks[i], &r->run.info, m->final_summary);
    return NULL;
}

dp_status dpi_metrics_start(dp_runner *r) {
    if (!r->run.records) return DP_OK;
    dpi_metrics *m = metrics_new(r);
    if (!m) return dpi_error(DP_ERR_NOMEM, "runner: out of memory for the metrics thread");
    int rc = pthread_create(&r->metrics_thread, NULL, metrics_main, m);
    if (rc != 0) {
        metrics_free(m);
        return dpi_error(DP_ERR_INTERNAL, "runner: cannot start the metrics thread (error %d)", rc);
    }
    r->run.metrics = m;
    /* on_start must have run before the first sample is offered: the caller opens the gate
     * only after this returns. */
    const struct timespec nap = {0, 50000};
    while (!atomic_load(&m->started)) nanosleep(&nap, NULL);
    return DP_OK;
}

void dpi_metrics_finish(dp_runner *r, const dp_summary *summary) {
    dpi_metrics *m = r->run.metrics;
    if (!m) return;
    m->final_summary = summary;
    atomic_store(&m->done, 1);
    pthread_join(r->metrics_thread, NULL);
    metrics_free(m);
    r->run.metrics = NULL;
}
