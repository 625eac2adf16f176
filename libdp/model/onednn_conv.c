/*
 * oneDNN backend, convolutions of one input shape: the kernel taps that meet the input, the
 * descriptor with BN folded and activation/residual post-ops, and which way the conv runs (direct
 * in its producer's layout, direct in oneDNN's preferred layouts, Winograd, an inner product over
 * a 1x1 map: onednn_ip.c), chosen by timing once
 * per model and shape (onednn_algo.c keeps the choices and does the timing). docs/engine.md,
 * "Choosing each convolution".
 */
#include <stdio.h>
#include <string.h>

#include "onednn_build.h"
#include "util/util.h"

/* Taps [t0, t1] of a kernel of size k that meet the input (size in) for some output position. */
static void used_taps(int in, int out, int k, int stride, int pad, int *t0, int *t1) {
    *t0 = k;
    *t1 = -1;
    for (int o = 0; o < out; o++) {
        int lo = pad - o * stride, hi = lo + in - 1; /* taps landing on input rows 0..in-1 */
        if (lo < 0) lo = 0;
        if (hi > k - 1) hi = k - 1;
        if (lo > hi) continue;
        if (lo < *t0) *t0 = lo;
        if (hi > *t1) *t1 = hi;
    }
}

static void conv_window(const builder *b, int i, dpo_window *win) {
    const dpi_node *nd = &b->g->nodes[i];
    int ih, iw, oh, ow, y1, x1;
    dpi_graph_out_hw(b->g, nd->input, b->h, b->w, &ih, &iw);
    dpi_graph_out_hw(b->g, i, b->h, b->w, &oh, &ow);
    used_taps(ih, oh, nd->k, nd->stride, nd->pad, &win->y0, &y1);
    used_taps(iw, ow, nd->kw, nd->stride, nd->pad_w, &win->x0, &x1);
    win->kh = y1 - win->y0 + 1;
    win->kw = x1 - win->x0 + 1;
    win->pad_t = nd->pad - win->y0;
    win->pad_l = nd->pad_w - win->x0;
    /* The right/bottom padding that keeps the output size: oh = (ih + t + b - kh) / s + 1. */
    win->pad_b = (oh - 1) * nd->stride + win->kh - ih - win->pad_t;
    win->pad_r = (ow - 1) * nd->stride + win->kw - iw - win->pad_l;
    if (win->kh < 1 || win->kw < 1 || win->pad_b < 0 || win->pad_r < 0)
        *win = (dpo_window){0, 0, nd->k, nd->kw, nd->pad, nd->pad_w, nd->pad, nd->pad_w};
}

/* The implementation oneDNN lists for cd after `skip` others that are not `ref:` (not `ref:`). */
static dnnl_status_t later_impl(const dnnl_convolution_desc_t *cd, const_dnnl_primitive_attr_t attr, dnnl_engine_t engine,
                                int skip, dnnl_primitive_desc_t *pd) {
    dnnl_primitive_desc_iterator_t it;
    dnnl_status_t st = dnnl_primitive_desc_iterator_create(&it, cd, attr, engine, NULL);
    if (st != dnnl_success) return st;
    *pd = NULL;
    do {
        dnnl_primitive_desc_t cand = dnnl_primitive_desc_iterator_fetch(it);
        if (cand && !dpo_is_ref(cand) && skip-- == 0) *pd = cand;
        else if (cand) dnnl_primitive_desc_destroy(cand);
    } while (!*pd && dnnl_primitive_desc_iterator_next(it) == dnnl_success);
    dnnl_primitive_desc_iterator_destroy(it);
    return *pd ? dnnl_success : dnnl_unimplemented;
}

/* skip: how many of oneDNN's non-`ref:` implementations to pass over (0: its first choice). */
static dnnl_status_t conv_pd(builder *b, int i, dnnl_alg_kind_t alg, const dpo_window *win, const dnnl_memory_desc_t *src_md,
                             const dnnl_memory_desc_t *dst_md, const_dnnl_primitive_attr_t attr, int skip,
                             dnnl_primitive_desc_t *pd) {
    const dpi_node *nd = &b->g->nodes[i];
    int ih, iw, oh, ow;
    dpi_graph_out_hw(b->g, nd->input, b->h, b->w, &ih, &iw);
    dpi_graph_out_hw(b->g, i, b->h, b->w, &oh, &ow);
    dnnl_memory_desc_t src, wei, bias, dst;
    dnnl_dims_t sd = {b->n, nd->cin, ih, iw}, dd = {b->n, nd->cout, oh, ow}, bd = {nd->cout};
    dnnl_dims_t strides = {nd->stride, nd->stride}, pad_l = {win->pad_t, win->pad_l}, pad_r = {win->pad_b, win->pad_r};
    dnnl_status_t st;
    if (src_md) src = *src_md;
    else if ((st = dnnl_memory_desc_init_by_tag(&src, 4, sd, dpo_value_dt(b, nd->input), dnnl_format_tag_any))) return st;
    if (dst_md) dst = *dst_md;
    else if ((st = dnnl_memory_desc_init_by_tag(&dst, 4, dd, dpo_value_dt(b, i), dnnl_format_tag_any))) return st;
    const dpo_layer *L = &b->m->layers[i];
    dnnl_dims_t wd;
    int wn = L->w_md.ndims;
    memcpy(wd, L->w_md.dims, sizeof wd);
    wd[wn - 2] = win->kh;
    wd[wn - 1] = win->kw;
    if ((st = dnnl_memory_desc_init_by_tag(&wei, wn, wd, L->wq ? dnnl_s8 : b->m->dt, dnnl_format_tag_any))) return st;
    if (L->b && (st = dnnl_memory_desc_init_by_tag(&bias, 1, bd, dnnl_f32, dnnl_a))) return st;
    dnnl_convolution_desc_t cd;
    if ((st = dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference, alg, &src, &wei,
                                                 L->b ? &bias : NULL, &dst, strides, pad_l, pad_r)))
        return st;
    if (skip) return later_impl(&cd, attr, b->m->engine, skip, pd);
    return dnnl_primitive_desc_create(pd, &cd, attr, b->m->engine, NULL);
}

static dp_status conv_attr(const builder *b, int i, dnnl_primitive_attr_t *out) {
    dp_status s = DP_OK;
    const dpi_node *nd = &b->g->nodes[i];
    dnnl_post_ops_t po = NULL;
    *out = dpo_scratch_attr();
    if (!*out) return dpi_error(DP_ERR_NOMEM, "out of memory creating attributes for %s", nd->name);
    DNN(dnnl_post_ops_create(&po), "post-ops", nd->name);
    if (b->m->layers[i].wq) {
        if ((s = dpo_int8_attr(b, i, *out, po))) goto fail;
    } else {
        /* y = act(conv + residual): the sum post-op accumulates into dst, which holds the shortcut. */
        if (nd->residual >= 0) DNN(dnnl_post_ops_append_sum(po, 1.0f), "sum post-op", nd->name);
        if (nd->act == DPI_ACT_RELU) DNN(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f), "ReLU post-op", nd->name);
        if (nd->act == DPI_ACT_RELU6) DNN(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_clip, 0.0f, 6.0f), "ReLU6 post-op", nd->name);
    }
    DNN(dnnl_primitive_attr_set_post_ops(*out, po), "post-ops", nd->name);
    dnnl_post_ops_destroy(po);
    return DP_OK;
fail:
    if (po) dnnl_post_ops_destroy(po);
    dnnl_primitive_attr_destroy(*out);
    *out = NULL;
    return s;
}

/* The descriptor of conv i run as `kind`, or NULL (*st says why) where oneDNN has no such
 * implementation. Each kind tries its layouts in order and keeps the first that is not `ref:`;
 * if all are, chain keeps the `ref:` one (so a net always builds) and the others give none. */
static dnnl_primitive_desc_t conv_candidate(builder *b, int i, int kind, const dpo_window *win,
                                            const_dnnl_primitive_attr_t attr, dnnl_status_t *st) {
    const dpi_node *nd = &b->g->nodes[i];
    int src = dpo_val_of(b, nd->input), res = nd->residual >= 0 ? dpo_val_of(b, nd->residual) : -1;
    /* Reading the producer's layout as is and writing straight into the shortcut's buffer needs
     * no reorder; a free source (and, failing that, a free destination) costs one. A slot of a
     * block buffer is always written in place, and next to them every conv writes its layout. */
    int slot = dpo_slot(b, i);
    const dnnl_memory_desc_t *forced_dst = res >= 0    ? &b->vals[res].md
                                           : slot >= 0 ? &b->vals[slot].md
                                                       : dpo_layout_for_slot(b, i);
    const dnnl_memory_desc_t *tries[3][2] = {{&b->vals[src].md, forced_dst}, {NULL, forced_dst}, {NULL, NULL}};
    int ntries = res >= 0 ? 3 : 2;
    dnnl_alg_kind_t alg = kind == DPO_CONV_WINOGRAD ? dnnl_convolution_winograd : dnnl_convolution_direct;
    dnnl_primitive_desc_t pd = NULL;
    if (kind == DPO_CONV_IP) return dpo_ip_candidate(b, i, win, attr, st);
    *st = dnnl_unimplemented;
    /* int8 Winograd wants its weights reordered from f32 with scales, and loses precision */
    if (kind == DPO_CONV_WINOGRAD && b->m->layers[i].wq) return NULL;
    /* a grouped conv's second implementation, in layouts of its choosing as `free` */
    int next = kind == DPO_CONV_NEXT;
    if (next && nd->groups == 1) return NULL;
    for (int t = kind == DPO_CONV_CHAIN ? 0 : 1; t < ntries; t++) {
        dnnl_primitive_desc_t cand = NULL;
        *st = conv_pd(b, i, alg, win, tries[t][0], tries[t][1], attr, next, &cand);
        if (*st != dnnl_success) continue;
        if (!pd) pd = cand;
        else if (dpo_is_ref(pd) && !dpo_is_ref(cand)) dnnl_primitive_desc_destroy(pd), pd = cand;
        else dnnl_primitive_desc_destroy(cand);
        if (!dpo_is_ref(pd)) break;
    }
    if (pd && kind != DPO_CONV_CHAIN && dpo_is_ref(pd)) dnnl_primitive_desc_destroy(pd), pd = NULL;
    return pd;
}

/* CPU ms of a reorder from one layout to another, as the conv that needs it would add. */
static double reorder_ms(builder *b, const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to) {
    if (dnnl_memory_desc_equal(from, to)) return 0;
    dnnl_primitive_desc_t pd = NULL;
    if (dnnl_reorder_primitive_desc_create(&pd, from, b->m->engine, to, b->m->engine, NULL) != dnnl_success) return -1;
    double ms = dpo_time_pd(b->x, pd, NULL);
    dnnl_primitive_desc_destroy(pd);
    return ms;
}

/* Time every kind oneDNN offers for conv i (with the reorders it would bring) and return the
 * fastest descriptor; the choice is remembered in the model, so other execs and later prepares
 * of this shape do not time again and choose alike. Candidates that are the same primitive
 * (a free layout that oneDNN fills with the producer's) are timed once. */
static dnnl_primitive_desc_t choose_conv(builder *b, int i, const dpo_window *win, const_dnnl_primitive_attr_t attr,
                                         dnnl_status_t *st) {
    const dpi_node *nd = &b->g->nodes[i];
    int src = dpo_val_of(b, nd->input), res = nd->residual >= 0 ? dpo_val_of(b, nd->residual) : -1;
    dnnl_primitive_desc_t cands[DPO_CONV_KINDS] = {NULL};
    double best_ms = -1;
    int best = DPO_CONV_CHAIN, count = 0;
    for (int k = 0; k < DPO_CONV_KINDS; k++) {
        dnnl_status_t kst;
        cands[k] = conv_candidate(b, i, k, win, attr, &kst);
        if (k == DPO_CONV_CHAIN) *st = kst;
        for (int j = 0; cands[k] && j < k; j++)
            if (cands[j] && strcmp(dpo_impl_of(cands[j]), dpo_impl_of(cands[k])) == 0 &&
                dnnl_memory_desc_equal(dnnl_primitive_desc_query_md(cands[j], dnnl_query_src_md, 0),
                                       dnnl_primitive_desc_query_md(cands[k], dnnl_query_src_md, 0)) &&
                dnnl_memory_desc_equal(dnnl_primitive_desc_query_md(cands[j], dnnl_query_dst_md, 0),
                                       dnnl_primitive_desc_query_md(cands[k], dnnl_query_dst_md, 0)))
                dnnl_primitive_desc_destroy(cands[k]), cands[k] = NULL;
        count += cands[k] != NULL;
    }
    for (int k = 0; k < DPO_CONV_KINDS && count > 1; k++) {
        if (!cands[k]) continue;
        double ms = dpo_time_pd(b->x, cands[k], b->m->layers[i].b_mem);
        /* an inner product reads and writes views of the values as they are */
        double in = k == DPO_CONV_IP ? 0 : reorder_ms(b, &b->vals[src].md, dnnl_primitive_desc_query_md(cands[k], dnnl_query_src_md, 0));
        double out = res < 0 || k == DPO_CONV_IP ? 0 : reorder_ms(b, &b->vals[res].md, dnnl_primitive_desc_query_md(cands[k], dnnl_query_dst_md, 0));
        if (ms < 0 || in < 0 || out < 0) continue;
        dpi_log(DP_LOG_DEBUG, "oneDNN: %s [%d,%d,%d]: %s (%s) %.4f ms + reorders %.4f ms", nd->name, b->n, b->h, b->w,
                dpo_conv_kind_names[k], dpo_impl_of(cands[k]), ms, in + out);
        if (best_ms < 0 || ms + in + out < best_ms) best_ms = ms + in + out, best = k;
    }
    if (!cands[best]) /* chain failed (only a reference conv exists) or timing failed: any that exists */
        for (int k = 0; k < DPO_CONV_KINDS; k++)
            if (cands[k]) best = k;
    for (int k = 0; k < DPO_CONV_KINDS; k++)
        if (k != best && cands[k]) dnnl_primitive_desc_destroy(cands[k]);
    if (cands[best] && dpo_choice_put(b->m, i, b->n, b->h, b->w, b->e->threads, best) != DP_OK) {
        dnnl_primitive_desc_destroy(cands[best]);
        *st = dnnl_out_of_memory;
        return NULL;
    }
    return cands[best];
}

dp_status dpo_build_conv(builder *b, int i) {
    dp_status s = DP_OK;
    const dpi_node *nd = &b->g->nodes[i];
    int src = dpo_val_of(b, nd->input), res = nd->residual >= 0 ? dpo_val_of(b, nd->residual) : -1;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t last = dnnl_unimplemented;
    dpo_window win;
    conv_window(b, i, &win);
    s = conv_attr(b, i, &attr);
    if (s) return s;
    int kind = b->m->conv_force >= 0 ? b->m->conv_force
               : b->x->chain_all     ? DPO_CONV_CHAIN
                                     : dpo_choice_get(b->m, i, b->n, b->h, b->w, b->e->threads);
    if (kind >= 0) pd = conv_candidate(b, i, kind, &win, attr, &last);
    else pd = choose_conv(b, i, &win, attr, &last);
    /* A forced kind this conv does not have (Winograd of a depthwise conv) runs as chain. */
    if (!pd && kind > DPO_CONV_CHAIN) pd = conv_candidate(b, i, DPO_CONV_CHAIN, &win, attr, &last);
    if (!pd) DNN(last, "convolution creation", nd->name);
    const dnnl_memory_desc_t *want_src = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *want_dst = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    const dnnl_memory_desc_t *want_wei = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    /* An inner product takes the 4D values as they are, through [n, c] views (onednn_ip.c). */
    dnnl_memory_desc_t ip_dst;
    int ip = dpo_is_ip(pd);
    if (ip && dpo_ip_out_md(b, i, &ip_dst)) DNN(dnnl_unimplemented, "inner product layout", nd->name);
    if (ip) want_src = &b->vals[src].md, want_dst = &ip_dst;
    int conv_src = src, out;
    if (!dnnl_memory_desc_equal(want_src, &b->vals[src].md)) {
        /* int8: the f32 input is quantized on its way in */
        int quantize = b->vals[src].md.data_type == dnnl_f32 && (want_src->data_type == dnnl_s8 || want_src->data_type == dnnl_u8);
        s = quantize ? dpo_int8_quantize(b, src, want_src, 1.0f / dpo_value_scale(b, nd->input), nd->name, &conv_src)
                     : dpo_add_reorder(b, src, want_src, nd->name, ":reorder-src", &conv_src);
        if (s) goto fail;
    }
    int slot = dpo_slot(b, i);
    if (slot >= 0) {
        out = slot;
    } else if (res < 0) {
        out = dpo_new_val(b, want_dst, VAL_ARENA);
    } else if (dnnl_memory_desc_equal(want_dst, &b->vals[res].md) && b->node_last[nd->residual] == i &&
               b->vals[res].kind == VAL_ARENA && res != src) {
        out = res; /* the shortcut is dead after this conv: accumulate into its buffer in place */
    } else {
        s = dpo_add_reorder(b, res, want_dst, nd->name, ":copy-shortcut", &out);
        if (s) goto fail;
    }
    dnnl_memory_t wmem = NULL;
    if (!b->dry && (s = dpo_weights_get(b->m, b->x, i, &win, want_wei, &wmem))) goto fail;
    int step_src = ip ? dpo_nc_view(b, conv_src) : conv_src, step_dst = ip ? dpo_nc_view(b, out) : out;
    if (step_src < 0 || step_dst < 0) DNN(dnnl_invalid_arguments, "inner product views", nd->name);
    pstep *st = dpo_add_step(b, pd, nd->name, "");
    pd = NULL;
    dpo_add_arg(st, DNNL_ARG_SRC, step_src, NULL);
    dpo_add_arg(st, DNNL_ARG_WEIGHTS, -1, wmem);
    if (b->m->layers[i].b_mem) dpo_add_arg(st, DNNL_ARG_BIAS, -1, b->m->layers[i].b_mem);
    dpo_add_arg(st, DNNL_ARG_DST, step_dst, NULL);
    b->node_val[i] = slot >= 0 ? b->visible[i] : out;
fail:
    if (pd) dnnl_primitive_desc_destroy(pd);
    dnnl_primitive_attr_destroy(attr);
    return s;
}

