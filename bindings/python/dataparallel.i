/* dataparallel.i — SWIG interface of the low-level module dataparallel.capi.
 *
 * It exposes the C API as plain functions on opaque pointers; the Pythonic classes live in the
 * pure-Python package (dataparallel/*.py). Conventions applied by the typemaps below:
 *   - dp_status results raise dataparallel.Error (code, name, dp_last_error()) unless DP_OK, and
 *     then vanish from the return value;
 *   - `T **out` parameters become return values;
 *   - (const double *seq, int seq_len) takes a Python sequence of numbers or None;
 *   - the GIL is released around every call (swig -threads) except for the functions in pydp.h
 *     that handle Python objects, which release it themselves around blocking calls.
 */
%module(package="dataparallel") capi

%{
#include "pydp.h"
%}

%include <stdint.i>
%include <typemaps.i>

/* ---- conventions ------------------------------------------------------------------------------ */

/* To SWIG a status is an int (the C compiler sees the real enum from dataparallel.h). */
typedef int dp_status;

%typemap(out) dp_status {
    if (PyErr_Occurred()) SWIG_fail;
    if ($1 != DP_OK) {
        pydp_raise_status($1, dp_last_error());
        SWIG_fail;
    }
    $result = SWIG_Py_Void();
}

%define DP_OUT_HANDLE(T)
%typemap(in, numinputs=0) T **out (T *tmp = NULL) { $1 = &tmp; }
%typemap(argout) T **out { $result = SWIG_Python_AppendOutput($result, SWIG_NewPointerObj(*$1, $*1_descriptor, 0)); }
%enddef
DP_OUT_HANDLE(dp_model)
DP_OUT_HANDLE(dp_calibration)
DP_OUT_HANDLE(dp_exec)
DP_OUT_HANDLE(dp_dataset)
DP_OUT_HANDLE(dp_source)
DP_OUT_HANDLE(dp_partitioner)
DP_OUT_HANDLE(dp_sink)
DP_OUT_HANDLE(pydp_pin)
DP_OUT_HANDLE(pydp_fn)
DP_OUT_HANDLE(pydp_runner)

%typemap(in) (const double *seq, int seq_len) {
    $1 = NULL;
    $2 = 0;
    if ($input != Py_None) {
        PyObject *fast = PySequence_Fast($input, "expected a sequence of numbers or None");
        if (!fast) SWIG_fail;
        Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
        double *buf = malloc((size_t)(n > 0 ? n : 1) * sizeof(double));
        for (Py_ssize_t i = 0; buf && i < n; i++) buf[i] = PyFloat_AsDouble(PySequence_Fast_GET_ITEM(fast, i));
        Py_DECREF(fast);
        $1 = buf;
        if (!buf) { PyErr_NoMemory(); SWIG_fail; }
        if (PyErr_Occurred()) SWIG_fail;
        $2 = (int)n;
    }
}
%typemap(freearg) (const double *seq, int seq_len) { free((void *)$1); }

%apply int *OUTPUT { int *label, int *c, int *h, int *w };

/* PyObject * passes through; these touch Python objects, so they keep the GIL. */
%nothreadallow;
PyObject *pydp_arch_names(void);
dp_status pydp_infer(const dp_model *model, dp_exec *exec, PyObject *x, PyObject *out);
dp_status pydp_pin_new(PyObject *obj, int writable, pydp_pin **out);
void pydp_pin_free(pydp_pin *pin);
dp_status pydp_fn_new(PyObject *callable, pydp_fn **out);
void pydp_fn_free(pydp_fn *fn);
dp_status pydp_dataset_get(const dp_dataset *ds, long long i, PyObject *dst, int *label);
dp_status pydp_runner_submit(pydp_runner *r, long long sample_id, PyObject *x);
PyObject *pydp_runner_summary_json(const pydp_runner *r);
/* These read their options from a dict and release the GIL around the library call themselves. */
PyObject *pydp_opts_defaults(const char *kind);
PyObject *pydp_debug_last_opts(const char *kind);
dp_status pydp_model_load(const char *arch, const char *weights, PyObject *opts, const dp_calibration *calibration,
                          dp_model **out);
dp_status pydp_model_calibrate(const dp_model *model, const dp_dataset *ds, long long n, PyObject *opts,
                               dp_calibration **out);
dp_status pydp_source_create(dp_dataset *ds, PyObject *opts, const char *trace_path, dp_source **out);
dp_status pydp_partitioner_create(const char *name, const double *seq, int seq_len, PyObject *opts,
                                  dp_partitioner **out);
dp_status pydp_sink_console(PyObject *opts, int stream, dp_sink **out);
dp_status pydp_sink_dashboard(PyObject *opts, const char *host_port, dp_sink **out);
dp_status pydp_runner_create(const dp_model *model, dp_partitioner *partitioner, PyObject *opts, const double *seq,
                             int seq_len, pydp_runner **out);
PyObject *pydp_runner_opts(const pydp_runner *r);
PyObject *pydp_model_units(const dp_model *model, int h, int w, int batch, int threads, int iters);
dp_status pydp_model_stage(const dp_model *model, const double *seq, int seq_len, int index, dp_model **out);
PyObject *pydp_model_io_shape(const dp_model *model, int h, int w);
dp_status pydp_stage_run(const dp_model *stage, dp_exec *exec, PyObject *x, int h, int w, PyObject *out);
PyObject *pydp_split_plan(PyObject *units, PyObject *opts, PyObject *speeds);
PyObject *pydp_tune(const char *arch, const char *weights, PyObject *model_opts, const dp_calibration *calibration,
                    dp_dataset *ds, PyObject *opts, dp_sink *sink);
%clearnothreadallow;

/* ---- everything else releases the GIL --------------------------------------------------------- */

%constant int STATUS_COUNT = DP_STATUS_COUNT_;

const char *dp_version_string(void);
unsigned dp_version(void);
const char *dp_build_info(void);
const char *dp_status_str(dp_status s);
const char *dp_last_error(void);
int64_t dp_now_ns(void);

unsigned long long pydp_debug_last_input(void);

void dp_model_free(dp_model *model);
dp_status dp_calibration_save(const dp_calibration *cal, const char *path);
dp_status dp_calibration_load(const char *path, dp_calibration **out);
void dp_calibration_free(dp_calibration *cal);
const char *dp_calibration_arch(const dp_calibration *cal);
int64_t dp_calibration_samples(const dp_calibration *cal);
const char *dp_model_arch(const dp_model *model);
int dp_model_num_classes(const dp_model *model);
int dp_model_precision(const dp_model *model);
int dp_model_backend_kind(const dp_model *model);
size_t dp_model_param_count(const dp_model *model);
int dp_model_min_input_size(const dp_model *model);
int dp_model_input_channels(const dp_model *model);
int dp_model_is_stage(const dp_model *model);
dp_status dp_exec_create(const dp_model *model, int threads, dp_exec **out);
void dp_exec_free(dp_exec *exec);
dp_status dp_exec_prepare(dp_exec *exec, int n, int h, int w);

dp_status dp_dataset_synthetic(int64_t n, int c, int h, int w, uint64_t seed, dp_dataset **out);
dp_status dp_dataset_npy(const char *path, dp_dataset **out);
dp_status pydp_dataset_images(int fashion, const char *path, const double *seq, int seq_len, dp_dataset **out);
dp_status pydp_dataset_from_memory(pydp_pin *data, pydp_pin *labels, long long n, int c, int h, int w,
                                   dp_dataset **out);
dp_status pydp_dataset_callback(long long n, int c, int h, int w, pydp_fn *fn, dp_dataset **out);
void dp_dataset_free(dp_dataset *ds);
int64_t dp_dataset_count(const dp_dataset *ds);
void dp_dataset_shape(const dp_dataset *ds, int *c, int *h, int *w);

void dp_source_free(dp_source *src);
int64_t dp_source_count(const dp_source *src);
double dp_source_target_rate(const dp_source *src);
void dp_source_interrupt(dp_source *src);

dp_status pydp_partitioner_custom(pydp_fn *fn, dp_partitioner **out);
void dp_partitioner_free(dp_partitioner *p);
const char *dp_partitioner_name(const dp_partitioner *p);

dp_status dp_sink_csv_create(const char *path, dp_sink **out);
dp_status dp_sink_jsonl_create(const char *path, dp_sink **out);
dp_status dp_sink_prometheus_create(const char *host_port, dp_sink **out);
int dp_sink_prometheus_port(const dp_sink *sink);
int dp_sink_dashboard_port(const dp_sink *sink);
dp_status pydp_sink_callback(pydp_fn *fn, int want_records, dp_sink **out);
void dp_sink_free(dp_sink *sink);

void pydp_runner_free(pydp_runner *r);
dp_status pydp_runner_add_sink(pydp_runner *r, dp_sink *sink);
dp_status pydp_runner_set_stages(pydp_runner *r, const dp_model *model, int stages, const char *cuts, int depth,
                                  double link_bytes_per_s);
dp_status pydp_runner_inject(pydp_runner *r, double at_s, int worker, int kind, double value);
dp_status pydp_runner_clear_faults(pydp_runner *r);
dp_status pydp_runner_set_dispatch(pydp_runner *r, pydp_fn *fn);
dp_status pydp_runner_collect(pydp_runner *r, pydp_pin *top1, pydp_pin *logits, long long n);
int pydp_runner_run(pydp_runner *r, dp_source *src);
int pydp_runner_run_batch(pydp_runner *r, dp_dataset *ds);
int pydp_runner_drain(pydp_runner *r);
int pydp_runner_stop(pydp_runner *r);
const char *pydp_runner_error(const pydp_runner *r);
void pydp_runner_cancel(pydp_runner *r);
int pydp_runner_is_worker_rank(const pydp_runner *r);
dp_status pydp_runner_start(pydp_runner *r, int c, int h, int w);
