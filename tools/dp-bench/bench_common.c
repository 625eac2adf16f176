/* Flags and set-up shared by dp-bench batch, stream and capacity. */
#include "bench_common.h"

#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct flag {
    const char *name;
    int has_arg;
    int cmds;
} flag;

/* One table for the three commands; `cmds` says which accept each flag. */
static const flag flags[] = {
    {"arch", 1, 7},           {"strategy", 1, 7},    {"workers", 1, 7},        {"threads", 1, 7},
    {"samples", 1, 3},        {"slowdown", 1, 7},    {"data", 1, 7},           {"weights", 1, 7},
    {"seed", 1, 7},           {"precision", 1, 7},   {"classes", 1, 7},        {"max-batch", 1, 7},
    {"max-delay-us", 1, 6},   {"queue-capacity", 1, 6}, {"overflow", 1, 6},    {"rate", 1, 2},
    {"arrival", 1, 2},        {"trace", 1, 2},       {"backend", 1, 7},        {"predictions", 1, 3},
    {"json", 1, 7},           {"csv", 1, 3},         {"jsonl", 1, 3},          {"prometheus", 1, 3},
    {"quiet", 0, 7},          {"pin", 0, 7},         {"straggler-factor", 1, 3}, {"interval-ms", 1, 3},
    {"slo-p99-ms", 1, 4},     {"seconds", 1, 4},     {"start-rate", 1, 4},     {"max-rate", 1, 4},
    {"worker-timeout", 1, 7}, {"retry", 0, 7},      {"help", 0, 7},
};
#define NFLAGS (int)(sizeof flags / sizeof flags[0])

static void defaults(int cmd, dpb_opts *o) {
    /* Runner settings default to the library's own, so the tool cannot drift from them. */
    dp_runner_opts ro;
    dp_runner_opts_init(&ro);
    memset(o, 0, sizeof *o);
    o->cmd = cmd;
    o->arch = "resnet18";
    o->strategy = "uniform";
    o->data = "synthetic";
    o->workers = ro.workers;
    o->threads = ro.threads_per_worker;
    o->samples = cmd == DPB_BATCH ? 1000 : 2500;
    o->max_batch = ro.max_batch;
    o->max_delay_us = ro.max_delay_us;
    o->queue_capacity = ro.queue_capacity;
    o->classes = 10;
    o->seed = 0;
    o->interval_ms = ro.interval_ms;
    o->rate = 500;
    o->straggler_factor = ro.straggler_factor;
    o->slo_p99_ms = 10;
    o->seconds = 2;
    o->start_rate = 100;
    o->max_rate = 100000;
    o->precision = DP_PRECISION_FP32;
    o->arrival = DP_RATE_CONSTANT;
    o->overflow = ro.overflow;
    o->backend = ro.backend;
    o->worker_timeout_s = ro.worker_timeout_s;
}

static int parse_one(dpb_opts *o, const char *name, const char *v) {
#define IS(s) (strcmp(name, s) == 0)
    char opt[64];
    snprintf(opt, sizeof opt, "--%s", name);
    if (IS("arch")) o->arch = v;
    else if (IS("strategy")) o->strategy = v;
    else if (IS("workers")) return dpc_parse_int(opt, v, 1, DPB_MAX_WORKERS, &o->workers);
    else if (IS("threads")) return dpc_parse_int(opt, v, 1, 1024, &o->threads);
    else if (IS("samples")) {
        o->samples_given = 1;
        return dpc_parse_int(opt, v, 0, 1L << 40, &o->samples);
    } else if (IS("slowdown")) return dpc_parse_double_list(opt, v, 1.0, 1e6, o->slowdown, DPB_MAX_WORKERS, &o->num_slowdown);
    else if (IS("data")) o->data = v;
    else if (IS("weights")) o->weights = v;
    else if (IS("seed")) return dpc_parse_int(opt, v, 0, 1L << 62, &o->seed);
    else if (IS("precision")) return dpc_parse_precision(v, &o->precision);
    else if (IS("classes")) return dpc_parse_int(opt, v, 1, 1 << 20, &o->classes);
    else if (IS("max-batch")) return dpc_parse_int(opt, v, 1, 4096, &o->max_batch);
    else if (IS("max-delay-us")) return dpc_parse_int(opt, v, 0, 60000000, &o->max_delay_us);
    else if (IS("queue-capacity")) return dpc_parse_int(opt, v, 1, 1 << 24, &o->queue_capacity);
    else if (IS("interval-ms")) return dpc_parse_int(opt, v, 1, 3600000, &o->interval_ms);
    else if (IS("rate")) return dpc_parse_double(opt, v, 1e-6, 1e9, &o->rate);
    else if (IS("straggler-factor")) return dpc_parse_double(opt, v, 1.0, 1e6, &o->straggler_factor);
    else if (IS("slo-p99-ms")) return dpc_parse_double(opt, v, 1e-3, 1e6, &o->slo_p99_ms);
    else if (IS("worker-timeout")) return dpc_parse_double(opt, v, 1e-3, 1e6, &o->worker_timeout_s);
    else if (IS("retry")) o->retry = 1;
    else if (IS("seconds")) return dpc_parse_double(opt, v, 0.01, 3600, &o->seconds);
    else if (IS("start-rate")) return dpc_parse_double(opt, v, 1e-3, 1e9, &o->start_rate);
    else if (IS("max-rate")) return dpc_parse_double(opt, v, 1e-3, 1e9, &o->max_rate);
    else if (IS("trace")) o->trace = v;
    else if (IS("predictions")) o->predictions = v;
    else if (IS("json")) o->json = v;
    else if (IS("csv")) o->csv = v;
    else if (IS("jsonl")) o->jsonl = v;
    else if (IS("prometheus")) o->prometheus = v;
    else if (IS("quiet")) o->quiet = 1;
    else if (IS("pin")) o->pin = 1;
    else if (IS("arrival")) {
        if (strcmp(v, "constant") == 0) o->arrival = DP_RATE_CONSTANT;
        else if (strcmp(v, "poisson") == 0) o->arrival = DP_RATE_POISSON;
        else if (strcmp(v, "trace") == 0) o->arrival = DP_RATE_TRACE;
        else if (strcmp(v, "unlimited") == 0) o->arrival = DP_RATE_UNLIMITED;
        else {
            dpc_usage_error("--arrival: '%s' is not constant, poisson, trace or unlimited", v);
            return -1;
        }
    } else if (IS("overflow")) {
        if (strcmp(v, "block") == 0) o->overflow = DP_OVERFLOW_BLOCK;
        else if (strcmp(v, "drop-newest") == 0) o->overflow = DP_OVERFLOW_DROP_NEWEST;
        else if (strcmp(v, "drop-oldest") == 0) o->overflow = DP_OVERFLOW_DROP_OLDEST;
        else {
            dpc_usage_error("--overflow: '%s' is not block, drop-newest or drop-oldest", v);
            return -1;
        }
    } else if (IS("backend")) {
        if (strcmp(v, "threads") == 0) o->backend = DP_RUNNER_THREADS;
        else if (strcmp(v, "mpi") == 0) o->backend = DP_RUNNER_MPI;
        else {
            dpc_usage_error("--backend: '%s' is not threads or mpi", v);
            return -1;
        }
    }
    return 0;
#undef IS
}

int dpb_parse(int cmd, int argc, char **argv, dpb_opts *o, void (*usage)(FILE *)) {
    struct option lopts[NFLAGS + 1];
    int map[NFLAGS], n = 0, c, idx;
    defaults(cmd, o);
    for (int i = 0; i < NFLAGS; i++)
        if (flags[i].cmds & cmd) {
            lopts[n] = (struct option){flags[i].name, flags[i].has_arg ? required_argument : no_argument, 0, 0};
            map[n++] = i;
        }
    lopts[n] = (struct option){0, 0, 0, 0};
    optind = 1;
    opterr = 1;
    while ((c = getopt_long(argc, argv, "", lopts, &idx)) != -1) {
        if (c != 0) {
            usage(stderr);
            return 3;
        }
        const char *name = flags[map[idx]].name;
        if (strcmp(name, "help") == 0) {
            usage(stdout);
            return 1;
        }
        if (parse_one(o, name, optarg) != 0) return 3;
    }
    if (optind < argc) return dpc_usage_error("unexpected argument '%s'", argv[optind]) + 1;
    if (o->num_slowdown > o->workers)
        return dpc_usage_error("--slowdown has %d factors for %ld workers", o->num_slowdown, o->workers) + 1;
    if (o->arrival == DP_RATE_TRACE && !o->trace) return dpc_usage_error("--arrival trace needs --trace F") + 1;
    return 0;
}

/* ---- environment ---------------------------------------------------------------------------- */

static int load_data(dpb_env *e, const dpb_opts *o) {
    dp_status s;
    const char *d = o->data;
    if (strcmp(d, "synthetic") == 0) {
        int64_t n = o->cmd == DPB_BATCH ? o->samples : (o->samples < 1000 ? (o->samples > 0 ? o->samples : 1) : 1000);
        s = dp_dataset_synthetic(n, 3, 32, 32, (uint64_t)o->seed, &e->base);
    } else if (strncmp(d, "cifar10:", 8) == 0) {
        s = dp_dataset_cifar10(d + 8, NULL, &e->base);
    } else if (strncmp(d, "fashion-mnist:", 14) == 0) {
        s = dp_dataset_fashion_mnist(d + 14, NULL, &e->base);
    } else if (strncmp(d, "npy:", 4) == 0) {
        s = dp_dataset_npy(d + 4, &e->base);
    } else {
        return dpc_usage_error("--data: '%s' is not cifar10:FILE, fashion-mnist:PATH, npy:FILE or synthetic", d);
    }
    if (s != DP_OK) return dpc_fail(s, "loading the data set");
    e->ds = e->base;
    return 0;
}

/* The first n samples of a larger data set (batch mode --samples). */
static int prefix_get(int64_t i, float *dst, int32_t *label, void *user) {
    return dp_dataset_get(user, i, dst, label) != DP_OK;
}

static void on_result(const dp_result *r, void *ctx, void *user) {
    dpb_env *e = user;
    (void)ctx;
    if (r->status != DP_OK || r->sample_id < 0 || r->sample_id >= e->pred_n) return;
    e->pred_worker[r->sample_id] = r->worker;
    e->pred_top1[r->sample_id] = r->top1;
}

static void log_to_stderr(dp_log_level level, const char *msg, void *user) {
    (void)user;
    fprintf(stderr, "%s: %s: %s\n", dpc_prog(), level == DP_LOG_ERROR ? "error" : "warning", msg);
}

/* s is the status of the create call that filled *sink (evaluated before this call). */
static int add_sink(dpb_env *e, dp_status s, dp_sink **sink, const char *what) {
    if (s != DP_OK) return dpc_fail(s, what);
    e->sinks[e->num_sinks++] = *sink;
    s = dp_runner_add_sink(e->runner, *sink);
    return s != DP_OK ? dpc_fail(s, what) : 0;
}

int dpb_make_source(const dpb_env *e, const dpb_opts *o, double rate, int64_t samples, dp_source **out) {
    dp_source_opts so;
    dp_source_opts_init(&so);
    so.policy = o->arrival;
    so.rate = rate;
    so.samples = samples;
    so.seed = (uint64_t)o->seed + 1;
    so.trace_path = o->trace;
    dp_status s = dp_source_create(e->ds, &so, out);
    return s != DP_OK ? dpc_fail(s, "creating the source") : 0;
}

int dpb_env_init(dpb_env *e, const dpb_opts *o, int sinks) {
    memset(e, 0, sizeof *e);
    dp_set_log_fn(log_to_stderr, NULL, DP_LOG_WARN);
    dp_model_opts mo;
    dp_model_opts_init(&mo);
    mo.num_classes = (int)o->classes;
    mo.precision = o->precision;
    mo.seed = (uint64_t)o->seed;
    dp_status s = dp_model_load(o->arch, o->weights, &mo, &e->model);
    if (s != DP_OK) return dpc_fail(s, "loading the model");
    int rc = load_data(e, o);
    if (rc) return rc;
    if (o->cmd == DPB_BATCH && o->samples_given && o->samples < dp_dataset_count(e->base)) {
        int c, h, w;
        dp_dataset_shape(e->base, &c, &h, &w);
        s = dp_dataset_callback(o->samples, c, h, w, prefix_get, e->base, &e->ds);
        if (s != DP_OK) return dpc_fail(s, "selecting --samples");
    }
    s = dp_partitioner_create(o->strategy, NULL, &e->part);
    if (s != DP_OK) return dpc_fail(s, "--strategy");
    int64_t slots = dp_dataset_count(e->ds);
    if (o->cmd == DPB_STREAM) {
        int64_t n = o->samples_given || o->arrival != DP_RATE_TRACE ? o->samples : 0;
        if ((rc = dpb_make_source(e, o, o->rate, n, &e->src))) return rc;
        slots = dp_source_count(e->src);
    }
    if (o->predictions && slots > 0) {
        e->pred_n = slots;
        e->pred_worker = malloc((size_t)slots * sizeof *e->pred_worker);
        e->pred_top1 = malloc((size_t)slots * sizeof *e->pred_top1);
        if (!e->pred_worker || !e->pred_top1) return dpc_fail(DP_ERR_NOMEM, "--predictions");
        memset(e->pred_worker, 0xff, (size_t)slots * sizeof *e->pred_worker);
    }
    dp_runner_opts ro;
    dp_runner_opts_init(&ro);
    ro.workers = (int)o->workers;
    ro.threads_per_worker = (int)o->threads;
    ro.max_batch = (int)o->max_batch;
    ro.max_delay_us = o->max_delay_us;
    ro.queue_capacity = (int)o->queue_capacity;
    ro.overflow = o->overflow;
    ro.backend = o->backend;
    ro.slowdown = o->num_slowdown ? o->slowdown : NULL;
    ro.num_slowdown = o->num_slowdown;
    ro.straggler_factor = o->straggler_factor;
    ro.pin_workers = o->pin;
    ro.interval_ms = (int)o->interval_ms;
    ro.handle_signals = 1;
    ro.worker_timeout_s = o->worker_timeout_s;
    ro.retry = o->retry;
    if (e->pred_n) {
        ro.on_result = on_result;
        ro.on_result_user = e;
    }
    s = dp_runner_create(e->model, e->part, &ro, &e->runner);
    if (s != DP_OK) return dpc_fail(s, "creating the runner");
    if (!sinks || dp_runner_is_worker_rank(e->runner)) return 0;
    dp_sink *sink = NULL;
    if (!o->quiet) {
        dp_console_opts co;
        dp_console_opts_init(&co);
        if ((rc = add_sink(e, dp_sink_console_create(&co, &sink), &sink, "console sink"))) return rc;
    }
    if (o->csv && (rc = add_sink(e, dp_sink_csv_create(o->csv, &sink), &sink, "--csv"))) return rc;
    if (o->jsonl && (rc = add_sink(e, dp_sink_jsonl_create(o->jsonl, &sink), &sink, "--jsonl"))) return rc;
    if (o->prometheus && (rc = add_sink(e, dp_sink_prometheus_create(o->prometheus, &sink), &sink, "--prometheus")))
        return rc;
    return 0;
}

void dpb_env_free(dpb_env *e) {
    dp_runner_free(e->runner);
    dp_source_free(e->src);
    for (int i = 0; i < e->num_sinks; i++) dp_sink_free(e->sinks[i]);
    dp_partitioner_free(e->part);
    if (e->ds != e->base) dp_dataset_free(e->ds);
    dp_dataset_free(e->base);
    dp_model_free(e->model);
    free(e->pred_worker);
    free(e->pred_top1);
    memset(e, 0, sizeof *e);
}

int dpb_write_predictions(const dpb_env *e, const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "%s: --predictions: cannot write %s\n", dpc_prog(), path);
        return 1;
    }
    fprintf(f, "sample_id,worker,top1\n");
    for (int64_t i = 0; i < e->pred_n; i++)
        if (e->pred_worker[i] >= 0) fprintf(f, "%lld,%d,%d\n", (long long)i, e->pred_worker[i], e->pred_top1[i]);
    if (fclose(f) != 0) {
        fprintf(stderr, "%s: --predictions: cannot write %s\n", dpc_prog(), path);
        return 1;
    }
    return 0;
}

cJSON *dpb_summary_json(const dp_summary *s, const dpb_opts *o, int argc, char **argv) {
    size_t need = dp_summary_to_json(s, NULL, 0);
    char *text = malloc(need + 1);
    if (!text) return NULL;
    dp_summary_to_json(s, text, need + 1);
    cJSON *j = cJSON_Parse(text);
    free(text);
    if (!j) return NULL;
    cJSON_AddStringToObject(j, "arch", o->arch);
    cJSON_AddStringToObject(j, "strategy", o->strategy);
    cJSON_AddNumberToObject(j, "threads_per_worker", (double)o->threads);
    cJSON_AddNumberToObject(j, "max_batch", (double)o->max_batch);
    cJSON_AddStringToObject(j, "precision", o->precision == DP_PRECISION_BF16 ? "bf16" : "fp32");
    cJSON_AddStringToObject(j, "data", o->data);
    if (o->num_slowdown) cJSON_AddItemToObject(j, "slowdown", cJSON_CreateDoubleArray(o->slowdown, o->num_slowdown));
    dpc_add_provenance(j, argc, argv);
    return j;
}

void dpb_print_summary(const char *what, const dp_summary *s) {
    printf("%s: %lld offered, %lld completed, %lld dropped, %lld failed in %.3f s: %.1f samples/s", what,
           (long long)s->offered, (long long)s->completed, (long long)s->dropped, (long long)s->failed, s->elapsed_s,
           s->throughput);
    if (s->target_rate > 0)
        printf(", efficiency %.2f %%, rate accuracy %.3f %%", s->efficiency_pct, s->rate_accuracy_pct);
    printf(", latency p50 %.3f p99 %.3f max %.3f ms", s->latency_ms.p50, s->latency_ms.p99, s->latency_ms.max);
    if (s->labelled > 0) printf(", top-1 accuracy %.2f %%", 100.0 * (double)s->correct / (double)s->labelled);
    printf("\n");
}

int dpb_finish_run(dpb_env *e, const dpb_opts *o, dp_status st, const dp_summary *s, const char *mode, int argc,
                   char **argv) {
    int rc = 0;
    if (dp_runner_is_worker_rank(e->runner)) {
        rc = st == DP_OK ? 0 : dpc_fail(st, "serving");
    } else {
        /* A run that started has a complete summary even when it failed (e.g. a sink could not
         * write) or was stopped: report it, then the failure. */
        if (s->per_worker) {
            if (!o->quiet) dpb_print_summary(mode, s);
            if (o->predictions) rc |= dpb_write_predictions(e, o->predictions);
            if (o->json) {
                cJSON *j = dpb_summary_json(s, o, argc, argv);
                rc |= j ? dpc_write_json(o->json, j) : 1;
                cJSON_Delete(j);
            }
        }
        if (st == DP_ERR_CANCELLED) {
            rc = 128 + (s->signal ? s->signal : SIGINT);
        } else if (st != DP_OK) {
            char what[32];
            snprintf(what, sizeof what, "%s run", mode);
            rc = dpc_fail(st, what);
        }
    }
    dpb_env_free(e);
    return rc;
}
