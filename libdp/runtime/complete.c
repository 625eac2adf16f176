/* Result delivery: the last step of every sample's path. A worker delivers its own samples (no
 * lock: its counters, histogram and ring are its own); drops and routing failures happen on
 * producer threads and go into the producers' ring, which takes any number of writers. Neither
 * ever waits for a sink: a full ring drops the record for the sinks and counts it. */
#include "complete.h"

DP_API void dp_result_phases(const dp_result *r, int64_t out[DP_PHASES]) {
    if (!r || !out) return;
    out[DP_PHASE_DISPATCH] = r->enqueued_ns - r->intended_ns;
    /* A pipeline's waits between stages are the part of start..end that was not service. */
    out[DP_PHASE_QUEUE] = (r->taken_ns - r->enqueued_ns) + (r->end_ns - r->start_ns - r->service_ns);
    out[DP_PHASE_BATCHING] = r->start_ns - r->taken_ns;
    out[DP_PHASE_SERVICE] = r->service_ns;
    out[DP_PHASE_DELIVERY] = r->delivered_ns - r->end_ns;
}

DP_API const char *dp_phase_name(int phase) {
    static const char *const names[DP_PHASES] = {"dispatch", "queue", "batching", "service", "delivery"};
    return phase >= 0 && phase < DP_PHASES ? names[phase] : NULL;
}

static void deliver(dp_runner *r, dpi_ring *ring, const dp_result *res, void *ctx) {
    if (r->opts.on_result) r->opts.on_result(res, ctx, r->opts.on_result_user);
    if (r->run.records) dpi_ring_push(ring, res, res->logits);
}

static dp_result result_of(const dpi_slot *s, int worker, dp_status st, int64_t t0, int64_t t1, int batch_size,
                           int num_classes) {
    return (dp_result){.sample_id = s->sample_id,
                       .index = s->index,
                       .worker = worker,
                       .top1 = -1,
                       .label = -1,
                       .batch_size = batch_size,
                       .status = st,
                       .intended_ns = s->intended_ns,
                       .start_ns = s->start_ns ? s->start_ns : t0,
                       .end_ns = t1,
                       .num_classes = num_classes,
                       .enqueued_ns = s->enqueued_ns,
                       .taken_ns = s->taken_ns,
                       .service_ns = s->service_ns,
                       .delivered_ns = t1};
}

void dpi_complete_microbatch(dpi_worker *w, int m, int64_t t0, int64_t t1) {
    dp_runner *r = w->r;
    dpi_microbatch *mb = &w->run.mb;
    int K = r->num_classes;
    int64_t labelled = 0, correct = 0, warm = 0, first = 0;
    for (int i = 0; i < m; i++) {
        const dpi_slot *s = &mb->slots[i];
        dp_result res = result_of(s, w->index, DP_OK, t0, t1, m, K);
        res.top1 = mb->top1[i];
        res.label = mb->labels[i];
        res.logits = r->opts.keep_logits ? mb->logits + (size_t)i * K : NULL;
        /* One clock read per sample: a callback of an earlier sample of the batch delays it. */
        res.delivered_ns = dpi_now_ns();
        if (s->intended_ns < r->run.warmup_end_ns || s->sample_id < r->opts.warmup_samples) {
            /* Warm-up: its latency apart, out of the figures and the breakdown. */
            dpi_hist_record(w->warmup_hist, res.delivered_ns - s->intended_ns);
            warm++;
        } else {
            int64_t part[DP_PHASES];
            dp_result_phases(&res, part);
            for (int p = 0; p < DP_PHASES; p++) dpi_hist_record(&w->phase_hist[p], part[p]);
            dpi_hist_record(w->hist, res.delivered_ns - s->intended_ns);
            if (first == 0 || s->intended_ns < first) first = s->intended_ns;
        }
        if (res.label >= 0) {
            labelled++;
            correct += res.top1 == res.label;
        }
        deliver(r, &w->run.ring, &res, s->ctx);
    }
    dpi_counters *c = &w->run.c;
    atomic_fetch_add_explicit(&c->labelled, labelled, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->correct, correct, memory_order_relaxed);
    atomic_store_explicit(&c->last_end_ns, t1, memory_order_relaxed);
    /* Only this worker writes its counters: load-compare-store needs no read-modify-write. */
    if (warm) atomic_fetch_add_explicit(&c->warmup_completed, warm, memory_order_relaxed);
    int64_t was = atomic_load_explicit(&c->first_measured_ns, memory_order_relaxed);
    if (first && (was == 0 || first < was)) atomic_store_explicit(&c->first_measured_ns, first, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->completed, m, memory_order_release);
}

void dpi_fail_samples(dpi_worker *w, const dpi_slot *s, int n, dp_status st, int64_t t0, int64_t t1,
                      int batch_size) {
    if (w->run.first_failure == DP_OK) w->run.first_failure = st;
    for (int i = 0; i < n; i++) {
        dp_result res = result_of(&s[i], w->index, st, t0, t1, batch_size, w->r->num_classes);
        deliver(w->r, &w->run.ring, &res, s[i].ctx);
    }
    atomic_fetch_add_explicit(&w->run.c.failed, n, memory_order_release);
}

/* The counter goes up after the callback, so drain() (which counts finished samples) never
 * returns before it ran. */
static void deliver_producer(dp_runner *r, const dpi_slot *s, int worker, dp_status st, atomic_llong *counter) {
    int64_t now = dpi_now_ns();
    dp_result res = result_of(s, worker, st, now, now, 0, r->num_classes);
    deliver(r, &r->run.producer_ring, &res, s->ctx);
    atomic_fetch_add(counter, 1);
}

void dpi_complete_dropped(dp_runner *r, const dpi_slot *s, int replica, dpi_push_result how) {
    deliver_producer(r, s, replica, DP_ERR_CANCELLED,
                     how == DPI_DROPPED_OLDEST ? &r->run.dropped_oldest : &r->run.dropped_newest);
}

void dpi_complete_unrouted(dp_runner *r, const dpi_slot *s, dp_status st) {
    deliver_producer(r, s, -1, st, &r->run.failed_route);
}
