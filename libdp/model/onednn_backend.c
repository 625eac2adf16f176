/* oneDNN backend: being written. Until then every entry point reports DP_ERR_UNSUPPORTED. */
#include "model_impl.h"
#include "../util/util.h"

static dp_status not_ready(void) { return dpi_error(DP_ERR_UNSUPPORTED, "oneDNN backend not ready"); }

static dp_status model_init(dp_model *m, const dpi_weights *w) {
    (void)m;
    (void)w;
    return not_ready();
}
static void model_fini(dp_model *m) { (void)m; }
static dp_status exec_init(dp_exec *e) {
    (void)e;
    return not_ready();
}
static dp_status exec_prepare(dp_exec *e, int n, int h, int w) {
    (void)e, (void)n, (void)h, (void)w;
    return not_ready();
}
static dp_status exec_run(dp_exec *e, const float *x, int n, int h, int w, float *logits) {
    (void)e, (void)x, (void)n, (void)h, (void)w, (void)logits;
    return not_ready();
}
static dp_status exec_profile(const dp_exec *e, dp_layer_profile *out, int cap, int *count) {
    (void)e, (void)out, (void)cap, (void)count;
    return not_ready();
}
static void exec_fini(dp_exec *e) { (void)e; }

const dpi_backend dpi_backend_onednn = {
    "onednn", model_init, model_fini, exec_init, exec_prepare, exec_run, exec_profile, exec_fini,
};
