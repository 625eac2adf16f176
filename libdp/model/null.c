/* The "null" arch: a model that does no work (its graph has no nodes, it has no parameters and
 * its logits are zeros), so that benchmarks measure the runtime alone, as LoadGen's sleep backend
 * does. It runs on this backend whichever one was asked for: there is nothing to compute. */
#include <string.h>

#include "graph_build.h"
#include "model_impl.h"

void dpi_build_null(dpi_graph *g) { (void)g; }

static dp_status model_init(dp_model *m, const dpi_weights *w) {
    (void)m;
    (void)w;
    return DP_OK;
}

static void model_fini(dp_model *m) { (void)m; }

static dp_status exec_init(dp_exec *e) {
    (void)e;
    return DP_OK;
}

static dp_status exec_prepare(dp_exec *e, int n, int h, int w) {
    (void)e, (void)n, (void)h, (void)w;
    return DP_OK;
}

static dp_status exec_run(dp_exec *e, const float *x, int n, int h, int w, float *logits) {
    (void)x, (void)h, (void)w;
    memset(logits, 0, sizeof *logits * (size_t)n * (size_t)e->model->num_classes);
    return DP_OK;
}

static dp_status exec_profile(const dp_exec *e, dp_layer_profile *out, int cap, int *count) {
    (void)e, (void)out, (void)cap;
    *count = 0;
    return DP_OK;
}

static void exec_stats(const dp_exec *e, dp_exec_stats *out) {
    (void)e;
    memset((char *)out + sizeof out->size, 0, sizeof *out - sizeof out->size);
}

static void exec_fini(dp_exec *e) { (void)e; }

const dpi_backend dpi_backend_null = {
    .name = "null",
    .model_init = model_init,
    .model_fini = model_fini,
    .exec_init = exec_init,
    .exec_prepare = exec_prepare,
    .exec_prepare_batches = exec_prepare,
    .exec_run = exec_run,
    .exec_profile = exec_profile,
    .exec_stats = exec_stats,
    .exec_fini = exec_fini,
};
