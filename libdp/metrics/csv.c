/* CSV sink: a header, then one row per interval summary, flushed as it is written so the file
 * can be followed (tail -f) during a run. Latencies keep ns resolution (6 decimals in ms) so that
 * the rows' max equals the run summary's max exactly. A pipelined run (stages > 1) also gets
 * PATH.stages.csv (PATH's ".csv" replaced): one row per stage per interval, labelled by
 * replica and stage, opened at the first such interval (docs/metrics.md, "CSV"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sink_impl.h"
#include "util/util.h"

#define CSV_HEADER "t_s,offered,completed,dropped,failed,throughput,p50_ms,p90_ms,p99_ms,max_ms,queue_depth,cpu_pct,rss_mb\n"
#define STAGES_HEADER "t_s,replica,stage,worker,busy_s,inflight_s,bubble_pct,bytes_sent,queue_hwm\n"

typedef struct csv_sink {
    dpi_sink_file file;      /* first: what dpi_sink_failure() reports */
    dpi_sink_file stages;    /* PATH.stages.csv, open once a pipelined run sent a row */
    char *stages_path;
} csv_sink;

static void stage_rows(csv_sink *c, const dp_interval *iv) {
    if (!c->stages.f) {
        /* A file that cannot be opened costs the per-stage rows only (once): a warning says why. */
        if (dpi_sink_file_open(&c->stages, "CSV sink (stages)", c->stages_path) != DP_OK) {
            dpi_log(DP_LOG_WARN, "%s", dp_last_error());
            free(c->stages_path);
            c->stages_path = NULL;
            return;
        }
        fputs(STAGES_HEADER, c->stages.f);
    }
    for (int k = 0; k < iv->workers; k++) {
        const dp_stage_summary *s = &iv->per_stage[k];
        fprintf(c->stages.f, "%.3f,%d,%d,%d,%.6f,%.6f,%.3f,%lld,%lld\n", iv->t_s, s->replica, s->stage, s->worker,
                iv->worker_busy_s ? iv->worker_busy_s[k] : 0.0, s->inflight_s, s->bubble_pct, (long long)s->bytes_sent,
                iv->worker_queue_hwm ? (long long)iv->worker_queue_hwm[k] : 0LL);
    }
    dpi_sink_file_flush(&c->stages);
}

static void csv_interval(const dp_interval *iv, void *user) {
    csv_sink *c = user;
    fprintf(c->file.f, "%.3f,%lld,%lld,%lld,%lld,%.3f,%.6f,%.6f,%.6f,%.6f,%d,%.1f,%.1f\n", iv->t_s,
            (long long)iv->offered, (long long)iv->completed, (long long)iv->dropped, (long long)iv->failed,
            iv->throughput, iv->latency_ms.p50, iv->latency_ms.p90, iv->latency_ms.p99, iv->latency_ms.max,
            iv->queue_depth, iv->cpu_pct, iv->rss_mb);
    dpi_sink_file_flush(&c->file);
    if (iv->stages > 1 && iv->per_stage && c->stages_path) stage_rows(c, iv);
}

static void csv_destroy(void *user) {
    csv_sink *c = user;
    if (!c) return;
    dpi_sink_file_close(&c->file);
    dpi_sink_file_close(&c->stages);
    free(c->stages_path);
    free(c);
}

/* PATH with a trailing ".csv" replaced by ".stages.csv" (or that appended). */
static char *stages_path(const char *path) {
    size_t n = strlen(path), base = n >= 4 && strcmp(path + n - 4, ".csv") == 0 ? n - 4 : n;
    char *p = malloc(base + sizeof ".stages.csv");
    if (p) {
        memcpy(p, path, base);
        memcpy(p + base, ".stages.csv", sizeof ".stages.csv");
    }
    return p;
}

DP_API dp_status dp_sink_csv_create(const char *path, dp_sink **out) {
    if (!out) return dpi_error(DP_ERR_INVALID_ARG, "dp_sink_csv_create: out is NULL");
    *out = NULL;
    csv_sink *c = calloc(1, sizeof *c);
    if (!c) return dpi_error(DP_ERR_NOMEM, "dp_sink_csv_create: out of memory");
    dp_status st = dpi_sink_file_open(&c->file, "CSV sink", path);
    if (st == DP_OK && !(c->stages_path = stages_path(path)))
        st = dpi_error(DP_ERR_NOMEM, "dp_sink_csv_create: out of memory");
    if (st == DP_OK) {
        /* A header that cannot be written (a full disk, /dev/full) fails the first run, as any
         * other write failure of any sink does, with that run's summary complete. */
        fputs(CSV_HEADER, c->file.f);
        dpi_sink_file_flush(&c->file);
    }
    if (st != DP_OK) {
        csv_destroy(c);
        return st;
    }
    dp_sink_callbacks cb = {.size = sizeof cb, .on_interval = csv_interval, .user = c};
    return dpi_sink_create(&cb, csv_destroy, &c->file, out);
}
