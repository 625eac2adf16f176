/* pydp_opts.c — the library's options structs as Python dicts, one table per struct.
 *
 * Python never repeats a default: the dict of a struct fresh from its *_opts_init() is what the
 * package documents and shows, and a create call starts from *_opts_init() and overwrites only
 * the fields the caller gave (None keeps the C default). Fields that are pointers (arrays, paths,
 * FILE *, callbacks) are passed as explicit arguments by pydp.c instead. tests/python/
 * test_options.py checks these tables against the struct definitions in include/dataparallel/. */
#include <limits.h>
#include <stddef.h>
#include <string.h>

#include "pydp.h"

typedef enum opt_type { OPT_INT, OPT_BOOL, OPT_ENUM, OPT_I64, OPT_U64, OPT_DOUBLE } opt_type;

typedef struct opt_field {
    const char *name;
    opt_type type;
    size_t offset;
} opt_field;

/* Enumerations are stored through an int: true for every enum these structs hold. */
_Static_assert(sizeof(dp_precision) == sizeof(int) && sizeof(dp_calib_method) == sizeof(int) && sizeof(dp_model_backend) == sizeof(int) &&
                   sizeof(dp_overflow) == sizeof(int) && sizeof(dp_runner_backend) == sizeof(int) &&
                   sizeof(dp_rate_policy) == sizeof(int) && sizeof(dp_split_method) == sizeof(int),
               "an options enum is not int-sized");

#define F(S, name, type) {#name, type, offsetof(S, name)}

static const opt_field model_fields[] = {
    F(dp_model_opts, num_classes, OPT_INT), F(dp_model_opts, precision, OPT_ENUM),
    F(dp_model_opts, backend, OPT_ENUM),    F(dp_model_opts, seed, OPT_U64),
    F(dp_model_opts, allow_nonfinite, OPT_BOOL), {NULL, OPT_INT, 0}};

static const opt_field runner_fields[] = {
    F(dp_runner_opts, workers, OPT_INT),           F(dp_runner_opts, threads_per_worker, OPT_INT),
    F(dp_runner_opts, max_batch, OPT_INT),         F(dp_runner_opts, max_delay_us, OPT_I64),
    F(dp_runner_opts, queue_capacity, OPT_INT),    F(dp_runner_opts, overflow, OPT_ENUM),
    F(dp_runner_opts, backend, OPT_ENUM),          F(dp_runner_opts, straggler_factor, OPT_DOUBLE),
    F(dp_runner_opts, pin_workers, OPT_BOOL),      F(dp_runner_opts, keep_logits, OPT_BOOL),
    F(dp_runner_opts, interval_ms, OPT_INT),       F(dp_runner_opts, handle_signals, OPT_BOOL),
    F(dp_runner_opts, worker_timeout_s, OPT_DOUBLE), F(dp_runner_opts, retry, OPT_BOOL),
    F(dp_runner_opts, rank_concurrency, OPT_INT),  F(dp_runner_opts, warmup_s, OPT_DOUBLE),
    F(dp_runner_opts, warmup_samples, OPT_I64),    {NULL, OPT_INT, 0}};

static const opt_field source_fields[] = {
    F(dp_source_opts, policy, OPT_ENUM), F(dp_source_opts, rate, OPT_DOUBLE), F(dp_source_opts, samples, OPT_I64),
    F(dp_source_opts, seed, OPT_U64),    F(dp_source_opts, spin_ns, OPT_I64), {NULL, OPT_INT, 0}};

static const opt_field partitioner_fields[] = {
    F(dp_partitioner_opts, num_shards, OPT_INT), F(dp_partitioner_opts, vnodes, OPT_INT),
    F(dp_partitioner_opts, ema_alpha, OPT_DOUBLE), F(dp_partitioner_opts, min_chunk, OPT_INT), {NULL, OPT_INT, 0}};

static const opt_field console_fields[] = {
    F(dp_console_opts, live, OPT_INT), F(dp_console_opts, quiet, OPT_BOOL), {NULL, OPT_INT, 0}};

static const opt_field calib_fields[] = {
    F(dp_calib_opts, method, OPT_ENUM), F(dp_calib_opts, percentile, OPT_DOUBLE), {NULL, OPT_INT, 0}};

static const opt_field dashboard_fields[] = {
    F(dp_dashboard_opts, slo_p99_ms, OPT_DOUBLE), F(dp_dashboard_opts, history_rows, OPT_INT), {NULL, OPT_INT, 0}};

static const opt_field split_fields[] = {
    F(dp_split_opts, stages, OPT_INT),         F(dp_split_opts, link_bytes_per_s, OPT_DOUBLE),
    F(dp_split_opts, link_latency_s, OPT_DOUBLE), F(dp_split_opts, batch, OPT_INT),
    F(dp_split_opts, method, OPT_ENUM),        {NULL, OPT_INT, 0}};

#undef F

/* The last struct of each kind this thread handed to the library (pydp_debug_last_opts). */
static _Thread_local union {
    dp_model_opts model;
    dp_runner_opts runner;
    dp_source_opts source;
    dp_partitioner_opts partitioner;
    dp_console_opts console;
    dp_dashboard_opts dashboard;
    dp_calib_opts calib;
    dp_split_opts split;
} last[PYDP_OPTS_COUNT_];

static void init_model(void *o) { dp_model_opts_init((dp_model_opts *)o); }
static void init_runner(void *o) { dp_runner_opts_init((dp_runner_opts *)o); }
static void init_source(void *o) { dp_source_opts_init((dp_source_opts *)o); }
static void init_partitioner(void *o) { dp_partitioner_opts_init((dp_partitioner_opts *)o); }
static void init_console(void *o) { dp_console_opts_init((dp_console_opts *)o); }
static void init_dashboard(void *o) { dp_dashboard_opts_init((dp_dashboard_opts *)o); }
static void init_calib(void *o) { dp_calib_opts_init((dp_calib_opts *)o); }
static void init_split(void *o) { dp_split_opts_init((dp_split_opts *)o); }

static const struct opt_kind {
    const char *name;
    const opt_field *fields;
    void (*init)(void *);
    size_t size;
} kinds[PYDP_OPTS_COUNT_] = {
    [PYDP_OPTS_MODEL] = {"model", model_fields, init_model, sizeof(dp_model_opts)},
    [PYDP_OPTS_RUNNER] = {"runner", runner_fields, init_runner, sizeof(dp_runner_opts)},
    [PYDP_OPTS_SOURCE] = {"source", source_fields, init_source, sizeof(dp_source_opts)},
    [PYDP_OPTS_PARTITIONER] = {"partitioner", partitioner_fields, init_partitioner, sizeof(dp_partitioner_opts)},
    [PYDP_OPTS_CONSOLE] = {"console", console_fields, init_console, sizeof(dp_console_opts)},
    [PYDP_OPTS_DASHBOARD] = {"dashboard", dashboard_fields, init_dashboard, sizeof(dp_dashboard_opts)},
    [PYDP_OPTS_CALIB] = {"calib", calib_fields, init_calib, sizeof(dp_calib_opts)},
    [PYDP_OPTS_SPLIT] = {"split", split_fields, init_split, sizeof(dp_split_opts)},
};

static const struct opt_kind *find_kind(const char *name) {
    for (int k = 0; k < PYDP_OPTS_COUNT_; k++)
        if (name && strcmp(kinds[k].name, name) == 0) return &kinds[k];
    PyErr_Format(PyExc_ValueError, "no options struct named '%s'", name ? name : "(null)");
    return NULL;
}

static PyObject *field_value(const opt_field *f, const void *opts) {
    const char *p = (const char *)opts + f->offset;
    int i;
    int64_t i64;
    uint64_t u64;
    double d;
    switch (f->type) {
    case OPT_BOOL:
        memcpy(&i, p, sizeof i);
        return PyBool_FromLong(i);
    case OPT_I64:
        memcpy(&i64, p, sizeof i64);
        return PyLong_FromLongLong(i64);
    case OPT_U64:
        memcpy(&u64, p, sizeof u64);
        return PyLong_FromUnsignedLongLong(u64);
    case OPT_DOUBLE:
        memcpy(&d, p, sizeof d);
        return PyFloat_FromDouble(d);
    case OPT_INT:
    case OPT_ENUM:
        break;
    }
    memcpy(&i, p, sizeof i);
    return PyLong_FromLong(i);
}

static PyObject *opts_dict(const struct opt_kind *k, const void *opts) {
    PyObject *d = PyDict_New();
    for (const opt_field *f = k->fields; d && f->name; f++) {
        PyObject *v = field_value(f, opts);
        if (!v || PyDict_SetItemString(d, f->name, v) < 0) Py_CLEAR(d);
        Py_XDECREF(v);
    }
    return d;
}

/* value into the field; -1 with TypeError/OverflowError naming the option. */
static int set_field(const char *kind, const opt_field *f, PyObject *value, void *opts) {
    char *p = (char *)opts + f->offset;
    if (f->type == OPT_BOOL) {
        int b = PyObject_IsTrue(value);
        if (b < 0) return -1;
        memcpy(p, &b, sizeof b);
        return 0;
    }
    if (f->type == OPT_DOUBLE) {
        double d = PyFloat_AsDouble(value);
        if (d == -1.0 && PyErr_Occurred()) goto bad;
        memcpy(p, &d, sizeof d);
        return 0;
    }
    PyObject *n = PyNumber_Index(value); /* an integer, not a float that happens to be whole */
    if (!n) goto bad;
    int overflow = 0;
    if (f->type == OPT_U64) {
        unsigned long long u = PyLong_AsUnsignedLongLong(n);
        uint64_t u64 = (uint64_t)u;
        overflow = u == (unsigned long long)-1 && PyErr_Occurred();
        if (!overflow) memcpy(p, &u64, sizeof u64);
    } else {
        long long v = PyLong_AsLongLong(n);
        overflow = v == -1 && PyErr_Occurred();
        if (!overflow && f->type != OPT_I64) overflow = v < INT_MIN || v > INT_MAX;
        int64_t i64 = v;
        int i = (int)v;
        if (!overflow) {
            if (f->type == OPT_I64)
                memcpy(p, &i64, sizeof i64);
            else
                memcpy(p, &i, sizeof i);
        }
    }
    Py_DECREF(n);
    if (!overflow) return 0;
    PyErr_Clear();
    PyErr_Format(PyExc_OverflowError, "%s option %s=%R is out of range", kind, f->name, value);
    return -1;
bad:
    PyErr_Clear();
    PyErr_Format(PyExc_TypeError, "%s option %s must be %s, got %.80s", kind, f->name,
                 f->type == OPT_DOUBLE ? "a number" : "an integer", Py_TYPE(value)->tp_name);
    return -1;
}

PyObject *pydp_opts_defaults(const char *kind) {
    const struct opt_kind *k = find_kind(kind);
    if (!k) return NULL;
    union {
        dp_model_opts m;
        dp_runner_opts r;
        dp_source_opts s;
        dp_partitioner_opts p;
        dp_console_opts c;
        dp_dashboard_opts d;
        dp_calib_opts k;
        dp_split_opts sp;
    } o;
    k->init(&o);
    return opts_dict(k, &o);
}

int pydp_opts_apply(pydp_opts_kind kind, PyObject *values, void *opts) {
    const struct opt_kind *k = &kinds[kind];
    k->init(opts);
    if (values && values != Py_None) {
        if (!PyDict_Check(values)) {
            PyErr_SetString(PyExc_TypeError, "options must be a dict");
            return -1;
        }
        PyObject *key, *value;
        Py_ssize_t pos = 0;
        while (PyDict_Next(values, &pos, &key, &value)) {
            const char *name = PyUnicode_Check(key) ? PyUnicode_AsUTF8(key) : NULL;
            const opt_field *f = k->fields;
            while (name && f->name && strcmp(f->name, name) != 0) f++;
            if (!name || !f->name) {
                PyErr_Format(PyExc_TypeError, "%s options have no field %R", k->name, key);
                return -1;
            }
            if (value != Py_None && set_field(k->name, f, value, opts) < 0) return -1;
        }
    }
    memcpy(&last[kind], opts, k->size);
    return 0;
}

PyObject *pydp_opts_to_dict(pydp_opts_kind kind, const void *opts) { return opts_dict(&kinds[kind], opts); }

PyObject *pydp_debug_last_opts(const char *kind) {
    const struct opt_kind *k = find_kind(kind);
    return k ? opts_dict(k, &last[k - kinds]) : NULL;
}
