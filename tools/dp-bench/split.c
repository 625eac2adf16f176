/* dp-bench split — plan pipeline stages and check the plan (docs/pipeline.md).
 *
 * Profile the model's units (dp_model_profile), plan S stages three ways — the optimal planner,
 * its greedy variant and the equal-unit-count split — and for each plan time every stage model
 * on its own exec: predicted and measured ms per micro-batch (divided by the stage's --speeds
 * factor), and the bytes per sample a stage sends to the next. */
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "cli.h"
#include "dataparallel.h"

#define MAX_UNITS 128

/* Mean ms of `iters` runs of stage on a fresh exec (after one warm-up run). */
static dp_status time_stage(const dp_model *stage, const dpb_opts *o, double *ms) {
    int in[3], out[3], n = (int)o->batch, hw = (int)o->size;
    dp_status s = dp_model_io_shape(stage, hw, hw, in, out);
    if (s) return s;
    size_t nin = (size_t)n * in[0] * in[1] * in[2];
    float *x = malloc(nin * sizeof *x), *y = malloc((size_t)n * out[0] * out[1] * out[2] * sizeof *y);
    dp_exec *e = NULL;
    if (!x || !y) {
        free(x);
        free(y);
        return DP_ERR_NOMEM;
    }
    for (size_t i = 0; i < nin; i++) x[i] = (float)(i % 251) / 251.0f - 0.5f;
    if (!(s = dp_exec_create(stage, (int)o->threads, &e)) && !(s = dp_exec_run(e, x, n, hw, hw, y))) {
        int64_t t0 = dp_now_ns();
        for (long k = 0; k < o->iters && !s; k++) s = dp_exec_run(e, x, n, hw, hw, y);
        *ms = (double)(dp_now_ns() - t0) / 1e6 / (double)o->iters;
    }
    dp_exec_free(e);
    free(x);
    free(y);
    return s;
}

/* Print one plan (cuts[S-1]) and add it to plans[]; 0 or the exit status. */
static int report_plan(const char *method, const dp_model *m, const dp_unit_info *u, int nu, const int *cuts,
                       const dpb_opts *o, const dp_split_opts *so, cJSON *plans) {
    int S = (int)o->stages;
    double predicted[DPC_LIST_MAX], worst_pred = 0, worst_meas = 0;
    dp_model *stages[DPC_LIST_MAX];
    dp_status s;
    /* The planner's cost model for these cuts (which may be another method's). */
    for (int k = 0; k < S; k++) {
        int a = k ? cuts[k - 1] : 0, b = k + 1 < S ? cuts[k] : nu;
        predicted[k] = 0;
        for (int i = a; i < b; i++) predicted[k] += u[i].ms;
        predicted[k] /= so->speeds ? so->speeds[k] : 1.0;
        if (b < nu && so->link_bytes_per_s > 0) predicted[k] += 1e3 * (double)u[b - 1].out_bytes * so->batch / so->link_bytes_per_s;
    }
    if ((s = dp_model_split(m, cuts, S - 1, stages))) return dpc_fail(s, "splitting the model");
    cJSON *plan = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(plan, "stages");
    cJSON_AddStringToObject(plan, "method", method);
    printf("\n%s:\n  %-5s %-26s %12s %12s %14s\n", method, "stage", "units", "predicted_ms", "measured_ms",
           "bytes/sample");
    for (int k = 0; k < S && !s; k++) {
        int a = k ? cuts[k - 1] : 0, b = k + 1 < S ? cuts[k] : nu;
        double ms = 0;
        if ((s = time_stage(stages[k], o, &ms))) break;
        ms /= so->speeds ? so->speeds[k] : 1.0;
        size_t sent = b < nu ? u[b - 1].out_bytes : 0;
        char range[80];
        snprintf(range, sizeof range, "%s..%s", u[a].name, u[b - 1].name);
        printf("  %-5d %-26s %12.3f %12.3f %14zu\n", k, range, predicted[k], ms, sent);
        worst_pred = predicted[k] > worst_pred ? predicted[k] : worst_pred;
        worst_meas = ms > worst_meas ? ms : worst_meas;
        cJSON *st = cJSON_CreateObject();
        cJSON_AddStringToObject(st, "first", u[a].name);
        cJSON_AddStringToObject(st, "last", u[b - 1].name);
        cJSON_AddNumberToObject(st, "predicted_ms", predicted[k]);
        cJSON_AddNumberToObject(st, "measured_ms", ms);
        cJSON_AddNumberToObject(st, "bytes_per_sample_sent", (double)sent);
        cJSON_AddNumberToObject(st, "params", (double)dp_model_param_count(stages[k]));
        cJSON_AddItemToArray(arr, st);
    }
    for (int k = 0; k < S; k++) dp_model_free(stages[k]);
    if (s) {
        cJSON_Delete(plan);
        return dpc_fail(s, "timing a stage");
    }
    printf("  slowest stage: predicted %.3f ms, measured %.3f ms\n", worst_pred, worst_meas);
    cJSON_AddNumberToObject(plan, "bottleneck_predicted_ms", worst_pred);
    cJSON_AddNumberToObject(plan, "bottleneck_measured_ms", worst_meas);
    cJSON_AddItemToArray(plans, plan);
    return 0;
}

int dpb_split(const dpc_command *cmd, int argc, char **argv) {
    dpb_opts o;
    int rc = dpb_parse(cmd, argc, argv, &o);
    if (rc != DPC_CONTINUE) return rc;
    dp_model_opts mo;
    dpb_model_opts(&o, &mo);
    dp_model *m = NULL;
    dp_unit_info u[MAX_UNITS];
    int nu = 0, S = (int)o.stages;
    dp_status s = dp_model_load(o.arch, o.weights, &mo, &m);
    if (s) return dpc_fail(s, "loading the model");
    if ((s = dp_model_profile(m, (int)o.batch, (int)o.threads, (int)o.size, (int)o.size, (int)o.iters, u, MAX_UNITS,
                              &nu))) {
        dp_model_free(m);
        return dpc_fail(s, "profiling the model");
    }
    if (S > nu) {
        dp_model_free(m);
        return dpc_usage_error("--stages %d: %s has %d units", S, o.arch, nu);
    }
    dp_split_opts so;
    dp_split_opts_init(&so);
    so.stages = S;
    so.speeds = o.speeds.n ? o.speeds.v : NULL;
    so.link_bytes_per_s = o.link_gbps * 1e9 / 8;
    so.batch = (int)o.batch;
    printf("dp-bench split: %s batch %ld %ldx%ld, %ld thread(s), %d stages over %d units on %s (library %s)\n", o.arch,
           o.batch, o.size, o.size, o.threads, S, nu, dpc_cpu_model(), dp_version_string());
    cJSON *json = cJSON_CreateObject(), *plans = cJSON_AddArrayToObject(json, "plans");
    cJSON_AddStringToObject(json, "arch", o.arch);
    cJSON_AddNumberToObject(json, "stages", S);
    cJSON_AddNumberToObject(json, "batch", (double)o.batch);
    int cuts[DPC_LIST_MAX];
    so.method = DP_SPLIT_OPTIMAL;
    if (!(s = dp_split_plan(u, nu, &so, cuts, NULL))) rc = report_plan("optimal", m, u, nu, cuts, &o, &so, plans);
    so.method = DP_SPLIT_GREEDY;
    if (!s && !rc && !(s = dp_split_plan(u, nu, &so, cuts, NULL))) rc = report_plan("greedy", m, u, nu, cuts, &o, &so, plans);
    for (int k = 0; k + 1 < S; k++) cuts[k] = (int)((long)nu * (k + 1) / S);
    if (!s && !rc) rc = report_plan("equal-units", m, u, nu, cuts, &o, &so, plans);
    if (s) rc = dpc_fail(s, "planning");
    dpc_add_provenance(json, argc, argv);
    if (!rc && o.json) rc = dpc_write_json(o.json, json);
    cJSON_Delete(json);
    dp_model_free(m);
    return rc;
}
