/* The dashboard sink driven directly (no runner): bad options fail with a clear status, the page
 * is served, and the feed /api/state is valid JSON whose rows, per-worker busy time and summary
 * match what was fed — including a history ring that wrapped, incremental reads (from=), a new
 * run (run=) and a NaN latency (null in JSON). The browser side: tests/cli/test_dashboard.sh. */
#define _GNU_SOURCE /* sockets: tests build as plain C11 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>

#include "metrics/sink_impl.h"
#include "sink_test_util.h"
#include "test.h"

static const int64_t T0 = 1000000000000LL;

/* The JSON body of GET path, parsed; NULL if the reply is not a 200 with JSON. */
static cJSON *get_json(int port, const char *path) {
    char *reply = http_get(port, path);
    cJSON *j = NULL;
    if (reply && strstr(reply, " 200 ") && strstr(reply, "application/json")) {
        const char *body = strstr(reply, "\r\n\r\n");
        if (body) j = cJSON_Parse(body + 4);
    }
    free(reply);
    return j;
}

static double num(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static void test_bad_options(void) {
    dp_sink *s = NULL;
    dp_dashboard_opts o;
    dp_dashboard_opts_init(&o);
    CHECK(o.history_rows == 3600 && o.slo_p99_ms == 0 && o.host_port == NULL);
    CHECK_STATUS(dp_sink_dashboard_create(NULL, &s), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_sink_dashboard_create(&o, &s), DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("host_port");
    o.host_port = "127.0.0.1:0";
    CHECK_STATUS(dp_sink_dashboard_create(&o, NULL), DP_ERR_INVALID_ARG);
    o.history_rows = 5;
    CHECK_STATUS(dp_sink_dashboard_create(&o, &s), DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("history_rows");
    o.history_rows = 16;
    o.slo_p99_ms = NAN;
    CHECK_STATUS(dp_sink_dashboard_create(&o, &s), DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("slo_p99_ms");
    o.slo_p99_ms = 10;
    o.host_port = "localhost";
    CHECK_STATUS(dp_sink_dashboard_create(&o, &s), DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("dashboard");
    CHECK(s == NULL);
    CHECK(dp_sink_dashboard_port(NULL) == -1);
}

/* Interval k of a 2-worker run: 100 samples/s offered, worker 0 serves 60/s at 1 ms each, worker
 * 1 40/s at 3 ms each (records fed first), p99 = NaN in interval 19. */
static void feed_interval(dp_sink *s, int k) {
    for (int w = 0; w < 2; w++) {
        int n = w ? 40 : 60;
        for (int i = 0; i < n; i++) {
            dp_result r = {.sample_id = i, .worker = w, .batch_size = 1, .status = DP_OK};
            r.start_ns = T0 + (int64_t)k * 1000000000 + i * 10000000;
            r.end_ns = r.start_ns + (w ? 3000000 : 1000000);
            r.service_ns = r.end_ns - r.start_ns;
            dpi_sink_record(s, &r);
        }
    }
    static int queue[2] = {4, 9};
    static int64_t completed[2];
    completed[0] = 60LL * k;
    completed[1] = 40LL * k;
    dp_interval iv = {.t_s = k, .offered = 100LL * k, .completed = 100LL * k, .throughput = 100,
                      .latency_ms = {.p50 = 1, .p99 = k == 19 ? NAN : 3, .max = 4}, .queue_depth = 13,
                      .worker_queue_depth = queue, .worker_completed = completed, .workers = 2, .cpu_pct = 95,
                      .rss_mb = 64, .dropped_newest = k, .dropped_oldest = 0};
    dpi_sink_interval(s, &iv);
}

static void test_feed(void) {
    dp_dashboard_opts o;
    dp_dashboard_opts_init(&o);
    o.host_port = "127.0.0.1:0";
    o.history_rows = 16;
    o.slo_p99_ms = 10;
    dp_sink *s = NULL;
    CHECK_OK(dp_sink_dashboard_create(&o, &s));
    if (!s) return;
    int port = dp_sink_dashboard_port(s);
    CHECK(port > 0 && dp_sink_prometheus_port(s) == -1);
    CHECK(dpi_sink_wants_records(s));

    /* The port is taken: a second one fails before any run. */
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    dp_sink *s2 = NULL;
    o.host_port = addr;
    CHECK_STATUS(dp_sink_dashboard_create(&o, &s2), DP_ERR_BUSY);
    CHECK_ERROR_MENTIONS("in use");

    char *page = http_get(port, "/");
    CHECK(page && strstr(page, " 200 ") && strstr(page, "text/html") && strstr(page, "<canvas id=\"latency\"") &&
          strstr(page, "/api/state"));
    CHECK(page && !strstr(page, "http://") && !strstr(page, "https://")); /* nothing from elsewhere */
    free(page);
    char *missing = http_get(port, "/etc/passwd");
    CHECK(missing && strstr(missing, " 404 "));
    free(missing);

    /* Before any run: a valid feed that says so. */
    cJSON *j = get_json(port, "/api/state");
    CHECK(j && num(cJSON_GetObjectItem(j, "run"), "id") == 0 && cJSON_GetArraySize(cJSON_GetObjectItem(j, "rows")) == 0);
    cJSON_Delete(j);

    dp_run_info info = {.mode = "stream", .arch = "resnet18\"x", .strategy = "dynamic", .workers = 2,
                        .threads_per_worker = 1, .target_rate = 100, .expected_samples = 2000, .start_ns = T0};
    dpi_sink_start(s, &info);
    for (int k = 1; k <= 20; k++) feed_interval(s, k);

    j = get_json(port, "/api/state");
    CHECK(j != NULL);
    const cJSON *run = cJSON_GetObjectItem(j, "run");
    CHECK(num(run, "id") == 1 && num(run, "workers") == 2 && num(run, "target_rate") == 100);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(run, "running")));
    CHECK(strcmp(cJSON_GetObjectItem(run, "arch")->valuestring, "resnet18\"x") == 0); /* escaped right */
    CHECK(num(j, "slo_p99_ms") == 10);
    const cJSON *cols = cJSON_GetObjectItem(j, "columns"), *rows = cJSON_GetObjectItem(j, "rows");
    int ncols = cJSON_GetArraySize(cols);
    /* 20 rows fed, 16 held: the oldest 4 are gone. */
    CHECK(num(j, "first") == 4 && num(j, "next") == 20 && cJSON_GetArraySize(rows) == 16);
    const cJSON *row = cJSON_GetArrayItem(rows, 0);
    CHECK(cJSON_GetArraySize(row) == ncols && cJSON_GetArrayItem(row, 0)->valuedouble == 5);
    for (int c = 0; c < ncols; c++) {
        const char *name = cJSON_GetArrayItem(cols, c)->valuestring;
        double v = cJSON_GetArrayItem(row, c)->valuedouble;
        if (strcmp(name, "offered_rate") == 0) CHECK_MSG(fabs(v - 100) < 1e-9, "offered_rate %g", v);
        if (strcmp(name, "dropped_newest") == 0) CHECK(v == 5);
        if (strcmp(name, "rss_mb") == 0) CHECK(v == 64);
        /* Interval 19 (seq 18, the 15th row held) had no p99: null, not a number. */
        if (strcmp(name, "p99_ms") == 0) CHECK(cJSON_IsNull(cJSON_GetArrayItem(cJSON_GetArrayItem(rows, 14), c)));
    }
    const cJSON *w = cJSON_GetObjectItem(j, "per_worker");
    CHECK(cJSON_GetArraySize(w) == 2);
    /* Busy time of the last interval (1 s): 60 x 1 ms and 40 x 3 ms. */
    CHECK_MSG(fabs(num(cJSON_GetArrayItem(w, 0), "busy_pct") - 6) < 1e-6, "busy %g", num(cJSON_GetArrayItem(w, 0), "busy_pct"));
    CHECK(fabs(num(cJSON_GetArrayItem(w, 1), "busy_pct") - 12) < 1e-6);
    CHECK(fabs(num(cJSON_GetArrayItem(w, 1), "service_ms") - 3) < 1e-9);
    CHECK(fabs(num(cJSON_GetArrayItem(w, 0), "rate") - 60) < 1e-9 && num(cJSON_GetArrayItem(w, 1), "queue_depth") == 9);
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(j, "summary")));
    cJSON_Delete(j);

    /* Incremental: from=18 gives rows 18 and 19; a stale run id gives everything held. */
    j = get_json(port, "/api/state?run=1&from=18");
    CHECK(j && cJSON_GetArraySize(cJSON_GetObjectItem(j, "rows")) == 2 && num(j, "first") == 18);
    cJSON_Delete(j);
    j = get_json(port, "/api/state?run=7&from=18");
    CHECK(j && cJSON_GetArraySize(cJSON_GetObjectItem(j, "rows")) == 16);
    cJSON_Delete(j);
    j = get_json(port, "/api/state?run=1&from=-3x");
    CHECK(j && cJSON_GetArraySize(cJSON_GetObjectItem(j, "rows")) == 16);
    cJSON_Delete(j);

    /* The summary ends the run; a second run starts afresh with a new id. */
    dp_worker_summary pw[2] = {{.worker = 0, .completed = 1200}, {.worker = 1, .completed = 800, .straggler = 1}};
    dp_summary sum;
    dp_summary_init(&sum);
    sum.offered = sum.completed = 2000;
    sum.workers = 2;
    sum.per_worker = pw;
    dpi_sink_summary(s, &info, &sum);
    j = get_json(port, "/api/state");
    CHECK(j && !cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "run"), "running")));
    CHECK(j && num(cJSON_GetObjectItem(j, "summary"), "completed") == 2000);
    CHECK(j && cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "per_worker"), 1), "straggler")));
    cJSON_Delete(j);
    dpi_sink_start(s, &info);
    feed_interval(s, 1);
    j = get_json(port, "/api/state?run=1&from=20");
    CHECK(j && num(cJSON_GetObjectItem(j, "run"), "id") == 2 && cJSON_GetArraySize(cJSON_GetObjectItem(j, "rows")) == 1);
    CHECK(j && cJSON_IsNull(cJSON_GetObjectItem(j, "summary")));
    cJSON_Delete(j);
    dp_sink_free(s);
}

int main(void) {
    test_bad_options();
    test_feed();
    TEST_MAIN_END();
}
