/* dp_runner: options, creation (backend, workers, everything a run needs that does not depend
 * on the run), freeing, and sinks. Runs themselves: run.c and the three entries pull.c, push.c,
 * batch.c; the map of the whole data path is at the top of runner_impl.h. */
#include <dlfcn.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dataparallel/partition_protocol.h"
#include "pipeline.h"
#include "run.h"
#include "util/sized.h"

/* The first published dp_runner_opts ended before worker_timeout_s (docs/c-api.md, "Sized
 * structs"). */
#define RUNNER_OPTS_V1 offsetof(dp_runner_opts, worker_timeout_s)

DP_API void dp_runner_opts_init_sized(dp_runner_opts *opts, size_t size) {
    const dp_runner_opts d = {.size = sizeof d,
                              .workers = 1,
                              .threads_per_worker = 1,
                              .max_batch = 1,
                              .max_delay_us = 0,
                              .queue_capacity = 1024,
                              .overflow = DP_OVERFLOW_BLOCK,
                              .backend = DP_RUNNER_THREADS,
                              .straggler_factor = 1.5,
                              .interval_ms = 1000,
                              .worker_timeout_s = 10.0};
    dpi_sized_init(opts, size, &d, sizeof d);
}

static dp_status check_opts(const dp_runner_opts *o) {
    if (o->workers < 1 || o->workers > DP_MAX_WORKERS)
        return dpi_error(DP_ERR_INVALID_ARG, "runner: workers is %d, must be 1..%d (DP_MAX_WORKERS)", o->workers,
                         DP_MAX_WORKERS);
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
    if (o->rank_concurrency < 0 || o->rank_concurrency > 256)
        return dpi_error(DP_ERR_INVALID_ARG, "runner: rank_concurrency is %d, must be 0 (auto) to 256",
                         o->rank_concurrency);
    if (!(o->warmup_s >= 0 && o->warmup_s <= 86400) || o->warmup_samples < 0)
        return dpi_error(DP_ERR_INVALID_ARG, "runner: warmup_s is %g and warmup_samples %lld, must be 0..86400 and >= 0",
                         o->warmup_s, (long long)o->warmup_samples);
    return DP_OK;
}

/* Everything a run needs whose size does not depend on the run: per-worker state, queues (the
 * shared one last), the summary's per-worker rows and scratch, the merged histogram. */
static dp_status alloc_workers(dp_runner *r) {
    int W = r->workers;
    r->slowdown = calloc((size_t)W, sizeof *r->slowdown);
    r->w = dpi_alloc_aligned((size_t)W * sizeof *r->w, DPI_CACHELINE);
    r->ws = calloc((size_t)W, sizeof *r->ws);
    r->ss = calloc((size_t)W, sizeof *r->ss);
    r->scratch = calloc((size_t)W, sizeof *r->scratch);
    r->queues = dpi_alloc_aligned((size_t)(r->replicas + 1) * sizeof *r->queues, DPI_CACHELINE);
    r->merged = dpi_alloc_aligned(sizeof *r->merged, DPI_CACHELINE);
    r->wb = calloc((size_t)W, sizeof *r->wb);
    r->phase_merged = dpi_alloc_aligned(sizeof *r->phase_merged, DPI_CACHELINE);
    if (!r->slowdown || !r->w || !r->ws || !r->ss || !r->scratch || !r->queues || !r->merged || !r->wb ||
        !r->phase_merged)
        return dpi_error(DP_ERR_NOMEM, "dp_runner_create: out of memory for %d workers", W);
    memset(r->w, 0, (size_t)W * sizeof *r->w);
    memset(r->queues, 0, (size_t)(r->replicas + 1) * sizeof *r->queues);
    for (int k = 0; k < W; k++) {
        dpi_worker *w = &r->w[k];
        r->slowdown[k] = k < r->opts.num_slowdown ? r->opts.slowdown[k] : 1.0;
        w->r = r;
        w->index = k;
        w->replica = k / r->stages;
        w->stage = k % r->stages;
        w->slowdown = r->slowdown[k];
        w->hist = dpi_alloc_aligned(sizeof(dpi_hist), DPI_CACHELINE);
        w->phase_hist = dpi_alloc_aligned(DP_PHASES * sizeof(dpi_hist), DPI_CACHELINE);
        w->warmup_hist = dpi_alloc_aligned(sizeof(dpi_hist), DPI_CACHELINE);
        if (!w->hist || !w->phase_hist || !w->warmup_hist)
            return dpi_error(DP_ERR_NOMEM, "dp_runner_create: out of memory for %d workers", W);
    }
    r->opts.slowdown = r->slowdown;
    r->opts.num_slowdown = W;
    return DP_OK;
}

/* The runner's own locks; 0 or the pthread error (then none of them exists). */
static int init_locks(dp_runner *r) {
    int rc = pthread_mutex_init(&r->ctl_mu, NULL);
    if (rc != 0) return rc;
    if ((rc = pthread_mutex_init(&r->gate_mu, NULL)) != 0) {
        pthread_mutex_destroy(&r->ctl_mu);
        return rc;
    }
    if ((rc = pthread_cond_init(&r->gate_cv, NULL)) != 0) {
        pthread_mutex_destroy(&r->gate_mu);
        pthread_mutex_destroy(&r->ctl_mu);
    }
    return rc;
}

DP_API dp_status dp_runner_create(const dp_model *model, dp_partitioner *partitioner, const dp_runner_opts *opts,
                                  dp_runner **out) {
    if (!out) return dpi_error(DP_ERR_INVALID_ARG, "dp_runner_create: out is NULL");
    *out = NULL;
    if (!model) return dpi_error(DP_ERR_INVALID_ARG, "dp_runner_create: model is NULL");
    if (!partitioner) return dpi_error(DP_ERR_INVALID_ARG, "dp_runner_create: partitioner is NULL");
    dp_runner_opts o;
    dp_runner_opts_init(&o);
    dp_status s = dpi_sized_take(&o, sizeof o, opts, RUNNER_OPTS_V1, "dp_runner_create: opts", "dp_runner_opts_init");
    if (s == DP_OK) s = check_opts(&o);
    if (s != DP_OK) return s;

    dp_runner *r = calloc(1, sizeof *r);
    if (!r) return dpi_error(DP_ERR_NOMEM, "dp_runner_create: out of memory");
    int rc = init_locks(r);
    if (rc != 0) {
        free(r);
        return dpi_error(DP_ERR_INTERNAL, "dp_runner_create: cannot create the runner's locks (error %d)", rc);
    }
    r->opts = o;
    r->model = model;
    r->num_classes = dp_model_num_classes(model);
    if ((s = dp_partitioner_attach(partitioner, r)) != DP_OK) goto fail;
    r->partitioner = partitioner;

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
                                  .retry = o.retry,
                                  .rank_concurrency = o.rank_concurrency};
    r->workers = o.workers;
    s = r->ops->open(&dpi_worker_host_default, &r->wcfg, &r->workers, &r->is_server, &r->backend);
    if (s != DP_OK) {
        r->backend = NULL;
        goto fail;
    }
    if (r->workers < 1 || r->workers > DP_MAX_WORKERS || o.num_slowdown > r->workers) {
        s = dpi_error(DP_ERR_INVALID_ARG, "runner: backend %s offers %d workers for %d requested", r->ops->name,
                      r->workers, o.workers);
        goto fail;
    }
    /* One stage per replica until a model can be split (docs/architecture.md). */
    r->stages = 1;
    r->replicas = r->workers;
    if ((s = alloc_workers(r)) != DP_OK) goto fail;
    if (!r->is_server && (long)r->workers * o.threads_per_worker > dpi_num_cpus())
        dpi_log(DP_LOG_WARN, "runner: %d workers x %d threads = %d threads on %d cores: they will compete for cores",
                r->workers, o.threads_per_worker, r->workers * o.threads_per_worker, dpi_num_cpus());
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
        for (int k = 0; k < r->workers; k++) {
            dpi_free_aligned(r->w[k].hist);
            dpi_free_aligned(r->w[k].phase_hist);
            dpi_free_aligned(r->w[k].warmup_hist);
        }
    dpi_free_aligned(r->w);
    dpi_free_aligned(r->queues);
    dpi_free_aligned(r->merged);
    dpi_free_aligned(r->phase_merged);
    free(r->wb);
    free(r->ws);
    free(r->ss);
    free(r->scratch);
    free(r->slowdown);
    free(r->faults);
    free(r->sinks);
    dpi_pipeline_free(r);
    dp_partitioner_detach(r->partitioner, r);
    pthread_mutex_destroy(&r->ctl_mu);
    pthread_mutex_destroy(&r->gate_mu);
    pthread_cond_destroy(&r->gate_cv);
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
