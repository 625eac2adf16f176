/*
 * libdp/runtime/worker.h — the seam between the runner and whatever runs a micro-batch.
 *
 * The runner owns queues, partitioners, batching, slowdown, metrics and sinks. What a worker
 * thread does with a micro-batch ("here are n samples [n,c,h,w], give me logits [n,K]") sits
 * behind dpi_worker_ops, so the MPI backend can live in a separate plugin and the core never
 * links MPI:
 *   - threads backend (worker_local.c): each worker thread owns a local dp_exec;
 *   - mpi backend: the plugin libdataparallel_mpi.so.0. The runner dlopen()s it (see
 *     dpi_worker_load_plugin()) and calls its entry symbol DPI_MPI_PLUGIN_ENTRY_NAME, a
 *     dpi_worker_entry_fn, with DPI_WORKER_ABI; the plugin returns its ops table (or NULL if it
 *     was built for another ABI). On rank 0 ("coordinator") worker thread k proxies its
 *     micro-batches to a worker rank; every other rank ("server") serves them with a local
 *     dp_exec and runs no source, partitioner or sink.
 *
 * Call sequence, per runner:
 *   open()                          once, on the thread calling dp_runner_create()
 *   per run, coordinator:           per run, server process:
 *     init() in each worker thread    serve() on the thread calling the run function; returns
 *     run() ... run()                 when the coordinator's end_run() says the run is over
 *     fini() in each worker thread
 *     end_run() on the run's thread
 *   close()                         once, from dp_runner_free()
 *
 * The plugin links libdataparallel.so for the public API only (dp_exec_create, dp_exec_run, ...);
 * dpi_* functions are hidden there, so the host hands it error/log services in dpi_worker_host.
 * All functions return DP_OK or a status whose message was set with host->error().
 */
#ifndef DP_RUNTIME_WORKER_H
#define DP_RUNTIME_WORKER_H

#include "dataparallel/core.h"
#include "dataparallel/model.h"

/* Bumped on any incompatible change to the structs below. */
#define DPI_WORKER_ABI 3
/* File name looked up next to libdataparallel.so (found with dladdr), then on the default
 * dlopen() search path. The environment variable DP_MPI_PLUGIN, when set, is a full path that
 * wins over both. */
#define DPI_MPI_PLUGIN_SONAME "libdataparallel_mpi.so.0"
#define DPI_MPI_PLUGIN_ENTRY_NAME "dp_mpi_plugin_entry"

/* Services of the core that a plugin may call (it cannot link the hidden dpi_* symbols). */
typedef struct dpi_worker_host {
    int abi;                                               /* DPI_WORKER_ABI */
    /* As dpi_error(): record the message for dp_last_error() on this thread and return s. */
    dp_status (*error)(dp_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
    /* As dpi_log(): send to the user's log hook. */
    void (*log)(dp_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
    int64_t (*now_ns)(void);
} dpi_worker_host;

/* What the runner was created with (borrowed for the lifetime of the runner). */
typedef struct dpi_worker_config {
    const dp_model *model;      /* this process's model: every rank loads the same one */
    int workers;                /* opts.workers */
    int threads_per_worker;     /* opts.threads_per_worker (oneDNN threads per dp_exec) */
    int max_batch;              /* largest n run() will be given */
    int num_classes;            /* K: logits per sample */
    double timeout_s;           /* opts.worker_timeout_s: a worker silent this long is dead */
    int retry;                  /* opts.retry: the plugin may re-run a dead worker's batch elsewhere */
    /* Set by dp_runner_set_stages() after open(), so a backend keeps a pointer to this struct:
     * NULL, or `stages` models (worker k runs stage k % stages) split at `cuts` (stages - 1 unit
     * indices, which the MPI backend sends its worker ranks so they split the same way). */
    const dp_model *const *stage_models;
    const int *cuts;
    int stages;
    int rank_concurrency;       /* opts.rank_concurrency: micro-batches a server runs at once; 0 auto */
} dpi_worker_config;

/* What the runner asks of one micro-batch besides running it: a simulated slower machine
 * (opts.slowdown) and injected faults (dp_runner_inject). A backend with remote_fx applies them
 * where the batch runs; for the others the runner applies them itself around run(). */
typedef struct dpi_worker_fx {
    double slowdown;            /* >= 1: stretch the service time by this factor (busy-wait) */
    int64_t stall_ns;           /* > 0: sleep this long before running */
    int fail;                   /* 1: do not run; fail the batch with DP_ERR_BACKEND */
} dpi_worker_fx;

typedef struct dpi_worker_ops {
    int abi;                    /* DPI_WORKER_ABI */
    const char *name;           /* "threads", "mpi" */
    int remote_fx;              /* 1: run() applies its dpi_worker_fx (see above) */

    /* Once per runner. *workers comes in as cfg->workers and may be changed (e.g. to the
     * number of worker ranks; the runner sizes everything from it afterwards). *is_server = 1
     * makes this process a server: its runs only call serve(). *backend is passed back to
     * every other call. */
    dp_status (*open)(const dpi_worker_host *host, const dpi_worker_config *cfg, int *workers,
                      int *is_server, void **backend);
    /* Coordinator, in worker thread `worker` (0..workers-1) before its first run() of a run.
     * The thread already has omp_set_num_threads(threads_per_worker) and its pinning. Every
     * input of the run is [n,c,h,w] with 1 <= n <= cfg->max_batch; prepare for it here so the
     * first run() does no set-up work. */
    dp_status (*init)(void *backend, int worker, int c, int h, int w, void **ctx);
    /* Coordinator, worker thread: logits[n*K] for input[n*c*h*w]. A failure fails exactly
     * these n samples (counted as failed); the worker goes on with the next batch. fx: NULL
     * unless remote_fx. */
    dp_status (*run)(void *ctx, const float *input, int n, int c, int h, int w, float *logits,
                     const dpi_worker_fx *fx);
    /* Coordinator, worker thread, after its last run() of a run (also after a failed init). */
    void (*fini)(void *ctx);
    /* Coordinator: every worker thread has finished; tell the servers this run is over.
     * May be NULL. */
    dp_status (*end_run)(void *backend);
    /* Server: serve micro-batches until the coordinator's end_run(). May be NULL for
     * backends that never set *is_server. */
    dp_status (*serve)(void *backend);
    /* Coordinator, after end_run(): bytes of the messages sent to (*out) and received from
     * (*in) the servers during the run, headers included. May be NULL (no network). */
    void (*traffic)(void *backend, int64_t *out, int64_t *in);
    /* Once, from dp_runner_free(). backend may be NULL-safe. */
    void (*close)(void *backend);
} dpi_worker_ops;

/* The plugin's entry symbol (exported from libdataparallel_mpi.so.0 under
 * DPI_MPI_PLUGIN_ENTRY_NAME): the ops table for `abi`, or NULL if the plugin cannot serve it. */
typedef const dpi_worker_ops *(*dpi_worker_entry_fn)(int abi);

/* The host services handed to open() (dpi_error, dpi_log, dpi_now_ns). */
extern const dpi_worker_host dpi_worker_host_default;

/* The in-process backend: one dp_exec per worker thread. */
extern const dpi_worker_ops dpi_worker_local_ops;

/* dlopen() the MPI plugin (DP_MPI_PLUGIN, next to libdataparallel.so, default search path) and
 * return its ops and the dlopen handle (dlclose it after close()). DP_ERR_UNSUPPORTED with a
 * message naming the paths tried when it is not there or has another ABI. */
dp_status dpi_worker_load_plugin(const dpi_worker_ops **ops, void **dl_handle);

#endif
