/* The threads backend of the worker seam: each worker thread runs micro-batches on its own
 * dp_exec over the shared dp_model. */
#include <stdlib.h>

#include "util/util.h"
#include "worker.h"

typedef struct local_backend {
    const dpi_worker_config *cfg;  /* the runner's: stage models may be set after open() */
} local_backend;

static dp_status local_open(const dpi_worker_host *host, const dpi_worker_config *cfg, int *workers,
                            int *is_server, void **backend) {
    (void)host;
    (void)workers;
    local_backend *b = calloc(1, sizeof *b);
    if (!b) return dpi_error(DP_ERR_NOMEM, "runner: out of memory");
    b->cfg = cfg;
    *is_server = 0;
    *backend = b;
    return DP_OK;
}

/* Every size a micro-batch can have is prepared up front (dp_exec_prepare_batches), so no batch
 * pays oneDNN's set-up inside the measured latency. */
static dp_status local_init(void *backend, int worker, int c, int h, int w, void **ctx) {
    const dpi_worker_config *cfg = ((local_backend *)backend)->cfg;
    dp_exec *e = NULL;
    (void)c;
    const dp_model *model = cfg->stage_models ? cfg->stage_models[worker % cfg->stages] : cfg->model;
    dp_status s = dp_exec_create(model, cfg->threads_per_worker, &e);
    if (s != DP_OK) return s;
    s = dp_exec_prepare_batches(e, cfg->max_batch, h, w);
    if (s != DP_OK) {
        dp_exec_free(e);
        return s;
    }
    *ctx = e;
    return DP_OK;
}

static dp_status local_run(void *ctx, const float *input, int n, int c, int h, int w, float *logits,
                           const dpi_worker_fx *fx) {
    (void)c;
    (void)fx;
    return dp_exec_run(ctx, input, n, h, w, logits);
}

static void local_fini(void *ctx) { dp_exec_free(ctx); }

static void local_close(void *backend) { free(backend); }

const dpi_worker_ops dpi_worker_local_ops = {
    .abi = DPI_WORKER_ABI,
    .name = "threads",
    .open = local_open,
    .init = local_init,
    .run = local_run,
    .fini = local_fini,
    .end_run = NULL,
    .serve = NULL,
    .traffic = NULL,
    .close = local_close,
};
