/* The metrics thread (metrics_thread.c): the only caller of sinks during a run. */
#ifndef DP_RUNTIME_METRICS_THREAD_H
#define DP_RUNTIME_METRICS_THREAD_H

#include "runner_impl.h"

/* With sinks attached: start the thread and return once every sink's on_start has run (before
 * the first sample is offered). Without sinks: nothing. */
dp_status dpi_metrics_start(dp_runner *r);
/* After the workers were joined: drain the last records, emit the final interval row, give
 * every sink the summary, join the thread. Nothing when it was not started. */
void dpi_metrics_finish(dp_runner *r, const dp_summary *summary);

#endif
