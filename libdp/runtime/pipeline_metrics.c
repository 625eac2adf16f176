/* Pipeline metrics (docs/pipeline.md, "Metrics"): per stage the bytes handed to the next stage
 * and the bubble (idle time while its replica had work in flight), and the pipeline's bubble
 * over all stages; for the summary (and its "pipeline" JSON object) once the workers were
 * joined, and for interval rows during a run. Read from counters and clocks the workers keep
 * with relaxed atomics, without locks. */
#include <cjson/cJSON.h>

#include "pipeline.h"

double dpi_pipeline_rows(const dp_runner *r, int64_t now, dp_stage_summary *rows, double *busy_s) {
    double idle = 0, inflight_sum = 0;
    for (int k = 0; k < r->workers; k++) {
        const dpi_worker *w = &r->w[k];
        double busy = (double)atomic_load_explicit(&w->run.c.busy_ns, memory_order_relaxed) * 1e-9, inflight = busy;
        const dpi_clock *c = w->run.clock;
        if (c) {
            int64_t acc = atomic_load_explicit(&c->acc_ns, memory_order_relaxed);
            /* In flight now: its current stretch counts up to now (at the end of a run none is). */
            if (atomic_load_explicit(&c->inflight, memory_order_relaxed) > 0) acc += now;
            inflight = acc > 0 ? (double)acc * 1e-9 : 0;
        }
        double bubble = inflight > busy ? inflight - busy : 0;
        rows[k] = (dp_stage_summary){.worker = k,
                                     .replica = w->replica,
                                     .stage = w->stage,
                                     .bytes_sent = atomic_load_explicit(&w->run.c.bytes_sent, memory_order_relaxed),
                                     .inflight_s = inflight,
                                     .bubble_pct = inflight > 0 ? 100.0 * bubble / inflight : 0};
        if (busy_s) busy_s[k] = busy;
        idle += bubble;
        inflight_sum += inflight;
    }
    return r->stages > 1 && inflight_sum > 0 ? 100.0 * idle / inflight_sum : 0;
}

void dpi_pipeline_summary(dp_runner *r, dp_summary *S) {
    S->stages = r->stages;
    S->replicas = r->replicas;
    S->bubble_pct = dpi_pipeline_rows(r, r->run.t_end, r->ss, NULL);
    S->per_stage = r->ss;
}

void dpi_pipeline_json_fill(cJSON *o, const dp_summary *s) {
    cJSON *p = cJSON_AddObjectToObject(o, "pipeline");
    if (!p) return;
    cJSON_AddNumberToObject(p, "stages", s->stages);
    cJSON_AddNumberToObject(p, "replicas", s->replicas);
    cJSON_AddNumberToObject(p, "bubble_pct", s->bubble_pct);
    cJSON *rows = cJSON_AddArrayToObject(p, "per_stage");
    for (int k = 0; rows && s->per_stage && s->per_worker && k < s->workers; k++) {
        const dp_stage_summary *st = &s->per_stage[k];
        const dp_worker_summary *w = &s->per_worker[k];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "worker", st->worker);
        cJSON_AddNumberToObject(e, "replica", st->replica);
        cJSON_AddNumberToObject(e, "stage", st->stage);
        cJSON_AddNumberToObject(e, "busy_pct", w->busy_pct);
        cJSON_AddNumberToObject(e, "mean_service_ms", w->mean_service_ms);
        cJSON_AddNumberToObject(e, "queue_hwm", (double)w->queue_hwm);
        cJSON_AddNumberToObject(e, "bytes_sent", (double)st->bytes_sent);
        cJSON_AddNumberToObject(e, "inflight_s", st->inflight_s);
        cJSON_AddNumberToObject(e, "bubble_pct", st->bubble_pct);
        cJSON_AddItemToArray(rows, e);
    }
}
