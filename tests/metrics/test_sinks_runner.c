/* Every sink attached to a real stream run (small model, 2 workers): the CSV's last row and the
 * JSONL lines agree with the run summary (completed count, max latency), the Prometheus scrape
 * after the run has _count == completed (and passes promtool when it is installed), the callback
 * sink sees every finished sample, and a reused sink serves a second, overloaded run whose drops
 * are split by reason. */
#define _GNU_SOURCE /* open_memstream: tests build as plain C11 */
#include <cjson/cJSON.h>

#include "sink_test_util.h"
#include "test.h"

#define SAMPLES 300

typedef struct seen {
    int64_t records, ok_records, intervals, summaries, starts;
    char ids[SAMPLES];
} seen;

static void on_start(const dp_run_info *info, void *u) {
    (void)info;
    ((seen *)u)->starts++;
}
static void on_record(const dp_result *r, void *u) {
    seen *s = u;
    s->records++;
    s->ok_records += r->status == DP_OK;
    if (r->sample_id >= 0 && r->sample_id < SAMPLES) s->ids[r->sample_id]++;
}
static void on_interval(const dp_interval *iv, void *u) {
    (void)iv;
    ((seen *)u)->intervals++;
}
static void on_summary(const dp_run_info *info, const dp_summary *sum, void *u) {
    (void)info;
    (void)sum;
    ((seen *)u)->summaries++;
}

static void check_csv(const dp_summary *sum) {
    char *text = slurp("run.csv");
    CHECK(text != NULL);
    if (!text) return;
    int rows = 0;
    long long completed = -1, offered = -1;
    double max_ms = 0;
    char *line = strchr(text, '\n');
    for (line = line ? line + 1 : NULL; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        double t, thr, p50, p90, p99, mx, cpu, rss;
        long long off, comp, drop, fail;
        int q;
        if (sscanf(line, "%lf,%lld,%lld,%lld,%lld,%lf,%lf,%lf,%lf,%lf,%d,%lf,%lf", &t, &off, &comp, &drop, &fail, &thr, &p50,
                   &p90, &p99, &mx, &q, &cpu, &rss) != 13) {
            CHECK_MSG(0, "bad CSV row %d", rows + 1);
            break;
        }
        CHECK(comp >= completed && off >= offered);
        completed = comp;
        offered = off;
        if (mx > max_ms) max_ms = mx;
        rows++;
    }
    CHECK(rows >= 2);
    CHECK_MSG(completed == sum->completed, "CSV completed %lld, summary %lld", completed, (long long)sum->completed);
    CHECK(offered == sum->offered);
    CHECK_MSG(fabs(max_ms - sum->latency_ms.max) < 2e-6, "CSV max %.6f ms, summary %.6f ms", max_ms, sum->latency_ms.max);
    free(text);
}

static void check_jsonl(const dp_summary *sum) {
    char *text = slurp("run.jsonl");
    CHECK(text != NULL);
    if (!text) return;
    int64_t samples = 0, summaries = 0, bad = 0;
    double max_ms = 0;
    char ids[SAMPLES] = {0};
    for (char *line = text, *nl; *line && (nl = strchr(line, '\n')); line = nl + 1) {
        *nl = '\0';
        cJSON *o = cJSON_Parse(line);
        const char *type = o ? cJSON_GetStringValue(cJSON_GetObjectItem(o, "type")) : NULL;
        if (type && strcmp(type, "sample") == 0) {
            double lat = cJSON_GetNumberValue(cJSON_GetObjectItem(o, "latency_ms"));
            int64_t id = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(o, "sample_id"));
            if (id >= 0 && id < SAMPLES) ids[id]++;
            if (lat > max_ms) max_ms = lat;
            samples++;
        } else if (type && strcmp(type, "summary") == 0) {
            CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(o, "completed")) == (double)sum->completed);
            summaries++;
        } else {
            bad++;
        }
        cJSON_Delete(o);
    }
    CHECK(bad == 0 && summaries == 1);
    CHECK_MSG(samples == sum->completed, "JSONL has %lld samples, summary %lld completed", (long long)samples,
              (long long)sum->completed);
    int dup = 0;
    for (int i = 0; i < SAMPLES; i++) dup += ids[i] > 1;
    CHECK(dup == 0);
    CHECK_MSG(fabs(max_ms - sum->latency_ms.max) < 2e-6, "JSONL max %.6f ms, summary %.6f ms", max_ms, sum->latency_ms.max);
    free(text);
}

static void check_scrape(int port, const dp_summary *sum, const char *file) {
    char *text = http_get(port, "/metrics");
    CHECK(text != NULL);
    if (!text) return;
    CHECK(metric(text, "dp_latency_seconds_count") == (double)sum->completed);
    CHECK(metric(text, "dp_samples_completed_total") == (double)sum->completed);
    CHECK(metric(text, "dp_samples_offered_total") == (double)sum->offered);
    CHECK(metric(text, "dp_samples_dropped_total{reason=\"newest\"}") == (double)sum->dropped_newest);
    CHECK(metric(text, "dp_samples_dropped_total{reason=\"oldest\"}") == (double)sum->dropped_oldest);
    CHECK(metric(text, "dp_worker_samples_completed_total{worker=\"0\"}") +
              metric(text, "dp_worker_samples_completed_total{worker=\"1\"}") ==
          (double)sum->completed);
    const char *body = strstr(text, "\r\n\r\n");
    FILE *f = fopen(file, "w");
    if (f && body) fputs(body + 4, f);
    if (f) fclose(f);
    if (access("/usr/bin/promtool", X_OK) == 0) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "/usr/bin/promtool check metrics < %s", file);
        CHECK_MSG(system(cmd) == 0, "promtool rejected %s", file);
    }
    free(text);
}

int main(void) {
    dp_model *m = NULL;
    dp_model_opts mo;
    dp_model_opts_init(&mo);
    mo.seed = 7;
    CHECK_OK(dp_model_load("resnet18", NULL, &mo, &m));
    dp_partitioner *part = NULL;
    CHECK_OK(dp_partitioner_create("dynamic", NULL, &part));
    dp_dataset *ds = NULL;
    CHECK_OK(dp_dataset_synthetic(64, 3, 32, 32, 1, &ds));
    if (!m || !part || !ds) TEST_MAIN_END();

    dp_sink *csv = NULL, *jsonl = NULL, *prom = NULL, *cb = NULL, *console = NULL;
    CHECK_OK(dp_sink_csv_create("run.csv", &csv));
    CHECK_OK(dp_sink_jsonl_create("run.jsonl", &jsonl));
    CHECK_OK(dp_sink_prometheus_create("127.0.0.1:0", &prom));
    seen s = {0};
    dp_sink_callbacks cbs;
    dp_sink_callbacks_init(&cbs);
    cbs.on_start = on_start;
    cbs.on_record = on_record;
    cbs.on_interval = on_interval;
    cbs.on_summary = on_summary;
    cbs.user = &s;
    CHECK_OK(dp_sink_callback_create(&cbs, &cb));
    char *console_text = NULL;
    size_t console_len = 0;
    FILE *console_out = open_memstream(&console_text, &console_len);
    dp_console_opts co;
    dp_console_opts_init(&co);
    co.stream = console_out;
    CHECK_OK(dp_sink_console_create(&co, &console));

    dp_runner_opts ro;
    dp_runner_opts_init(&ro);
    ro.workers = 2;
    ro.interval_ms = 100;
    dp_runner *r = NULL;
    CHECK_OK(dp_runner_create(m, part, &ro, &r));
    dp_sink *all[] = {csv, jsonl, prom, cb, console};
    for (int i = 0; i < 5; i++) CHECK_OK(dp_runner_add_sink(r, all[i]));

    dp_source_opts so;
    dp_source_opts_init(&so);
    so.rate = 300;
    so.samples = SAMPLES;
    dp_source *src = NULL;
    CHECK_OK(dp_source_create(ds, &so, &src));
    dp_summary sum;
    dp_summary_init(&sum);
    CHECK_OK(dp_runner_run(r, src, &sum));
    fflush(console_out);

    CHECK(sum.offered == SAMPLES && sum.offered == sum.completed + sum.dropped + sum.failed);
    check_csv(&sum);
    check_jsonl(&sum);
    check_scrape(dp_sink_prometheus_port(prom), &sum, "run1.prom");
    CHECK(s.starts == 1 && s.summaries == 1 && s.intervals >= 2);
    CHECK_MSG(s.records == sum.offered, "callback saw %lld records of %lld offered", (long long)s.records, (long long)sum.offered);
    CHECK(s.ok_records == sum.completed);
    int missing = 0;
    for (int i = 0; i < SAMPLES; i++) missing += s.ids[i] != 1;
    CHECK(missing == 0);
    char want[64];
    snprintf(want, sizeof want, "completed %lld", (long long)sum.completed);
    CHECK(console_text && strstr(console_text, want) != NULL);
    dp_source_free(src);
    dp_runner_free(r);

    /* Overload with a tiny queue: drops, split by reason, on a reused Prometheus sink. */
    ro.queue_capacity = 2;
    ro.overflow = DP_OVERFLOW_DROP_OLDEST;
    CHECK_OK(dp_runner_create(m, part, &ro, &r));
    CHECK_OK(dp_runner_add_sink(r, prom));
    so.rate = 20000;
    CHECK_OK(dp_source_create(ds, &so, &src));
    dp_summary_init(&sum);
    CHECK_OK(dp_runner_run(r, src, &sum));
    CHECK(sum.dropped_oldest > 0 && sum.dropped_newest == 0);
    check_scrape(dp_sink_prometheus_port(prom), &sum, "run2.prom");

    dp_source_free(src);
    dp_runner_free(r);

    /* A sink that cannot write fails the run the same way whichever sink it is, and the summary
     * still reports what was completed. */
    if (access("/dev/full", W_OK) == 0)
        for (int k = 0; k < 2; k++) {
            dp_sink *full = NULL;
            CHECK_OK(k ? dp_sink_jsonl_create("/dev/full", &full) : dp_sink_csv_create("/dev/full", &full));
            ro.queue_capacity = 1024;
            ro.overflow = DP_OVERFLOW_BLOCK;
            CHECK_OK(dp_runner_create(m, part, &ro, &r));
            CHECK_OK(dp_runner_add_sink(r, full));
            so.rate = 2000;
            so.samples = 40;
            CHECK_OK(dp_source_create(ds, &so, &src));
            dp_summary_init(&sum);
            CHECK_STATUS(dp_runner_run(r, src, &sum), DP_ERR_IO);
            CHECK_ERROR_MENTIONS("/dev/full");
            CHECK_MSG(sum.completed == 40 && sum.per_worker != NULL, "%s sink: %lld completed",
                      k ? "JSONL" : "CSV", (long long)sum.completed);
            dp_source_free(src);
            dp_runner_free(r);
            dp_sink_free(full);
        }
    for (int i = 0; i < 5; i++) dp_sink_free(all[i]);
    fclose(console_out);
    free(console_text);
    dp_dataset_free(ds);
    dp_partitioner_free(part);
    dp_model_free(m);
    TEST_MAIN_END();
}
