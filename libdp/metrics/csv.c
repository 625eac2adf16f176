/* CSV sink: a header, then one row per interval summary, flushed as it is written so the file
 * can be followed (tail -f) during a run. Latencies keep ns resolution (6 decimals in ms) so that
 * the rows' max equals the run summary's max exactly. */
#include <stdio.h>
#include <stdlib.h>

#include "sink_impl.h"
#include "util/util.h"

#define CSV_HEADER "t_s,offered,completed,dropped,failed,throughput,p50_ms,p90_ms,p99_ms,max_ms,queue_depth,cpu_pct,rss_mb\n"

static void csv_interval(const dp_interval *iv, void *user) {
    dpi_sink_file *c = user;
    fprintf(c->f, "%.3f,%lld,%lld,%lld,%lld,%.3f,%.6f,%.6f,%.6f,%.6f,%d,%.1f,%.1f\n", iv->t_s, (long long)iv->offered,
            (long long)iv->completed, (long long)iv->dropped, (long long)iv->failed, iv->throughput, iv->latency_ms.p50,
            iv->latency_ms.p90, iv->latency_ms.p99, iv->latency_ms.max, iv->queue_depth, iv->cpu_pct, iv->rss_mb);
    dpi_sink_file_flush(c);
}

static void csv_destroy(void *user) {
    if (!user) return;
    dpi_sink_file_close(user);
    free(user);
}

DP_API dp_status dp_sink_csv_create(const char *path, dp_sink **out) {
    if (!out) return dpi_error(DP_ERR_INVALID_ARG, "dp_sink_csv_create: out is NULL");
    *out = NULL;
    dpi_sink_file *c = calloc(1, sizeof *c);
    if (!c) return dpi_error(DP_ERR_NOMEM, "dp_sink_csv_create: out of memory");
    dp_status st = dpi_sink_file_open(c, "CSV sink", path);
    if (st == DP_OK) {
        /* A header that cannot be written (a full disk, /dev/full) fails the first run, as any
         * other write failure of any sink does, with that run's summary complete. */
        fputs(CSV_HEADER, c->f);
        dpi_sink_file_flush(c);
    }
    if (st != DP_OK) {
        csv_destroy(c);
        return st;
    }
    dp_sink_callbacks cb = {.size = sizeof cb, .on_interval = csv_interval, .user = c};
    return dpi_sink_create(&cb, csv_destroy, c, out);
}
