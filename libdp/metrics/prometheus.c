/* Prometheus sink: serves /metrics in the text exposition format 0.0.4 from libmicrohttpd's own
 * thread. The runner's metrics thread updates the sink's state (on_interval / on_summary; the
 * latency histogram is the runner's own, carried by interval rows, so the sink asks for no
 * per-sample records) and the HTTP thread renders it; a mutex shared only by those two threads guards it,
 * so workers never wait on a scrape. Sockets, limits and replies: http.c. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sink_impl.h"
#include "util/util.h"

#ifdef DP_HAVE_MICROHTTPD

#include <pthread.h>
#include <unistd.h>

#include "http.h"

/* The most latency buckets kept from an interval row (the runner sends 14). */
#define MAX_BUCKETS 32

typedef struct prom_sink {
    dpi_http_server http; /* first: dpi_http_sink_port() reads it */
    pthread_mutex_t mu; /* guards everything below: metrics thread vs HTTP thread */
    /* Run description (copied: dp_run_info strings live only during a run). */
    char mode[16], arch[64], strategy[64];
    int running;
    double target_rate;
    /* Counters: cumulative over the current run (a new run resets them; Prometheus handles
     * counter resets). */
    int64_t offered, completed, dropped_newest, dropped_oldest, failed;
    /* The latency histogram as the last interval row carried it (cumulative buckets). */
    int nbuckets;
    double le_s[MAX_BUCKETS];
    uint64_t count_le[MAX_BUCKETS];
    uint64_t lat_count;
    double lat_sum_s;
    /* The same buckets per part of the latency (dp_phase order; each counts lat_count samples). */
    uint64_t phase_count_le[DP_PHASES][MAX_BUCKETS];
    double phase_sum_s[DP_PHASES];
    /* Gauges. */
    int queue_depth;
    double cpu_pct, rss_mb;
    int workers;
    int64_t *worker_completed;
    int *worker_queue;
    /* Pipelines (stages > 1 only): per worker its place, busy time and what dp_stage_summary says. */
    int stages;
    double bubble_pct;
    dp_stage_summary *stage;
    double *busy_s;
    int64_t *queue_hwm;
} prom_sink;

/* ---- state updates (metrics thread) ------------------------------------------------------- */

static void copy_str(char *dst, size_t cap, const char *src) { snprintf(dst, cap, "%s", src ? src : ""); }

/* (Re)size the per-worker arrays; called with mu held. Allocation failure leaves 0 workers (the
 * per-worker series disappear, everything else keeps working). */
static void set_workers(prom_sink *p, int workers) {
    if (workers == p->workers) return;
    free(p->worker_completed);
    free(p->worker_queue);
    free(p->stage);
    free(p->busy_s);
    free(p->queue_hwm);
    p->worker_completed = workers > 0 ? calloc((size_t)workers, sizeof *p->worker_completed) : NULL;
    p->worker_queue = workers > 0 ? calloc((size_t)workers, sizeof *p->worker_queue) : NULL;
    p->stage = workers > 0 ? calloc((size_t)workers, sizeof *p->stage) : NULL;
    p->busy_s = workers > 0 ? calloc((size_t)workers, sizeof *p->busy_s) : NULL;
    p->queue_hwm = workers > 0 ? calloc((size_t)workers, sizeof *p->queue_hwm) : NULL;
    p->workers = p->worker_completed && p->worker_queue && p->stage && p->busy_s && p->queue_hwm ? workers : 0;
}

/* The pipeline series of an interval row (busy_s, hwm) or a summary (per_worker), stages > 1;
 * called with mu held. */
static void set_stages(prom_sink *p, int stages, double bubble_pct, int workers, const dp_stage_summary *rows,
                       const double *busy_s, const int64_t *hwm, const dp_worker_summary *per_worker) {
    p->stages = rows ? stages : 1;
    p->bubble_pct = bubble_pct;
    int n = workers < p->workers ? workers : p->workers;
    for (int k = 0; rows && k < n; k++) {
        p->stage[k] = rows[k];
        p->busy_s[k] = busy_s ? busy_s[k] : per_worker ? per_worker[k].busy_s : 0;
        p->queue_hwm[k] = hwm ? hwm[k] : per_worker ? per_worker[k].queue_hwm : 0;
    }
}

static void prom_start(const dp_run_info *info, void *user) {
    prom_sink *p = user;
    pthread_mutex_lock(&p->mu);
    copy_str(p->mode, sizeof p->mode, info->mode);
    copy_str(p->arch, sizeof p->arch, info->arch);
    copy_str(p->strategy, sizeof p->strategy, info->strategy);
    p->running = 1;
    p->target_rate = info->target_rate;
    p->offered = p->completed = p->dropped_newest = p->dropped_oldest = p->failed = 0;
    memset(p->count_le, 0, sizeof p->count_le);
    memset(p->phase_count_le, 0, sizeof p->phase_count_le);
    memset(p->phase_sum_s, 0, sizeof p->phase_sum_s);
    p->lat_count = 0;
    p->lat_sum_s = 0;
    p->queue_depth = 0;
    p->stages = 1;
    p->bubble_pct = 0;
    set_workers(p, info->workers);
    if (p->workers) {
        memset(p->worker_completed, 0, (size_t)p->workers * sizeof *p->worker_completed);
        memset(p->worker_queue, 0, (size_t)p->workers * sizeof *p->worker_queue);
    }
    pthread_mutex_unlock(&p->mu);
}

static void prom_interval(const dp_interval *iv, void *user) {
    prom_sink *p = user;
    pthread_mutex_lock(&p->mu);
    p->offered = iv->offered;
    p->completed = iv->completed;
    p->dropped_newest = iv->dropped_newest;
    p->dropped_oldest = iv->dropped_oldest;
    p->failed = iv->failed;
    p->queue_depth = iv->queue_depth;
    p->cpu_pct = iv->cpu_pct;
    p->rss_mb = iv->rss_mb;
    if (iv->latency_le_s && iv->latency_count_le) {
        p->nbuckets = iv->latency_buckets < MAX_BUCKETS ? iv->latency_buckets : MAX_BUCKETS;
        memcpy(p->le_s, iv->latency_le_s, (size_t)p->nbuckets * sizeof *p->le_s);
        memcpy(p->count_le, iv->latency_count_le, (size_t)p->nbuckets * sizeof *p->count_le);
        p->lat_count = iv->latency_count;
        p->lat_sum_s = iv->latency_sum_s;
        for (int ph = 0; iv->phase_count_le && iv->phase_sum_s && ph < DP_PHASES; ph++) {
            memcpy(p->phase_count_le[ph], iv->phase_count_le + (size_t)ph * iv->latency_buckets,
                   (size_t)p->nbuckets * sizeof p->phase_count_le[ph][0]);
            p->phase_sum_s[ph] = iv->phase_sum_s[ph];
        }
    }
    int n = iv->workers < p->workers ? iv->workers : p->workers;
    for (int k = 0; k < n; k++) {
        if (iv->worker_completed) p->worker_completed[k] = iv->worker_completed[k];
        if (iv->worker_queue_depth) p->worker_queue[k] = iv->worker_queue_depth[k];
    }
    set_stages(p, iv->stages, iv->bubble_pct, iv->workers, iv->per_stage, iv->worker_busy_s, iv->worker_queue_hwm, NULL);
    pthread_mutex_unlock(&p->mu);
}

static void prom_summary(const dp_run_info *info, const dp_summary *s, void *user) {
    (void)info;
    prom_sink *p = user;
    pthread_mutex_lock(&p->mu);
    p->running = 0;
    p->offered = s->offered;
    p->completed = s->completed;
    p->dropped_newest = s->dropped_newest;
    p->dropped_oldest = s->dropped_oldest;
    p->failed = s->failed;
    p->queue_depth = 0;
    p->cpu_pct = s->cpu_pct;
    p->rss_mb = s->rss_mb;
    for (int k = 0; k < p->workers; k++) p->worker_queue[k] = 0;
    if (s->per_worker) {
        int n = s->workers < p->workers ? s->workers : p->workers;
        for (int k = 0; k < n; k++) p->worker_completed[k] = s->per_worker[k].completed;
        set_stages(p, s->stages, s->bubble_pct, s->workers, s->per_stage, NULL, NULL, s->per_worker);
    }
    pthread_mutex_unlock(&p->mu);
}

/* ---- rendering (HTTP thread) -------------------------------------------------------------- */

static void head(dpi_text *t, const char *name, const char *type, const char *help) {
    dpi_text_put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value with \, " and newline escaped as the format requires. */
static void put_label(dpi_text *t, const char *name, const char *v) {
    dpi_text_put(t, "%s=\"", name);
    for (; *v; v++) {
        if (*v == '\\' || *v == '"') dpi_text_put(t, "\\%c", *v);
        else if (*v == '\n') dpi_text_put(t, "\\n");
        else dpi_text_put(t, "%c", *v);
    }
    dpi_text_put(t, "\"");
}

/* Pipeline series, labelled by the worker's place in the grid (docs/pipeline.md, "Metrics"). */
static void render_stages(prom_sink *p, dpi_text *t) {
    static const struct {
        const char *name, *type, *help;
    } series[] = {
        {"dp_stage_busy_seconds_total", "counter", "Time each pipeline stage spent running micro-batches."},
        {"dp_stage_sent_bytes_total", "counter", "Activation bytes each pipeline stage handed to the next stage."},
        {"dp_stage_inflight_seconds_total", "counter", "Time the stage's replica had a micro-batch in flight."},
        {"dp_stage_bubble_percent", "gauge", "Idle time of each stage while its replica had work in flight, in percent."},
        {"dp_stage_queue_hwm", "gauge", "High-water mark of what each stage waits on: its replica's queue (samples) at a "
                                        "first stage, its incoming hand-over (micro-batches) at a later one."},
    };
    for (int i = 0; i < 5; i++) {
        head(t, series[i].name, series[i].type, series[i].help);
        for (int k = 0; k < p->workers; k++) {
            const dp_stage_summary *s = &p->stage[k];
            double v = i == 0   ? p->busy_s[k]
                       : i == 1 ? (double)s->bytes_sent
                       : i == 2 ? s->inflight_s
                       : i == 3 ? s->bubble_pct
                                : (double)p->queue_hwm[k];
            dpi_text_put(t, "%s{replica=\"%d\",stage=\"%d\",worker=\"%d\"} %.9g\n", series[i].name, s->replica,
                         s->stage, k, v);
        }
    }
    head(t, "dp_pipeline_bubble_percent", "gauge", "Idle time of all stages while their replica had work in flight, in percent.");
    dpi_text_put(t, "dp_pipeline_bubble_percent %.9g\n", p->bubble_pct);
}

static void render(prom_sink *p, dpi_text *t) {
    head(t, "dp_samples_offered_total", "counter", "Samples emitted by the source.");
    dpi_text_put(t, "dp_samples_offered_total %lld\n", (long long)p->offered);
    head(t, "dp_samples_completed_total", "counter", "Samples whose inference completed.");
    dpi_text_put(t, "dp_samples_completed_total %lld\n", (long long)p->completed);
    head(t, "dp_samples_dropped_total", "counter", "Samples dropped by the queue overflow policy, by which end of the queue lost them.");
    dpi_text_put(t, "dp_samples_dropped_total{reason=\"newest\"} %lld\n", (long long)p->dropped_newest);
    dpi_text_put(t, "dp_samples_dropped_total{reason=\"oldest\"} %lld\n", (long long)p->dropped_oldest);
    head(t, "dp_samples_failed_total", "counter", "Samples whose inference failed.");
    dpi_text_put(t, "dp_samples_failed_total %lld\n", (long long)p->failed);

    head(t, "dp_latency_seconds", "histogram", "Delivery time minus intended arrival time of completed samples.");
    for (int b = 0; b < p->nbuckets; b++)
        dpi_text_put(t, "dp_latency_seconds_bucket{le=\"%g\"} %llu\n", p->le_s[b], (unsigned long long)p->count_le[b]);
    dpi_text_put(t, "dp_latency_seconds_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)p->lat_count);
    dpi_text_put(t, "dp_latency_seconds_sum %.9g\n", p->lat_sum_s);
    dpi_text_put(t, "dp_latency_seconds_count %llu\n", (unsigned long long)p->lat_count);

    head(t, "dp_latency_phase_seconds", "histogram",
         "Each part of the latency of completed samples (phase: dispatch, queue, batching, service, delivery; they add up to dp_latency_seconds).");
    for (int ph = 0; ph < DP_PHASES; ph++) {
        const char *name = dp_phase_name(ph);
        for (int b = 0; b < p->nbuckets; b++)
            dpi_text_put(t, "dp_latency_phase_seconds_bucket{phase=\"%s\",le=\"%g\"} %llu\n", name, p->le_s[b],
                         (unsigned long long)p->phase_count_le[ph][b]);
        dpi_text_put(t, "dp_latency_phase_seconds_bucket{phase=\"%s\",le=\"+Inf\"} %llu\n", name,
                     (unsigned long long)p->lat_count);
        dpi_text_put(t, "dp_latency_phase_seconds_sum{phase=\"%s\"} %.9g\n", name, p->phase_sum_s[ph]);
        dpi_text_put(t, "dp_latency_phase_seconds_count{phase=\"%s\"} %llu\n", name, (unsigned long long)p->lat_count);
    }

    head(t, "dp_worker_samples_completed_total", "counter", "Samples completed by each worker.");
    for (int k = 0; k < p->workers; k++)
        dpi_text_put(t, "dp_worker_samples_completed_total{worker=\"%d\"} %lld\n", k, (long long)p->worker_completed[k]);
    head(t, "dp_worker_queue_depth", "gauge", "Samples waiting in each worker's queue.");
    for (int k = 0; k < p->workers; k++) dpi_text_put(t, "dp_worker_queue_depth{worker=\"%d\"} %d\n", k, p->worker_queue[k]);
    if (p->stages > 1) render_stages(p, t);
    head(t, "dp_queue_depth", "gauge", "Samples waiting in all queues.");
    dpi_text_put(t, "dp_queue_depth %d\n", p->queue_depth);
    head(t, "dp_target_rate", "gauge", "Target arrival rate in samples per second (0: unlimited).");
    dpi_text_put(t, "dp_target_rate %.9g\n", p->target_rate);
    head(t, "dp_process_cpu_percent", "gauge", "Process CPU time over wall time in percent, as top shows it (100 per busy core).");
    dpi_text_put(t, "dp_process_cpu_percent %.6g\n", p->cpu_pct);
    head(t, "dp_process_resident_memory_bytes", "gauge", "Resident set size of the process.");
    dpi_text_put(t, "dp_process_resident_memory_bytes %.0f\n", p->rss_mb * 1048576.0);
    head(t, "dp_run_info", "gauge", "The current or last run; the value is 1 while it runs, 0 after.");
    dpi_text_put(t, "dp_run_info{");
    put_label(t, "mode", p->mode);
    dpi_text_put(t, ",");
    put_label(t, "arch", p->arch);
    dpi_text_put(t, ",");
    put_label(t, "strategy", p->strategy);
    dpi_text_put(t, "} %d\n", p->running);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                              const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls) {
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)con_cls;
    if (strcmp(url, "/metrics") != 0) {
        static char not_found[] = "not found: the metrics are at /metrics\n";
        return dpi_http_reply(conn, MHD_HTTP_NOT_FOUND, not_found, sizeof not_found - 1, MHD_RESPMEM_PERSISTENT,
                              "text/plain");
    }
    enum MHD_Result r;
    if (!dpi_http_get_only(conn, method, &r)) return r;
    prom_sink *p = cls;
    dpi_text t = {0};
    pthread_mutex_lock(&p->mu);
    render(p, &t);
    pthread_mutex_unlock(&p->mu);
    if (t.failed) {
        free(t.buf);
        return MHD_NO;
    }
    return dpi_http_reply(conn, MHD_HTTP_OK, t.buf, t.len, MHD_RESPMEM_MUST_FREE,
                          "text/plain; version=0.0.4; charset=utf-8");
}

/* ---- creation ----------------------------------------------------------------------------- */

static void prom_destroy(void *user) {
    prom_sink *p = user;
    if (!p) return;
    if (p->http.daemon) MHD_stop_daemon(p->http.daemon); /* joins the HTTP thread; closes the socket */
    pthread_mutex_destroy(&p->mu);
    free(p->worker_completed);
    free(p->worker_queue);
    free(p->stage);
    free(p->busy_s);
    free(p->queue_hwm);
    free(p);
}

DP_API dp_status dp_sink_prometheus_create(const char *host_port, dp_sink **out) {
    if (!out) return dpi_error(DP_ERR_INVALID_ARG, "dp_sink_prometheus_create: out is NULL");
    *out = NULL;
    if (!host_port) return dpi_error(DP_ERR_INVALID_ARG, "dp_sink_prometheus_create: host_port is NULL");
    int fd = -1, port = 0;
    dp_status st = dpi_http_listen("prometheus", host_port, &fd, &port);
    if (st != DP_OK) return st;
    prom_sink *p = calloc(1, sizeof *p);
    if (!p) {
        close(fd);
        return dpi_error(DP_ERR_NOMEM, "dp_sink_prometheus_create: out of memory");
    }
    pthread_mutex_init(&p->mu, NULL);
    p->http.port = port;
    p->http.daemon = dpi_http_serve("prometheus", host_port, fd, handle, p);
    if (!p->http.daemon) {
        prom_destroy(p);
        return DP_ERR_BACKEND;
    }
    dp_sink_callbacks cb = {.size = sizeof cb,
                            .on_start = prom_start,
                            .on_interval = prom_interval,
                            .on_summary = prom_summary,
                            .user = p};
    return dpi_sink_create(&cb, prom_destroy, NULL, out);
}

DP_API int dp_sink_prometheus_port(const dp_sink *sink) {
    return dpi_http_sink_port(sink, prom_destroy);
}

#else /* built without libmicrohttpd */

DP_API dp_status dp_sink_prometheus_create(const char *host_port, dp_sink **out) {
    (void)host_port;
    if (out) *out = NULL;
    return dpi_error(DP_ERR_UNSUPPORTED, "dp_sink_prometheus_create: this build has no libmicrohttpd");
}

DP_API int dp_sink_prometheus_port(const dp_sink *sink) {
    (void)sink;
    return -1;
}

#endif
