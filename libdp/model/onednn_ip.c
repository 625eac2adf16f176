/*
 * oneDNN backend, a convolution over a 1x1 map run as an inner product over [n, cin]: one of the
 * candidates of the timed choice (onednn_conv.c, kind DPO_CONV_IP). oneDNN's 1x1 convolution
 * kernels block over the output positions of one image, so with a single position each image is
 * a matrix-vector product that streams the layer's weights again; an inner product makes the
 * batch the GEMM's M dimension and reads the weights once per run (mobilenet_v2 at 32x32 from
 * features.14 on, resnet18 at 32x32 in layer4). It reads and writes [n, c] views of the same
 * activation buffers (no copy, no reorder): with H = W = 1, nchw, nhwc and nChw16c (when c is a
 * multiple of 16) all lay a tensor out as plain [n][c]. docs/engine.md, "Convolutions over 1x1
 * maps as inner products".
 */
#include "onednn_build.h"

/* The channel block of md if its memory is plain [n][c] (1: no block), else 0. */
static int nc_block(const dnnl_memory_desc_t *md) {
    const dnnl_blocking_desc_t *blk = &md->format_desc.blocking;
    if (md->format_kind != dnnl_blocked || md->ndims != 4 || md->dims[2] != 1 || md->dims[3] != 1 ||
        md->offset0 != 0 || md->padded_dims[0] != md->dims[0] || md->padded_dims[1] != md->dims[1] ||
        md->format_desc.blocking.strides[0] != md->dims[1])
        return 0;
    if (blk->inner_nblks == 0) return blk->strides[1] == 1;
    if (blk->inner_nblks == 1 && blk->inner_idxs[0] == 1 && blk->strides[1] == blk->inner_blks[0])
        return (int)blk->inner_blks[0];
    return 0;
}

/* An arena value (or a view of one) that reads as plain [n][c]: a stage's input is the caller's
 * buffer, which has no arena offset to view. */
static int viewable(const builder *b, int v) {
    return v >= 0 && (b->vals[v].kind == VAL_ARENA || b->vals[v].kind == VAL_VIEW) && nc_block(&b->vals[v].md);
}

int dpo_ip_out_md(const builder *b, int i, dnnl_memory_desc_t *md) {
    const dpi_node *nd = &b->g->nodes[i];
    int src = dpo_val_of(b, nd->input);
    if (!viewable(b, src)) return -1;
    /* With a shortcut the output is its buffer (the sum post-op accumulates into it). */
    if (nd->residual >= 0) {
        int res = dpo_val_of(b, nd->residual);
        if (!viewable(b, res)) return -1;
        *md = b->vals[res].md;
        return 0;
    }
    /* Else the producer's layout, which is what a chained conv would have written: its readers,
     * chained, then get the kernels they get without this conv running as a product. (nhwc and
     * nchw differ only in the strides of size-1 dims, but oneDNN picks kernels by them: a
     * depthwise conv reading nchw gets `gemm:jit`, reading nhwc `brdgmm_dw`.) */
    const dnnl_memory_desc_t *smd = &b->vals[src].md;
    dnnl_memory_desc_t nhwc;
    int bs = nc_block(smd);
    if (dnnl_memory_desc_init_by_tag(&nhwc, 4, smd->dims, smd->data_type, dnnl_acdb) != dnnl_success) return -1;
    dnnl_format_tag_t tag = bs == 16 && nd->cout % 16 == 0 ? dnnl_aBcd16b
                            : bs == 8 && nd->cout % 8 == 0 ? dnnl_aBcd8b
                            : bs == 4 && nd->cout % 4 == 0 ? dnnl_aBcd4b
                            : dnnl_memory_desc_equal(smd, &nhwc) ? dnnl_acdb
                                                                 : dnnl_abcd;
    dnnl_dims_t d = {b->n, nd->cout, 1, 1};
    return dnnl_memory_desc_init_by_tag(md, 4, d, dpo_value_dt(b, i), tag) == dnnl_success ? 0 : -1;
}

dnnl_primitive_desc_t dpo_ip_candidate(builder *b, int i, const dpo_window *win, const_dnnl_primitive_attr_t attr,
                                       dnnl_status_t *st) {
    const dpi_node *nd = &b->g->nodes[i];
    const dpo_layer *L = &b->m->layers[i];
    int ih, iw, oh, ow;
    dnnl_memory_desc_t out4, src, wei, bias, dst;
    dnnl_inner_product_desc_t ipd;
    dnnl_primitive_desc_t pd = NULL;
    dpi_graph_out_hw(b->g, nd->input, b->h, b->w, &ih, &iw);
    dpi_graph_out_hw(b->g, i, b->h, b->w, &oh, &ow);
    *st = dnnl_unimplemented;
    /* One tap (after the window cut) meeting a 1x1 map; a slot of a block buffer is written
     * through its own view (onednn_concat.c). int8 only with VNNI: without it oneDNN's int8 GEMM
     * (gemm_s8u8s32) saturates more often than its convs (mobilenet_v2 at 32x32: 0.09 of the
     * logit range from the reference int8, chained 0.03), and speed is no target there. */
    if (ih != 1 || iw != 1 || oh != 1 || ow != 1 || win->kh != 1 || win->kw != 1 || nd->groups != 1 ||
        L->w_md.ndims != 4 || (L->wq && !dpo_int8_vnni()) || dpo_slot(b, i) >= 0 || dpo_layout_for_slot(b, i) ||
        dpo_ip_out_md(b, i, &out4))
        return NULL;
    dnnl_dims_t sd = {b->n, nd->cin}, wd = {nd->cout, nd->cin}, dd = {b->n, nd->cout}, bd = {nd->cout};
    if ((*st = dnnl_memory_desc_init_by_tag(&src, 2, sd, b->vals[dpo_val_of(b, nd->input)].md.data_type, dnnl_ab)) ||
        (*st = dnnl_memory_desc_init_by_tag(&wei, 2, wd, L->wq ? dnnl_s8 : b->m->dt, dnnl_format_tag_any)) ||
        (*st = dnnl_memory_desc_init_by_tag(&bias, 1, bd, dnnl_f32, dnnl_a)) ||
        (*st = dnnl_memory_desc_init_by_tag(&dst, 2, dd, out4.data_type, dnnl_ab)) ||
        (*st = dnnl_inner_product_forward_desc_init(&ipd, dnnl_forward_inference, &src, &wei, L->b ? &bias : NULL,
                                                    &dst)) ||
        (*st = dnnl_primitive_desc_create(&pd, &ipd, attr, b->m->engine, NULL)))
        return NULL;
    if (dpo_is_ref(pd)) {
        dnnl_primitive_desc_destroy(pd);
        *st = dnnl_unimplemented;
        return NULL;
    }
    return pd;
}

int dpo_is_ip(const_dnnl_primitive_desc_t pd) {
    dnnl_primitive_kind_t kind;
    return dnnl_primitive_desc_query(pd, dnnl_query_primitive_kind, 0, &kind) == dnnl_success &&
           kind == dnnl_inner_product;
}

int dpo_nc_view(builder *b, int v) {
    dnnl_memory_desc_t md;
    dnnl_dims_t d = {b->vals[v].md.dims[0], b->vals[v].md.dims[1]};
    if (dnnl_memory_desc_init_by_tag(&md, 2, d, b->vals[v].md.data_type, dnnl_ab) != dnnl_success) return -1;
    return dpo_new_view(b, v, &md, 0);
}
