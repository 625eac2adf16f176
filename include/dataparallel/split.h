/*
 * dataparallel/split.h — cutting a model into pipeline stages (docs/pipeline.md).
 *
 * A model is a chain of *units*: the stem, each residual block (ResNet "layer2.0", MobileNet
 * "features.3" / "layers.5"), the last conv, the pool and the classifier. A cut is legal before
 * every unit but the first, because exactly one tensor crosses there (no shortcut spans it).
 * dp_model_split() gives S stage models sharing the parent's weights; each is a dp_model of its
 * own, run with the usual dp_exec calls, whose input is the activation entering its first unit
 * and whose output leaves its last one (logits for the last stage). Activations between stages
 * are float32, plain NCHW [n, c, h, w], whatever the precision: both sides agree on that layout
 * and it is what a queue or MPI carries. Chaining the stages gives logits identical to the
 * unsplit model's when the first layer of a stage chooses the same kernel as in the unsplit
 * model (tests/model/test_split.c checks it, and docs/pipeline.md states what was seen).
 *
 * The planner picks cuts from a per-unit cost table (dp_model_profile() measures one) so that
 * the slowest stage, transfers included, is as fast as possible.
 *
 * Thread safety: the functions here only read the model; a stage model is immutable and
 * shareable like any dp_model.
 */
#ifndef DATAPARALLEL_SPLIT_H
#define DATAPARALLEL_SPLIT_H

#include "core.h"
#include "model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One unit of a model and what it costs, per sample for an input of h x w. */
typedef struct dp_unit_info {
    const char *name;       /* "layer2.0", "features.3", "conv1", "fc": valid while the model lives */
    double flops;           /* 2 x multiply-adds of its convs and linear layer */
    size_t param_bytes;     /* float32 bytes of the (BN-folded) weights and biases it reads */
    size_t out_bytes;       /* float32 bytes of the activation it outputs (what a cut after it sends) */
    double ms;              /* measured time per micro-batch by dp_model_profile(); 0 from dp_model_units() */
} dp_unit_info;

/* The units of model (a whole model or a stage) for inputs of h x w, in execution order:
 * copies up to cap entries into out, *count gets the number of units. Cut k (1 <= k < count)
 * means "a new stage starts at unit k". */
DP_API dp_status dp_model_units(const dp_model *model, int h, int w, dp_unit_info *out, int cap, int *count);

/* As dp_model_units() plus each unit's measured time: `iters` runs of `batch` samples of h x w on
 * one exec of `threads` threads (created on the calling thread) after one warm-up run; ms is the
 * mean per run. Meant for planning, not a benchmark. */
DP_API dp_status dp_model_profile(const dp_model *model, int batch, int threads, int h, int w, int iters,
                                  dp_unit_info *out, int cap, int *count);

/* The index of the unit called name (as dp_model_units() names it); DP_ERR_NOT_FOUND listing
 * the legal names otherwise. */
DP_API dp_status dp_model_unit_index(const dp_model *model, const char *name, int *index);

/* Split model at ncuts strictly increasing unit indices (each in 1..units-1) into ncuts + 1
 * stage models, written to stages[0..ncuts]; free each with dp_model_free() before the parent.
 * The stages share the parent's weights (nothing is copied). Both backends; DP_ERR_UNSUPPORTED
 * for an int8 model (stage edges are float32) and for a stage (it cannot be split again). */
DP_API dp_status dp_model_split(const dp_model *model, const int *cuts, int ncuts, dp_model **stages);

/* What the model or stage takes and gives per sample for images of h x w: in[3] = {c, h, w} of
 * its input activation ({3, h, w} for a whole model or a first stage), out[3] of its output
 * ({num_classes, 1, 1} for a whole model or a last stage). dp_exec_run() on a stage model takes
 * [n, in...] and writes [n, out...], with its h and w still the image's. */
DP_API dp_status dp_model_io_shape(const dp_model *model, int h, int w, int in[3], int out[3]);
/* 1 if model is a stage made by dp_model_split(), else 0. */
DP_API int dp_model_is_stage(const dp_model *model);

/* ---- planner ------------------------------------------------------------------------------- */

typedef enum dp_split_method {
    DP_SPLIT_OPTIMAL = 0,   /* exact dynamic programming over the legal cuts */
    DP_SPLIT_GREEDY = 1     /* fill stages in order up to their share of the total time */
} dp_split_method;

typedef struct dp_split_opts {
    size_t size;            /* set by dp_split_opts_init() */
    int stages;             /* S >= 1; default 2 */
    const double *speeds;   /* S relative speeds (> 0): stage s takes ms / speeds[s]; NULL = all 1 */
    double link_bytes_per_s;/* > 0: a stage also pays out_bytes * batch / link_bytes_per_s to send
                               its output; 0 (default) = free transfers */
    double link_latency_s;  /* added per transfer when link_bytes_per_s > 0; default 0 */
    int batch;              /* samples per micro-batch (scales the transfer); default 1 */
    dp_split_method method; /* default DP_SPLIT_OPTIMAL */
} dp_split_opts;

DP_API void dp_split_opts_init_sized(dp_split_opts *opts, size_t size);
#define dp_split_opts_init(opts) DP_SIZED_INIT(dp_split_opts_init, opts)

/* Choose opts->stages - 1 cuts over the n units (their ms, out_bytes) minimising the slowest
 * stage's time (compute / speed + sending its output); cuts[] gets them increasing and
 * stage_ms[] (may be NULL) each stage's predicted time. DP_ERR_INVALID_ARG when there are fewer
 * units than stages. */
DP_API dp_status dp_split_plan(const dp_unit_info *units, int n, const dp_split_opts *opts, int *cuts,
                               double *stage_ms);

#ifdef __cplusplus
}
#endif
#endif
