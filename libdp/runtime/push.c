/* Push mode: dp_runner_submit() from any thread, a completion callback per sample. The caller's
 * buffer is only valid during submit, so submit copies it into the queue's preallocated slot
 * storage and the worker copies it into its micro-batch at the pop. Submit allocates nothing and
 * takes no lock shared by all submitters: the partitioner routes concurrently, and only the
 * chosen queue's own lock is taken. */
#include <sched.h>
#include <time.h>

#include "route.h"
#include "run.h"
#include "stage.h"

DP_API dp_status dp_runner_start(dp_runner *r, int c, int h, int w) {
    if (!r) return dpi_error(DP_ERR_INVALID_ARG, "dp_runner_start: runner is NULL");
    if (c < 1 || h < 1 || w < 1)
        return dpi_error(DP_ERR_INVALID_ARG, "dp_runner_start: sample shape [%d,%d,%d] is not positive", c, h, w);
    dp_status s = dpi_run_enter(r, NULL, 0, "dp_runner_start");
    if (s != DP_OK) return s;
    if (r->is_server) return dpi_run_serve(r, NULL);
    dpi_run_spec spec = {
        .mode = DPI_MODE_PUSH, .c = c, .h = h, .w = w, .expected = -1, .take = dpi_take_from_queue};
    s = dpi_run_begin(r, &spec);
    if (s != DP_OK) return s;
    atomic_store(&r->run.accepting, 1);
    atomic_store(&r->state, DPI_PUSH);
    return DP_OK;
}

DP_API dp_status dp_runner_submit(dp_runner *r, int64_t sample_id, const float *chw, void *sample_ctx) {
    if (!r || !chw) return dpi_error(DP_ERR_INVALID_ARG, "dp_runner_submit: %s is NULL", r ? "chw" : "runner");
    dpi_run *run = &r->run;
    /* Announce the submit before checking `accepting`: finishing clears `accepting`, then waits
     * for inflight to reach 0 before closing the queues, so no sample slips in after the close. */
    atomic_fetch_add(&run->inflight, 1);
    if (atomic_load(&r->state) != DPI_PUSH || !atomic_load(&run->accepting)) {
        atomic_fetch_sub(&run->inflight, 1);
        return dpi_error(DP_ERR_CLOSED, "dp_runner_submit: the runner is not in push mode (dp_runner_start) "
                                        "or is stopping");
    }
    int64_t now = dpi_now_ns();
    dpi_slot s = {.sample_id = sample_id, .index = sample_id, .intended_ns = now, .ctx = sample_ctx, .enqueued_ns = now};
    dpi_queue *q;
    int replica;
    /* A sample that cannot be routed is not offered: the error is the caller's to handle. */
    dp_status st = dpi_route(r, &s, &q, &replica);
    if (st == DP_OK) {
        dpi_note_emit(r, now);
        dpi_enqueue(r, q, replica, &s, chw);
    }
    atomic_fetch_sub(&run->inflight, 1);
    return st;
}

static int64_t finished(dp_runner *r) {
    dpi_run *run = &r->run;
    int64_t n = atomic_load(&run->dropped_newest) + atomic_load(&run->dropped_oldest) + atomic_load(&run->failed_route);
    for (int k = 0; k < r->workers; k++)
        n += atomic_load_explicit(&r->w[k].run.c.completed, memory_order_acquire) +
             atomic_load_explicit(&r->w[k].run.c.failed, memory_order_acquire);
    return n;
}

DP_API dp_status dp_runner_drain(dp_runner *r) {
    if (!r) return dpi_error(DP_ERR_INVALID_ARG, "dp_runner_drain: runner is NULL");
    if (atomic_load(&r->state) != DPI_PUSH)
        return dpi_error(DP_ERR_CLOSED, "dp_runner_drain: the runner is not in push mode");
    int64_t target = atomic_load(&r->run.offered);
    /* Polling keeps the workers' completion path free of any lock or signal. */
    const struct timespec nap = {0, 100000};
    while (finished(r) < target) nanosleep(&nap, NULL);
    return DP_OK;
}

dp_status dpi_push_finish(dp_runner *r, dp_summary *summary) {
    atomic_store(&r->run.accepting, 0);
    while (atomic_load(&r->run.inflight) > 0) sched_yield();
    dp_status s = dpi_run_end(r, summary, "dp_runner_stop");
    /* Push mode ends when the caller says so: a signal that stopped the submits is no failure. */
    return s == DP_ERR_CANCELLED ? DP_OK : s;
}
