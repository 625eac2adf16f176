/* Helpers shared by the sink tests: read a whole file, GET a path over a plain socket, and read
 * one series' value out of a Prometheus scrape. */
#ifndef DP_TESTS_METRICS_SINK_TEST_UTIL_H
#define DP_TESTS_METRICS_SINK_TEST_UTIL_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* The whole file, NUL-terminated (free it), or NULL. */
static inline char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, f);
    buf[got] = '\0';
    fclose(f);
    return buf;
}

/* GET path from 127.0.0.1:port with HTTP/1.0; the whole response (headers + body), or NULL
 * (also when no byte came for `seconds`, 0: wait as long as it takes). */
static inline char *http_get_within(int port, const char *path, int seconds) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {.tv_sec = seconds};
    if (fd >= 0 && seconds > 0) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0) close(fd);
        return NULL;
    }
    char req[256];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n", path);
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return NULL;
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    ssize_t got;
    while ((got = read(fd, buf + len, cap - 1 - len)) > 0) {
        len += (size_t)got;
        if (len == cap - 1) buf = realloc(buf, cap *= 2);
    }
    buf[len] = '\0';
    close(fd);
    if (got < 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

static inline char *http_get(int port, const char *path) { return http_get_within(port, path, 0); }

/* Value of the sample line that is exactly `series` followed by a space, or -1. */
static inline double metric(const char *scrape, const char *series) {
    size_t n = strlen(series);
    for (const char *p = scrape; p && (p = strstr(p, series)); p += n)
        if ((p == scrape || p[-1] == '\n') && p[n] == ' ') return atof(p + n + 1);
    return -1;
}

#endif
