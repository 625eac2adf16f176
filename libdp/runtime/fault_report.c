/* What followed each injected event, measured by the metrics thread (it already drains every
 * record and builds an interval row every interval_ms): the p99 of the samples completed in the
 * event's window, the recovery time from the series of interval rows, when the straggler rule
 * first flagged the event's worker on an interval's service times, and how the weighted
 * partitioner's weight for it moved. Definitions: docs/runner.md, "What followed".
 *
 * An event's window runs from its scheduled at_s (applied_s is the worker's, written without a
 * lock during the run) to the next later event of any worker, or the run's end. */
#include "fault_report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dataparallel/partition_protocol.h"
#include "metrics/hist.h"
#include "runner_impl.h"
#include "summary.h"

/* A weight that moved by more than this fraction of its value at the event has "moved". */
#define WEIGHT_MOVED 0.10
/* The recovery band: within 5 % of the offered rate (issue 19). */
#define RECOVERY_TOL 0.05

typedef struct event_track {
    int64_t from_ns, to_ns;  /* the window (to_ns INT64_MAX: until the run's end) */
    dpi_hist *hist;          /* latencies completed in it */
    double straggler_s, weight_before, weight_after, moved_s;
} event_track;

struct dpi_fault_track {
    dp_runner *r;
    int n;
    event_track *ev;
    dpi_series_row *rows;
    int nrows, cap;
    int64_t *busy, *ran, *dran; /* per worker: cumulative busy_ns and samples at the last row, deltas */
    double *service, *scratch, *weights;
    int *stage;
    int weighted;
};

double dpi_recovery_s(const dpi_series_row *rows, int n, double target_rate, double event_s, double horizon_s,
                      double tol) {
    int counted = 0, all_good = 1;
    double good_since = -1;
    for (int i = 1; i < n; i++) {
        double t0 = rows[i - 1].t_s, t1 = rows[i].t_s, dt = t1 - t0;
        if (t0 < event_s || t1 > horizon_s || !(dt > 0)) continue;
        double rate = (double)(rows[i].completed - rows[i - 1].completed) / dt;
        double ref = target_rate > 0 ? target_rate : (double)(rows[i].offered - rows[i - 1].offered) / dt;
        int good = fabs(rate - ref) <= tol * ref;
        counted++;
        all_good &= good;
        if (!good)
            good_since = -1;
        else if (good_since < 0)
            good_since = t0;
    }
    if (!counted) return NAN;
    if (all_good) return 0;
    return good_since < 0 ? -1 : good_since - event_s;
}

int dpi_is_straggler(const double *service, const int64_t *ran, const int *stage, int W, int k, double factor,
                     double *scratch) {
    if (ran[k] <= 0) return 0;
    int n = 0;
    for (int j = 0; j < W; j++)
        if (j != k && stage[j] == stage[k] && ran[j] > 0) scratch[n++] = service[j];
    return dpi_straggler_rule(service[k], scratch, n, factor);
}

void dpi_fault_track_free(dpi_fault_track *t) {
    if (!t) return;
    for (int i = 0; t->ev && i < t->n; i++) dpi_free_aligned(t->ev[i].hist);
    free(t->ev);
    free(t->rows);
    free(t->busy);
    free(t->ran);
    free(t->dran);
    free(t->service);
    free(t->scratch);
    free(t->weights);
    free(t->stage);
    free(t);
}

static int64_t at_ns(const dp_runner *r, double s) { return r->run.t_start + (int64_t)llround(s * 1e9); }

/* The relative weight of the replica running worker k, or NaN when not weighted. */
static double weight_of(const dpi_fault_track *t, int k) {
    return t->weighted ? t->weights[t->r->w[k].replica] : NAN;
}

dpi_fault_track *dpi_fault_track_new(dp_runner *r) {
    if (r->num_faults == 0) return NULL;
    int W = r->workers;
    dpi_fault_track *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->r = r;
    t->n = r->num_faults;
    t->ev = calloc((size_t)t->n, sizeof *t->ev);
    t->busy = calloc((size_t)W, sizeof *t->busy);
    t->ran = calloc((size_t)W, sizeof *t->ran);
    t->dran = calloc((size_t)W, sizeof *t->dran);
    t->service = calloc((size_t)W, sizeof *t->service);
    t->scratch = calloc((size_t)W, sizeof *t->scratch);
    t->weights = calloc((size_t)r->replicas, sizeof *t->weights);
    t->stage = calloc((size_t)W, sizeof *t->stage);
    int ok = t->ev && t->busy && t->ran && t->dran && t->service && t->scratch && t->weights && t->stage;
    for (int i = 0; ok && i < t->n; i++) {
        const dp_fault_report *f = &r->faults[i];
        event_track *e = &t->ev[i];
        e->hist = dpi_alloc_aligned(sizeof *e->hist, DPI_CACHELINE);
        ok = e->hist != NULL;
        if (!ok) break;
        dpi_hist_reset(e->hist);
        e->from_ns = at_ns(r, f->at_s);
        e->to_ns = INT64_MAX;
        for (int j = 0; j < t->n; j++)
            if (r->faults[j].at_s > f->at_s && at_ns(r, r->faults[j].at_s) < e->to_ns)
                e->to_ns = at_ns(r, r->faults[j].at_s);
        e->straggler_s = e->moved_s = -1;
    }
    if (!ok) {
        dpi_fault_track_free(t);
        return NULL;
    }
    t->weighted = strcmp(dp_partitioner_name(r->partitioner), "weighted") == 0 &&
                  dp_partitioner_weights(r->partitioner, t->weights, r->replicas) == DP_OK;
    for (int k = 0; k < W; k++) t->stage[k] = r->w[k].stage;
    dpi_fault_track_interval(t, r->run.t_start, 0, 0); /* the series starts at 0 with nothing done */
    for (int i = 0; i < t->n; i++) t->ev[i].weight_before = t->ev[i].weight_after = weight_of(t, r->faults[i].worker);
    return t;
}

void dpi_fault_track_record(dpi_fault_track *t, const dp_result *res) {
    if (!t || res->status != DP_OK) return;
    for (int i = 0; i < t->n; i++)
        if (res->delivered_ns >= t->ev[i].from_ns && res->delivered_ns < t->ev[i].to_ns)
            dpi_hist_record(t->ev[i].hist, res->delivered_ns - res->intended_ns);
}

/* This interval's service time per sample of every worker (busy time includes slowdown). */
static void interval_service(dpi_fault_track *t) {
    dp_runner *r = t->r;
    for (int k = 0; k < r->workers; k++) {
        const dpi_counters *c = &r->w[k].run.c;
        int64_t busy = atomic_load_explicit(&c->busy_ns, memory_order_relaxed);
        int64_t ran = atomic_load_explicit(&c->samples_run, memory_order_relaxed);
        t->dran[k] = ran - t->ran[k];
        t->service[k] = t->dran[k] > 0 ? (double)(busy - t->busy[k]) / (double)t->dran[k] : 0;
        t->busy[k] = busy;
        t->ran[k] = ran;
    }
}

void dpi_fault_track_interval(dpi_fault_track *t, int64_t now_ns, int64_t completed, int64_t offered) {
    if (!t) return;
    dp_runner *r = t->r;
    if (t->nrows == t->cap) {
        int cap = t->cap ? 2 * t->cap : 256;
        dpi_series_row *rows = realloc(t->rows, (size_t)cap * sizeof *rows);
        if (!rows) return; /* the series stops here: recovery is judged on what it has */
        t->rows = rows;
        t->cap = cap;
    }
    double now_s = (double)(now_ns - r->run.t_start) * 1e-9;
    t->rows[t->nrows++] = (dpi_series_row){.t_s = now_s, .completed = completed, .offered = offered};
    interval_service(t);
    if (t->weighted) dp_partitioner_weights(r->partitioner, t->weights, r->replicas);
    for (int i = 0; i < t->n; i++) {
        event_track *e = &t->ev[i];
        int k = r->faults[i].worker;
        if (now_ns <= e->from_ns) {
            e->weight_before = e->weight_after = weight_of(t, k);
            continue;
        }
        if (now_ns > e->to_ns) continue;
        if (e->straggler_s < 0 &&
            dpi_is_straggler(t->service, t->dran, t->stage, r->workers, k, r->opts.straggler_factor, t->scratch))
            e->straggler_s = now_s;
        if (!t->weighted) continue;
        e->weight_after = weight_of(t, k);
        if (e->moved_s < 0 && fabs(e->weight_after - e->weight_before) > WEIGHT_MOVED * e->weight_before)
            e->moved_s = now_s;
    }
}

void dpi_fault_track_finish(dpi_fault_track *t, int64_t now_ns) {
    if (!t) return;
    dp_runner *r = t->r;
    int64_t last_emit = atomic_load(&r->run.t_last_emit);
    for (int i = 0; i < t->n; i++) {
        event_track *e = &t->ev[i];
        dp_fault_report *f = &r->faults[i];
        int64_t end = e->to_ns < now_ns ? e->to_ns : now_ns;
        f->window_end_s = (double)(end - r->run.t_start) * 1e-9;
        f->window_completed = (int64_t)e->hist->count;
        f->p99_after_ms = NAN;
        if (e->hist->count) {
            const double q = 0.99;
            int64_t v;
            dpi_hist_quantiles(e->hist, &q, 1, &v);
            f->p99_after_ms = (double)v * 1e-6;
        }
        /* Throughput is judged only while samples arrive: after the last one the rate falls by
         * design. */
        int64_t horizon = last_emit > 0 && last_emit < end ? last_emit : end;
        f->recovery_s = dpi_recovery_s(t->rows, t->nrows, r->run.info.target_rate, f->at_s,
                                       (double)(horizon - r->run.t_start) * 1e-9, RECOVERY_TOL);
        f->straggler_s = e->straggler_s;
        f->weight_before = e->weight_before;
        f->weight_after = e->weight_after;
        f->weights_moved_s = t->weighted ? e->moved_s : NAN;
    }
}
