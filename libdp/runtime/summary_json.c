/* dp_summary_to_json: the summary with the field names docs/metrics.md defines. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stddef.h>

#include "pipeline.h"
#include "summary.h"
#include "util/json_out.h"
#include "util/util.h"

static cJSON *latency_json(const dp_latency_ms *l) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "mean", l->mean);
    cJSON_AddNumberToObject(o, "p50", l->p50);
    cJSON_AddNumberToObject(o, "p90", l->p90);
    cJSON_AddNumberToObject(o, "p99", l->p99);
    cJSON_AddNumberToObject(o, "p999", l->p999);
    cJSON_AddNumberToObject(o, "max", l->max);
    return o;
}

/* [lower, upper] per percentile; null where the run had too few samples for that bound. */
static cJSON *ci_json(const dp_latency_ci *c) {
    cJSON *o = cJSON_CreateObject();
    const char *names[4] = {"p50", "p90", "p99", "p999"};
    const double *v[4] = {c->p50, c->p90, c->p99, c->p999};
    for (int k = 0; k < 4; k++) {
        cJSON *pair = cJSON_AddArrayToObject(o, names[k]);
        for (int side = 0; side < 2; side++)
            cJSON_AddItemToArray(pair, isfinite(v[k][side]) ? cJSON_CreateNumber(v[k][side]) : cJSON_CreateNull());
    }
    return o;
}

/* ---- latency breakdown: {"dispatch": {p50, p90, p99, max, mean}, ...} in ms ---- */
static cJSON *breakdown_json(const dp_breakdown_ms *b) {
    cJSON *o = cJSON_CreateObject();
    for (int p = 0; p < DP_PHASES; p++) {
        const dp_latency_ms *l = &b->phase[p];
        cJSON *part = cJSON_AddObjectToObject(o, dp_phase_name(p));
        cJSON_AddNumberToObject(part, "p50", l->p50);
        cJSON_AddNumberToObject(part, "p90", l->p90);
        cJSON_AddNumberToObject(part, "p99", l->p99);
        cJSON_AddNumberToObject(part, "max", l->max);
        cJSON_AddNumberToObject(part, "mean", l->mean);
    }
    return o;
}

static cJSON *worker_json(const dp_worker_summary *w) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "worker", w->worker);
    cJSON_AddNumberToObject(o, "completed", (double)w->completed);
    cJSON_AddNumberToObject(o, "failed", (double)w->failed);
    cJSON_AddNumberToObject(o, "samples", (double)(w->completed + w->failed));
    cJSON_AddNumberToObject(o, "busy_s", w->busy_s);
    cJSON_AddNumberToObject(o, "busy_pct", w->busy_pct);
    cJSON_AddNumberToObject(o, "mean_batch", w->mean_batch);
    cJSON_AddNumberToObject(o, "mean_service_ms", w->mean_service_ms);
    cJSON_AddNumberToObject(o, "queue_hwm", (double)w->queue_hwm);
    cJSON_AddBoolToObject(o, "straggler", w->straggler);
    cJSON_AddNumberToObject(o, "replica", w->replica);
    cJSON_AddNumberToObject(o, "stage", w->stage);
    return o;
}

static cJSON *number_or_null(double v) { return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }

static cJSON *time_or_never(double s) { return s == -1 ? cJSON_CreateString("never") : number_or_null(s); }

static cJSON *fault_json(const dp_fault_report *f) {
    static const char *const kinds[] = {"", "slowdown", "stall", "fail", "stop"};
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "at_s", f->at_s);
    cJSON_AddNumberToObject(o, "worker", f->worker);
    cJSON_AddStringToObject(o, "kind", f->kind >= DP_FAULT_SLOWDOWN && f->kind <= DP_FAULT_STOP ? kinds[f->kind] : "");
    cJSON_AddNumberToObject(o, "value", f->value);
    cJSON_AddItemToObject(o, "applied_s", f->applied_s >= 0 ? cJSON_CreateNumber(f->applied_s) : cJSON_CreateNull());
    cJSON_AddNumberToObject(o, "failed", (double)f->failed);
    cJSON_AddNumberToObject(o, "rerouted", (double)f->rerouted);
    /* What followed: null when not measured, "never" for -1. */
    cJSON_AddItemToObject(o, "window_end_s", number_or_null(f->window_end_s));
    cJSON_AddNumberToObject(o, "window_completed", (double)f->window_completed);
    cJSON_AddItemToObject(o, "p99_after_ms", number_or_null(f->p99_after_ms));
    cJSON_AddItemToObject(o, "recovery_s", time_or_never(f->recovery_s));
    cJSON_AddItemToObject(o, "straggler_s", time_or_never(f->straggler_s));
    cJSON_AddItemToObject(o, "weight_before", number_or_null(f->weight_before));
    cJSON_AddItemToObject(o, "weight_after", number_or_null(f->weight_after));
    cJSON_AddItemToObject(o, "weights_moved_s", time_or_never(f->weights_moved_s));
    return o;
}

void dpi_summary_json_fill(cJSON *o, const dp_summary *s) {
    cJSON_AddNumberToObject(o, "offered", (double)s->offered);
    cJSON_AddNumberToObject(o, "completed", (double)s->completed);
    cJSON_AddNumberToObject(o, "dropped", (double)s->dropped);
    cJSON_AddNumberToObject(o, "dropped_newest", (double)s->dropped_newest);
    cJSON_AddNumberToObject(o, "dropped_oldest", (double)s->dropped_oldest);
    cJSON_AddNumberToObject(o, "failed", (double)s->failed);
    cJSON_AddNumberToObject(o, "target_rate", s->target_rate);
    cJSON_AddNumberToObject(o, "rate_accuracy_pct", s->rate_accuracy_pct);
    cJSON_AddNumberToObject(o, "throughput", s->throughput);
    cJSON_AddNumberToObject(o, "efficiency_pct", s->efficiency_pct);
    cJSON_AddItemToObject(o, "latency_ms", latency_json(&s->latency_ms));
    cJSON_AddItemToObject(o, "latency_ci95_ms", ci_json(&s->latency_ci95_ms));
    cJSON_AddItemToObject(o, "latency_ci99_ms", ci_json(&s->latency_ci99_ms));
    cJSON_AddNumberToObject(o, "cpu_pct", s->cpu_pct);
    cJSON_AddNumberToObject(o, "rss_mb", s->rss_mb);
    cJSON_AddNumberToObject(o, "elapsed_s", s->elapsed_s);
    cJSON_AddNumberToObject(o, "labelled", (double)s->labelled);
    cJSON_AddNumberToObject(o, "correct", (double)s->correct);
    if (s->labelled > 0) cJSON_AddNumberToObject(o, "accuracy_pct", 100.0 * (double)s->correct / (double)s->labelled);
    cJSON_AddNumberToObject(o, "nonfinite_inputs", (double)s->nonfinite_inputs);
    cJSON_AddNumberToObject(o, "records_dropped", (double)s->records_dropped);
    cJSON_AddNumberToObject(o, "signal", s->signal);
    /* Summaries of programs built before the wire counters end before them. */
    if (s->size >= offsetof(dp_summary, wire_bytes_in) + sizeof s->wire_bytes_in) {
        cJSON_AddNumberToObject(o, "wire_bytes_out", (double)s->wire_bytes_out);
        cJSON_AddNumberToObject(o, "wire_bytes_in", (double)s->wire_bytes_in);
    }
    cJSON_AddNumberToObject(o, "workers", s->workers);
    /* A summary from a program built before the breakdown ends before it (docs/c-api.md). */
    int has_breakdown = s->size >= offsetof(dp_summary, per_worker_breakdown_ms) + sizeof s->per_worker_breakdown_ms;
    cJSON *pw = cJSON_AddArrayToObject(o, "per_worker");
    for (int k = 0; s->per_worker && k < s->workers; k++) {
        cJSON *wo = worker_json(&s->per_worker[k]);
        if (has_breakdown && s->per_worker_breakdown_ms)
            cJSON_AddItemToObject(wo, "latency_breakdown_ms", breakdown_json(&s->per_worker_breakdown_ms[k]));
        cJSON_AddItemToArray(pw, wo);
    }
    if (has_breakdown) cJSON_AddItemToObject(o, "latency_breakdown_ms", breakdown_json(&s->breakdown_ms));
    cJSON *ev = cJSON_AddArrayToObject(o, "events");
    for (int i = 0; s->faults && i < s->num_faults; i++) cJSON_AddItemToArray(ev, fault_json(&s->faults[i]));
    dpi_pipeline_json_fill(o, s);
    /* A summary from a program built before the warm-up ends before it. */
    if (s->size >= offsetof(dp_summary, warmup_latency_ms) + sizeof s->warmup_latency_ms) {
        cJSON_AddNumberToObject(o, "warmup_completed", (double)s->warmup_completed);
        cJSON_AddItemToObject(o, "warmup_latency_ms", latency_json(&s->warmup_latency_ms));
    }
}

DP_API size_t dp_summary_to_json(const dp_summary *s, char *buf, size_t cap) {
    if (!s) {
        dpi_error(DP_ERR_INVALID_ARG, "dp_summary_to_json: summary is NULL");
        if (buf && cap) buf[0] = '\0';
        return 0;
    }
    cJSON *o = cJSON_CreateObject();
    if (!o) return 0;
    dpi_summary_json_fill(o, s);
    return dpi_json_print_into(o, buf, cap);
}
