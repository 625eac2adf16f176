/* Injected faults: a schedule set before a run (dp_runner_inject), applied by each worker to
 * itself between micro-batches. A worker keeps the time of its next event in its own run state,
 * so its hot path pays one compare per micro-batch and takes no lock; an active fail event sets
 * that time to INT64_MIN so the same compare catches each micro-batch it fails. Only the event's
 * own worker writes its report; the summary reads it after the workers were joined. */
#include "fault.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <time.h>

static dp_status check_idle(dp_runner *r, const char *fn) {
    if (!r) return dpi_error(DP_ERR_INVALID_ARG, "%s: runner is NULL", fn);
    if (r->opts.backend != DP_RUNNER_THREADS)
        return dpi_error(DP_ERR_UNSUPPORTED, "%s: faults are injected with the threads backend only", fn);
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
    r->faults[i] = (dp_fault_report){.at_s = at_s, .worker = worker, .kind = kind, .value = value, .applied_s = -1};
    return DP_OK;
}

DP_API dp_status dp_runner_clear_faults(dp_runner *r) {
    dp_status s = check_idle(r, "dp_runner_clear_faults");
    if (s == DP_OK) r->num_faults = 0;
    return s;
}

static int64_t due_ns(const dp_runner *r, const dp_fault_report *f) {
    return r->run.t_start + (int64_t)llround(f->at_s * 1e9);
}

void dpi_faults_begin(dp_runner *r) {
    for (int k = 0; k < r->workers; k++) {
        dpi_worker_run *wr = &r->w[k].run;
        wr->slowdown = r->w[k].slowdown;
        wr->fault_next_ns = INT64_MAX;
    }
    for (int i = r->num_faults - 1; i >= 0; i--) {
        dp_fault_report *f = &r->faults[i];
        dpi_worker_run *wr = &r->w[f->worker].run;
        f->applied_s = -1;
        f->failed = 0;
        if (wr->fault_next_ns == INT64_MAX) wr->fault_end = i + 1;
        wr->fault_next = i;
        wr->fault_next_ns = due_ns(r, f);
    }
}

int dpi_fault_apply(dpi_worker *w, int m, int64_t *t0) {
    dp_runner *r = w->r;
    dpi_worker_run *wr = &w->run;
    for (; wr->fault_next < wr->fault_end && *t0 >= due_ns(r, &r->faults[wr->fault_next]); wr->fault_next++) {
        dp_fault_report *f = &r->faults[wr->fault_next];
        f->applied_s = (double)(*t0 - r->run.t_start) * 1e-9;
        if (f->kind == DP_FAULT_SLOWDOWN) {
            wr->slowdown = w->slowdown * f->value;
        } else if (f->kind == DP_FAULT_STALL) {
            /* A stalled worker holds its core idle (a page-in, a GC pause): sleep, not spin. */
            int64_t ns = (int64_t)llround(f->value * 1e9);
            struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
            while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
                ;
            *t0 = dpi_now_ns();
        } else {
            wr->fault_fail_left = (int64_t)f->value;
            wr->failing = f;
        }
    }
    int fail = wr->fault_fail_left > 0;
    if (fail) {
        wr->fault_fail_left--;
        wr->failing->failed += m;
    }
    wr->fault_next_ns = wr->fault_fail_left > 0             ? INT64_MIN
                        : wr->fault_next < wr->fault_end ? due_ns(r, &r->faults[wr->fault_next])
                                                         : INT64_MAX;
    return fail;
}
