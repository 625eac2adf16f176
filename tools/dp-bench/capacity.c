/* dp-bench capacity — the highest constant arrival rate whose p99 latency stays within an SLO
 * with nothing dropped. Like perf_analyzer's search: double the rate from --start-rate until a
 * probe fails, then bisect between the last passing and the first failing rate to within 2 %. */
#include <math.h>
#include <stdio.h>

#include "bench.h"
#include "bench_common.h"
#include "cli.h"

typedef struct capacity_ctx {
    dpb_env *e;
    const dpb_opts *o;
} capacity_ctx;

/* One probe on the runner dpb_setup built (the search's one configuration is the flags'), run as
 * dp_tune() runs its probes. */
static dp_status run_probe(const dp_tune_config *cfg, double rate, int64_t samples, dp_tune_outcome *out, void *user) {
    capacity_ctx *c = user;
    (void)cfg;
    dp_source *src = NULL;
    if (dpb_make_source(c->e, c->o, rate, samples, &src)) return DP_ERR_INVALID_ARG; /* message printed */
    dp_status st = dp_tune_probe_runner(c->e->runner, src, out);
    dp_source_free(src);
    return st;
}

static void print_probe(const dp_tune_probe *p, const dp_tune_config *cfg, int k, int planned, double used_s,
                        double budget_s, void *user) {
    (void)cfg, (void)planned, (void)used_s, (void)budget_s, (void)user;
    printf("probe %2d: %10.1f/s  p99 %9.3f ms  dropped %6lld  throughput %9.1f/s  -> %s\n", k, p->rate,
           p->outcome.p99_ms, (long long)p->outcome.dropped, p->outcome.throughput, p->ok ? "ok" : "fails");
    fflush(stdout);
}

int dpb_capacity(const dpc_command *cmd, int argc, char **argv) {
    dpb_opts o;
    dpb_env e;
    int rc = dpb_setup(cmd, argc, argv, &o, &e, 0);
    if (rc != DPC_CONTINUE) return rc;
    if (dp_runner_is_worker_rank(e.runner)) {
        fprintf(stderr, "%s: capacity search runs on one process; use --backend threads\n", dpc_prog());
        dpb_env_free(&e);
        return DPC_EXIT_USAGE;
    }
    /* The tuning search over the one configuration of the flags, without its coarse step,
     * refinement or repeat: double the rate from --start-rate until a probe fails (or halve it, at
     * most 16x, until one passes), then bisect to within 2 %, every probe sized by samples. */
    const int workers = (int)o.workers, threads = (int)o.threads, batch = (int)o.max_batch;
    const int64_t delay = o.max_delay_us;
    const dp_precision precision = (dp_precision)o.precision;
    dp_tune_opts t;
    dp_tune_opts_init(&t);
    t.slo_p99_ms = o.slo_p99_ms;
    t.budget_s = 1e12;
    t.workers = &workers, t.num_workers = 1;
    t.threads = &threads, t.num_threads = 1;
    t.max_batch = &batch, t.num_max_batch = 1;
    t.max_delay_us = &delay, t.num_max_delay_us = 1;
    t.strategies = &o.strategy, t.num_strategies = 1;
    t.precisions = &precision, t.num_precisions = 1;
    t.oversubscribe = 1;
    t.confidence = o.confidence;
    t.min_samples = o.min_samples;
    t.probe_seconds = o.seconds;
    t.start_rate = o.start_rate;
    t.max_rate = o.max_rate;
    t.coarse_tolerance = 0.02;
    t.refine = 0;
    t.confirm = 0;
    t.max_probes = 40;
    t.shrink = 4;
    t.on_probe = o.quiet ? NULL : print_probe;
    capacity_ctx ctx = {&e, &o};
    dp_tune_result *r = NULL;
    /* warmed up as tune warms each configuration up, so the first probe measures the same thing */
    const dp_tune_config cfg = {workers, threads, batch, delay, o.strategy, precision};
    dp_status st = dp_tune_warm_up(e.runner, e.ds, &cfg);
    if (st != DP_OK) {
        rc = dpc_fail(st, "warm-up");
        goto out;
    }
    st = dp_tune_search(&t, run_probe, NULL, &ctx, &r);
    if (st != DP_OK) {
        rc = dpc_fail(st, "probe");
        goto out;
    }
    double lo = dp_tune_best(r, NULL, NULL);
    printf("capacity: %.1f samples/s with p99 <= %g ms and nothing dropped (%s, %s, %ld workers x %ld threads, "
           "max batch %ld, max delay %ld us)\n",
           lo, o.slo_p99_ms, o.arch, o.strategy, o.workers, o.threads, o.max_batch, o.max_delay_us);
    if (o.json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, "capacity", lo);
        cJSON_AddNumberToObject(j, "slo_p99_ms", o.slo_p99_ms);
        cJSON_AddStringToObject(j, "arch", o.arch);
        cJSON_AddStringToObject(j, "strategy", o.strategy);
        cJSON_AddNumberToObject(j, "workers", (double)o.workers);
        cJSON_AddNumberToObject(j, "threads_per_worker", (double)o.threads);
        cJSON_AddNumberToObject(j, "max_batch", (double)o.max_batch);
        cJSON_AddNumberToObject(j, "max_delay_us", (double)o.max_delay_us);
        cJSON_AddNumberToObject(j, "probe_seconds", o.seconds);
        cJSON_AddNumberToObject(j, "min_samples", (double)o.min_samples);
        cJSON_AddNumberToObject(j, "confidence", o.confidence);
        cJSON *arr = cJSON_AddArrayToObject(j, "probes");
        const dp_tune_probe *probes = dp_tune_probes(r);
        for (int i = 0; i < dp_tune_num_probes(r); i++) {
            const dp_tune_probe *q = &probes[i];
            cJSON *p = cJSON_CreateObject();
            cJSON_AddNumberToObject(p, "rate", q->rate);
            cJSON_AddNumberToObject(p, "p99_ms", q->outcome.p99_ms);
            cJSON_AddNumberToObject(p, "samples", (double)q->samples);
            cJSON *ci = cJSON_AddArrayToObject(p, "p99_ci95_ms");
            for (int side = 0; side < 2; side++)
                cJSON_AddItemToArray(ci, isfinite(q->outcome.p99_ci95_ms[side])
                                             ? cJSON_CreateNumber(q->outcome.p99_ci95_ms[side])
                                             : cJSON_CreateNull());
            cJSON_AddNumberToObject(p, "dropped", (double)q->outcome.dropped);
            cJSON_AddNumberToObject(p, "failed", (double)q->outcome.failed);
            cJSON_AddNumberToObject(p, "throughput", q->outcome.throughput);
            cJSON_AddNumberToObject(p, "efficiency_pct", 100 * q->outcome.throughput / q->rate);
            cJSON_AddBoolToObject(p, "ok", q->ok);
            cJSON_AddItemToArray(arr, p);
        }
        dpc_add_provenance(j, argc, argv);
        rc = dpc_write_json(o.json, j);
        cJSON_Delete(j);
    }
out:
    dp_tune_result_free(r);
    dpb_env_free(&e);
    return rc;
}
