/*
 * dataparallel/model.h — loading a CNN and running it.
 *
 * A dp_model is one loaded network (architecture + weights, prepared for a backend). It is
 * immutable after dp_model_load() and may be shared by any number of threads. To run it, each
 * thread creates its own dp_exec (execution context: oneDNN threads, primitives cached per input
 * shape, scratchpad and activation buffers). A dp_exec belongs to one thread at a time.
 *
 * Architectures (dp_model_arch_names(), docs/models.md): "resnet18", "resnet34", "resnet50",
 * "mobilenet_v2", "vgg16", "vgg16_bn", "alexnet", "densenet121", "inception_v3" (torchvision), "resnet18_cifar",
 * "mobilenetv2_cifar" (pytorch-cifar), and "null", which computes nothing (zero logits: for
 * measuring the runtime alone). Weights come from .pth (torch.save), .npz or .safetensors files
 * keyed by PyTorch state_dict() names; without a file the weights are a deterministic function
 * of the seed. Inputs are float32 NCHW with C = 3 and H, W >= dp_model_min_input_size() (32;
 * alexnet 63; inception_v3 75; null 1); outputs are logits [N, num_classes].
 */
#ifndef DATAPARALLEL_MODEL_H
#define DATAPARALLEL_MODEL_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dp_model dp_model;
typedef struct dp_exec dp_exec;
typedef struct dp_calibration dp_calibration;
typedef struct dp_dataset dp_dataset;

/* INT8: post-training static quantization (docs/models.md, "int8"): needs a dp_calibration. */
typedef enum dp_precision { DP_PRECISION_FP32 = 0, DP_PRECISION_BF16 = 1, DP_PRECISION_INT8 = 2 } dp_precision;
typedef enum dp_model_backend { DP_BACKEND_ONEDNN = 0, DP_BACKEND_REFERENCE = 1 } dp_model_backend;

typedef struct dp_model_opts {
    size_t size;                 /* set by dp_model_opts_init() */
    int num_classes;             /* K >= 1; default 10 */
    dp_precision precision;      /* default DP_PRECISION_FP32 */
    dp_model_backend backend;    /* default DP_BACKEND_ONEDNN */
    uint64_t seed;               /* weights when no file is given; default 0 */
    int allow_nonfinite;         /* 1: load NaN/inf weights (for debugging a training run);
                                    default 0: they are DP_ERR_FORMAT naming the tensor */
    const dp_calibration *calibration; /* activation ranges for DP_PRECISION_INT8 (required
                                    then, ignored otherwise); read during dp_model_load only */
} dp_model_opts;

/* Defaults into *opts (a macro: see "Sized structs" in core.h). */
DP_API void dp_model_opts_init_sized(dp_model_opts *opts, size_t size);
#define dp_model_opts_init(opts) DP_SIZED_INIT(dp_model_opts_init, opts)

/* Names of the supported architectures, NULL-terminated. Static storage. */
DP_API const char *const *dp_model_arch_names(void);

/* Load arch with weights from weights_path (.pth, .npz or .safetensors; NULL = seeded init).
 * opts may be NULL for defaults. Errors: DP_ERR_NOT_FOUND (unknown arch, missing tensor),
 * DP_ERR_SHAPE (tensor of the wrong shape), DP_ERR_FORMAT (corrupt or truncated file; a NaN or
 * infinite value in a tensor the model uses; a negative BatchNorm running_var), DP_ERR_IO,
 * DP_ERR_UNSUPPORTED (bf16 on a CPU without AVX512-BF16), DP_ERR_INVALID_ARG (int8 without a
 * calibration, or one measured for another arch, class count or weights).
 * dp_last_error() names file and tensor. */
DP_API dp_status dp_model_load(const char *arch, const char *weights_path, const dp_model_opts *opts,
                               dp_model **out);
DP_API void dp_model_free(dp_model *model);

DP_API const char *dp_model_arch(const dp_model *model);
DP_API int dp_model_num_classes(const dp_model *model);
DP_API dp_precision dp_model_precision(const dp_model *model);
DP_API dp_model_backend dp_model_backend_kind(const dp_model *model);
/* Number of learned parameters as PyTorch counts them (conv, BN affine, linear; not BN stats). */
DP_API size_t dp_model_param_count(const dp_model *model);
/* Smallest accepted H and W (32 for most archs, 63 for alexnet, 75 for inception_v3, 1 for null;
 * a smaller input is DP_ERR_SHAPE naming the arch and both sizes), and the channel count (3). */
DP_API int dp_model_min_input_size(const dp_model *model);
DP_API int dp_model_input_channels(const dp_model *model);

/* Create an execution context running on `threads` oneDNN/OpenMP threads (>= 1). Must be
 * created on the thread that will run it (OpenMP fixes the thread count at primitive creation). */
DP_API dp_status dp_exec_create(const dp_model *model, int threads, dp_exec **out);
DP_API void dp_exec_free(dp_exec *exec);

/* Build everything needed for inputs of shape [n,3,h,w] so that dp_exec_run() with that shape
 * does no set-up work; the exec keeps it until freed. Optional: a run of a shape nobody
 * prepared builds it then (oneDNN creates primitives per batch size) and keeps the 4 most
 * recently used such shapes. */
DP_API dp_status dp_exec_prepare(dp_exec *exec, int n, int h, int w);

/* Prepare for runs of every batch size 1..max_batch at h x w (a server's micro-batches): a
 * bounded set of sizes is built (1..8, powers of two, max_batch; docs/engine.md says why) and a
 * run of another size in the range executes as consecutive slices of prepared sizes. After it,
 * no dp_exec_run() of 1..max_batch samples at h x w creates anything (dp_exec_get_stats). */
DP_API dp_status dp_exec_prepare_batches(dp_exec *exec, int max_batch, int h, int w);

/* Run inference on n samples: input float32 [n,3,h,w] (C-contiguous), logits float32
 * [n,num_classes]. After the first call for a shape, allocates nothing. */
DP_API dp_status dp_exec_run(dp_exec *exec, const float *input, int n, int h, int w, float *logits);

/* Per-layer profiling. When on, dp_exec_run() times each layer (adds small overhead).
 * A batch that runs as consecutive slices (docs/engine.md, "Large batches as slices") lists the
 * slice's layers, then those of the smaller last slice if there is one: `batch` says how many
 * samples one call of that entry ran on, and `calls` counts slice runs, not dp_exec_run() calls. */
typedef struct dp_layer_profile {
    const char *name;    /* layer name, e.g. "layer1.0.conv1"; valid while the exec lives */
    const char *impl;    /* implementation chosen, e.g. "brg:avx512_core_amx" */
    uint64_t calls;
    double total_ms;
    int batch;           /* samples per call: the run's batch, or its slice's size */
} dp_layer_profile;

DP_API dp_status dp_exec_set_profiling(dp_exec *exec, int on);
/* Copies up to cap entries into out; *count gets the number of layers. */
DP_API dp_status dp_exec_profile(const dp_exec *exec, dp_layer_profile *out, int cap, int *count);

/* What an exec has built. primitives_created staying constant over a run is the proof that
 * nothing was created on the hot path (oneDNN's JIT, allocations, the weight-cache lock). */
typedef struct dp_exec_stats {
    size_t size;                 /* sizeof(dp_exec_stats): set by the caller */
    uint64_t primitives_created; /* oneDNN primitives created by this exec (layers, reorders) */
    uint64_t shapes_built;       /* input shapes prepared so far (including rebuilt ones) */
    uint64_t shapes_evicted;     /* unprepared shapes dropped to make room */
    uint64_t shapes_held;        /* shapes the exec holds now */
    uint64_t split_runs;         /* runs executed as several prepared batch sizes */
    size_t arena_bytes;          /* activation buffer, shared by all shapes */
    size_t scratchpad_bytes;     /* oneDNN scratchpad, shared by all primitives */
} dp_exec_stats;

/* Fill the first stats->size bytes of *stats. Same thread rules as dp_exec_run(). */
DP_API dp_status dp_exec_get_stats(const dp_exec *exec, dp_exec_stats *stats);

/* ---- int8 calibration -------------------------------------------------------------------------
 * An int8 model needs the range of every activation tensor. dp_model_calibrate() measures them by
 * running the model's weights in fp32 (reference backend) over samples of a data set; the result
 * can be saved next to the weights (a small text file, docs/formats.md) and loaded by every
 * worker, and is tied to the arch, class count and weights it was measured with: loading it for
 * other ones is an error naming the file. A dp_calibration is immutable and may be shared. */

typedef enum dp_calib_method {
    DP_CALIB_MINMAX = 0,     /* range = largest |x| seen */
    DP_CALIB_PERCENTILE = 1  /* range = that percentile of |x| (outliers saturate instead) */
} dp_calib_method;

typedef struct dp_calib_opts {
    size_t size;             /* set by dp_calib_opts_init() */
    dp_calib_method method;  /* default DP_CALIB_MINMAX */
    double percentile;       /* DP_CALIB_PERCENTILE: in (50, 100]; default 99.99 */
} dp_calib_opts;

DP_API void dp_calib_opts_init_sized(dp_calib_opts *opts, size_t size);
#define dp_calib_opts_init(opts) DP_SIZED_INIT(dp_calib_opts_init, opts)

/* Measure activation ranges of model's weights over samples 0..n-1 of ds (1 <= n <= count;
 * shape [3,H,W], H, W >= 32). model is any loaded model; its weights are read again from the file
 * it was loaded from (or its seed), which must not have changed. opts may be NULL. Errors:
 * DP_ERR_INVALID_ARG (n out of range, a NaN/inf input naming the sample), DP_ERR_SHAPE (data set
 * shape), errors of dp_model_load and dp_dataset_get. Runs on the calling thread. */
DP_API dp_status dp_model_calibrate(const dp_model *model, const dp_dataset *ds, int64_t n,
                                    const dp_calib_opts *opts, dp_calibration **out);
/* Write / read the text file of docs/formats.md ("Calibration files"). Load checks the file
 * completely (DP_ERR_FORMAT naming file and line); whether it fits a model is checked by
 * dp_model_load. */
DP_API dp_status dp_calibration_save(const dp_calibration *cal, const char *path);
DP_API dp_status dp_calibration_load(const char *path, dp_calibration **out);
DP_API void dp_calibration_free(dp_calibration *cal);
/* Arch and sample count it was measured with (static while cal lives). */
DP_API const char *dp_calibration_arch(const dp_calibration *cal);
DP_API int64_t dp_calibration_samples(const dp_calibration *cal);

/* Index of the largest logit in each row (first on ties): top1[n]. */
DP_API void dp_argmax(const float *logits, int n, int num_classes, int *top1);

#ifdef __cplusplus
}
#endif
#endif
