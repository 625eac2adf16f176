/* Batch mode: every sample of a data set once, split by the partitioner's batch mode. A worker
 * (a replica's first stage, in a pipeline) takes its next micro-batch from the ranges the
 * partitioner hands its replica and reads only those samples, straight from the data set into
 * its micro-batch. A strategy that needs worker speeds
 * (weighted without weights) gets them from a profiling pass first. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dataparallel/partition_protocol.h"
#include "run.h"
#include "stage.h"

/* The profiling pass is short, so on a shared machine one preemption would dominate a
 * wall-clock timing: it uses the thread's CPU time per sample (median of a few, after a warm-up
 * run), times the worker's slowdown factor. */
static int64_t thread_cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Worker: the cost of one sample on this worker, or why it could not be measured. */
static void profile(dpi_worker *w) {
    dp_runner *r = w->r;
    dpi_run *run = &r->run;
    dpi_microbatch *mb = &w->run.mb;
    enum { REPS = 5 };
    int64_t t[REPS], i0 = w->index % dp_dataset_count(run->ds);
    dp_status st = dp_dataset_get(run->ds, i0, mb->input, NULL);
    if (st != DP_OK) {
        dpi_failure_note(&w->run.profile, st);
        return;
    }
    for (int i = -1; i < REPS; i++) {
        int64_t t0 = thread_cpu_ns();
        st = r->ops->run(w->run.ctx, mb->input, 1, run->c, run->h, run->w, mb->logits, NULL);
        if (st != DP_OK) {
            dpi_failure_note(&w->run.profile, st);
            return;
        }
        if (i >= 0) t[i] = (int64_t)((double)(thread_cpu_ns() - t0) * w->slowdown);
    }
    qsort(t, REPS, sizeof t[0], cmp_i64);
    w->run.profile_ns = t[REPS / 2] > 0 ? t[REPS / 2] : 1;
}

/* run.take of batch mode. The first call profiles (when asked) and waits for the split. */
static int take_from_ranges(dpi_worker *w) {
    dp_runner *r = w->r;
    dpi_worker_run *wr = &w->run;
    if (!wr->past_split) {
        if (r->run.profile) profile(w);
        if (!dpi_worker_wait_gate(w, 2)) return 0;
        wr->past_split = 1;
    }
    if (atomic_load_explicit(&r->run.stop, memory_order_relaxed)) return 0;
    if (wr->range_next == wr->range_end) {
        int64_t start, count;
        dp_status st = dp_partitioner_batch_next(r->partitioner, w->replica, &start, &count);
        if (st != DP_OK) {
            dpi_failure_note(&wr->part, st);
            return 0;
        }
        if (count == 0) return 0;
        wr->range_next = start;
        wr->range_end = start + count;
    }
    int n = wr->range_end - wr->range_next < r->opts.max_batch ? (int)(wr->range_end - wr->range_next)
                                                                 : r->opts.max_batch;
    /* In batch mode a sample "arrives" when its worker takes it: latency = read + service (the
     * breakdown's batching + service + delivery). */
    int64_t now = dpi_now_ns();
    for (int i = 0; i < n; i++)
        wr->mb.slots[i] = (dpi_slot){.sample_id = wr->range_next + i,
                                     .index = wr->range_next + i,
                                     .intended_ns = now,
                                     .enqueued_ns = now,
                                     .taken_ns = now};
    wr->range_next += n;
    atomic_fetch_add_explicit(&wr->c.offered, n, memory_order_relaxed);
    return n;
}

/* Give the partitioner the measured speeds. A worker that could not be measured fails the run
 * (before any sample is offered): guessing its speed would misplace a share of the data set. */
static dp_status apply_profile(dp_runner *r) {
    for (int k = 0; k < r->workers; k++) {
        const dpi_failure *f = &r->w[k].run.profile;
        if (f->status != DP_OK)
            return dpi_error(f->status, "runner: profiling worker %d for the weighted split failed: %s", k, f->msg);
    }
    double *wt = r->scratch;
    for (int k = 0; k < r->workers; k++) wt[k] = 1e9 / (double)r->w[k].run.profile_ns;
    dp_status s = dp_partitioner_set_weights(r->partitioner, wt, r->workers);
    if (s == DP_OK && dpi_log_enabled(DP_LOG_INFO))
        for (int k = 0; k < r->workers; k++)
            dpi_log(DP_LOG_INFO, "runner: profiled worker %d at %.3f ms/sample", k, r->w[k].run.profile_ns * 1e-6);
    return s;
}

DP_API dp_status dp_runner_run_batch(dp_runner *r, dp_dataset *ds, dp_summary *summary) {
    if (!r) return dpi_error(DP_ERR_INVALID_ARG, "dp_runner_run_batch: runner is NULL");
    if (!ds) return dpi_error(DP_ERR_INVALID_ARG, "dp_runner_run_batch: dataset is NULL");
    dp_status s = dpi_run_enter(r, summary, 1, "dp_runner_run_batch");
    if (s != DP_OK) return s;
    if (r->is_server) return dpi_run_serve(r, summary);
    dpi_run_spec spec = {.mode = DPI_MODE_BATCH, .ds = ds, .expected = dp_dataset_count(ds), .take = take_from_ranges};
    dp_dataset_shape(ds, &spec.c, &spec.h, &spec.w);
    s = dpi_run_begin(r, &spec);
    if (s != DP_OK) return s;
    atomic_store(&r->run.t_first_emit, r->run.t_start);
    /* Every worker at gate 2: profiled (when asked) and waiting for the split. */
    dpi_workers_wait_ready(r, 2 * r->workers);
    if (r->run.profile) s = apply_profile(r);
    /* The data set is split among replicas (== workers without a pipeline); their first stages
     * take the ranges. */
    if (s == DP_OK) s = dp_partitioner_batch_begin(r->partitioner, spec.expected, r->replicas);
    if (s != DP_OK) {
        dpi_failure_note(&r->run.error, s);
        atomic_store(&r->run.abort, 1);
    }
    dpi_workers_open_gate(r, 2);
    dpi_workers_join(r);
    for (int k = 0; k < r->workers; k++)
        if (r->w[k].run.part.status != DP_OK) {
            dpi_error(r->w[k].run.part.status, "runner: worker %d: %s", k, r->w[k].run.part.msg);
            dpi_failure_note(&r->run.error, r->w[k].run.part.status);
        }
    return dpi_run_end(r, summary, "dp_runner_run_batch");
}
