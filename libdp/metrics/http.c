/* The HTTP plumbing shared by the Prometheus and dashboard sinks; see http.h.
 *
 * The listening socket is created and bound here rather than by libmicrohttpd so that "port in
 * use" (DP_ERR_BUSY) is told apart from a bad address (DP_ERR_INVALID_ARG) before any run. */
#include "http.h"

#include "sink_impl.h"

#ifdef DP_HAVE_MICROHTTPD

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Split "HOST:PORT" ("[v6]:PORT" for IPv6; empty HOST: every interface). */
static dp_status parse_host_port(const char *what, const char *s, char *host, size_t host_cap, char *port,
                                 size_t port_cap) {
    const char *colon = strrchr(s, ':');
    if (!colon) return dpi_error(DP_ERR_INVALID_ARG, "%s: '%s' is not HOST:PORT (no ':')", what, s);
    const char *h = s, *h_end = colon;
    if (*h == '[') {
        if (h_end == h || h_end[-1] != ']')
            return dpi_error(DP_ERR_INVALID_ARG, "%s: '%s': unbalanced '[' in HOST", what, s);
        h++;
        h_end--;
    } else if (memchr(h, ':', (size_t)(h_end - h))) {
        return dpi_error(DP_ERR_INVALID_ARG, "%s: '%s': write an IPv6 HOST in brackets, [::1]:PORT", what, s);
    }
    const char *pt = colon + 1;
    size_t plen = strlen(pt);
    if (plen == 0 || plen > 5 || strspn(pt, "0123456789") != plen || atol(pt) > 65535)
        return dpi_error(DP_ERR_INVALID_ARG, "%s: '%s': PORT must be a number from 0 to 65535", what, s);
    if ((size_t)(h_end - h) >= host_cap) return dpi_error(DP_ERR_INVALID_ARG, "%s: '%s': HOST is too long", what, s);
    memcpy(host, h, (size_t)(h_end - h));
    host[h_end - h] = '\0';
    snprintf(port, port_cap, "%s", pt);
    return DP_OK;
}

dp_status dpi_http_listen(const char *what, const char *host_port, int *fd_out, int *port_out) {
    char host[256], port[8];
    dp_status st = parse_host_port(what, host_port, host, sizeof host, port, sizeof port);
    if (st != DP_OK) return st;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (gai != 0)
        return dpi_error(DP_ERR_INVALID_ARG, "%s: '%s': cannot resolve HOST '%s': %s", what, host_port, host,
                         gai_strerror(gai));
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
            return dpi_error(DP_ERR_BUSY, "%s: cannot listen on %s: port %s is already in use", what, host_port, port);
        if (err == EADDRNOTAVAIL)
            return dpi_error(DP_ERR_INVALID_ARG, "%s: cannot listen on %s: %s is not an address of this machine", what,
                             host_port, host);
        return dpi_error(DP_ERR_IO, "%s: cannot listen on %s: %s", what, host_port, strerror(err));
    }
    struct sockaddr_storage sa;
    socklen_t salen = sizeof sa;
    if (getsockname(fd, (struct sockaddr *)&sa, &salen) != 0) {
        err = errno;
        close(fd);
        return dpi_error(DP_ERR_IO, "%s: getsockname on %s: %s", what, host_port, strerror(err));
    }
    *port_out = sa.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&sa)->sin6_port)
                                         : ntohs(((struct sockaddr_in *)&sa)->sin_port);
    *fd_out = fd;
    return DP_OK;
}

struct MHD_Daemon *dpi_http_serve(const char *what, const char *host_port, int fd, MHD_AccessHandlerCallback handler,
                                  void *cls) {
    /* AUTO picks epoll/poll over select(), which fails once the process has 1024 fds open. */
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, 0, NULL, NULL, handler, cls, MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_CONNECTION_LIMIT, HTTP_CONNECTIONS, MHD_OPTION_PER_IP_CONNECTION_LIMIT, HTTP_PER_CLIENT,
        MHD_OPTION_CONNECTION_TIMEOUT, HTTP_IDLE_S, MHD_OPTION_END);
    if (!d) {
        close(fd);
        dpi_error(DP_ERR_BACKEND, "%s: libmicrohttpd could not start serving %s", what, host_port);
    }
    return d;
}

enum MHD_Result dpi_http_reply(struct MHD_Connection *conn, unsigned code, char *body, size_t len,
                               enum MHD_ResponseMemoryMode mode, const char *content_type) {
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

int dpi_http_sink_port(const dp_sink *sink, void (*destroy)(void *user)) {
    if (!sink || sink->destroy != destroy) return -1;
    return ((const dpi_http_server *)sink->cb.user)->port;
}

int dpi_http_get_only(struct MHD_Connection *conn, const char *method, enum MHD_Result *r) {
    if (strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0) return 1;
    static char bad_method[] = "only GET and HEAD\n";
    *r = dpi_http_reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, bad_method, sizeof bad_method - 1, MHD_RESPMEM_PERSISTENT,
                        "text/plain");
    return 0;
}

void dpi_text_put(dpi_text *t, const char *fmt, ...) {
    if (t->failed) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf ? t->buf + t->len : NULL, t->buf ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = 1;
            return;
        }
        if (t->buf && (size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap * 2 + (size_t)n + 1;
        char *b = realloc(t->buf, cap);
        if (!b) {
            t->failed = 1;
            return;
        }
        t->buf = b;
        t->cap = cap;
    }
}

#endif
