/*
 * oneDNN backend: BN folding and the shared weight cache (model), execution contexts, the run
 * path and the layer profile. How a shape becomes primitives is in onednn_build.c; the why of the
 * design is in docs/engine.md.
 */
#include <dnnl_debug.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onednn_impl.h"
#include "util/util.h"

dp_status dpo_error(dnnl_status_t st, const char *what, const char *layer) {
    dp_status s = st == dnnl_unimplemented    ? DP_ERR_UNSUPPORTED
                  : st == dnnl_out_of_memory ? DP_ERR_NOMEM
                  : st == dnnl_invalid_arguments ? DP_ERR_SHAPE
                                                 : DP_ERR_BACKEND;
    return dpi_error(s, "oneDNN %s failed for %s: %s", what, layer, dnnl_status2str(st));
}

/* ---- model: fold BN, keep weights plain, reorder lazily per requested layout ------------------ */

static int cpu_has_bf16(void) {
    /* The ISA values are nested bit sets, so "at least avx512_core_bf16" is a mask test; it also
     * honours DNNL_MAX_CPU_ISA, which is how the unsupported path is tested. */
    unsigned isa = (unsigned)dnnl_get_effective_cpu_isa();
    return (isa & (unsigned)dnnl_cpu_isa_avx512_core_bf16) == (unsigned)dnnl_cpu_isa_avx512_core_bf16;
}

static const float *param(const dpi_weights *w, const char *module, const char *field, int ndim,
                          const int64_t *shape, dp_status *s) {
    char name[DPI_NAME_CAP + 16];
    const float *p = NULL;
    snprintf(name, sizeof name, "%s.%s", module, field);
    *s = dpi_weights_get(w, name, ndim, shape, &p);
    return p;
}

/* w' = w * gamma / sqrt(var + eps), b' = beta - mean * gamma / sqrt(var + eps), in double. */
static dp_status fold_conv(const dpi_node *nd, const dpi_weights *w, dpo_layer *L) {
    dp_status s = DP_OK;
    int cig = nd->cin / nd->groups;
    int64_t wshape[4] = {nd->cout, cig, nd->k, nd->k}, cshape[1] = {nd->cout};
    size_t per_out = (size_t)cig * nd->k * nd->k;
    const float *wt = param(w, nd->name, "weight", 4, wshape, &s);
    if (s) return s;
    L->w = malloc(sizeof(float) * per_out * nd->cout);
    L->b = (nd->bn[0] || nd->has_bias) ? malloc(sizeof(float) * nd->cout) : NULL;
    if (!L->w || ((nd->bn[0] || nd->has_bias) && !L->b)) return dpi_error(DP_ERR_NOMEM, "out of memory folding %s", nd->name);
    if (nd->bn[0]) {
        const float *g = param(w, nd->bn, "weight", 1, cshape, &s);
        const float *be = s ? NULL : param(w, nd->bn, "bias", 1, cshape, &s);
        const float *mu = s ? NULL : param(w, nd->bn, "running_mean", 1, cshape, &s);
        const float *var = s ? NULL : param(w, nd->bn, "running_var", 1, cshape, &s);
        if (s) return s;
        for (int o = 0; o < nd->cout; o++) {
            double scale = (double)g[o] / sqrt((double)var[o] + (double)DPI_BN_EPS);
            for (size_t j = 0; j < per_out; j++) L->w[o * per_out + j] = (float)(wt[o * per_out + j] * scale);
            L->b[o] = (float)((double)be[o] - (double)mu[o] * scale);
        }
    } else {
        memcpy(L->w, wt, sizeof(float) * per_out * nd->cout);
        if (nd->has_bias) {
            const float *b = param(w, nd->name, "bias", 1, cshape, &s);
            if (s) return s;
            memcpy(L->b, b, sizeof(float) * nd->cout);
        }
    }
    dnnl_dims_t d5 = {nd->groups, nd->cout / nd->groups, cig, nd->k, nd->k};
    dnnl_dims_t d4 = {nd->cout, cig, nd->k, nd->k};
    dnnl_status_t st = nd->groups > 1 ? dnnl_memory_desc_init_by_tag(&L->w_md, 5, d5, dnnl_f32, dnnl_goihw)
                                      : dnnl_memory_desc_init_by_tag(&L->w_md, 4, d4, dnnl_f32, dnnl_oihw);
    return st == dnnl_success ? DP_OK : dpo_error(st, "weights descriptor", nd->name);
}

static dp_status load_linear(const dpi_node *nd, const dpi_weights *w, dpo_layer *L) {
    dp_status s = DP_OK;
    int64_t wshape[2] = {nd->cout, nd->cin}, bshape[1] = {nd->cout};
    const float *wt = param(w, nd->name, "weight", 2, wshape, &s);
    const float *b = s ? NULL : param(w, nd->name, "bias", 1, bshape, &s);
    if (s) return s;
    L->w = malloc(sizeof(float) * nd->cout * nd->cin);
    L->b = malloc(sizeof(float) * nd->cout);
    if (!L->w || !L->b) return dpi_error(DP_ERR_NOMEM, "out of memory loading %s", nd->name);
    memcpy(L->w, wt, sizeof(float) * nd->cout * nd->cin);
    memcpy(L->b, b, sizeof(float) * nd->cout);
    /* [K,C] is [K,C,1,1]: the inner product reads the pooled [N,C,1,1] activations directly. */
    dnnl_dims_t d = {nd->cout, nd->cin, 1, 1};
    dnnl_status_t st = dnnl_memory_desc_init_by_tag(&L->w_md, 4, d, dnnl_f32, dnnl_oihw);
    return st == dnnl_success ? DP_OK : dpo_error(st, "weights descriptor", nd->name);
}

static void model_fini(dp_model *m) {
    dpo_model *om = m->impl;
    if (!om) return;
    for (dpo_wcache *c = om->wcache, *next; c; c = next) {
        next = c->next;
        dnnl_memory_destroy(c->mem);
        free(c);
    }
    if (om->layers) {
        for (int i = 0; i < m->graph.n; i++) {
            dnnl_memory_destroy(om->layers[i].b_mem);
            free(om->layers[i].w);
            free(om->layers[i].b);
        }
    }
    free(om->layers);
    if (om->engine) dnnl_engine_destroy(om->engine);
    pthread_mutex_destroy(&om->lock);
    free(om);
    m->impl = NULL;
}

static dp_status model_init(dp_model *m, const dpi_weights *w) {
    dp_status s = DP_OK;
    if (m->precision == DP_PRECISION_BF16 && !cpu_has_bf16())
        return dpi_error(DP_ERR_UNSUPPORTED,
                         "bf16 needs a CPU with AVX512-BF16 or AMX; oneDNN reports ISA %s here (use fp32)",
                         dnnl_cpu_isa2str(dnnl_get_effective_cpu_isa()));
    dpo_model *om = calloc(1, sizeof *om);
    if (!om) return dpi_error(DP_ERR_NOMEM, "out of memory preparing %s", m->arch);
    pthread_mutex_init(&om->lock, NULL);
    m->impl = om;
    om->dt = m->precision == DP_PRECISION_BF16 ? dnnl_bf16 : dnnl_f32;
    DNN(dnnl_engine_create(&om->engine, dnnl_cpu, 0), "engine creation", m->arch);
    om->layers = calloc((size_t)m->graph.n, sizeof *om->layers);
    if (!om->layers) {
        s = dpi_error(DP_ERR_NOMEM, "out of memory preparing %s", m->arch);
        goto fail;
    }
    for (int i = 0; i < m->graph.n; i++) {
        const dpi_node *nd = &m->graph.nodes[i];
        dpo_layer *L = &om->layers[i];
        if (nd->op == DPI_OP_CONV) s = fold_conv(nd, w, L);
        else if (nd->op == DPI_OP_LINEAR) s = load_linear(nd, w, L);
        else continue;
        if (s) goto fail;
        if (L->b) {
            dnnl_memory_desc_t bmd;
            dnnl_dims_t d = {nd->cout};
            DNN(dnnl_memory_desc_init_by_tag(&bmd, 1, d, dnnl_f32, dnnl_a), "bias descriptor", nd->name);
            DNN(dnnl_memory_create(&L->b_mem, &bmd, om->engine, L->b), "bias memory", nd->name);
        }
    }
    return DP_OK;
fail:
    model_fini(m);
    return s;
}

dp_status dpo_weights_get(dpo_model *m, dnnl_stream_t stream, int node, const dpo_window *win,
                          const dnnl_memory_desc_t *md, dnnl_memory_t *out) {
    dp_status s = DP_OK;
    const dpo_layer *L = &m->layers[node];
    dnnl_memory_t src = NULL, dst = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t prim = NULL;
    dpo_wcache *c = NULL;
    pthread_mutex_lock(&m->lock);
    for (c = m->wcache; c; c = c->next) {
        if (c->node == node && memcmp(&c->win, win, sizeof *win) == 0 && dnnl_memory_desc_equal(&c->md, md)) {
            *out = c->mem;
            pthread_mutex_unlock(&m->lock);
            return DP_OK;
        }
    }
    c = calloc(1, sizeof *c);
    if (!c) {
        s = dpi_error(DP_ERR_NOMEM, "out of memory caching weights");
        goto fail;
    }
    c->node = node;
    c->win = *win;
    c->md = *md;
    /* The taps in the window, as a view of the plain weights (spatial dims are the last two). */
    dnnl_memory_desc_t view = L->w_md;
    int nd = L->w_md.ndims;
    if (win->kh != L->w_md.dims[nd - 2] || win->kw != L->w_md.dims[nd - 1]) {
        dnnl_dims_t dims, offs = {0};
        memcpy(dims, L->w_md.dims, sizeof dims);
        dims[nd - 2] = win->kh;
        dims[nd - 1] = win->kw;
        offs[nd - 2] = win->y0;
        offs[nd - 1] = win->x0;
        DNN(dnnl_memory_desc_init_submemory(&view, &L->w_md, dims, offs), "weights window", "weights cache");
    }
    if (dnnl_memory_desc_equal(md, &L->w_md)) {
        /* The primitive reads the plain folded weights as they are: share them, no copy. */
        DNN(dnnl_memory_create(&c->mem, md, m->engine, L->w), "weights memory", "weights cache");
    } else {
        /* The reorder only reads L->w; oneDNN's API just has no const handle. */
        DNN(dnnl_memory_create(&src, &view, m->engine, L->w), "weights memory", "weights cache");
        DNN(dnnl_memory_create(&dst, md, m->engine, DNNL_MEMORY_ALLOCATE), "weights memory", "weights cache");
        DNN(dnnl_reorder_primitive_desc_create(&pd, &view, m->engine, md, m->engine, NULL),
            "weights reorder", "weights cache");
        DNN(dnnl_primitive_create(&prim, pd), "weights reorder", "weights cache");
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}};
        DNN(dnnl_primitive_execute(prim, stream, 2, args), "weights reorder", "weights cache");
        DNN(dnnl_stream_wait(stream), "weights reorder", "weights cache");
        c->mem = dst;
        dst = NULL;
    }
    c->next = m->wcache;
    m->wcache = c;
    *out = c->mem;
    c = NULL;
fail:
    pthread_mutex_unlock(&m->lock);
    free(c);
    if (prim) dnnl_primitive_destroy(prim);
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (src) dnnl_memory_destroy(src);
    if (dst) dnnl_memory_destroy(dst);
    return s;
}

/* ---- exec --------------------------------------------------------------------------------- */

const char *dpo_intern(dpo_exec *x, const char *s) {
    for (int i = 0; i < x->nstrings; i++)
        if (strcmp(x->strings[i], s) == 0) return x->strings[i];
    if (x->nstrings == x->cap_strings) {
        int cap = x->cap_strings ? 2 * x->cap_strings : 64;
        char **grown = realloc(x->strings, sizeof *grown * (size_t)cap);
        if (!grown) return NULL;
        x->strings = grown;
        x->cap_strings = cap;
    }
    char *copy = dpi_strdup(s);
    if (copy) x->strings[x->nstrings++] = copy;
    return copy;
}

static void exec_fini(dp_exec *e) {
    dpo_exec *x = e->impl;
    if (!x) return;
    for (int i = 0; i < x->nshapes; i++) dpo_shape_free(&x->shapes[i]);
    for (int i = 0; i < x->nstrings; i++) free(x->strings[i]);
    free(x->strings);
    if (x->scratch) dnnl_memory_destroy(x->scratch);
    if (x->stream) dnnl_stream_destroy(x->stream);
    dpi_free_aligned(x);
    e->impl = NULL;
}

static dp_status exec_init(dp_exec *e) {
    dp_status s = DP_OK;
    const dpo_model *om = e->model->impl;
    dpo_exec *x = dpi_alloc_aligned(sizeof *x, DPI_CACHELINE);
    if (!x) return dpi_error(DP_ERR_NOMEM, "out of memory creating an exec");
    memset(x, 0, sizeof *x);
    e->impl = x;
    /* libgomp keeps the team size per thread: what this thread sets is what the primitives it
     * creates are built for. */
    omp_set_num_threads(e->threads);
    DNN(dnnl_stream_create(&x->stream, om->engine, dnnl_stream_default_flags), "stream creation", e->model->arch);
    return DP_OK;
fail:
    exec_fini(e);
    return s;
}

/* Bind the exec's scratchpad into every step of every prepared shape that takes one. */
static void bind_scratch(dpo_exec *x) {
    for (int i = 0; i < x->nshapes; i++)
        for (int k = 0; k < x->shapes[i].nsteps; k++) {
            dpo_step *st = &x->shapes[i].steps[k];
            for (int a = 0; a < st->nargs; a++)
                if (st->args[a].arg == DNNL_ARG_SCRATCHPAD) st->args[a].memory = x->scratch;
        }
}

static dp_status grow_scratch(dpo_exec *x, const dpo_model *om, size_t need) {
    if (need <= x->scratch_size) return DP_OK;
    dp_status s = DP_OK;
    dnnl_memory_desc_t md;
    dnnl_memory_t mem = NULL;
    dnnl_dims_t d = {(dnnl_dim_t)need};
    DNN(dnnl_memory_desc_init_by_tag(&md, 1, d, dnnl_u8, dnnl_a), "scratchpad descriptor", "exec");
    DNN(dnnl_memory_create(&mem, &md, om->engine, DNNL_MEMORY_ALLOCATE), "scratchpad allocation", "exec");
    if (x->scratch) dnnl_memory_destroy(x->scratch);
    x->scratch = mem;
    x->scratch_size = need;
    return DP_OK;
fail:
    return s;
}

static dpo_shape *find_shape(dpo_exec *x, int n, int h, int w) {
    for (int i = 0; i < x->nshapes; i++) {
        dpo_shape *sh = &x->shapes[i];
        if (sh->n == n && sh->h == h && sh->w == w) return sh;
    }
    return NULL;
}

static dp_status exec_prepare_shape(dp_exec *e, int n, int h, int w, dpo_shape **out) {
    dpo_exec *x = e->impl;
    dpo_shape *sh = find_shape(x, n, h, w);
    if (sh) {
        *out = sh;
        return DP_OK;
    }
    if (omp_get_max_threads() != e->threads) omp_set_num_threads(e->threads);
    if (x->nshapes == DPO_SHAPES) {
        /* Evict the least recently used shape: a server sees few distinct batch sizes. */
        int lru = 0;
        for (int i = 1; i < x->nshapes; i++)
            if (x->shapes[i].used < x->shapes[lru].used) lru = i;
        if (x->last == &x->shapes[lru]) x->last = NULL;
        dpo_shape_free(&x->shapes[lru]);
        x->shapes[lru] = x->shapes[--x->nshapes];
        if (x->last == &x->shapes[x->nshapes]) x->last = &x->shapes[lru];
    }
    sh = &x->shapes[x->nshapes];
    dp_status s = dpo_shape_build(e, n, h, w, sh);
    if (s) return s;
    s = grow_scratch(x, e->model->impl, sh->scratch);
    if (s) {
        dpo_shape_free(sh);
        return s;
    }
    x->nshapes++;
    bind_scratch(x);
    sh->used = ++x->tick;
    *out = sh;
    return DP_OK;
}

static dp_status exec_prepare(dp_exec *e, int n, int h, int w) {
    dpo_shape *sh;
    return exec_prepare_shape(e, n, h, w, &sh);
}

static dp_status exec_run(dp_exec *e, const float *in, int n, int h, int w, float *logits) {
    dp_status s = DP_OK;
    dpo_exec *x = e->impl;
    dpo_shape *sh = x->last;
    if (!sh || sh->n != n || sh->h != h || sh->w != w) {
        s = exec_prepare_shape(e, n, h, w, &sh);
        if (s) return s;
    }
    if (omp_get_max_threads() != e->threads) omp_set_num_threads(e->threads);
    sh->used = ++x->tick;
    x->last = sh;
    /* Plain layouts: re-pointing is cheap, and skipped when the caller reuses its buffers. */
    if (sh->in_ptr != in) {
        DNN(dnnl_memory_set_data_handle_v2(sh->in, (void *)in, x->stream), "binding the input", e->model->arch);
        sh->in_ptr = in;
    }
    if (sh->out_ptr != logits) {
        DNN(dnnl_memory_set_data_handle_v2(sh->out, logits, x->stream), "binding the logits", e->model->arch);
        sh->out_ptr = logits;
    }
    if (e->profiling && !x->was_profiling)
        for (int i = 0; i < x->nshapes; i++)
            for (int k = 0; k < x->shapes[i].nsteps; k++) x->shapes[i].steps[k].calls = 0, x->shapes[i].steps[k].ns = 0;
    x->was_profiling = e->profiling;
    if (!e->profiling) {
        for (int k = 0; k < sh->nsteps; k++) {
            dpo_step *st = &sh->steps[k];
            DNN(dnnl_primitive_execute(st->prim, x->stream, st->nargs, st->args), "execution", st->name);
        }
        DNN(dnnl_stream_wait(x->stream), "execution", e->model->arch);
        return DP_OK;
    }
    for (int k = 0; k < sh->nsteps; k++) {
        dpo_step *st = &sh->steps[k];
        int64_t t0 = dpi_now_ns();
        DNN(dnnl_primitive_execute(st->prim, x->stream, st->nargs, st->args), "execution", st->name);
        DNN(dnnl_stream_wait(x->stream), "execution", st->name);
        st->ns += dpi_now_ns() - t0;
        st->calls++;
    }
    return DP_OK;
fail:
    return s;
}

static dp_status exec_profile(const dp_exec *e, dp_layer_profile *out, int cap, int *count) {
    const dpo_exec *x = e->impl;
    const dpo_shape *sh = x->last;
    if (!sh && x->nshapes) sh = &x->shapes[x->nshapes - 1];
    int n = sh ? sh->nsteps : 0;
    for (int k = 0; k < n && k < cap; k++) {
        const dpo_step *st = &sh->steps[k];
        out[k].name = st->name;
        out[k].impl = st->impl;
        out[k].calls = st->calls;
        out[k].total_ms = (double)st->ns / 1e6;
    }
    *count = n;
    return DP_OK;
}

const dpi_backend dpi_backend_onednn = {
    "onednn", model_init, model_fini, exec_init, exec_prepare, exec_run, exec_profile, exec_fini,
};
