/* Stream mode: the caller's thread pulls samples from a rate-limited dp_source (which sleeps to
 * each intended arrival time), routes them and enqueues them; the workers micro-batch and serve.
 *
 * A queued slot holds only the sample's index: the worker reads the payload from the data set
 * straight into its micro-batch after the pop. That is one copy per sample, done in parallel by
 * the workers, and it keeps the source thread's pacing loop short. */
#include "complete.h"
#include "route.h"
#include "run.h"
#include "stage.h"

static void source_loop(dp_runner *r, dp_source *src) {
    dpi_run *run = &r->run;
    while (!atomic_load_explicit(&run->stop, memory_order_relaxed)) {
        dp_sample_ref ref;
        dp_status st = dp_source_next(src, &ref);
        if (st == DP_ERR_CLOSED) break;
        if (st == DP_ERR_CANCELLED) {
            atomic_store(&run->stop, 1);
            break;
        }
        if (st != DP_OK) {
            dpi_failure_note(&run->error, st);
            break;
        }
        /* The emission's clock read doubles as the enqueue time: routing takes well under a
         * microsecond, and a push that has to wait for room stamps it anew (queue.c). */
        int64_t now = dpi_now_ns();
        dpi_note_emit(r, now);
        dpi_slot s = {.sample_id = ref.sample_id, .index = ref.index, .intended_ns = ref.intended_ns, .enqueued_ns = now};
        dpi_queue *q;
        int replica;
        st = dpi_route(r, &s, &q, &replica);
        if (st != DP_OK) {
            /* e.g. a custom callback out of range: this sample fails, the run goes on. */
            dpi_failure_note(&run->error, st);
            dpi_complete_unrouted(r, &s, st);
            continue;
        }
        dpi_enqueue(r, q, replica, &s, NULL);
    }
}

/* dp_runner_stop() interrupts the source it finds here (under ctl_mu: never a freed one). */
static void set_source(dp_runner *r, dp_source *src) {
    pthread_mutex_lock(&r->ctl_mu);
    atomic_store(&r->run.src, src);
    pthread_mutex_unlock(&r->ctl_mu);
}

DP_API dp_status dp_runner_run(dp_runner *r, dp_source *src, dp_summary *summary) {
    if (!r) return dpi_error(DP_ERR_INVALID_ARG, "dp_runner_run: runner is NULL");
    if (!src) return dpi_error(DP_ERR_INVALID_ARG, "dp_runner_run: source is NULL");
    dp_status s = dpi_run_enter(r, summary, 1, "dp_runner_run");
    if (s != DP_OK) return s;
    if (r->is_server) return dpi_run_serve(r, summary);
    dpi_run_spec spec = {.mode = DPI_MODE_PULL,
                         .ds = dp_source_dataset(src),
                         .expected = dp_source_count(src),
                         .target_rate = dp_source_target_rate(src),
                         .take = dpi_take_from_queue};
    dp_dataset_shape(spec.ds, &spec.c, &spec.h, &spec.w);
    s = dpi_run_begin(r, &spec);
    if (s != DP_OK) return s;
    set_source(r, src);
    s = dp_source_start(src, 0);
    if (s == DP_OK)
        source_loop(r, src);
    else
        dpi_failure_note(&r->run.error, s);
    set_source(r, NULL);
    return dpi_run_end(r, summary, "dp_runner_run");
}
