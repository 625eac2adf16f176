/* dp_runner: creation, the set-up and tear-down every run shares (workers, queues, rings,
 * metrics thread), result delivery, the summary, SIGINT and dp_runner_stop(). The three ways of
 * feeding it live in run_batch.c and run_stream.c; the worker thread in worker_loop.c. */
#include <dlfcn.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/sink_impl.h"
#include "runner_impl.h"

DP_API void dp_runner_opts_init(dp_runner_opts *opts) {
    if (!opts) return;
    memset(opts, 0, sizeof *opts);
    opts->size = sizeof *opts;
    opts->workers = 1;
    opts->threads_per_worker = 1;
    opts->max_batch = 1;
    opts->max_delay_us = 0;
    opts->queue_capacity = 1024;
    opts->overflow = DP_OVERFLOW_BLOCK;
    opts->backend = DP_RUNNER_THREADS;
    opts->straggler_factor = 1.5;
    opts->interval_ms = 1000;
    opts->worker_timeout_s = 10.0;
}

static dp_status check_opts(const dp_runner_opts *o) {
    if (o->workers < 1) return dpi_error(DP_ERR_INVALID_ARG, "runner: workers is %d, must be >= 1", o->workers);
    if (o->threads_per_worker < 1)
        return dpi_error(DP_ERR_INVALID_ARG, "runner: threads_per_worker is %d, must be >= 1", o->threads_per_worker);
    if (o->max_batch < 1) return dpi_error(DP_ERR_INVALID_ARG, "runner: max_batch is %d, must be >= 1", o->max_batch);
    if (o->max_delay_us < 0)
        return dpi_error(DP_ERR_INVALID_ARG, "runner: max_delay_us is %lld, must be >= 0", (long long)o->max_delay_us);
    if (o->queue_capacity < 1)
        return dpi_error(DP_ERR_INVALID_ARG, "runner: queue_capacity is %d, must be >= 1", o->queue_capacity);
    if (o->overflow < DP_OVERFLOW_BLOCK || o->overflow > DP_OVERFLOW_DROP_OLDEST)
        return dpi_error(DP_ERR_INVALID_ARG, "runner: unknown overflow policy %d", (int)o->overflow);
    if (o->backend != DP_RUNNER_THREADS && o->backend != DP_RUNNER_MPI)
        return dpi_error(DP_ERR_INVALID_ARG, "runner: unknown backend %d", (int)o->backend);
    if (o->num_slowdown < 0 || o->num_slowdown > o->workers || (o->num_slowdown > 0 && !o->slowdown))
        return dpi_error(DP_ERR_INVALID_ARG, "runner: %d slowdown factors for %d workers", o->num_slowdown, o->workers);
    for (int i = 0; i < o->num_slowdown; i++)
        if (!(o->slowdown[i] >= 1.0) || !isfinite(o->slowdown[i]))
            return dpi_error(DP_ERR_INVALID_ARG, "runner: slowdown[%d] is %g, must be a finite factor >= 1", i,
                             o->slowdown[i]);
    if (!(o->straggler_factor >= 1.0) || !isfinite(o->straggler_factor))
        return dpi_error(DP_ERR_INVALID_ARG, "runner: straggler_factor is %g, must be >= 1", o->straggler_factor);
    if (o->interval_ms < 1) return dpi_error(DP_ERR_INVALID_ARG, "runner: interval_ms is %d, must be >= 1", o->interval_ms);
    if (!(o->worker_timeout_s > 0) || !isfinite(o->worker_timeout_s))
        return dpi_error(DP_ERR_INVALID_ARG, "runner: worker_timeout_s is %g, must be > 0", o->worker_timeout_s);
    return DP_OK;
}

DP_API dp_status dp_runner_create(const dp_model *model, dp_partitioner *partitioner, const dp_runner_opts *opts,
                                  dp_runner **out) {
    if (!out) return dpi_error(DP_ERR_INVALID_ARG, "dp_runner_create: out is NULL");
    *out = NULL;
    if (!model) return dpi_error(DP_ERR_INVALID_ARG, "dp_runner_create: model is NULL");
    if (!partitioner) return dpi_error(DP_ERR_INVALID_ARG, "dp_runner_create: partitioner is NULL");
    dp_runner_opts o;
    dp_runner_opts_init(&o);
    if (opts) {
        if (opts->size < offsetof(dp_runner_opts, worker_timeout_s))
            return dpi_error(DP_ERR_INVALID_ARG, "dp_runner_create: opts->size is %zu; call dp_runner_opts_init()",
                             opts->size);
        memcpy(&o, opts, opts->size < sizeof o ? opts->size : sizeof o);
        o.size = sizeof o;
    }
    dp_status s = check_opts(&o);
    if (s != DP_OK) return s;

    dp_runner *r = calloc(1, sizeof *r);
    if (!r) return dpi_error(DP_ERR_NOMEM, "dp_runner_create: out of memory");
    r->opts = o;
    r->model = model;
    r->partitioner = partitioner;
    r->num_classes = dp_model_num_classes(model);
    pthread_mutex_init(&r->ctl_mu, NULL);
    pthread_mutex_init(&r->gate_mu, NULL);
    pthread_cond_init(&r->gate_cv, NULL);
    pthread_mutex_init(&r->route_mu, NULL);
    pthread_mutex_init(&r->drop_mu, NULL);

    if (o.backend == DP_RUNNER_MPI) {
        s = dpi_worker_load_plugin(&r->ops, &r->dl_handle);
        if (s != DP_OK) goto fail;
    } else {
        r->ops = &dpi_worker_local_ops;
    }
    r->wcfg = (dpi_worker_config){.model = model,
                                  .workers = o.workers,
                                  .threads_per_worker = o.threads_per_worker,
                                  .max_batch = o.max_batch,
                                  .num_classes = r->num_classes,
                                  .timeout_s = o.worker_timeout_s,
                                  .retry = o.retry};
    r->workers = o.workers;
    s = r->ops->open(&dpi_worker_host_default, &r->wcfg, &r->workers, &r->is_server, &r->backend);
    if (s != DP_OK) {
        r->backend = NULL;
        goto fail;
    }
    if (r->workers < 1 || (o.num_slowdown > r->workers)) {
        s = dpi_error(DP_ERR_INVALID_ARG, "runner: backend %s offers %d workers for %d requested", r->ops->name,
                      r->workers, o.workers);
        goto fail;
    }
    int W = r->workers;
    r->slowdown = calloc((size_t)W, sizeof *r->slowdown);
    r->w = dpi_alloc_aligned((size_t)W * sizeof *r->w, DPI_CACHELINE);
    r->ws = calloc((size_t)W, sizeof *r->ws);
    r->queues = dpi_alloc_aligned((size_t)(W + 1) * sizeof *r->queues, DPI_CACHELINE);
    r->merged = dpi_alloc_aligned(sizeof *r->merged, DPI_CACHELINE);
    r->interval_hist = dpi_alloc_aligned(sizeof *r->interval_hist, DPI_CACHELINE);
    if (!r->slowdown || !r->w || !r->ws || !r->queues || !r->merged || !r->interval_hist) {
        s = dpi_error(DP_ERR_NOMEM, "dp_runner_create: out of memory for %d workers", W);
        goto fail;
    }
    memset(r->w, 0, (size_t)W * sizeof *r->w);
    memset(r->queues, 0, (size_t)(W + 1) * sizeof *r->queues);
    for (int k = 0; k < W; k++) {
        r->slowdown[k] = k < o.num_slowdown ? o.slowdown[k] : 1.0;
        r->w[k].r = r;
        r->w[k].index = k;
        r->w[k].slowdown = r->slowdown[k];
        r->w[k].hist = dpi_alloc_aligned(sizeof(dpi_hist), DPI_CACHELINE);
        if (!r->w[k].hist) {
            s = dpi_error(DP_ERR_NOMEM, "dp_runner_create: out of memory for %d workers", W);
            goto fail;
        }
    }
    r->opts.slowdown = r->slowdown;
    r->opts.num_slowdown = W;
    if (!r->is_server && (long)W * o.threads_per_worker > dpi_num_cpus())
        dpi_log(DP_LOG_WARN, "runner: %d workers x %d threads = %d threads on %d cores: they will compete for cores",
                W, o.threads_per_worker, W * o.threads_per_worker, dpi_num_cpus());
    *out = r;
    return DP_OK;
fail:
    dp_runner_free(r);
    return s;
}

DP_API void dp_runner_free(dp_runner *r) {
    if (!r) return;
    if (atomic_load(&r->state) == DPI_PUSH) dp_runner_stop(r, NULL);
    if (r->backend) r->ops->close(r->backend);
    if (r->dl_handle) dlclose(r->dl_handle);
    if (r->w)
        for (int k = 0; k < r->workers; k++) dpi_free_aligned(r->w[k].hist);
    dpi_free_aligned(r->w);
    dpi_free_aligned(r->queues);
    dpi_free_aligned(r->merged);
    dpi_free_aligned(r->interval_hist);
    free(r->ws);
    free(r->slowdown);
    free(r->sinks);
    pthread_mutex_destroy(&r->ctl_mu);
    pthread_mutex_destroy(&r->gate_mu);
    pthread_cond_destroy(&r->gate_cv);
    pthread_mutex_destroy(&r->route_mu);
    pthread_mutex_destroy(&r->drop_mu);
    free(r);
}

DP_API int dp_runner_is_worker_rank(const dp_runner *runner) { return runner ? runner->is_server : 0; }

DP_API dp_status dp_runner_add_sink(dp_runner *r, dp_sink *sink) {
    if (!r || !sink) return dpi_error(DP_ERR_INVALID_ARG, "dp_runner_add_sink: %s is NULL", r ? "sink" : "runner");
    if (atomic_load(&r->state) != DPI_IDLE) return dpi_error(DP_ERR_BUSY, "dp_runner_add_sink: a run is in progress");
    for (int i = 0; i < r->num_sinks; i++)
        if (r->sinks[i] == sink) return dpi_error(DP_ERR_INVALID_ARG, "dp_runner_add_sink: sink already attached");
    dp_sink **n = realloc(r->sinks, (size_t)(r->num_sinks + 1) * sizeof *n);
    if (!n) return dpi_error(DP_ERR_NOMEM, "dp_runner_add_sink: out of memory");
    n[r->num_sinks++] = sink;
    r->sinks = n;
    return DP_OK;
}

/* ---- result delivery ----------------------------------------------------------------------- */

void dpi_runner_deliver(dpi_worker *w, const dp_result *res, void *ctx) {
    dp_runner *r = w->r;
    if (r->opts.on_result) r->opts.on_result(res, ctx, r->opts.on_result_user);
    if (r->num_sinks) dpi_ring_push(&w->ring, res, res->logits);
}

/* Drops and routing failures happen on producer threads (the source thread, or any submitter in
 * push mode); they share one ring under a mutex, which only overload ever contends. */
void dpi_runner_deliver_producer(dp_runner *r, const dp_result *res, void *ctx) {
    if (r->opts.on_result) r->opts.on_result(res, ctx, r->opts.on_result_user);
    if (!r->num_sinks) return;
    pthread_mutex_lock(&r->drop_mu);
    dpi_ring_push(&r->drop_ring, res, NULL);
    pthread_mutex_unlock(&r->drop_mu);
}

/* ---- run set-up and tear-down -------------------------------------------------------------- */

static void free_run_buffers(dp_runner *r) {
    for (int k = 0; k < r->workers; k++) {
        dpi_worker *w = &r->w[k];
        dpi_free_aligned(w->input);
        free(w->logits);
        free(w->top1);
        free(w->labels);
        free(w->batch);
        dpi_ring_destroy(&w->ring);
        w->input = w->logits = NULL;
        w->top1 = NULL;
        w->labels = NULL;
        w->batch = NULL;
    }
    dpi_ring_destroy(&r->drop_ring);
    for (int k = 0; k <= r->workers; k++) dpi_queue_destroy(&r->queues[k]);
}

/* Record rings are sized so a whole run fits when its length is known (nothing can block), and
 * to 64 Ki entries otherwise; a full ring makes its worker wait for the metrics thread. */
static size_t ring_entries(int64_t expected) {
    const size_t cap = (size_t)1 << 16;
    if (expected < 0) return cap;
    return expected + 1 < 1024 ? 1024 : ((size_t)expected + 1 < cap ? (size_t)expected + 1 : cap);
}

static dp_status alloc_run_buffers(dp_runner *r, int64_t expected) {
    int mb = r->opts.max_batch, K = r->num_classes;
    int keep = r->opts.keep_logits;
    size_t sf = r->sample_floats;
    size_t qdata = r->kind == DPI_PUSHED_IN ? sf : 0;
    for (int k = 0; k <= r->workers; k++) {
        int used = r->kind != DPI_BATCH && (r->shared ? k == r->workers : k < r->workers);
        if (!used) continue;
        dp_status s = dpi_queue_init(&r->queues[k], r->opts.queue_capacity, qdata);
        if (s != DP_OK) return s;
    }
    for (int k = 0; k < r->workers; k++) {
        dpi_worker *w = &r->w[k];
        w->input = dpi_alloc_aligned((size_t)mb * sf * sizeof(float), DPI_CACHELINE);
        w->logits = calloc((size_t)mb * K, sizeof(float));
        w->top1 = calloc((size_t)mb, sizeof(int));
        w->labels = calloc((size_t)mb, sizeof(int32_t));
        w->batch = calloc((size_t)mb, sizeof(dpi_slot));
        if (!w->input || !w->logits || !w->top1 || !w->labels || !w->batch)
            return dpi_error(DP_ERR_NOMEM, "runner: out of memory for micro-batches of %d samples", mb);
        if (r->num_sinks) {
            dp_status s = dpi_ring_init(&w->ring, ring_entries(expected), keep ? K : 0);
            if (s != DP_OK) return s;
        }
        w->q = r->kind == DPI_BATCH ? NULL : &r->queues[r->shared ? r->workers : k];
    }
    if (r->num_sinks) return dpi_ring_init(&r->drop_ring, ring_entries(expected), 0);
    return DP_OK;
}

static void reset_run_state(dp_runner *r) {
    atomic_store(&r->stop, 0);
    atomic_store(&r->abort_run, 0);
    atomic_store(&r->metrics_done, 0);
    atomic_store(&r->offered, 0);
    atomic_store(&r->dropped_newest, 0);
    atomic_store(&r->dropped_oldest, 0);
    atomic_store(&r->failed_route, 0);
    atomic_store(&r->t_first_emit, 0);
    atomic_store(&r->t_last_emit, 0);
    atomic_store(&r->inflight, 0);
    atomic_store(&r->accepting, 0);
    r->route_error = DP_OK;
    r->ready = r->gate = 0;
    r->profile = 0;
    r->metrics_started = 0;
    r->final_summary = NULL;
    for (int k = 0; k < r->workers; k++) {
        dpi_worker *w = &r->w[k];
        memset(&w->c, 0, sizeof w->c);
        w->ctx = NULL;
        w->started = 0;
        w->init_status = DP_OK;
        w->run_error = DP_OK;
        w->part_error = DP_OK;
        w->profile_ns = 0;
        dpi_hist_reset(w->hist);
    }
    dpi_hist_reset(r->interval_hist);
}

dp_status dpi_runner_begin(dp_runner *r, const char *mode, int c, int h, int w, int64_t expected,
                           double target_rate) {
    /* Workers copy c*h*w floats per sample into buffers sized for the model's input: a data set
     * of another channel count or too small an image must be refused before any sample moves. */
    int want_c = dp_model_input_channels(r->model), min_hw = dp_model_min_input_size(r->model);
    if (c != want_c || h < min_hw || w < min_hw)
        return dpi_error(DP_ERR_SHAPE, "runner: samples are [%d,%d,%d] but %s needs [%d,H,W] with H,W >= %d", c, h, w,
                         dp_model_arch(r->model), want_c, min_hw);
    reset_run_state(r);
    r->c = c;
    r->h = h;
    r->wd = w;
    r->sample_floats = (size_t)c * h * w;
    r->info = (dp_run_info){.mode = mode,
                            .arch = dp_model_arch(r->model),
                            .strategy = dp_partitioner_name(r->partitioner),
                            .workers = r->workers,
                            .threads_per_worker = r->opts.threads_per_worker,
                            .target_rate = target_rate,
                            .expected_samples = expected,
                            .start_ns = dpi_now_ns()};
    dp_status s = alloc_run_buffers(r, expected);
    if (s == DP_OK) s = dpi_runner_start_workers(r, dpi_worker_main);
    if (s == DP_OK) {
        for (int k = 0; k < r->workers; k++)
            if (r->w[k].init_status != DP_OK) {
                s = r->w[k].init_status;
                dpi_error(s, "runner: worker %d could not start (%s backend)", k, r->ops->name);
                break;
            }
    }
    if (s != DP_OK) {
        atomic_store(&r->abort_run, 1);
        dpi_runner_open_gate(r, 2);
        dpi_runner_join_workers(r);
        free_run_buffers(r);
    }
    return s;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void compute_summary(dp_runner *r, dp_summary *S, double target_rate) {
    int W = r->workers;
    double elapsed = (double)(r->t_end - r->t_start) * 1e-9;
    int64_t t_first = atomic_load(&r->t_first_emit), t_last = atomic_load(&r->t_last_emit), t_done = 0;
    memset(S, 0, sizeof *S);
    S->size = sizeof *S;
    dpi_hist_reset(r->merged);
    int nmeans = 0;
    for (int k = 0; k < W; k++) {
        dpi_worker *w = &r->w[k];
        dp_worker_summary *ws = &r->ws[k];
        int64_t comp = atomic_load(&w->c.completed), fail = atomic_load(&w->c.failed);
        int64_t run = atomic_load(&w->c.samples_run), batches = atomic_load(&w->c.batches);
        int64_t busy = atomic_load(&w->c.busy_ns), last = atomic_load(&w->c.last_end_ns);
        S->completed += comp;
        S->failed += fail;
        S->labelled += atomic_load(&w->c.labelled);
        S->correct += atomic_load(&w->c.correct);
        if (r->kind == DPI_BATCH) S->offered += atomic_load(&w->c.offered);
        if (last > t_done) t_done = last;
        dpi_hist_merge(r->merged, w->hist);
        *ws = (dp_worker_summary){.worker = k,
                                  .completed = comp,
                                  .failed = fail,
                                  .busy_s = busy * 1e-9,
                                  .busy_pct = elapsed > 0 ? 100.0 * busy * 1e-9 / elapsed : 0,
                                  .mean_batch = batches ? (double)run / batches : 0,
                                  .mean_service_ms = run ? busy * 1e-6 / run : 0};
        if (w->q) ws->queue_hwm = w->q->hwm;
        nmeans += run > 0;
    }
    /* Straggler: mean service time above straggler_factor x the median of the *other* workers
     * that ran. (With the median of all, two workers could never flag one below 3x at 1.5.) */
    if (nmeans >= 2) {
        double others[W > 0 ? W : 1];
        for (int k = 0; k < W; k++) {
            int n = 0;
            for (int j = 0; j < W; j++)
                if (j != k && atomic_load(&r->w[j].c.samples_run) > 0) others[n++] = r->ws[j].mean_service_ms;
            if (n == 0 || atomic_load(&r->w[k].c.samples_run) == 0) continue;
            qsort(others, (size_t)n, sizeof others[0], cmp_double);
            double median = n % 2 ? others[n / 2] : 0.5 * (others[n / 2 - 1] + others[n / 2]);
            r->ws[k].straggler = r->ws[k].mean_service_ms > r->opts.straggler_factor * median;
        }
    }
    if (r->kind != DPI_BATCH) S->offered = atomic_load(&r->offered);
    S->failed += atomic_load(&r->failed_route);
    S->dropped_newest = atomic_load(&r->dropped_newest);
    S->dropped_oldest = atomic_load(&r->dropped_oldest);
    S->dropped = S->dropped_newest + S->dropped_oldest;
    S->target_rate = target_rate;
    if (target_rate > 0 && S->offered > 1 && t_last > t_first)
        S->rate_accuracy_pct = 100.0 * ((double)(S->offered - 1) / ((t_last - t_first) * 1e-9)) / target_rate;
    if (S->completed > 0 && t_done > t_first) S->throughput = (double)S->completed / ((t_done - t_first) * 1e-9);
    if (target_rate > 0) S->efficiency_pct = 100.0 * S->throughput / target_rate;
    dpi_hist_latency_ms(r->merged, &S->latency_ms);
    S->cpu_pct = elapsed > 0 ? 100.0 * (dpi_process_cpu_s() - r->cpu_start) / elapsed : 0;
    S->rss_mb = dpi_peak_rss_mb();
    S->elapsed_s = elapsed;
    S->workers = W;
    S->per_worker = r->ws;
}

static void copy_summary(dp_summary *out, const dp_summary *full) {
    if (!out) return;
    size_t n = out->size < sizeof *full ? out->size : sizeof *full;
    size_t keep = out->size;
    memcpy(out, full, n);
    out->size = keep;
}

void dpi_runner_end(dp_runner *r, dp_summary *out, double target_rate) {
    dp_summary S;
    r->t_end = dpi_now_ns();
    if (r->ops->end_run) {
        dp_status s = r->ops->end_run(r->backend);
        if (s != DP_OK) dpi_log(DP_LOG_WARN, "runner: ending the run on backend %s: %s", r->ops->name, dp_last_error());
    }
    compute_summary(r, &S, target_rate);
    for (int k = 0; k < r->workers; k++)
        if (r->w[k].run_error != DP_OK) {
            dpi_log(DP_LOG_WARN, "runner: worker %d failed %lld samples (first: %s)", k,
                    (long long)S.per_worker[k].failed, dp_status_str(r->w[k].run_error));
            break;
        }
    if (r->num_sinks) {
        int64_t waits = r->drop_ring.full_waits;
        for (int k = 0; k < r->workers; k++) waits += r->w[k].ring.full_waits;
        if (waits)
            dpi_log(DP_LOG_WARN, "runner: workers waited %lld times for a full record ring: a sink's on_record is "
                    "slower than the workers", (long long)waits);
    }
    if (r->metrics_started) dpi_metrics_finish(r, &S);
    copy_summary(out, &S);
    free_run_buffers(r);
}

/* An MPI server rank: serve the coordinator's run, report an empty summary. */
dp_status dpi_runner_serve(dp_runner *r, dp_summary *summary) {
    dp_summary S;
    dp_status s = r->ops->serve ? r->ops->serve(r->backend)
                                : dpi_error(DP_ERR_INTERNAL, "runner: backend %s has no serve()", r->ops->name);
    memset(&S, 0, sizeof S);
    memset(r->ws, 0, (size_t)r->workers * sizeof *r->ws);
    for (int k = 0; k < r->workers; k++) r->ws[k].worker = k;
    S.size = sizeof S;
    S.workers = r->workers;
    S.per_worker = r->ws;
    copy_summary(summary, &S);
    atomic_store(&r->state, DPI_IDLE);
    return s;
}

dp_status dpi_check_summary(const dp_summary *summary, const char *fn) {
    if (!summary) return dpi_error(DP_ERR_INVALID_ARG, "%s: summary is NULL", fn);
    if (summary->size < sizeof(dp_summary))
        return dpi_error(DP_ERR_INVALID_ARG, "%s: summary->size is %zu, expected %zu (set it to sizeof(dp_summary))",
                         fn, summary->size, sizeof(dp_summary));
    return DP_OK;
}

/* ---- stopping ------------------------------------------------------------------------------ */

static _Atomic(dp_runner *) sigint_runner;

static void on_sigint(int sig) {
    (void)sig;
    dp_runner *r = atomic_load(&sigint_runner);
    if (!r) return;
    atomic_store(&r->stop, 1);
    atomic_store(&r->accepting, 0);
    dp_source *src = atomic_load(&r->src);
    if (src) dp_source_interrupt(src);
}

void dpi_runner_sigint_install(dp_runner *r) {
    dp_runner *none = NULL;
    r->sigint_installed = 0;
    if (!r->opts.handle_sigint) return;
    if (!atomic_compare_exchange_strong(&sigint_runner, &none, r)) {
        dpi_log(DP_LOG_WARN, "runner: another run already handles SIGINT; this one does not");
        return;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &r->old_sigint);
    r->sigint_installed = 1;
}

void dpi_runner_sigint_restore(dp_runner *r) {
    if (!r->sigint_installed) return;
    sigaction(SIGINT, &r->old_sigint, NULL);
    atomic_store(&sigint_runner, NULL);
    r->sigint_installed = 0;
}

DP_API dp_status dp_runner_stop(dp_runner *r, dp_summary *summary) {
    if (!r) return dpi_error(DP_ERR_INVALID_ARG, "dp_runner_stop: runner is NULL");
    if (summary && summary->size < sizeof(dp_summary))
        return dpi_error(DP_ERR_INVALID_ARG, "dp_runner_stop: summary->size is %zu, expected %zu", summary->size,
                         sizeof(dp_summary));
    pthread_mutex_lock(&r->ctl_mu);
    dp_status s = DP_OK;
    int state = atomic_load(&r->state);
    if (state == DPI_PUSH) {
        s = dpi_runner_push_finish(r, summary);
    } else if (state == DPI_RUNNING) {
        atomic_store(&r->stop, 1);
        dp_source *src = atomic_load(&r->src);
        if (src) dp_source_interrupt(src);
    }
    pthread_mutex_unlock(&r->ctl_mu);
    return s;
}
