/* dp-bench capacity — the highest constant arrival rate whose p99 latency stays within an SLO
 * with nothing dropped. Like perf_analyzer's search: double the rate from --start-rate until a
 * probe fails, then bisect between the last passing and the first failing rate to within 2 %. */
#include <math.h>
#include <stdio.h>

#include "bench.h"
#include "bench_common.h"
#include "cli.h"

typedef struct probe {
    double rate, p99, throughput, efficiency;
    int64_t dropped, failed, samples;
    double p99_ci[2]; /* its 95 % interval (NaN: unbounded) */
    int ok;
} probe;

static int run_probe(dpb_env *e, const dpb_opts *o, double rate, probe *p, int n) {
    /* At least what a p99 with an upper bound needs (--min-samples): at low rates a probe of
     * --seconds would hold a few dozen samples, and its "p99" would be its maximum. */
    int64_t samples = (int64_t)(rate * o->seconds);
    if (samples < o->min_samples) samples = o->min_samples;
    dp_source *src = NULL;
    int rc = dpb_make_source(e, o, rate, samples, &src);
    if (rc) return rc;
    dp_summary s;
    dp_summary_init(&s);
    dp_status st = dp_runner_run(e->runner, src, &s);
    dp_source_free(src);
    if (st != DP_OK) return dpc_fail(st, "probe");
    *p = (probe){.rate = rate,
                 .p99 = s.latency_ms.p99,
                 .throughput = s.throughput,
                 .efficiency = s.efficiency_pct,
                 .dropped = s.dropped,
                 .failed = s.failed,
                 .samples = samples,
                 .p99_ci = {s.latency_ci95_ms.p99[0], s.latency_ci95_ms.p99[1]}};
    p->ok = s.latency_ms.p99 <= o->slo_p99_ms && s.dropped == 0 && s.failed == 0;
    if (!o->quiet)
        printf("probe %2d: %10.1f/s  p99 %9.3f ms  dropped %6lld  throughput %9.1f/s  -> %s\n", n, rate, p->p99,
               (long long)p->dropped, p->throughput, p->ok ? "ok" : "fails");
    fflush(stdout);
    return 0;
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
    enum { MAX_PROBES = 40 };
    probe probes[MAX_PROBES];
    int n = 0;
    double lo = 0, hi = 0, rate = o.start_rate;
    /* Grow (or shrink, at most 16x, if even the first rate fails) by factors of two to bracket
     * the capacity. */
    while (n < MAX_PROBES && rate <= o.max_rate && rate >= o.start_rate / 16) {
        if ((rc = run_probe(&e, &o, rate, &probes[n], n + 1))) goto out;
        if (probes[n++].ok) {
            lo = rate;
            if (hi > 0) break;
            rate *= 2;
        } else {
            hi = rate;
            if (lo > 0) break;
            rate /= 2;
        }
    }
    if (lo > 0 && hi == 0) hi = lo; /* reached --max-rate */
    while (lo > 0 && hi > lo * 1.02 && n < MAX_PROBES) {
        double mid = 0.5 * (lo + hi);
        if ((rc = run_probe(&e, &o, mid, &probes[n], n + 1))) goto out;
        if (probes[n++].ok) lo = mid;
        else hi = mid;
    }
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
        for (int i = 0; i < n; i++) {
            cJSON *p = cJSON_CreateObject();
            cJSON_AddNumberToObject(p, "rate", probes[i].rate);
            cJSON_AddNumberToObject(p, "p99_ms", probes[i].p99);
            cJSON_AddNumberToObject(p, "samples", (double)probes[i].samples);
            cJSON *ci = cJSON_AddArrayToObject(p, "p99_ci95_ms");
            for (int side = 0; side < 2; side++)
                cJSON_AddItemToArray(ci, isfinite(probes[i].p99_ci[side]) ? cJSON_CreateNumber(probes[i].p99_ci[side])
                                                                         : cJSON_CreateNull());
            cJSON_AddNumberToObject(p, "dropped", (double)probes[i].dropped);
            cJSON_AddNumberToObject(p, "failed", (double)probes[i].failed);
            cJSON_AddNumberToObject(p, "throughput", probes[i].throughput);
            cJSON_AddNumberToObject(p, "efficiency_pct", probes[i].efficiency);
            cJSON_AddBoolToObject(p, "ok", probes[i].ok);
            cJSON_AddItemToArray(arr, p);
        }
        dpc_add_provenance(j, argc, argv);
        rc = dpc_write_json(o.json, j);
        cJSON_Delete(j);
    }
out:
    dpb_env_free(&e);
    return rc;
}
