/* pydp_split.c — the split API (dataparallel/split.h) for Python: see pydp.h. Called with the GIL
 * held; the GIL is released around the calls that run the network. */
#include <stdlib.h>

#include "pydp.h"

/* The planner's own bound on the legal cut points of any architecture is far below this. */
#define PYDP_MAX_UNITS 512

static PyObject *raise_last(dp_status s) {
    pydp_raise_status(s, dp_last_error());
    return NULL;
}

PyObject *pydp_model_units(const dp_model *model, int h, int w, int batch, int threads, int iters) {
    dp_unit_info *u = calloc(PYDP_MAX_UNITS, sizeof *u);
    if (!u) return PyErr_NoMemory();
    int n = 0;
    dp_status s;
    Py_BEGIN_ALLOW_THREADS
    s = iters > 0 ? dp_model_profile(model, batch, threads, h, w, iters, u, PYDP_MAX_UNITS, &n)
                  : dp_model_units(model, h, w, u, PYDP_MAX_UNITS, &n);
    Py_END_ALLOW_THREADS
    PyObject *list = s ? raise_last(s) : PyList_New(0);
    for (int k = 0; list && k < n && k < PYDP_MAX_UNITS; k++) {
        PyObject *t = Py_BuildValue("(sdnnd)", u[k].name, u[k].flops, (Py_ssize_t)u[k].param_bytes,
                                    (Py_ssize_t)u[k].out_bytes, u[k].ms);
        if (!t || PyList_Append(list, t) < 0) Py_CLEAR(list);
        Py_XDECREF(t);
    }
    free(u);
    return list;
}

dp_status pydp_model_stage(const dp_model *model, const double *seq, int seq_len, int index, dp_model **out) {
    if (index < 0 || index > seq_len) {
        PyErr_Format(PyExc_IndexError, "stage %d of %d", index, seq_len + 1);
        return DP_ERR_INVALID_ARG;
    }
    int *cuts = calloc((size_t)seq_len + 1, sizeof *cuts);
    dp_model **stages = calloc((size_t)seq_len + 1, sizeof *stages);
    dp_status s = DP_ERR_NOMEM;
    if (!cuts || !stages) {
        PyErr_NoMemory();
        goto done;
    }
    for (int k = 0; k < seq_len; k++) cuts[k] = (int)seq[k];
    /* Stages are cheap views of the parent: make all, keep one. */
    if ((s = dp_model_split(model, cuts, seq_len, stages)) == DP_OK) {
        for (int k = 0; k <= seq_len; k++)
            if (k != index) dp_model_free(stages[k]);
        *out = stages[index];
    }
done:
    free(cuts);
    free(stages);
    return s;
}

PyObject *pydp_model_io_shape(const dp_model *model, int h, int w) {
    int in[3], out[3];
    dp_status s = dp_model_io_shape(model, h, w, in, out);
    return s ? raise_last(s) : Py_BuildValue("((iii)(iii))", in[0], in[1], in[2], out[0], out[1], out[2]);
}

/* Whether the buffer is [n, shape[0], shape[1], shape[2]] for some n. */
static int has_shape(const Py_buffer *b, const int shape[3]) {
    return b->ndim == 4 && b->shape[1] == shape[0] && b->shape[2] == shape[1] && b->shape[3] == shape[2];
}

dp_status pydp_stage_run(const dp_model *stage, dp_exec *exec, PyObject *x, int h, int w, PyObject *out) {
    int in_shape[3], out_shape[3];
    dp_status s = dp_model_io_shape(stage, h, w, in_shape, out_shape);
    if (s) return s;
    Py_buffer bx, bo;
    if (pydp_float_buffer(x, &bx, 0, "input") < 0) return DP_ERR_INVALID_ARG;
    if (pydp_float_buffer(out, &bo, 1, "output") < 0) {
        PyBuffer_Release(&bx);
        return DP_ERR_INVALID_ARG;
    }
    s = DP_ERR_INVALID_ARG;
    /* The library trusts n, h, w: every size it will touch is checked here. */
    if (!has_shape(&bx, in_shape) || !has_shape(&bo, out_shape) || bx.shape[0] != bo.shape[0] ||
        bx.shape[0] > INT32_MAX) {
        PyErr_Format(PyExc_ValueError,
                     "for %dx%d images this stage takes [N,%d,%d,%d] and gives [N,%d,%d,%d]", h, w, in_shape[0],
                     in_shape[1], in_shape[2], out_shape[0], out_shape[1], out_shape[2]);
        goto done;
    }
    const float *in = bx.buf;
    float *y = bo.buf;
    int n = (int)bx.shape[0];
    Py_BEGIN_ALLOW_THREADS
    s = dp_exec_run(exec, in, n, h, w, y);
    Py_END_ALLOW_THREADS
done:
    PyBuffer_Release(&bo);
    PyBuffer_Release(&bx);
    return s;
}

/* seq as n doubles into a new array (NULL with an exception set; n = 0 gives a 1-entry array). */
static double *doubles(PyObject *seq, Py_ssize_t *n, const char *what) {
    PyObject *fast = PySequence_Fast(seq, what);
    if (!fast) return NULL;
    *n = PySequence_Fast_GET_SIZE(fast);
    double *d = malloc((size_t)(*n > 0 ? *n : 1) * sizeof *d);
    if (!d) PyErr_NoMemory();
    for (Py_ssize_t i = 0; d && i < *n; i++) d[i] = PyFloat_AsDouble(PySequence_Fast_GET_ITEM(fast, i));
    Py_DECREF(fast);
    if (d && PyErr_Occurred()) {
        free(d);
        d = NULL;
    }
    return d;
}

PyObject *pydp_split_plan(PyObject *units, PyObject *opts, PyObject *speeds) {
    dp_split_opts o;
    if (pydp_opts_apply(PYDP_OPTS_SPLIT, opts, &o) < 0) return NULL;
    PyObject *fast = PySequence_Fast(units, "units must be a sequence of (ms, out_bytes) pairs");
    if (!fast) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast), ns = 0;
    dp_unit_info *u = calloc((size_t)(n > 0 ? n : 1), sizeof *u);
    double *sp = speeds != Py_None ? doubles(speeds, &ns, "speeds must be a sequence of numbers") : NULL;
    /* The planner refuses stages outside 1..n before it writes anything. */
    int valid = o.stages >= 1 && o.stages <= n, stages = valid ? o.stages : 1;
    int *cuts = calloc((size_t)stages, sizeof *cuts);
    double *ms = calloc((size_t)stages, sizeof *ms);
    PyObject *result = NULL;
    if (!u || !cuts || !ms) PyErr_NoMemory();
    for (Py_ssize_t i = 0; !PyErr_Occurred() && i < n; i++) {
        double t, bytes;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(fast, i), "dd;a unit is a (ms, out_bytes) pair", &t, &bytes))
            break;
        u[i].ms = t;
        u[i].out_bytes = bytes > 0 ? (size_t)bytes : 0;
    }
    if (!PyErr_Occurred() && valid && speeds != Py_None && ns != stages)
        PyErr_Format(PyExc_ValueError, "%zd speeds for %d stages", ns, stages);
    if (PyErr_Occurred() || n > INT32_MAX) goto done;
    o.speeds = sp;
    dp_status s = dp_split_plan(u, (int)n, &o, cuts, ms);
    if (s) {
        raise_last(s);
        goto done;
    }
    PyObject *lc = PyList_New(stages - 1), *lm = PyList_New(stages);
    for (int k = 0; lc && lm && k < stages; k++) {
        if (k < stages - 1) PyList_SET_ITEM(lc, k, PyLong_FromLong(cuts[k]));
        PyList_SET_ITEM(lm, k, PyFloat_FromDouble(ms[k]));
    }
    result = lc && lm ? PyTuple_Pack(2, lc, lm) : NULL;
    Py_XDECREF(lc);
    Py_XDECREF(lm);
done:
    Py_DECREF(fast);
    free(u);
    free(sp);
    free(cuts);
    free(ms);
    return result;
}
