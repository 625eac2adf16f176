/* Stream mode (pull from a rate-limited dp_source) and push mode (dp_runner_submit from any
 * thread): route each sample, enqueue it under the overflow policy, let the workers micro-batch.
 *
 * Where the payload is copied: in pull mode the queue holds only the sample's index and the
 * worker reads the data set straight into its micro-batch after the pop (one copy, done in
 * parallel by the workers, keeping the source thread's pacing loop short). In push mode the
 * caller's buffer is only valid during submit, so submit copies it into the queue's
 * preallocated slot storage and the worker copies it into its micro-batch at the pop. */
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runner_impl.h"

static void note_emit(dp_runner *r, int64_t now) {
    int64_t zero = 0, last = atomic_load(&r->t_last_emit);
    atomic_compare_exchange_strong(&r->t_first_emit, &zero, now);
    while (last < now && !atomic_compare_exchange_weak(&r->t_last_emit, &last, now)) {
    }
}

static void close_queues(dp_runner *r) {
    for (int k = 0; k <= r->workers; k++)
        if (r->queues[k].slots) dpi_queue_close(&r->queues[k]);
}

static void report_dropped(dp_runner *r, const dpi_slot *s, int worker) {
    int64_t now = dpi_now_ns();
    dp_result res = {.sample_id = s->sample_id,
                     .index = s->index,
                     .worker = worker,
                     .top1 = -1,
                     .label = -1,
                     .status = DP_ERR_CANCELLED,
                     .intended_ns = s->intended_ns,
                     .start_ns = now,
                     .end_ns = now,
                     .num_classes = r->num_classes};
    dpi_runner_deliver_producer(r, &res, s->ctx);
}

/* Which queue: the partitioner's choice. depths is scratch for the current queue lengths. */
static dp_status route(dp_runner *r, const dpi_slot *s, int *depths, int *worker) {
    for (int k = 0; k < r->workers; k++) depths[k] = atomic_load_explicit(&r->queues[k].depth, memory_order_relaxed);
    dp_status st = dp_partitioner_route(r->partitioner, s->sample_id, s->index, depths, worker);
    if (st != DP_OK) return st;
    /* A strategy that asked for the shared queue gets it whatever it answers per sample. */
    if (r->shared) *worker = DP_ROUTE_SHARED;
    if (*worker == DP_ROUTE_SHARED ? !r->shared : (*worker < 0 || *worker >= r->workers))
        return dpi_error(DP_ERR_INTERNAL, "runner: partitioner %s routed sample %lld to %d",
                         dp_partitioner_name(r->partitioner), (long long)s->sample_id, *worker);
    return DP_OK;
}

/* Enqueue under the overflow policy; a dropped sample (the arriving one or the evicted oldest)
 * is counted and reported here, on the producer's thread. */
static void enqueue(dp_runner *r, const dpi_slot *s, const float *data, int worker) {
    dpi_slot evicted;
    dpi_queue *q = &r->queues[worker == DP_ROUTE_SHARED ? r->workers : worker];
    switch (dpi_queue_push(q, s, data, r->opts.overflow, &evicted)) {
    case DPI_DROPPED_NEWEST:
        report_dropped(r, s, worker);
        atomic_fetch_add(&r->dropped_newest, 1);
        break;
    case DPI_DROPPED_OLDEST:
        report_dropped(r, &evicted, worker);
        atomic_fetch_add(&r->dropped_oldest, 1);
        break;
    case DPI_PUSHED:
        break;
    }
}

static dp_status start_stream(dp_runner *r, int kind, const char *mode, int c, int h, int w, int64_t expected,
                              double target_rate, dp_dataset *ds) {
    dp_status s = dp_partitioner_stream_begin(r->partitioner, r->workers);
    if (s != DP_OK) return s;
    r->shared = dp_partitioner_uses_shared_queue(r->partitioner);
    r->kind = kind;
    r->ds = ds;
    s = dpi_runner_begin(r, mode, c, h, w, expected, target_rate);
    if (s != DP_OK) return s;
    dpi_runner_sigint_install(r);
    dpi_metrics_start(r);
    r->cpu_start = dpi_process_cpu_s();
    r->t_start = dpi_now_ns();
    dpi_runner_open_gate(r, 1);
    return DP_OK;
}

static void source_loop(dp_runner *r, dp_source *src) {
    int *depths = calloc((size_t)r->workers, sizeof *depths);
    if (!depths) {
        r->route_error = dpi_error(DP_ERR_NOMEM, "runner: out of memory");
        return;
    }
    while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
        dp_sample_ref ref;
        dp_status st = dp_source_next(src, &ref);
        if (st == DP_ERR_CLOSED) break;
        if (st == DP_ERR_CANCELLED) {
            atomic_store(&r->stop, 1);
            break;
        }
        if (st != DP_OK) {
            r->route_error = st;
            snprintf(r->route_msg, sizeof r->route_msg, "%s", dp_last_error());
            break;
        }
        note_emit(r, dpi_now_ns());
        atomic_fetch_add_explicit(&r->offered, 1, memory_order_relaxed);
        dpi_slot s = {.sample_id = ref.sample_id, .index = ref.index, .intended_ns = ref.intended_ns};
        int worker;
        st = route(r, &s, depths, &worker);
        if (st != DP_OK) {
            /* e.g. a custom callback out of range: this sample fails, the run goes on. */
            if (r->route_error == DP_OK) {
                r->route_error = st;
                snprintf(r->route_msg, sizeof r->route_msg, "%s", dp_last_error());
            }
            int64_t now = dpi_now_ns();
            dp_result res = {.sample_id = s.sample_id, .index = s.index, .worker = -1, .top1 = -1, .label = -1,
                             .status = st, .intended_ns = s.intended_ns, .start_ns = now, .end_ns = now,
                             .num_classes = r->num_classes};
            dpi_runner_deliver_producer(r, &res, NULL);
            atomic_fetch_add(&r->failed_route, 1);
            continue;
        }
        enqueue(r, &s, NULL, worker);
    }
    free(depths);
}

DP_API dp_status dp_runner_run(dp_runner *r, dp_source *src, dp_summary *summary) {
    if (!r) return dpi_error(DP_ERR_INVALID_ARG, "dp_runner_run: runner is NULL");
    if (!src) return dpi_error(DP_ERR_INVALID_ARG, "dp_runner_run: source is NULL");
    dp_status s = dpi_check_summary(summary, "dp_runner_run");
    if (s != DP_OK) return s;
    int idle = DPI_IDLE;
    if (!atomic_compare_exchange_strong(&r->state, &idle, DPI_RUNNING))
        return dpi_error(DP_ERR_BUSY, "dp_runner_run: the runner is already running");
    if (r->is_server) return dpi_runner_serve(r, summary);

    dp_dataset *ds = dp_source_dataset(src);
    int c, h, w;
    dp_dataset_shape(ds, &c, &h, &w);
    double target = dp_source_target_rate(src);
    s = start_stream(r, DPI_PULL, "stream", c, h, w, dp_source_count(src), target, ds);
    if (s != DP_OK) {
        atomic_store(&r->state, DPI_IDLE);
        return s;
    }
    pthread_mutex_lock(&r->ctl_mu);
    atomic_store(&r->src, src);
    pthread_mutex_unlock(&r->ctl_mu);
    s = dp_source_start(src, 0);
    if (s == DP_OK) {
        source_loop(r, src);
        s = r->route_error;
    }
    close_queues(r);
    dpi_runner_join_workers(r);
    dpi_runner_sigint_restore(r);
    pthread_mutex_lock(&r->ctl_mu);
    atomic_store(&r->src, NULL);
    pthread_mutex_unlock(&r->ctl_mu);
    dpi_runner_end(r, summary, target);
    r->ds = NULL;
    int stopped = atomic_load(&r->stop);
    atomic_store(&r->state, DPI_IDLE);
    if (s != DP_OK) return dpi_error(s, "dp_runner_run: %s", r->route_msg);
    return stopped ? dpi_error(DP_ERR_CANCELLED, "dp_runner_run: stopped") : DP_OK;
}

/* ---- push mode ----------------------------------------------------------------------------- */

DP_API dp_status dp_runner_start(dp_runner *r, int c, int h, int w) {
    if (!r) return dpi_error(DP_ERR_INVALID_ARG, "dp_runner_start: runner is NULL");
    if (c < 1 || h < 1 || w < 1)
        return dpi_error(DP_ERR_INVALID_ARG, "dp_runner_start: sample shape [%d,%d,%d] is not positive", c, h, w);
    int idle = DPI_IDLE;
    if (!atomic_compare_exchange_strong(&r->state, &idle, DPI_RUNNING))
        return dpi_error(DP_ERR_BUSY, "dp_runner_start: the runner is already running");
    if (r->is_server) return dpi_runner_serve(r, NULL);
    dp_status s = start_stream(r, DPI_PUSHED_IN, "push", c, h, w, -1, 0.0, NULL);
    if (s != DP_OK) {
        atomic_store(&r->state, DPI_IDLE);
        return s;
    }
    atomic_store(&r->accepting, 1);
    atomic_store(&r->state, DPI_PUSH);
    return DP_OK;
}

DP_API dp_status dp_runner_submit(dp_runner *r, int64_t sample_id, const float *chw, void *sample_ctx) {
    if (!r || !chw) return dpi_error(DP_ERR_INVALID_ARG, "dp_runner_submit: %s is NULL", r ? "chw" : "runner");
    /* Announce the submit before checking `accepting`: stop clears `accepting`, then waits for
     * inflight to reach 0 before closing the queues, so no sample slips in after the close. */
    atomic_fetch_add(&r->inflight, 1);
    if (atomic_load(&r->state) != DPI_PUSH || !atomic_load(&r->accepting)) {
        atomic_fetch_sub(&r->inflight, 1);
        return dpi_error(DP_ERR_CLOSED, "dp_runner_submit: the runner is not in push mode (dp_runner_start) "
                                        "or is stopping");
    }
    int64_t now = dpi_now_ns();
    dpi_slot s = {.sample_id = sample_id, .index = sample_id, .intended_ns = now, .ctx = sample_ctx};
    int worker;
    int depths_small[64];
    int *depths = r->workers <= 64 ? depths_small : calloc((size_t)r->workers, sizeof *depths);
    dp_status st = depths ? DP_OK : dpi_error(DP_ERR_NOMEM, "dp_runner_submit: out of memory");
    if (st == DP_OK) {
        pthread_mutex_lock(&r->route_mu);
        st = route(r, &s, depths, &worker);
        pthread_mutex_unlock(&r->route_mu);
    }
    if (depths != depths_small) free(depths);
    if (st == DP_OK) {
        atomic_fetch_add(&r->offered, 1);
        note_emit(r, now);
        enqueue(r, &s, chw, worker);
    }
    atomic_fetch_sub(&r->inflight, 1);
    return st;
}

static int64_t finished(dp_runner *r) {
    int64_t n = atomic_load(&r->dropped_newest) + atomic_load(&r->dropped_oldest) + atomic_load(&r->failed_route);
    for (int k = 0; k < r->workers; k++)
        n += atomic_load_explicit(&r->w[k].c.completed, memory_order_acquire) +
             atomic_load_explicit(&r->w[k].c.failed, memory_order_acquire);
    return n;
}

DP_API dp_status dp_runner_drain(dp_runner *r) {
    if (!r) return dpi_error(DP_ERR_INVALID_ARG, "dp_runner_drain: runner is NULL");
    if (atomic_load(&r->state) != DPI_PUSH)
        return dpi_error(DP_ERR_CLOSED, "dp_runner_drain: the runner is not in push mode");
    int64_t target = atomic_load(&r->offered);
    /* Polling keeps the workers' completion path free of any lock or signal. */
    const struct timespec nap = {0, 100000};
    while (finished(r) < target) nanosleep(&nap, NULL);
    return DP_OK;
}

dp_status dpi_runner_push_finish(dp_runner *r, dp_summary *summary) {
    atomic_store(&r->accepting, 0);
    while (atomic_load(&r->inflight) > 0) sched_yield();
    close_queues(r);
    dpi_runner_join_workers(r);
    dpi_runner_sigint_restore(r);
    dpi_runner_end(r, summary, 0.0);
    atomic_store(&r->state, DPI_IDLE);
    return DP_OK;
}
