/*
 * dataparallel/source.h — data sets and rate-limited sample sources.
 *
 * A dp_dataset is random access to samples: sample i as float32 [C,H,W] (already normalised) and
 * its label (-1 when unknown). Batch mode reads a data set directly (each worker reads only the
 * samples its partitioner gives it). Payloads: synthetic (seeded), .npy [N,C,H,W], CIFAR-10 binary
 * (data_batch_N.bin / test_batch.bin, or cifar-10-binary.tar.gz read through zlib), Fashion-MNIST
 * IDX files (padded to 3x32x32), caller memory (borrowed, no copy) or a user callback.
 *
 * A dp_source yields `samples` samples drawn from a data set in order (wrapping around) at a rate
 * policy: unlimited, constant (t_i = t0 + i/rate), poisson (seeded exponential gaps) or trace
 * (arrival offsets read from a file). Each sample carries its id (0..samples-1), its label and its
 * *intended* arrival time t_i; the source sleeps to t_i on an absolute deadline, so pacing errors
 * never accumulate. Latency is measured from t_i.
 *
 * Thread safety: dp_dataset_get() may be called from several threads at once. A dp_source is
 * driven by one thread (the runner's) at a time. Data sets are borrowed by sources and runners
 * and must outlive them.
 */
#ifndef DATAPARALLEL_SOURCE_H
#define DATAPARALLEL_SOURCE_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dp_dataset dp_dataset;
typedef struct dp_source dp_source;

/* Per-channel normalisation applied to 8-bit payloads (CIFAR): x = (v/255 - mean[c]) / std[c]. */
typedef struct dp_normalize {
    float mean[3];
    float std[3];
} dp_normalize;

/* CIFAR-10's usual statistics (mean 0.4914,0.4822,0.4465; std 0.2470,0.2435,0.2616). */
DP_API dp_normalize dp_normalize_cifar10(void);
/* Fashion-MNIST's usual statistics (mean 0.2860, std 0.3530 on every channel). */
DP_API dp_normalize dp_normalize_fashion_mnist(void);
/* mean 0, std 1: values in [0,1]. */
DP_API dp_normalize dp_normalize_identity(void);

/* n samples of shape [c,h,w], values uniform in [-1,1] from seed, labels i % 10. */
DP_API dp_status dp_dataset_synthetic(int64_t n, int c, int h, int w, uint64_t seed, dp_dataset **out);
/* A float32 .npy of shape [N,C,H,W] (loaded into memory). No labels. */
DP_API dp_status dp_dataset_npy(const char *path, dp_dataset **out);
/* CIFAR-10, binary or python version (recognised by content): a batch file (data_batch_1.bin,
 * data_batch_1), a directory holding data_batch_* / test_batch, or the cifar-10-binary.tar.gz /
 * cifar-10-python.tar.gz archive. Python batches are pickles read by a restricted unpickler that
 * runs nothing (docs/data.md). norm may be NULL (CIFAR-10 statistics). */
DP_API dp_status dp_dataset_cifar10(const char *path, const dp_normalize *norm, dp_dataset **out);
/* Fashion-MNIST (or MNIST) IDX files, e.g. Debian's dataset-fashion-mnist package
 * (/usr/share/datasets/fashion-mnist): a directory (its t10k test pair, 10 000 samples) or a
 * *-images-idx3-ubyte[.gz] file (its labels from the *-labels-idx1-ubyte[.gz] file beside it, so
 * train-images-idx3-ubyte.gz gives the 60 000 training samples). Each 28x28 grey image becomes
 * [3,32,32]: padded with zeros (2 pixels per side), the same plane in R, G and B, as the CIFAR-10
 * converter benchmarks/fashion_mnist.py writes it. norm may be NULL (Fashion-MNIST statistics). */
DP_API dp_status dp_dataset_fashion_mnist(const char *path, const dp_normalize *norm, dp_dataset **out);
/* Borrow caller memory: data float32 [n,c,h,w], labels int32[n] or NULL. Not copied: it must
 * stay valid and unchanged while the data set is used. */
DP_API dp_status dp_dataset_from_memory(const float *data, const int32_t *labels, int64_t n, int c, int h,
                                        int w, dp_dataset **out);
/* User callback: fill dst (c*h*w floats) with sample i and set *label (-1 if unknown).
 * Called concurrently from worker threads; return non-zero to fail that sample. */
typedef int (*dp_dataset_fn)(int64_t i, float *dst, int32_t *label, void *user);
DP_API dp_status dp_dataset_callback(int64_t n, int c, int h, int w, dp_dataset_fn fn, void *user,
                                     dp_dataset **out);
DP_API void dp_dataset_free(dp_dataset *ds);

DP_API int64_t dp_dataset_count(const dp_dataset *ds);
DP_API void dp_dataset_shape(const dp_dataset *ds, int *c, int *h, int *w);
/* Copy sample i (0 <= i < count) into dst (c*h*w floats); label may be NULL. */
DP_API dp_status dp_dataset_get(const dp_dataset *ds, int64_t i, float *dst, int32_t *label);

typedef enum dp_rate_policy {
    DP_RATE_UNLIMITED = 0,
    DP_RATE_CONSTANT = 1,
    DP_RATE_POISSON = 2,
    DP_RATE_TRACE = 3
} dp_rate_policy;

typedef struct dp_source_opts {
    size_t size;              /* set by dp_source_opts_init() */
    dp_rate_policy policy;    /* default DP_RATE_CONSTANT */
    double rate;              /* samples/s for constant and poisson (> 0, finite); default 500 */
    int64_t samples;          /* how many samples to emit; default 0 = once through the data set
                                 (trace: one per trace entry) */
    uint64_t seed;            /* poisson gaps; default 1 */
    const char *trace_path;   /* trace: arrival offsets in seconds, one per line, or a CSV whose
                                 header names a "time"/"t"/"timestamp" column; at most 1e6 s
                                 after the first offset */
    int64_t spin_ns;          /* busy-wait this long before each deadline; default 50000 */
} dp_source_opts;

/* Defaults into *opts (a macro: see "Sized structs" in core.h). */
DP_API void dp_source_opts_init_sized(dp_source_opts *opts, size_t size);
#define dp_source_opts_init(opts) DP_SIZED_INIT(dp_source_opts_init, opts)
/* ds is borrowed. Errors: DP_ERR_INVALID_ARG (rate <= 0 or NaN, no samples), DP_ERR_IO /
 * DP_ERR_FORMAT (trace file unreadable, empty, decreasing or beyond 1e6 s, naming the line). */
DP_API dp_status dp_source_create(dp_dataset *ds, const dp_source_opts *opts, dp_source **out);
DP_API void dp_source_free(dp_source *src);

DP_API dp_dataset *dp_source_dataset(const dp_source *src);
/* Total samples the source will emit. */
DP_API int64_t dp_source_count(const dp_source *src);
/* Target rate in samples/s (trace: count-1 over the trace's span; unlimited: 0). */
DP_API double dp_source_target_rate(const dp_source *src);

/* One emitted sample. */
typedef struct dp_sample_ref {
    int64_t sample_id;     /* 0..count-1, in emission order */
    int64_t index;         /* index into the data set (sample_id % dataset count) */
    int64_t intended_ns;   /* intended arrival time, dp_now_ns() time base */
} dp_sample_ref;

/* Start the clock: t0 = now (or start_ns if > 0). Resets the sequence. */
DP_API dp_status dp_source_start(dp_source *src, int64_t start_ns);
/* Sleep until the next sample's intended time and return it. DP_ERR_CLOSED when all samples
 * have been emitted. Does not sleep past a stop request (see dp_source_interrupt()). */
DP_API dp_status dp_source_next(dp_source *src, dp_sample_ref *out);
/* The next sample's intended time without sleeping (DP_ERR_CLOSED at the end). */
DP_API dp_status dp_source_peek(dp_source *src, dp_sample_ref *out);
/* Make a sleeping dp_source_next() return DP_ERR_CANCELLED promptly (any thread, signal-safe). */
DP_API void dp_source_interrupt(dp_source *src);

#ifdef __cplusplus
}
#endif
#endif
