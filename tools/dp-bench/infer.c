/* dp-bench infer — time back-to-back inference of one model on one execution context.
 *
 * Warm up for --warmup seconds, then run batches back to back for --seconds and report img/s and
 * ms/batch. With --profile, a second pass of the same length runs with per-layer timing (which
 * waits after every layer, so it is kept out of the headline figure) and prints each layer's
 * time, share and oneDNN implementation. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "cli.h"

typedef struct run_stats {
    long iterations;
    double seconds;
    double cpu_seconds; /* process CPU time: on a shared machine, less sensitive to load than wall time */
} run_stats;

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Back-to-back batches until `seconds` have passed (at least one batch). */
static dp_status timed_runs(dp_exec *e, const float *x, int n, int size, float *y, double seconds, run_stats *out) {
    int64_t t0 = dp_now_ns(), end = t0 + (int64_t)(seconds * 1e9), t = t0;
    double c0 = cpu_now();
    long it = 0;
    do {
        dp_status s = dp_exec_run(e, x, n, size, size, y);
        if (s) return s;
        it++;
        t = dp_now_ns();
    } while (t < end);
    out->iterations = it;
    out->seconds = (double)(t - t0) / 1e9;
    out->cpu_seconds = cpu_now() - c0;
    return DP_OK;
}

/* batches: how many dp_exec_run() calls the profile covers. A batch run as slices lists the
 * slice's layers (and the last, smaller slice's): each row says what it ran on, "8x8" = 8 calls
 * of 8 samples per batch, and its ms are per batch, so the rows still add up to the batch. */
static cJSON *print_profile(dp_exec *e, int batch, long batches) {
    int count = 0;
    if (dp_exec_profile(e, NULL, 0, &count) || count <= 0 || batches <= 0) return NULL;
    dp_layer_profile *p = calloc((size_t)count, sizeof *p);
    cJSON *arr = cJSON_CreateArray();
    if (!p || !arr || dp_exec_profile(e, p, count, &count)) {
        free(p);
        cJSON_Delete(arr);
        return NULL;
    }
    double total = 0;
    for (int i = 0; i < count; i++) total += p[i].total_ms;
    printf("\nper-layer profile (%ld profiled batches of %d", batches, batch);
    if (p[0].batch != batch) {
        printf(", run as slices of %d", p[0].batch);
        if (p[count - 1].batch != p[0].batch) printf(" and one of %d", p[count - 1].batch);
    }
    printf("; each layer waited for):\n");
    printf("  %-28s %10s %7s %7s  %s\n", "layer", "ms/batch", "share", "runs", "implementation");
    for (int i = 0; i < count; i++) {
        double ms = p[i].total_ms / (double)batches, share = total > 0 ? 100.0 * p[i].total_ms / total : 0;
        double per_batch = (double)p[i].calls / (double)batches;
        char runs[32];
        snprintf(runs, sizeof runs, "%.0fx%d", per_batch, p[i].batch);
        printf("  %-28s %10.4f %6.1f%% %7s  %s\n", p[i].name, ms, share, runs, p[i].impl);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", p[i].name);
        cJSON_AddStringToObject(o, "impl", p[i].impl);
        cJSON_AddNumberToObject(o, "calls", (double)p[i].calls);
        cJSON_AddNumberToObject(o, "batch", p[i].batch);
        cJSON_AddNumberToObject(o, "calls_per_batch", per_batch);
        cJSON_AddNumberToObject(o, "ms_per_batch", ms);
        cJSON_AddNumberToObject(o, "share_pct", share);
        cJSON_AddItemToArray(arr, o);
    }
    printf("  %-28s %10.4f %6.1f%%\n", "total", total / (double)batches, 100.0);
    free(p);
    return arr;
}

int dpb_infer(const dpc_command *cmd, int argc, char **argv) {
    dpb_opts o;
    int rc = dpb_parse(cmd, argc, argv, &o);
    if (rc != DPC_CONTINUE) return rc;
    dp_model_opts mo;
    dpb_model_opts(&o, &mo);
    const char *arch = o.arch, *json_path = o.json;
    long threads = o.threads, classes = o.classes, seed = o.seed;
    double seconds = o.seconds, warmup = o.warmup;

    int n = (int)o.batch, hw = (int)o.size;
    rc = DPC_EXIT_FAILED;
    dp_model *m = NULL;
    dp_exec *e = NULL;
    float *x = NULL, *y = NULL;
    cJSON *json = NULL;
    if ((rc = dpc_model_load(arch, o.weights, o.calibration, &mo, &m))) return rc;
    rc = DPC_EXIT_FAILED;
    dp_status s;
    /* This thread runs the benchmark, so it creates the exec (OpenMP team size is per thread). */
    s = dp_exec_create(m, (int)threads, &e);
    if (s) {
        rc = dpc_fail(s, "creating the execution context");
        goto done;
    }
    size_t nx = (size_t)n * 3 * (size_t)hw * (size_t)hw;
    x = malloc(nx * sizeof *x);
    y = malloc((size_t)n * (size_t)classes * sizeof *y);
    if (!x || !y) {
        fprintf(stderr, "%s: out of memory for a batch of %d\n", dpc_prog(), n);
        goto done;
    }
    uint64_t st = (uint64_t)seed * 2654435761u + 1;
    for (size_t i = 0; i < nx; i++) {
        st = st * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((double)(st >> 40) / (double)(1 << 24)) * 2.0f - 1.0f;
    }
    if ((s = dp_exec_prepare(e, n, hw, hw))) {
        rc = dpc_fail(s, "preparing the execution context");
        goto done;
    }
    run_stats warm, timed, prof = {0, 0, 0};
    if ((s = timed_runs(e, x, n, hw, y, warmup, &warm)) || (s = timed_runs(e, x, n, hw, y, seconds, &timed))) {
        rc = dpc_fail(s, "inference");
        goto done;
    }
    double img_s = (double)timed.iterations * n / timed.seconds;
    double ms = timed.seconds * 1e3 / (double)timed.iterations;
    const char *prec = dpc_choice_name(dpc_precisions, o.precision);
    const char *be = dpc_choice_name(dpc_model_backends, o.model_backend);
    printf("dp-bench infer: %s batch %d %dx%d, %ld thread(s), %s, %s backend on %s, oneDNN ISA %s (library %s)\n", arch,
           n, hw, hw, threads, prec, be, dpc_cpu_model(), dp_cpu_isa(), dp_version_string());
    double cpu_ms = timed.cpu_seconds * 1e3 / (double)timed.iterations;
    printf("%ld batches in %.3f s: %.1f img/s, %.3f ms/batch (CPU %.3f ms/batch, %.0f%% of %ld thread(s))\n",
           timed.iterations, timed.seconds, img_s, ms, cpu_ms, 100.0 * timed.cpu_seconds / timed.seconds / (double)threads,
           threads);

    json = cJSON_CreateObject();
    cJSON_AddStringToObject(json, "arch", arch);
    cJSON_AddNumberToObject(json, "batch", n);
    cJSON_AddNumberToObject(json, "threads", (double)threads);
    cJSON_AddStringToObject(json, "precision", prec);
    cJSON_AddStringToObject(json, "backend", be);
    cJSON_AddNumberToObject(json, "size", hw);
    cJSON_AddNumberToObject(json, "classes", (double)classes);
    cJSON_AddNumberToObject(json, "iterations", (double)timed.iterations);
    cJSON_AddNumberToObject(json, "seconds", timed.seconds);
    cJSON_AddNumberToObject(json, "warmup_s", warm.seconds);
    cJSON_AddNumberToObject(json, "img_per_s", img_s);
    cJSON_AddNumberToObject(json, "ms_per_batch", ms);
    cJSON_AddNumberToObject(json, "cpu_ms_per_batch", cpu_ms);
    if (o.profile) {
        if ((s = dp_exec_set_profiling(e, 1)) || (s = timed_runs(e, x, n, hw, y, seconds, &prof))) {
            rc = dpc_fail(s, "profiling");
            goto done;
        }
        cJSON *layers = print_profile(e, n, prof.iterations);
        if (layers) cJSON_AddItemToObject(json, "profile", layers);
    }
    dpc_add_provenance(json, argc, argv);
    rc = json_path ? dpc_write_json(json_path, json) : 0;
done:
    cJSON_Delete(json);
    free(x);
    free(y);
    dp_exec_free(e);
    dp_model_free(m);
    return rc;
}
