/* Batch mode: every sample of a data set once, split by the partitioner's batch mode; each
 * worker reads only the ranges it is given, straight from the data set into its micro-batch. */
#include <stdlib.h>
#include <string.h>

#include "runner_impl.h"

/* weighted with no speeds given (all equal) gets a profiling pass first. */
static int needs_profiling(dp_runner *r, int64_t n) {
    if (n == 0 || strcmp(dp_partitioner_name(r->partitioner), "weighted") != 0) return 0;
    double *wt = calloc((size_t)r->workers, sizeof *wt);
    int equal = 1;
    if (!wt || dp_partitioner_weights(r->partitioner, wt, r->workers) != DP_OK) {
        free(wt);
        return 1;
    }
    for (int k = 1; k < r->workers; k++) equal &= wt[k] == wt[0];
    free(wt);
    return equal;
}

static dp_status apply_profile(dp_runner *r) {
    double *wt = calloc((size_t)r->workers, sizeof *wt);
    if (!wt) return dpi_error(DP_ERR_NOMEM, "runner: out of memory");
    for (int k = 0; k < r->workers; k++) wt[k] = 1e9 / (double)(r->w[k].profile_ns > 0 ? r->w[k].profile_ns : 1);
    dp_status s = dp_partitioner_set_weights(r->partitioner, wt, r->workers);
    if (s == DP_OK && dpi_log_enabled(DP_LOG_INFO))
        for (int k = 0; k < r->workers; k++)
            dpi_log(DP_LOG_INFO, "runner: profiled worker %d at %.3f ms/sample", k, r->w[k].profile_ns * 1e-6);
    free(wt);
    return s;
}

DP_API dp_status dp_runner_run_batch(dp_runner *r, dp_dataset *ds, dp_summary *summary) {
    if (!r) return dpi_error(DP_ERR_INVALID_ARG, "dp_runner_run_batch: runner is NULL");
    if (!ds) return dpi_error(DP_ERR_INVALID_ARG, "dp_runner_run_batch: dataset is NULL");
    dp_status s = dpi_check_summary(summary, "dp_runner_run_batch");
    if (s != DP_OK) return s;
    int idle = DPI_IDLE;
    if (!atomic_compare_exchange_strong(&r->state, &idle, DPI_RUNNING))
        return dpi_error(DP_ERR_BUSY, "dp_runner_run_batch: the runner is already running");
    if (r->is_server) return dpi_runner_serve(r, summary);

    int64_t n = dp_dataset_count(ds);
    int c, h, w;
    dp_dataset_shape(ds, &c, &h, &w);
    r->kind = DPI_BATCH;
    r->ds = ds;
    r->shared = 0;
    s = dpi_runner_begin(r, "batch", c, h, w, n, 0.0);
    if (s != DP_OK) {
        atomic_store(&r->state, DPI_IDLE);
        return s;
    }
    r->profile = needs_profiling(r, n);
    dpi_runner_sigint_install(r);
    dpi_metrics_start(r);
    r->cpu_start = dpi_process_cpu_s();
    r->t_start = dpi_now_ns();
    atomic_store(&r->t_first_emit, r->t_start);
    dpi_runner_open_gate(r, 1);
    dpi_runner_wait_ready(r, 2 * r->workers);
    if (r->profile) s = apply_profile(r);
    if (s == DP_OK) s = dp_partitioner_batch_begin(r->partitioner, n, r->workers);
    if (s != DP_OK) atomic_store(&r->abort_run, 1);
    dpi_runner_open_gate(r, 2);
    dpi_runner_join_workers(r);
    dpi_runner_sigint_restore(r);
    for (int k = 0; k < r->workers && s == DP_OK; k++)
        if (r->w[k].part_error != DP_OK)
            s = dpi_error(r->w[k].part_error, "runner: worker %d: %s", k, r->w[k].part_msg);
    dpi_runner_end(r, summary, 0.0);
    r->ds = NULL;
    int stopped = atomic_load(&r->stop);
    atomic_store(&r->state, DPI_IDLE);
    if (s != DP_OK) return s;
    return stopped ? dpi_error(DP_ERR_CANCELLED, "dp_runner_run_batch: stopped") : DP_OK;
}
