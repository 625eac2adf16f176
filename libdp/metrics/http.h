/* What the HTTP sinks (Prometheus, dashboard) share: a bound listening socket, a libmicrohttpd
 * daemon with bounded connections, replies, and a growing text buffer for bodies. Only built
 * with libmicrohttpd (DP_HAVE_MICROHTTPD). */
#ifndef DP_METRICS_HTTP_H
#define DP_METRICS_HTTP_H

#ifdef DP_HAVE_MICROHTTPD
#include <microhttpd.h>
#include <stddef.h>

#include "dataparallel/sink.h"
#include "util/util.h"

/* Connections served at once, per client address, and seconds before an idle one is closed:
 * one client holding connections open (idle or sending slowly) gets HTTP_PER_CLIENT of
 * HTTP_CONNECTIONS, the rest are refused at once, so a scraper or a browser always finds a slot
 * (docs/metrics.md, "Limits"). */
#define HTTP_CONNECTIONS 64u
#define HTTP_PER_CLIENT 8u
#define HTTP_IDLE_S 5u

/* A listening socket bound to "HOST:PORT" ("[v6]:PORT"; empty HOST: every interface; PORT 0:
 * any free port, returned in *port). DP_ERR_BUSY when the port is in use, DP_ERR_INVALID_ARG for
 * a malformed or foreign address. what ("prometheus") starts every message. */
dp_status dpi_http_listen(const char *what, const char *host_port, int *fd, int *port);

/* Serve fd (taken over: closed on failure too) with handler from libmicrohttpd's own thread,
 * within the limits above. NULL with a message naming what and host_port on failure. */
struct MHD_Daemon *dpi_http_serve(const char *what, const char *host_port, int fd, MHD_AccessHandlerCallback handler,
                                  void *cls);

/* Queue a reply; body is freed when mode is MHD_RESPMEM_MUST_FREE (also on failure). */
enum MHD_Result dpi_http_reply(struct MHD_Connection *conn, unsigned code, char *body, size_t len,
                               enum MHD_ResponseMemoryMode mode, const char *content_type);

/* GET or HEAD; otherwise a 405 reply has been queued into *r and 0 is returned. */
int dpi_http_get_only(struct MHD_Connection *conn, const char *method, enum MHD_Result *r);

/* The first member of an HTTP sink's state. */
typedef struct dpi_http_server {
    struct MHD_Daemon *daemon;
    int port;
} dpi_http_server;

/* The port of `sink` when its destructor is `destroy` (the sink kind asked about, whose state
 * starts with a dpi_http_server); -1 otherwise. */
int dpi_http_sink_port(const dp_sink *sink, void (*destroy)(void *user));

/* A growing body: put() appends like printf; after a failed allocation it ignores further puts
 * and `failed` is set. */
typedef struct dpi_text {
    char *buf;
    size_t len, cap;
    int failed;
} dpi_text;

void dpi_text_put(dpi_text *t, const char *fmt, ...) DPI_PRINTF(2, 3);

#endif
#endif
