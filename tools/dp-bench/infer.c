/* dp-bench infer — time back-to-back inference of one model on one execution context.
 *
 * Warm up for --warmup seconds, then run batches back to back for --seconds and report img/s and
 * ms/batch. With --profile, a second pass of the same length runs with per-layer timing (which
 * waits after every layer, so it is kept out of the headline figure) and prints each layer's
 * time, share and oneDNN implementation. */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "cli.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: dp-bench infer --arch A [options]\n"
            "  --arch A           resnet18 | mobilenet_v2 | resnet18_cifar | mobilenetv2_cifar\n"
            "  --batch B          samples per batch (default 1)\n"
            "  --threads T        oneDNN/OpenMP threads of the execution context (default 1)\n"
            "  --precision P      fp32 | bf16 (default fp32)\n"
            "  --backend B        onednn | reference (default onednn)\n"
            "  --seconds S        timed duration (default 5)\n"
            "  --warmup S         untimed warm-up before it (default 1)\n"
            "  --size N           input height and width (default 32)\n"
            "  --classes K        number of classes (default 10)\n"
            "  --weights F        .npz or .safetensors weights (default: seeded)\n"
            "  --seed N           seed of the weights and of the input (default 0)\n"
            "  --profile          also time every layer (separate pass) and print the table\n"
            "  --json F           write the result as JSON to F ('-' = stdout)\n"
            "  --help\n");
}

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

static cJSON *print_profile(dp_exec *e, int batch) {
    int count = 0;
    if (dp_exec_profile(e, NULL, 0, &count) || count <= 0) return NULL;
    dp_layer_profile *p = calloc((size_t)count, sizeof *p);
    cJSON *arr = cJSON_CreateArray();
    if (!p || !arr || dp_exec_profile(e, p, count, &count)) {
        free(p);
        cJSON_Delete(arr);
        return NULL;
    }
    double total = 0;
    for (int i = 0; i < count; i++) total += p[i].total_ms;
    uint64_t calls = p[0].calls ? p[0].calls : 1;
    printf("\nper-layer profile (%llu profiled batches of %d; each layer waited for):\n", (unsigned long long)calls, batch);
    printf("  %-28s %10s %7s  %s\n", "layer", "ms/batch", "share", "implementation");
    for (int i = 0; i < count; i++) {
        double ms = p[i].calls ? p[i].total_ms / (double)p[i].calls : 0;
        double share = total > 0 ? 100.0 * p[i].total_ms / total : 0;
        printf("  %-28s %10.4f %6.1f%%  %s\n", p[i].name, ms, share, p[i].impl);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", p[i].name);
        cJSON_AddStringToObject(o, "impl", p[i].impl);
        cJSON_AddNumberToObject(o, "calls", (double)p[i].calls);
        cJSON_AddNumberToObject(o, "ms_per_batch", ms);
        cJSON_AddNumberToObject(o, "share_pct", share);
        cJSON_AddItemToArray(arr, o);
    }
    printf("  %-28s %10.4f %6.1f%%\n", "total", total / (double)calls, 100.0);
    free(p);
    return arr;
}

int dpb_infer(int argc, char **argv) {
    static const struct option opts[] = {
        {"arch", required_argument, 0, 'a'},    {"batch", required_argument, 0, 'b'},
        {"threads", required_argument, 0, 't'}, {"precision", required_argument, 0, 'p'},
        {"backend", required_argument, 0, 'B'}, {"seconds", required_argument, 0, 's'},
        {"warmup", required_argument, 0, 'w'},  {"size", required_argument, 0, 'S'},
        {"classes", required_argument, 0, 'k'}, {"weights", required_argument, 0, 'W'},
        {"seed", required_argument, 0, 'r'},    {"profile", no_argument, 0, 'P'},
        {"json", required_argument, 0, 'j'},    {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *arch = NULL, *json_path = NULL, *weights = NULL;
    long batch = 1, threads = 1, size = 32, classes = 10, seed = 0;
    double seconds = 5, warmup = 1;
    int profile = 0, c;
    dp_model_opts mo;
    dp_model_opts_init(&mo);
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case 'a': arch = optarg; break;
        case 'b': bad = dpc_parse_int("--batch", optarg, 1, 1 << 16, &batch); break;
        case 't': bad = dpc_parse_int("--threads", optarg, 1, 1024, &threads); break;
        case 'p': bad = dpc_parse_precision(optarg, &mo.precision); break;
        case 'B': bad = dpc_parse_backend(optarg, &mo.backend); break;
        case 's': bad = dpc_parse_double("--seconds", optarg, 0, 86400, &seconds); break;
        case 'w': bad = dpc_parse_double("--warmup", optarg, 0, 86400, &warmup); break;
        case 'S': bad = dpc_parse_int("--size", optarg, 32, 4096, &size); break;
        case 'k': bad = dpc_parse_int("--classes", optarg, 1, 1 << 20, &classes); break;
        case 'W': weights = optarg; break;
        case 'r': bad = dpc_parse_int("--seed", optarg, 0, 0x7fffffffL, &seed); break;
        case 'P': profile = 1; break;
        case 'j': json_path = optarg; break;
        case 'h': usage(stdout); return 0;
        default: return dpc_usage_error("unknown option");
        }
        if (bad) return 2;
    }
    if (optind < argc) return dpc_usage_error("unexpected argument '%s'", argv[optind]);
    if (!arch) return dpc_usage_error("--arch is required");
    mo.num_classes = (int)classes;
    mo.seed = (uint64_t)seed;

    int rc = 1, n = (int)batch, hw = (int)size;
    dp_model *m = NULL;
    dp_exec *e = NULL;
    float *x = NULL, *y = NULL;
    cJSON *json = NULL;
    dp_status s = dp_model_load(arch, weights, &mo, &m);
    if (s) return dpc_fail(s, "loading the model");
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
    const char *prec = mo.precision == DP_PRECISION_BF16 ? "bf16" : "fp32";
    const char *be = mo.backend == DP_BACKEND_REFERENCE ? "reference" : "onednn";
    printf("dp-bench infer: %s batch %d %dx%d, %ld thread(s), %s, %s backend on %s (library %s)\n", arch, n, hw, hw,
           threads, prec, be, dpc_cpu_model(), dp_version_string());
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
    if (profile) {
        if ((s = dp_exec_set_profiling(e, 1)) || (s = timed_runs(e, x, n, hw, y, seconds, &prof))) {
            rc = dpc_fail(s, "profiling");
            goto done;
        }
        cJSON *layers = print_profile(e, n);
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
