/* dp_model_calibrate(): the range of every activation tensor, measured by running the model's
 * weights in fp32 on the reference backend (whose per-sample node outputs are plain NCHW arrays
 * an observer can read) over samples of a data set. Percentiles take a second pass: the first
 * finds each tensor's largest |x|, the second fills a histogram of |x| over [0, that]. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dataparallel/source.h"
#include "ref_impl.h"
#include "util/sized.h"
#include "util/util.h"

#define BINS 4096

typedef struct meas {
    int pass;                 /* 0: maxima, 1: histograms */
    float *max;               /* [nodes + 1], index 0 is the input */
    uint64_t *hist;           /* [(nodes + 1) * BINS] */
} meas;

static void observe(void *ctx, int node, const float *y, size_t count) {
    meas *m = ctx;
    size_t t = (size_t)(node + 1);
    if (m->pass == 0) {
        float mx = m->max[t];
        for (size_t j = 0; j < count; j++) mx = fmaxf(mx, fabsf(y[j]));
        m->max[t] = mx;
        return;
    }
    if (!(m->max[t] > 0.0f)) return;
    uint64_t *h = m->hist + t * BINS;
    double per_bin = BINS / (double)m->max[t];
    for (size_t j = 0; j < count; j++) {
        size_t b = (size_t)(fabsf(y[j]) * per_bin);
        h[b < BINS ? b : BINS - 1]++;
    }
}

/* The upper edge of the bin where the cumulative count reaches pct % of all values. */
static float percentile_of(const uint64_t *h, float max, double pct) {
    uint64_t total = 0, acc = 0;
    for (int b = 0; b < BINS; b++) total += h[b];
    double want = total * pct / 100.0;
    for (int b = 0; b < BINS; b++) {
        acc += h[b];
        if ((double)acc >= want) return max * (float)(b + 1) / BINS;
    }
    return max;
}

DP_API void dp_calib_opts_init_sized(dp_calib_opts *opts, size_t size) {
    const dp_calib_opts d = {.size = sizeof d, .method = DP_CALIB_MINMAX, .percentile = 99.99};
    dpi_sized_init(opts, size, &d, sizeof d);
}

static dp_status check_args(const dp_model *model, const dp_dataset *ds, int64_t n, const dp_calib_opts *o) {
    int c, h, w;
    if (!model || !ds) return dpi_error(DP_ERR_INVALID_ARG, "dp_model_calibrate: %s is NULL", model ? "ds" : "model");
    if (o->method != DP_CALIB_MINMAX && o->method != DP_CALIB_PERCENTILE)
        return dpi_error(DP_ERR_INVALID_ARG, "dp_model_calibrate: unknown method %d", (int)o->method);
    if (o->method == DP_CALIB_PERCENTILE && !(o->percentile > 50.0 && o->percentile <= 100.0))
        return dpi_error(DP_ERR_INVALID_ARG, "dp_model_calibrate: percentile %g is not in (50, 100]", o->percentile);
    int64_t count = dp_dataset_count(ds);
    if (n < 1 || n > count)
        return dpi_error(DP_ERR_INVALID_ARG, "dp_model_calibrate: n %lld must be in 1..%lld (the data set's samples)",
                         (long long)n, (long long)count);
    dp_dataset_shape(ds, &c, &h, &w);
    if (c != dp_model_input_channels(model) || h < dp_model_min_input_size(model) || w < dp_model_min_input_size(model))
        return dpi_error(DP_ERR_SHAPE, "dp_model_calibrate: data set samples are [%d,%d,%d], %s takes [3,H,W] with H, W >= %d",
                         c, h, w, model->arch, dp_model_min_input_size(model));
    return DP_OK;
}

/* Run samples 0..n-1 through e (observed). The first pass also refuses NaN/inf inputs. */
static dp_status run_pass(dp_exec *e, const dp_dataset *ds, int64_t n, float *x, float *logits, int check) {
    int c, h, w;
    dp_dataset_shape(ds, &c, &h, &w);
    size_t count = (size_t)c * h * w;
    for (int64_t i = 0; i < n; i++) {
        dp_status s = dp_dataset_get(ds, i, x, NULL);
        if (s) return s;
        for (size_t j = 0; check && j < count; j++)
            if (!isfinite(x[j]))
                return dpi_error(DP_ERR_INVALID_ARG, "dp_model_calibrate: sample %lld has %g at index %zu", (long long)i,
                                 (double)x[j], j);
        if ((s = dp_exec_run(e, x, 1, h, w, logits))) return s;
    }
    return DP_OK;
}

DP_API dp_status dp_model_calibrate(const dp_model *model, const dp_dataset *ds, int64_t n, const dp_calib_opts *opts,
                                    dp_calibration **out) {
    if (!out) return dpi_error(DP_ERR_INVALID_ARG, "dp_model_calibrate: out is NULL");
    *out = NULL;
    dp_calib_opts o;
    dp_calib_opts_init(&o);
    dp_status s = dpi_sized_take(&o, sizeof o, opts, sizeof o, "dp_model_calibrate: opts", "dp_calib_opts_init");
    if (s || (s = check_args(model, ds, n, &o))) return s;
    if (model->graph.n == 0)
        return dpi_error(DP_ERR_UNSUPPORTED, "dp_model_calibrate: %s computes nothing: there is nothing to calibrate",
                         model->arch);

    dp_model *ref = NULL;
    dp_exec *e = NULL;
    dp_calibration *cal = NULL;
    int c, h, w, nodes = model->graph.n;
    dp_dataset_shape(ds, &c, &h, &w);
    meas m = {0, calloc((size_t)nodes + 1, sizeof(float)), NULL};
    float *x = malloc((size_t)c * h * w * sizeof *x), *logits = malloc((size_t)model->num_classes * sizeof *logits);
    if (o.method == DP_CALIB_PERCENTILE) m.hist = calloc(((size_t)nodes + 1) * BINS, sizeof *m.hist);
    if (!m.max || !x || !logits || (o.method == DP_CALIB_PERCENTILE && !m.hist) || !(cal = dpi_calibration_new(nodes))) {
        s = dpi_error(DP_ERR_NOMEM, "dp_model_calibrate: out of memory");
        goto done;
    }
    dp_model_opts mo;
    dp_model_opts_init(&mo);
    mo.num_classes = model->num_classes;
    mo.seed = model->seed;
    mo.backend = DP_BACKEND_REFERENCE;
    if ((s = dp_model_load(model->arch, model->weights_path, &mo, &ref))) goto done;
    if (ref->weights_hash != model->weights_hash) {
        s = dpi_error(DP_ERR_IO, "dp_model_calibrate: %s changed since the model was loaded", model->weights_path);
        goto done;
    }
    if ((s = dp_exec_create(ref, 1, &e))) goto done;
    ((ref_exec *)e->impl)->observe = observe;
    ((ref_exec *)e->impl)->observe_ctx = &m;
    if ((s = run_pass(e, ds, n, x, logits, 1))) goto done;
    if (o.method == DP_CALIB_PERCENTILE) {
        m.pass = 1;
        if ((s = run_pass(e, ds, n, x, logits, 0))) goto done;
    }
    memcpy(cal->arch, model->arch, sizeof cal->arch);
    cal->num_classes = model->num_classes;
    cal->weights_hash = model->weights_hash;
    cal->method = o.method;
    cal->percentile = o.method == DP_CALIB_PERCENTILE ? o.percentile : 0.0;
    cal->samples = n;
    for (int t = 0; t <= nodes; t++) {
        float r = m.hist ? percentile_of(m.hist + (size_t)t * BINS, m.max[t], o.percentile) : m.max[t];
        if (t == 0) cal->input_range = r;
        else cal->range[t - 1] = r;
    }
    for (int i = 0; i < nodes; i++) memcpy(cal->names[i], model->graph.nodes[i].name, DPI_NAME_CAP);
    *out = cal;
    cal = NULL;
done:
    dp_calibration_free(cal);
    dp_exec_free(e);
    dp_model_free(ref);
    free(m.max);
    free(m.hist);
    free(x);
    free(logits);
    return s;
}
