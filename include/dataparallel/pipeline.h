/*
 * dataparallel/pipeline.h — a runner whose replicas are chains of stages (docs/pipeline.md).
 *
 * By default a runner is data parallel: each of its W workers runs the whole model. After
 * dp_runner_set_stages() with S stages it is a grid of R = W / S replicas x S stages: worker k
 * runs stage k % S of replica k / S (so --slowdown factors and per_worker[] follow that order),
 * the partitioner routes samples to replicas, and within a replica each micro-batch flows from
 * stage to stage through a bounded hand-over of `depth` buffers (a stage waits for a free one:
 * back-pressure reaches the replica's queue, whose overflow policy then applies). Activations are
 * handed over in place, never copied between threads. Every sample still ends completed,
 * dropped or failed; a stage that fails fails its micro-batch's samples (counted on its worker).
 *
 * Stream, push and batch mode (the data set is split among replicas, whose first stages read
 * it), threads and MPI backends (MPI: each stage worker is a worker rank, which splits its own
 * model at rank 0's cuts; activations travel as raw float32 tensors, relayed through rank 0). A
 * batch run whose partitioner would profile the workers (weighted without weights) is
 * DP_ERR_UNSUPPORTED. Call between runs (DP_ERR_BUSY during one).
 */
#ifndef DATAPARALLEL_PIPELINE_H
#define DATAPARALLEL_PIPELINE_H

#include "runner.h"
#include "split.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dp_stage_opts {
    size_t size;           /* set by dp_stage_opts_init() */
    int stages;            /* S >= 1, dividing the runner's workers; default 1 (data parallel) */
    const int *cuts;       /* S - 1 unit indices (dataparallel/split.h); NULL (default): planned */
    int num_cuts;
    int depth;             /* micro-batches in flight between two stages, >= 1; default 2 */
    int plan_h, plan_w;    /* image size the planner profiles at when cuts is NULL; default 32 */
    /* The link between stages the planner weighs when cuts is NULL (dp_split_opts' fields of the
     * same names): > 0, a stage also pays sending its output; default 0, free (the threads
     * backend's in-place hand-over). Give it for MPI ranks, where the activation crosses a wire. */
    double link_bytes_per_s;
    double link_latency_s; /* per transfer when link_bytes_per_s > 0; default 0 */
} dp_stage_opts;

DP_API void dp_stage_opts_init_sized(dp_stage_opts *opts, size_t size);
#define dp_stage_opts_init(opts) DP_SIZED_INIT(dp_stage_opts_init, opts)

/* Lay the runner's workers out as W / S replicas of S stages, splitting its model at opts->cuts,
 * or, when cuts is NULL, where dp_split_plan() puts them from a dp_model_profile() of
 * max_batch samples (speeds: 1 / the slowdown factors of replica 0's workers; link: opts' link
 * fields). The runner owns
 * the stage models. On an MPI worker rank it only records the grid (no profile, no split: the
 * rank takes the cuts rank 0 sends when a run begins). Errors: DP_ERR_INVALID_ARG (S not dividing
 * W, bad cuts), DP_ERR_BUSY (a run is going). */
DP_API dp_status dp_runner_set_stages(dp_runner *runner, const dp_stage_opts *opts);

/* The cuts in use (unit indices, S - 1 of them) into cuts[0..cap); *count gets S - 1 (0 on an MPI
 * worker rank, which learns them from rank 0 per run). */
DP_API dp_status dp_runner_get_cuts(const dp_runner *runner, int *cuts, int cap, int *count);

#ifdef __cplusplus
}
#endif
#endif
