/* gil_cost.c — what taking the GIL costs on a thread Python does not know (docs/python.md).
 *
 *   gcc -O2 -Wall -Wextra bindings/python/tools/gil_cost.c -o /tmp/gil_cost \
 *       $(python3.11-config --includes) -lpython3.11 -lpthread && /tmp/gil_cost
 *
 * A C thread calls a no-op Python function 20000 times, either with PyGILState_Ensure/Release
 * around each call (a thread state created and destroyed every time) or keeping one thread state
 * and only taking/releasing the GIL (what pydp.c's gil_enter/gil_leave do). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <time.h>

#define CALLS 20000

static PyObject *fn;

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void call_once(void) {
    PyObject *d = Py_BuildValue("{s:i,s:i,s:i}", "a", 1, "b", 2, "c", 3);
    Py_XDECREF(PyObject_CallFunction(fn, "(N)", d));
}

static void *per_call_state(void *arg) {
    (void)arg;
    double t = now_s();
    for (int i = 0; i < CALLS; i++) {
        PyGILState_STATE g = PyGILState_Ensure();
        call_once();
        PyGILState_Release(g);
    }
    printf("PyGILState_Ensure/Release per call: %.2f us/call\n", (now_s() - t) / CALLS * 1e6);
    return NULL;
}

static void *kept_state(void *arg) {
    (void)arg;
    double t = now_s();
    PyGILState_STATE g = PyGILState_Ensure();
    PyThreadState *ts = PyEval_SaveThread();
    for (int i = 0; i < CALLS; i++) {
        PyEval_RestoreThread(ts);
        call_once();
        ts = PyEval_SaveThread();
    }
    PyEval_RestoreThread(ts);
    PyGILState_Release(g);
    printf("one kept thread state:              %.2f us/call\n", (now_s() - t) / CALLS * 1e6);
    return NULL;
}

int main(void) {
    Py_Initialize();
    PyRun_SimpleString("def f(d):\n    pass\n");
    fn = PyObject_GetAttrString(PyImport_AddModule("__main__"), "f");
    PyThreadState *main_ts = PyEval_SaveThread();
    for (int round = 0; round < 3; round++) {
        pthread_t t;
        pthread_create(&t, NULL, per_call_state, NULL);
        pthread_join(t, NULL);
        pthread_create(&t, NULL, kept_state, NULL);
        pthread_join(t, NULL);
    }
    PyEval_RestoreThread(main_ts);
    Py_DECREF(fn);
    return Py_FinalizeEx() < 0 ? 1 : 0;
}
