/* Workers: the threads that each run one stage of one replica (stage.c). */
#ifndef DP_RUNTIME_STAGE_H
#define DP_RUNTIME_STAGE_H

#include "runner_impl.h"

/* Start every worker thread and wait until each has its backend context (or failed to get
 * one: its run.init_status says why). A worker then waits at gate 1. */
dp_status dpi_workers_start(dp_runner *r);
/* The run's thread waits until n arrivals at gates were counted (each worker counts one per
 * gate it reaches). */
void dpi_workers_wait_ready(dp_runner *r, int n);
void dpi_workers_open_gate(dp_runner *r, int gate);
/* A worker: count itself ready and wait for the gate; 0 if the run was aborted meanwhile. */
int dpi_worker_wait_gate(dpi_worker *w, int gate);
void dpi_workers_join(dp_runner *r);

/* run.take of stream and push mode: up to max_batch samples from the worker's queue (waiting at
 * most max_delay_us for a batch to fill); 0 when the queue is closed and empty. */
int dpi_take_from_queue(dpi_worker *w);
/* Run the n samples in w->run.mb.slots and hand every one on to completion (complete.c). In
 * batch and pull mode the payloads are read from the data set here; in push mode they are
 * already in mb.input. */
void dpi_worker_run_microbatch(dpi_worker *w, int n);

#endif
