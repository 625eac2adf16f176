/*
 * oneDNN backend, concatenations (DenseNet's dense blocks, Inception's modules; docs/engine.md,
 * "Concatenation"). A CONCAT node is a buffer of all the block's channels; its input fills the
 * first channels, every writer's output its slot, and a writer's readers see the channels so far.
 *
 * One sample: copy-free. The buffer is one value in the blocked layout (nChw16c, nChw8c without
 * AVX-512), the block's input is written into its first channels by its producer and every
 * writer's output into its slot, and each reader reads the channels so far. These views are dense
 * blocked tensors at a byte offset when the offsets are multiples of the block.
 * A batch: at N > 1 a slot is strided over the samples, and oneDNN 2.6's jit primitives take no
 * strided (submemory) descriptor (they fall back to `ref:`). So each writer writes a tensor of its
 * own in the blocked layout, and where a writer has readers one oneDNN concat (a copy of the
 * channels so far) joins the latest joined prefix with the writers since. DenseNet copies its
 * prefix once per layer (as torch.cat does), Inception each module's output once.
 * int8 joins at every batch size, in nhwc: oneDNN 2.6 has int8 convs and pools for nhwc only
 * (blocked int8 is `ref:`), and a slot of an nhwc buffer is strided. The int8 plan gives a
 * concatenation's input and writers one type and scale (quant.h), so the joins copy bytes.
 */
#include <string.h>

#include "onednn_build.h"
#include "util/util.h"

/* The channel block of the layout concatenations use: what the jit kernels of this CPU write. */
static int block_c(void) {
    unsigned isa = (unsigned)dnnl_get_effective_cpu_isa();
    return (isa & (unsigned)dnnl_cpu_isa_avx512_core) == (unsigned)dnnl_cpu_isa_avx512_core ? 16 : 8;
}

static int is_int8(const builder *b) { return b->e->model->precision == DP_PRECISION_INT8; }

/* Whether this shape writes slots in place: one sample, every slot on the channel blocks, not int8. */
static int in_place(const builder *b) {
    int blk = block_c();
    if (b->n != 1 || is_int8(b)) return 0;
    for (int i = 0; i < b->g->n; i++) {
        const dpi_node *nd = &b->g->nodes[i];
        if (nd->concat >= 0 && (nd->coff % blk || nd->cout % blk)) return 0;
        if (nd->op == DPI_OP_CONCAT && nd->cin % blk) return 0;
    }
    return 1;
}

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

/* The layout of node's output (or of a concatenation's part: any node of its group) for c channels. */
static dnnl_status_t concat_md(const builder *b, int node, int c, int h, int w, dnnl_memory_desc_t *md) {
    dnnl_dims_t d = {b->n, c, h, w};
    dnnl_format_tag_t tag = is_int8(b) ? dnnl_acdb : block_c() == 16 ? dnnl_aBcd16b : dnnl_aBcd8b;
    return dnnl_memory_desc_init_by_tag(md, 4, d, dpo_value_dt(b, node), tag);
}

/* A view of channels [c0, c0 + c) of CONCAT node cat's buffer (the buffer created on first use). */
static int block_view(builder *b, int cat, int c0, int c) {
    const dpi_node *nd = &b->g->nodes[cat];
    int h, w;
    dpi_graph_out_hw(b->g, cat, b->h, b->w, &h, &w);
    dnnl_memory_desc_t md;
    if (b->slot[cat] < 0) {
        if (concat_md(b, cat, nd->cout, h, w, &md) != dnnl_success) return -1;
        b->slot[cat] = dpo_new_val(b, &md, VAL_ARENA); /* a CONCAT's own entry: its buffer */
    }
    if (concat_md(b, cat, c, h, w, &md) != dnnl_success) return -1;
    return dpo_new_view(b, b->slot[cat], &md, (size_t)c0 * h * w * dnnl_data_type_size(b->m->dt));
}

int dpo_slot(builder *b, int i) {
    if (b->slot[i] != -2) return b->slot[i];
    int coff, cat = slot_target(b, i, &coff);
    const dpi_node *nd = &b->g->nodes[i];
    b->slot[i] = -1;
    if (cat < 0 || !in_place(b)) return -1;
    b->slot[i] = block_view(b, cat, coff, nd->cout);
    b->visible[i] = coff == 0 ? b->slot[i] : block_view(b, cat, 0, coff + nd->cout);
    return b->slot[i];
}

const dnnl_memory_desc_t *dpo_layout_for_slot(builder *b, int i) {
    int h, w;
    const dpi_node *nd = &b->g->nodes[i];
    if ((nd->cout % block_c() && !is_int8(b)) || !dpi_graph_has_concat(b->g)) return NULL;
    dpi_graph_out_hw(b->g, i, b->h, b->w, &h, &w);
    return concat_md(b, i, nd->cout, h, w, &b->want) == dnnl_success ? &b->want : NULL;
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
    if (!in_place(b)) { /* the first part of the writers' concatenation (dpo_join) */
        b->node_val[i] = src;
        return DP_OK;
    }
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

/* Writer i's readers when it wrote a tensor of its own: the concatenation so far, made by one
 * oneDNN concat of the latest joined prefix (or the block's input) and the writers since. */
dp_status dpo_join(builder *b, int i) {
    dp_status s = DP_OK;
    const dpi_node *nd = &b->g->nodes[i];
    if (nd->concat < 0 || dpo_slot(b, i) >= 0 || b->node_last[i] < 0) return DP_OK;
    int cat = nd->concat, from = cat, parts[DPO_MAX_ARGS - 2], chans[DPO_MAX_ARGS - 2], np = 0, c = 0, h, w;
    for (int j = i - 1; j > cat && from == cat; j--)
        if (b->g->nodes[j].concat == cat && b->node_last[j] >= 0) from = j;
    if (from > cat) c = b->g->nodes[from].coff + b->g->nodes[from].cout; /* joined when it was read */
    else c = b->g->nodes[cat].cin;
    if (c > 0) parts[np] = b->node_val[from], chans[np++] = c;
    for (int j = from + 1; j <= i; j++) {
        const dpi_node *wj = &b->g->nodes[j];
        if (wj->concat != cat) continue;
        if (wj->coff != c || np == DPO_MAX_ARGS - 2)
            return dpi_error(DP_ERR_INTERNAL, "%s: %s is not the next slot of %d channels", nd->name, wj->name, c);
        parts[np] = b->node_val[j], chans[np++] = wj->cout;
        c += wj->cout;
    }
    dpi_graph_out_hw(b->g, cat, b->h, b->w, &h, &w);
    dnnl_memory_desc_t mds[DPO_MAX_ARGS - 2], dst;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_attr_t attr = dpo_scratch_attr();
    if (!attr) return dpi_error(DP_ERR_NOMEM, "out of memory creating attributes for %s", nd->name);
    for (int k = 0; k < np; k++) {
        /* oneDNN's concat copies blocks only between one blocked layout; anything else is `ref:` */
        DNN(concat_md(b, cat, chans[k], h, w, &mds[k]), "concatenation descriptor", nd->name);
        if (!dnnl_memory_desc_equal(&mds[k], &b->vals[parts[k]].md) &&
            (s = dpo_add_reorder(b, parts[k], &mds[k], nd->name, ":reorder-part", &parts[k])))
            goto fail;
    }
    DNN(concat_md(b, cat, c, h, w, &dst), "concatenation descriptor", nd->name);
    DNN(dnnl_concat_primitive_desc_create(&pd, &dst, np, 1, mds, attr, b->m->engine), "concatenation creation",
        nd->name);
    pstep *st = dpo_add_step(b, pd, nd->name, ":concat");
    pd = NULL;
    for (int k = 0; k < np; k++) dpo_add_arg(st, DNNL_ARG_MULTIPLE_SRC + k, parts[k], NULL);
    b->node_val[i] = dpo_new_val(b, &dst, VAL_ARENA);
    dpo_add_arg(st, DNNL_ARG_DST, b->node_val[i], NULL);
fail:
    if (pd) dnnl_primitive_desc_destroy(pd);
    dnnl_primitive_attr_destroy(attr);
    return s;
}

/* oneDNN's batch normalization with the running statistics and a fused ReLU, reading the
 * channels so far of a block buffer (or any tensor) and writing a tensor of the same layout.
 * int8: a depthwise 1x1 conv requantizing into its own scale (oneDNN's s8 batch normalization
 * has neither u8 output nor scales), built as any conv. */
dp_status dpo_build_bn_relu(builder *b, int i) {
    if (b->m->layers[i].wq) return dpo_build_conv(b, i);
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
