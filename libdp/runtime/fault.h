/* Injected faults (fault.c; docs/runner.md, "Injected faults"). */
#ifndef DP_RUNTIME_FAULT_H
#define DP_RUNTIME_FAULT_H

#include "runner_impl.h"

/* What a worker does with the micro-batch it just took (dpi_fault_apply). */
typedef enum dpi_fault_action { DPI_FAULT_RUN = 0, DPI_FAULT_FAIL = 1, DPI_FAULT_LEFT = 2 } dpi_fault_action;

/* Before a run claims its workers: a stop event needs a stream or push run of a one-stage
 * runner and must leave a worker (DP_ERR_UNSUPPORTED / DP_ERR_INVALID_ARG, message set). */
dp_status dpi_faults_check(const dp_runner *r, int batch_mode);
/* After the run's t_start, before gate 1: clear the last run's reports and give every worker its
 * events and its slowdown. */
void dpi_faults_begin(dp_runner *r);
/* Whether an event of w is due now (one compare when it has none left). */
static inline int dpi_fault_due(const dpi_worker *w) {
    return w->run.fault_next_ns != INT64_MAX && dpi_now_ns() >= w->run.fault_next_ns;
}
/* Worker, at the start of a micro-batch with an event due: apply the events due (a stall sleeps
 * here). Says whether the micro-batch runs, fails (dpi_fault_fail) or is handed on (left). */
dpi_fault_action dpi_fault_apply(dpi_worker *w);
/* The m samples of a failing micro-batch: counted for the event; the status they fail with. */
dp_status dpi_fault_fail(dpi_worker *w, int m);
/* A worker that left: the n samples it took go to the others (opts.retry) or fail. */
void dpi_fault_hand_on(dpi_worker *w, int n);

#endif
