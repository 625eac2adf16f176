/* A tuning result: accessors, free, and its JSON (field names in docs/tune.md). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tune_impl.h"
#include "util/json_out.h"
#include "util/util.h"

DP_API void dp_tune_result_free(dp_tune_result *r) {
    if (!r) return;
    for (int i = 0; i < r->num_strategies; i++) free(r->strategies[i]);
    free(r->strategies);
    free(r->cands);
    free(r->probes);
    free(r);
}

DP_API double dp_tune_best(const dp_tune_result *r, dp_tune_config *best, int *confirmed) {
    if (confirmed) *confirmed = r && r->best >= 0 && r->confirmed;
    if (!r || r->best < 0) return 0;
    if (best) *best = r->cands[r->best].config;
    return r->cands[r->best].capacity;
}

DP_API int dp_tune_num_candidates(const dp_tune_result *r) { return r ? r->num_cands : 0; }
DP_API const dp_tune_candidate *dp_tune_candidates(const dp_tune_result *r) { return r ? r->cands : NULL; }
DP_API int dp_tune_num_probes(const dp_tune_result *r) { return r ? r->num_probes : 0; }
DP_API const dp_tune_probe *dp_tune_probes(const dp_tune_result *r) { return r ? r->probes : NULL; }

DP_API double dp_tune_seconds(const dp_tune_result *r, int *budget_exhausted) {
    if (budget_exhausted) *budget_exhausted = r ? r->exhausted : 0;
    return r ? r->used_s : 0;
}

static const char *precision_name(dp_precision p) {
    return p == DP_PRECISION_BF16 ? "bf16" : p == DP_PRECISION_INT8 ? "int8" : "fp32";
}

static void config_json(cJSON *o, const dp_tune_config *c) {
    cJSON_AddNumberToObject(o, "workers", c->workers);
    cJSON_AddNumberToObject(o, "threads_per_worker", c->threads_per_worker);
    cJSON_AddNumberToObject(o, "max_batch", c->max_batch);
    cJSON_AddNumberToObject(o, "max_delay_us", (double)c->max_delay_us);
    cJSON_AddStringToObject(o, "strategy", c->strategy);
    cJSON_AddStringToObject(o, "precision", precision_name(c->precision));
}

static cJSON *to_json(const dp_tune_result *r) {
    static const char *const phases[] = {"coarse", "fine", "confirm"};
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "slo_p99_ms", r->slo_p99_ms);
    cJSON_AddNumberToObject(j, "budget_s", r->budget_s);
    cJSON_AddNumberToObject(j, "seconds_used", r->used_s);
    cJSON_AddBoolToObject(j, "budget_exhausted", r->exhausted);
    cJSON_AddNumberToObject(j, "cores", r->cores);
    cJSON_AddBoolToObject(j, "oversubscribe", r->oversubscribe);
    cJSON_AddNumberToObject(j, "confidence", r->confidence);
    cJSON_AddNumberToObject(j, "min_samples", (double)r->min_samples);
    cJSON_AddNumberToObject(j, "probe_seconds", r->probe_seconds);
    cJSON_AddNumberToObject(j, "start_rate", r->start_rate);
    if (r->best >= 0) {
        cJSON *b = cJSON_AddObjectToObject(j, "best");
        config_json(b, &r->cands[r->best].config);
        cJSON_AddNumberToObject(b, "capacity", r->cands[r->best].capacity);
        cJSON_AddBoolToObject(b, "confirmed", r->confirmed);
    } else {
        cJSON_AddNullToObject(j, "best");
    }
    cJSON *cs = cJSON_AddArrayToObject(j, "configs");
    for (int i = 0; i < r->num_cands; i++) {
        const dp_tune_candidate *c = &r->cands[i];
        cJSON *o = cJSON_CreateObject();
        config_json(o, &c->config);
        cJSON_AddStringToObject(o, "verdict", dp_tune_verdict_str(c->verdict));
        cJSON_AddNumberToObject(o, "service_ms", c->service_ms);
        cJSON_AddNumberToObject(o, "bound", c->bound);
        cJSON_AddNumberToObject(o, "capacity", c->capacity);
        cJSON_AddNumberToObject(o, "failed_rate", c->failed_rate);
        cJSON_AddItemToArray(cs, o);
    }
    cJSON *ps = cJSON_AddArrayToObject(j, "probes");
    for (int i = 0; i < r->num_probes; i++) {
        const dp_tune_probe *p = &r->probes[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "config", p->candidate);
        cJSON_AddStringToObject(o, "phase", phases[p->phase]);
        cJSON_AddNumberToObject(o, "rate", p->rate);
        cJSON_AddNumberToObject(o, "samples", (double)p->samples);
        cJSON_AddNumberToObject(o, "p99_ms", p->outcome.p99_ms);
        cJSON *ci = cJSON_AddArrayToObject(o, "p99_ci95_ms");
        for (int side = 0; side < 2; side++)
            cJSON_AddItemToArray(ci, isfinite(p->outcome.p99_ci95_ms[side]) ? cJSON_CreateNumber(p->outcome.p99_ci95_ms[side])
                                                                           : cJSON_CreateNull());
        cJSON_AddNumberToObject(o, "throughput", p->outcome.throughput);
        cJSON_AddNumberToObject(o, "dropped", (double)p->outcome.dropped);
        cJSON_AddNumberToObject(o, "failed", (double)p->outcome.failed);
        cJSON_AddNumberToObject(o, "seconds", p->outcome.seconds);
        cJSON_AddBoolToObject(o, "ok", p->ok);
        cJSON_AddItemToArray(ps, o);
    }
    return j;
}

DP_API size_t dp_tune_result_to_json(const dp_tune_result *r, char *buf, size_t cap) {
    if (buf && cap) buf[0] = '\0';
    if (!r) return 0;
    return dpi_json_print_into(to_json(r), buf, cap);
}
