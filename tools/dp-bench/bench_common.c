/* Set-up shared by dp-bench batch, stream and capacity. */
#define _GNU_SOURCE /* nanosleep */
#include "bench_common.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "inject.h"
#include "repeats.h"

/* ---- environment ---------------------------------------------------------------------------- */

int dpb_open_data(const dpb_opts *o, dp_dataset **out) {
    dp_status s;
    const char *d = o->data;
    if (strcmp(d, "synthetic") == 0) {
        /* Batch mode generates every sample; a stream cycles through at most 1000 of them. */
        int64_t n = o->cmd == DPB_BATCH || o->cmd == DPB_CALIBRATE ? (o->samples < 0 ? 1000 : o->samples)
                                          : (o->samples < 0 || o->samples > 1000 ? 1000 : o->samples > 0 ? o->samples : 1);
        s = dp_dataset_synthetic(n, 3, 32, 32, (uint64_t)o->seed, out);
    } else if (strncmp(d, "cifar10:", 8) == 0) {
        s = dp_dataset_cifar10(d + 8, NULL, out);
    } else if (strncmp(d, "fashion-mnist:", 14) == 0) {
        s = dp_dataset_fashion_mnist(d + 14, NULL, out);
    } else {
        s = dp_dataset_npy(d + 4, out); /* npy:FILE (the only other spec the flag takes) */
    }
    return s != DP_OK ? dpc_fail(s, "loading the data set") : 0;
}

static int load_data(dpb_env *e, const dpb_opts *o) {
    int rc = dpb_open_data(o, &e->base);
    e->ds = e->base;
    return rc;
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
    so.policy = (dp_rate_policy)o->arrival;
    so.rate = rate;
    so.samples = samples;
    so.seed = (uint64_t)o->seed + 1;
    so.trace_path = o->trace;
    dp_status s = dp_source_create(e->ds, &so, out);
    return s != DP_OK ? dpc_fail(s, "creating the source") : 0;
}

static int env_init(dpb_env *e, const dpb_opts *o, int sinks) {
    dp_set_log_fn(log_to_stderr, NULL, DP_LOG_WARN);
    dp_model_opts mo;
    dpb_model_opts(o, &mo);
    int rc = dpc_model_load(o->arch, o->weights, o->calibration, &mo, &e->model);
    if (rc) return rc;
    rc = load_data(e, o);
    dp_status s;
    if (rc) return rc;
    if (o->cmd == DPB_BATCH && o->samples >= 0 && o->samples < dp_dataset_count(e->base)) {
        int c, h, w;
        dp_dataset_shape(e->base, &c, &h, &w);
        s = dp_dataset_callback(o->samples, c, h, w, prefix_get, e->base, &e->ds);
        if (s != DP_OK) return dpc_fail(s, "selecting --samples");
    }
    s = dp_partitioner_create(o->strategy, NULL, &e->part);
    if (s != DP_OK) return dpc_fail(s, "--strategy");
    int64_t slots = dp_dataset_count(e->ds);
    if (o->cmd == DPB_STREAM) {
        /* A trace gives one sample per entry unless --samples says otherwise. */
        int64_t n = o->samples >= 0 ? o->samples : o->arrival == DP_RATE_TRACE ? 0 : 2500;
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
    ro.overflow = (dp_overflow)o->overflow;
    ro.backend = (dp_runner_backend)o->backend;
    ro.slowdown = o->slowdown.n ? o->slowdown.v : NULL;
    ro.num_slowdown = o->slowdown.n;
    ro.straggler_factor = o->straggler_factor;
    ro.pin_workers = o->pin;
    ro.interval_ms = (int)o->interval_ms;
    ro.handle_signals = 1;
    ro.worker_timeout_s = o->worker_timeout_s;
    ro.retry = o->retry;
    ro.rank_concurrency = (int)o->rank_concurrency;
    ro.warmup_s = o->warmup;
    ro.warmup_samples = o->warmup_samples;
    if (e->pred_n) {
        ro.on_result = on_result;
        ro.on_result_user = e;
    }
    s = dp_runner_create(e->model, e->part, &ro, &e->runner);
    if (s != DP_OK) return dpc_fail(s, "creating the runner");
    if ((rc = dpb_set_stages(e, o))) return rc;
    for (int i = 0; i < o->inject.n; i++) {
        dpb_fault f;
        dpb_fault_parse(o->inject.v[i], &f);
        s = dp_runner_inject(e->runner, f.at_s, f.worker, f.kind, f.value);
        if (s != DP_OK) return dpc_fail(s, "--inject");
    }
    if (dp_runner_is_worker_rank(e->runner)) return 0;
    dp_sink *sink = NULL;
    if (o->dashboard) {
        if ((rc = dpb_dashboard_create(o, &sink, &e->dashboard_port))) return rc;
        if (sink && (rc = add_sink(e, DP_OK, &sink, "--dashboard"))) return rc;
        e->dashboard_linger = o->dashboard_linger;
    }
    if (!sinks) return 0;
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

int dpb_dashboard_create(const dpb_opts *o, dp_sink **out, int *port) {
    *out = NULL;
    *port = -1;
    dp_dashboard_opts dopts;
    dp_dashboard_opts_init(&dopts);
    dopts.host_port = o->dashboard;
    if (o->cmd == DPB_CAPACITY || o->cmd == DPB_TUNE) dopts.slo_p99_ms = o->slo_p99_ms;
    /* Watching is optional: a port in use costs the dashboard, not the run. */
    dp_status ds = dp_sink_dashboard_create(&dopts, out);
    if (ds == DP_ERR_BUSY) {
        fprintf(stderr, "%s: warning: --dashboard: %s; the run goes on without it\n", dpc_prog(), dp_last_error());
        return 0;
    }
    if (ds != DP_OK) return dpc_fail(ds, "--dashboard");
    *port = dp_sink_dashboard_port(*out);
    int host_len = (int)(strrchr(o->dashboard, ':') - o->dashboard); /* the flag checked the ':' */
    fprintf(stderr, "%s: dashboard at http://%.*s:%d/\n", dpc_prog(), host_len ? host_len : 9,
            host_len ? o->dashboard : "localhost", *port);
    return 0;
}

void dpb_linger(int port, double seconds) {
    if (port <= 0 || seconds <= 0) return;
    fprintf(stderr, "%s: the dashboard stays up on port %d for %g s (Ctrl-C ends it)\n", dpc_prog(), port, seconds);
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

int dpb_setup(const dpc_command *cmd, int argc, char **argv, dpb_opts *o, dpb_env *e, int sinks) {
    memset(e, 0, sizeof *e);
    int rc = dpb_parse(cmd, argc, argv, o);
    if (rc != DPC_CONTINUE) return rc;
    if ((rc = env_init(e, o, sinks)) == 0) return DPC_CONTINUE;
    dpb_env_free(e);
    return rc;
}

void dpb_env_free(dpb_env *e) {
    dpb_linger(e->dashboard_port, e->dashboard_linger);
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

/* --slo-p99-ms on stream: the early-stopping verdict on the run's samples (docs/metrics.md,
 * "Confidence"), printed and kept for the JSON. */
static void slo_verdict(dpb_env *e, const dpb_opts *o) {
    int64_t n = 0, over = 0;
    int holds = 0;
    if (dp_runner_latency_over(e->runner, o->slo_p99_ms, &n, &over) != DP_OK ||
        dp_quantile_within(n, over, 0.99, 0.99, &holds) != DP_OK)
        return;
    e->slo_n = n;
    e->slo_over = over;
    e->slo_holds = holds;
    printf("p99 <= %g ms: %s at 99 %% confidence (%lld of %lld samples over it%s)\n", o->slo_p99_ms,
           holds ? "holds" : over * 100 > n ? "does not hold" : "not shown", (long long)over, (long long)n,
           holds || over * 100 > n ? "" : "; more samples could show it");
}

cJSON *dpb_summary_json(const dpb_env *e, const dp_summary *s, const dpb_opts *o, int argc, char **argv) {
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
    cJSON_AddStringToObject(j, "precision", dpc_choice_name(dpc_precisions, o->precision));
    cJSON_AddStringToObject(j, "data", o->data);
    if (o->slowdown.n) cJSON_AddItemToObject(j, "slowdown", cJSON_CreateDoubleArray(o->slowdown.v, o->slowdown.n));
    if (o->cmd == DPB_STREAM && o->slo_p99_ms > 0) {
        cJSON *slo = cJSON_AddObjectToObject(j, "slo");
        cJSON_AddNumberToObject(slo, "p99_ms", o->slo_p99_ms);
        cJSON_AddNumberToObject(slo, "samples", (double)e->slo_n);
        cJSON_AddNumberToObject(slo, "over", (double)e->slo_over);
        cJSON_AddBoolToObject(slo, "holds_99", e->slo_holds);
    }
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
    if (s->warmup_completed > 0)
        printf("warm-up: %lld completed samples left out of the figures above, latency p50 %.3f p99 %.3f ms\n",
               (long long)s->warmup_completed, s->warmup_latency_ms.p50, s->warmup_latency_ms.p99);
    for (int i = 0; i < s->num_faults; i++) dpb_fault_print(&s->faults[i]);
}

int dpb_finish_run(dpb_env *e, const dpb_opts *o, dp_status st, const dp_summary *s, const char *mode, int argc,
                   char **argv, const cJSON *repeats) {
    int rc = 0;
    if (dp_runner_is_worker_rank(e->runner)) {
        rc = st == DP_OK ? 0 : dpc_fail(st, "serving");
    } else {
        /* A run that started has a complete summary even when it failed (e.g. a sink could not
         * write) or was stopped: report it, then the failure. */
        if (s->per_worker) {
            if (!o->quiet) dpb_print_summary(mode, s);
            if (repeats) dpb_repeats_print(stdout, repeats);
            if (o->cmd == DPB_STREAM && o->slo_p99_ms > 0) slo_verdict(e, o);
            if (o->predictions) rc |= dpb_write_predictions(e, o->predictions);
            if (o->json) {
                cJSON *j = dpb_summary_json(e, s, o, argc, argv);
                if (j) dpb_stages_json(j, e, o);
                if (j && repeats) cJSON_AddItemReferenceToObject(j, "repeats", (cJSON *)repeats);
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
