/* Pipelines (dataparallel/pipeline.h): 2 stages x 1 replica and 2 x 2 (hybrid) in stream mode,
 * a pipeline in push mode — each sample exactly once with the unsplit model's top-1 —, overload
 * with each overflow policy (accounting), a stop mid-run, failing stages, planned cuts, per-stage
 * summary rows and pipeline metrics (bytes sent, bubble; JSON, console, Prometheus, CSV), batch
 * mode, the refusals (stages not dividing workers, bad cuts, a profiled weighted split), and one
 * runner re-laid out between runs (pipeline, data parallel, other cut), and planned cuts over a
 * slow link going where the activation is smallest. */
#define _GNU_SOURCE /* open_memstream, sockets: tests build as plain C11 */
#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "metrics/sink_test_util.h"
#include "rt_common.h"

/* A runner of W workers as S stages cut at `cut` (-1: planned), depth D. */
static dp_runner *make_pipeline(dp_model *m, dp_partitioner *p, int W, int S, int cut, int D, rt_seen *seen,
                                dp_runner_opts *o) {
    dp_runner *r = rt_runner(m, p, W, seen, o);
    dp_stage_opts so;
    dp_stage_opts_init(&so);
    so.stages = S;
    so.cuts = cut >= 0 ? &cut : NULL;
    so.num_cuts = cut >= 0 ? 1 : 0;
    so.depth = D;
    CHECK_OK(dp_runner_set_stages(r, &so));
    return r;
}

static void check_exactly_once(const rt_seen *seen, int64_t n, const int *ref, const char *what) {
    int once = 1, same = 1;
    for (int64_t i = 0; i < n; i++) {
        once &= atomic_load(&seen->count[i]) == 1;
        same &= !ref || atomic_load(&seen->top1[i]) == ref[i];
    }
    CHECK_MSG(once, "%s: a sample was not delivered exactly once", what);
    CHECK_MSG(same, "%s: a top-1 differs from the unsplit model's", what);
}

static void stream_runs(dp_model *m, dp_dataset *ds, const int *ref) {
    const int64_t n = 48;
    /* W, S, cut: a pipeline, a hybrid (2 replicas of 2 stages), a planned pipeline. */
    const int cfg[][3] = {{2, 2, 6}, {4, 2, 3}, {2, 2, -1}};
    for (int c = 0; c < 3; c++) {
        rt_seen *seen = rt_seen_new();
        dp_partitioner *p = rt_partitioner("uniform", NULL, NULL);
        dp_runner_opts o;
        dp_runner_opts_init(&o);
        o.max_batch = 4;
        o.max_delay_us = 200;
        dp_runner *r = make_pipeline(m, p, cfg[c][0], cfg[c][1], cfg[c][2], 2, seen, &o);
        dp_source *src = rt_source(ds, 2000, n);
        RT_SUMMARY(s);
        CHECK_OK(dp_runner_run(r, src, &s));
        CHECK_ACCOUNTING(s);
        CHECK(s.offered == n && s.completed == n);
        check_exactly_once(seen, n, ref, cfg[c][0] == 4 ? "hybrid" : "pipeline");
        int cuts[4], nc = 0;
        CHECK_OK(dp_runner_get_cuts(r, cuts, 4, &nc));
        CHECK(nc == 1 && cuts[0] >= 1 && cuts[0] < 12 && (cfg[c][2] < 0 || cuts[0] == cfg[c][2]));
        /* Every stage ran every sample of its replica; only last stages complete them. */
        int64_t ran_first = 0;
        for (int k = 0; k < s.workers; k++) {
            const dp_worker_summary *w = &s.per_worker[k];
            CHECK(w->stage == k % 2 && w->replica == k / 2);
            CHECK(w->stage == 1 || w->completed == 0);
            if (w->stage == 0) ran_first += (int64_t)(w->mean_batch > 0);
            CHECK(w->busy_s > 0);
        }
        CHECK(ran_first == cfg[c][0] / 2);
        char json[8192];
        CHECK(dp_summary_to_json(&s, json, sizeof json) > 0 && strstr(json, "\"stage\":1") != NULL);
        dp_source_free(src);
        dp_runner_free(r);
        dp_partitioner_free(p);
        free(seen);
    }
}

/* Far more than the 2 workers can run, tiny queue and depth 1: the hand-over blocks the first
 * stage, the replica's queue overflows, and every sample is still accounted for, once. */
static void overload(dp_model *m, dp_dataset *ds) {
    const dp_overflow pol[] = {DP_OVERFLOW_BLOCK, DP_OVERFLOW_DROP_NEWEST, DP_OVERFLOW_DROP_OLDEST};
    const int64_t n = 120;
    for (int k = 0; k < 3; k++) {
        rt_seen *seen = rt_seen_new();
        dp_partitioner *p = rt_partitioner("dynamic", NULL, NULL);
        dp_runner_opts o;
        dp_runner_opts_init(&o);
        o.queue_capacity = 2;
        o.overflow = pol[k];
        dp_runner *r = make_pipeline(m, p, 2, 2, 4, 1, seen, &o);
        dp_source *src = rt_source(ds, 20000, n);
        RT_SUMMARY(s);
        CHECK_OK(dp_runner_run(r, src, &s));
        CHECK_ACCOUNTING(s);
        CHECK(s.offered == n && (pol[k] != DP_OVERFLOW_BLOCK || s.completed == n));
        check_exactly_once(seen, n, NULL, "overload");
        dp_source_free(src);
        dp_runner_free(r);
        dp_partitioner_free(p);
        free(seen);
    }
}

/* Failing stages (dp_runner_inject fail) in a hybrid of 2 replicas x 2 stages: replica 0's last
 * stage fails every micro-batch, replica 1's first stage its first two. The failed samples are
 * counted on the failing stage's worker and delivered once with DP_ERR_BACKEND; the rest complete
 * with the unsplit top-1; nothing hangs (the watchdog would say) and the accounting holds. */
static void failing_stages(dp_model *m, dp_dataset *ds, const int *ref) {
    const int64_t n = 48;
    rt_seen *seen = rt_seen_new();
    dp_partitioner *p = rt_partitioner("uniform", NULL, NULL); /* round-robin: replica = id % 2 */
    dp_runner_opts o;
    dp_runner_opts_init(&o);
    o.max_batch = 4;
    o.max_delay_us = 200;
    dp_runner *r = make_pipeline(m, p, 4, 2, 6, 2, seen, &o);
    CHECK_OK(dp_runner_inject(r, 0, 1, DP_FAULT_FAIL, 1e9));
    CHECK_OK(dp_runner_inject(r, 0, 2, DP_FAULT_FAIL, 2));
    dp_source *src = rt_source(ds, 2000, n);
    RT_SUMMARY(s);
    CHECK_OK(dp_runner_run(r, src, &s));
    CHECK_ACCOUNTING(s);
    CHECK(s.offered == n && s.dropped == 0 && s.num_faults == 2);
    int64_t injected = s.faults[0].failed + s.faults[1].failed;
    CHECK_MSG(s.failed == injected && s.faults[0].worker == 1 && s.faults[0].failed == n / 2,
              "failed %lld, injected %lld, worker 1 failed %lld", (long long)s.failed, (long long)injected,
              (long long)s.faults[0].failed);
    CHECK(s.faults[1].failed >= 2 && s.faults[1].failed <= 8);
    CHECK(s.per_worker[1].failed == n / 2 && s.per_worker[2].failed == s.faults[1].failed);
    CHECK(s.per_worker[0].failed == 0 && s.per_worker[3].failed == 0 && s.per_worker[1].completed == 0);
    check_exactly_once(seen, n, NULL, "failing stages");
    int64_t failed = 0, wrong = 0, other = 0, escaped = 0;
    for (int64_t i = 0; i < n; i++) {
        int st = atomic_load(&seen->status[i]);
        failed += st != DP_OK;
        if (st == DP_OK) wrong += atomic_load(&seen->top1[i]) != ref[i];
        other += st != DP_OK && st != DP_ERR_BACKEND;
        escaped += i % 2 == 0 && st != DP_ERR_BACKEND;
    }
    CHECK_MSG(failed == s.failed && wrong == 0 && other == 0 && escaped == 0,
              "failed %lld (summary %lld), wrong top-1 %lld, other statuses %lld, replica 0 not failed %lld",
              (long long)failed, (long long)s.failed, (long long)wrong, (long long)other, (long long)escaped);
    dp_source_free(src);
    dp_runner_free(r);
    dp_partitioner_free(p);
    free(seen);
}

/* Pipeline metrics of a 2-stage pipeline whose second stage is 4x slower, under a load it cannot
 * keep up with: every sample's activation at the cut is counted as sent by the first stage (and
 * nothing by the last); the first stage, waiting on the full hand-over, has the larger bubble
 * (its busy time is a fraction of the second's whatever the machine's load: no timing assumed);
 * the summary JSON, the console table and a Prometheus scrape carry the rows with their labels. */
static void stage_metrics(dp_model *m, dp_dataset *ds) {
    const int64_t n = 32;
    const int cut = 6;
    dp_unit_info units[16];
    int nu = 0;
    CHECK_OK(dp_model_units(m, 32, 32, units, 16, &nu));
    dp_partitioner *p = rt_partitioner("uniform", NULL, NULL);
    dp_runner_opts o;
    dp_runner_opts_init(&o);
    double slow[2] = {1, 4};
    o.slowdown = slow;
    o.num_slowdown = 2;
    rt_seen *seen = rt_seen_new();
    dp_runner *r = make_pipeline(m, p, 2, 2, cut, 2, seen, &o);
    char *text = NULL;
    size_t len = 0;
    FILE *con = open_memstream(&text, &len);
    dp_console_opts co;
    dp_console_opts_init(&co);
    co.stream = con;
    co.live = 0;
    co.quiet = 1;
    dp_sink *console = NULL, *prom = NULL, *csv = NULL;
    CHECK_OK(dp_sink_console_create(&co, &console));
    CHECK_OK(dp_runner_add_sink(r, console));
    CHECK_OK(dp_sink_csv_create("test_pipeline_m.csv", &csv));
    CHECK_OK(dp_runner_add_sink(r, csv));
    dp_status ps = dp_sink_prometheus_create("127.0.0.1:0", &prom);
    CHECK(ps == DP_OK || ps == DP_ERR_UNSUPPORTED);
    if (prom) CHECK_OK(dp_runner_add_sink(r, prom));
    dp_source *src = rt_source(ds, 20000, n);
    RT_SUMMARY(s);
    CHECK_OK(dp_runner_run(r, src, &s));
    CHECK(s.completed == n && s.stages == 2 && s.replicas == 1 && s.per_stage != NULL);
    const dp_stage_summary *a = &s.per_stage[0], *b = &s.per_stage[1];
    CHECK(a->stage == 0 && b->stage == 1 && a->replica == 0 && b->replica == 0 && b->worker == 1);
    CHECK_MSG(a->bytes_sent == n * (int64_t)units[cut - 1].out_bytes && b->bytes_sent == 0, "bytes sent %lld, %lld",
              (long long)a->bytes_sent, (long long)b->bytes_sent);
    CHECK(a->inflight_s == b->inflight_s && a->inflight_s >= s.per_worker[1].busy_s && a->inflight_s <= s.elapsed_s);
    CHECK_MSG(a->bubble_pct > b->bubble_pct && b->bubble_pct >= 0 && a->bubble_pct <= 100,
              "bubble %.1f %% (stage 0) vs %.1f %% (stage 1)", a->bubble_pct, b->bubble_pct);
    CHECK(s.bubble_pct > b->bubble_pct && s.bubble_pct < a->bubble_pct);
    char json[16384];
    CHECK(dp_summary_to_json(&s, json, sizeof json) < sizeof json);
    CHECK(strstr(json, "\"pipeline\":{\"stages\":2,\"replicas\":1,\"bubble_pct\":") != NULL);
    CHECK(strstr(json, "\"bytes_sent\":0,") != NULL && strstr(json, "\"inflight_s\":") != NULL);
    fclose(con);
    CHECK_MSG(text && strstr(text, "pipeline     1 replica x 2 stages, bubble") && strstr(text, "bytes sent"),
              "console: %s", text ? text : "(nothing)");
    /* The CSV sink's stage rows: the last interval's two rows end the file and match the summary. */
    char *rows = slurp("test_pipeline_m.stages.csv"), want_csv[160];
    snprintf(want_csv, sizeof want_csv, ",0,0,0,%.6f,%.6f,%.3f,%lld,%lld\n", s.per_worker[0].busy_s, a->inflight_s,
             a->bubble_pct, (long long)a->bytes_sent, (long long)s.per_worker[0].queue_hwm);
    CHECK_MSG(rows && strncmp(rows, "t_s,replica,stage,worker,busy_s,inflight_s,bubble_pct,bytes_sent,queue_hwm\n", 75) == 0 &&
                  strstr(rows, want_csv) && strstr(rows, want_csv)[strlen(want_csv)] != '\0',
              "stage rows lack '%s'", want_csv);
    free(rows);
    remove("test_pipeline_m.csv");
    remove("test_pipeline_m.stages.csv");
    if (prom) {
        char *scrape = http_get(dp_sink_prometheus_port(prom), "/metrics");
        char want[128];
        snprintf(want, sizeof want, "dp_stage_sent_bytes_total{replica=\"0\",stage=\"0\",worker=\"0\"} %lld\n",
                 (long long)a->bytes_sent);
        CHECK_MSG(scrape && strstr(scrape, want) && strstr(scrape, "dp_pipeline_bubble_percent ") &&
                      strstr(scrape, "dp_stage_bubble_percent{replica=\"0\",stage=\"1\",worker=\"1\"} ") &&
                      strstr(scrape, "dp_stage_queue_hwm{replica=\"0\",stage=\"1\",worker=\"1\"} "),
                  "scrape lacks the stage series (%s)", want);
        free(scrape);
    }
    free(text);
    dp_source_free(src);
    dp_runner_free(r);
    dp_sink_free(console);
    dp_sink_free(prom);
    dp_sink_free(csv);
    dp_partitioner_free(p);
    free(seen);
}

static void *stop_later(void *arg) {
    struct timespec t = {0, 300 * 1000 * 1000};
    nanosleep(&t, NULL);
    dp_runner_stop(arg, NULL);
    return NULL;
}

static void stop_mid_run(dp_model *m, dp_dataset *ds) {
    rt_seen *seen = rt_seen_new();
    dp_partitioner *p = rt_partitioner("uniform", NULL, NULL);
    dp_runner *r = make_pipeline(m, p, 2, 2, 6, 2, seen, NULL);
    dp_source *src = rt_source(ds, 100, 4000);
    pthread_t t;
    pthread_create(&t, NULL, stop_later, r);
    RT_SUMMARY(s);
    CHECK_STATUS(dp_runner_run(r, src, &s), DP_ERR_CANCELLED);
    pthread_join(t, NULL);
    CHECK_ACCOUNTING(s);
    CHECK(s.offered > 0 && s.offered < 4000 && atomic_load(&seen->calls) == s.offered);
    dp_source_free(src);
    dp_runner_free(r);
    dp_partitioner_free(p);
    free(seen);
}

static void push_mode(dp_model *m, dp_dataset *ds, const int *ref) {
    rt_seen *seen = rt_seen_new();
    dp_partitioner *p = rt_partitioner("uniform", NULL, NULL);
    dp_runner *r = make_pipeline(m, p, 2, 2, 9, 2, seen, NULL);
    const int64_t n = 24;
    float x[3 * 32 * 32];
    CHECK_OK(dp_runner_start(r, 3, 32, 32));
    for (int64_t i = 0; i < n; i++) {
        CHECK_OK(dp_dataset_get(ds, i, x, NULL));
        CHECK_OK(dp_runner_submit(r, i, x, NULL));
    }
    CHECK_OK(dp_runner_drain(r));
    RT_SUMMARY(s);
    CHECK_OK(dp_runner_stop(r, &s));
    CHECK(s.completed == n);
    check_exactly_once(seen, n, ref, "push");
    dp_runner_free(r);
    dp_partitioner_free(p);
    free(seen);
}

/* Batch mode through a pipeline (2 stages) and a hybrid (2 x 2), with a fixed split and a
 * dynamic one: every sample once with the unsplit top-1, only last stages complete, the first
 * stages took the whole data set between them. The weighted split without weights would profile
 * whole models: refused, naming the fix. */
static void batch_mode(dp_model *m, dp_dataset *ds, const int *ref) {
    const int64_t n = dp_dataset_count(ds);
    const struct {
        int W;
        const char *strategy;
    } cfg[] = {{2, "uniform"}, {4, "dynamic"}, {4, "sharded"}};
    for (int c = 0; c < 3; c++) {
        rt_seen *seen = rt_seen_new();
        dp_partitioner *p = rt_partitioner(cfg[c].strategy, NULL, NULL);
        dp_runner_opts o;
        dp_runner_opts_init(&o);
        o.max_batch = 4;
        dp_runner *r = make_pipeline(m, p, cfg[c].W, 2, 5, 2, seen, &o);
        RT_SUMMARY(s);
        CHECK_OK(dp_runner_run_batch(r, ds, &s));
        CHECK_ACCOUNTING(s);
        CHECK_MSG(s.offered == n && s.completed == n, "%s batch x %d workers: offered %lld completed %lld",
                  cfg[c].strategy, cfg[c].W, (long long)s.offered, (long long)s.completed);
        check_exactly_once(seen, n, ref, "batch pipeline");
        int64_t last = 0;
        for (int k = 0; k < s.workers; k++) {
            CHECK(s.per_worker[k].stage == 1 || s.per_worker[k].completed == 0);
            last += s.per_worker[k].completed;
        }
        CHECK(last == n && s.stages == 2 && s.replicas == cfg[c].W / 2);
        dp_runner_free(r);
        dp_partitioner_free(p);
        free(seen);
    }
    rt_seen *none = rt_seen_new();
    dp_partitioner *p = rt_partitioner("weighted", NULL, NULL);
    dp_runner *r = make_pipeline(m, p, 2, 2, 5, 2, none, NULL);
    RT_SUMMARY(s);
    CHECK_STATUS(dp_runner_run_batch(r, ds, &s), DP_ERR_UNSUPPORTED);
    CHECK_ERROR_MENTIONS("weights");
    CHECK(atomic_load(&none->calls) == 0);
    dp_runner_free(r);
    dp_partitioner_free(p);
    free(none);
}

static void refusals(dp_model *m, dp_dataset *ds) {
    dp_partitioner *p = rt_partitioner("uniform", NULL, NULL);
    dp_runner_opts o;
    dp_runner_opts_init(&o);
    o.workers = 2;
    dp_runner *r = NULL;
    CHECK_OK(dp_runner_create(m, p, &o, &r));
    dp_stage_opts so;
    dp_stage_opts_init(&so);
    so.stages = 3;
    CHECK_STATUS(dp_runner_set_stages(r, &so), DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("do not divide");
    int cuts[2] = {3, 2};
    so.stages = 2;
    so.cuts = cuts;
    so.num_cuts = 2;
    CHECK_STATUS(dp_runner_set_stages(r, &so), DP_ERR_INVALID_ARG);
    so.num_cuts = 1;
    cuts[0] = 12;
    CHECK_STATUS(dp_runner_set_stages(r, &so), DP_ERR_INVALID_ARG);
    so.depth = 0;
    cuts[0] = 3;
    CHECK_STATUS(dp_runner_set_stages(r, &so), DP_ERR_INVALID_ARG);
    so.depth = 2;
    CHECK_OK(dp_runner_set_stages(r, &so));
    RT_SUMMARY(s);
    so.stages = 1; /* back to data parallel */
    so.cuts = NULL;
    so.num_cuts = 0;
    CHECK_OK(dp_runner_set_stages(r, &so));
    CHECK_OK(dp_runner_run_batch(r, ds, &s));
    CHECK(s.completed == dp_dataset_count(ds) && s.per_worker[1].stage == 0 && s.per_worker[1].replica == 1);
    int nc = -1;
    CHECK_OK(dp_runner_get_cuts(r, NULL, 0, &nc));
    CHECK(nc == 0);
    dp_runner_free(r);
    dp_partitioner_free(p);
}

/* One runner re-laid out between runs: 2 stages cut at 6, data parallel, 2 stages cut at 3. Each
 * run must use only its own layout (a worker keeping the last run's hand-overs or stage model
 * would feed a whole model activations, or a stage images): same top-1 as the unsplit model. */
static void restaged(dp_model *m, dp_dataset *ds, const int *ref) {
    const int64_t n = 48;
    const int layout[][2] = {{2, 6}, {1, -1}, {2, 3}};
    dp_partitioner *p = rt_partitioner("uniform", NULL, NULL);
    rt_seen *seen = rt_seen_new();
    dp_runner_opts o;
    dp_runner_opts_init(&o);
    o.max_batch = 4;
    dp_runner *r = rt_runner(m, p, 2, seen, &o);
    for (int c = 0; c < 3; c++) {
        dp_stage_opts so;
        dp_stage_opts_init(&so);
        so.stages = layout[c][0];
        so.cuts = layout[c][1] >= 0 ? &layout[c][1] : NULL;
        so.num_cuts = so.stages - 1;
        CHECK_OK(dp_runner_set_stages(r, &so));
        memset(seen, 0, sizeof *seen);
        dp_source *src = rt_source(ds, 2000, n);
        RT_SUMMARY(s);
        CHECK_OK(dp_runner_run(r, src, &s));
        CHECK_ACCOUNTING(s);
        CHECK_MSG(s.completed == n && s.stages == layout[c][0], "layout %d: %lld of %lld completed, %d stages", c,
                  (long long)s.completed, (long long)n, s.stages);
        check_exactly_once(seen, n, ref, c == 1 ? "data parallel after a pipeline" : "pipeline after data parallel");
        /* Data parallel: both workers complete samples; a pipeline: only its last stage. */
        CHECK(s.per_worker[1].completed > 0 && (s.stages == 1) == (s.per_worker[0].completed > 0));
        dp_source_free(src);
    }
    dp_runner_free(r);
    dp_partitioner_free(p);
    free(seen);
}

/* A planned cut weighs the link (dp_stage_opts' link fields): over a link of 1 byte/s sending any
 * activation costs kiloseconds against milliseconds of compute, so the planner must cut where the
 * activation is smallest, whatever the profile's noise; a negative link is refused. */
static void planned_over_link(dp_model *m) {
    dp_unit_info u[64];
    int nu = 0;
    CHECK_OK(dp_model_units(m, 32, 32, u, 64, &nu));
    size_t least = SIZE_MAX;
    for (int i = 0; i + 1 < nu; i++) least = u[i].out_bytes < least ? u[i].out_bytes : least;
    dp_partitioner *p = rt_partitioner("uniform", NULL, NULL);
    rt_seen *seen = rt_seen_new();
    dp_runner *r = rt_runner(m, p, 2, seen, NULL);
    dp_stage_opts so;
    dp_stage_opts_init(&so);
    CHECK(so.link_bytes_per_s == 0 && so.link_latency_s == 0);
    so.stages = 2;
    so.link_bytes_per_s = -1;
    CHECK_STATUS(dp_runner_set_stages(r, &so), DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("link_bytes_per_s");
    so.link_bytes_per_s = 1;
    so.link_latency_s = 1e-3;
    CHECK_OK(dp_runner_set_stages(r, &so));
    int cut = -1, nc = 0;
    CHECK_OK(dp_runner_get_cuts(r, &cut, 1, &nc));
    CHECK_MSG(nc == 1 && cut >= 1 && cut < nu && u[cut - 1].out_bytes == least,
              "slow link: cut at %d sends %zu bytes per sample, the least is %zu", cut,
              cut >= 1 && cut < nu ? u[cut - 1].out_bytes : 0, least);
    dp_runner_free(r);
    dp_partitioner_free(p);
    free(seen);
}

int main(void) {
    dpt_watchdog(300, "test_pipeline");
    dp_model *m = rt_model();
    dp_dataset *ds = NULL;
    CHECK_OK(dp_dataset_synthetic(48, 3, 32, 32, 11, &ds));
    int ref[48];
    CHECK(rt_reference_top1(m, ds, ref) == 48);
    stream_runs(m, ds, ref);
    push_mode(m, ds, ref);
    overload(m, ds);
    stop_mid_run(m, ds);
    failing_stages(m, ds, ref);
    stage_metrics(m, ds);
    batch_mode(m, ds, ref);
    refusals(m, ds);
    restaged(m, ds, ref);
    planned_over_link(m);
    dp_dataset_free(ds);
    dp_model_free(m);
    TEST_MAIN_END();
}
