/* dp_tune: the search of search.c driven by real runs. A probe is a constant-rate stream on a
 * runner of its configuration (kept while consecutive probes share the configuration, and warmed
 * up once when built); a service time is the fastest of a few back-to-back micro-batches on one
 * execution context: the search prunes with it, so it must not overstate (on a shared machine the
 * median of five was 200x the minimum when another process held the cores). */
#include <stdlib.h>
#include <string.h>

#include "dataparallel/partition.h"
#include "dataparallel/runner.h"
#include "tune_impl.h"
#include "util/util.h"

#define SERVICE_RUNS 5

typedef struct measurer {
    const char *arch, *weights;
    dp_model_opts mo;
    dp_dataset *ds;
    dp_model *models[3];        /* by dp_precision, loaded on first use */
    dp_status load_status[3];   /* DP_OK: not tried yet or loaded */
    dp_sink *const *sinks;
    int num_sinks;
    dp_tune_config cur;         /* the configuration of runner */
    dp_runner *runner;
    dp_partitioner *part;
} measurer;

static dp_status model_for(measurer *m, dp_precision p, dp_model **out) {
    if ((unsigned)p > DP_PRECISION_INT8) return dpi_error(DP_ERR_INVALID_ARG, "tune: unknown precision %d", (int)p);
    if (!m->models[p] && m->load_status[p] == DP_OK) {
        dp_model_opts mo = m->mo;
        mo.precision = p;
        m->load_status[p] = dp_model_load(m->arch, m->weights, &mo, &m->models[p]);
    }
    *out = m->models[p];
    return m->load_status[p];
}

/* n samples of the data set, cycling through it, as one [n,c,h,w] batch. */
static dp_status fill_batch(const measurer *m, int n, float **out) {
    int c, h, w;
    dp_dataset_shape(m->ds, &c, &h, &w);
    size_t per = (size_t)c * (size_t)h * (size_t)w;
    float *x = malloc((size_t)n * per * sizeof *x);
    if (!x) return dpi_error(DP_ERR_NOMEM, "tune: out of memory for a batch of %d", n);
    int64_t count = dp_dataset_count(m->ds);
    for (int i = 0; i < n; i++) {
        int32_t label;
        dp_status e = dp_dataset_get(m->ds, i % count, x + (size_t)i * per, &label);
        if (e != DP_OK) {
            free(x);
            return e;
        }
    }
    *out = x;
    return DP_OK;
}

static dp_status service(int batch, int threads, dp_precision p, double *ms, double *seconds, void *user) {
    measurer *m = user;
    int64_t t0 = dpi_now_ns();
    dp_model *model;
    dp_status e = model_for(m, p, &model);
    if (e != DP_OK) return e;
    int c, h, w;
    dp_dataset_shape(m->ds, &c, &h, &w);
    float *x = NULL, *logits = malloc((size_t)batch * (size_t)dp_model_num_classes(model) * sizeof *logits);
    dp_exec *ex = NULL;
    double best = 0;
    if (!logits) e = dpi_error(DP_ERR_NOMEM, "tune: out of memory for logits");
    if (e == DP_OK) e = fill_batch(m, batch, &x);
    if (e == DP_OK) e = dp_exec_create(model, threads, &ex);
    if (e == DP_OK) e = dp_exec_prepare(ex, batch, h, w);
    if (e == DP_OK) e = dp_exec_run(ex, x, batch, h, w, logits); /* warm-up: first-touch, caches */
    for (int i = 0; e == DP_OK && i < SERVICE_RUNS; i++) {
        int64_t s = dpi_now_ns();
        e = dp_exec_run(ex, x, batch, h, w, logits);
        double ms_i = (double)(dpi_now_ns() - s) / 1e6;
        if (i == 0 || ms_i < best) best = ms_i;
    }
    dp_exec_free(ex);
    free(x);
    free(logits);
    if (e != DP_OK) return e;
    *ms = best;
    *seconds = (double)(dpi_now_ns() - t0) / 1e9;
    return DP_OK;
}

static int same_config(const dp_tune_config *a, const dp_tune_config *b) {
    return a->workers == b->workers && a->threads_per_worker == b->threads_per_worker &&
           a->max_batch == b->max_batch && a->max_delay_us == b->max_delay_us && a->precision == b->precision &&
           a->strategy && b->strategy && strcmp(a->strategy, b->strategy) == 0;
}

static void drop_runner(measurer *m) {
    dp_runner_free(m->runner);
    dp_partitioner_free(m->part);
    m->runner = NULL;
    m->part = NULL;
}

/* A runner for cfg, warmed up (primitives built, pages touched) by a short unlimited stream so
 * that the probe's first samples do not pay for it. */
static dp_status build_runner(measurer *m, const dp_tune_config *cfg) {
    drop_runner(m);
    dp_model *model;
    dp_status e = model_for(m, cfg->precision, &model);
    if (e != DP_OK) return e;
    if ((e = dp_partitioner_create(cfg->strategy, NULL, &m->part)) != DP_OK) return e;
    dp_runner_opts ro;
    dp_runner_opts_init(&ro);
    ro.workers = cfg->workers;
    ro.threads_per_worker = cfg->threads_per_worker;
    ro.max_batch = cfg->max_batch;
    ro.max_delay_us = cfg->max_delay_us;
    if ((e = dp_runner_create(model, m->part, &ro, &m->runner)) != DP_OK) return e;
    for (int i = 0; i < m->num_sinks; i++)
        if ((e = dp_runner_add_sink(m->runner, m->sinks[i])) != DP_OK) return e;
    e = dp_tune_warm_up(m->runner, m->ds, cfg);
    if (e == DP_OK) m->cur = *cfg;
    return e;
}

static dp_status probe(const dp_tune_config *cfg, double rate, int64_t samples, dp_tune_outcome *out, void *user) {
    measurer *m = user;
    int64_t t0 = dpi_now_ns();
    dp_status e = DP_OK;
    if (!m->runner || !same_config(&m->cur, cfg)) e = build_runner(m, cfg);
    if (e != DP_OK) {
        drop_runner(m);
        return e;
    }
    dp_source *src = NULL;
    e = dpi_tune_source(m->ds, DP_RATE_CONSTANT, rate, samples, &src);
    if (e == DP_OK) e = dp_tune_probe_runner(m->runner, src, out);
    dp_source_free(src);
    if (e == DP_OK) out->seconds = (double)(dpi_now_ns() - t0) / 1e9; /* the runner's set-up included */
    return e;
}

DP_API dp_status dp_tune(const char *arch, const char *weights, const dp_model_opts *model_opts, dp_dataset *ds,
                         const dp_tune_opts *opts, dp_tune_result **out) {
    if (out) *out = NULL;
    if (!arch || !ds || !opts || !out)
        return dpi_error(DP_ERR_INVALID_ARG, "dp_tune: arch, ds, opts and out must not be NULL");
    if (dp_dataset_count(ds) < 1) return dpi_error(DP_ERR_INVALID_ARG, "dp_tune: the data set is empty");
    dp_tune_opts o; /* a caller built against an older header has a shorter struct */
    dp_tune_opts_init(&o);
    memcpy(&o, opts, opts->size < sizeof o ? opts->size : sizeof o);
    o.size = sizeof o;
    if (o.num_sinks < 0 || (o.num_sinks > 0 && !o.sinks))
        return dpi_error(DP_ERR_INVALID_ARG, "dp_tune: %d sinks but no array", o.num_sinks);
    measurer m = {.arch = arch, .weights = weights, .ds = ds, .sinks = o.sinks, .num_sinks = o.num_sinks};
    dp_model_opts_init(&m.mo);
    if (model_opts) memcpy(&m.mo, model_opts, model_opts->size < sizeof m.mo ? model_opts->size : sizeof m.mo);
    m.mo.size = sizeof m.mo;
    /* Load fp32 (or the first precision) now: a bad arch or weights file is the caller's error,
     * not a configuration to mark unsupported. */
    dp_model *first;
    dp_status e = model_for(&m, o.num_precisions > 0 && o.precisions ? o.precisions[0] : DP_PRECISION_FP32, &first);
    if (e == DP_OK || e == DP_ERR_UNSUPPORTED) e = dp_tune_search(&o, probe, service, &m, out);
    drop_runner(&m);
    for (int i = 0; i < 3; i++) dp_model_free(m.models[i]);
    return e;
}
