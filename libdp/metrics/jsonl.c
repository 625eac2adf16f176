/* JSON Lines sink: one object per completed sample, then one summary object. Times are seconds
 * since the run started (dp_run_info.start_ns). Lines are buffered and flushed at every interval
 * and at the end, so the file is a few seconds behind during a run and never holds a torn line
 * after it. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

#include "runtime/summary.h"
#include "sink_impl.h"
#include "util/util.h"

typedef struct jsonl_sink {
    dpi_sink_file out;
    int64_t start_ns;
    char buf[1 << 16]; /* stdio buffer: per-sample lines cost no syscall */
} jsonl_sink;

/* v / 10^digits as a fixed-point decimal (v in ns: digits 9 gives s, 6 gives ms). Integer
 * formatting is exact and several times cheaper than printf's %f, and this runs per sample. */
static const char *fixed(char *buf, size_t cap, int64_t v, int digits) {
    int64_t scale = 1;
    for (int i = 0; i < digits; i++) scale *= 10;
    uint64_t a = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    snprintf(buf, cap, "%s%llu.%0*llu", v < 0 ? "-" : "", (unsigned long long)(a / (uint64_t)scale), digits,
             (unsigned long long)(a % (uint64_t)scale));
    return buf;
}

static void jsonl_start(const dp_run_info *info, void *user) {
    jsonl_sink *j = user;
    j->start_ns = info->start_ns;
}

static void jsonl_record(const dp_result *r, void *user) {
    jsonl_sink *j = user;
    if (r->status != DP_OK) return; /* failed and dropped samples are counted in the summary */
    char intended[48], start[48], end[48], latency[48]; /* sign, 20 digits, point, 19 digits */
    fprintf(j->out.f,
            "{\"type\":\"sample\",\"sample_id\":%lld,\"worker\":%d,\"intended_s\":%s,\"start_s\":%s,\"end_s\":%s,"
            "\"latency_ms\":%s,\"batch_size\":%d,\"top1\":%d",
            (long long)r->sample_id, r->worker, fixed(intended, sizeof intended, r->intended_ns - j->start_ns, 9),
            fixed(start, sizeof start, r->start_ns - j->start_ns, 9), fixed(end, sizeof end, r->end_ns - j->start_ns, 9),
            fixed(latency, sizeof latency, r->delivered_ns - r->intended_ns, 6), r->batch_size, r->top1);
    if (r->label >= 0) fprintf(j->out.f, ",\"label\":%d", (int)r->label);
    /* The latency breakdown: the steps' times, then the five parts (exact ns as ms with 6
     * decimals, so they add up to latency_ms exactly). */
    char enqueued[48], taken[48], delivered[48], part_ms[48];
    fprintf(j->out.f, ",\"enqueued_s\":%s,\"taken_s\":%s,\"delivered_s\":%s",
            fixed(enqueued, sizeof enqueued, r->enqueued_ns - j->start_ns, 9),
            fixed(taken, sizeof taken, r->taken_ns - j->start_ns, 9),
            fixed(delivered, sizeof delivered, r->delivered_ns - j->start_ns, 9));
    int64_t part[DP_PHASES];
    dp_result_phases(r, part);
    for (int p = 0; p < DP_PHASES; p++)
        fprintf(j->out.f, ",\"%s_ms\":%s", dp_phase_name(p), fixed(part_ms, sizeof part_ms, part[p], 6));
    fputs("}\n", j->out.f);
}

static void jsonl_interval(const dp_interval *iv, void *user) {
    (void)iv;
    dpi_sink_file_flush(&((jsonl_sink *)user)->out);
}

/* The summary record: "type" first, then the summary's own fields, built from the struct. */
static void summary_line(jsonl_sink *j, const dp_summary *s) {
    cJSON *o = cJSON_CreateObject();
    char *text = NULL;
    if (o && cJSON_AddStringToObject(o, "type", "summary")) {
        dpi_summary_json_fill(o, s);
        text = cJSON_PrintUnformatted(o);
    }
    cJSON_Delete(o);
    if (!text) {
        dpi_log(DP_LOG_WARN, "JSONL sink: out of memory for the summary line");
        return;
    }
    fputs(text, j->out.f);
    fputc('\n', j->out.f);
    free(text);
}

static void jsonl_summary(const dp_run_info *info, const dp_summary *s, void *user) {
    (void)info;
    jsonl_sink *j = user;
    summary_line(j, s);
    dpi_sink_file_flush(&j->out);
}

static void jsonl_destroy(void *user) {
    jsonl_sink *j = user;
    if (!j) return;
    dpi_sink_file_close(&j->out); /* before free: stdio still uses j->buf until then */
    free(j);
}

DP_API dp_status dp_sink_jsonl_create(const char *path, dp_sink **out) {
    if (!out) return dpi_error(DP_ERR_INVALID_ARG, "dp_sink_jsonl_create: out is NULL");
    *out = NULL;
    jsonl_sink *j = calloc(1, sizeof *j);
    if (!j) return dpi_error(DP_ERR_NOMEM, "dp_sink_jsonl_create: out of memory");
    dp_status st = dpi_sink_file_open(&j->out, "JSONL sink", path);
    if (st != DP_OK) {
        free(j);
        return st;
    }
    setvbuf(j->out.f, j->buf, _IOFBF, sizeof j->buf);
    dp_sink_callbacks cb = {.size = sizeof cb,
                            .on_start = jsonl_start,
                            .on_record = jsonl_record,
                            .on_interval = jsonl_interval,
                            .on_summary = jsonl_summary,
                            .user = j};
    return dpi_sink_create(&cb, jsonl_destroy, &j->out, out);
}
