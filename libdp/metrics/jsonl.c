/* JSON Lines sink: one object per completed sample, then one summary object. Times are seconds
 * since the run started (dp_run_info.start_ns). Lines are buffered and flushed at every interval
 * and at the end, so the file is a few seconds behind during a run and never holds a torn line
 * after it. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

#include "sink_impl.h"
#include "util/util.h"

typedef struct jsonl_sink {
    FILE *f;
    int64_t start_ns;
    int write_failed;
    char buf[1 << 16]; /* stdio buffer: per-sample lines cost no syscall */
} jsonl_sink;

static double rel_s(const jsonl_sink *j, int64_t t_ns) { return (double)(t_ns - j->start_ns) / 1e9; }

static void jsonl_flush(jsonl_sink *j) {
    if (!j->write_failed && (fflush(j->f) != 0 || ferror(j->f))) {
        j->write_failed = 1;
        dpi_log(DP_LOG_WARN, "JSONL sink: write failed (disk full?); later lines may be missing");
    }
}

static void jsonl_start(const dp_run_info *info, void *user) {
    jsonl_sink *j = user;
    j->start_ns = info->start_ns;
}

static void jsonl_record(const dp_result *r, void *user) {
    jsonl_sink *j = user;
    if (r->status != DP_OK) return; /* failed and dropped samples are counted in the summary */
    fprintf(j->f,
            "{\"type\":\"sample\",\"sample_id\":%lld,\"worker\":%d,\"intended_s\":%.9f,\"start_s\":%.9f,"
            "\"end_s\":%.9f,\"latency_ms\":%.6f,\"batch_size\":%d,\"top1\":%d",
            (long long)r->sample_id, r->worker, rel_s(j, r->intended_ns), rel_s(j, r->start_ns), rel_s(j, r->end_ns),
            (double)(r->end_ns - r->intended_ns) / 1e6, r->batch_size, r->top1);
    if (r->label >= 0) fprintf(j->f, ",\"label\":%d", (int)r->label);
    fputs("}\n", j->f);
}

static void jsonl_interval(const dp_interval *iv, void *user) {
    (void)iv;
    jsonl_flush(user);
}

/* The summary object is dp_summary_to_json()'s, made one line, with "type" first. */
static void summary_line(jsonl_sink *j, const dp_summary *s) {
    size_t n = dp_summary_to_json(s, NULL, 0);
    char *json = malloc(n + 1);
    if (!json) {
        dpi_log(DP_LOG_WARN, "JSONL sink: out of memory for the summary line");
        return;
    }
    dp_summary_to_json(s, json, n + 1);
    cJSON_Minify(json); /* one line, whatever the writer's formatting */
    const char *rest = json[0] == '{' ? json + 1 : "}"; /* n == 0: the writer failed */
    fprintf(j->f, "{\"type\":\"summary\"%s%s\n", rest[0] == '}' ? "" : ",", rest);
    free(json);
}

static void jsonl_summary(const dp_run_info *info, const dp_summary *s, void *user) {
    (void)info;
    jsonl_sink *j = user;
    summary_line(j, s);
    jsonl_flush(j);
}

static void jsonl_destroy(void *user) {
    jsonl_sink *j = user;
    if (!j) return;
    if (j->f) fclose(j->f);
    free(j);
}

DP_API dp_status dp_sink_jsonl_create(const char *path, dp_sink **out) {
    if (!out) return dpi_error(DP_ERR_INVALID_ARG, "dp_sink_jsonl_create: out is NULL");
    *out = NULL;
    jsonl_sink *j = calloc(1, sizeof *j);
    if (!j) return dpi_error(DP_ERR_NOMEM, "dp_sink_jsonl_create: out of memory");
    dp_status st = dpi_sink_open_file("dp_sink_jsonl_create", path, &j->f);
    if (st != DP_OK) {
        free(j);
        return st;
    }
    setvbuf(j->f, j->buf, _IOFBF, sizeof j->buf);
    dp_sink_callbacks cb = {.size = sizeof cb,
                            .on_start = jsonl_start,
                            .on_record = jsonl_record,
                            .on_interval = jsonl_interval,
                            .on_summary = jsonl_summary,
                            .user = j};
    return dpi_sink_create(&cb, jsonl_destroy, out);
}
