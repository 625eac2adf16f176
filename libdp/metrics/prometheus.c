/* Prometheus sink: serves /metrics in the text exposition format 0.0.4 from libmicrohttpd's own
 * thread. The runner's metrics thread updates the sink's state (on_interval / on_summary; the
 * latency histogram is the runner's own, carried by interval rows, so the sink asks for no
 * per-sample records) and the HTTP thread renders it; a mutex shared only by those two threads guards it,
 * so workers never wait on a scrape.
 *
 * The listening socket is created and bound here rather than by libmicrohttpd so that "port in
 * use" (DP_ERR_BUSY) is told apart from a bad address (DP_ERR_INVALID_ARG) before any run. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sink_impl.h"
#include "util/util.h"

#ifdef DP_HAVE_MICROHTTPD

#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

/* Connections served at once, per client address, and seconds before an idle one is closed. */
#define PROM_CONNECTIONS 64u
#define PROM_PER_CLIENT 8u
#define PROM_IDLE_S 5u

/* The most latency buckets kept from an interval row (the runner sends 14). */
#define MAX_BUCKETS 32

typedef struct prom_sink {
    struct MHD_Daemon *daemon;
    int port;
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
    /* Gauges. */
    int queue_depth;
    double cpu_pct, rss_mb;
    int workers;
    int64_t *worker_completed;
    int *worker_queue;
} prom_sink;

/* ---- state updates (metrics thread) ------------------------------------------------------- */

static void copy_str(char *dst, size_t cap, const char *src) { snprintf(dst, cap, "%s", src ? src : ""); }

/* (Re)size the per-worker arrays; called with mu held. Allocation failure leaves 0 workers (the
 * per-worker series disappear, everything else keeps working). */
static void set_workers(prom_sink *p, int workers) {
    if (workers == p->workers) return;
    free(p->worker_completed);
    free(p->worker_queue);
    p->worker_completed = workers > 0 ? calloc((size_t)workers, sizeof *p->worker_completed) : NULL;
    p->worker_queue = workers > 0 ? calloc((size_t)workers, sizeof *p->worker_queue) : NULL;
    p->workers = p->worker_completed && p->worker_queue ? workers : 0;
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
    p->lat_count = 0;
    p->lat_sum_s = 0;
    p->queue_depth = 0;
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
    }
    int n = iv->workers < p->workers ? iv->workers : p->workers;
    for (int k = 0; k < n; k++) {
        if (iv->worker_completed) p->worker_completed[k] = iv->worker_completed[k];
        if (iv->worker_queue_depth) p->worker_queue[k] = iv->worker_queue_depth[k];
    }
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
    }
    pthread_mutex_unlock(&p->mu);
}

/* ---- rendering (HTTP thread) -------------------------------------------------------------- */

typedef struct text {
    char *buf;
    size_t len, cap;
    int failed;
} text;

static void put(text *t, const char *fmt, ...) DPI_PRINTF(2, 3);
static void put(text *t, const char *fmt, ...) {
    if (t->failed) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = 1;
            return;
        }
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap * 2 + (size_t)n;
        char *b = realloc(t->buf, cap);
        if (!b) {
            t->failed = 1;
            return;
        }
        t->buf = b;
        t->cap = cap;
    }
}

static void head(text *t, const char *name, const char *type, const char *help) {
    put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value with \, " and newline escaped as the format requires. */
static void put_label(text *t, const char *name, const char *v) {
    put(t, "%s=\"", name);
    for (; *v; v++) {
        if (*v == '\\' || *v == '"') put(t, "\\%c", *v);
        else if (*v == '\n') put(t, "\\n");
        else put(t, "%c", *v);
    }
    put(t, "\"");
}

static void render(prom_sink *p, text *t) {
    head(t, "dp_samples_offered_total", "counter", "Samples emitted by the source.");
    put(t, "dp_samples_offered_total %lld\n", (long long)p->offered);
    head(t, "dp_samples_completed_total", "counter", "Samples whose inference completed.");
    put(t, "dp_samples_completed_total %lld\n", (long long)p->completed);
    head(t, "dp_samples_dropped_total", "counter", "Samples dropped by the queue overflow policy, by which end of the queue lost them.");
    put(t, "dp_samples_dropped_total{reason=\"newest\"} %lld\n", (long long)p->dropped_newest);
    put(t, "dp_samples_dropped_total{reason=\"oldest\"} %lld\n", (long long)p->dropped_oldest);
    head(t, "dp_samples_failed_total", "counter", "Samples whose inference failed.");
    put(t, "dp_samples_failed_total %lld\n", (long long)p->failed);

    head(t, "dp_latency_seconds", "histogram", "Completion time minus intended arrival time of completed samples.");
    for (int b = 0; b < p->nbuckets; b++)
        put(t, "dp_latency_seconds_bucket{le=\"%g\"} %llu\n", p->le_s[b], (unsigned long long)p->count_le[b]);
    put(t, "dp_latency_seconds_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)p->lat_count);
    put(t, "dp_latency_seconds_sum %.9g\n", p->lat_sum_s);
    put(t, "dp_latency_seconds_count %llu\n", (unsigned long long)p->lat_count);

    head(t, "dp_worker_samples_completed_total", "counter", "Samples completed by each worker.");
    for (int k = 0; k < p->workers; k++)
        put(t, "dp_worker_samples_completed_total{worker=\"%d\"} %lld\n", k, (long long)p->worker_completed[k]);
    head(t, "dp_worker_queue_depth", "gauge", "Samples waiting in each worker's queue.");
    for (int k = 0; k < p->workers; k++) put(t, "dp_worker_queue_depth{worker=\"%d\"} %d\n", k, p->worker_queue[k]);
    head(t, "dp_queue_depth", "gauge", "Samples waiting in all queues.");
    put(t, "dp_queue_depth %d\n", p->queue_depth);
    head(t, "dp_target_rate", "gauge", "Target arrival rate in samples per second (0: unlimited).");
    put(t, "dp_target_rate %.9g\n", p->target_rate);
    head(t, "dp_process_cpu_percent", "gauge", "Process CPU time over wall time in percent, as top shows it (100 per busy core).");
    put(t, "dp_process_cpu_percent %.6g\n", p->cpu_pct);
    head(t, "dp_process_resident_memory_bytes", "gauge", "Resident set size of the process.");
    put(t, "dp_process_resident_memory_bytes %.0f\n", p->rss_mb * 1048576.0);
    head(t, "dp_run_info", "gauge", "The current or last run; the value is 1 while it runs, 0 after.");
    put(t, "dp_run_info{");
    put_label(t, "mode", p->mode);
    put(t, ",");
    put_label(t, "arch", p->arch);
    put(t, ",");
    put_label(t, "strategy", p->strategy);
    put(t, "} %d\n", p->running);
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned code, char *body, size_t len, enum MHD_ResponseMemoryMode mode,
                             const char *content_type) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, mode);
    if (!resp) {
        if (mode == MHD_RESPMEM_MUST_FREE) free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    enum MHD_Result r = MHD_queue_response(conn, code, resp);
    MHD_destroy_response(resp);
    return r;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                              const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls) {
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)con_cls;
    if (strcmp(url, "/metrics") != 0) {
        static char not_found[] = "not found: the metrics are at /metrics\n";
        return reply(conn, MHD_HTTP_NOT_FOUND, not_found, sizeof not_found - 1, MHD_RESPMEM_PERSISTENT, "text/plain");
    }
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        static char bad_method[] = "only GET and HEAD\n";
        return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, bad_method, sizeof bad_method - 1, MHD_RESPMEM_PERSISTENT,
                     "text/plain");
    }
    prom_sink *p = cls;
    text t = {.cap = 4096};
    t.buf = malloc(t.cap);
    if (!t.buf) return MHD_NO;
    pthread_mutex_lock(&p->mu);
    render(p, &t);
    pthread_mutex_unlock(&p->mu);
    if (t.failed) {
        free(t.buf);
        return MHD_NO;
    }
    return reply(conn, MHD_HTTP_OK, t.buf, t.len, MHD_RESPMEM_MUST_FREE, "text/plain; version=0.0.4; charset=utf-8");
}

/* ---- creation ----------------------------------------------------------------------------- */

/* Split "HOST:PORT" ("[v6]:PORT" for IPv6; empty HOST: every interface). */
static dp_status parse_host_port(const char *s, char *host, size_t host_cap, char *port, size_t port_cap) {
    const char *colon = strrchr(s, ':');
    if (!colon) return dpi_error(DP_ERR_INVALID_ARG, "prometheus: '%s' is not HOST:PORT (no ':')", s);
    const char *h = s, *h_end = colon;
    if (*h == '[') {
        if (h_end == h || h_end[-1] != ']') return dpi_error(DP_ERR_INVALID_ARG, "prometheus: '%s': unbalanced '[' in HOST", s);
        h++;
        h_end--;
    } else if (memchr(h, ':', (size_t)(h_end - h))) {
        return dpi_error(DP_ERR_INVALID_ARG, "prometheus: '%s': write an IPv6 HOST in brackets, [::1]:PORT", s);
    }
    const char *pt = colon + 1;
    size_t plen = strlen(pt);
    if (plen == 0 || plen > 5 || strspn(pt, "0123456789") != plen || atol(pt) > 65535)
        return dpi_error(DP_ERR_INVALID_ARG, "prometheus: '%s': PORT must be a number from 0 to 65535", s);
    if ((size_t)(h_end - h) >= host_cap) return dpi_error(DP_ERR_INVALID_ARG, "prometheus: '%s': HOST is too long", s);
    memcpy(host, h, (size_t)(h_end - h));
    host[h_end - h] = '\0';
    snprintf(port, port_cap, "%s", pt);
    return DP_OK;
}

/* A listening socket bound to host:port, or a status saying why not. */
static dp_status listen_on(const char *host_port, int *fd_out, int *port_out) {
    char host[256], port[8];
    dp_status st = parse_host_port(host_port, host, sizeof host, port, sizeof port);
    if (st != DP_OK) return st;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (gai != 0)
        return dpi_error(DP_ERR_INVALID_ARG, "prometheus: '%s': cannot resolve HOST '%s': %s", host_port, host, gai_strerror(gai));
    int fd = -1, err = 0;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        /* Lets a restarted benchmark rebind while old connections sit in TIME_WAIT; a live
         * listener still makes bind() fail with EADDRINUSE. */
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, 16) == 0) break;
        err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        if (err == EADDRINUSE)
            return dpi_error(DP_ERR_BUSY, "prometheus: cannot listen on %s: port %s is already in use", host_port, port);
        if (err == EADDRNOTAVAIL)
            return dpi_error(DP_ERR_INVALID_ARG, "prometheus: cannot listen on %s: %s is not an address of this machine", host_port, host);
        return dpi_error(DP_ERR_IO, "prometheus: cannot listen on %s: %s", host_port, strerror(err));
    }
    struct sockaddr_storage sa;
    socklen_t salen = sizeof sa;
    if (getsockname(fd, (struct sockaddr *)&sa, &salen) != 0) {
        err = errno;
        close(fd);
        return dpi_error(DP_ERR_IO, "prometheus: getsockname on %s: %s", host_port, strerror(err));
    }
    *port_out = sa.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&sa)->sin6_port) : ntohs(((struct sockaddr_in *)&sa)->sin_port);
    *fd_out = fd;
    return DP_OK;
}

static void prom_destroy(void *user) {
    prom_sink *p = user;
    if (!p) return;
    if (p->daemon) MHD_stop_daemon(p->daemon); /* joins the HTTP thread; closes the socket */
    pthread_mutex_destroy(&p->mu);
    free(p->worker_completed);
    free(p->worker_queue);
    free(p);
}

DP_API dp_status dp_sink_prometheus_create(const char *host_port, dp_sink **out) {
    if (!out) return dpi_error(DP_ERR_INVALID_ARG, "dp_sink_prometheus_create: out is NULL");
    *out = NULL;
    if (!host_port) return dpi_error(DP_ERR_INVALID_ARG, "dp_sink_prometheus_create: host_port is NULL");
    int fd = -1, port = 0;
    dp_status st = listen_on(host_port, &fd, &port);
    if (st != DP_OK) return st;
    prom_sink *p = calloc(1, sizeof *p);
    if (!p) {
        close(fd);
        return dpi_error(DP_ERR_NOMEM, "dp_sink_prometheus_create: out of memory");
    }
    pthread_mutex_init(&p->mu, NULL);
    p->port = port;
    /* AUTO picks epoll/poll over select(), which fails once the process has 1024 fds open. The
     * limits keep one client that holds connections open (idle or sending slowly) from taking
     * every slot: it gets PROM_PER_CLIENT of PROM_CONNECTIONS, the rest are refused at once, and
     * an idle one is closed after PROM_IDLE_S; a scraper (one connection per target, reused or
     * not) always finds a slot (docs/metrics.md, "Limits"). */
    p->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, 0, NULL, NULL, handle, p, MHD_OPTION_LISTEN_SOCKET, fd,
                                 MHD_OPTION_CONNECTION_LIMIT, PROM_CONNECTIONS, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                                 PROM_PER_CLIENT, MHD_OPTION_CONNECTION_TIMEOUT, PROM_IDLE_S, MHD_OPTION_END);
    if (!p->daemon) {
        close(fd);
        prom_destroy(p);
        return dpi_error(DP_ERR_BACKEND, "prometheus: libmicrohttpd could not start serving %s", host_port);
    }
    dp_sink_callbacks cb = {.size = sizeof cb,
                            .on_start = prom_start,
                            .on_interval = prom_interval,
                            .on_summary = prom_summary,
                            .user = p};
    return dpi_sink_create(&cb, prom_destroy, NULL, out);
}

DP_API int dp_sink_prometheus_port(const dp_sink *sink) {
    if (!sink || sink->destroy != prom_destroy) return -1;
    return ((const prom_sink *)sink->cb.user)->port;
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
