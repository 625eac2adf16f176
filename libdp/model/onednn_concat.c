/*
 * oneDNN backend, concatenations without copies (DenseNet's dense blocks; docs/engine.md,
 * "Concatenation"). A CONCAT node is one buffer of all the block's channels in nChw16c; the
 * block's input is written into its first channels by its producer and every layer's output
 * into its slot, and each layer reads the channels so far. All of these are views of the buffer
 * that are themselves dense nChw16c tensors, at a byte offset: that needs a batch of 1 (at N > 1
 * a slot is strided over the samples) and offsets that are multiples of 16 channels. oneDNN
 * 2.6's jit primitives take no strided (submemory) descriptor at all: they fall back to `ref:`,
 * and its concat primitive copies. So the exec runs these graphs one sample at a time
 * (onednn_exec.c) and the views are plain descriptors pointing into the buffer.
 */
#include <string.h>

#include "onednn_build.h"
#include "util/util.h"

/* The CONCAT node node i's output goes into (as a writer, or as the block's input that nothing
 * else reads) and its channel offset there; -1 if none. */
static int slot_target(const builder *b, int i, int *coff) {
    const dpi_node *nd = &b->g->nodes[i];
    *coff = nd->concat >= 0 ? nd->coff : 0;
    if (nd->concat >= 0) return nd->concat;
    int cat = b->node_last[i];
    if (cat < 0 || b->g->nodes[cat].op != DPI_OP_CONCAT || b->g->nodes[cat].input != i || b->g->nodes[cat].cin == 0)
        return -1;
    for (int j = i + 1; j < cat; j++)
        if (b->g->nodes[j].input == i || b->g->nodes[j].residual == i) return -1;
    return cat;
}

static dnnl_status_t blocked_md(const builder *b, int c, int h, int w, dnnl_memory_desc_t *md) {
    dnnl_dims_t d = {b->n, c, h, w};
    return dnnl_memory_desc_init_by_tag(md, 4, d, b->m->dt, dnnl_aBcd16b);
}

/* A view of channels [c0, c0 + c) of CONCAT node cat's buffer (the buffer created on first use). */
static int block_view(builder *b, int cat, int c0, int c) {
    const dpi_node *nd = &b->g->nodes[cat];
    int h, w;
    dpi_graph_out_hw(b->g, cat, b->h, b->w, &h, &w);
    dnnl_memory_desc_t md;
    if (b->slot[cat] < 0) {
        if (blocked_md(b, nd->cout, h, w, &md) != dnnl_success) return -1;
        b->slot[cat] = dpo_new_val(b, &md, VAL_ARENA); /* a CONCAT's own entry: its buffer */
    }
    if (blocked_md(b, c, h, w, &md) != dnnl_success) return -1;
    int v = dpo_new_val(b, &md, VAL_VIEW);
    b->vals[v].parent = b->slot[cat];
    b->vals[v].sub_off = (size_t)c0 * h * w * dnnl_data_type_size(b->m->dt);
    return v;
}

int dpo_slot(builder *b, int i) {
    if (b->slot[i] != -2) return b->slot[i];
    int coff, cat = slot_target(b, i, &coff);
    const dpi_node *nd = &b->g->nodes[i];
    b->slot[i] = -1;
    /* Views are dense only for one sample at channel offsets on the 16-channel blocks. */
    if (cat < 0 || b->n != 1 || coff % 16 || nd->cout % 16) return -1;
    b->slot[i] = block_view(b, cat, coff, nd->cout);
    b->visible[i] = coff == 0 ? b->slot[i] : block_view(b, cat, 0, coff + nd->cout);
    return b->slot[i];
}

const dnnl_memory_desc_t *dpo_layout_for_slot(builder *b, int i) {
    int h, w;
    const dpi_node *nd = &b->g->nodes[i];
    if (b->n != 1 || nd->cout % 16 || !dpi_graph_has_concat(b->g)) return NULL;
    dpi_graph_out_hw(b->g, i, b->h, b->w, &h, &w);
    return blocked_md(b, nd->cout, h, w, &b->want) == dnnl_success ? &b->want : NULL;
}

dp_status dpo_build_concat(builder *b, int i) {
    dp_status s = DP_OK;
    const dpi_node *nd = &b->g->nodes[i];
    int src = dpo_val_of(b, nd->input), coff;
    if (nd->cin == 0) { /* keeps nothing of its input (Inception's modules): only slots */
        b->node_val[i] = src;
        return DP_OK;
    }
    if (nd->input >= 0 && b->slot[nd->input] >= 0 && src == b->slot[nd->input] &&
        slot_target(b, nd->input, &coff) == i) {
        b->node_val[i] = src; /* its producer wrote it in place */
        return DP_OK;
    }
    if (b->n != 1) return dpi_error(DP_ERR_INTERNAL, "%s: a block buffer is built for one sample only", nd->name);
    /* The producer is not in this model (a stage starting here): copy its output in. */
    dnnl_primitive_desc_t pd = NULL;
    int v = block_view(b, i, 0, nd->cin);
    if (v < 0) return dpi_error(DP_ERR_INTERNAL, "%s: block buffer descriptor", nd->name);
    DNN(dnnl_reorder_primitive_desc_create(&pd, &b->vals[src].md, b->m->engine, &b->vals[v].md, b->m->engine, NULL),
        "reorder creation", nd->name);
    pstep *st = dpo_add_step(b, pd, nd->name, ":input");
    dpo_add_arg(st, DNNL_ARG_SRC, src, NULL);
    dpo_add_arg(st, DNNL_ARG_DST, v, NULL);
    b->node_val[i] = v;
fail:
    return s;
}

/* oneDNN's batch normalization with the running statistics and a fused ReLU, reading the
 * channels so far of a block buffer (or any tensor) and writing a tensor of the same layout. */
dp_status dpo_build_bn_relu(builder *b, int i) {
    dp_status s = DP_OK;
    const dpi_node *nd = &b->g->nodes[i];
    const dpo_layer *L = &b->m->layers[i];
    int src = dpo_val_of(b, nd->input);
    dnnl_primitive_attr_t attr = dpo_scratch_attr();
    dnnl_primitive_desc_t pd = NULL;
    dnnl_batch_normalization_desc_t bd;
    if (!attr) return dpi_error(DP_ERR_NOMEM, "out of memory creating attributes for %s", nd->name);
    DNN(dnnl_batch_normalization_forward_desc_init(&bd, dnnl_forward_inference, &b->vals[src].md, nd->bn_eps,
                                                   dnnl_use_global_stats | dnnl_use_scaleshift | dnnl_fuse_norm_relu),
        "batch normalization descriptor", nd->name);
    DNN(dnnl_primitive_desc_create(&pd, &bd, attr, b->m->engine, NULL), "batch normalization creation", nd->name);
    pstep *st = dpo_add_step(b, pd, nd->name, "");
    pd = NULL;
    b->node_val[i] = dpo_new_val(b, dnnl_primitive_desc_query_md(st->pd, dnnl_query_dst_md, 0), VAL_ARENA);
    dpo_add_arg(st, DNNL_ARG_SRC, src, NULL);
    dpo_add_arg(st, DNNL_ARG_SCALE_SHIFT, -1, L->stats[0]);
    dpo_add_arg(st, DNNL_ARG_MEAN, -1, L->stats[1]);
    dpo_add_arg(st, DNNL_ARG_VARIANCE, -1, L->stats[2]);
    dpo_add_arg(st, DNNL_ARG_DST, b->node_val[i], NULL);
fail:
    if (pd) dnnl_primitive_desc_destroy(pd);
    dnnl_primitive_attr_destroy(attr);
    return s;
}
