/* dp-bench --stages/--cuts/--depth: laying a runner out as a pipeline, and the stages in the
 * JSON result (docs/pipeline.md). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>

#include "bench_common.h"
#include "cli.h"

/* "layer3.0,layer4.0" into unit indices; 0 or the exit status (message printed). */
static int parse_cuts(const dp_model *m, const char *spec, int *cuts, int cap, int *n) {
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", spec);
    *n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (*n == cap) return dpc_usage_error("--cuts: more than %d cuts", cap);
        if (dp_model_unit_index(m, tok, &cuts[(*n)++]) != DP_OK) return dpc_usage_error("--cuts: %s", dp_last_error());
    }
    return 0;
}

int dpb_set_stages(dpb_env *e, const dpb_opts *o) {
    if (o->stages == 1 && strcmp(o->cuts, "auto") == 0) return 0;
    int cuts[DPC_LIST_MAX], n = 0, rc;
    dp_stage_opts so;
    dp_stage_opts_init(&so);
    so.stages = (int)o->stages;
    so.depth = (int)o->depth;
    so.link_bytes_per_s = o->link_gbps * 1e9 / 8;
    if (strcmp(o->cuts, "auto") != 0) {
        if ((rc = parse_cuts(e->model, o->cuts, cuts, DPC_LIST_MAX, &n))) return rc;
        if (n != o->stages - 1) return dpc_usage_error("--cuts names %d cuts, --stages %ld needs %ld", n, o->stages, o->stages - 1);
        so.cuts = cuts;
        so.num_cuts = n;
    }
    dp_status s = dp_runner_set_stages(e->runner, &so);
    return s != DP_OK ? dpc_fail(s, "--stages") : 0;
}

void dpb_stages_json(cJSON *j, const dpb_env *e, const dpb_opts *o) {
    dp_unit_info units[256];
    int cuts[DPC_LIST_MAX], n = 0, nu = 0;
    cJSON_AddNumberToObject(j, "stages", (double)o->stages);
    cJSON_AddNumberToObject(j, "replicas", (double)(o->workers / o->stages));
    cJSON_AddNumberToObject(j, "depth", (double)o->depth);
    if (dp_runner_get_cuts(e->runner, cuts, DPC_LIST_MAX, &n) != DP_OK ||
        dp_model_units(e->model, 32, 32, units, 256, &nu) != DP_OK)
        return;
    cJSON *a = cJSON_AddArrayToObject(j, "cuts");
    for (int k = 0; k < n && cuts[k] < nu; k++) cJSON_AddItemToArray(a, cJSON_CreateString(units[cuts[k]].name));
}
