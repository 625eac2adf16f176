/* Injected faults (fault.c; docs/runner.md, "Injected faults"). */
#ifndef DP_RUNTIME_FAULT_H
#define DP_RUNTIME_FAULT_H

#include "runner_impl.h"

/* After the run's t_start, before gate 1: clear the last run's reports and give every worker its
 * events and its slowdown. */
void dpi_faults_begin(dp_runner *r);
/* Worker, when its micro-batch of m samples starts at *t0 >= w->run.fault_next_ns: apply the
 * events due (a stall sleeps and moves *t0 on). Returns 1 when this micro-batch is to fail. */
int dpi_fault_apply(dpi_worker *w, int m, int64_t *t0);

#endif
