/*
 * A worker rank's side of pipelined runs (docs/pipeline.md, "Over MPI"): the rank splits its
 * own copy of the model at the cuts rank 0 sends with each PREPARE (dp_model_split shares the
 * weights, so this copies nothing), and each lane keeps one dp_exec per stage it was asked to
 * run, so a rank that serves one stage reorders and caches only that stage's weights. Without
 * stages the "split" is the whole model as stage 0 of 1, and everything runs the same way.
 * Rank 0 decides the cuts (planned or given there): a rank never plans, since a profile timed
 * here could choose other cuts than rank 0's.
 */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "dataparallel/partition.h"
#include "dataparallel/split.h"
#include "mpi_impl.h"

#define HDR sizeof(dpi_mpi_hdr)

static const dp_model *stage_model(const dpi_mpi_backend *b, int s) {
    return b->split ? b->split[s] : b->cfg->model;
}

void dpi_mpi_stages_free(dpi_mpi_backend *b) {
    for (int i = 0; i < b->nlanes; i++) {
        dpi_mpi_lane *L = &b->lanes[i];
        for (int s = 0; L->execs && s < b->nstages; s++) dp_exec_free(L->execs[s]);
        free(L->execs);
        L->execs = NULL;
    }
    for (int s = 0; b->split && s < b->nstages; s++) dp_model_free(b->split[s]);
    free(b->split);
    free(b->cuts);
    free(b->in_floats);
    free(b->out_floats);
    b->split = NULL;
    b->cuts = NULL;
    b->in_floats = b->out_floats = NULL;
    b->nstages = 0;
    b->run_h = b->run_w = 0;
}

/* Split as rank 0 says: n stages at cuts[n - 1]. */
static dp_status resplit(dpi_mpi_backend *b, int n, const int *cuts) {
    dpi_mpi_stages_free(b);
    b->cuts = calloc((size_t)n, sizeof *b->cuts);
    b->in_floats = calloc((size_t)n, sizeof *b->in_floats);
    b->out_floats = calloc((size_t)n, sizeof *b->out_floats);
    b->split = n > 1 ? calloc((size_t)n, sizeof *b->split) : NULL;
    int ok = b->cuts && b->in_floats && b->out_floats && (n == 1 || b->split);
    for (int i = 0; ok && i < b->nlanes; i++) ok = (b->lanes[i].execs = calloc((size_t)n, sizeof(dp_exec *))) != NULL;
    b->nstages = n; /* what the arrays are sized for, so that stages_free frees them */
    if (!ok) {
        dpi_mpi_stages_free(b);
        return b->host->error(DP_ERR_NOMEM, "mpi: rank %d: out of memory for %d stages", b->rank, n);
    }
    if (n > 1) {
        dp_status s = dp_model_split(b->cfg->model, cuts, n - 1, b->split);
        if (s != DP_OK) {
            free(b->split);
            b->split = NULL; /* dp_model_split made none of them */
            dpi_mpi_stages_free(b);
            return b->host->error(s, "mpi: rank %d: splitting the model as rank 0 did: %s (do all ranks load the same "
                                     "arch?)", b->rank, dp_last_error());
        }
        memcpy(b->cuts, cuts, (size_t)(n - 1) * sizeof *cuts);
    }
    return DP_OK;
}

dp_status dpi_mpi_stages_prepare(dpi_mpi_backend *b, const dpi_mpi_hdr *q, size_t bytes) {
    int n = q->stages, cuts[DP_MAX_WORKERS];
    if (n < 1 || n > DP_MAX_WORKERS || q->stage < 0 || q->stage >= n || q->h < 1 || q->w < 1 ||
        bytes != HDR + (size_t)(n - 1) * sizeof(int32_t))
        return b->host->error(DP_ERR_INVALID_ARG, "mpi: rank %d: a prepare for stage %d of %d (%zu bytes) is malformed",
                              b->rank, q->stage, n, bytes);
    const unsigned char *payload = (const unsigned char *)q + HDR;
    for (int k = 0; k < n - 1; k++) {
        int32_t c;
        memcpy(&c, payload + k * sizeof c, sizeof c);
        cuts[k] = c;
    }
    int same = n == b->nstages && (n == 1 || memcmp(cuts, b->cuts, (size_t)(n - 1) * sizeof *cuts) == 0);
    dp_status s = same ? DP_OK : resplit(b, n, cuts);
    if (s != DP_OK || (q->h == b->run_h && q->w == b->run_w)) return s;
    for (int k = 0; k < n; k++) {
        int in[3], out[3];
        if ((s = dp_model_io_shape(stage_model(b, k), q->h, q->w, in, out)) != DP_OK) return s;
        b->in_floats[k] = (size_t)in[0] * in[1] * in[2];
        b->out_floats[k] = (size_t)out[0] * out[1] * out[2];
    }
    b->run_h = q->h;
    b->run_w = q->w;
    return DP_OK;
}

/* On the lane's own thread: OpenMP fixes a primitive's thread count when it is created, from the
 * creating thread's setting. Every size a micro-batch can have is prepared
 * (dp_exec_prepare_batches, as the threads backend does), so no batch pays set-up. */
dp_status dpi_mpi_lane_prepare(dpi_mpi_lane *L, int stage, int n, int h, int w) {
    const dpi_mpi_backend *b = L->b;
    dp_status s = DP_OK;
    omp_set_num_threads(b->cfg->threads_per_worker);
    if (!L->execs[stage]) s = dp_exec_create(stage_model(b, stage), b->cfg->threads_per_worker, &L->execs[stage]);
    if (s == DP_OK) s = dp_exec_prepare_batches(L->execs[stage], n, h, w);
    return s;
}
