/*
 * pydp.h — the C half of the Python bindings: what SWIG cannot generate by itself.
 *
 *  - zero-copy inference on objects exporting the buffer protocol (NumPy arrays);
 *  - trampolines from library callbacks (data-set fill, custom partitioner, sink events, per-sample
 *    results) to Python callables, each re-acquiring the GIL with PyGILState_Ensure();
 *  - a runner wrapper (pydp_runner) that owns the dp_runner, its summary, the last error message
 *    of a run made on another thread, an optional result collector and a Python result dispatcher;
 *  - buffers pinned for as long as the library borrows them (dp_dataset_from_memory, collectors).
 *
 * Calling convention: a function returning dp_status raises dataparallel.Error from SWIG's out
 * typemap (or the TypeError/ValueError it set itself). Functions returning a plain int return a
 * dp_status the Python layer inspects itself (runs that end in DP_ERR_CANCELLED still have a
 * summary). Functions touching Python objects are wrapped without releasing the GIL and release
 * it themselves around blocking library calls; every other wrapper releases it (SWIG -threads).
 */
#ifndef PYDP_H
#define PYDP_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <dataparallel.h>

/* Set the Python exception for a failed call: dataparallel.Error(status, dp_last_error()). */
void pydp_raise_status(dp_status status, const char *message);
/* obj's C-contiguous float32 buffer (writable if asked) into *v: 0, or -1 with ValueError /
 * TypeError naming `what`. Release it with PyBuffer_Release(). */
int pydp_float_buffer(PyObject *obj, Py_buffer *v, int writable, const char *what);

/* ---- module-level helpers -------------------------------------------------------------------- */
PyObject *pydp_arch_names(void);
/* Address of the input buffer of the last pydp_infer() on this thread (tests prove no copy). */
unsigned long long pydp_debug_last_input(void);

/* ---- options structs (pydp_opts.c) ------------------------------------------------------------ */
typedef enum pydp_opts_kind {
    PYDP_OPTS_MODEL,
    PYDP_OPTS_RUNNER,
    PYDP_OPTS_SOURCE,
    PYDP_OPTS_PARTITIONER,
    PYDP_OPTS_CONSOLE,
    PYDP_OPTS_DASHBOARD,
    PYDP_OPTS_CALIB,
    PYDP_OPTS_SPLIT,
    PYDP_OPTS_COUNT_
} pydp_opts_kind;
/* {field: value} of a struct fresh from its *_opts_init(); kind: "model", "runner", "source",
 * "partitioner", "console", "dashboard", "calib" or "split". Only the fields that are plain values (no pointers). */
PyObject *pydp_opts_defaults(const char *kind);
/* *_opts_init(opts), then every field named in the dict values (None or NULL: none; a None value
 * keeps the default). -1 with TypeError/OverflowError naming the option, else 0. */
int pydp_opts_apply(pydp_opts_kind kind, PyObject *values, void *opts);
PyObject *pydp_opts_to_dict(pydp_opts_kind kind, const void *opts);
/* The last struct of a kind this thread gave the library, as a dict (tests: options reach C). */
PyObject *pydp_debug_last_opts(const char *kind);

/* ---- models ---------------------------------------------------------------------------------- */
/* opts: a dict of dp_model_opts fields (pydp_opts_apply); calibration: int8's or NULL. */
dp_status pydp_model_load(const char *arch, const char *weights, PyObject *opts, const dp_calibration *calibration,
                          dp_model **out);
/* dp_model_calibrate() over samples 0..n-1 of ds; opts: dp_calib_opts fields. */
dp_status pydp_model_calibrate(const dp_model *model, const dp_dataset *ds, long long n, PyObject *opts,
                               dp_calibration **out);
/* x: C-contiguous float32 [N,C,H,W] buffer; out: writable C-contiguous float32 [N,K]; exec is a
 * context of model. The GIL is released while the network runs; x is read in place. */
dp_status pydp_infer(const dp_model *model, dp_exec *exec, PyObject *x, PyObject *out);

/* ---- stages of a model (pydp_split.c; dataparallel/split.h) ------------------------------------ */
/* The units of model for h x w images as a list of (name, flops, param_bytes, out_bytes, ms)
 * tuples; with iters > 0 the times are measured (dp_model_profile, GIL released), else 0. */
PyObject *pydp_model_units(const dp_model *model, int h, int w, int batch, int threads, int iters);
/* Stage `index` of model split at the unit indices in seq (doubles holding integers). It
 * borrows model, which must outlive it. */
dp_status pydp_model_stage(const dp_model *model, const double *seq, int seq_len, int index, dp_model **out);
/* ((c, h, w) of the input, (c, h, w) of the output) of a model or stage for h x w images. */
PyObject *pydp_model_io_shape(const dp_model *model, int h, int w);
/* x: C-contiguous float32 [N, in...] of the stage's input for h x w images; out: writable
 * C-contiguous float32 [N, out...]. Sizes are checked against dp_model_io_shape(). */
dp_status pydp_stage_run(const dp_model *stage, dp_exec *exec, PyObject *x, int h, int w, PyObject *out);
/* dp_split_plan() over units given as a sequence of (ms, out_bytes) pairs; opts: dp_split_opts
 * fields; speeds: a sequence or None. Returns (cuts list, predicted stage_ms list). */
PyObject *pydp_split_plan(PyObject *units, PyObject *opts, PyObject *speeds);

/* ---- tuning (pydp_tune.c; dataparallel/tune.h) ------------------------------------------------ */
/* dp_tune() of arch over ds: model_opts as pydp_model_load's; opts a dict of the search's
 * keywords (workers, threads, max_batch, max_delay_us, precisions: sequences of ints;
 * strategies: names; slo_p99_ms, budget_s, confidence, min_samples, probe_seconds, start_rate, cores,
 * oversubscribe); sink
 * (a dashboard) or NULL. Returns the result's JSON text (docs/tune.md). */
PyObject *pydp_tune(const char *arch, const char *weights, PyObject *model_opts, const dp_calibration *calibration,
                    dp_dataset *ds, PyObject *opts, dp_sink *sink);

/* ---- pinned buffers and Python callables ------------------------------------------------------- */
typedef struct pydp_pin pydp_pin;
/* Hold obj's C-contiguous buffer (writable if asked) until pydp_pin_free(). */
dp_status pydp_pin_new(PyObject *obj, int writable, pydp_pin **out);
void pydp_pin_free(pydp_pin *pin);

typedef struct pydp_fn pydp_fn;
/* A strong reference to a callable for the trampolines. */
dp_status pydp_fn_new(PyObject *callable, pydp_fn **out);
void pydp_fn_free(pydp_fn *fn);

/* ---- data sets, sources, partitioners, sinks --------------------------------------------------- */
/* data: float32 [n,c,h,w]; labels: int32 [n] or NULL. Both stay pinned by the caller. */
dp_status pydp_dataset_from_memory(pydp_pin *data, pydp_pin *labels, long long n, int c, int h, int w,
                                   dp_dataset **out);
/* fn(i, memoryview of c*h*w float32 to fill) -> label (>= -1) or anything else to fail the sample. */
dp_status pydp_dataset_callback(long long n, int c, int h, int w, pydp_fn *fn, dp_dataset **out);
/* seq: None (CIFAR-10 statistics) or (mean0, mean1, mean2, std0, std1, std2). */
/* CIFAR-10 (fashion = 0) or Fashion-MNIST (1); seq: (mean[3], std[3]) or NULL for the set's own. */
dp_status pydp_dataset_images(int fashion, const char *path, const double *seq, int seq_len, dp_dataset **out);
/* Sample i of ds into the writable float32 buffer dst (c*h*w); returns the label. */
dp_status pydp_dataset_get(const dp_dataset *ds, long long i, PyObject *dst, int *label);

/* opts: dp_source_opts fields (pydp_opts_apply); trace_path: NULL or the trace file. */
dp_status pydp_source_create(dp_dataset *ds, PyObject *opts, const char *trace_path, dp_source **out);

/* seq: weighted's initial weights or None; opts: dp_partitioner_opts fields. */
dp_status pydp_partitioner_create(const char *name, const double *seq, int seq_len, PyObject *opts,
                                  dp_partitioner **out);
/* fn(sample_id, key, workers) -> worker index; anything else fails that routing decision. */
dp_status pydp_partitioner_custom(pydp_fn *fn, dp_partitioner **out);

/* opts: dp_console_opts fields; stream: 1 stdout, 2 stderr, 0 the C default. */
dp_status pydp_sink_console(PyObject *opts, int stream, dp_sink **out);
/* opts: dp_dashboard_opts fields; host_port: "HOST:PORT". */
dp_status pydp_sink_dashboard(PyObject *opts, const char *host_port, dp_sink **out);
/* fn(kind, payload): "start" info dict, "record" result dict (only if want_records), "interval"
 * dict, "summary" (summary JSON string, info dict). */
dp_status pydp_sink_callback(pydp_fn *fn, int want_records, dp_sink **out);

/* ---- runner ---------------------------------------------------------------------------------- */
typedef struct pydp_runner pydp_runner;

/* opts: dp_runner_opts fields; seq: per-worker slowdown factors or None. */
dp_status pydp_runner_create(const dp_model *model, dp_partitioner *partitioner, PyObject *opts, const double *seq,
                             int seq_len, pydp_runner **out);
/* The dp_runner_opts the runner was created with, as a dict. */
PyObject *pydp_runner_opts(const pydp_runner *r);
void pydp_runner_free(pydp_runner *r);
dp_status pydp_runner_add_sink(pydp_runner *r, dp_sink *sink);
/* dp_runner_set_stages() with cuts by unit name ("layer3.0,layer4.0"; NULL or "auto": planned)
 * and depth -1 for the library's default. */
dp_status pydp_runner_set_stages(pydp_runner *r, const dp_model *model, int stages, const char *cuts, int depth,
                                  double link_bytes_per_s);
/* dp_runner_inject() (kind: a dp_fault_kind value) and dp_runner_clear_faults(). */
dp_status pydp_runner_inject(pydp_runner *r, double at_s, int worker, int kind, double value);
dp_status pydp_runner_clear_faults(pydp_runner *r);
/* fn(result dict) for every finished sample (None: no Python call). Set only between runs. */
dp_status pydp_runner_set_dispatch(pydp_runner *r, pydp_fn *fn);
/* Collect per data-set index top-1 (int32 [n], may be NULL) and logits (float32 [n,K], may be
 * NULL) during the next runs; both NULL: stop collecting. Set only between runs. */
dp_status pydp_runner_collect(pydp_runner *r, pydp_pin *top1, pydp_pin *logits, long long n);

/* Blocking calls returning a dp_status (see above); pydp_runner_error() has the message. */
int pydp_runner_run(pydp_runner *r, dp_source *src);
int pydp_runner_run_batch(pydp_runner *r, dp_dataset *ds);
int pydp_runner_drain(pydp_runner *r);
int pydp_runner_stop(pydp_runner *r);
const char *pydp_runner_error(const pydp_runner *r);
/* dp_runner_is_worker_rank(): 1 on an MPI worker rank, whose runs return empty summaries. */
int pydp_runner_is_worker_rank(const pydp_runner *r);
/* Ask a running run (any mode) to stop; safe from any thread. */
void pydp_runner_cancel(pydp_runner *r);

dp_status pydp_runner_start(pydp_runner *r, int c, int h, int w);
/* x: C-contiguous float32 buffer of the c*h*w values given to start() (copied by the library). */
dp_status pydp_runner_submit(pydp_runner *r, long long sample_id, PyObject *x);

/* The summary of the last run / stop as the library's JSON (None before any). */
PyObject *pydp_runner_summary_json(const pydp_runner *r);

#endif
