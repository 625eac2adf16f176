/*
 * oneDNN backend, the model: BN folding and the weight cache shared by every exec. Execution
 * contexts and the run path are in onednn_exec.c, how a shape becomes primitives in
 * onednn_build.c; the why of the design is in docs/engine.md.
 */
#include <dnnl_debug.h>
#include <math.h>
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

DP_API const char *dp_cpu_isa(void) { return dnnl_cpu_isa2str(dnnl_get_effective_cpu_isa()); }

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

/* w' = w * gamma / sqrt(var + eps), b' = beta - mean * gamma / sqrt(var + eps), in double (the
 * factor itself rounded to float). An int8 BN_RELU is folded as a depthwise 1x1 conv of weight 1. */
static dp_status fold_conv(const dpi_node *nd, const dpi_weights *w, dpo_layer *L) {
    dp_status s = DP_OK;
    int cig = nd->cin / nd->groups;
    int64_t wshape[4] = {nd->cout, cig, nd->k, nd->kw}, cshape[1] = {nd->cout};
    size_t per_out = (size_t)cig * nd->k * nd->kw;
    const float *wt = nd->op == DPI_OP_BN_RELU ? NULL : param(w, nd->name, "weight", 4, wshape, &s);
    if (s) return s;
    L->w = malloc(sizeof(float) * per_out * nd->cout);
    L->b = (nd->bn[0] || nd->has_bias) ? malloc(sizeof(float) * nd->cout) : NULL;
    if (!L->w || ((nd->bn[0] || nd->has_bias) && !L->b)) return dpi_error(DP_ERR_NOMEM, "out of memory folding %s", nd->name);
    if (nd->bn[0]) {
        const float *g = param(w, nd->bn, "weight", 1, cshape, &s);
        const float *be = s ? NULL : param(w, nd->bn, "bias", 1, cshape, &s);
        const float *mu = s ? NULL : param(w, nd->bn, "running_mean", 1, cshape, &s);
        const float *var = s ? NULL : param(w, nd->bn, "running_var", 1, cshape, &s);
        const float *cb = s || !nd->has_bias ? NULL : param(w, nd->name, "bias", 1, cshape, &s);
        if (s) return s;
        for (int o = 0; o < nd->cout; o++) {
            /* The factor rounded to float, as the reference backend keeps it: int8 quantizes the
             * folded weights, and a 1-ulp difference moved s_w and flipped s8 roundings. */
            double scale = (float)((double)g[o] / sqrt((double)var[o] + (double)nd->bn_eps));
            for (size_t j = 0; j < per_out; j++)
                L->w[o * per_out + j] = (float)((wt ? wt[o * per_out + j] : 1.0f) * scale);
            /* torchvision's VGG-BN convs also have a bias, which BN shifts like the mean. */
            double bias = nd->has_bias ? (double)cb[o] : 0.0;
            L->b[o] = (float)((double)be[o] + (bias - (double)mu[o]) * scale);
        }
    } else {
        memcpy(L->w, wt, sizeof(float) * per_out * nd->cout);
        if (nd->has_bias) {
            const float *b = param(w, nd->name, "bias", 1, cshape, &s);
            if (s) return s;
            memcpy(L->b, b, sizeof(float) * nd->cout);
        }
    }
    dnnl_dims_t d5 = {nd->groups, nd->cout / nd->groups, cig, nd->k, nd->kw};
    dnnl_dims_t d4 = {nd->cout, cig, nd->k, nd->kw};
    dnnl_status_t st = nd->groups > 1 ? dnnl_memory_desc_init_by_tag(&L->w_md, 5, d5, dnnl_f32, dnnl_goihw)
                                      : dnnl_memory_desc_init_by_tag(&L->w_md, 4, d4, dnnl_f32, dnnl_oihw);
    return st == dnnl_success ? DP_OK : dpo_error(st, "weights descriptor", nd->name);
}

/* A BN_RELU's BN kept unfolded for oneDNN's batch normalization: w = gamma, beta, mean, variance. */
static dp_status load_bn_relu(const dpo_model *om, const dpi_node *nd, const dpi_weights *w, dpo_layer *L) {
    static const char *const fields[4] = {"weight", "bias", "running_mean", "running_var"};
    dp_status s = DP_OK;
    int64_t shape[1] = {nd->cout};
    size_t c = (size_t)nd->cout;
    if (!(L->w = malloc(sizeof(float) * 4 * c))) return dpi_error(DP_ERR_NOMEM, "out of memory loading %s", nd->bn);
    for (int f = 0; f < 4; f++) {
        const float *p = param(w, nd->bn, fields[f], 1, shape, &s);
        if (s) return s;
        memcpy(L->w + f * c, p, sizeof(float) * c);
    }
    dnnl_memory_desc_t ss, vec;
    dnnl_dims_t d2 = {2, nd->cout}, d1 = {nd->cout};
    DNN(dnnl_memory_desc_init_by_tag(&ss, 2, d2, dnnl_f32, dnnl_ab), "BN descriptor", nd->bn);
    DNN(dnnl_memory_desc_init_by_tag(&vec, 1, d1, dnnl_f32, dnnl_a), "BN descriptor", nd->bn);
    DNN(dnnl_memory_create(&L->stats[0], &ss, om->engine, L->w), "BN memory", nd->bn);
    DNN(dnnl_memory_create(&L->stats[1], &vec, om->engine, L->w + 2 * c), "BN memory", nd->bn);
    DNN(dnnl_memory_create(&L->stats[2], &vec, om->engine, L->w + 3 * c), "BN memory", nd->bn);
fail:
    return s;
}

/* The input is a pool's [N, C, side, side] output, or another linear's [N, cin] (side 0). */
static dp_status load_linear(const dpi_node *nd, int side, const dpi_weights *w, dpo_layer *L) {
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
    /* [K, C*k*k] is [K,C,k,k] (PyTorch flattens C, H, W): the inner product reads the pooled
     * [N,C,k,k] activations directly, in whichever layout the pool wrote. */
    dnnl_dims_t d = {nd->cout, nd->cin / (side ? side * side : 1), side, side}, d2 = {nd->cout, nd->cin};
    dnnl_status_t st = side ? dnnl_memory_desc_init_by_tag(&L->w_md, 4, d, dnnl_f32, dnnl_oihw)
                            : dnnl_memory_desc_init_by_tag(&L->w_md, 2, d2, dnnl_f32, dnnl_ab);
    return st == dnnl_success ? DP_OK : dpo_error(st, "weights descriptor", nd->name);
}

/* Side of the square map a linear layer reads (1 after a global pool, 7 after VGG's adaptive
 * pool), 0 when it reads another linear's output. */
static int linear_input_side(const dpi_graph *g, const dpi_node *nd) {
    if (nd->input < 0) return 0;
    const dpi_node *in = &g->nodes[nd->input];
    if (in->op == DPI_OP_LINEAR) return 0;
    return in->op == DPI_OP_ADAPTIVE_AVG ? in->k : 1;
}

void dpo_model_fini(dp_model *m) {
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
            for (int k = 0; k < 3; k++) dnnl_memory_destroy(om->layers[i].stats[k]);
            free(om->layers[i].w);
            free(om->layers[i].b);
            free(om->layers[i].wq);
            free(om->layers[i].oscale);
        }
    }
    free(om->layers);
    dpo_choices_free(om);
    if (om->engine) dnnl_engine_destroy(om->engine);
    pthread_mutex_destroy(&om->lock);
    pthread_mutex_destroy(&om->net_lock);
    free(om);
    m->impl = NULL;
}

dp_status dpo_model_init(dp_model *m, const dpi_weights *w) {
    dp_status s = DP_OK;
    if (m->precision == DP_PRECISION_BF16 && !cpu_has_bf16())
        return dpi_error(DP_ERR_UNSUPPORTED,
                         "bf16 needs a CPU with AVX512-BF16 or AMX; oneDNN reports ISA %s here (use fp32)",
                         dnnl_cpu_isa2str(dnnl_get_effective_cpu_isa()));
    int conv_force;
    s = dpo_conv_policy(&conv_force);
    if (s) return s;
    dpo_model *om = calloc(1, sizeof *om);
    if (!om) return dpi_error(DP_ERR_NOMEM, "out of memory preparing %s", m->arch);
    om->conv_force = conv_force;
    pthread_mutex_init(&om->lock, NULL);
    pthread_mutex_init(&om->net_lock, NULL);
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
        int int8 = m->precision == DP_PRECISION_INT8;
        if (nd->op == DPI_OP_CONV || (nd->op == DPI_OP_BN_RELU && int8)) { /* int8 BN_RELU: onednn_concat.c */
            s = fold_conv(nd, w, L);
            if (!s && int8) s = dpo_int8_layer(m, i, L);
        }
        else if (nd->op == DPI_OP_LINEAR) s = load_linear(nd, linear_input_side(&m->graph, nd), w, L);
        else if (nd->op == DPI_OP_BN_RELU) s = load_bn_relu(om, nd, w, L);
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
    dpo_model_fini(m);
    return s;
}

dp_status dpo_weights_get(dpo_model *m, dpo_exec *x, int node, const dpo_window *win,
                          const dnnl_memory_desc_t *md, dnnl_memory_t *out) {
    dp_status s = DP_OK;
    const dpo_layer *L = &m->layers[node];
    dnnl_memory_t src = NULL, dst = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t prim = NULL;
    dpo_wcache *c = NULL;
    int8_t *cut = NULL;
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
    void *plain = L->wq ? (void *)L->wq : L->w;
    int cut_taps = win->kh != L->w_md.dims[nd - 2] || win->kw != L->w_md.dims[nd - 1];
    if (cut_taps && L->wq) {
        if (!(plain = cut = dpo_int8_window(L, win, &view))) {
            s = dpi_error(DP_ERR_NOMEM, "out of memory caching weights");
            goto fail;
        }
    } else if (cut_taps) {
        dnnl_dims_t dims, offs = {0};
        memcpy(dims, L->w_md.dims, sizeof dims);
        dims[nd - 2] = win->kh;
        dims[nd - 1] = win->kw;
        offs[nd - 2] = win->y0;
        offs[nd - 1] = win->x0;
        DNN(dnnl_memory_desc_init_submemory(&view, &L->w_md, dims, offs), "weights window", "weights cache");
    }
    if (md->ndims < nd) { /* an inner product's [cout, cin] (onednn_ip.c): the window is one tap */
        dnnl_memory_desc_t taps = view;
        DNN(dnnl_memory_desc_reshape(&view, &taps, md->ndims, md->dims), "weights window", "weights cache");
    }
    if (dnnl_memory_desc_equal(md, &L->w_md)) {
        /* The primitive reads the plain folded weights as they are: share them, no copy. */
        DNN(dnnl_memory_create(&c->mem, md, m->engine, plain), "weights memory", "weights cache");
    } else {
        /* The reorder only reads L->w; oneDNN's API just has no const handle. */
        DNN(dnnl_memory_create(&src, &view, m->engine, plain), "weights memory", "weights cache");
        DNN(dnnl_memory_create(&dst, md, m->engine, DNNL_MEMORY_ALLOCATE), "weights memory", "weights cache");
        DNN(dnnl_reorder_primitive_desc_create(&pd, &view, m->engine, md, m->engine, NULL),
            "weights reorder", "weights cache");
        DNN(dpo_primitive_create(x, &prim, pd), "weights reorder", "weights cache");
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}};
        DNN(dnnl_primitive_execute(prim, x->stream, 2, args), "weights reorder", "weights cache");
        DNN(dnnl_stream_wait(x->stream), "weights reorder", "weights cache");
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
    free(cut);
    if (prim) dnnl_primitive_destroy(prim);
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (src) dnnl_memory_destroy(src);
    if (dst) dnnl_memory_destroy(dst);
    return s;
}

