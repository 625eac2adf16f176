/* The built-in sinks, driven directly with synthetic run info, records, intervals and summaries
 * (no runner): CSV and JSONL parse with the right columns/fields and values, the console prints
 * the right kind of output, Prometheus serves a scrape whose counters and histogram match what
 * was fed, and bad input (unwritable path, bad HOST:PORT, port in use) fails with a clear status.
 *
 * `test_sinks --serve PORTFILE SECONDS` instead serves synthetic metrics that grow for SECONDS,
 * writing the port to PORTFILE, then the summary (and creates PORTFILE.done), then keeps serving
 * until killed; the CLI test (tests/cli/test_sinks.sh) scrapes it with curl and checks it with
 * promtool.
 *
 * `test_sinks --bench N` prints what each sink costs the runner's metrics thread per record and
 * per interval row, and what a scrape costs (docs/performance.md, "Sinks overhead"). */
#define _GNU_SOURCE /* open_memstream, sockets: tests build as plain C11 */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <time.h>

#include "metrics/sink_impl.h"
#include "sink_test_util.h"
#include "test.h"
#include "util/util.h"

#define W 2

static const int64_t T0 = 1000000000000LL; /* run start, ns */

static dp_run_info run_info(void) {
    dp_run_info info = {.mode = "stream", .arch = "resnet18", .strategy = "dynamic", .workers = W,
                        .threads_per_worker = 1, .target_rate = 500, .expected_samples = 100, .start_ns = T0};
    return info;
}

/* Sample i: intended at T0 + i*2 ms, enqueued 10 us and taken 40 us later, starts 0.1 ms later,
 * latency (i % 10 + 1) ms, delivered as it ends; every 7th fails. */
static dp_result record(int64_t i) {
    dp_result r = {.sample_id = i, .index = i, .worker = (int)(i % W), .top1 = (int)(i % 10), .label = (int32_t)(i % 3 ? i % 10 : -1),
                   .batch_size = 1, .status = i % 7 == 6 ? DP_ERR_BACKEND : DP_OK};
    r.intended_ns = T0 + i * 2000000;
    r.start_ns = r.intended_ns + 100000;
    r.end_ns = r.intended_ns + (i % 10 + 1) * 1000000;
    r.enqueued_ns = r.intended_ns + 10000;
    r.taken_ns = r.intended_ns + 40000;
    r.service_ns = r.end_ns - r.start_ns;
    r.delivered_ns = r.end_ns;
    if (r.status != DP_OK) r.top1 = -1;
    return r;
}

static int wq[W] = {3, 1};
static int64_t wc[W];
static const double le_s[] = {0.0005, 0.001, 0.002, 0.005, 0.01};
#define NLE ((int)(sizeof le_s / sizeof le_s[0]))
static uint64_t count_le[NLE];

static dp_interval interval(int k, int64_t offered, int64_t completed, int64_t failed) {
    dp_interval iv = {.t_s = k * 1.0, .offered = offered, .completed = completed, .dropped = 2 * k, .failed = failed,
                      .throughput = 100.0 + k, .latency_ms = {.mean = 1.5, .p50 = 1.25, .p90 = 2.5, .p99 = 3.75 + k, .p999 = 4, .max = 5.123456 + k},
                      .queue_depth = 4, .worker_queue_depth = wq, .worker_completed = wc, .workers = W,
                      .cpu_pct = 150.5, .rss_mb = 123.4, .dropped_newest = 2 * k, .dropped_oldest = 0};
    wc[0] = completed / 2;
    wc[1] = completed - completed / 2;
    /* The runtime's cumulative histogram of the records so far (ids 0..offered-1). */
    memset(count_le, 0, sizeof count_le);
    for (int64_t i = 0; i < offered; i++) {
        dp_result r = record(i);
        if (r.status != DP_OK) continue;
        for (int b = 0; b < NLE; b++) count_le[b] += r.end_ns - r.intended_ns <= (int64_t)(le_s[b] * 1e9 + 0.5);
        iv.latency_count++;
        iv.latency_sum_s += (double)(r.end_ns - r.intended_ns) * 1e-9;
    }
    iv.latency_buckets = NLE;
    iv.latency_le_s = le_s;
    iv.latency_count_le = count_le;
    return iv;
}

static dp_worker_summary per_worker[W] = {
    {.worker = 0, .completed = 43, .failed = 7, .busy_s = 1, .busy_pct = 50, .mean_batch = 1, .mean_service_ms = 2, .queue_hwm = 5},
    {.worker = 1, .completed = 43, .failed = 7, .busy_s = 1, .busy_pct = 51, .mean_batch = 1, .mean_service_ms = 2.5, .queue_hwm = 6, .straggler = 1},
};

static dp_summary summary(void) {
    dp_summary s = {.offered = 100, .completed = 86, .dropped = 0, .failed = 14, .target_rate = 500,
                    .rate_accuracy_pct = 99.99, .throughput = 499.5, .efficiency_pct = 99.9,
                    .latency_ms = {.mean = 5.5, .p50 = 5, .p90 = 9, .p99 = 10, .p999 = 10, .max = 10},
                    .cpu_pct = 150, .rss_mb = 200, .elapsed_s = 0.2, .labelled = 50, .correct = 5, .workers = W,
                    .per_worker = per_worker};
    return s;
}

/* Feed a whole synthetic run of 100 samples and 3 intervals. */
static void feed_run(dp_sink *s) {
    dp_run_info info = run_info();
    dpi_sink_start(s, &info);
    for (int64_t i = 0; i < 100; i++) {
        dp_result r = record(i);
        if (dpi_sink_wants_records(s)) dpi_sink_record(s, &r);
        if (i == 40 || i == 80) {
            dp_interval iv = interval((int)(i / 40), i + 1, i + 1 - (i + 1) / 7, (i + 1) / 7);
            dpi_sink_interval(s, &iv);
        }
    }
    dp_interval last = interval(3, 100, 86, 14);
    dpi_sink_interval(s, &last);
    dp_summary sum = summary();
    dpi_sink_summary(s, &info, &sum);
}

/* ---- callback sink ------------------------------------------------------------------------ */

typedef struct counts {
    int start, record, interval, summary;
} counts;
static void cb_start(const dp_run_info *info, void *u) {
    ((counts *)u)->start += info->workers == W;
}
static void cb_record(const dp_result *r, void *u) {
    (void)r;
    ((counts *)u)->record++;
}
static void cb_interval(const dp_interval *iv, void *u) {
    (void)iv;
    ((counts *)u)->interval++;
}
static void cb_summary(const dp_run_info *info, const dp_summary *s, void *u) {
    (void)info;
    ((counts *)u)->summary += s->completed == 86;
}

static void test_callback(void) {
    dp_sink *s = (dp_sink *)1;
    counts c = {0};
    dp_sink_callbacks cb;
    dp_sink_callbacks_init(&cb);
    cb.on_start = cb_start;
    cb.on_record = cb_record;
    cb.on_interval = cb_interval;
    cb.on_summary = cb_summary;
    cb.user = &c;
    CHECK_STATUS(dp_sink_callback_create(NULL, &s), DP_ERR_INVALID_ARG);
    CHECK(s == NULL);
    CHECK_STATUS(dp_sink_callback_create(&cb, NULL), DP_ERR_INVALID_ARG);
    dp_sink_callbacks small = cb;
    small.size = 8;
    CHECK_STATUS(dp_sink_callback_create(&small, &s), DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("size");
    CHECK_OK(dp_sink_callback_create(&cb, &s));
    feed_run(s);
    CHECK(c.start == 1 && c.record == 100 && c.interval == 3 && c.summary == 1);
    dp_sink_free(s);
    dp_sink_free(NULL);

    /* Only an interval callback: no records wanted, other calls are no-ops. */
    counts c2 = {0};
    dp_sink_callbacks only;
    dp_sink_callbacks_init(&only);
    only.on_interval = cb_interval;
    only.user = &c2;
    CHECK_OK(dp_sink_callback_create(&only, &s));
    CHECK(!dpi_sink_wants_records(s));
    feed_run(s);
    CHECK(c2.interval == 3 && c2.record == 0);
    dp_sink_free(s);
}

/* ---- CSV ---------------------------------------------------------------------------------- */

static void test_csv(void) {
    dp_sink *s = NULL;
    CHECK_OK(dp_sink_csv_create("m.csv", &s));
    CHECK(!dpi_sink_wants_records(s));
    feed_run(s);
    dp_sink_free(s);

    char *text = slurp("m.csv");
    CHECK(text != NULL);
    if (!text) return;
    const char *header = "t_s,offered,completed,dropped,failed,throughput,p50_ms,p90_ms,p99_ms,max_ms,queue_depth,cpu_pct,rss_mb\n";
    CHECK(strncmp(text, header, strlen(header)) == 0);
    int rows = 0;
    double max_ms = 0;
    long long last_completed = -1, last_offered = -1;
    for (char *line = strchr(text, '\n') + 1; *line; line = strchr(line, '\n') + 1) {
        double t, thr, p50, p90, p99, mx, cpu, rss;
        long long off, comp, drop, fail;
        int q, n = sscanf(line, "%lf,%lld,%lld,%lld,%lld,%lf,%lf,%lf,%lf,%lf,%d,%lf,%lf", &t, &off, &comp, &drop, &fail,
                          &thr, &p50, &p90, &p99, &mx, &q, &cpu, &rss);
        CHECK_MSG(n == 13, "row %d has %d columns", rows + 1, n);
        if (n != 13) break;
        CHECK(t == rows + 1.0);
        CHECK(comp >= last_completed && off >= last_offered);
        CHECK(p50 == 1.25 && p90 == 2.5 && q == 4 && cpu == 150.5 && rss == 123.4);
        CHECK(fabs(p99 - (3.75 + rows + 1)) < 1e-9);
        CHECK(drop == 2 * (rows + 1));
        last_completed = comp;
        last_offered = off;
        if (mx > max_ms) max_ms = mx;
        rows++;
    }
    CHECK(rows == 3);
    CHECK(last_completed == 86 && last_offered == 100);
    CHECK(fabs(max_ms - 8.123456) < 1e-9); /* ns resolution survives */
    free(text);

    /* Bad paths fail at create, naming the path. */
    CHECK_STATUS(dp_sink_csv_create("no/such/dir/m.csv", &s), DP_ERR_IO);
    CHECK_ERROR_MENTIONS("no/such/dir/m.csv");
    CHECK(s == NULL);
    CHECK_STATUS(dp_sink_csv_create(NULL, &s), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_sink_csv_create("", &s), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_sink_csv_create("x.csv", NULL), DP_ERR_INVALID_ARG);
    /* A file that opens but cannot be written (a full disk): the failure is kept for the runner,
     * which fails the run (tests/metrics/test_sinks_runner.c). */
    if (access("/dev/full", W_OK) == 0) {
        CHECK_OK(dp_sink_csv_create("/dev/full", &s));
        CHECK_STATUS(dpi_sink_failure(s), DP_ERR_IO);
        CHECK_ERROR_MENTIONS("/dev/full");
        dp_sink_free(s);
    }
}

/* ---- JSONL -------------------------------------------------------------------------------- */

static void test_jsonl(void) {
    dp_sink *s = NULL;
    CHECK_OK(dp_sink_jsonl_create("m.jsonl", &s));
    CHECK(dpi_sink_wants_records(s));
    feed_run(s);
    CHECK_OK(dpi_sink_failure(s));
    dp_sink_free(s);
    if (access("/dev/full", W_OK) == 0) {
        CHECK_OK(dp_sink_jsonl_create("/dev/full", &s));
        feed_run(s);
        CHECK_STATUS(dpi_sink_failure(s), DP_ERR_IO);
        CHECK_ERROR_MENTIONS("JSONL sink");
        dp_sink_free(s);
    }

    char *text = slurp("m.jsonl");
    CHECK(text != NULL);
    if (!text) return;
    int samples = 0, summaries = 0, bad = 0, with_label = 0;
    double max_latency = 0;
    for (char *line = text, *nl; *line; line = nl + 1) {
        nl = strchr(line, '\n');
        if (!nl) {
            bad++; /* unterminated last line */
            break;
        }
        *nl = '\0';
        cJSON *o = cJSON_Parse(line);
        if (!o) {
            bad++;
            continue;
        }
        const char *type = cJSON_GetStringValue(cJSON_GetObjectItem(o, "type"));
        if (type && strcmp(type, "sample") == 0) {
            int64_t id = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(o, "sample_id"));
            dp_result r = record(id);
            CHECK(r.status == DP_OK);
            CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(o, "worker")) == r.worker);
            CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(o, "top1")) == r.top1);
            CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(o, "batch_size")) == 1);
            double intended = cJSON_GetNumberValue(cJSON_GetObjectItem(o, "intended_s"));
            double start = cJSON_GetNumberValue(cJSON_GetObjectItem(o, "start_s"));
            double end = cJSON_GetNumberValue(cJSON_GetObjectItem(o, "end_s"));
            double lat = cJSON_GetNumberValue(cJSON_GetObjectItem(o, "latency_ms"));
            CHECK(fabs(intended - (double)id * 0.002) < 1e-9);
            CHECK(fabs(start - intended - 0.0001) < 1e-9);
            CHECK(fabs(lat - (double)(id % 10 + 1)) < 1e-9);
            CHECK(fabs((end - intended) * 1e3 - lat) < 1e-6);
            /* The breakdown: 0.01 ms dispatch, 0.03 queue, 0.06 batching, the rest service. */
            CHECK(fabs(cJSON_GetNumberValue(cJSON_GetObjectItem(o, "dispatch_ms")) - 0.01) < 1e-9);
            CHECK(fabs(cJSON_GetNumberValue(cJSON_GetObjectItem(o, "queue_ms")) - 0.03) < 1e-9);
            CHECK(fabs(cJSON_GetNumberValue(cJSON_GetObjectItem(o, "batching_ms")) - 0.06) < 1e-9);
            CHECK(fabs(cJSON_GetNumberValue(cJSON_GetObjectItem(o, "service_ms")) - (lat - 0.1)) < 1e-9);
            CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(o, "delivery_ms")) == 0);
            CHECK(fabs(cJSON_GetNumberValue(cJSON_GetObjectItem(o, "delivered_s")) - end) < 1e-9);
            cJSON *label = cJSON_GetObjectItem(o, "label");
            CHECK(r.label >= 0 ? label && cJSON_GetNumberValue(label) == r.label : label == NULL);
            with_label += label != NULL;
            if (lat > max_latency) max_latency = lat;
            samples++;
        } else if (type && strcmp(type, "summary") == 0) {
            CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(o, "completed")) == 86);
            CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(o, "offered")) == 100);
            cJSON *lat = cJSON_GetObjectItem(o, "latency_ms");
            CHECK(lat && cJSON_GetNumberValue(cJSON_GetObjectItem(lat, "max")) == 10);
            summaries++;
            CHECK(nl[1] == '\0'); /* the summary is the last line */
        } else {
            bad++;
        }
        cJSON_Delete(o);
    }
    CHECK(bad == 0);
    CHECK(summaries == 1);
    CHECK(samples == 86); /* completed only: every 7th of 100 failed */
    CHECK(with_label > 0 && with_label < samples);
    CHECK(max_latency == 10);
    free(text);

    /* Times before the run's start (a trace or push mode can have them) keep their sign. */
    CHECK_OK(dp_sink_jsonl_create("early.jsonl", &s));
    if (s) {
        dp_run_info info = run_info();
        dp_result r = record(0);
        r.intended_ns = T0 - 1500;
        r.start_ns = T0 - 999999999;
        dpi_sink_start(s, &info);
        dpi_sink_record(s, &r);
        dp_sink_free(s);
        text = slurp("early.jsonl");
        cJSON *o = text ? cJSON_Parse(text) : NULL;
        CHECK(o != NULL);
        CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(o, "intended_s")) == -0.0000015);
        CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(o, "start_s")) == -0.999999999);
        CHECK(fabs(cJSON_GetNumberValue(cJSON_GetObjectItem(o, "latency_ms")) - 1.0015) < 1e-12);
        cJSON_Delete(o);
        free(text);
    }

    CHECK_STATUS(dp_sink_jsonl_create("no/such/dir/m.jsonl", &s), DP_ERR_IO);
    CHECK_ERROR_MENTIONS("no/such/dir/m.jsonl");
    CHECK_STATUS(dp_sink_jsonl_create(NULL, &s), DP_ERR_INVALID_ARG);
}

/* ---- console ------------------------------------------------------------------------------ */

static char *console_output(int live, int quiet) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    dp_console_opts o;
    dp_console_opts_init(&o);
    CHECK(o.stream == stderr && o.live == -1 && o.quiet == 0);
    o.stream = f;
    o.live = live;
    o.quiet = quiet;
    dp_sink *s = NULL;
    CHECK_OK(dp_sink_console_create(&o, &s));
    if (s) {
        CHECK(!dpi_sink_wants_records(s));
        feed_run(s);
    }
    dp_sink_free(s);
    fclose(f);
    return buf;
}

static int count_of(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

static void test_console(void) {
    char *plain = console_output(0, 0);
    CHECK(strchr(plain, '\r') == NULL && strstr(plain, "\033[") == NULL);
    CHECK(count_of(plain, "p99 ") == 5);        /* one line per interval + the table + its breakdown */
    CHECK(strstr(plain, "breakdown ms") != NULL && strstr(plain, "    delivery ") != NULL);
    CHECK(strstr(plain, " 100%") != NULL);      /* progress from expected_samples */
    CHECK(strstr(plain, "completed 86") != NULL);
    CHECK(strstr(plain, "efficiency 99.90 %") != NULL);
    CHECK(strstr(plain, "straggler") != NULL && strstr(plain, "yes") != NULL); /* per-worker table */
    CHECK(strstr(plain, "p99.9 10.000") != NULL);

    char *live = console_output(1, 0);
    CHECK(count_of(live, "\r") >= 3 && count_of(live, "\033[K") >= 3);
    CHECK(strstr(live, "[##########] 100%") != NULL); /* full bar at the end */
    CHECK(strstr(live, "completed 86") != NULL);

    char *quiet = console_output(1, 1);
    CHECK(strchr(quiet, '\r') == NULL && count_of(quiet, "p99 ") == 2); /* only the table's "p99 " (and its breakdown's) */
    CHECK(strstr(quiet, "completed 86") != NULL);

    dp_console_opts o;
    dp_console_opts_init(&o);
    o.live = 3;
    dp_sink *s = NULL;
    CHECK_STATUS(dp_sink_console_create(&o, &s), DP_ERR_INVALID_ARG);
    o.live = 0;
    o.size = 4;
    CHECK_STATUS(dp_sink_console_create(&o, &s), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_sink_console_create(NULL, NULL), DP_ERR_INVALID_ARG);
    CHECK_OK(dp_sink_console_create(NULL, &s)); /* defaults: stderr, auto */
    dp_sink_free(s);
    free(plain);
    free(live);
    free(quiet);
}

/* ---- Prometheus --------------------------------------------------------------------------- */

static void test_prometheus(void) {
    dp_sink *s = NULL;
    CHECK_STATUS(dp_sink_prometheus_create("127.0.0.1:0", NULL), DP_ERR_INVALID_ARG);
    CHECK_OK(dp_sink_prometheus_create("127.0.0.1:0", &s));
    if (!s) return;
    int port = dp_sink_prometheus_port(s);
    CHECK(port > 0 && port < 65536);
    CHECK(dp_sink_prometheus_port(NULL) == -1);

    /* The port is taken: a second sink fails before any run, with a clear status. */
    char addr[64];
    dp_sink *s2 = NULL;
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    CHECK_STATUS(dp_sink_prometheus_create(addr, &s2), DP_ERR_BUSY);
    CHECK_ERROR_MENTIONS("in use");
    CHECK(s2 == NULL);

    char *before = http_get(port, "/metrics");
    CHECK(before != NULL);
    if (!before) {
        dp_sink_free(s);
        return;
    }
    CHECK(strncmp(before, "HTTP/1.0 200", 12) == 0 || strncmp(before, "HTTP/1.1 200", 12) == 0);
    CHECK(strstr(before, "Content-Type: text/plain; version=0.0.4") != NULL);
    CHECK(metric(before, "dp_samples_offered_total") == 0);
    CHECK(metric(before, "dp_latency_seconds_count") == 0);

    /* Half a run: counters and the runtime's latency histogram from the interval row (the sink
     * builds no histogram of its own, so it wants no per-sample records). */
    CHECK(!dpi_sink_wants_records(s));
    dp_run_info info = run_info();
    dpi_sink_start(s, &info);
    dp_interval iv = interval(1, 50, 43, 7);
    dpi_sink_interval(s, &iv);
    char *mid = http_get(port, "/metrics");
    CHECK(metric(mid, "dp_samples_offered_total") == 50);
    CHECK(metric(mid, "dp_samples_completed_total") == 43);
    CHECK(metric(mid, "dp_samples_failed_total") == 7);
    CHECK(metric(mid, "dp_samples_dropped_total{reason=\"newest\"}") == 2);
    CHECK(metric(mid, "dp_samples_dropped_total{reason=\"oldest\"}") == 0);
    CHECK(metric(mid, "dp_latency_seconds_count") == 43);
    CHECK(metric(mid, "dp_latency_seconds_bucket{le=\"+Inf\"}") == 43);
    /* Latencies are 1..10 ms over ids 0..49 without the 7 failures: count those <= 2 ms. */
    int le2 = 0;
    double sum = 0;
    for (int64_t i = 0; i < 50; i++) {
        dp_result r = record(i);
        if (r.status != DP_OK) continue;
        le2 += i % 10 + 1 <= 2;
        sum += (double)(i % 10 + 1) / 1e3;
    }
    CHECK(metric(mid, "dp_latency_seconds_bucket{le=\"0.002\"}") == le2);
    CHECK(metric(mid, "dp_latency_seconds_bucket{le=\"0.0005\"}") == 0);
    CHECK(fabs(metric(mid, "dp_latency_seconds_sum") - sum) < 1e-6);
    CHECK(metric(mid, "dp_worker_queue_depth{worker=\"0\"}") == 3);
    CHECK(metric(mid, "dp_worker_samples_completed_total{worker=\"1\"}") == 22);
    CHECK(metric(mid, "dp_queue_depth") == 4);
    CHECK(metric(mid, "dp_target_rate") == 500);
    CHECK(metric(mid, "dp_process_cpu_percent") == 150.5);
    CHECK(fabs(metric(mid, "dp_process_resident_memory_bytes") - 123.4 * 1048576) < 1);
    CHECK(strstr(mid, "dp_run_info{mode=\"stream\",arch=\"resnet18\",strategy=\"dynamic\"} 1") != NULL);
    CHECK(strstr(mid, "# TYPE dp_latency_seconds histogram") != NULL);
    CHECK(strstr(mid, "# HELP dp_samples_offered_total ") != NULL);

    /* The rest, and the summary: counters only grow; _count ends equal to completed. */
    dp_interval last = interval(3, 100, 86, 14);
    dpi_sink_interval(s, &last);
    dp_summary sum_ = summary();
    dpi_sink_summary(s, &info, &sum_);
    char *end = http_get(port, "/metrics");
    const char *counters[] = {"dp_samples_offered_total", "dp_samples_completed_total", "dp_samples_failed_total",
                              "dp_latency_seconds_count", "dp_latency_seconds_bucket{le=\"0.005\"}"};
    for (size_t k = 0; k < sizeof counters / sizeof counters[0]; k++)
        CHECK_MSG(metric(end, counters[k]) >= metric(mid, counters[k]), "%s went down", counters[k]);
    CHECK(metric(end, "dp_latency_seconds_count") == metric(end, "dp_samples_completed_total"));
    CHECK(metric(end, "dp_samples_completed_total") == 86);
    CHECK(metric(end, "dp_worker_samples_completed_total{worker=\"0\"}") == 43);
    CHECK(metric(end, "dp_queue_depth") == 0);
    CHECK(strstr(end, "strategy=\"dynamic\"} 0") != NULL);

    char *missing = http_get(port, "/nothing");
    CHECK(missing && strstr(missing, " 404 ") != NULL);

    free(before);
    free(mid);
    free(end);
    free(missing);
    dp_sink_free(s);

    /* Freed: the port can be bound again. */
    CHECK_OK(dp_sink_prometheus_create(addr, &s));
    dp_sink_free(s);

    /* A port bound by someone else. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && listen(fd, 1) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &alen) == 0) {
        snprintf(addr, sizeof addr, "127.0.0.1:%d", ntohs(a.sin_port));
        CHECK_STATUS(dp_sink_prometheus_create(addr, &s), DP_ERR_BUSY);
    }
    if (fd >= 0) close(fd);

    /* Malformed addresses. */
    const char *bad[] = {"", "localhost", "127.0.0.1:", "127.0.0.1:http", "127.0.0.1:70000", "127.0.0.1:-1",
                         "::1:9090", "[::1:9090", "no-such-host.invalid:9090", "127.0.0.1:123456", "1.2.3.4.5:80"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        dp_status st = dp_sink_prometheus_create(bad[k], &s);
        CHECK_MSG(st == DP_ERR_INVALID_ARG, "'%s' gave %s: %s", bad[k], dp_status_str(st), dp_last_error());
        CHECK(s == NULL);
    }
    CHECK_STATUS(dp_sink_prometheus_create(NULL, &s), DP_ERR_INVALID_ARG);
    /* An address this machine does not have. */
    CHECK_STATUS(dp_sink_prometheus_create("192.0.2.1:0", &s), DP_ERR_INVALID_ARG);
    /* Bracketed IPv6 works where the machine has IPv6 loopback. */
    if (dp_sink_prometheus_create("[::1]:0", &s) == DP_OK) {
        CHECK(dp_sink_prometheus_port(s) > 0);
        dp_sink_free(s);
    }
}

/* One client holding 40 idle connections (from 127.0.0.2, another address of the loopback
 * interface) must not keep a scraper (from 127.0.0.1) waiting: the sink serves a client at most
 * 8 connections and refuses the rest at once, so the scrape is answered while they are all still
 * held. (With one limit of 32 for everyone and a 10 s idle timeout, the scrape got no reply until
 * the idle connections were closed: the 3 s receive timeout below, shorter than any idle
 * timeout, fails it.) */
/* ---- pipelines: per-stage series ---------------------------------------------------------- */

/* A pipelined run (2 stages of one replica): its interval rows reach PATH.stages.csv and the
 * Prometheus stage series labelled by replica and stage, the queue high-water mark with them;
 * after the summary Prometheus shows the summary's per-worker high-water marks. */
static void test_stage_rows(void) {
    static const dp_stage_summary rows[W] = {
        {.worker = 0, .replica = 0, .stage = 0, .bytes_sent = 4096, .inflight_s = 0.5, .bubble_pct = 20},
        {.worker = 1, .replica = 0, .stage = 1, .bytes_sent = 0, .inflight_s = 0.5, .bubble_pct = 10}};
    static const double busy[W] = {0.4, 0.45};
    static const int64_t hwm[W] = {7, 2};
    dp_interval iv = interval(1, 50, 43, 7);
    iv.stages = 2;
    iv.bubble_pct = 15;
    iv.per_stage = rows;
    iv.worker_busy_s = busy;
    iv.worker_queue_hwm = hwm;
    dp_sink *csv = NULL, *prom = NULL;
    CHECK_OK(dp_sink_csv_create("st.csv", &csv));
    CHECK_OK(dp_sink_prometheus_create("127.0.0.1:0", &prom));
    if (!csv || !prom) {
        dp_sink_free(csv);
        dp_sink_free(prom);
        return;
    }
    dp_run_info info = run_info();
    dp_summary sum = summary();
    sum.stages = 2;
    sum.replicas = 1;
    sum.per_stage = rows;
    dp_sink *both[] = {csv, prom};
    for (int i = 0; i < 2; i++) {
        dpi_sink_start(both[i], &info);
        dpi_sink_interval(both[i], &iv);
    }
    char *mid = http_get(dp_sink_prometheus_port(prom), "/metrics");
    CHECK(metric(mid, "dp_stage_queue_hwm{replica=\"0\",stage=\"0\",worker=\"0\"}") == 7);
    CHECK(metric(mid, "dp_stage_queue_hwm{replica=\"0\",stage=\"1\",worker=\"1\"}") == 2);
    CHECK(mid && strstr(mid, "# TYPE dp_stage_queue_hwm gauge") != NULL);
    for (int i = 0; i < 2; i++) dpi_sink_summary(both[i], &info, &sum);
    char *end = http_get(dp_sink_prometheus_port(prom), "/metrics");
    CHECK(metric(end, "dp_stage_queue_hwm{replica=\"0\",stage=\"0\",worker=\"0\"}") == per_worker[0].queue_hwm);
    CHECK(metric(end, "dp_stage_queue_hwm{replica=\"0\",stage=\"1\",worker=\"1\"}") == per_worker[1].queue_hwm);
    free(mid);
    free(end);
    dp_sink_free(csv);
    char *text = slurp("st.stages.csv");
    const char *want = "t_s,replica,stage,worker,busy_s,inflight_s,bubble_pct,bytes_sent,queue_hwm\n"
                       "1.000,0,0,0,0.400000,0.500000,20.000,4096,7\n"
                       "1.000,0,1,1,0.450000,0.500000,10.000,0,2\n";
    CHECK_MSG(text && strcmp(text, want) == 0, "st.stages.csv: %s", text ? text : "(missing)");
    free(text);
    dp_sink_free(prom);
    remove("st.csv");
    remove("st.stages.csv");
}

static void test_prometheus_idle_clients(void) {
    dp_sink *s = NULL;
    CHECK_OK(dp_sink_prometheus_create("127.0.0.1:0", &s));
    if (!s) return;
    enum { IDLE = 40 };
    int fds[IDLE], held = 0;
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)dp_sink_prometheus_port(s))};
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct sockaddr_in from = {.sin_family = AF_INET};
    from.sin_addr.s_addr = htonl(0x7f000002); /* 127.0.0.2 */
    for (int i = 0; i < IDLE; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (fds[i] < 0 || bind(fds[i], (struct sockaddr *)&from, sizeof from) != 0 ||
            connect(fds[i], (struct sockaddr *)&to, sizeof to) != 0) {
            if (fds[i] >= 0) close(fds[i]);
            break;
        }
        held++;
    }
    if (held < IDLE) {
        printf("skipped: idle clients from 127.0.0.2 (only %d of %d connected here)\n", held, IDLE);
    } else {
        char *scrape = http_get_within(dp_sink_prometheus_port(s), "/metrics", 3);
        CHECK_MSG(scrape && strstr(scrape, "dp_samples_offered_total") != NULL,
                  "no scrape reply while one client held %d idle connections", IDLE);
        free(scrape);
        /* The scrape was accepted after the 40 connects, so the refused ones are closed by now. */
        int open_now = 0;
        for (int i = 0; i < held; i++) {
            char c;
            ssize_t n = recv(fds[i], &c, 1, MSG_DONTWAIT);
            open_now += n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
        }
        CHECK_MSG(open_now <= 8, "%d idle connections of one client still open (at most 8 are served)", open_now);
    }
    for (int i = 0; i < held; i++) close(fds[i]);
    dp_sink_free(s);
}

/* ---- serve mode for the CLI test ---------------------------------------------------------- */

static int serve(const char *port_file, double seconds) {
    dp_sink *s = NULL;
    dp_status st = dp_sink_prometheus_create("127.0.0.1:0", &s);
    if (st != DP_OK) {
        fprintf(stderr, "prometheus sink: %s: %s\n", dp_status_str(st), dp_last_error());
        return 1;
    }
    dp_run_info info = run_info();
    info.start_ns = dpi_now_ns();
    dpi_sink_start(s, &info);
    FILE *f = fopen(port_file, "w");
    if (!f) return 1;
    fprintf(f, "%d\n", dp_sink_prometheus_port(s));
    fclose(f);
    int64_t i = 0, completed = 0, failed = 0;
    int64_t end = info.start_ns + (int64_t)(seconds * 1e9);
    for (int k = 1; dpi_now_ns() < end; k++) {
        for (int j = 0; j < 50; j++, i++) {
            dp_result r = record(i);
            dpi_sink_record(s, &r);
            completed += r.status == DP_OK;
            failed += r.status != DP_OK;
        }
        dp_interval iv = interval(k, i, completed, failed);
        iv.dropped = iv.dropped_newest = 0; /* offered == completed + failed, as in the summary */
        dpi_sink_interval(s, &iv);
        dpi_sleep_until_ns(dpi_now_ns() + 50000000, 0);
    }
    dp_summary sum = summary();
    sum.offered = i;
    sum.completed = completed;
    sum.failed = failed;
    sum.per_worker = NULL;
    dpi_sink_summary(s, &info, &sum);
    char done[4096];
    snprintf(done, sizeof done, "%s.done", port_file);
    f = fopen(done, "w");
    if (f) fclose(f);
    printf("served %lld samples (%lld completed)\n", (long long)i, (long long)completed);
    fflush(stdout);
    pause(); /* keep serving the final state until the test kills us */
    dp_sink_free(s);
    return 0;
}

/* ---- bench mode: cost per call ------------------------------------------------------------ */

/* CPU time of this thread (user + system), so that a loaded machine does not inflate the costs. */
static int64_t thread_cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double ns_per_record(dp_sink *s, int64_t n) {
    int64_t t0 = thread_cpu_ns();
    for (int64_t i = 0; i < n; i++) {
        dp_result r = record(i);
        r.status = DP_OK;
        dpi_sink_record(s, &r);
    }
    return (double)(thread_cpu_ns() - t0) / (double)n;
}

static double ns_per_interval(dp_sink *s, int n) {
    int64_t t0 = thread_cpu_ns();
    for (int k = 0; k < n; k++) {
        dp_interval iv = interval(k, k * 500, k * 500, 0);
        dpi_sink_interval(s, &iv);
    }
    return (double)(thread_cpu_ns() - t0) / n;
}

static int bench(int64_t n) {
    dp_sink *csv = NULL, *jsonl = NULL, *prom = NULL, *console = NULL;
    FILE *devnull = fopen("/dev/null", "w");
    dp_console_opts co;
    dp_console_opts_init(&co);
    co.stream = devnull;
    co.live = 1;
    if (!devnull || dp_sink_csv_create("bench.csv", &csv) || dp_sink_jsonl_create("bench.jsonl", &jsonl) ||
        dp_sink_prometheus_create("127.0.0.1:0", &prom) || dp_sink_console_create(&co, &console)) {
        fprintf(stderr, "bench: %s\n", dp_last_error());
        return 1;
    }
    dp_run_info info = run_info();
    dp_sink *all[] = {csv, jsonl, prom, console};
    const char *names[] = {"csv", "jsonl", "prometheus", "console"};
    int intervals = 2000;
    for (int i = 0; i < 4; i++) {
        dpi_sink_start(all[i], &info);
        double rec = dpi_sink_wants_records(all[i]) ? ns_per_record(all[i], n) : 0;
        double iv = ns_per_interval(all[i], intervals);
        printf("%-10s  %8.0f ns/record  %8.0f ns/interval  (CPU time of the calling thread)\n", names[i], rec, iv);
    }
    int port = dp_sink_prometheus_port(prom), scrapes = 200;
    int64_t t0 = dpi_now_ns();
    for (int i = 0; i < scrapes; i++) free(http_get(port, "/metrics"));
    printf("prometheus  %8.0f ns/scrape  (wall time of an HTTP GET over loopback, client included)\n",
           (double)(dpi_now_ns() - t0) / scrapes);
    for (int i = 0; i < 4; i++) dp_sink_free(all[i]);
    fclose(devnull);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "--serve") == 0) return serve(argv[2], atof(argv[3]));
    if (argc == 3 && strcmp(argv[1], "--bench") == 0) return bench(atoll(argv[2]));
    test_callback();
    test_csv();
    test_jsonl();
    test_console();
    test_prometheus();
    test_stage_rows();
    test_prometheus_idle_clients();
    TEST_MAIN_END();
}
