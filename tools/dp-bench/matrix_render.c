/* dp-bench matrix: results.csv (one row per run), results.json (every summary) and results.md
 * (tables per arch and rate), rewritten from all runs so far after every run. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "matrix.h"
#include "repeats.h"

double mx_num(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : 0.0;
}

static const char *const latency_keys[] = {"mean", "p50", "p90", "p99", "p999", "max"};
static const char *const count_keys[] = {"offered", "completed", "dropped", "failed"};
static const char *const rate_keys[] = {"rate_accuracy_pct", "throughput", "efficiency_pct"};
static const char *const tail_keys[] = {"cpu_pct", "rss_mb", "elapsed_s"};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* The column order is shared with benchmarks/pytorch_baseline.py (CSV_FIELDS). */
static void write_csv_header(FILE *f) {
    fputs("engine,arch,strategy,workers,threads,rate,samples", f);
    for (size_t i = 0; i < COUNT(count_keys); i++) fprintf(f, ",%s", count_keys[i]);
    for (size_t i = 0; i < COUNT(rate_keys); i++) fprintf(f, ",%s", rate_keys[i]);
    for (size_t i = 0; i < COUNT(latency_keys); i++) fprintf(f, ",latency_%s_ms", latency_keys[i]);
    for (size_t i = 0; i < COUNT(tail_keys); i++) fprintf(f, ",%s", tail_keys[i]);
    fputs(",accuracy_pct,layout,stages\n", f);
}

static void write_csv_row(FILE *f, const dpb_opts *o, const mx_run *r) {
    const cJSON *s = r->summary, *lat = cJSON_GetObjectItemCaseSensitive(s, "latency_ms");
    fprintf(f, "%s,%s,%s,%d,%ld,%g,%ld", r->engine->name, r->arch, r->strategy, r->workers, o->threads, r->rate,
            r->samples);
    for (size_t i = 0; i < COUNT(count_keys); i++) fprintf(f, ",%.0f", mx_num(s, count_keys[i]));
    for (size_t i = 0; i < COUNT(rate_keys); i++) fprintf(f, ",%.6g", mx_num(s, rate_keys[i]));
    for (size_t i = 0; i < COUNT(latency_keys); i++) fprintf(f, ",%.6g", mx_num(lat, latency_keys[i]));
    for (size_t i = 0; i < COUNT(tail_keys); i++) fprintf(f, ",%.6g", mx_num(s, tail_keys[i]));
    /* Empty, not 0, for unlabelled data: there is no accuracy to report. */
    if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(s, "accuracy_pct"))) fprintf(f, ",%.6g", mx_num(s, "accuracy_pct"));
    else fputc(',', f);
    fprintf(f, ",%s,%d\n", r->layout, r->stages);
}

static int in_cell(const mx_run *r, const mx_cell *c) {
    return r->summary && r->rate == c->rate && r->workers == c->workers && strcmp(r->engine->name, c->engine) == 0 &&
           strcmp(r->arch, c->arch) == 0 && strcmp(r->strategy, c->strategy) == 0 && strcmp(r->layout, c->layout) == 0;
}

/* Medians and bootstrap intervals over the cell's finished runs (repeats.h); NULL when none
 * finished. The seed is the matrix's --seed default, so a results.json can be recomputed. */
static cJSON *cell_repeats(const dpb_opts *o, const mx_run *runs, int n, const mx_cell *c) {
    const cJSON *sums[n > 0 ? n : 1];
    int m = 0;
    for (int i = 0; i < n; i++)
        if (in_cell(&runs[i], c)) sums[m++] = runs[i].summary;
    return m ? dpb_repeats_json(sums, m, (uint64_t)o->seed) : NULL;
}

typedef struct agg_ctx {
    const dpb_opts *o;
    const mx_run *runs;
    int n;
    cJSON *out;
} agg_ctx;

static void add_aggregate(const mx_cell *c, void *user) {
    agg_ctx *x = user;
    cJSON *agg = cell_repeats(x->o, x->runs, x->n, c);
    if (!agg) return;
    cJSON_AddStringToObject(agg, "engine", c->engine);
    cJSON_AddStringToObject(agg, "arch", c->arch);
    cJSON_AddStringToObject(agg, "strategy", c->strategy);
    cJSON_AddNumberToObject(agg, "workers", c->workers);
    cJSON_AddNumberToObject(agg, "rate", c->rate);
    cJSON_AddStringToObject(agg, "layout", c->layout);
    cJSON_AddItemToArray(x->out, agg);
}

static cJSON *results_json(const dpb_opts *o, const mx_run *runs, int n, int argc, char **argv) {
    cJSON *root = cJSON_CreateObject();
    dpc_add_provenance(root, argc, argv);
    cJSON *cells = cJSON_AddArrayToObject(root, "cells");
    for (int i = 0; i < n; i++) {
        const mx_run *r = &runs[i];
        if (r->exit_code == -1) continue;
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "engine", r->engine->name);
        cJSON_AddStringToObject(c, "arch", r->arch);
        cJSON_AddStringToObject(c, "strategy", r->strategy);
        cJSON_AddNumberToObject(c, "workers", r->workers);
        cJSON_AddStringToObject(c, "layout", r->layout);
        cJSON_AddNumberToObject(c, "stages", r->stages);
        cJSON_AddNumberToObject(c, "threads", (double)o->threads);
        cJSON_AddNumberToObject(c, "rate", r->rate);
        cJSON_AddNumberToObject(c, "samples", (double)r->samples);
        cJSON_AddNumberToObject(c, "repeat", r->repeat + 1);
        cJSON_AddBoolToObject(c, "ok", r->summary != NULL);
        cJSON_AddNumberToObject(c, "exit_code", r->exit_code);
        cJSON_AddNumberToObject(c, "run_seconds", r->seconds);
        if (r->summary) cJSON_AddItemReferenceToObject(c, "summary", r->summary);
        cJSON_AddItemToArray(cells, c);
    }
    /* Per cell over its repeats (docs/cli.md, "matrix"): what report.py draws error bars from. */
    agg_ctx x = {o, runs, n, cJSON_AddArrayToObject(root, "aggregates")};
    mx_each_cell(o, add_aggregate, &x);
    return root;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double get_throughput(const cJSON *s) { return mx_num(s, "throughput"); }
static double get_efficiency(const cJSON *s) { return mx_num(s, "efficiency_pct"); }
static double get_p99(const cJSON *s) { return mx_num(cJSON_GetObjectItemCaseSensitive(s, "latency_ms"), "p99"); }
static double get_p50(const cJSON *s) { return mx_num(cJSON_GetObjectItemCaseSensitive(s, "latency_ms"), "p50"); }
/* Process CPU per completed sample: on a shared, loaded machine the steadiest measure of cost. */
static double get_cpu_ms(const cJSON *s) {
    double done = mx_num(s, "completed");
    return done > 0 ? mx_num(s, "cpu_pct") * 10.0 * mx_num(s, "elapsed_s") / done : 0.0;
}

/* Median of get(summary) over the finished runs of a cell, one per repeat. Returns the number of
 * runs (0: none, *out untouched). */
static int median_of(const mx_run *runs, int n, const mx_cell *c, double (*get)(const cJSON *), double *out) {
    double v[n > 0 ? n : 1];
    int m = 0;
    for (int i = 0; i < n; i++)
        if (in_cell(&runs[i], c)) v[m++] = get(runs[i].summary);
    if (m == 0) return 0;
    qsort(v, (size_t)m, sizeof v[0], cmp_double);
    *out = m % 2 ? v[m / 2] : 0.5 * (v[m / 2 - 1] + v[m / 2]);
    return m;
}

/* figure's {median, lo, hi} over the cell's repeats into v: 0, or -1 when no run finished. */
static int cell_interval(const dpb_opts *o, const mx_run *runs, int n, const mx_cell *c, const char *figure, double v[3]) {
    cJSON *agg = cell_repeats(o, runs, n, c);
    int rc = agg ? dpb_repeats_get(agg, figure, v) : -1;
    cJSON_Delete(agg);
    return rc;
}

static const char significance_legend[] =
    "`*` marks a significant difference: the two 95 %% bootstrap intervals across the %ld repeats do not "
    "overlap (docs/metrics.md, \"Repeats\"); `≈`: they overlap, so the difference is within run-to-run "
    "variation on this machine.\n\n";

/* Every engine side by side (medians over repeats), then the first engine's throughput over each
 * other's: the comparison a reader looks for first. */
static void write_md_side_by_side(FILE *f, const dpb_opts *o, const mx_run *runs, int n, const char *arch,
                                  double rate) {
    static double (*const cols[])(const cJSON *) = {get_throughput, get_p99, get_efficiency, get_cpu_ms};
    static const char *const fmt[] = {" %.1f |", " %.2f |", " %.1f |", " %.2f |"};
    const dpc_names *eng = &o->engines;
    if (o->repeat > 1) fprintf(f, "Medians of %ld repeats.\n\n", o->repeat);
    fputs("| strategy | workers |", f);
    for (int e = 0; e < eng->n; e++) fprintf(f, " %s samples/s | p99 ms | efficiency %% | CPU ms/sample |", eng->v[e]);
    for (int e = 1; e < eng->n; e++) fprintf(f, " %s / %s throughput |", eng->v[0], eng->v[e]);
    fputs("\n|---|---:|", f);
    for (int e = 0; e < 5 * eng->n - 1; e++) fputs("---:|", f);
    fputc('\n', f);
    for (int s = 0; s < o->strategies.n; s++) {
        for (int w = 0; w < o->workers_list.n; w++) {
            double thr[DPC_LIST_MAX], v;
            int have[DPC_LIST_MAX];
            fprintf(f, "| %s | %ld |", o->strategies.v[s], o->workers_list.v[w]);
            for (int e = 0; e < eng->n; e++) {
                mx_cell c = {eng->v[e], arch, o->strategies.v[s], rate, (int)o->workers_list.v[w], "data-parallel"};
                have[e] = median_of(runs, n, &c, get_throughput, &thr[e]);
                for (size_t k = 0; k < COUNT(cols); k++) {
                    if (have[e] && median_of(runs, n, &c, cols[k], &v)) fprintf(f, fmt[k], v);
                    else fputs(" – |", f);
                }
            }
            for (int e = 1; e < eng->n; e++) {
                if (!(have[0] && have[e] && thr[e] > 0)) {
                    fputs(" – |", f);
                    continue;
                }
                double a[3], b[3];
                mx_cell c0 = {eng->v[0], arch, o->strategies.v[s], rate, (int)o->workers_list.v[w], "data-parallel"};
                mx_cell ce = c0;
                ce.engine = eng->v[e];
                const char *mark = "";
                if (o->repeat > 1 && cell_interval(o, runs, n, &c0, "throughput", a) == 0 &&
                    cell_interval(o, runs, n, &ce, "throughput", b) == 0)
                    mark = dpb_repeats_differ(a, b) ? "*" : " ≈";
                fprintf(f, " %.2fx%s |", thr[0] / thr[e], mark);
            }
            fputc('\n', f);
        }
    }
    fputc('\n', f);
    if (o->repeat > 1) fprintf(f, significance_legend, o->repeat);
}

/* One figure as "median [lo, hi]" (or – when absent). */
static void md_interval(FILE *f, const cJSON *agg, const char *figure, const char *fmt) {
    double v[3];
    if (dpb_repeats_get(agg, figure, v) != 0) {
        fputs(" – |", f);
        return;
    }
    char m[32], lo[32], hi[32];
    snprintf(m, sizeof m, fmt, v[0]);
    snprintf(lo, sizeof lo, fmt, v[1]);
    snprintf(hi, sizeof hi, fmt, v[2]);
    fprintf(f, " %s [%s, %s] |", m, lo, hi);
}

/* With --repeat: each cell's medians and 95 % intervals, and whether its throughput differs
 * significantly from the best strategy's at the same workers and engine. */
static void write_md_repeats(FILE *f, const dpb_opts *o, const mx_run *runs, int n, const char *arch, double rate) {
    fprintf(f, "Medians of %ld repeats with their 95 %% bootstrap intervals [low, high] (%d resamples).\n\n"
               "| strategy | workers | layout | engine | throughput (samples/s) | efficiency %% | p50 ms | p99 ms | "
               "vs the best strategy's throughput |\n|---|---:|---|---|---:|---:|---:|---:|---|\n",
            o->repeat, DP_BOOTSTRAP_RESAMPLES);
    for (int w = 0; w < o->workers_list.n; w++)
        for (int ce = 0; ce < o->layouts.n * o->engines.n; ce++) {
            int l = ce / o->engines.n, e = ce % o->engines.n;
            cJSON *aggs[DPC_LIST_MAX];
            double thr[DPC_LIST_MAX][3];
            int best = -1;
            for (int s = 0; s < o->strategies.n; s++) {
                mx_cell c = {o->engines.v[e], arch, o->strategies.v[s], rate, (int)o->workers_list.v[w], o->layouts.v[l]};
                aggs[s] = cell_repeats(o, runs, n, &c);
                if (aggs[s] && dpb_repeats_get(aggs[s], "throughput", thr[s]) == 0 &&
                    (best < 0 || thr[s][0] > thr[best][0]))
                    best = s;
            }
            for (int s = 0; s < o->strategies.n; s++) {
                if (!aggs[s]) continue;
                fprintf(f, "| %s | %ld | %s | %s |", o->strategies.v[s], o->workers_list.v[w], o->layouts.v[l],
                        o->engines.v[e]);
                md_interval(f, aggs[s], "throughput", "%.1f");
                md_interval(f, aggs[s], "efficiency_pct", "%.1f");
                md_interval(f, aggs[s], "latency_ms.p50", "%.2f");
                md_interval(f, aggs[s], "latency_ms.p99", "%.2f");
                if (s == best) fputs(" best |\n", f);
                else if (dpb_repeats_differ(thr[s], thr[best])) fprintf(f, " below %s* |\n", o->strategies.v[best]);
                else fprintf(f, " ≈ %s |\n", o->strategies.v[best]);
                cJSON_Delete(aggs[s]);
            }
        }
    fputc('\n', f);
    fprintf(f, significance_legend, o->repeat);
}

/* libdataparallel's layouts of the same W workers side by side (medians over repeats), with each
 * layout's throughput over data parallelism's. */
static void write_md_layouts(FILE *f, const dpb_opts *o, const mx_run *runs, int n, const char *arch, double rate) {
    static double (*const cols[])(const cJSON *) = {get_throughput, get_p50, get_p99};
    static const char *const fmt[] = {" %.1f |", " %.2f |", " %.2f |"};
    const dpc_names *lay = &o->layouts;
    fputs("Layouts of the same workers (libdataparallel; pipeline = W stages, hybrid = W/2 replicas x 2 stages, "
          "cuts planned):\n\n| strategy | workers |", f);
    for (int l = 0; l < lay->n; l++) fprintf(f, " %s samples/s | p50 ms | p99 ms |", lay->v[l]);
    for (int l = 1; l < lay->n; l++) fprintf(f, " %s / %s throughput |", lay->v[l], lay->v[0]);
    fputs("\n|---|---:|", f);
    for (int l = 0; l < 4 * lay->n - 1; l++) fputs("---:|", f);
    fputc('\n', f);
    for (int s = 0; s < o->strategies.n; s++)
        for (int w = 0; w < o->workers_list.n; w++) {
            double thr[DPC_LIST_MAX], v;
            int have[DPC_LIST_MAX];
            fprintf(f, "| %s | %ld |", o->strategies.v[s], o->workers_list.v[w]);
            for (int l = 0; l < lay->n; l++) {
                mx_cell c = {"libdataparallel", arch, o->strategies.v[s], rate, (int)o->workers_list.v[w], lay->v[l]};
                have[l] = median_of(runs, n, &c, get_throughput, &thr[l]);
                for (size_t k = 0; k < COUNT(cols); k++) {
                    if (have[l] && median_of(runs, n, &c, cols[k], &v)) fprintf(f, fmt[k], v);
                    else fputs(" – |", f);
                }
            }
            for (int l = 1; l < lay->n; l++) {
                if (have[0] && have[l] && thr[0] > 0) fprintf(f, " %.2fx |", thr[l] / thr[0]);
                else fputs(" – |", f);
            }
            fputc('\n', f);
        }
    fputc('\n', f);
}

static void write_md(FILE *f, const dpb_opts *o, const mx_run *runs, int n, int argc, char **argv) {
    const char *commit = getenv("DP_GIT_COMMIT");
    fprintf(f, "# Benchmark matrix\n\n");
    fprintf(f, "Machine: %s, %ld cores. Library %s. Commit %s.\n\nCommand:\n\n```\n", dpc_cpu_model(),
            sysconf(_SC_NPROCESSORS_ONLN), dp_version_string(), commit && *commit ? commit : "unknown");
    for (int i = 0; i < argc; i++) fprintf(f, "%s%s", i ? " " : "", argv[i]);
    fprintf(f, "\n```\n\nEvery run is one `stream` process (%ld thread(s) per worker, data %s, weights %s). "
               "Latency counts from each sample's intended arrival time; efficiency = throughput / target rate; "
               "top-1 = accuracy_pct over the labelled completed samples.\n",
            o->threads, o->data, o->weights_dir ? o->weights_dir : "seeded");
    for (int a = 0; a < o->archs.n; a++) {
        for (int q = 0; q < o->rates.n; q++) {
            fprintf(f, "\n## %s at %g samples/s\n\n", o->archs.v[a], o->rates.v[q]);
            if (o->engines.n > 1) write_md_side_by_side(f, o, runs, n, o->archs.v[a], o->rates.v[q]);
            if (o->layouts.n > 1) write_md_layouts(f, o, runs, n, o->archs.v[a], o->rates.v[q]);
            if (o->repeat > 1) write_md_repeats(f, o, runs, n, o->archs.v[a], o->rates.v[q]);
            fprintf(f, "| strategy | workers | layout | engine | throughput (samples/s) | efficiency %% | p50 ms | "
                       "p99 ms | max ms | dropped | CPU %% | RSS MB | top-1 %% |\n"
                       "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
            for (int i = 0; i < n; i++) {
                const mx_run *r = &runs[i];
                if (r->exit_code == -1 || strcmp(r->arch, o->archs.v[a]) != 0 || r->rate != o->rates.v[q]) continue;
                if (!r->summary) {
                    fprintf(f, "| %s | %d | %s | %s | failed (exit %d) | | | | | | | | |\n", r->strategy, r->workers,
                            r->layout, r->engine->name, r->exit_code);
                    continue;
                }
                const cJSON *s = r->summary, *lat = cJSON_GetObjectItemCaseSensitive(s, "latency_ms");
                fprintf(f, "| %s | %d | %s | %s | %.1f | %.1f | %.2f | %.2f | %.2f | %.0f | %.0f | %.0f |", r->strategy,
                        r->workers, r->layout, r->engine->name, mx_num(s, "throughput"), mx_num(s, "efficiency_pct"),
                        mx_num(lat, "p50"), mx_num(lat, "p99"), mx_num(lat, "max"), mx_num(s, "dropped"),
                        mx_num(s, "cpu_pct"), mx_num(s, "rss_mb"));
                if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(s, "accuracy_pct")))
                    fprintf(f, " %.2f |\n", mx_num(s, "accuracy_pct"));
                else
                    fputs(" – |\n", f);
            }
        }
    }
}

int mx_write_results(const dpb_opts *o, const mx_run *runs, int n, int argc, char **argv) {
    char path[PATH_MAX];
    int rc = 0;
    snprintf(path, sizeof path, "%s/results.csv", o->out);
    FILE *f = fopen(path, "w");
    if (f) {
        write_csv_header(f);
        for (int i = 0; i < n; i++)
            if (runs[i].summary) write_csv_row(f, o, &runs[i]);
        rc |= fclose(f) != 0;
    } else {
        rc = 1;
    }
    snprintf(path, sizeof path, "%s/results.md", o->out);
    f = fopen(path, "w");
    if (f) {
        write_md(f, o, runs, n, argc, argv);
        rc |= fclose(f) != 0;
    } else {
        rc = 1;
    }
    if (rc) fprintf(stderr, "%s: cannot write results in %s: %s\n", dpc_prog(), o->out, strerror(errno));
    cJSON *root = results_json(o, runs, n, argc, argv);
    snprintf(path, sizeof path, "%s/results.json", o->out);
    rc |= root ? dpc_write_json(path, root) : 1;
    cJSON_Delete(root);
    return rc;
}

void mx_each_cell(const dpb_opts *o, void (*f)(const mx_cell *, void *), void *user) {
    for (int a = 0; a < o->archs.n; a++)
        for (int q = 0; q < o->rates.n; q++)
            for (int w = 0; w < o->workers_list.n; w++)
                for (int s = 0; s < o->strategies.n; s++)
                    for (int l = 0; l < o->layouts.n; l++)
                        for (int e = 0; e < o->engines.n; e++) {
                            mx_cell c = {o->engines.v[e], o->archs.v[a], o->strategies.v[s], o->rates.v[q],
                                         (int)o->workers_list.v[w], o->layouts.v[l]};
                            f(&c, user);
                        }
}
