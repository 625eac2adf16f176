/* pydp_tune.c — dp_tune() for Python: see pydp.h. Called with the GIL held; released around the
 * search, which runs the probes on the library's own threads and calls no Python code. */
#include <stdlib.h>
#include <string.h>

#include "pydp.h"

/* The ints of opts[key] (a sequence) into a fresh array (*n values; none when absent or None). */
static int int_list(PyObject *opts, const char *key, long long **out, int *n) {
    *out = NULL;
    *n = 0;
    PyObject *v = opts ? PyDict_GetItemString(opts, key) : NULL; /* borrowed */
    if (!v || v == Py_None) return 0;
    PyObject *fast = PySequence_Fast(v, key);
    if (!fast) return -1;
    Py_ssize_t len = PySequence_Fast_GET_SIZE(fast);
    *out = malloc((size_t)(len > 0 ? len : 1) * sizeof **out);
    if (!*out) {
        Py_DECREF(fast);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < len; i++) (*out)[i] = PyLong_AsLongLong(PySequence_Fast_GET_ITEM(fast, i));
    Py_DECREF(fast);
    *n = (int)len;
    if (PyErr_Occurred()) {
        PyErr_Format(PyExc_TypeError, "tune: %s must be a sequence of integers", key);
        return -1;
    }
    return 0;
}

/* A scalar option: opts[key] when present and not None. 1 if set, 0 if absent, -1 on error. */
static int number(PyObject *opts, const char *key, double *out) {
    PyObject *v = opts ? PyDict_GetItemString(opts, key) : NULL;
    if (!v || v == Py_None) return 0;
    *out = PyFloat_AsDouble(v);
    if (PyErr_Occurred()) {
        PyErr_Format(PyExc_TypeError, "tune: %s must be a number", key);
        return -1;
    }
    return 1;
}

PyObject *pydp_tune(const char *arch, const char *weights, PyObject *model_opts, const dp_calibration *calibration,
                    dp_dataset *ds, PyObject *opts, dp_sink *sink) {
    enum { WORKERS, THREADS, BATCH, DELAY, PRECISION, LISTS };
    static const char *const keys[LISTS] = {"workers", "threads", "max_batch", "max_delay_us", "precisions"};
    long long *lists[LISTS] = {0};
    int n[LISTS] = {0};
    int *ints[3] = {0};
    int64_t *delays = NULL;
    dp_precision *precisions = NULL;
    const char **strategies = NULL;
    PyObject *names = NULL, *result = NULL;
    dp_tune_result *r = NULL;
    dp_model_opts mo;
    dp_tune_opts t;
    dp_tune_opts_init(&t);
    if (pydp_opts_apply(PYDP_OPTS_MODEL, model_opts, &mo) < 0) goto done;
    mo.calibration = calibration;
    for (int k = 0; k < LISTS; k++)
        if (int_list(opts, keys[k], &lists[k], &n[k]) < 0) goto done;
    for (int k = WORKERS; k <= BATCH; k++) {
        if (!(ints[k] = malloc((size_t)(n[k] + 1) * sizeof *ints[k]))) goto nomem;
        for (int i = 0; i < n[k]; i++) ints[k][i] = (int)lists[k][i];
    }
    delays = malloc((size_t)(n[DELAY] + 1) * sizeof *delays);
    precisions = malloc((size_t)(n[PRECISION] + 1) * sizeof *precisions);
    if (!delays || !precisions) goto nomem;
    for (int i = 0; i < n[DELAY]; i++) delays[i] = lists[DELAY][i];
    for (int i = 0; i < n[PRECISION]; i++) precisions[i] = (dp_precision)lists[PRECISION][i];
    PyObject *s = opts ? PyDict_GetItemString(opts, "strategies") : NULL;
    if (s && s != Py_None) {
        if (!(names = PySequence_Fast(s, "tune: strategies must be a sequence of names"))) goto done;
        t.num_strategies = (int)PySequence_Fast_GET_SIZE(names);
        if (!(strategies = calloc((size_t)t.num_strategies + 1, sizeof *strategies))) goto nomem;
        for (int i = 0; i < t.num_strategies; i++)
            if (!(strategies[i] = PyUnicode_AsUTF8(PySequence_Fast_GET_ITEM(names, i)))) goto done;
        t.strategies = strategies;
    }
    t.workers = ints[WORKERS], t.num_workers = n[WORKERS];
    t.threads = ints[THREADS], t.num_threads = n[THREADS];
    t.max_batch = ints[BATCH], t.num_max_batch = n[BATCH];
    t.max_delay_us = delays, t.num_max_delay_us = n[DELAY];
    t.precisions = precisions, t.num_precisions = n[PRECISION];
    double v;
    int rc;
    if ((rc = number(opts, "slo_p99_ms", &v)) < 0) goto done;
    if (rc) t.slo_p99_ms = v;
    if ((rc = number(opts, "budget_s", &v)) < 0) goto done;
    if (rc) t.budget_s = v;
    if ((rc = number(opts, "confidence", &v)) < 0) goto done;
    if (rc) t.confidence = v;
    if ((rc = number(opts, "min_samples", &v)) < 0) goto done;
    if (rc) t.min_samples = (int64_t)v;
    if ((rc = number(opts, "probe_seconds", &v)) < 0) goto done;
    if (rc) t.probe_seconds = v;
    if ((rc = number(opts, "start_rate", &v)) < 0) goto done;
    if (rc) t.start_rate = v;
    if ((rc = number(opts, "cores", &v)) < 0) goto done;
    if (rc) t.cores = (int)v;
    if ((rc = number(opts, "oversubscribe", &v)) < 0) goto done;
    if (rc) t.oversubscribe = v != 0;
    t.sinks = sink ? &sink : NULL;
    t.num_sinks = sink ? 1 : 0;
    dp_status st;
    Py_BEGIN_ALLOW_THREADS
    st = dp_tune(arch, weights, &mo, ds, &t, &r);
    Py_END_ALLOW_THREADS
    if (st != DP_OK) {
        pydp_raise_status(st, dp_last_error());
        goto done;
    }
    size_t need = dp_tune_result_to_json(r, NULL, 0);
    char *text = malloc(need + 1);
    if (!text) goto nomem;
    dp_tune_result_to_json(r, text, need + 1);
    result = PyUnicode_FromStringAndSize(text, (Py_ssize_t)need);
    free(text);
    goto done;
nomem:
    PyErr_NoMemory();
done:
    dp_tune_result_free(r);
    for (int k = 0; k < LISTS; k++) free(lists[k]);
    for (int k = 0; k < 3; k++) free(ints[k]);
    free(delays);
    free(precisions);
    free(strategies);
    Py_XDECREF(names);
    return result;
}
