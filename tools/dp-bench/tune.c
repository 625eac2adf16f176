/* dp-bench tune — the library's tuning search (docs/tune.md) on real runs: progress on stderr,
 * every configuration and probe and the best as a ready `dp-bench stream` command on stdout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "bench_common.h"
#include "cli.h"

typedef struct tune_ctx {
    int quiet;
} tune_ctx;

static void config_text(const dp_tune_config *c, char *buf, size_t cap) {
    snprintf(buf, cap, "%dw x %dt b%-3d d%-6lld %-8s %s", c->workers, c->threads_per_worker, c->max_batch,
             (long long)c->max_delay_us, c->strategy, dpc_choice_name(dpc_precisions, (int)c->precision));
}

static void progress(const dp_tune_probe *p, const dp_tune_config *cfg, int k, int planned, double used_s,
                     double budget_s, void *user) {
    static const char *const phases[] = {"coarse", "fine", "confirm"};
    if (((tune_ctx *)user)->quiet) return;
    char c[96];
    config_text(cfg, c, sizeof c);
    double left = budget_s - used_s, eta = (double)(planned - k) * used_s / k;
    fprintf(stderr, "%s: probe %d/%d %-7s %s  %9.1f/s  p99 %8.3f ms  dropped %lld -> %s  (%.0f of %.0f s, ETA %.0f s)\n",
            dpc_prog(), k, planned > k ? planned : k, phases[p->phase], c, p->rate, p->outcome.p99_ms,
            (long long)p->outcome.dropped, p->ok ? "ok" : "fails", used_s, budget_s,
            eta < left ? eta : left > 0 ? left : 0);
}

/* The best configuration as the command that serves it. */
static void stream_command(const dpb_opts *o, const dp_tune_config *b, double rate, char *buf, size_t cap) {
    snprintf(buf, cap,
             "dp-bench stream --arch %s --workers %d --threads %d --max-batch %d --max-delay-us %lld --strategy %s "
             "--precision %s --rate %.0f --slo-p99-ms %g%s%s",
             o->arch, b->workers, b->threads_per_worker, b->max_batch, (long long)b->max_delay_us, b->strategy,
             dpc_choice_name(dpc_precisions, (int)b->precision), rate, o->slo_p99_ms,
             o->weights ? " --weights " : "", o->weights ? o->weights : "");
}

static void print_tables(const dp_tune_result *r) {
    const dp_tune_candidate *c = dp_tune_candidates(r);
    printf("%-4s %-40s %10s %10s %10s  %s\n", "#", "configuration", "service ms", "bound/s", "capacity/s", "verdict");
    for (int i = 0; i < dp_tune_num_candidates(r); i++) {
        char t[96];
        config_text(&c[i].config, t, sizeof t);
        printf("%-4d %-40s %10.3f %10.1f %10.1f  %s\n", i, t, c[i].service_ms, c[i].bound, c[i].capacity,
               dp_tune_verdict_str(c[i].verdict));
    }
    static const char *const phases[] = {"coarse", "fine", "confirm"};
    printf("\n%-4s %-4s %-8s %10s %8s %10s %8s  %s\n", "k", "cfg", "phase", "rate/s", "samples", "p99 ms", "dropped",
           "verdict");
    const dp_tune_probe *p = dp_tune_probes(r);
    for (int i = 0; i < dp_tune_num_probes(r); i++)
        printf("%-4d %-4d %-8s %10.1f %8lld %10.3f %8lld  %s\n", i + 1, p[i].candidate, phases[p[i].phase], p[i].rate,
               (long long)p[i].samples, p[i].outcome.p99_ms, (long long)p[i].outcome.dropped, p[i].ok ? "ok" : "fails");
    printf("\n");
}

static int write_json(const dp_tune_result *r, const dpb_opts *o, const char *command, int argc, char **argv) {
    size_t need = dp_tune_result_to_json(r, NULL, 0);
    char *text = malloc(need + 1);
    if (!text) return dpc_fail(DP_ERR_NOMEM, "--json");
    dp_tune_result_to_json(r, text, need + 1);
    cJSON *j = cJSON_Parse(text);
    free(text);
    if (!j) return dpc_fail(DP_ERR_INTERNAL, "--json");
    cJSON_AddStringToObject(j, "arch", o->arch);
    if (command) cJSON_AddStringToObject(j, "stream_command", command);
    else cJSON_AddNullToObject(j, "stream_command");
    dpc_add_provenance(j, argc, argv);
    int rc = dpc_write_json(o->json, j);
    cJSON_Delete(j);
    return rc;
}

/* dpc_ints (long) into the int / int64 arrays the search takes. */
static void ints(const dpc_ints *l, int *out) {
    for (int i = 0; i < l->n; i++) out[i] = (int)l->v[i];
}

int dpb_tune(const dpc_command *cmd, int argc, char **argv) {
    dpb_opts o;
    int rc = dpb_parse(cmd, argc, argv, &o);
    if (rc != DPC_CONTINUE) return rc;
    int workers[DPC_LIST_MAX], threads[DPC_LIST_MAX], batches[DPC_LIST_MAX];
    int64_t delays[DPC_LIST_MAX];
    dp_precision precisions[DPC_LIST_MAX];
    ints(&o.workers_list, workers);
    ints(&o.threads_list, threads);
    ints(&o.batch_list, batches);
    for (int i = 0; i < o.delay_list.n; i++) delays[i] = o.delay_list.v[i];
    for (int i = 0; i < o.precisions.n; i++)
        for (const dpc_choice *c = dpc_precisions; c->name; c++)
            if (strcmp(c->name, o.precisions.v[i]) == 0) precisions[i] = (dp_precision)c->value;
    if (!o.precisions.n) precisions[0] = (dp_precision)o.precision;
    int int8 = 0;
    for (int i = 0; i < (o.precisions.n ? o.precisions.n : 1); i++) int8 |= precisions[i] == DP_PRECISION_INT8;
    if (int8 && !o.calibration) return dpc_usage_error("int8 needs --calibration FILE (dp-bench calibrate writes one)");

    dp_tune_opts t;
    dp_tune_opts_init(&t);
    t.slo_p99_ms = o.slo_p99_ms;
    t.budget_s = o.budget_s;
    t.workers = workers, t.num_workers = o.workers_list.n;
    t.threads = threads, t.num_threads = o.threads_list.n;
    t.max_batch = batches, t.num_max_batch = o.batch_list.n;
    t.max_delay_us = delays, t.num_max_delay_us = o.delay_list.n;
    t.strategies = o.strategies.v, t.num_strategies = o.strategies.n;
    t.precisions = precisions, t.num_precisions = o.precisions.n ? o.precisions.n : 1;
    t.cores = (int)o.cores;
    t.oversubscribe = o.oversubscribe;
    t.confidence = o.confidence;
    t.min_samples = o.min_samples;
    t.probe_seconds = o.seconds;
    t.start_rate = o.start_rate;
    tune_ctx ctx = {o.quiet};
    t.on_probe = progress;
    t.on_probe_user = &ctx;

    dp_dataset *ds = NULL;
    dp_calibration *cal = NULL;
    dp_sink *dash = NULL;
    dp_tune_result *r = NULL;
    int port = -1;
    dp_model_opts mo;
    dpb_model_opts(&o, &mo);
    dp_status st;
    if ((rc = dpb_open_data(&o, &ds))) goto out;
    if (o.calibration && (st = dp_calibration_load(o.calibration, &cal)) != DP_OK) {
        rc = dpc_fail(st, "--calibration");
        goto out;
    }
    mo.calibration = cal;
    if (o.dashboard && (rc = dpb_dashboard_create(&o, &dash, &port))) goto out;
    t.sinks = dash ? &dash : NULL;
    t.num_sinks = dash ? 1 : 0;
    if (!o.quiet)
        fprintf(stderr, "%s: %s, p99 <= %g ms, budget %g s, probes of %g s and %lld samples at least\n", dpc_prog(),
                o.arch, o.slo_p99_ms, o.budget_s, o.seconds, (long long)o.min_samples);
    if ((st = dp_tune(o.arch, o.weights, &mo, ds, &t, &r)) != DP_OK) {
        rc = dpc_fail(st, "tune");
        goto out;
    }
    dp_tune_config best;
    int confirmed = 0, exhausted = 0;
    double cap = dp_tune_best(r, &best, &confirmed);
    double used = dp_tune_seconds(r, &exhausted);
    char command[512];
    if (cap > 0) stream_command(&o, &best, cap, command, sizeof command);
    if (!o.quiet) print_tables(r);
    if (cap > 0) {
        printf("best: %.1f samples/s with p99 <= %g ms and nothing dropped (%s), %d probes in %.1f s of %g s%s\n",
               cap, o.slo_p99_ms, confirmed ? "confirmed by a repeat" : "not confirmed", dp_tune_num_probes(r), used,
               o.budget_s, exhausted ? " (budget ran out)" : "");
        printf("  %s\n", command);
    } else if (dp_tune_num_probes(r) == 0 && exhausted) {
        printf("the budget of %g s ran out before the first probe (service times took %.1f s): give more --budget-s\n",
               o.budget_s, used);
        rc = 1;
    } else {
        printf("no configuration met p99 <= %g ms at any probed rate (%d probes in %.1f s)\n", o.slo_p99_ms,
               dp_tune_num_probes(r), used);
        rc = 1;
    }
    if (o.json) rc |= write_json(r, &o, cap > 0 ? command : NULL, argc, argv);
out:
    dp_tune_result_free(r);
    dpb_linger(port, o.dashboard_linger);
    dp_sink_free(dash);
    dp_calibration_free(cal);
    dp_dataset_free(ds);
    return rc;
}
