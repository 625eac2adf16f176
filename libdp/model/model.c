/* The public model API: argument checks, loading (graph -> weights -> shape checks -> backend)
 * and dispatch of execution contexts to the backend. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph_build.h"
#include "model_impl.h"
#include "ref_impl.h"
#include "util/sized.h"
#include "util/util.h"

#define INPUT_CHANNELS 3
/* dp_model_opts as first published, before allow_nonfinite. */
#define MODEL_OPTS_V1 offsetof(dp_model_opts, allow_nonfinite)

DP_API void dp_model_opts_init_sized(dp_model_opts *opts, size_t size) {
    const dp_model_opts d = {
        .size = sizeof d, .num_classes = 10, .precision = DP_PRECISION_FP32, .backend = DP_BACKEND_ONEDNN, .seed = 0};
    dpi_sized_init(opts, size, &d, sizeof d);
}

DP_API const char *const *dp_model_arch_names(void) { return dpi_graph_arch_names(); }

/* Every parameter the graph needs must be present with its exact shape and possible values
 * (finite, a BN variance >= 0); returns the number of learned parameters through *learned. */
static dp_status check_weights(const dpi_graph *g, const dpi_weights *w, int allow_nonfinite, size_t *learned) {
    dpi_param *p;
    int count;
    dp_status s = dpi_graph_params(g, &p, &count);
    if (s) return s;
    size_t total = 0;
    for (int i = 0; i < count && !s; i++) {
        const float *data;
        s = dpi_weights_get(w, p[i].name, p[i].ndim, p[i].shape, &data);
        size_t numel = 1;
        for (int d = 0; d < p[i].ndim; d++) numel *= (size_t)p[i].shape[d];
        if (p[i].learned) total += numel;
        const char *dot = strrchr(p[i].name, '.');
        if (!s)
            s = dpi_weights_check_values(w, p[i].name, data, numel, dot && strcmp(dot, ".running_var") == 0,
                                         allow_nonfinite);
    }
    free(p);
    *learned = total;
    return s;
}

DP_API dp_status dp_model_load(const char *arch, const char *weights_path, const dp_model_opts *opts,
                               dp_model **out) {
    if (!out) return dpi_error(DP_ERR_INVALID_ARG, "dp_model_load: out is NULL");
    *out = NULL;
    if (!arch) return dpi_error(DP_ERR_INVALID_ARG, "dp_model_load: arch is NULL");
    dp_model_opts o;
    dp_model_opts_init(&o);
    dp_status st = dpi_sized_take(&o, sizeof o, opts, MODEL_OPTS_V1, "dp_model_load: opts", "dp_model_opts_init");
    if (st != DP_OK) return st;
    if (o.num_classes < 1)
        return dpi_error(DP_ERR_INVALID_ARG, "dp_model_load: num_classes %d must be >= 1", o.num_classes);
    if (o.precision != DP_PRECISION_FP32 && o.precision != DP_PRECISION_BF16 && o.precision != DP_PRECISION_INT8)
        return dpi_error(DP_ERR_INVALID_ARG, "dp_model_load: unknown precision %d", (int)o.precision);
    const dpi_backend *be;
    if (o.backend == DP_BACKEND_ONEDNN) be = &dpi_backend_onednn;
    else if (o.backend == DP_BACKEND_REFERENCE) be = &dpi_backend_reference;
    else return dpi_error(DP_ERR_INVALID_ARG, "dp_model_load: unknown backend %d", (int)o.backend);
    if (o.backend == DP_BACKEND_REFERENCE && o.precision == DP_PRECISION_BF16)
        return dpi_error(DP_ERR_UNSUPPORTED, "the reference backend computes in fp32 only; use the onednn "
                         "backend for bf16");
    if (o.precision == DP_PRECISION_INT8 && !o.calibration)
        return dpi_error(DP_ERR_INVALID_ARG, "dp_model_load: int8 needs opts.calibration (from dp_model_calibrate or "
                         "dp_calibration_load)");
    if (o.backend == DP_BACKEND_REFERENCE && o.precision == DP_PRECISION_INT8) be = &dpi_backend_reference_int8;

    dp_model *m = calloc(1, sizeof *m);
    dpi_weights *w = NULL;
    dp_status s;
    if (!m) return dpi_error(DP_ERR_NOMEM, "out of memory loading %s", arch);
    if ((s = dpi_graph_build(arch, o.num_classes, &m->graph))) goto fail;
    if (m->graph.n == 0) be = &dpi_backend_null; /* nothing to compute, on any backend */
    snprintf(m->arch, sizeof m->arch, "%s", arch);
    m->num_classes = o.num_classes;
    m->precision = o.precision;
    m->backend_kind = o.backend;
    m->be = be;
    m->first = 0;
    m->last = m->graph.n;
    if ((s = dpi_model_units_init(m))) goto fail;
    m->seed = o.seed;
    if (weights_path && !(m->weights_path = dpi_strdup(weights_path))) {
        s = DP_ERR_NOMEM;
        goto fail;
    }
    s = weights_path ? dpi_weights_load(weights_path, &w) : dpi_weights_seeded(&m->graph, o.seed, &w);
    if (s) goto fail;
    if ((s = check_weights(&m->graph, w, o.allow_nonfinite, &m->param_count))) goto fail;
    if ((s = dpi_weights_hash(&m->graph, w, &m->weights_hash))) goto fail;
    if (o.precision == DP_PRECISION_INT8 &&
        (s = dpi_qplan_make(&m->graph, o.calibration, m->weights_hash, &m->quant)))
        goto fail;
    if ((s = be->model_init(m, w))) goto fail;
    dpi_weights_free(w);
    *out = m;
    return DP_OK;
fail:
    dpi_weights_free(w);
    dpi_qplan_free(&m->quant);
    dpi_graph_free(&m->graph);
    free(m->units);
    free(m->weights_path);
    free(m);
    return s;
}

DP_API void dp_model_free(dp_model *model) {
    if (!model) return;
    if (model->parent) { /* a stage owns nothing but itself */
        free(model);
        return;
    }
    if (model->be) model->be->model_fini(model);
    free(model->units);
    dpi_qplan_free(&model->quant);
    free(model->weights_path);
    dpi_graph_free(&model->graph);
    free(model);
}

DP_API const char *dp_model_arch(const dp_model *model) { return model ? model->arch : NULL; }
DP_API int dp_model_num_classes(const dp_model *model) { return model ? model->num_classes : 0; }
DP_API dp_precision dp_model_precision(const dp_model *model) {
    return model ? model->precision : DP_PRECISION_FP32;
}
DP_API dp_model_backend dp_model_backend_kind(const dp_model *model) {
    return model ? model->backend_kind : DP_BACKEND_ONEDNN;
}
DP_API size_t dp_model_param_count(const dp_model *model) { return model ? model->param_count : 0; }
DP_API int dp_model_min_input_size(const dp_model *model) { return model ? model->graph.min_hw : 0; }
DP_API int dp_model_input_channels(const dp_model *model) {
    (void)model;
    return INPUT_CHANNELS;
}

DP_API dp_status dp_exec_create(const dp_model *model, int threads, dp_exec **out) {
    if (!out) return dpi_error(DP_ERR_INVALID_ARG, "dp_exec_create: out is NULL");
    *out = NULL;
    if (!model) return dpi_error(DP_ERR_INVALID_ARG, "dp_exec_create: model is NULL");
    if (threads < 1) return dpi_error(DP_ERR_INVALID_ARG, "dp_exec_create: threads %d must be >= 1", threads);
    dp_exec *e = calloc(1, sizeof *e);
    if (!e) return dpi_error(DP_ERR_NOMEM, "out of memory creating an execution context");
    e->model = model;
    e->threads = threads;
    dp_status s = model->be->exec_init(e);
    if (s) {
        free(e);
        return s;
    }
    *out = e;
    return DP_OK;
}

DP_API void dp_exec_free(dp_exec *exec) {
    if (!exec) return;
    exec->model->be->exec_fini(exec);
    free(exec);
}

static dp_status check_shape(const dp_model *m, const char *fn, int n, int h, int w) {
    if (n < 1) return dpi_error(DP_ERR_INVALID_ARG, "%s: batch size %d must be >= 1", fn, n);
    int min = m->graph.min_hw;
    if (h < min || w < min)
        return dpi_error(DP_ERR_SHAPE, "%s: input %dx%d is smaller than the minimum %dx%d of %s", fn, h, w, min, min,
                         m->arch);
    /* Activation buffers are indexed with size_t, but oneDNN dims and BLAS sizes are int. */
    if ((int64_t)n * h * w > (int64_t)1 << 28)
        return dpi_error(DP_ERR_SHAPE, "%s: input [%d,3,%d,%d] is too large", fn, n, h, w);
    return DP_OK;
}

DP_API dp_status dp_exec_prepare(dp_exec *exec, int n, int h, int w) {
    if (!exec) return dpi_error(DP_ERR_INVALID_ARG, "dp_exec_prepare: exec is NULL");
    dp_status s = check_shape(exec->model, "dp_exec_prepare", n, h, w);
    return s ? s : exec->model->be->exec_prepare(exec, n, h, w);
}

DP_API dp_status dp_exec_prepare_batches(dp_exec *exec, int max_batch, int h, int w) {
    if (!exec) return dpi_error(DP_ERR_INVALID_ARG, "dp_exec_prepare_batches: exec is NULL");
    dp_status s = check_shape(exec->model, "dp_exec_prepare_batches", max_batch, h, w);
    return s ? s : exec->model->be->exec_prepare_batches(exec, max_batch, h, w);
}

DP_API dp_status dp_exec_get_stats(const dp_exec *exec, dp_exec_stats *stats) {
    if (!exec || !stats) return dpi_error(DP_ERR_INVALID_ARG, "dp_exec_get_stats: %s is NULL", exec ? "stats" : "exec");
    if (stats->size < sizeof stats->size || stats->size > sizeof *stats)
        return dpi_error(DP_ERR_INVALID_ARG, "dp_exec_get_stats: stats->size %zu is not sizeof(dp_exec_stats) %zu",
                         stats->size, sizeof *stats);
    dp_exec_stats all;
    memset(&all, 0, sizeof all);
    exec->model->be->exec_stats(exec, &all);
    all.size = stats->size;
    memcpy(stats, &all, stats->size);
    return DP_OK;
}

DP_API dp_status dp_exec_run(dp_exec *exec, const float *input, int n, int h, int w, float *logits) {
    if (!exec) return dpi_error(DP_ERR_INVALID_ARG, "dp_exec_run: exec is NULL");
    if (!input || !logits) return dpi_error(DP_ERR_INVALID_ARG, "dp_exec_run: %s is NULL", input ? "logits" : "input");
    dp_status s = check_shape(exec->model, "dp_exec_run", n, h, w);
    return s ? s : exec->model->be->exec_run(exec, input, n, h, w, logits);
}

DP_API dp_status dp_exec_set_profiling(dp_exec *exec, int on) {
    if (!exec) return dpi_error(DP_ERR_INVALID_ARG, "dp_exec_set_profiling: exec is NULL");
    exec->profiling = on != 0;
    return DP_OK;
}

DP_API dp_status dp_exec_profile(const dp_exec *exec, dp_layer_profile *out, int cap, int *count) {
    if (!exec || !count) return dpi_error(DP_ERR_INVALID_ARG, "dp_exec_profile: %s is NULL", exec ? "count" : "exec");
    if (cap < 0 || (cap > 0 && !out)) return dpi_error(DP_ERR_INVALID_ARG, "dp_exec_profile: out is NULL with cap %d", cap);
    return exec->model->be->exec_profile(exec, out, cap, count);
}

DP_API void dp_argmax(const float *logits, int n, int num_classes, int *top1) {
    if (!logits || !top1 || num_classes < 1) return;
    for (int i = 0; i < n; i++) {
        const float *row = logits + (size_t)i * num_classes;
        int best = 0;
        for (int k = 1; k < num_classes; k++)
            if (row[k] > row[best]) best = k;
        top1[i] = best;
    }
}
