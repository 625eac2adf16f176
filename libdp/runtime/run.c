/* A run's lifecycle, the same for the three ways samples enter: claim the runner, reset the run
 * state in one call, set everything up before the first sample (so no sample pays for set-up),
 * and at the end take everything down in the reverse order and decide the run's outcome. Also
 * dp_runner_stop(), which ends push mode here or asks a pull or batch run to stop. */
#include "run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataparallel/partition_protocol.h"
#include "fault.h"
#include "metrics/sink_impl.h"
#include "metrics_thread.h"
#include "pipeline.h"
#include "route.h"
#include "stream/dataset.h"
#include "stage.h"
#include "summary.h"

dp_status dpi_failure_note(dpi_failure *f, dp_status s) {
    if (s != DP_OK && f->status == DP_OK) {
        f->status = s;
        snprintf(f->msg, sizeof f->msg, "%s", dp_last_error());
    }
    return s;
}

dp_status dpi_run_enter(dp_runner *r, dp_summary *summary, int summary_required, const char *fn) {
    if (summary_required || summary) {
        dp_status s = dpi_summary_check(summary, fn);
        if (s != DP_OK) return s;
    }
    int idle = DPI_IDLE;
    if (!atomic_compare_exchange_strong(&r->state, &idle, DPI_RUNNING))
        return dpi_error(DP_ERR_BUSY, "%s: the runner is already running", fn);
    return DP_OK;
}

void dpi_run_reset(dp_runner *r) {
    /* Everything of a run starts at zero (atomics included: zero bytes are their zero value). */
    memset(&r->run, 0, sizeof r->run);
    for (int k = 0; k < r->workers; k++) {
        memset(&r->w[k].run, 0, sizeof r->w[k].run);
        dpi_hist_reset(r->w[k].hist);
        for (int p = 0; p < DP_PHASES; p++) dpi_hist_reset(&r->w[k].phase_hist[p]);
        dpi_hist_reset(r->w[k].warmup_hist);
    }
}

/* ---- buffers of a run ------------------------------------------------------------------------ */

static void free_buffers(dp_runner *r) {
    for (int k = 0; k < r->workers; k++) {
        dpi_worker_run *wr = &r->w[k].run;
        dpi_free_aligned(wr->mb.input);
        free(wr->mb.logits);
        free(wr->mb.top1);
        free(wr->mb.labels);
        free(wr->mb.slots);
        memset(&wr->mb, 0, sizeof wr->mb);
        dpi_ring_destroy(&wr->ring);
    }
    dpi_ring_destroy(&r->run.producer_ring);
    for (int k = 0; k <= r->replicas; k++) dpi_queue_destroy(&r->queues[k]);
    dpi_pipeline_end(r);
}

/* Record rings hold the whole run when its length is known (up to 64 Ki records each), 64 Ki
 * otherwise; the metrics thread drains them every 10 ms, so they only fill when a sink's
 * on_record is slower than the workers for a long time (then records are dropped, counted). */
static size_t ring_entries(int64_t expected) {
    const size_t cap = (size_t)1 << 16;
    if (expected < 0) return cap;
    return expected + 1 < 1024 ? 1024 : ((size_t)expected + 1 < cap ? (size_t)expected + 1 : cap);
}

static dp_status alloc_buffers(dp_runner *r, int64_t expected) {
    dpi_run *run = &r->run;
    int mb = r->opts.max_batch, K = r->num_classes;
    size_t sf = run->sample_floats;
    if (run->mode != DPI_MODE_BATCH)
        for (int k = 0; k <= r->replicas; k++) {
            if (run->shared ? k != r->replicas : k == r->replicas) continue;
            dp_status s = dpi_queue_init(&r->queues[k], r->opts.queue_capacity, run->mode == DPI_MODE_PUSH ? sf : 0);
            if (s != DP_OK) return s;
        }
    for (int k = 0; k < r->workers; k++) {
        dpi_worker *w = &r->w[k];
        dpi_microbatch *b = &w->run.mb;
        b->input = dpi_alloc_aligned((size_t)mb * sf * sizeof(float), DPI_CACHELINE);
        b->logits = calloc((size_t)mb * K, sizeof(float));
        b->top1 = calloc((size_t)mb, sizeof(int));
        b->labels = calloc((size_t)mb, sizeof(int32_t));
        b->slots = calloc((size_t)mb, sizeof(dpi_slot));
        if (!b->input || !b->logits || !b->top1 || !b->labels || !b->slots)
            return dpi_error(DP_ERR_NOMEM, "runner: out of memory for micro-batches of %d samples", mb);
        if (run->records) {
            dp_status s = dpi_ring_init(&w->run.ring, ring_entries(expected), r->opts.keep_logits ? K : 0);
            if (s != DP_OK) return s;
        }
        if (run->mode != DPI_MODE_BATCH) w->run.in = &r->queues[run->shared ? r->replicas : w->replica];
    }
    if (run->records) return dpi_ring_init(&run->producer_ring, ring_entries(expected), 0);
    return DP_OK;
}

/* ---- begin ----------------------------------------------------------------------------------- */

static const char *mode_name(dpi_mode m) {
    return m == DPI_MODE_BATCH ? "batch" : m == DPI_MODE_PULL ? "stream" : "push";
}

/* The partitioner's part: stream mode starts its routing state; batch mode asks whether it
 * needs the workers' speeds first (the split itself comes after the workers are ready). */
static dp_status prepare_partitioner(dp_runner *r, const dpi_run_spec *spec) {
    unsigned needs = dp_partitioner_needs(r->partitioner, r->replicas);
    if (spec->mode == DPI_MODE_BATCH) {
        r->run.profile = spec->expected > 0 && (needs & DP_PARTITIONER_NEEDS_SPEEDS);
        return DP_OK;
    }
    r->run.shared = (needs & DP_PARTITIONER_SHARED_QUEUE) != 0;
    return dp_partitioner_stream_begin(r->partitioner, r->replicas);
}

static dp_status start_workers(dp_runner *r) {
    dp_status s = dpi_workers_start(r);
    for (int k = 0; k < r->workers && s == DP_OK; k++)
        if (r->w[k].run.init_status != DP_OK)
            s = dpi_error(r->w[k].run.init_status, "runner: worker %d could not start (%s backend): %s", k,
                          r->ops->name, dp_last_error());
    return s;
}

dp_status dpi_run_begin(dp_runner *r, const dpi_run_spec *spec) {
    /* Workers copy c*h*w floats per sample into buffers sized for the model's input: a data set
     * of another channel count or too small an image must be refused before any sample moves. */
    int want_c = dp_model_input_channels(r->model), min_hw = dp_model_min_input_size(r->model);
    dp_status s = DP_OK;
    if (spec->c != want_c || spec->h < min_hw || spec->w < min_hw)
        s = dpi_error(DP_ERR_SHAPE, "runner: %s%ssamples are [%d,%d,%d] but %s needs [%d,H,W] with H,W >= %d",
                      dpi_dataset_path(spec->ds) ? dpi_dataset_path(spec->ds) : "",
                      dpi_dataset_path(spec->ds) ? ": " : "", spec->c, spec->h, spec->w, dp_model_arch(r->model),
                      want_c, min_hw);
    if (s == DP_OK) s = dpi_faults_check(r, spec->mode == DPI_MODE_BATCH);
    if (s != DP_OK) {
        atomic_store(&r->state, DPI_IDLE);
        return s;
    }
    /* Under ctl_mu: a dp_runner_stop() racing with the start lands after the reset and counts. */
    pthread_mutex_lock(&r->ctl_mu);
    dpi_run_reset(r);
    pthread_mutex_unlock(&r->ctl_mu);
    dpi_run *run = &r->run;
    run->mode = spec->mode;
    run->ds = spec->ds;
    run->c = spec->c;
    run->h = spec->h;
    run->w = spec->w;
    run->sample_floats = (size_t)spec->c * spec->h * spec->w;
    run->take = spec->take;
    /* Events are followed up on the metrics thread's records and intervals (fault_report.c). */
    run->records = r->num_sinks > 0 || r->num_faults > 0;
    run->info = (dp_run_info){.mode = mode_name(spec->mode),
                              .arch = dp_model_arch(r->model),
                              .strategy = dp_partitioner_name(r->partitioner),
                              .workers = r->workers,
                              .threads_per_worker = r->opts.threads_per_worker,
                              .target_rate = spec->target_rate,
                              .expected_samples = spec->expected};
    s = prepare_partitioner(r, spec);
    if (s == DP_OK) s = alloc_buffers(r, spec->expected);
    if (s == DP_OK) s = dpi_pipeline_begin(r);
    if (s == DP_OK) s = start_workers(r);
    if (s == DP_OK) {
        dpi_signals_install(r);
        /* One time base: sinks get it in on_start, the summary's elapsed_s counts from it. */
        run->t_start = run->info.start_ns = dpi_now_ns();
        if (r->opts.warmup_s > 0) run->warmup_end_ns = run->t_start + (int64_t)(r->opts.warmup_s * 1e9);
        dpi_faults_begin(r);
        s = dpi_metrics_start(r);
        if (s != DP_OK) dpi_signals_restore(r);
    }
    if (s != DP_OK) {
        atomic_store(&run->abort, 1);
        dpi_workers_open_gate(r, 2);
        dpi_workers_join(r);
        free_buffers(r);
        atomic_store(&r->state, DPI_IDLE);
        return s;
    }
    run->cpu_start = dpi_process_cpu_s();
    dpi_workers_open_gate(r, 1);
    return DP_OK;
}

/* ---- end ------------------------------------------------------------------------------------- */

static void log_run_problems(dp_runner *r, const dp_summary *S) {
    for (int k = 0; k < r->workers; k++)
        if (r->w[k].run.first_failure != DP_OK) {
            dpi_log(DP_LOG_WARN, "runner: worker %d failed %lld samples (first: %s)", k,
                    (long long)S->per_worker[k].failed, dp_status_str(r->w[k].run.first_failure));
            break;
        }
    if (S->nonfinite_inputs)
        dpi_log(DP_LOG_WARN, "runner: %lld samples had NaN or infinite inputs (run as given)",
                (long long)S->nonfinite_inputs);
    if (S->records_dropped)
        dpi_log(DP_LOG_WARN,
                "runner: %lld per-sample records did not reach the sinks: a sink's on_record was slower than the "
                "workers and its ring was full",
                (long long)S->records_dropped);
}

/* The first sink that could not write fails the run, whichever sink it is (its message). */
static dp_status sink_failure(dp_runner *r) {
    for (int i = 0; i < r->num_sinks; i++) {
        dp_status s = dpi_sink_failure(r->sinks[i]);
        if (s != DP_OK) return s;
    }
    return DP_OK;
}

dp_status dpi_run_end(dp_runner *r, dp_summary *out, const char *fn) {
    dpi_run *run = &r->run;
    dp_summary S;
    if (run->mode != DPI_MODE_BATCH) dpi_close_queues(r);
    dpi_workers_join(r);
    dpi_signals_restore(r);
    run->t_end = dpi_now_ns();
    if (r->ops->end_run) {
        dp_status s = r->ops->end_run(r->backend);
        if (s != DP_OK) dpi_log(DP_LOG_WARN, "runner: ending the run on backend %s: %s", r->ops->name, dp_last_error());
    }
    dpi_summary_compute(r, &S);
    if (r->ops->traffic) r->ops->traffic(r->backend, &S.wire_bytes_out, &S.wire_bytes_in);
    log_run_problems(r, &S);
    dpi_metrics_finish(r, &S);
    dpi_summary_copy_out(out, &S);
    free_buffers(r);
    /* The outcome's message is set last: nothing above may overwrite it. */
    dp_status s = run->error.status;
    if (s != DP_OK)
        dpi_error(s, "%s: %s", fn, run->error.msg);
    else if ((s = sink_failure(r)) != DP_OK)
        ;
    else if (atomic_load(&run->stop))
        s = dpi_error(DP_ERR_CANCELLED, "%s: stopped%s", fn,
                      S.signal == SIGTERM ? " by SIGTERM" : S.signal == SIGINT ? " by SIGINT" : "");
    atomic_store(&r->state, DPI_IDLE);
    return s;
}

dp_status dpi_run_serve(dp_runner *r, dp_summary *summary) {
    dp_summary S;
    dp_status s = r->ops->serve ? r->ops->serve(r->backend)
                                : dpi_error(DP_ERR_INTERNAL, "runner: backend %s has no serve()", r->ops->name);
    dpi_summary_empty(r, &S);
    dpi_summary_copy_out(summary, &S);
    atomic_store(&r->state, DPI_IDLE);
    return s;
}

/* ---- stopping -------------------------------------------------------------------------------- */

void dpi_run_request_stop(dp_runner *r, int signal) {
    if (signal) atomic_store(&r->run.signal, signal);
    atomic_store(&r->run.stop, 1);
    atomic_store(&r->run.accepting, 0);
    dp_source *src = atomic_load(&r->run.src);
    if (src) dp_source_interrupt(src);
}

DP_API dp_status dp_runner_stop(dp_runner *r, dp_summary *summary) {
    if (!r) return dpi_error(DP_ERR_INVALID_ARG, "dp_runner_stop: runner is NULL");
    if (summary) {
        dp_status s = dpi_summary_check(summary, "dp_runner_stop");
        if (s != DP_OK) return s;
    }
    pthread_mutex_lock(&r->ctl_mu);
    dp_status s = DP_OK;
    int state = atomic_load(&r->state);
    if (state == DPI_PUSH)
        s = dpi_push_finish(r, summary);
    else if (state == DPI_RUNNING)
        dpi_run_request_stop(r, 0);
    pthread_mutex_unlock(&r->ctl_mu);
    return s;
}
