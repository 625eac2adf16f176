/* Injected faults: a schedule set before a run (dp_runner_inject), applied by each worker to
 * itself between micro-batches. A worker keeps the time of its next event in its own run state,
 * so its hot path pays one compare per micro-batch and takes no lock; an active fail event, and a
 * stop, set that time to INT64_MIN so the same compare catches each micro-batch after it. Only
 * the event's own worker writes its report; the summary reads it after the workers were joined.
 *
 * A stopped worker stays a thread until the run ends: it hands what reaches its queue on (a
 * producer may have routed a sample to it just before the partitioner heard it left), the way
 * the MPI coordinator forwards a dead rank's batches (docs/runner.md, "Injected faults"). */
#include "fault.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "complete.h"
#include "dataparallel/partition_protocol.h"
#include "route.h"

static dp_status check_idle(dp_runner *r, const char *fn) {
    if (!r) return dpi_error(DP_ERR_INVALID_ARG, "%s: runner is NULL", fn);
    if (atomic_load(&r->state) != DPI_IDLE) return dpi_error(DP_ERR_BUSY, "%s: the runner is running", fn);
    return DP_OK;
}

static dp_status check_value(dp_fault_kind kind, double v) {
    const char *fn = "dp_runner_inject";
    switch (kind) {
    case DP_FAULT_SLOWDOWN:
        if (v >= 1.0 && v <= 1e6) return DP_OK;
        return dpi_error(DP_ERR_INVALID_ARG, "%s: slowdown factor %g, expected 1 to 1e6", fn, v);
    case DP_FAULT_STALL:
        if (v > 0 && v <= 3600) return DP_OK;
        return dpi_error(DP_ERR_INVALID_ARG, "%s: stall of %g s, expected more than 0 and at most 3600", fn, v);
    case DP_FAULT_FAIL:
        if (v >= 1 && v <= 1e12 && v == floor(v)) return DP_OK;
        return dpi_error(DP_ERR_INVALID_ARG, "%s: fail %g micro-batches, expected a whole number >= 1", fn, v);
    case DP_FAULT_STOP:
        return DP_OK;
    }
    return dpi_error(DP_ERR_INVALID_ARG, "%s: unknown fault kind %d", fn, (int)kind);
}

DP_API dp_status dp_runner_inject(dp_runner *r, double at_s, int worker, dp_fault_kind kind, double value) {
    dp_status s = check_idle(r, "dp_runner_inject");
    if (s != DP_OK) return s;
    if (!(at_s >= 0 && at_s <= 1e6))
        return dpi_error(DP_ERR_INVALID_ARG, "dp_runner_inject: at_s is %g, expected 0 to 1e6", at_s);
    if (worker < 0 || worker >= r->workers)
        return dpi_error(DP_ERR_INVALID_ARG, "dp_runner_inject: worker %d, the runner has %d", worker, r->workers);
    if ((s = check_value(kind, value)) != DP_OK) return s;
    if (r->num_faults == r->cap_faults) {
        int cap = r->cap_faults ? 2 * r->cap_faults : 8;
        dp_fault_report *f = realloc(r->faults, (size_t)cap * sizeof *f);
        if (!f) return dpi_error(DP_ERR_NOMEM, "dp_runner_inject: out of memory for %d events", cap);
        r->faults = f;
        r->cap_faults = cap;
    }
    /* Sorted by (worker, at_s), equal times in the order given: a worker walks its own slice. */
    int i = r->num_faults++;
    for (; i > 0 && (r->faults[i - 1].worker > worker ||
                     (r->faults[i - 1].worker == worker && r->faults[i - 1].at_s > at_s));
         i--)
        r->faults[i] = r->faults[i - 1];
    r->faults[i] = (dp_fault_report){
        .at_s = at_s, .worker = worker, .kind = kind, .value = kind == DP_FAULT_STOP ? 0 : value, .applied_s = -1};
    return DP_OK;
}

DP_API dp_status dp_runner_clear_faults(dp_runner *r) {
    dp_status s = check_idle(r, "dp_runner_clear_faults");
    if (s == DP_OK) r->num_faults = 0;
    return s;
}

dp_status dpi_faults_check(const dp_runner *r, int batch_mode) {
    int stops = 0, last = -1;
    for (int i = 0; i < r->num_faults; i++) {
        const dp_fault_report *f = &r->faults[i];
        if (f->kind != DP_FAULT_STOP) continue;
        if (batch_mode)
            return dpi_error(DP_ERR_UNSUPPORTED,
                             "runner: stop event for worker %d: not in a batch run (its data set is split into ranges, "
                             "not queued, so there is nothing to re-route a stopped worker's samples from); stop "
                             "works in stream and push runs, batch runs take slowdown, stall and fail",
                             f->worker);
        if (r->stages > 1)
            return dpi_error(DP_ERR_UNSUPPORTED, "runner: stop event for worker %d: not with a pipeline (%d stages)",
                             f->worker, r->stages);
        stops += f->worker != last; /* sorted by worker: count each worker once */
        last = f->worker;
    }
    if (stops > 0 && stops == r->workers)
        return dpi_error(DP_ERR_INVALID_ARG, "runner: stop events for all %d workers: at least one must stay", stops);
    return DP_OK;
}

static int64_t due_ns(const dp_runner *r, const dp_fault_report *f) {
    return r->run.t_start + (int64_t)llround(f->at_s * 1e9);
}

void dpi_faults_begin(dp_runner *r) {
    for (int k = 0; k < r->workers; k++) {
        dpi_worker_run *wr = &r->w[k].run;
        wr->slowdown = r->w[k].slowdown;
        wr->stall_ns = 0;
        wr->fault_next_ns = INT64_MAX;
    }
    for (int i = r->num_faults - 1; i >= 0; i--) {
        dp_fault_report *f = &r->faults[i];
        dpi_worker_run *wr = &r->w[f->worker].run;
        /* What followed stays NaN unless the metrics thread measures it (fault_report.c). */
        *f = (dp_fault_report){.at_s = f->at_s, .worker = f->worker, .kind = f->kind, .value = f->value,
                               .applied_s = -1, .window_end_s = NAN, .p99_after_ms = NAN, .recovery_s = NAN,
                               .straggler_s = NAN, .weight_before = NAN, .weight_after = NAN,
                               .weights_moved_s = NAN};
        if (wr->fault_next_ns == INT64_MAX) wr->fault_end = i + 1;
        wr->fault_next = i;
        wr->fault_next_ns = due_ns(r, f);
    }
}

/* Out of the routing first, then every sample it takes is handed on (dpi_fault_hand_on). */
static void leave(dpi_worker *w, dp_fault_report *f) {
    dp_partitioner_set_available(w->r->partitioner, w->replica, 0);
    atomic_store(&w->run.left, 1);
    w->run.failing = f;
    w->run.fault_fail_left = 0;
}

dpi_fault_action dpi_fault_apply(dpi_worker *w) {
    dp_runner *r = w->r;
    dpi_worker_run *wr = &w->run;
    if (atomic_load_explicit(&wr->left, memory_order_relaxed)) return DPI_FAULT_LEFT;
    int64_t now = dpi_now_ns();
    for (; wr->fault_next < wr->fault_end && now >= due_ns(r, &r->faults[wr->fault_next]); wr->fault_next++) {
        dp_fault_report *f = &r->faults[wr->fault_next];
        f->applied_s = (double)(now - r->run.t_start) * 1e-9;
        if (f->kind == DP_FAULT_SLOWDOWN) {
            wr->slowdown = w->slowdown * f->value;
        } else if (f->kind == DP_FAULT_STALL && r->ops->remote_fx) {
            wr->stall_ns += (int64_t)llround(f->value * 1e9); /* the worker rank sleeps it */
        } else if (f->kind == DP_FAULT_STALL) {
            /* A stalled worker holds its core idle (a page-in, a GC pause): sleep, not spin. */
            int64_t ns = (int64_t)llround(f->value * 1e9);
            struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
            while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
                ;
            now = dpi_now_ns();
        } else if (f->kind == DP_FAULT_STOP) {
            /* Its later events never apply (reported with applied_s -1). */
            leave(w, f);
            wr->fault_next_ns = INT64_MIN;
            return DPI_FAULT_LEFT;
        } else {
            wr->fault_fail_left = (int64_t)f->value;
            wr->failing = f;
        }
    }
    int fail = wr->fault_fail_left > 0;
    if (fail) wr->fault_fail_left--;
    wr->fault_next_ns = wr->fault_fail_left > 0             ? INT64_MIN
                        : wr->fault_next < wr->fault_end ? due_ns(r, &r->faults[wr->fault_next])
                                                         : INT64_MAX;
    return fail ? DPI_FAULT_FAIL : DPI_FAULT_RUN;
}

dp_status dpi_fault_fail(dpi_worker *w, int m) {
    w->run.failing->failed += m;
    return dpi_error(DP_ERR_BACKEND, "runner: worker %d: injected fault (fail)", w->index);
}

void dpi_fault_hand_on(dpi_worker *w, int n) {
    dp_runner *r = w->r;
    dpi_microbatch *mb = &w->run.mb;
    dp_fault_report *f = w->run.failing;
    if (!r->opts.retry) {
        int64_t now = dpi_now_ns();
        f->failed += n;
        dpi_fail_samples(w, mb->slots, n, DP_ERR_CLOSED, now, now, n);
        return;
    }
    for (int i = 0; i < n; i++) {
        const dpi_slot *s = &mb->slots[i];
        const float *data = r->run.mode == DPI_MODE_PUSH ? mb->input + (size_t)i * r->run.sample_floats : NULL;
        dpi_queue *q;
        int replica;
        dp_status st = dpi_route(r, s, &q, &replica);
        if (st != DP_OK) {
            int64_t now = dpi_now_ns();
            f->failed++;
            dpi_fail_samples(w, s, 1, st, now, now, 1);
        } else if (dpi_enqueue(r, q, replica, s, data) == DPI_QUEUE_CLOSED) {
            f->failed++; /* the run ended meanwhile: dpi_enqueue failed it */
        } else {
            f->rerouted++;
        }
    }
}
