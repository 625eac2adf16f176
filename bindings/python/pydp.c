/* pydp.c — see pydp.h. Everything here runs either with the GIL held (called from Python) or on a
 * library thread between gil_enter() and gil_leave() (the trampolines). */
#include "pydp.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pydp_pin {
    Py_buffer view;
};

struct pydp_fn {
    PyObject *fn;
    size_t nfloats;     /* data-set callbacks: floats per sample */
};

struct pydp_runner {
    dp_runner *runner;
    dp_runner_opts opts;  /* as given to dp_runner_create() (pointer fields not kept) */
    dp_summary summary;
    int has_summary;
    int num_classes;
    char error[1024];   /* dp_last_error() of the thread that made the last failing call */
    pydp_fn *dispatch;  /* borrowed: the Python side keeps it alive while set */
    int32_t *top1;      /* collector, borrowed pinned buffers */
    float *logits;
    int64_t collect_n;
    size_t sample_floats;  /* push mode: c*h*w of dp_runner_start() */
};

static _Thread_local unsigned long long last_input;

/* ---- the GIL on library threads ---------------------------------------------------------------- */

/* PyGILState_Ensure() on a thread Python does not know creates a thread state and Release()
 * destroys it again: ~20 us per callback (measured, docs/python.md), more than the rest of a
 * trampoline. A library thread (worker, metrics thread) therefore keeps the thread state of its
 * first callback until it exits; a pthread key destructor deletes it then. Threads Python knows
 * (e.g. dp_dataset_get() called from Python) and nested entries use PyGILState as usual. */
typedef struct gil_cache {
    PyThreadState *ts;     /* saved while the thread is outside Python */
    int inside;
} gil_cache;

typedef struct gil_token {
    gil_cache *cache;      /* NULL: plain PyGILState */
    PyGILState_STATE g;
} gil_token;

static pthread_key_t gil_key;
static pthread_once_t gil_once = PTHREAD_ONCE_INIT;
static int gil_key_ok;

static int interpreter_finalizing(void) {
#if PY_VERSION_HEX >= 0x030D0000
    return Py_IsFinalizing();
#else
    return _Py_IsFinalizing();
#endif
}

static void gil_cache_destroy(void *p) {
    gil_cache *c = p;
    /* Once the interpreter is finalizing a thread may not take the GIL: leak the state then.
     * Not PyGILState_Release(): glibc has already cleared Python's own thread-specific slot. */
    if (c->ts && !interpreter_finalizing()) {
        PyEval_RestoreThread(c->ts);
        PyThreadState_Clear(c->ts);
        PyThreadState_DeleteCurrent();
    }
    free(c);
}

static void gil_key_init(void) { gil_key_ok = pthread_key_create(&gil_key, gil_cache_destroy) == 0; }

static gil_token gil_enter(void) {
    gil_token t = {NULL, PyGILState_UNLOCKED};
    pthread_once(&gil_once, gil_key_init);
    gil_cache *c = gil_key_ok ? pthread_getspecific(gil_key) : NULL;
    if (c && !c->inside) {
        PyEval_RestoreThread(c->ts);
        c->inside = 1;
        t.cache = c;
        return t;
    }
    int foreign = gil_key_ok && !c && PyGILState_GetThisThreadState() == NULL;
    t.g = PyGILState_Ensure();
    if (foreign && (c = calloc(1, sizeof *c)) != NULL) {
        if (pthread_setspecific(gil_key, c) == 0) {
            c->inside = 1;
            t.cache = c;
        } else {
            free(c);
        }
    }
    return t;
}

static void gil_leave(gil_token t) {
    if (t.cache) {
        t.cache->inside = 0;
        t.cache->ts = PyEval_SaveThread();
    } else {
        PyGILState_Release(t.g);
    }
}

/* ---- errors ----------------------------------------------------------------------------------- */

void pydp_raise_status(dp_status status, const char *message) {
    PyObject *mod = PyImport_ImportModule("dataparallel._errors");
    PyObject *cls = mod ? PyObject_GetAttrString(mod, "Error") : NULL;
    Py_XDECREF(mod);
    if (!cls) return; /* the import error is the exception then */
    PyObject *exc = PyObject_CallFunction(cls, "is", (int)status, message ? message : "");
    if (exc) {
        PyErr_SetObject(cls, exc);
        Py_DECREF(exc);
    }
    Py_DECREF(cls);
}

/* A failure detected here, before the library was called: set the exception, return a status. */
static dp_status fail(PyObject *type, const char *msg) {
    PyErr_SetString(type, msg);
    return DP_ERR_INVALID_ARG;
}

/* ---- module-level helpers -------------------------------------------------------------------- */

PyObject *pydp_arch_names(void) {
    PyObject *list = PyList_New(0);
    for (const char *const *n = dp_model_arch_names(); list && *n; n++) {
        PyObject *s = PyUnicode_FromString(*n);
        if (!s || PyList_Append(list, s) < 0) Py_CLEAR(list);
        Py_XDECREF(s);
    }
    return list;
}

unsigned long long pydp_debug_last_input(void) { return last_input; }

/* ---- models ---------------------------------------------------------------------------------- */

dp_status pydp_model_load(const char *arch, const char *weights, PyObject *opts, const dp_calibration *calibration,
                          dp_model **out) {
    dp_model_opts o;
    if (pydp_opts_apply(PYDP_OPTS_MODEL, opts, &o) < 0) return DP_ERR_INVALID_ARG;
    o.calibration = calibration;
    dp_status st;
    Py_BEGIN_ALLOW_THREADS
    st = dp_model_load(arch, weights, &o, out);
    Py_END_ALLOW_THREADS
    return st;
}

dp_status pydp_model_calibrate(const dp_model *model, const dp_dataset *ds, long long n, PyObject *opts,
                               dp_calibration **out) {
    dp_calib_opts o;
    if (pydp_opts_apply(PYDP_OPTS_CALIB, opts, &o) < 0) return DP_ERR_INVALID_ARG;
    dp_status st;
    Py_BEGIN_ALLOW_THREADS
    st = dp_model_calibrate(model, ds, n, &o, out);
    Py_END_ALLOW_THREADS
    return st;
}

static int is_float32(const Py_buffer *v) {
    const char *f = v->format ? v->format : "B";
    if (f[0] == '<' || f[0] == '=' || f[0] == '@') f++;
    return f[0] == 'f' && f[1] == '\0' && v->itemsize == 4;
}

/* A C-contiguous float32 buffer (writable if asked); sets ValueError/TypeError otherwise. */
int pydp_float_buffer(PyObject *obj, Py_buffer *v, int writable, const char *what) {
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    char msg[160];
    if (PyObject_GetBuffer(obj, v, flags) < 0) {
        PyErr_Clear();
        snprintf(msg, sizeof msg, "%s must be a C-contiguous%s buffer (e.g. a NumPy array)", what,
                 writable ? " writable" : "");
        PyErr_SetString(PyExc_ValueError, msg);
        return -1;
    }
    if (!is_float32(v)) {
        snprintf(msg, sizeof msg, "%s must hold float32 items, got format '%s'", what, v->format ? v->format : "B");
        PyBuffer_Release(v);
        PyErr_SetString(PyExc_TypeError, msg);
        return -1;
    }
    return 0;
}

dp_status pydp_infer(const dp_model *model, dp_exec *exec, PyObject *x, PyObject *out) {
    Py_buffer bx, bo;
    if (!model || !exec) return fail(PyExc_ValueError, "no model or execution context");
    if (pydp_float_buffer(x, &bx, 0, "input") < 0) return DP_ERR_INVALID_ARG;
    if (pydp_float_buffer(out, &bo, 1, "output") < 0) {
        PyBuffer_Release(&bx);
        return DP_ERR_INVALID_ARG;
    }
    dp_status st = DP_ERR_INVALID_ARG;
    /* The library trusts n, h, w: every size it will touch is checked here. */
    if (bx.ndim != 4 || bo.ndim != 2 || bx.shape[0] != bo.shape[0] || bx.shape[1] != dp_model_input_channels(model) ||
        bo.shape[1] != dp_model_num_classes(model) || bx.shape[0] > INT32_MAX || bx.shape[2] > INT32_MAX ||
        bx.shape[3] > INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "input must be [N,C,H,W] and output [N,K] for this model");
        goto done;
    }
    const float *in = bx.buf;
    float *logits = bo.buf;
    int n = (int)bx.shape[0], h = (int)bx.shape[2], w = (int)bx.shape[3];
    last_input = (unsigned long long)(uintptr_t)in;
    Py_BEGIN_ALLOW_THREADS
    st = dp_exec_run(exec, in, n, h, w, logits);
    Py_END_ALLOW_THREADS
done:
    PyBuffer_Release(&bo);
    PyBuffer_Release(&bx);
    return st;
}

/* ---- pinned buffers and Python callables ------------------------------------------------------- */

dp_status pydp_pin_new(PyObject *obj, int writable, pydp_pin **out) {
    pydp_pin *p = calloc(1, sizeof *p);
    if (!p) return fail(PyExc_MemoryError, "out of memory");
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, &p->view, flags) < 0) {
        free(p);
        return DP_ERR_INVALID_ARG;
    }
    *out = p;
    return DP_OK;
}

void pydp_pin_free(pydp_pin *pin) {
    if (!pin) return;
    PyBuffer_Release(&pin->view);
    free(pin);
}

dp_status pydp_fn_new(PyObject *callable, pydp_fn **out) {
    if (!PyCallable_Check(callable)) return fail(PyExc_TypeError, "expected a callable");
    pydp_fn *f = calloc(1, sizeof *f);
    if (!f) return fail(PyExc_MemoryError, "out of memory");
    Py_INCREF(callable);
    f->fn = callable;
    *out = f;
    return DP_OK;
}

void pydp_fn_free(pydp_fn *fn) {
    if (!fn) return;
    Py_DECREF(fn->fn);
    free(fn);
}

/* Call f->fn(args...) from a library thread; returns the new reference or NULL. The Python layer
 * wraps every user callable so that it does not raise; anything that still escapes is reported
 * as unraisable rather than left pending on a thread that has no caller to receive it. */
static PyObject *call_fn(pydp_fn *f, PyObject *args) {
    PyObject *r = args ? PyObject_CallObject(f->fn, args) : NULL;
    Py_XDECREF(args);
    if (!r && PyErr_Occurred()) PyErr_WriteUnraisable(f->fn);
    return r;
}

/* ---- dicts for callbacks and summaries --------------------------------------------------------- */

static PyObject *latency_dict(const dp_latency_ms *l) {
    return Py_BuildValue("{s:d,s:d,s:d,s:d,s:d,s:d}", "mean", l->mean, "p50", l->p50, "p90", l->p90, "p99",
                         l->p99, "p999", l->p999, "max", l->max);
}

static PyObject *result_dict(const dp_result *r) {
    PyObject *d = Py_BuildValue("{s:L,s:L,s:i,s:i,s:i,s:i,s:s,s:i,s:L,s:L,s:L,s:L,s:L,s:L,s:L}", "sample_id",
                                (long long)r->sample_id, "index", (long long)r->index, "worker", r->worker, "top1",
                                r->top1, "label", (int)r->label, "batch_size", r->batch_size, "status",
                                dp_status_str(r->status), "code", (int)r->status, "intended_ns",
                                (long long)r->intended_ns, "start_ns", (long long)r->start_ns, "end_ns",
                                (long long)r->end_ns, "enqueued_ns", (long long)r->enqueued_ns, "taken_ns",
                                (long long)r->taken_ns, "service_ns", (long long)r->service_ns, "delivered_ns",
                                (long long)r->delivered_ns);
    if (!d) return NULL;
    PyObject *lat = r->status == DP_OK ? PyFloat_FromDouble((double)(r->delivered_ns - r->intended_ns) / 1e6)
                                       : (Py_INCREF(Py_None), Py_None);
    PyObject *lg = r->logits ? PyBytes_FromStringAndSize((const char *)r->logits,
                                                        (Py_ssize_t)r->num_classes * (Py_ssize_t)sizeof(float))
                             : (Py_INCREF(Py_None), Py_None);
    if (!lat || !lg || PyDict_SetItemString(d, "latency_ms", lat) < 0 || PyDict_SetItemString(d, "logits", lg) < 0)
        Py_CLEAR(d);
    Py_XDECREF(lat);
    Py_XDECREF(lg);
    return d;
}

static PyObject *int_list(const int *v, int n) {
    PyObject *l = PyList_New(n);
    for (int i = 0; l && i < n; i++) PyList_SET_ITEM(l, i, PyLong_FromLong(v ? v[i] : 0));
    return l;
}

static PyObject *int64_list(const int64_t *v, int n) {
    PyObject *l = PyList_New(n);
    for (int i = 0; l && i < n; i++) PyList_SET_ITEM(l, i, PyLong_FromLongLong(v ? v[i] : 0));
    return l;
}

static PyObject *interval_dict(const dp_interval *iv) {
    return Py_BuildValue("{s:d,s:L,s:L,s:L,s:L,s:d,s:N,s:i,s:N,s:N,s:i,s:d,s:d,s:L}", "t_s", iv->t_s, "offered",
                         (long long)iv->offered, "completed", (long long)iv->completed, "dropped",
                         (long long)iv->dropped, "failed", (long long)iv->failed, "throughput", iv->throughput,
                         "latency_ms", latency_dict(&iv->latency_ms), "queue_depth", iv->queue_depth,
                         "worker_queue_depth", int_list(iv->worker_queue_depth, iv->workers), "worker_completed",
                         int64_list(iv->worker_completed, iv->workers), "workers", iv->workers, "cpu_pct",
                         iv->cpu_pct, "rss_mb", iv->rss_mb, "sink_rows_dropped", (long long)iv->sink_rows_dropped);
}

static PyObject *info_dict(const dp_run_info *in) {
    return Py_BuildValue("{s:s,s:s,s:s,s:i,s:i,s:d,s:L,s:L}", "mode", in->mode ? in->mode : "", "arch",
                         in->arch ? in->arch : "", "strategy", in->strategy ? in->strategy : "", "workers",
                         in->workers, "threads_per_worker", in->threads_per_worker, "target_rate", in->target_rate,
                         "expected_samples", (long long)in->expected_samples, "start_ns", (long long)in->start_ns);
}

/* Summaries go through the library's JSON so that Python sees exactly its field names. */
static PyObject *summary_json(const dp_summary *s) {
    size_t need = dp_summary_to_json(s, NULL, 0);
    char *buf = malloc(need + 1);
    if (!buf) return PyErr_NoMemory();
    dp_summary_to_json(s, buf, need + 1);
    PyObject *str = PyUnicode_FromStringAndSize(buf, (Py_ssize_t)strnlen(buf, need));
    free(buf);
    return str;
}

/* ---- data sets, sources, partitioners, sinks --------------------------------------------------- */

dp_status pydp_dataset_from_memory(pydp_pin *data, pydp_pin *labels, long long n, int c, int h, int w,
                                   dp_dataset **out) {
    if (!data) return fail(PyExc_ValueError, "no data");
    if (n < 0 || c < 1 || h < 1 || w < 1 || data->view.len != (Py_ssize_t)(n * c * h * w * (long long)sizeof(float)))
        return fail(PyExc_ValueError, "data buffer size does not match [n,c,h,w] float32");
    if (labels && labels->view.len != (Py_ssize_t)(n * (long long)sizeof(int32_t)))
        return fail(PyExc_ValueError, "labels buffer size does not match n int32");
    return dp_dataset_from_memory(data->view.buf, labels ? labels->view.buf : NULL, n, c, h, w, out);
}

static int dataset_trampoline(int64_t i, float *dst, int32_t *label, void *user) {
    pydp_fn *f = user;
    int rc = 1;
    gil_token g = gil_enter();
    PyObject *mv = PyMemoryView_FromMemory((char *)dst, (Py_ssize_t)(f->nfloats * sizeof(float)), PyBUF_WRITE);
    if (mv) {
        PyObject *r = call_fn(f, Py_BuildValue("(LO)", (long long)i, mv));
        if (r && PyLong_Check(r)) {
            long v = PyLong_AsLong(r);
            if (v >= -1 && v <= INT32_MAX && !PyErr_Occurred()) {
                if (label) *label = (int32_t)v;
                rc = 0;
            }
            PyErr_Clear();
        }
        Py_XDECREF(r);
        /* The memory belongs to the library after we return: make any kept view unusable. */
        PyObject *rel = PyObject_CallMethod(mv, "release", NULL);
        if (!rel) PyErr_Clear();
        Py_XDECREF(rel);
        Py_DECREF(mv);
    } else {
        PyErr_Clear();
    }
    gil_leave(g);
    return rc;
}

dp_status pydp_dataset_callback(long long n, int c, int h, int w, pydp_fn *fn, dp_dataset **out) {
    if (!fn) return fail(PyExc_ValueError, "no callback");
    if (c > 0 && h > 0 && w > 0) fn->nfloats = (size_t)c * (size_t)h * (size_t)w;
    return dp_dataset_callback(n, c, h, w, dataset_trampoline, fn, out);
}

dp_status pydp_dataset_images(int fashion, const char *path, const double *seq, int seq_len, dp_dataset **out) {
    dp_status (*make)(const char *, const dp_normalize *, dp_dataset **) =
        fashion ? dp_dataset_fashion_mnist : dp_dataset_cifar10;
    if (!seq) return make(path, NULL, out);
    if (seq_len != 6) return fail(PyExc_ValueError, "normalize must be (mean[3], std[3])");
    dp_normalize norm;
    for (int k = 0; k < 3; k++) {
        norm.mean[k] = (float)seq[k];
        norm.std[k] = (float)seq[3 + k];
    }
    return make(path, &norm, out);
}

dp_status pydp_dataset_get(const dp_dataset *ds, long long i, PyObject *dst, int *label) {
    Py_buffer b;
    int c = 0, h = 0, w = 0;
    if (!ds) return fail(PyExc_ValueError, "no data set");
    dp_dataset_shape(ds, &c, &h, &w);
    if (pydp_float_buffer(dst, &b, 1, "destination") < 0) return DP_ERR_INVALID_ARG;
    dp_status st = DP_ERR_INVALID_ARG;
    if (b.len != (Py_ssize_t)c * h * w * (Py_ssize_t)sizeof(float)) {
        PyErr_SetString(PyExc_ValueError, "destination size does not match the data set's sample shape");
    } else {
        int32_t lab = -1;
        float *p = b.buf;
        Py_BEGIN_ALLOW_THREADS
        st = dp_dataset_get(ds, i, p, &lab);
        Py_END_ALLOW_THREADS
        *label = lab;
    }
    PyBuffer_Release(&b);
    return st;
}

dp_status pydp_source_create(dp_dataset *ds, PyObject *opts, const char *trace_path, dp_source **out) {
    dp_source_opts o;
    if (pydp_opts_apply(PYDP_OPTS_SOURCE, opts, &o) < 0) return DP_ERR_INVALID_ARG;
    o.trace_path = trace_path;
    dp_status st;
    Py_BEGIN_ALLOW_THREADS
    st = dp_source_create(ds, &o, out);
    Py_END_ALLOW_THREADS
    return st;
}

dp_status pydp_partitioner_create(const char *name, const double *seq, int seq_len, PyObject *opts,
                                  dp_partitioner **out) {
    dp_partitioner_opts o;
    if (pydp_opts_apply(PYDP_OPTS_PARTITIONER, opts, &o) < 0) return DP_ERR_INVALID_ARG;
    o.weights = seq;
    o.num_weights = seq_len;
    return dp_partitioner_create(name, &o, out);
}

static int partition_trampoline(int64_t sample_id, int64_t key, int workers, void *user) {
    int worker = -1;
    gil_token g = gil_enter();
    PyObject *r = call_fn(user, Py_BuildValue("(LLi)", (long long)sample_id, (long long)key, workers));
    if (r) {
        long v = PyLong_AsLong(r);
        if (!PyErr_Occurred() && v >= 0 && v < workers) worker = (int)v;
        PyErr_Clear();
        Py_DECREF(r);
    }
    gil_leave(g);
    return worker;
}

dp_status pydp_partitioner_custom(pydp_fn *fn, dp_partitioner **out) {
    if (!fn) return fail(PyExc_ValueError, "no callback");
    return dp_partitioner_create_custom(partition_trampoline, fn, out);
}

dp_status pydp_sink_console(PyObject *opts, int stream, dp_sink **out) {
    dp_console_opts o;
    if (pydp_opts_apply(PYDP_OPTS_CONSOLE, opts, &o) < 0) return DP_ERR_INVALID_ARG;
    if (stream == 1) o.stream = stdout;
    if (stream == 2) o.stream = stderr;
    return dp_sink_console_create(&o, out);
}

dp_status pydp_sink_dashboard(PyObject *opts, const char *host_port, dp_sink **out) {
    dp_dashboard_opts o;
    if (pydp_opts_apply(PYDP_OPTS_DASHBOARD, opts, &o) < 0) return DP_ERR_INVALID_ARG;
    o.host_port = host_port;
    dp_status st;
    Py_BEGIN_ALLOW_THREADS
    st = dp_sink_dashboard_create(&o, out);
    Py_END_ALLOW_THREADS
    return st;
}

/* Sink events: build the dict and call fn(kind, dict) under the GIL. */
static void sink_event(void *user, const char *kind, PyObject *(*build)(const void *), const void *arg) {
    gil_token g = gil_enter();
    PyObject *d = build(arg);
    if (d) {
        Py_XDECREF(call_fn(user, Py_BuildValue("(sN)", kind, d)));
    } else {
        PyErr_WriteUnraisable(((pydp_fn *)user)->fn);
    }
    gil_leave(g);
}

static PyObject *build_info(const void *p) { return info_dict(p); }
static PyObject *build_record(const void *p) { return result_dict(p); }
static PyObject *build_interval(const void *p) { return interval_dict(p); }

static void sink_on_start(const dp_run_info *info, void *user) { sink_event(user, "start", build_info, info); }
static void sink_on_record(const dp_result *r, void *user) { sink_event(user, "record", build_record, r); }
static void sink_on_interval(const dp_interval *iv, void *user) {
    sink_event(user, "interval", build_interval, iv);
}

static void sink_on_summary(const dp_run_info *info, const dp_summary *s, void *user) {
    gil_token g = gil_enter();
    PyObject *args = Py_BuildValue("(s(NN))", "summary", summary_json(s), info_dict(info));
    if (args)
        Py_XDECREF(call_fn(user, args));
    else
        PyErr_WriteUnraisable(((pydp_fn *)user)->fn);
    gil_leave(g);
}

dp_status pydp_sink_callback(pydp_fn *fn, int want_records, dp_sink **out) {
    if (!fn) return fail(PyExc_ValueError, "no callback");
    dp_sink_callbacks cb;
    dp_sink_callbacks_init(&cb);
    cb.on_start = sink_on_start;
    cb.on_record = want_records ? sink_on_record : NULL;
    cb.on_interval = sink_on_interval;
    cb.on_summary = sink_on_summary;
    cb.user = fn;
    return dp_sink_callback_create(&cb, out);
}

/* ---- runner ---------------------------------------------------------------------------------- */

/* Called by workers for every finished sample: the collector needs no GIL (distinct indices). */
static void runner_on_result(const dp_result *res, void *sample_ctx, void *user) {
    (void)sample_ctx;
    pydp_runner *r = user;
    if (r->collect_n > 0 && res->index >= 0 && res->index < r->collect_n && res->status == DP_OK) {
        if (r->top1) r->top1[res->index] = res->top1;
        if (r->logits && res->logits)
            memcpy(r->logits + res->index * r->num_classes, res->logits, (size_t)r->num_classes * sizeof(float));
    }
    if (r->dispatch) {
        gil_token g = gil_enter();
        PyObject *d = result_dict(res);
        if (d)
            Py_XDECREF(call_fn(r->dispatch, Py_BuildValue("(N)", d)));
        else
            PyErr_WriteUnraisable(r->dispatch->fn);
        gil_leave(g);
    }
}

static void keep_error(pydp_runner *r, int st) {
    if (st != DP_OK) snprintf(r->error, sizeof r->error, "%s", dp_last_error());
}

dp_status pydp_runner_create(const dp_model *model, dp_partitioner *partitioner, PyObject *opts, const double *seq,
                             int seq_len, pydp_runner **out) {
    pydp_runner *r = calloc(1, sizeof *r);
    if (!r) {
        PyErr_NoMemory();
        return DP_ERR_NOMEM;
    }
    dp_runner_opts *o = &r->opts;
    if (pydp_opts_apply(PYDP_OPTS_RUNNER, opts, o) < 0) {
        free(r);
        return DP_ERR_INVALID_ARG;
    }
    o->slowdown = seq;
    o->num_slowdown = seq_len;
    o->on_result = runner_on_result;
    o->on_result_user = r;
    r->num_classes = model ? dp_model_num_classes(model) : 0;
    dp_status st;
    Py_BEGIN_ALLOW_THREADS
    st = dp_runner_create(model, partitioner, o, &r->runner);
    Py_END_ALLOW_THREADS
    o->slowdown = NULL; /* borrowed for the call only (the library copies it) */
    if (st != DP_OK) {
        free(r);
        return st;
    }
    *out = r;
    return DP_OK;
}

PyObject *pydp_runner_opts(const pydp_runner *r) {
    if (!r) {
        PyErr_SetString(PyExc_ValueError, "no runner");
        return NULL;
    }
    return pydp_opts_to_dict(PYDP_OPTS_RUNNER, &r->opts);
}

void pydp_runner_free(pydp_runner *r) {
    if (!r) return;
    dp_runner_free(r->runner);
    free(r);
}

dp_status pydp_runner_add_sink(pydp_runner *r, dp_sink *sink) {
    if (!r) return DP_ERR_INVALID_ARG;
    return dp_runner_add_sink(r->runner, sink);
}

dp_status pydp_runner_set_stages(pydp_runner *r, const dp_model *model, int stages, const char *cuts, int depth,
                                  double link_bytes_per_s) {
    if (!r) return DP_ERR_INVALID_ARG;
    dp_stage_opts so;
    dp_stage_opts_init(&so);
    so.stages = stages;
    if (depth >= 0) so.depth = depth; /* -1: the library's default */
    so.link_bytes_per_s = link_bytes_per_s;
    char *buf = cuts && strcmp(cuts, "auto") != 0 ? strdup(cuts) : NULL;
    int *idx = buf ? calloc(strlen(buf) + 1, sizeof *idx) : NULL; /* at most one cut per character */
    dp_status s = buf && !idx ? DP_ERR_NOMEM : DP_OK;
    if (buf && idx) {
        so.cuts = idx;
        for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok && !s; tok = strtok_r(NULL, ",", &save))
            s = dp_model_unit_index(model, tok, &idx[so.num_cuts++]);
    }
    if (!s) s = dp_runner_set_stages(r->runner, &so);
    free(buf);
    free(idx);
    return s;
}

dp_status pydp_runner_inject(pydp_runner *r, double at_s, int worker, int kind, double value) {
    if (!r) return fail(PyExc_ValueError, "no runner");
    return dp_runner_inject(r->runner, at_s, worker, (dp_fault_kind)kind, value);
}

dp_status pydp_runner_clear_faults(pydp_runner *r) {
    if (!r) return fail(PyExc_ValueError, "no runner");
    return dp_runner_clear_faults(r->runner);
}

dp_status pydp_runner_set_dispatch(pydp_runner *r, pydp_fn *fn) {
    if (!r) return fail(PyExc_ValueError, "no runner");
    r->dispatch = fn;
    return DP_OK;
}

dp_status pydp_runner_collect(pydp_runner *r, pydp_pin *top1, pydp_pin *logits, long long n) {
    if (!r) return fail(PyExc_ValueError, "no runner");
    if ((top1 && top1->view.len < (Py_ssize_t)(n * (long long)sizeof(int32_t))) ||
        (logits && logits->view.len < (Py_ssize_t)(n * r->num_classes * (long long)sizeof(float))))
        return fail(PyExc_ValueError, "collector buffers are too small");
    r->top1 = top1 ? top1->view.buf : NULL;
    r->logits = logits ? logits->view.buf : NULL;
    r->collect_n = (top1 || logits) ? n : 0;
    return DP_OK;
}

static void new_summary(pydp_runner *r) {
    dp_summary_init(&r->summary);
    r->error[0] = '\0';
}

int pydp_runner_run(pydp_runner *r, dp_source *src) {
    if (!r) return DP_ERR_INVALID_ARG;
    new_summary(r);
    int st = dp_runner_run(r->runner, src, &r->summary);
    r->has_summary = st == DP_OK || st == DP_ERR_CANCELLED;
    keep_error(r, st);
    return st;
}

int pydp_runner_run_batch(pydp_runner *r, dp_dataset *ds) {
    if (!r) return DP_ERR_INVALID_ARG;
    new_summary(r);
    int st = dp_runner_run_batch(r->runner, ds, &r->summary);
    r->has_summary = st == DP_OK || st == DP_ERR_CANCELLED;
    keep_error(r, st);
    return st;
}

dp_status pydp_runner_start(pydp_runner *r, int c, int h, int w) {
    if (!r) return DP_ERR_INVALID_ARG;
    dp_status st = dp_runner_start(r->runner, c, h, w);
    r->sample_floats = st == DP_OK ? (size_t)c * (size_t)h * (size_t)w : 0;
    return st;
}

dp_status pydp_runner_submit(pydp_runner *r, long long sample_id, PyObject *x) {
    Py_buffer b;
    if (!r) return fail(PyExc_ValueError, "no runner");
    if (pydp_float_buffer(x, &b, 0, "sample") < 0) return DP_ERR_INVALID_ARG;
    if ((size_t)b.len != r->sample_floats * sizeof(float)) {
        PyBuffer_Release(&b);
        return fail(PyExc_ValueError, "sample size differs from the shape given to start()");
    }
    dp_status st;
    const float *p = b.buf;
    /* submit blocks when the queue is full (overflow "block"), while workers need the GIL for
     * the result callbacks that free room. */
    Py_BEGIN_ALLOW_THREADS
    st = dp_runner_submit(r->runner, sample_id, p, NULL);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&b);
    return st;
}

int pydp_runner_drain(pydp_runner *r) {
    if (!r) return DP_ERR_INVALID_ARG;
    r->error[0] = '\0';
    int st = dp_runner_drain(r->runner);
    keep_error(r, st);
    return st;
}

int pydp_runner_stop(pydp_runner *r) {
    if (!r) return DP_ERR_INVALID_ARG;
    new_summary(r);
    int st = dp_runner_stop(r->runner, &r->summary);
    r->has_summary = st == DP_OK || st == DP_ERR_CANCELLED;
    keep_error(r, st);
    return st;
}

void pydp_runner_cancel(pydp_runner *r) {
    if (r) dp_runner_stop(r->runner, NULL);
}

const char *pydp_runner_error(const pydp_runner *r) { return r ? r->error : ""; }

int pydp_runner_is_worker_rank(const pydp_runner *r) { return r ? dp_runner_is_worker_rank(r->runner) : 0; }

PyObject *pydp_runner_summary_json(const pydp_runner *r) {
    if (!r || !r->has_summary) Py_RETURN_NONE;
    return summary_json(&r->summary);
}
