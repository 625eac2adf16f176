/* A run's lifecycle, shared by the three ways samples enter (pull.c, push.c, batch.c):
 * enter (claim the runner) -> begin (workers ready, sinks started, gate open) -> ... -> end
 * (workers joined, summary, sinks finished). run.c implements it, signal.c the signal half. */
#ifndef DP_RUNTIME_RUN_H
#define DP_RUNTIME_RUN_H

#include "runner_impl.h"

/* What a run is fed with. */
typedef struct dpi_run_spec {
    dpi_mode mode;
    dp_dataset *ds;          /* batch and pull mode; NULL in push mode */
    int c, h, w;             /* sample shape */
    int64_t expected;        /* samples the run will offer; -1 when unknown (push) */
    double target_rate;      /* samples/s; 0 when none */
    int (*take)(dpi_worker *w);  /* how a worker gets its next micro-batch */
} dpi_run_spec;

/* Check the caller's summary (when one is required or given) and clear it, then claim the
 * runner: DP_ERR_BUSY while another run goes on. fn names the API call in messages. */
dp_status dpi_run_enter(dp_runner *r, dp_summary *summary, int summary_required, const char *fn);
/* Set up a claimed runner for a run: refuse shapes the model cannot take, reset the run state,
 * prepare the partitioner, allocate queues and buffers, start the workers and wait until each
 * has its backend context, start the metrics thread, install signal handlers, open gate 1.
 * On failure everything is undone and the runner is idle again. */
dp_status dpi_run_begin(dp_runner *r, const dpi_run_spec *spec);
/* Close the queues, join the workers, compute the summary, finish the sinks, copy the summary
 * to out (may be NULL), free the run's buffers and make the runner idle. Returns the run's
 * outcome: its first failure (source, routing, partitioner, profiling), else a sink that could
 * not write, else DP_ERR_CANCELLED when it was stopped, else DP_OK; the message names fn. */
dp_status dpi_run_end(dp_runner *r, dp_summary *out, const char *fn);
/* An MPI server rank: serve the coordinator's run and report an empty summary. */
dp_status dpi_run_serve(dp_runner *r, dp_summary *summary);
/* Clear the run state (the runner's and every worker's part) in one call. */
void dpi_run_reset(dp_runner *r);

/* push.c: stop accepting, let queued samples finish, end the run (called by dp_runner_stop). */
dp_status dpi_push_finish(dp_runner *r, dp_summary *summary);

/* signal.c: while a run with opts.handle_signals goes on, SIGINT and SIGTERM stop it the way
 * dp_runner_stop() does (one run in the process at a time owns them). */
void dpi_signals_install(dp_runner *r);
void dpi_signals_restore(dp_runner *r);
/* Stop feeding the current run (also from a signal handler: only atomics). */
void dpi_run_request_stop(dp_runner *r, int signal);

#endif
