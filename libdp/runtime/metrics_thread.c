/* The runner's metrics thread: the only caller of sinks. It drains the workers' record rings
 * (and the producers' ring of drops), feeds per-sample records to sinks that want them, builds an
 * interval row every interval_ms, and ends with a final interval and the summary. A sink whose
 * on_interval is slow loses rows (counted in rows_dropped); the workers never wait for it. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics/sink_impl.h"
#include "runner_impl.h"

typedef struct metrics_state {
    dp_runner *r;
    int *depth;              /* per worker queue depth for the interval row */
    int64_t *completed;      /* per worker cumulative */
    int64_t *skip;           /* per sink: rows still to skip after a slow on_interval */
    int64_t t_prev, completed_prev;
    double cpu_prev;
    atomic_int started;      /* on_start has been called */
} metrics_state;

static int drain(dp_runner *r) {
    int any = 0, want = 0;
    for (int i = 0; i < r->num_sinks; i++) want |= dpi_sink_wants_records(r->sinks[i]);
    for (int k = 0; k <= r->workers; k++) {
        dpi_ring *ring = k < r->workers ? &r->w[k].ring : &r->drop_ring;
        dp_result *res;
        while ((res = dpi_ring_peek(ring)) != NULL) {
            any = 1;
            if (res->status == DP_OK) dpi_hist_record(r->interval_hist, res->end_ns - res->intended_ns);
            if (want)
                for (int i = 0; i < r->num_sinks; i++) dpi_sink_record(r->sinks[i], res);
            dpi_ring_release(ring);
        }
    }
    return any;
}

static void emit_interval(metrics_state *m, int64_t now) {
    dp_runner *r = m->r;
    dp_interval iv;
    memset(&iv, 0, sizeof iv);
    iv.t_s = (double)(now - r->info.start_ns) * 1e-9;
    int64_t completed = 0, failed = atomic_load(&r->failed_route), offered = 0;
    int total_depth = 0;
    for (int k = 0; k < r->workers; k++) {
        dpi_worker *w = &r->w[k];
        m->completed[k] = atomic_load_explicit(&w->c.completed, memory_order_relaxed);
        completed += m->completed[k];
        failed += atomic_load_explicit(&w->c.failed, memory_order_relaxed);
        offered += atomic_load_explicit(&w->c.offered, memory_order_relaxed);
        m->depth[k] = r->queues[k].slots ? atomic_load_explicit(&r->queues[k].depth, memory_order_relaxed) : 0;
        total_depth += m->depth[k];
    }
    if (r->shared && r->queues[r->workers].slots)
        total_depth += atomic_load_explicit(&r->queues[r->workers].depth, memory_order_relaxed);
    iv.offered = r->kind == DPI_BATCH ? offered : atomic_load(&r->offered);
    iv.completed = completed;
    iv.failed = failed;
    iv.dropped_newest = atomic_load(&r->dropped_newest);
    iv.dropped_oldest = atomic_load(&r->dropped_oldest);
    iv.dropped = iv.dropped_newest + iv.dropped_oldest;
    double dt = (double)(now - m->t_prev) * 1e-9;
    iv.throughput = dt > 0 ? (double)(completed - m->completed_prev) / dt : 0;
    dpi_hist_latency_ms(r->interval_hist, &iv.latency_ms);
    iv.queue_depth = total_depth;
    iv.worker_queue_depth = m->depth;
    iv.worker_completed = m->completed;
    iv.workers = r->workers;
    double cpu = dpi_process_cpu_s();
    iv.cpu_pct = dt > 0 ? 100.0 * (cpu - m->cpu_prev) / dt : 0;
    iv.rss_mb = dpi_current_rss_mb();
    int64_t interval_ns = (int64_t)r->opts.interval_ms * 1000000;
    for (int i = 0; i < r->num_sinks; i++) {
        dp_sink *s = r->sinks[i];
        if (m->skip[i] > 0) {
            m->skip[i]--;
            s->rows_dropped++;
            continue;
        }
        iv.sink_rows_dropped = s->rows_dropped;
        int64_t t0 = dpi_now_ns();
        dpi_sink_interval(s, &iv);
        int64_t took = dpi_now_ns() - t0;
        /* A sink slower than the interval skips the rows it would have blocked. */
        if (took > interval_ns) m->skip[i] = took / interval_ns;
    }
    dpi_hist_reset(r->interval_hist);
    m->t_prev = now;
    m->completed_prev = completed;
    m->cpu_prev = cpu;
}

static void *metrics_main(void *arg) {
    metrics_state *m = arg;
    dp_runner *r = m->r;
    int64_t interval_ns = (int64_t)r->opts.interval_ms * 1000000;
    int64_t next = r->info.start_ns + interval_ns;
    /* Wake for the next interval row, and at least every 10 ms to drain the rings (they hold
     * >= 1024 records per worker). Waking every 1 ms took CPU from the workers on a small machine
     * (docs/performance.md, "Sinks overhead"). */
    const int64_t max_nap_ns = 10000000;
    for (int i = 0; i < r->num_sinks; i++) {
        r->sinks[i]->rows_dropped = 0;
        dpi_sink_start(r->sinks[i], &r->info);
    }
    m->t_prev = dpi_now_ns();
    m->cpu_prev = dpi_process_cpu_s();
    atomic_store(&m->started, 1);
    for (;;) {
        int done = atomic_load(&r->metrics_done);
        drain(r);
        int64_t now = dpi_now_ns();
        if (done) break;
        if (now >= next) {
            emit_interval(m, now);
            next += interval_ns;
            if (now >= next) {
                /* The thread fell a whole interval behind (a slow sink): those rows are lost. */
                int64_t missed = (now - next) / interval_ns + 1;
                for (int i = 0; i < r->num_sinks; i++) r->sinks[i]->rows_dropped += missed;
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
    drain(r);
    emit_interval(m, dpi_now_ns());
    for (int i = 0; i < r->num_sinks; i++) dpi_sink_summary(r->sinks[i], &r->info, r->final_summary);
    free(m->depth);
    free(m->completed);
    free(m->skip);
    free(m);
    return NULL;
}

dp_status dpi_metrics_start(dp_runner *r) {
    if (!r->num_sinks) return DP_OK;
    metrics_state *m = calloc(1, sizeof *m);
    if (m) {
        m->depth = calloc((size_t)r->workers, sizeof *m->depth);
        m->completed = calloc((size_t)r->workers, sizeof *m->completed);
        m->skip = calloc((size_t)r->num_sinks, sizeof *m->skip);
    }
    if (!m || !m->depth || !m->completed || !m->skip) {
        if (m) {
            free(m->depth);
            free(m->completed);
            free(m->skip);
        }
        free(m);
        dpi_log(DP_LOG_WARN, "runner: out of memory for the metrics thread; sinks get nothing this run");
        return DP_ERR_NOMEM;
    }
    m->r = r;
    r->info.start_ns = dpi_now_ns();
    atomic_init(&m->started, 0);
    if (pthread_create(&r->metrics_thread, NULL, metrics_main, m) != 0) {
        free(m->depth);
        free(m->completed);
        free(m->skip);
        free(m);
        dpi_log(DP_LOG_WARN, "runner: cannot start the metrics thread; sinks get nothing more this run");
        return DP_ERR_INTERNAL;
    }
    r->metrics_started = 1;
    /* on_start must have run before the first sample is offered: the caller starts the source
     * only after this returns. */
    const struct timespec nap = {0, 50000};
    while (!atomic_load(&m->started)) nanosleep(&nap, NULL);
    return DP_OK;
}

void dpi_metrics_finish(dp_runner *r, const dp_summary *summary) {
    r->final_summary = summary;
    atomic_store(&r->metrics_done, 1);
    pthread_join(r->metrics_thread, NULL);
    r->metrics_started = 0;
}
