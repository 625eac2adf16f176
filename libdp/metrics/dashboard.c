/* Dashboard sink: a live page in the browser. The runner's metrics thread appends interval rows
 * and per-worker state (callbacks below); libmicrohttpd's thread serves the page (embedded at
 * build time from dashboard.html) and its JSON feed /api/state. A mutex shared only by those two
 * threads guards the state, so workers never wait on a browser. Per-worker busy time comes from
 * the per-sample records the metrics thread already drains; nothing is added to the hot path.
 *
 * Feed: GET /api/state?run=ID&from=SEQ returns the run (its id changes with every run), the
 * column names, the interval rows with sequence numbers >= SEQ still held (all when ID is not the
 * current run), per-worker state and, once the run ended, its summary. docs/metrics.md,
 * "Dashboard", describes the fields. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sink_impl.h"
#include "util/sized.h"
#include "util/util.h"

DP_API void dp_dashboard_opts_init_sized(dp_dashboard_opts *opts, size_t size) {
    const dp_dashboard_opts d = {.size = sizeof d, .history_rows = 3600};
    dpi_sized_init(opts, size, &d, sizeof d);
}

#ifdef DP_HAVE_MICROHTTPD

#include <pthread.h>
#include <unistd.h>

#include "http.h"

/* Generated from dashboard.html by cmake/embed.cmake. */
extern const unsigned char dpi_dashboard_html[];
extern const size_t dpi_dashboard_html_len;

/* The columns of an interval row, in the order the feed sends them. */
static const char *const columns[] = {"t_s",    "offered",      "completed", "dropped_newest", "dropped_oldest",
                                      "failed", "throughput",   "offered_rate", "p50_ms",     "p99_ms",
                                      "max_ms", "queue_depth", "cpu_pct",   "rss_mb"};
#define NCOLS ((int)(sizeof columns / sizeof columns[0]))

typedef struct worker_state {
    int64_t completed, prev_completed;
    int queue;
    double rate;           /* completions/s over the last interval */
    double busy_pct;       /* share of the last interval spent in inference */
    double service_ms;     /* mean service time per sample over the last interval (0: none) */
    int64_t busy_ns, busy_samples; /* accumulated from records since the last interval (metrics thread) */
    int straggler;         /* from the summary, once the run ended */
} worker_state;

typedef struct dash_sink {
    dpi_http_server http; /* first: dpi_http_sink_port() reads it */
    double slo_p99_ms;
    int cap;                 /* rows held */
    pthread_mutex_t mu;      /* guards everything below: metrics thread vs HTTP thread */
    int64_t run_id;          /* 0 before the first run */
    char mode[16], arch[64], strategy[64];
    int threads, running;
    double target_rate;
    int64_t expected;
    double *rows;            /* cap x NCOLS, a ring: row seq lives at seq % cap */
    int64_t nrows;           /* rows appended in this run = next sequence number */
    double prev_t;
    int64_t prev_offered;
    int workers;
    worker_state *w;
    char *summary;           /* the summary's JSON once the run ended, else NULL */
} dash_sink;

/* ---- state updates (metrics thread) ------------------------------------------------------- */

static void copy_str(char *dst, size_t cap, const char *src) { snprintf(dst, cap, "%s", src ? src : ""); }

static void dash_start(const dp_run_info *info, void *user) {
    dash_sink *d = user;
    pthread_mutex_lock(&d->mu);
    d->run_id++;
    copy_str(d->mode, sizeof d->mode, info->mode);
    copy_str(d->arch, sizeof d->arch, info->arch);
    copy_str(d->strategy, sizeof d->strategy, info->strategy);
    d->threads = info->threads_per_worker;
    d->running = 1;
    d->target_rate = info->target_rate;
    d->expected = info->expected_samples;
    d->nrows = 0;
    d->prev_t = 0;
    d->prev_offered = 0;
    free(d->summary);
    d->summary = NULL;
    if (info->workers != d->workers) {
        free(d->w);
        d->w = info->workers > 0 ? calloc((size_t)info->workers, sizeof *d->w) : NULL;
        d->workers = d->w ? info->workers : 0; /* out of memory: no per-worker panel, the rest works */
    } else if (d->w) {
        memset(d->w, 0, (size_t)d->workers * sizeof *d->w);
    }
    pthread_mutex_unlock(&d->mu);
}

/* Records only feed busy time, and only the metrics thread touches busy_ns/busy_samples, but
 * the array may be replaced by dash_start, which runs on the same thread: no lock needed for
 * them beyond the one taken to publish in dash_interval. */
static void dash_record(const dp_result *r, void *user) {
    dash_sink *d = user;
    if (r->status != DP_OK || r->worker < 0 || r->worker >= d->workers || r->service_ns <= 0) return;
    worker_state *w = &d->w[r->worker];
    /* A micro-batch's samples share its service time. */
    w->busy_ns += r->service_ns / (r->batch_size > 0 ? r->batch_size : 1);
    w->busy_samples++;
}

static void dash_interval(const dp_interval *iv, void *user) {
    dash_sink *d = user;
    pthread_mutex_lock(&d->mu);
    double dt = iv->t_s - d->prev_t;
    double *row = d->rows + (size_t)(d->nrows % d->cap) * NCOLS;
    const double v[NCOLS] = {iv->t_s,
                             (double)iv->offered,
                             (double)iv->completed,
                             (double)iv->dropped_newest,
                             (double)iv->dropped_oldest,
                             (double)iv->failed,
                             iv->throughput,
                             dt > 0 ? (double)(iv->offered - d->prev_offered) / dt : 0.0,
                             iv->latency_ms.p50,
                             iv->latency_ms.p99,
                             iv->latency_ms.max,
                             (double)iv->queue_depth,
                             iv->cpu_pct,
                             iv->rss_mb};
    memcpy(row, v, sizeof v);
    d->nrows++;
    int n = iv->workers < d->workers ? iv->workers : d->workers;
    for (int k = 0; k < n; k++) {
        worker_state *w = &d->w[k];
        if (iv->worker_completed) w->completed = iv->worker_completed[k];
        if (iv->worker_queue_depth) w->queue = iv->worker_queue_depth[k];
        w->rate = dt > 0 ? (double)(w->completed - w->prev_completed) / dt : 0.0;
        /* Estimated from the samples that completed in the interval, some of which started in the
         * one before: capped at 100. */
        w->busy_pct = dt > 0 ? fmin(100.0, 100.0 * (double)w->busy_ns / (dt * 1e9)) : 0.0;
        w->service_ms = w->busy_samples ? (double)w->busy_ns / (double)w->busy_samples / 1e6 : 0.0;
        w->prev_completed = w->completed;
        w->busy_ns = w->busy_samples = 0;
    }
    d->prev_t = iv->t_s;
    d->prev_offered = iv->offered;
    pthread_mutex_unlock(&d->mu);
}

static void dash_summary(const dp_run_info *info, const dp_summary *s, void *user) {
    (void)info;
    dash_sink *d = user;
    /* Rendered outside the lock; a summary that cannot be rendered leaves the page without one. */
    size_t need = dp_summary_to_json(s, NULL, 0);
    char *json = malloc(need + 1);
    if (json) dp_summary_to_json(s, json, need + 1);
    pthread_mutex_lock(&d->mu);
    d->running = 0;
    free(d->summary);
    d->summary = json;
    int n = !s->per_worker ? 0 : s->workers < d->workers ? s->workers : d->workers;
    for (int k = 0; k < n; k++) {
        d->w[k].completed = s->per_worker[k].completed;
        d->w[k].straggler = s->per_worker[k].straggler;
        d->w[k].queue = 0;
    }
    pthread_mutex_unlock(&d->mu);
}

/* ---- the feed (HTTP thread) --------------------------------------------------------------- */

/* A JSON number; NaN and infinities (no value in JSON) as null. */
static void put_num(dpi_text *t, double v) {
    if (isfinite(v)) dpi_text_put(t, "%.9g", v);
    else dpi_text_put(t, "null");
}

/* A JSON string of our own names (arch, strategy, mode): escape what JSON requires. */
static void put_str(dpi_text *t, const char *s) {
    dpi_text_put(t, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') dpi_text_put(t, "\\%c", c);
        else if (c < 0x20) dpi_text_put(t, "\\u%04x", c);
        else dpi_text_put(t, "%c", c);
    }
    dpi_text_put(t, "\"");
}

static void render_state(dash_sink *d, int64_t run, int64_t from, dpi_text *t) {
    int64_t first = d->nrows > d->cap ? d->nrows - d->cap : 0;
    if (run != d->run_id || from < first) from = first;
    if (from > d->nrows) from = d->nrows;
    dpi_text_put(t, "{\"run\":{\"id\":%lld,\"mode\":", (long long)d->run_id);
    put_str(t, d->mode);
    dpi_text_put(t, ",\"arch\":");
    put_str(t, d->arch);
    dpi_text_put(t, ",\"strategy\":");
    put_str(t, d->strategy);
    dpi_text_put(t, ",\"workers\":%d,\"threads_per_worker\":%d,\"target_rate\":", d->workers, d->threads);
    put_num(t, d->target_rate);
    dpi_text_put(t, ",\"expected_samples\":%lld,\"running\":%s},\"slo_p99_ms\":", (long long)d->expected,
                 d->running ? "true" : "false");
    put_num(t, d->slo_p99_ms);
    dpi_text_put(t, ",\"columns\":[");
    for (int c = 0; c < NCOLS; c++) dpi_text_put(t, "%s\"%s\"", c ? "," : "", columns[c]);
    dpi_text_put(t, "],\"first\":%lld,\"next\":%lld,\"rows\":[", (long long)from, (long long)d->nrows);
    for (int64_t seq = from; seq < d->nrows; seq++) {
        const double *row = d->rows + (size_t)(seq % d->cap) * NCOLS;
        dpi_text_put(t, "%s[", seq > from ? "," : "");
        for (int c = 0; c < NCOLS; c++) {
            if (c) dpi_text_put(t, ",");
            put_num(t, row[c]);
        }
        dpi_text_put(t, "]");
    }
    dpi_text_put(t, "],\"per_worker\":[");
    for (int k = 0; k < d->workers; k++) {
        const worker_state *w = &d->w[k];
        dpi_text_put(t, "%s{\"worker\":%d,\"completed\":%lld,\"queue_depth\":%d,\"rate\":", k ? "," : "", k,
                     (long long)w->completed, w->queue);
        put_num(t, w->rate);
        dpi_text_put(t, ",\"busy_pct\":");
        put_num(t, w->busy_pct);
        dpi_text_put(t, ",\"service_ms\":");
        put_num(t, w->service_ms);
        dpi_text_put(t, ",\"straggler\":%s}", w->straggler ? "true" : "false");
    }
    dpi_text_put(t, "],\"summary\":%s}", d->summary ? d->summary : "null");
}

/* A query argument as a non-negative integer; 0 when absent or malformed. */
static int64_t arg_int(struct MHD_Connection *conn, const char *name) {
    const char *v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, name);
    if (!v || !*v || strspn(v, "0123456789") != strlen(v) || strlen(v) > 18) return 0;
    return strtoll(v, NULL, 10);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                              const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls) {
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)con_cls;
    enum MHD_Result r;
    if (!dpi_http_get_only(conn, method, &r)) return r;
    if (strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0)
        return dpi_http_reply(conn, MHD_HTTP_OK, (char *)(uintptr_t)dpi_dashboard_html, dpi_dashboard_html_len,
                              MHD_RESPMEM_PERSISTENT, "text/html; charset=utf-8");
    if (strcmp(url, "/api/state") != 0) {
        static char not_found[] = "not found: the dashboard is at /, its feed at /api/state\n";
        return dpi_http_reply(conn, MHD_HTTP_NOT_FOUND, not_found, sizeof not_found - 1, MHD_RESPMEM_PERSISTENT,
                              "text/plain");
    }
    dash_sink *d = cls;
    dpi_text t = {0};
    int64_t run = arg_int(conn, "run"), from = arg_int(conn, "from");
    pthread_mutex_lock(&d->mu);
    render_state(d, run, from, &t);
    pthread_mutex_unlock(&d->mu);
    if (t.failed) {
        free(t.buf);
        return MHD_NO;
    }
    return dpi_http_reply(conn, MHD_HTTP_OK, t.buf, t.len, MHD_RESPMEM_MUST_FREE, "application/json");
}

/* ---- creation ----------------------------------------------------------------------------- */

static void dash_destroy(void *user) {
    dash_sink *d = user;
    if (!d) return;
    if (d->http.daemon) MHD_stop_daemon(d->http.daemon); /* joins the HTTP thread; closes the socket */
    pthread_mutex_destroy(&d->mu);
    free(d->rows);
    free(d->w);
    free(d->summary);
    free(d);
}

DP_API dp_status dp_sink_dashboard_create(const dp_dashboard_opts *opts, dp_sink **out) {
    if (!out) return dpi_error(DP_ERR_INVALID_ARG, "dp_sink_dashboard_create: out is NULL");
    *out = NULL;
    if (!opts) return dpi_error(DP_ERR_INVALID_ARG, "dp_sink_dashboard_create: opts is NULL (host_port is required)");
    dp_dashboard_opts o;
    dp_dashboard_opts_init(&o);
    dp_status st = dpi_sized_take(&o, sizeof o, opts, sizeof o, "dp_sink_dashboard_create: opts", "dp_dashboard_opts_init");
    if (st != DP_OK) return st;
    if (!o.host_port) return dpi_error(DP_ERR_INVALID_ARG, "dp_sink_dashboard_create: opts.host_port is NULL");
    if (!(o.slo_p99_ms >= 0 && o.slo_p99_ms <= 1e9))
        return dpi_error(DP_ERR_INVALID_ARG, "dp_sink_dashboard_create: slo_p99_ms is %g, expected 0 (none) to 1e9",
                         o.slo_p99_ms);
    if (o.history_rows < 16 || o.history_rows > 1000000)
        return dpi_error(DP_ERR_INVALID_ARG, "dp_sink_dashboard_create: history_rows is %d, expected 16 to 1000000",
                         o.history_rows);
    int fd = -1, port = 0;
    if ((st = dpi_http_listen("dashboard", o.host_port, &fd, &port)) != DP_OK) return st;
    dash_sink *d = calloc(1, sizeof *d);
    double *rows = calloc((size_t)o.history_rows * NCOLS, sizeof *rows);
    if (!d || !rows) {
        free(d);
        free(rows);
        close(fd);
        return dpi_error(DP_ERR_NOMEM, "dp_sink_dashboard_create: out of memory for %d rows", o.history_rows);
    }
    pthread_mutex_init(&d->mu, NULL);
    d->rows = rows;
    d->cap = o.history_rows;
    d->http.port = port;
    d->slo_p99_ms = o.slo_p99_ms;
    d->http.daemon = dpi_http_serve("dashboard", o.host_port, fd, handle, d);
    if (!d->http.daemon) {
        dash_destroy(d);
        return DP_ERR_BACKEND;
    }
    dp_sink_callbacks cb;
    dp_sink_callbacks_init(&cb);
    cb.on_start = dash_start;
    cb.on_record = dash_record;
    cb.on_interval = dash_interval;
    cb.on_summary = dash_summary;
    cb.user = d;
    return dpi_sink_create(&cb, dash_destroy, NULL, out);
}

DP_API int dp_sink_dashboard_port(const dp_sink *sink) {
    return dpi_http_sink_port(sink, dash_destroy);
}

#else /* built without libmicrohttpd */

DP_API dp_status dp_sink_dashboard_create(const dp_dashboard_opts *opts, dp_sink **out) {
    (void)opts;
    if (out) *out = NULL;
    return dpi_error(DP_ERR_UNSUPPORTED, "dp_sink_dashboard_create: this build has no libmicrohttpd");
}

DP_API int dp_sink_dashboard_port(const dp_sink *sink) {
    (void)sink;
    return -1;
}

#endif
