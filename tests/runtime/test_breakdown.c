/* The latency breakdown (docs/metrics.md, "Latency breakdown"): for every completed sample the
 * five parts are non-negative and add up to its latency exactly, in the callback's dp_result and
 * in the JSONL sink's lines; the summary's percentiles of each part, overall and per worker, are
 * those of the samples to the histogram's precision, and the parts' means add up to the latency's;
 * a micro-batch held open for max_delay_us shows it as batching; a slowed worker's service grows;
 * a pipeline's parts add up too (its waits between stages count as queue). */
#include <stdlib.h>
#include <string.h>

#include "metrics/sink_test_util.h"
#include "rt_common.h"

#define N 240

typedef struct seen_results {
    dp_result res[N];
    int got[N];
} seen_results;

static void keep_result(const dp_result *r, void *ctx, void *user) {
    seen_results *s = user;
    (void)ctx;
    /* Each id arrives once, from one worker; the test reads them after the run joined the workers. */
    if (r->status == DP_OK && r->sample_id >= 0 && r->sample_id < N) {
        s->res[r->sample_id] = *r;
        s->got[r->sample_id] = 1;
    }
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Every kept sample: ordered steps, parts >= 0 adding up to delivered - intended. */
static void check_parts(const seen_results *s, int64_t expect, const char *what) {
    int64_t n = 0, bad_sum = 0, negative = 0, disorder = 0;
    for (int i = 0; i < N; i++) {
        if (!s->got[i]) continue;
        const dp_result *r = &s->res[i];
        int64_t part[DP_PHASES], sum = 0;
        dp_result_phases(r, part);
        for (int p = 0; p < DP_PHASES; p++) {
            sum += part[p];
            negative += part[p] < 0;
        }
        bad_sum += sum != r->delivered_ns - r->intended_ns;
        disorder += !(r->intended_ns <= r->enqueued_ns && r->enqueued_ns <= r->taken_ns && r->taken_ns <= r->start_ns &&
                      r->start_ns <= r->end_ns && r->end_ns <= r->delivered_ns && r->service_ns > 0 &&
                      r->service_ns <= r->end_ns - r->start_ns);
        n++;
    }
    CHECK_MSG(n == expect, "%s: %lld completed samples seen, expected %lld", what, (long long)n, (long long)expect);
    CHECK_MSG(bad_sum == 0, "%s: %lld samples whose parts do not add up to their latency", what, (long long)bad_sum);
    CHECK_MSG(negative == 0, "%s: %lld negative parts", what, (long long)negative);
    CHECK_MSG(disorder == 0, "%s: %lld samples with steps out of order", what, (long long)disorder);
}

/* Nearest rank, as the histogram computes it. */
static int64_t exact_quantile(const int64_t *sorted, int64_t n, double q) {
    int64_t rank = (int64_t)(q * (double)n);
    if ((double)rank < q * (double)n * (1.0 - 1e-12)) rank++;
    if (rank < 1) rank = 1;
    return sorted[rank - 1];
}

/* The histogram gives the top of the exact value's bucket: at most 1/1024 above it. */
static int within_hist(int64_t exact, double ms) {
    double v = ms * 1e6;
    return v >= (double)exact - 1.0 && v <= (double)exact * (1.0 + 1.0 / 1024) + 1.0;
}

/* The summary's parts (worker < 0: overall) against the kept samples' own. */
static void check_percentiles(const seen_results *s, const dp_breakdown_ms *b, int worker, const char *what) {
    int64_t v[N];
    for (int p = 0; p < DP_PHASES; p++) {
        int64_t n = 0;
        for (int i = 0; i < N; i++) {
            if (!s->got[i] || (worker >= 0 && s->res[i].worker != worker)) continue;
            int64_t part[DP_PHASES];
            dp_result_phases(&s->res[i], part);
            v[n++] = part[p];
        }
        if (n == 0) continue;
        qsort(v, (size_t)n, sizeof v[0], cmp_i64);
        const dp_latency_ms *l = &b->phase[p];
        const double qs[3] = {0.5, 0.9, 0.99};
        const double got[3] = {l->p50, l->p90, l->p99};
        for (int k = 0; k < 3; k++)
            CHECK_MSG(within_hist(exact_quantile(v, n, qs[k]), got[k]), "%s, worker %d, %s p%g: summary %.6f ms, samples %lld ns",
                      what, worker, dp_phase_name(p), qs[k] * 100, got[k], (long long)exact_quantile(v, n, qs[k]));
        CHECK_MSG(llround(l->max * 1e6) == v[n - 1], "%s, worker %d, %s max: %.6f ms vs %lld ns", what, worker,
                  dp_phase_name(p), l->max, (long long)v[n - 1]);
    }
}

static void check_means_add_up(const dp_summary *S, const char *what) {
    double sum = 0;
    for (int p = 0; p < DP_PHASES; p++) sum += S->breakdown_ms.phase[p].mean;
    CHECK_MSG(fabs(sum - S->latency_ms.mean) <= 1e-6 * (1 + S->latency_ms.mean), "%s: parts' means add up to %.9f ms, latency mean %.9f ms",
              what, sum, S->latency_ms.mean);
}

/* "12.345678" (ms, 6 decimals) at key in line, as ns; -1 if absent. */
static int64_t ms_field_ns(const char *line, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(line, pat);
    if (!p) return -1;
    char *dot;
    long long whole = strtoll(p + strlen(pat), &dot, 10);
    if (*dot != '.') return -1;
    return whole * 1000000 + strtoll(dot + 1, NULL, 10);
}

/* Every sample line of the JSONL file: its five parts add up to its latency_ms, to the ns. */
static void check_jsonl(const char *path, int64_t expect) {
    char *text = slurp(path);
    CHECK_MSG(text != NULL, "cannot read %s", path);
    if (!text) return;
    int64_t lines = 0, bad = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (!strstr(line, "\"type\":\"sample\"")) continue;
        lines++;
        int64_t sum = 0, part_bad = 0;
        for (int p = 0; p < DP_PHASES; p++) {
            char key[32];
            snprintf(key, sizeof key, "%s_ms", dp_phase_name(p));
            int64_t v = ms_field_ns(line, key);
            part_bad |= v < 0;
            sum += v;
        }
        if (part_bad || sum != ms_field_ns(line, "latency_ms")) {
            if (!bad) fprintf(stderr, "first bad line: %s\n", line);
            bad++;
        }
    }
    CHECK_MSG(lines == expect, "%s: %lld sample lines, expected %lld", path, (long long)lines, (long long)expect);
    CHECK_MSG(bad == 0, "%s: %lld lines whose parts do not add up to latency_ms", path, (long long)bad);
    free(text);
}

static dp_runner *make_runner(dp_model *m, dp_partitioner *p, dp_runner_opts *o, seen_results *seen) {
    o->on_result = keep_result;
    o->on_result_user = seen;
    dp_runner *r = NULL;
    CHECK_OK(dp_runner_create(m, p, o, &r));
    return r;
}

/* Stream mode over 2 workers with micro-batches, a JSONL sink attached. */
static void stream_run(dp_model *m, dp_dataset *ds) {
    seen_results *seen = calloc(1, sizeof *seen);
    dp_partitioner *p = rt_partitioner("uniform", NULL, NULL);
    dp_runner_opts o;
    dp_runner_opts_init(&o);
    o.workers = 2;
    o.max_batch = 4;
    o.max_delay_us = 1000;
    dp_runner *r = make_runner(m, p, &o, seen);
    dp_sink *jsonl = NULL;
    CHECK_OK(dp_sink_jsonl_create("breakdown.jsonl", &jsonl));
    CHECK_OK(dp_runner_add_sink(r, jsonl));
    dp_source *src = rt_source(ds, 400, N);
    RT_SUMMARY(S);
    CHECK_OK(dp_runner_run(r, src, &S));
    CHECK(S.completed == N);
    check_parts(seen, S.completed, "stream");
    check_percentiles(seen, &S.breakdown_ms, -1, "stream");
    CHECK(S.per_worker_breakdown_ms != NULL);
    for (int k = 0; k < 2 && S.per_worker_breakdown_ms; k++)
        check_percentiles(seen, &S.per_worker_breakdown_ms[k], k, "stream");
    check_means_add_up(&S, "stream");
    char json[16384];
    CHECK(dp_summary_to_json(&S, json, sizeof json) < sizeof json);
    CHECK_MSG(strstr(json, "\"latency_breakdown_ms\":{\"dispatch\":{\"p50\":") != NULL, "no breakdown in %s", json);
    dp_runner_free(r);
    dp_sink_free(jsonl); /* flushes and closes the file */
    check_jsonl("breakdown.jsonl", S.completed);
    dp_source_free(src);
    dp_partitioner_free(p);
    free(seen);
}

/* Push mode, one sample, max_batch 4: the worker holds its micro-batch open max_delay_us for more
 * that never come, so the sample's batching is at least that long (a lower bound, not a timing). */
static void batching_run(dp_model *m) {
    seen_results *seen = calloc(1, sizeof *seen);
    dp_partitioner *p = rt_partitioner("uniform", NULL, NULL);
    dp_runner_opts o;
    dp_runner_opts_init(&o);
    o.max_batch = 4;
    o.max_delay_us = 20000;
    dp_runner *r = make_runner(m, p, &o, seen);
    float *x = calloc(3 * 32 * 32, sizeof *x);
    CHECK_OK(dp_runner_start(r, 3, 32, 32));
    CHECK_OK(dp_runner_submit(r, 0, x, NULL));
    CHECK_OK(dp_runner_drain(r));
    RT_SUMMARY(S);
    CHECK_OK(dp_runner_stop(r, &S));
    check_parts(seen, 1, "push");
    int64_t part[DP_PHASES];
    dp_result_phases(&seen->res[0], part);
    CHECK_MSG(part[DP_PHASE_BATCHING] >= 20000000, "batching %lld ns, max_delay_us 20000", (long long)part[DP_PHASE_BATCHING]);
    CHECK_MSG(S.breakdown_ms.phase[DP_PHASE_BATCHING].max >= 20.0, "summary batching max %.6f ms",
              S.breakdown_ms.phase[DP_PHASE_BATCHING].max);
    dp_runner_free(r);
    dp_partitioner_free(p);
    free(x);
    free(seen);
}

/* Batch mode, worker 1 slowed 4x: its service (the summary's, and its own mean service time)
 * exceeds worker 0's. */
static void slowdown_run(dp_model *m, dp_dataset *ds) {
    seen_results *seen = calloc(1, sizeof *seen);
    dp_partitioner *p = rt_partitioner("uniform", NULL, NULL);
    const double slow[2] = {1.0, 4.0};
    dp_runner_opts o;
    dp_runner_opts_init(&o);
    o.workers = 2;
    o.slowdown = slow;
    o.num_slowdown = 2;
    dp_runner *r = make_runner(m, p, &o, seen);
    RT_SUMMARY(S);
    CHECK_OK(dp_runner_run_batch(r, ds, &S));
    check_parts(seen, S.completed, "batch");
    const dp_breakdown_ms *wb = S.per_worker_breakdown_ms;
    double s0 = wb[0].phase[DP_PHASE_SERVICE].p50, s1 = wb[1].phase[DP_PHASE_SERVICE].p50;
    CHECK_MSG(s1 > 1.5 * s0, "service p50 of the 4x slowed worker %.3f ms, of the other %.3f ms", s1, s0);
    for (int k = 0; k < 2; k++)
        CHECK_MSG(fabs(wb[k].phase[DP_PHASE_SERVICE].mean - S.per_worker[k].mean_service_ms) <=
                      1e-6 * S.per_worker[k].mean_service_ms,
                  "worker %d: service mean %.6f ms, mean_service_ms %.6f", k, wb[k].phase[DP_PHASE_SERVICE].mean,
                  S.per_worker[k].mean_service_ms);
    /* Batch mode samples arrive when taken: nothing is dispatched or queued. */
    CHECK(S.breakdown_ms.phase[DP_PHASE_DISPATCH].max == 0 && S.breakdown_ms.phase[DP_PHASE_QUEUE].max == 0);
    dp_runner_free(r);
    dp_partitioner_free(p);
    free(seen);
}

/* Two stages: service is the stages' sum, the hand-over waits count as queue, the sum holds. */
static void pipeline_run(dp_model *m, dp_dataset *ds) {
    seen_results *seen = calloc(1, sizeof *seen);
    dp_partitioner *p = rt_partitioner("uniform", NULL, NULL);
    dp_runner_opts o;
    dp_runner_opts_init(&o);
    o.workers = 2;
    o.max_batch = 2;
    dp_runner *r = make_runner(m, p, &o, seen);
    dp_stage_opts so;
    dp_stage_opts_init(&so);
    int cut = 6;
    so.stages = 2;
    so.cuts = &cut;
    so.num_cuts = 1;
    CHECK_OK(dp_runner_set_stages(r, &so));
    dp_source *src = rt_source(ds, 300, 60);
    RT_SUMMARY(S);
    CHECK_OK(dp_runner_run(r, src, &S));
    CHECK(S.completed == 60);
    check_parts(seen, S.completed, "pipeline");
    check_percentiles(seen, &S.breakdown_ms, -1, "pipeline");
    check_means_add_up(&S, "pipeline");
    dp_runner_free(r);
    dp_source_free(src);
    dp_partitioner_free(p);
    free(seen);
}

int main(void) {
    dp_model *m = rt_model();
    dp_dataset *ds = NULL;
    CHECK_OK(dp_dataset_synthetic(N, 3, 32, 32, 5, &ds));
    stream_run(m, ds);
    batching_run(m);
    slowdown_run(m, ds);
    pipeline_run(m, ds);
    dp_dataset_free(ds);
    dp_model_free(m);
    TEST_MAIN_END();
}
