/*
 * oneDNN backend, pools of one input shape: max, average (DenseNet's transitions), global
 * average, and PyTorch's adaptive average pool: an ordinary pool where its windows allow, else
 * a matrix product.
 */
#include <stdlib.h>
#include <string.h>

#include "onednn_build.h"
#include "util/util.h"

/* Cell o of PyTorch's AdaptiveAvgPool2d from in to out along one axis: rows *start .. *end-1. */
static void adaptive_window(int o, int in, int out, int *start, int *end) {
    *start = o * in / out;
    *end = ((o + 1) * in + out - 1) / out;
}

/* PyTorch's AdaptiveAvgPool2d along one axis as a plain average pool (kernel k, stride s, padding
 * pad on both sides, padding excluded from the average), when its windows allow: cell i averages
 * rows floor(i*in/out) .. ceil((i+1)*in/out)-1, which is a pool when every window has the same
 * length and they start s apart (in = 7, 14 or 8 for out = 7), or when the one input row is
 * repeated into every cell (in = 1). Returns 0 otherwise. */
static int adaptive_as_pool(int in, int out, dnnl_dim_t *k, dnnl_dim_t *s, dnnl_dim_t *pad) {
    if (in == 1) {
        *k = out, *s = 1, *pad = out - 1;
        return 1;
    }
    *k = (in + out - 1) / out, *s = out > 1 ? (in / out) : 1, *pad = 0;
    for (int i = 0; i < out; i++) {
        int start, end;
        adaptive_window(i, in, out, &start, &end);
        if (end - start != *k || start != i * *s) return 0;
    }
    return 1;
}

/* float to bfloat16, rounding to nearest even (the averaging weights are finite) */
static uint16_t to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

/* An adaptive average pool with uneven windows is linear in each channel's ih*iw map: in plain
 * NCHW, [n*C, ih*iw] times a constant [ih*iw, oh*ow] averaging matrix is [n*C, oh*ow], which is
 * the output in plain NCHW. One oneDNN matmul, plus a reorder of its input into NCHW (a feature
 * map of a few pixels per channel, before the classifier). */
static dp_status adaptive_matmul(builder *b, int i, int src, int ih, int iw, int oh, int ow) {
    dp_status s = DP_OK;
    const dpi_node *nd = &b->g->nodes[i];
    dnnl_data_type_t dt = b->vals[src].md.data_type, odt = dpo_value_dt(b, i);
    dnnl_dims_t in4 = {b->n, nd->cin, ih, iw}, out4 = {b->n, nd->cout, oh, ow};
    dnnl_dims_t in2 = {(dnnl_dim_t)b->n * nd->cin, ih * iw}, wd = {ih * iw, oh * ow},
                out2 = {(dnnl_dim_t)b->n * nd->cout, oh * ow};
    dnnl_memory_desc_t plain, src2, wei, dst2, dst4;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_matmul_desc_t mm;
    dnnl_primitive_attr_t attr = dpo_scratch_attr();
    if (!attr) return dpi_error(DP_ERR_NOMEM, "out of memory creating attributes for %s", nd->name);
    DNN(dnnl_memory_desc_init_by_tag(&plain, 4, in4, dt, dnnl_nchw), "adaptive pool descriptor", nd->name);
    DNN(dnnl_memory_desc_init_by_tag(&src2, 2, in2, dt, dnnl_ab), "adaptive pool descriptor", nd->name);
    DNN(dnnl_memory_desc_init_by_tag(&wei, 2, wd, dt, dnnl_ab), "adaptive pool descriptor", nd->name);
    DNN(dnnl_memory_desc_init_by_tag(&dst2, 2, out2, odt, dnnl_ab), "adaptive pool descriptor", nd->name);
    DNN(dnnl_memory_desc_init_by_tag(&dst4, 4, out4, odt, dnnl_nchw), "adaptive pool descriptor", nd->name);
    if (!dnnl_memory_desc_equal(&plain, &b->vals[src].md) &&
        (s = dpo_add_reorder(b, src, &plain, nd->name, ":reorder-src", &src)))
        goto fail;
    DNN(dnnl_matmul_desc_init(&mm, &src2, &wei, NULL, &dst2), "adaptive pool descriptor", nd->name);
    DNN(dnnl_primitive_desc_create(&pd, &mm, attr, b->m->engine, NULL), "adaptive pool creation", nd->name);
    int w = dpo_new_val(b, &wei, VAL_CONST);
    float *f = calloc((size_t)ih * iw * oh * ow, sizeof *f);
    if (!f) {
        s = dpi_error(DP_ERR_NOMEM, "out of memory building %s", nd->name);
        goto fail;
    }
    for (int oy = 0; oy < oh; oy++)
        for (int ox = 0; ox < ow; ox++) {
            int y0, y1, x0, x1;
            adaptive_window(oy, ih, oh, &y0, &y1);
            adaptive_window(ox, iw, ow, &x0, &x1);
            for (int y = y0; y < y1; y++)
                for (int x = x0; x < x1; x++) f[(y * iw + x) * oh * ow + oy * ow + ox] = 1.0f / ((y1 - y0) * (x1 - x0));
        }
    if (dt == dnnl_bf16) /* in place: each bf16 is written over a float already read */
        for (size_t k = 0; k < (size_t)ih * iw * oh * ow; k++) ((uint16_t *)f)[k] = to_bf16(f[k]);
    b->vals[w].data = f;
    pstep *st = dpo_add_step(b, pd, nd->name, "");
    pd = NULL;
    int out = dpo_new_val(b, &dst2, VAL_ARENA);
    dpo_add_arg(st, DNNL_ARG_SRC, dpo_new_view(b, src, &src2, 0), NULL);
    dpo_add_arg(st, DNNL_ARG_WEIGHTS, w, NULL);
    dpo_add_arg(st, DNNL_ARG_DST, out, NULL);
    b->node_val[i] = dpo_new_view(b, out, &dst4, 0);
fail:
    if (pd) dnnl_primitive_desc_destroy(pd);
    dnnl_primitive_attr_destroy(attr);
    return s;
}

dp_status dpo_build_pool(builder *b, int i) {
    dp_status s = DP_OK;
    const dpi_node *nd = &b->g->nodes[i];
    int src = dpo_val_of(b, nd->input), ih, iw, oh, ow;
    dpi_graph_out_hw(b->g, nd->input, b->h, b->w, &ih, &iw);
    dpi_graph_out_hw(b->g, i, b->h, b->w, &oh, &ow);
    int gap = nd->op == DPI_OP_GAP, adaptive = nd->op == DPI_OP_ADAPTIVE_AVG, slot = dpo_slot(b, i);
    dnnl_data_type_t in_dt = b->vals[src].md.data_type;
    if ((gap || adaptive) && (in_dt == dnnl_s8 || in_dt == dnnl_u8)) { /* int8 ends here: dequantize */
        dnnl_memory_desc_t f32 = b->vals[src].md;
        f32.data_type = dnnl_f32;
        dp_status s = dpo_add_reorder_scaled(b, src, &f32, dpo_value_scale(b, nd->input), nd->name, ":dequantize", &src);
        if (s) return s;
        b->node_val[i] = src;
    }
    if ((gap || adaptive) && ih == oh && iw == ow) {
        b->node_val[i] = src; /* averaging one pixel per cell is the identity */
        return DP_OK;
    }
    dnnl_dims_t strides = {nd->stride, nd->stride}, kernel = {nd->k, nd->k}, pad = {nd->pad, nd->pad};
    if (gap) {
        strides[0] = strides[1] = 1, kernel[0] = ih, kernel[1] = iw, pad[0] = pad[1] = 0;
    } else if (adaptive && !(adaptive_as_pool(ih, oh, &kernel[0], &strides[0], &pad[0]) &&
                             adaptive_as_pool(iw, ow, &kernel[1], &strides[1], &pad[1]))) {
        return adaptive_matmul(b, i, src, ih, iw, oh, ow);
    }
    dnnl_primitive_attr_t attr = dpo_scratch_attr();
    dnnl_primitive_desc_t pd = NULL;
    dnnl_memory_desc_t dst;
    dnnl_dims_t dd = {b->n, nd->cout, oh, ow}, dil = {0, 0};
    dnnl_pooling_v2_desc_t pdsc;
    /* A free choice of the output layout, unless oneDNN then picks one only its reference pool
     * writes (bf16 [1,256,1,1] -> 6x6 chose cdab): then the layouts its jit pools write. Into a
     * block buffer's slot: the slot's. */
    static const dnnl_format_tag_t tags[] = {dnnl_format_tag_any, dnnl_acdb, dnnl_aBcd16b};
    dnnl_alg_kind_t alg = nd->op == DPI_OP_MAXPOOL   ? dnnl_pooling_max
                          : nd->op == DPI_OP_AVGPOOL ? dnnl_pooling_avg_include_padding
                                                     : dnnl_pooling_avg_exclude_padding;
    dnnl_status_t made = dnnl_success;
    for (size_t t = 0; t < (slot >= 0 ? 1 : sizeof tags / sizeof tags[0]) && (!pd || dpo_is_ref(pd)); t++) {
        dnnl_primitive_desc_t cand = NULL;
        if (slot >= 0) dst = b->vals[slot].md;
        else DNN(dnnl_memory_desc_init_by_tag(&dst, 4, dd, dpo_value_dt(b, i), tags[t]), "pooling descriptor", nd->name);
        DNN(dnnl_pooling_v2_forward_desc_init(&pdsc, dnnl_forward_inference, alg, &b->vals[src].md, &dst, strides,
                                              kernel, dil, pad, pad),
            "pooling descriptor", nd->name);
        if ((made = dnnl_primitive_desc_create(&cand, &pdsc, attr, b->m->engine, NULL)) != dnnl_success) continue;
        if (!pd || !dpo_is_ref(cand)) {
            if (pd) dnnl_primitive_desc_destroy(pd);
            pd = cand;
        } else {
            dnnl_primitive_desc_destroy(cand);
        }
    }
    if (!pd) DNN(made, "pooling creation", nd->name);
    pstep *st = dpo_add_step(b, pd, nd->name, "");
    pd = NULL;
    int out = slot >= 0 ? slot : dpo_new_val(b, dnnl_primitive_desc_query_md(st->pd, dnnl_query_dst_md, 0), VAL_ARENA);
    b->node_val[i] = slot >= 0 ? b->visible[i] : out;
    dpo_add_arg(st, DNNL_ARG_SRC, src, NULL);
    dpo_add_arg(st, DNNL_ARG_DST, out, NULL);
fail:
    if (pd) dnnl_primitive_desc_destroy(pd);
    dnnl_primitive_attr_destroy(attr);
    return s;
}
