/* The summary of a run, computed once after the workers were joined: counters, the merge of the
 * workers' latency histograms, rates, and the straggler flags. Definitions: docs/metrics.md. */
#include "summary.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataparallel/stats.h"
#include "pipeline.h"
#include "runner_impl.h"
#include "util/sized.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Straggler (docs/metrics.md): mean service time above factor x the median of the *other*
 * workers that ran the same stage (stages of a pipeline differ in cost by design). With the median
 * of all, two workers could never flag one below 3x at 1.5. */
int dpi_straggler_rule(double mine, double *peers, int n, double factor) {
    if (n <= 0) return 0;
    qsort(peers, (size_t)n, sizeof peers[0], cmp_double);
    double median = n % 2 ? peers[n / 2] : 0.5 * (peers[n / 2 - 1] + peers[n / 2]);
    return mine > factor * median;
}

static void flag_stragglers(dp_runner *r) {
    int W = r->workers;
    for (int k = 0; k < W; k++) {
        if (atomic_load(&r->w[k].run.c.samples_run) == 0) continue;
        int n = 0;
        for (int j = 0; j < W; j++)
            if (j != k && r->w[j].stage == r->w[k].stage && atomic_load(&r->w[j].run.c.samples_run) > 0)
                r->scratch[n++] = r->ws[j].mean_service_ms;
        r->ws[k].straggler = dpi_straggler_rule(r->ws[k].mean_service_ms, r->scratch, n, r->opts.straggler_factor);
    }
}
/* The order-statistic interval of each reported percentile at `confidence`, read from the
 * histogram at the bounding ranks (nearest rank (r - 0.5) / n is rank r). */
static void latency_ci(const dpi_hist *h, double confidence, dp_latency_ci *out) {
    static const double qs[4] = {0.5, 0.9, 0.99, 0.999};
    double *dst[4] = {out->p50, out->p90, out->p99, out->p999};
    int64_t n = (int64_t)h->count;
    for (int k = 0; k < 4; k++) {
        int64_t rank[2] = {0, 0};
        if (n > 0) dp_quantile_ci_ranks(n, qs[k], confidence, &rank[0], &rank[1]);
        for (int side = 0; side < 2; side++) {
            dst[k][side] = NAN;
            if (rank[side] <= 0) continue;
            double q = ((double)rank[side] - 0.5) / (double)n;
            int64_t v;
            dpi_hist_quantiles(h, &q, 1, &v);
            dst[k][side] = (double)v * 1e-6;
        }
    }
}

/* ---- latency breakdown: each part per worker, and merged over the workers one part at a time
 * (one scratch histogram, not DP_PHASES). */
static void breakdown(dp_runner *r, dp_summary *S) {
    for (int p = 0; p < DP_PHASES; p++) {
        dpi_hist_reset(r->phase_merged);
        for (int k = 0; k < r->workers; k++) {
            dpi_hist_latency_ms(&r->w[k].phase_hist[p], &r->wb[k].phase[p]);
            dpi_hist_merge(r->phase_merged, &r->w[k].phase_hist[p]);
        }
        dpi_hist_latency_ms(r->phase_merged, &S->breakdown_ms.phase[p]);
    }
    S->per_worker_breakdown_ms = r->wb;
}

void dpi_summary_compute(dp_runner *r, dp_summary *S) {
    const dpi_run *run = &r->run;
    int W = r->workers;
    double elapsed = (double)(run->t_end - run->t_start) * 1e-9;
    int64_t t_first = atomic_load(&run->t_first_emit), t_last = atomic_load(&run->t_last_emit), t_done = 0;
    memset(S, 0, sizeof *S);
    S->size = sizeof *S;
    /* The warm-up's latency first: r->merged then holds the measured part, which
     * dp_runner_latency_over() reads after the run. */
    dpi_hist_reset(r->merged);
    int64_t t_measured = 0;
    for (int k = 0; k < W; k++) {
        const dpi_counters *c = &r->w[k].run.c;
        int64_t first = atomic_load(&c->first_measured_ns);
        S->warmup_completed += atomic_load(&c->warmup_completed);
        if (first && (t_measured == 0 || first < t_measured)) t_measured = first;
        dpi_hist_merge(r->merged, r->w[k].warmup_hist);
    }
    dpi_hist_latency_ms(r->merged, &S->warmup_latency_ms);
    dpi_hist_reset(r->merged);
    for (int k = 0; k < W; k++) {
        dpi_worker *w = &r->w[k];
        const dpi_counters *c = &w->run.c;
        int64_t comp = atomic_load(&c->completed), fail = atomic_load(&c->failed);
        int64_t ran = atomic_load(&c->samples_run), batches = atomic_load(&c->batches);
        int64_t busy = atomic_load(&c->busy_ns), last = atomic_load(&c->last_end_ns);
        S->completed += comp;
        S->failed += fail;
        S->labelled += atomic_load(&c->labelled);
        S->correct += atomic_load(&c->correct);
        S->nonfinite_inputs += atomic_load(&c->nonfinite);
        if (run->mode == DPI_MODE_BATCH) S->offered += atomic_load(&c->offered);
        if (last > t_done) t_done = last;
        if (r->num_sinks) S->records_dropped += dpi_ring_dropped(&w->run.ring);
        dpi_hist_merge(r->merged, w->hist);
        r->ws[k] = (dp_worker_summary){.worker = k,
                                       .completed = comp,
                                       .failed = fail,
                                       .busy_s = busy * 1e-9,
                                       .busy_pct = elapsed > 0 ? 100.0 * busy * 1e-9 / elapsed : 0,
                                       .mean_batch = batches ? (double)ran / batches : 0,
                                       .mean_service_ms = ran ? busy * 1e-6 / ran : 0,
                                       .queue_hwm = dpi_worker_queue_hwm(w),
                                       .replica = w->replica,
                                       .stage = w->stage};
    }
    flag_stragglers(r);
    if (run->mode != DPI_MODE_BATCH) S->offered = atomic_load(&run->offered);
    if (r->num_sinks) S->records_dropped += dpi_ring_dropped(&run->producer_ring);
    S->failed += atomic_load(&run->failed_route);
    S->dropped_newest = atomic_load(&run->dropped_newest);
    S->dropped_oldest = atomic_load(&run->dropped_oldest);
    S->dropped = S->dropped_newest + S->dropped_oldest;
    double target_rate = run->info.target_rate;
    S->target_rate = target_rate;
    if (target_rate > 0 && S->offered > 1 && t_last > t_first)
        S->rate_accuracy_pct = 100.0 * ((double)(S->offered - 1) / ((t_last - t_first) * 1e-9)) / target_rate;
    /* With a warm-up, the measured samples over the time from the first of them (docs/metrics.md). */
    int64_t measured = S->completed - S->warmup_completed, t0 = S->warmup_completed ? t_measured : t_first;
    if (measured > 0 && t_done > t0) S->throughput = (double)measured / ((t_done - t0) * 1e-9);
    if (target_rate > 0) S->efficiency_pct = 100.0 * S->throughput / target_rate;
    dpi_hist_latency_ms(r->merged, &S->latency_ms);
    latency_ci(r->merged, 0.95, &S->latency_ci95_ms);
    latency_ci(r->merged, 0.99, &S->latency_ci99_ms);
    S->cpu_pct = elapsed > 0 ? 100.0 * (dpi_process_cpu_s() - run->cpu_start) / elapsed : 0;
    S->rss_mb = dpi_peak_rss_mb();
    S->elapsed_s = elapsed;
    S->workers = W;
    S->per_worker = r->ws;
    S->signal = atomic_load(&run->signal);
    S->faults = r->faults;
    S->num_faults = r->num_faults;
    breakdown(r, S);
    dpi_pipeline_summary(r, S);
}

DP_API dp_status dp_runner_latency_over(const dp_runner *r, double slo_ms, int64_t *n, int64_t *over) {
    if (!r || !n || !over) return dpi_error(DP_ERR_INVALID_ARG, "dp_runner_latency_over: runner, n or over is NULL");
    if (!(slo_ms >= 0) || slo_ms > 1e9)
        return dpi_error(DP_ERR_INVALID_ARG, "dp_runner_latency_over: slo_ms is %g, expected 0 to 1e9", slo_ms);
    int64_t bound = (int64_t)llround(slo_ms * 1e6);
    uint64_t le = 0;
    dpi_hist_count_le(r->merged, &bound, 1, &le);
    *n = (int64_t)r->merged->count;
    *over = *n - (int64_t)le;
    return DP_OK;
}

void dpi_summary_empty(dp_runner *r, dp_summary *S) {
    memset(S, 0, sizeof *S);
    memset(r->ws, 0, (size_t)r->workers * sizeof *r->ws);
    memset(r->wb, 0, (size_t)r->workers * sizeof *r->wb);
    for (int k = 0; k < r->workers; k++) r->ws[k].worker = k;
    S->size = sizeof *S;
    S->workers = r->workers;
    S->per_worker = r->ws;
    S->per_worker_breakdown_ms = r->wb;
    dpi_pipeline_summary(r, S);
}

/* The first published dp_summary ended before nonfinite_inputs (docs/c-api.md, "Sized structs"). */
#define SUMMARY_V1 offsetof(dp_summary, nonfinite_inputs)

DP_API void dp_summary_init_sized(dp_summary *summary, size_t size) {
    const dp_summary empty = {.size = sizeof empty};
    dpi_sized_init(summary, size, &empty, sizeof empty);
}

dp_status dpi_summary_check(dp_summary *summary, const char *fn) {
    if (!summary) return dpi_error(DP_ERR_INVALID_ARG, "%s: summary is NULL", fn);
    char what[96];
    snprintf(what, sizeof what, "%s: summary", fn);
    dp_status s = dpi_sized_check(summary, sizeof *summary, SUMMARY_V1, what, "dp_summary_init");
    if (s == DP_OK) dp_summary_init_sized(summary, summary->size);
    return s;
}

void dpi_summary_copy_out(dp_summary *out, const dp_summary *full) {
    if (out) dpi_sized_give(out, full, sizeof *full);
}
