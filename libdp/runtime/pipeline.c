/* Pipelines: laying a runner's workers out as replicas x stages (dp_runner_set_stages), and the
 * hand-overs between consecutive stages of a replica during a run (pipeline.h says how they
 * work; docs/pipeline.md why). */
#include "pipeline.h"

#include <stdlib.h>
#include <string.h>

#include "dataparallel/pipeline.h"
#include "util/sized.h"

struct dpi_pipeline {
    dp_model **models;       /* `stages` stage models of the runner's model */
    int stages, depth;
    int *cuts;               /* stages - 1 unit indices */
    dpi_link *links;         /* per run: replicas * (stages - 1); (replica, s) feeds stage s + 1 */
    int nlinks;
    dpi_clock *clocks;       /* per run: one per replica */
};

DP_API void dp_stage_opts_init_sized(dp_stage_opts *opts, size_t size) {
    const dp_stage_opts d = {.size = sizeof d, .stages = 1, .depth = 2, .plan_h = 32, .plan_w = 32};
    dpi_sized_init(opts, size, &d, sizeof d);
}

static void pipeline_destroy(struct dpi_pipeline *p) {
    if (!p) return;
    for (int s = 0; p->models && s < p->stages; s++) dp_model_free(p->models[s]);
    free(p->models);
    free(p->cuts);
    free(p);
}

void dpi_pipeline_free(dp_runner *r) {
    pipeline_destroy(r->pipe);
    r->pipe = NULL;
}

/* Cuts where the planner puts them: a profile of the model on this thread at max_batch, the
 * stages' speeds the inverse of replica 0's slowdown factors. */
static dp_status plan_cuts(dp_runner *r, const dp_stage_opts *o, int *cuts) {
    dp_unit_info units[128];
    double speeds[DP_MAX_WORKERS < 128 ? DP_MAX_WORKERS : 128];
    int n = 0;
    if (o->stages > (int)(sizeof speeds / sizeof speeds[0]))
        return dpi_error(DP_ERR_INVALID_ARG, "dp_runner_set_stages: %d stages: give cuts to plan more than %d",
                         o->stages, (int)(sizeof speeds / sizeof speeds[0]));
    dp_status s = dp_model_profile(r->model, r->opts.max_batch, r->opts.threads_per_worker, o->plan_h, o->plan_w, 3,
                                   units, 128, &n);
    if (s) return s;
    for (int k = 0; k < o->stages; k++) speeds[k] = 1.0 / r->slowdown[k];
    dp_split_opts so;
    dp_split_opts_init(&so);
    so.stages = o->stages;
    so.speeds = speeds;
    so.batch = r->opts.max_batch;
    so.link_bytes_per_s = o->link_bytes_per_s;
    so.link_latency_s = o->link_latency_s;
    return dp_split_plan(units, n < 128 ? n : 128, &so, cuts, NULL);
}

DP_API dp_status dp_runner_set_stages(dp_runner *r, const dp_stage_opts *opts) {
    if (!r) return dpi_error(DP_ERR_INVALID_ARG, "dp_runner_set_stages: runner is NULL");
    dp_stage_opts o;
    dp_stage_opts_init(&o);
    dp_status s = dpi_sized_take(&o, sizeof o, opts, sizeof o, "dp_runner_set_stages: opts", "dp_stage_opts_init");
    if (s) return s;
    if (atomic_load(&r->state) != DPI_IDLE) return dpi_error(DP_ERR_BUSY, "dp_runner_set_stages: a run is in progress");
    if (o.stages < 1 || r->workers % o.stages != 0)
        return dpi_error(DP_ERR_INVALID_ARG, "dp_runner_set_stages: %d stages do not divide the runner's %d workers",
                         o.stages, r->workers);
    if (o.depth < 1) return dpi_error(DP_ERR_INVALID_ARG, "dp_runner_set_stages: depth %d must be >= 1", o.depth);
    if (!(o.link_bytes_per_s >= 0 && o.link_latency_s >= 0 && o.link_latency_s < 1e6))
        return dpi_error(DP_ERR_INVALID_ARG, "dp_runner_set_stages: link_bytes_per_s %g and link_latency_s %g, expected "
                         ">= 0 (0: a free link)", o.link_bytes_per_s, o.link_latency_s);
    if (o.cuts && o.num_cuts != o.stages - 1)
        return dpi_error(DP_ERR_INVALID_ARG, "dp_runner_set_stages: %d cuts for %d stages (need %d)", o.num_cuts,
                         o.stages, o.stages - 1);
    /* An MPI worker rank splits the model at the cuts rank 0's run sends it (libdp/mpi/stages.c):
     * planning here would time this rank and could choose other cuts. */
    int build = o.stages > 1 && !r->is_server;
    struct dpi_pipeline *p = calloc(1, sizeof *p);
    if (!p) return dpi_error(DP_ERR_NOMEM, "dp_runner_set_stages: out of memory");
    p->stages = o.stages;
    p->depth = o.depth;
    p->models = calloc((size_t)o.stages, sizeof *p->models);
    p->cuts = calloc((size_t)o.stages, sizeof *p->cuts);
    if (!p->models || !p->cuts) {
        s = dpi_error(DP_ERR_NOMEM, "dp_runner_set_stages: out of memory");
        goto fail;
    }
    if (build) {
        if (o.cuts) memcpy(p->cuts, o.cuts, sizeof *p->cuts * (size_t)(o.stages - 1));
        else if ((s = plan_cuts(r, &o, p->cuts))) goto fail;
        if ((s = dp_model_split(r->model, p->cuts, o.stages - 1, p->models))) goto fail;
    }
    dpi_pipeline_free(r);
    r->pipe = build ? p : NULL;
    if (!build) pipeline_destroy(p);
    r->stages = o.stages;
    r->replicas = r->workers / o.stages;
    for (int k = 0; k < r->workers; k++) {
        r->w[k].replica = k / r->stages;
        r->w[k].stage = k % r->stages;
    }
    r->wcfg.stage_models = r->pipe ? (const dp_model *const *)r->pipe->models : NULL;
    r->wcfg.cuts = r->pipe ? r->pipe->cuts : NULL;
    r->wcfg.stages = r->stages;
    return DP_OK;
fail:
    pipeline_destroy(p);
    return s;
}

DP_API dp_status dp_runner_get_cuts(const dp_runner *r, int *cuts, int cap, int *count) {
    if (!r || !count || (cap > 0 && !cuts))
        return dpi_error(DP_ERR_INVALID_ARG, "dp_runner_get_cuts: %s is NULL", !r ? "runner" : !count ? "count" : "cuts");
    *count = r->pipe ? r->stages - 1 : 0; /* an MPI worker rank learns its cuts from rank 0 */
    for (int k = 0; k < *count && k < cap; k++) cuts[k] = r->pipe->cuts[k];
    return DP_OK;
}

/* ---- hand-overs -------------------------------------------------------------------------- */

static void link_destroy(dpi_link *l) {
    for (int i = 0; l->bufs && i < l->depth; i++) {
        free(l->bufs[i].slots);
        free(l->bufs[i].labels);
        dpi_free_aligned(l->bufs[i].act);
    }
    free(l->bufs);
    free(l->full);
    free(l->free);
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
}

static dp_status link_init(dpi_link *l, int depth, int max_batch, size_t floats) {
    memset(l, 0, sizeof *l);
    if (pthread_mutex_init(&l->mu, NULL) != 0) return dpi_error(DP_ERR_INTERNAL, "runner: cannot create a lock");
    if (pthread_cond_init(&l->cv, NULL) != 0) {
        pthread_mutex_destroy(&l->mu);
        return dpi_error(DP_ERR_INTERNAL, "runner: cannot create a condition variable");
    }
    l->depth = depth;
    l->sample_bytes = (int64_t)(floats * sizeof(float));
    l->bufs = calloc((size_t)depth, sizeof *l->bufs);
    l->full = calloc((size_t)depth, sizeof *l->full);
    l->free = calloc((size_t)depth, sizeof *l->free);
    for (int i = 0; l->bufs && l->full && l->free && i < depth; i++) {
        dpi_handoff *h = &l->bufs[i];
        h->slots = calloc((size_t)max_batch, sizeof *h->slots);
        h->labels = calloc((size_t)max_batch, sizeof *h->labels);
        h->act = dpi_alloc_aligned((size_t)max_batch * floats * sizeof(float), DPI_CACHELINE);
        if (!h->slots || !h->labels || !h->act) break;
        l->free[l->free_count++] = i;
    }
    if (l->free_count < depth) {
        link_destroy(l);
        memset(l, 0, sizeof *l);
        return dpi_error(DP_ERR_NOMEM, "runner: out of memory for %d hand-overs of %d x %zu floats", depth, max_batch,
                         floats);
    }
    return DP_OK;
}

dp_status dpi_pipeline_begin(dp_runner *r) {
    struct dpi_pipeline *p = r->pipe;
    if (!p) return DP_OK;
    /* The profiling pass of batch mode times whole models on images; a later stage takes
     * activations, and a replica is as fast as its slowest stage. */
    if (r->run.mode == DPI_MODE_BATCH && r->run.profile)
        return dpi_error(DP_ERR_UNSUPPORTED, "runner: the %s partitioner would profile whole models to split the data "
                         "set; with %d stages give it weights, one per replica (%d)", dp_partitioner_name(r->partitioner),
                         r->stages, r->replicas);
    int per = p->stages - 1, in[3], out[3];
    p->links = calloc((size_t)r->replicas * per, sizeof *p->links);
    p->clocks = dpi_alloc_aligned((size_t)r->replicas * sizeof *p->clocks, DPI_CACHELINE);
    if (!p->links || !p->clocks) return dpi_error(DP_ERR_NOMEM, "runner: out of memory for the pipeline");
    memset(p->clocks, 0, (size_t)r->replicas * sizeof *p->clocks);
    for (p->nlinks = 0; p->nlinks < r->replicas * per; p->nlinks++) {
        dp_model_io_shape(p->models[p->nlinks % per], r->run.h, r->run.w, in, out);
        dp_status s = link_init(&p->links[p->nlinks], p->depth, r->opts.max_batch, (size_t)out[0] * out[1] * out[2]);
        if (s) return s;
    }
    for (int k = 0; k < r->workers; k++) {
        dpi_worker *w = &r->w[k];
        if (w->stage > 0) w->run.from = &p->links[w->replica * per + w->stage - 1];
        if (w->stage < per) w->run.to = &p->links[w->replica * per + w->stage];
        w->run.clock = &p->clocks[w->replica];
    }
    return DP_OK;
}

void dpi_pipeline_end(dp_runner *r) {
    struct dpi_pipeline *p = r->pipe;
    if (!p) return;
    for (int i = 0; p->links && i < p->nlinks; i++) link_destroy(&p->links[i]);
    free(p->links);
    dpi_free_aligned(p->clocks);
    p->links = NULL;
    p->clocks = NULL;
    p->nlinks = 0;
}

dpi_handoff *dpi_link_acquire(dpi_link *l) {
    pthread_mutex_lock(&l->mu);
    while (l->free_count == 0) pthread_cond_wait(&l->cv, &l->mu);
    dpi_handoff *h = &l->bufs[l->free[l->free_head]];
    l->free_head = (l->free_head + 1) % l->depth;
    l->free_count--;
    pthread_mutex_unlock(&l->mu);
    return h;
}

void dpi_link_publish(dpi_link *l, dpi_handoff *h) {
    pthread_mutex_lock(&l->mu);
    l->full[(l->full_head + l->full_count) % l->depth] = (int)(h - l->bufs);
    l->full_count++;
    if (l->full_count > atomic_load_explicit(&l->hwm, memory_order_relaxed))
        atomic_store_explicit(&l->hwm, l->full_count, memory_order_relaxed);
    atomic_store_explicit(&l->count, l->full_count, memory_order_relaxed);
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

dpi_handoff *dpi_link_take(dpi_link *l) {
    pthread_mutex_lock(&l->mu);
    while (l->full_count == 0 && !l->closed) pthread_cond_wait(&l->cv, &l->mu);
    dpi_handoff *h = NULL;
    if (l->full_count > 0) {
        h = &l->bufs[l->full[l->full_head]];
        l->full_head = (l->full_head + 1) % l->depth;
        l->full_count--;
        atomic_store_explicit(&l->count, l->full_count, memory_order_relaxed);
    }
    pthread_mutex_unlock(&l->mu);
    return h;
}

void dpi_link_release(dpi_link *l, dpi_handoff *h) {
    pthread_mutex_lock(&l->mu);
    l->free[(l->free_head + l->free_count) % l->depth] = (int)(h - l->bufs);
    l->free_count++;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

void dpi_link_close(dpi_link *l) {
    pthread_mutex_lock(&l->mu);
    l->closed = 1;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

int dpi_take_from_link(dpi_worker *w) {
    dpi_handoff *h = dpi_link_take(w->run.from);
    if (!h) return 0;
    memcpy(w->run.mb.slots, h->slots, sizeof *h->slots * (size_t)h->n);
    memcpy(w->run.mb.labels, h->labels, sizeof *h->labels * (size_t)h->n);
    w->run.held = h;
    return h->n;
}

int64_t dpi_worker_queue_hwm(const dpi_worker *w) {
    if (w->run.from) return atomic_load_explicit(&w->run.from->hwm, memory_order_relaxed);
    return w->run.in ? atomic_load_explicit(&w->run.in->hwm, memory_order_relaxed) : 0;
}
