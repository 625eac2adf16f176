/* Console sink: what a person watching a run sees.
 * On a terminal one status line is redrawn in place (\r, then erase-to-end-of-line) every
 * interval; otherwise (a log file, a pipe, CI) each interval is a plain line. The final summary
 * is a table, per-worker rows included. quiet keeps only the table. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "sink_impl.h"
#include "util/sized.h"
#include "util/util.h"

#define BAR_WIDTH 10

typedef struct console_sink {
    dpi_sink_file file; /* the stream it was given */
    FILE *out;          /* == file.f */
    int live;           /* resolved: 1 or 0 */
    int quiet;
    int line_drawn;     /* a live line is on screen and must be cleared before the table */
    int64_t expected;   /* samples, -1 unknown */
} console_sink;

DP_API void dp_console_opts_init_sized(dp_console_opts *opts, size_t size) {
    const dp_console_opts d = {.size = sizeof d, .stream = stderr, .live = -1};
    dpi_sized_init(opts, size, &d, sizeof d);
}

static void console_start(const dp_run_info *info, void *user) {
    console_sink *c = user;
    c->expected = info->expected_samples;
    c->line_drawn = 0;
    if (c->quiet) return;
    fprintf(c->out, "%s run: %s, strategy %s, %d worker%s x %d thread%s", info->mode, info->arch ? info->arch : "?",
            info->strategy ? info->strategy : "?", info->workers, info->workers == 1 ? "" : "s",
            info->threads_per_worker, info->threads_per_worker == 1 ? "" : "s");
    if (info->target_rate > 0) fprintf(c->out, ", %.6g samples/s", info->target_rate);
    if (info->expected_samples >= 0) fprintf(c->out, ", %lld samples", (long long)info->expected_samples);
    fputc('\n', c->out);
    dpi_sink_file_flush(&c->file);
}

/* Finished samples (completed + dropped + failed) as a fraction of the expected count, or -1. */
static double progress(const console_sink *c, const dp_interval *iv) {
    if (c->expected <= 0) return -1;
    double p = (double)(iv->completed + iv->dropped + iv->failed) / (double)c->expected;
    return p > 1 ? 1 : p;
}

/* snprintf at buf+n that never runs past cap; returns the new length. */
static size_t append(char *buf, size_t cap, size_t n, const char *fmt, ...) DPI_PRINTF(4, 5);
static size_t append(char *buf, size_t cap, size_t n, const char *fmt, ...) {
    if (n >= cap) return n;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(buf + n, cap - n, fmt, ap);
    va_end(ap);
    return k < 0 ? n : (n + (size_t)k < cap ? n + (size_t)k : cap - 1);
}

/* Columns of the terminal behind f, or 0 if unknown. */
static int terminal_width(FILE *f) {
    struct winsize ws;
    return ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 ? ws.ws_col : 0;
}

static void console_interval(const dp_interval *iv, void *user) {
    console_sink *c = user;
    if (c->quiet) return;
    char line[512];
    size_t n = append(line, sizeof line, 0, "%7.1f s", iv->t_s);
    double p = progress(c, iv);
    if (p >= 0) {
        if (c->live) {
            char bar[BAR_WIDTH + 1];
            int full = (int)(p * BAR_WIDTH + 0.5);
            for (int i = 0; i < BAR_WIDTH; i++) bar[i] = i < full ? '#' : '-';
            bar[BAR_WIDTH] = '\0';
            n = append(line, sizeof line, n, "  [%s]", bar);
        }
        n = append(line, sizeof line, n, " %3.0f%%", 100 * p);
    }
    /* Rate and latency first: they are what a narrow terminal should still show. */
    n = append(line, sizeof line, n, "  %.1f/s  p99 %.2f ms  queue %d", iv->throughput, iv->latency_ms.p99, iv->queue_depth);
    n = append(line, sizeof line, n, "  offered %lld  completed %lld  dropped %lld", (long long)iv->offered,
               (long long)iv->completed, (long long)iv->dropped);
    if (iv->failed) n = append(line, sizeof line, n, "  failed %lld", (long long)iv->failed);
    if (c->live) {
        /* A line wider than the terminal wraps, and \r then redraws only its last part. */
        int cols = terminal_width(c->out);
        if (cols > 1 && n >= (size_t)cols) line[cols - 1] = '\0';
        /* \033[K erases what a longer previous line left behind. */
        fprintf(c->out, "\r%s\033[K", line);
        c->line_drawn = 1;
    } else {
        fprintf(c->out, "%s\n", line);
    }
    dpi_sink_file_flush(&c->file);
}

/* The latency breakdown: each part's percentiles, then each worker's p99 of each part. */
static void breakdown_table(FILE *o, const dp_summary *s) {
    fprintf(o, "  %-12s %10s %10s %10s %10s %10s\n", "breakdown ms", "p50", "p90", "p99", "max", "mean");
    for (int p = 0; p < DP_PHASES; p++) {
        const dp_latency_ms *l = &s->breakdown_ms.phase[p];
        fprintf(o, "    %-10s %10.3f %10.3f %10.3f %10.3f %10.3f\n", dp_phase_name(p), l->p50, l->p90, l->p99, l->max,
                l->mean);
    }
    if (!s->per_worker_breakdown_ms || s->workers < 2) return;
    fprintf(o, "  %6s %-6s", "worker", "p99 ms");
    for (int p = 0; p < DP_PHASES; p++) fprintf(o, " %9s", dp_phase_name(p));
    fputc('\n', o);
    for (int k = 0; k < s->workers; k++) {
        fprintf(o, "  %6d %-6s", k, "");
        for (int p = 0; p < DP_PHASES; p++) fprintf(o, " %9.3f", s->per_worker_breakdown_ms[k].phase[p].p99);
        fputc('\n', o);
    }
}

static void console_summary(const dp_run_info *info, const dp_summary *s, void *user) {
    console_sink *c = user;
    FILE *o = c->out;
    if (c->line_drawn) {
        fputs("\r\033[K", o);
        c->line_drawn = 0;
    }
    fprintf(o, "\n%s summary (%s, %s, %d x %d threads)\n", info->mode, info->arch ? info->arch : "?",
            info->strategy ? info->strategy : "?", info->workers, info->threads_per_worker);
    fprintf(o, "  samples      offered %lld  completed %lld  dropped %lld (newest %lld, oldest %lld)  failed %lld\n",
            (long long)s->offered, (long long)s->completed, (long long)s->dropped, (long long)s->dropped_newest,
            (long long)s->dropped_oldest, (long long)s->failed);
    fprintf(o, "  elapsed      %.3f s\n", s->elapsed_s);
    fprintf(o, "  throughput   %.2f samples/s", s->throughput);
    if (s->target_rate > 0)
        fprintf(o, "  (target %.6g/s, efficiency %.2f %%, rate accuracy %.2f %%)", s->target_rate, s->efficiency_pct,
                s->rate_accuracy_pct);
    fputc('\n', o);
    fprintf(o, "  latency ms   mean %.3f  p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n", s->latency_ms.mean,
            s->latency_ms.p50, s->latency_ms.p90, s->latency_ms.p99, s->latency_ms.p999, s->latency_ms.max);
    if (s->completed > 0) breakdown_table(o, s);
    fprintf(o, "  process      cpu %.1f %%  peak rss %.1f MB\n", s->cpu_pct, s->rss_mb);
    /* MPI: what a sample costs on the network (with pipeline stages, relayed through rank 0). */
    if (s->offered > 0 && s->wire_bytes_out + s->wire_bytes_in > 0)
        fprintf(o, "  network      %.0f B/sample to the worker ranks, %.0f B/sample back (headers included)\n",
                (double)s->wire_bytes_out / (double)s->offered, (double)s->wire_bytes_in / (double)s->offered);
    if (s->labelled > 0)
        fprintf(o, "  top-1        %.2f %% (%lld of %lld labelled)\n", 100.0 * (double)s->correct / (double)s->labelled,
                (long long)s->correct, (long long)s->labelled);
    if (s->per_worker && s->workers > 0) {
        fprintf(o, "  %6s %10s %7s %7s %10s %11s %9s %s\n", "worker", "completed", "failed", "busy %", "mean batch",
                "service ms", "queue hwm", "straggler");
        for (int k = 0; k < s->workers; k++) {
            const dp_worker_summary *w = &s->per_worker[k];
            fprintf(o, "  %6d %10lld %7lld %7.1f %10.2f %11.3f %9lld %s\n", w->worker, (long long)w->completed,
                    (long long)w->failed, w->busy_pct, w->mean_batch, w->mean_service_ms, (long long)w->queue_hwm,
                    w->straggler ? "yes" : "no");
        }
    }
    if (s->stages > 1 && s->per_stage && s->per_worker) {
        fprintf(o, "  pipeline     %d replica%s x %d stages, bubble %.1f %%\n", s->replicas, s->replicas == 1 ? "" : "s",
                s->stages, s->bubble_pct);
        fprintf(o, "  %7s %5s %6s %7s %11s %9s %12s %8s\n", "replica", "stage", "worker", "busy %", "service ms",
                "queue hwm", "bytes sent", "bubble %");
        for (int k = 0; k < s->workers; k++) {
            const dp_stage_summary *st = &s->per_stage[k];
            const dp_worker_summary *w = &s->per_worker[k];
            fprintf(o, "  %7d %5d %6d %7.1f %11.3f %9lld %12lld %8.1f\n", st->replica, st->stage, st->worker, w->busy_pct,
                    w->mean_service_ms, (long long)w->queue_hwm, (long long)st->bytes_sent, st->bubble_pct);
        }
    }
    dpi_sink_file_flush(&c->file);
}

static void console_destroy(void *user) {
    console_sink *c = user;
    if (!c) return;
    dpi_sink_file_close(&c->file);
    free(c);
}

DP_API dp_status dp_sink_console_create(const dp_console_opts *opts, dp_sink **out) {
    if (!out) return dpi_error(DP_ERR_INVALID_ARG, "dp_sink_console_create: out is NULL");
    *out = NULL;
    dp_console_opts o;
    dp_console_opts_init(&o);
    dp_status st = dpi_sized_take(&o, sizeof o, opts, sizeof o, "dp_sink_console_create: opts", "dp_console_opts_init");
    if (st != DP_OK) return st;
    if (o.live < -1 || o.live > 1)
        return dpi_error(DP_ERR_INVALID_ARG, "dp_sink_console_create: live is %d, expected -1 (auto), 0 or 1", o.live);
    console_sink *c = calloc(1, sizeof *c);
    if (!c) return dpi_error(DP_ERR_NOMEM, "dp_sink_console_create: out of memory");
    FILE *stream = o.stream ? o.stream : stderr;
    if (dpi_sink_file_borrow(&c->file, "console sink", stream,
                             stream == stderr ? "stderr" : stream == stdout ? "stdout" : "its stream") != DP_OK) {
        free(c);
        return DP_ERR_NOMEM;
    }
    c->out = stream;
    c->live = o.live == -1 ? isatty(fileno(c->out)) : o.live;
    c->quiet = o.quiet != 0;
    c->expected = -1;
    dp_sink_callbacks cb = {.size = sizeof cb,
                            .on_start = console_start,
                            .on_interval = console_interval,
                            .on_summary = console_summary,
                            .user = c};
    return dpi_sink_create(&cb, console_destroy, &c->file, out);
}
