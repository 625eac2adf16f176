/*
 * Turning the graph into oneDNN primitives for one input shape [n,3,h,w].
 *
 * Three phases: (1) walk the nodes creating primitive descriptors, letting oneDNN choose the
 * activation layouts (format any) and inserting a reorder only where a consumer cannot read its
 * producer's layout or a convolution is faster in another one (onednn_conv.c); every tensor is a "value" with a memory descriptor. (2) Plan one arena for
 * all values from their lifetimes (steps that write and last read them); the exec owns the arena
 * and points the memory objects into it. (3) Create the memory objects and the primitives, with
 * every argument bound, so a run is a loop of dnnl_primitive_execute() calls.
 * A stage model (split.c) builds its node range only, between plain float32 NCHW edges
 * (stage_input, stage_output). Convolutions are built in onednn_conv.c, pools in onednn_pool.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onednn_build.h"
#include "util/util.h"

const char *dpo_impl_of(const_dnnl_primitive_desc_t pd) {
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) != dnnl_success || !impl) return "?";
    return impl;
}

int dpo_is_ref(const_dnnl_primitive_desc_t pd) { return strncmp(dpo_impl_of(pd), "ref", 3) == 0; }

int dpo_new_val(builder *b, const dnnl_memory_desc_t *md, int kind) {
    pval *v = &b->vals[b->nvals];
    memset(v, 0, sizeof *v);
    v->md = *md;
    v->kind = kind;
    v->first = -1;
    v->parent = -1;
    v->size = dnnl_memory_desc_get_size(md);
    return b->nvals++;
}

int dpo_new_view(builder *b, int parent, const dnnl_memory_desc_t *md, size_t sub_off) {
    int v = dpo_new_val(b, md, VAL_VIEW);
    b->vals[v].parent = parent;
    b->vals[v].sub_off = sub_off;
    return v;
}

pstep *dpo_add_step(builder *b, dnnl_primitive_desc_t pd, const char *name, const char *suffix) {
    pstep *st = &b->steps[b->nsteps++];
    memset(st, 0, sizeof *st);
    st->pd = pd;
    snprintf(st->name, sizeof st->name, "%s%s", name, suffix);
    const dnnl_memory_desc_t *sp = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    size_t need = sp ? dnnl_memory_desc_get_size(sp) : 0;
    if (need) {
        st->args[st->nargs++] = (parg){DNNL_ARG_SCRATCHPAD, -1, NULL};
        if (need > b->scratch) b->scratch = need;
    }
    if (dpo_is_ref(pd) && !b->dry) dpi_log(DP_LOG_WARN, "oneDNN: %s runs the slow reference implementation %s", st->name, dpo_impl_of(pd));
    return st;
}

dnnl_primitive_attr_t dpo_scratch_attr(void) {
    dnnl_primitive_attr_t attr = NULL;
    if (dnnl_primitive_attr_create(&attr) != dnnl_success) return NULL;
    dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    return attr;
}

dp_status dpo_add_reorder(builder *b, int src, const dnnl_memory_desc_t *md, const char *name, const char *suffix,
                             int *out) {
    return dpo_add_reorder_scaled(b, src, md, 1.0f, name, suffix, out);
}

dp_status dpo_add_reorder_scaled(builder *b, int src, const dnnl_memory_desc_t *md, float scale, const char *name,
                                 const char *suffix, int *out) {
    dp_status s = DP_OK;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_attr_t attr = dpo_scratch_attr();
    if (scale != 1.0f) DNN(dnnl_primitive_attr_set_output_scales(attr, 1, 0, &scale), "reorder scale", name);
    DNN(dnnl_reorder_primitive_desc_create(&pd, &b->vals[src].md, b->m->engine, md, b->m->engine, attr),
        "reorder creation", name);
    pstep *st = dpo_add_step(b, pd, name, suffix);
    *out = dpo_new_val(b, md, VAL_ARENA);
    dpo_add_arg(st, DNNL_ARG_SRC, src, NULL);
    dpo_add_arg(st, DNNL_ARG_DST, *out, NULL);
fail:
    dnnl_primitive_attr_destroy(attr);
    return s;
}

/* The scratchpad attribute, with a ReLU post-op for the hidden layers of VGG's classifier. */
static dp_status linear_attr(const dpi_node *nd, dnnl_primitive_attr_t *out) {
    dp_status s = DP_OK;
    dnnl_post_ops_t po = NULL;
    *out = dpo_scratch_attr();
    if (!*out) return dpi_error(DP_ERR_NOMEM, "out of memory creating attributes for %s", nd->name);
    if (nd->act != DPI_ACT_RELU) return DP_OK;
    DNN(dnnl_post_ops_create(&po), "post-ops", nd->name);
    DNN(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f), "ReLU post-op", nd->name);
    DNN(dnnl_primitive_attr_set_post_ops(*out, po), "post-ops", nd->name);
    dnnl_post_ops_destroy(po);
    return DP_OK;
fail:
    if (po) dnnl_post_ops_destroy(po);
    dnnl_primitive_attr_destroy(*out);
    *out = NULL;
    return s;
}

/* A linear layer reads a pool's [n,C,k,k] or another linear's [n,cin] output as it is; the
 * classifier writes float32 [n,K] logits straight into the caller's buffer. */
static dp_status build_linear(builder *b, int i) {
    dp_status s = DP_OK;
    const dpi_node *nd = &b->g->nodes[i];
    const dpo_layer *L = &b->m->layers[i];
    int src = dpo_val_of(b, nd->input), wn = L->w_md.ndims;
    const dnnl_memory_desc_t *smd = &b->vals[src].md;
    dnnl_dim_t features = 1;
    for (int d = 1; d < smd->ndims; d++) features *= smd->dims[d];
    if (smd->ndims != wn || features != nd->cin)
        return dpi_error(DP_ERR_UNSUPPORTED, "%s: the linear layer takes %d features, its input has %lld", nd->name,
                         nd->cin, (long long)features);
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_memory_desc_t wei, bias, dst, src_any;
    dnnl_dims_t dd = {b->n, nd->cout};
    dnnl_inner_product_desc_t ipd;
    int last = i == b->g->n - 1;
    if ((s = linear_attr(nd, &attr))) return s;
    DNN(dnnl_memory_desc_init_by_tag(&wei, wn, L->w_md.dims, b->m->dt, dnnl_format_tag_any), "linear descriptor", nd->name);
    DNN(dnnl_memory_desc_init_by_tag(&bias, 1, &L->w_md.dims[0], dnnl_f32, dnnl_a), "linear descriptor", nd->name);
    DNN(dnnl_memory_desc_init_by_tag(&dst, 2, dd, last ? dnnl_f32 : b->m->dt, last ? dnnl_ab : dnnl_format_tag_any),
        "linear descriptor", nd->name);
    DNN(dnnl_inner_product_forward_desc_init(&ipd, dnnl_forward_inference, smd, &wei, &bias, &dst),
        "linear descriptor", nd->name);
    if (dnnl_primitive_desc_create(&pd, &ipd, attr, b->m->engine, NULL) != dnnl_success || dpo_is_ref(pd)) {
        /* Fall back to the layout the inner product prefers, plus a reorder. */
        if (pd) dnnl_primitive_desc_destroy(pd), pd = NULL;
        DNN(dnnl_memory_desc_init_by_tag(&src_any, smd->ndims, smd->dims, b->m->dt, dnnl_format_tag_any),
            "linear descriptor", nd->name);
        DNN(dnnl_inner_product_forward_desc_init(&ipd, dnnl_forward_inference, &src_any, &wei, &bias, &dst),
            "linear descriptor", nd->name);
        DNN(dnnl_primitive_desc_create(&pd, &ipd, attr, b->m->engine, NULL), "linear creation", nd->name);
        const dnnl_memory_desc_t *want = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
        if (!dnnl_memory_desc_equal(want, smd)) {
            s = dpo_add_reorder(b, src, want, nd->name, ":reorder-src", &src);
            if (s) goto fail;
        }
    }
    dnnl_memory_t wmem = NULL;
    const dpo_window whole = {0, 0, (int)L->w_md.dims[wn - 2], (int)L->w_md.dims[wn - 1], 0, 0, 0, 0};
    if (!b->dry)
        s = dpo_weights_get(b->m, b->x, i, &whole, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0), &wmem);
    if (s) goto fail;
    pstep *st = dpo_add_step(b, pd, nd->name, "");
    pd = NULL;
    b->node_val[i] = dpo_new_val(b, dnnl_primitive_desc_query_md(st->pd, dnnl_query_dst_md, 0), last ? VAL_OUTPUT : VAL_ARENA);
    dpo_add_arg(st, DNNL_ARG_SRC, src, NULL);
    dpo_add_arg(st, DNNL_ARG_WEIGHTS, -1, wmem);
    dpo_add_arg(st, DNNL_ARG_BIAS, -1, L->b_mem);
    dpo_add_arg(st, DNNL_ARG_DST, b->node_val[i], NULL);
fail:
    if (pd) dnnl_primitive_desc_destroy(pd);
    dnnl_primitive_attr_destroy(attr);
    return s;
}

static dp_status builder_init(builder *b, const dp_exec *e, int n, int h, int w);
static dp_status build_nodes(builder *b, int from, int to);
static void builder_free(builder *b);

/* The layout of the tensor at the stage's cut in the unsplit model: its prefix is walked for
 * descriptors only (prepare time, a few ms). Reading that layout, the stage's first layer gets
 * the unsplit model's kernel, hence its numbers. */
static dp_status stage_layout(const builder *b, dnnl_memory_desc_t *out) {
    builder pre;
    dnnl_memory_desc_t img;
    dnnl_dims_t d = {b->n, 3, b->h, b->w};
    int cut = b->e->model->first - 1;
    dp_status s = builder_init(&pre, b->e, b->n, b->h, b->w);
    if (s) return s;
    pre.dry = 1;
    DNN(dnnl_memory_desc_init_by_tag(&img, 4, d, dnnl_f32, dnnl_nchw), "input descriptor", b->e->model->arch);
    pre.input_val = dpo_new_val(&pre, &img, VAL_INPUT);
    if ((s = build_nodes(&pre, 0, cut + 1))) goto fail;
    *out = pre.vals[pre.node_val[cut]].md;
fail:
    builder_free(&pre);
    return s;
}

/* A stage's input: the caller's plain float32 [n,c,h,w], reordered into the layout its first
 * layer reads; that value stands for the output of the node before the cut. */
static dp_status stage_input(builder *b, const dnnl_memory_desc_t *plain) {
    int first = b->e->model->first;
    dnnl_memory_desc_t want;
    dp_status s = stage_layout(b, &want);
    if (s) return s;
    b->node_val[first - 1] = b->input_val;
    if (dnnl_memory_desc_equal(&want, plain)) return DP_OK;
    return dpo_add_reorder(b, b->input_val, &want, b->g->nodes[first].name, ":stage-input", &b->node_val[first - 1]);
}

/* A stage's output: the last node's value reordered into the caller's plain float32 buffer. */
static dp_status stage_output(builder *b, const dnnl_memory_desc_t *plain) {
    int last = b->e->model->last - 1, out;
    dp_status s = dpo_add_reorder(b, b->node_val[last], plain, b->g->nodes[last].name, ":stage-output", &out);
    if (!s) b->vals[out].kind = VAL_OUTPUT;
    return s;
}

/* Offsets for every arena value: largest first, each at the lowest offset that does not overlap
 * a placed value alive at the same time. Returns the arena size. */
static size_t plan_arena(builder *b) {
    for (int k = 0; k < b->nsteps; k++)
        for (int a = 0; a < b->steps[k].nargs; a++) {
            /* a view's use is its parent's too */
            for (int v = b->steps[k].args[a].val; v >= 0; v = b->vals[v].parent) {
                if (b->vals[v].first < 0) b->vals[v].first = k;
                b->vals[v].last = k;
            }
        }
    int *order = malloc(sizeof(int) * (size_t)b->nvals), *placed = malloc(sizeof(int) * (size_t)b->nvals);
    if (!order || !placed) {
        free(order);
        free(placed);
        return (size_t)-1;
    }
    int no = 0, np = 0;
    for (int v = 0; v < b->nvals; v++)
        if (b->vals[v].kind == VAL_ARENA) order[no++] = v;
    for (int i = 1; i < no; i++) /* insertion sort by size, descending: few dozen values */
        for (int j = i; j > 0 && b->vals[order[j]].size > b->vals[order[j - 1]].size; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    size_t total = 0;
    for (int i = 0; i < no; i++) {
        pval *v = &b->vals[order[i]];
        size_t off = 0;
        for (int moved = 1; moved;) {
            moved = 0;
            for (int j = 0; j < np; j++) {
                const pval *u = &b->vals[placed[j]];
                int live = !(u->last < v->first || v->last < u->first);
                if (live && off < u->off + u->size && u->off < off + v->size) {
                    off = (u->off + u->size + 63) & ~(size_t)63;
                    moved = 1;
                }
            }
        }
        v->off = off;
        placed[np++] = order[i];
        if (off + v->size > total) total = off + v->size;
    }
    for (int v = 0; v < b->nvals; v++)
        if (b->vals[v].kind == VAL_VIEW) b->vals[v].off = b->vals[b->vals[v].parent].off + b->vals[v].sub_off;
    free(order);
    free(placed);
    return total;
}

void dpo_shape_free(dpo_shape *s) {
    for (int k = 0; k < s->nsteps; k++)
        if (s->steps[k].prim) dnnl_primitive_destroy(s->steps[k].prim);
    for (int v = 0; v < s->nmems; v++)
        if (s->mems[v]) dnnl_memory_destroy(s->mems[v]);
    free(s->steps);
    free(s->mems);
    free(s->offs);
    memset(s, 0, sizeof *s);
}

static void builder_free(builder *b) {
    for (int k = 0; k < b->nsteps; k++)
        if (b->steps[k].pd) dnnl_primitive_desc_destroy(b->steps[k].pd);
    for (int v = 0; b->vals && v < b->nvals; v++) free(b->vals[v].data);
    free(b->vals);
    free(b->steps);
    free(b->node_val);
    free(b->node_last);
    free(b->slot);
    free(b->visible);
}

static dp_status builder_init(builder *b, const dp_exec *e, int n, int h, int w) {
    const dpi_graph *g = &e->model->graph;
    *b = (builder){.e = e, .m = e->model->impl, .x = e->impl, .g = g, .n = n, .h = h, .w = w};
    /* Each node adds at most three steps (reorder of its source, copy of its shortcut, itself)
     * and as many values, or views of a block buffer (its slot, what its readers see, the
     * buffer); a slot writer out of place a concat and reorders of its parts (each node is a
     * part once, the joined prefix once more): three more; plus the input and a stage's two
     * edge reorders. */
    int cap = 6 * g->n + 3;
    b->vals = malloc(sizeof *b->vals * (size_t)cap);
    b->steps = malloc(sizeof *b->steps * (size_t)cap);
    b->node_val = malloc(sizeof(int) * (size_t)g->n);
    b->node_last = malloc(sizeof(int) * (size_t)g->n);
    b->slot = malloc(sizeof(int) * (size_t)g->n);
    b->visible = malloc(sizeof(int) * (size_t)g->n);
    if (!b->vals || !b->steps || !b->node_val || !b->node_last || !b->slot || !b->visible) {
        builder_free(b);
        return dpi_error(DP_ERR_NOMEM, "out of memory preparing %s for [%d,3,%d,%d]", e->model->arch, n, h, w);
    }
    for (int i = 0; i < g->n; i++) {
        b->slot[i] = -2;
        b->node_last[i] = -1;
        for (int j = i + 1; j < g->n; j++)
            if (g->nodes[j].input == i || g->nodes[j].residual == i) b->node_last[i] = j;
    }
    return DP_OK;
}

static dp_status build_nodes(builder *b, int from, int to) {
    dp_status s = DP_OK;
    for (int i = from; i < to && !s; i++) {
        switch (b->g->nodes[i].op) {
        case DPI_OP_CONV: s = dpo_build_conv(b, i); break;
        case DPI_OP_MAXPOOL:
        case DPI_OP_GAP:
        case DPI_OP_ADAPTIVE_AVG:
        case DPI_OP_AVGPOOL: s = dpo_build_pool(b, i); break;
        case DPI_OP_LINEAR: s = build_linear(b, i); break;
        case DPI_OP_BN_RELU: s = dpo_build_bn_relu(b, i); break;
        case DPI_OP_CONCAT: s = dpo_build_concat(b, i); break;
        }
        if (!s) s = dpo_join(b, i);
    }
    return s;
}

dp_status dpo_shape_build(const dp_exec *e, int n, int h, int w, dpo_shape *sh) {
    dp_status s = DP_OK;
    const dp_model *model = e->model;
    const dpi_graph *g = &model->graph;
    builder b;
    memset(sh, 0, sizeof *sh);
    if ((s = builder_init(&b, e, n, h, w))) return s;
    int io_in[3], io_out[3];
    dpi_model_io(model, h, w, io_in, io_out);
    dnnl_memory_desc_t in_md, out_md;
    dnnl_dims_t in_d = {n, io_in[0], io_in[1], io_in[2]}, out_d = {n, io_out[0], io_out[1], io_out[2]};
    DNN(dnnl_memory_desc_init_by_tag(&in_md, 4, in_d, dnnl_f32, dnnl_nchw), "input descriptor", model->arch);
    DNN(dnnl_memory_desc_init_by_tag(&out_md, 4, out_d, dnnl_f32, dnnl_nchw), "output descriptor", model->arch);
    b.input_val = dpo_new_val(&b, &in_md, VAL_INPUT);
    if (model->first > 0 && (s = stage_input(&b, &in_md))) goto fail;

    if ((s = build_nodes(&b, model->first, model->last))) goto fail;
    if (model->last < g->n && (s = stage_output(&b, &out_md))) goto fail;
    if (model->last == g->n && b.vals[b.node_val[g->n - 1]].kind != VAL_OUTPUT) {
        s = dpi_error(DP_ERR_INTERNAL, "%s: the graph does not end with a linear layer", model->arch);
        goto fail;
    }

    sh->arena_size = plan_arena(&b);
    sh->mems = calloc((size_t)b.nvals, sizeof *sh->mems);
    sh->offs = calloc((size_t)b.nvals, sizeof *sh->offs);
    sh->steps = calloc((size_t)b.nsteps, sizeof *sh->steps);
    if (sh->arena_size == (size_t)-1 || !sh->mems || !sh->offs || !sh->steps) {
        s = dpi_error(DP_ERR_NOMEM, "out of memory preparing %s for [%d,3,%d,%d]", model->arch, n, h, w);
        goto fail;
    }
    sh->nmems = b.nvals;
    for (int v = 0; v < b.nvals; v++) {
        int owned = b.vals[v].kind == VAL_CONST;
        DNN(dnnl_memory_create(&sh->mems[v], &b.vals[v].md, b.m->engine, owned ? DNNL_MEMORY_ALLOCATE : DNNL_MEMORY_NONE),
            "activation memory", model->arch);
        if (owned) {
            void *handle = NULL;
            DNN(dnnl_memory_get_data_handle(sh->mems[v], &handle), "constant memory", model->arch);
            memcpy(handle, b.vals[v].data, b.vals[v].size);
        }
        sh->offs[v] = b.vals[v].kind == VAL_ARENA || b.vals[v].kind == VAL_VIEW ? b.vals[v].off : DPO_USER;
        if (b.vals[v].kind == VAL_INPUT) sh->in = sh->mems[v];
        if (b.vals[v].kind == VAL_OUTPUT) sh->out = sh->mems[v];
    }
    sh->nsteps = b.nsteps;
    for (int k = 0; k < b.nsteps; k++) {
        const pstep *ps = &b.steps[k];
        dpo_step *st = &sh->steps[k];
        DNN(dpo_primitive_create(b.x, &st->prim, ps->pd), "primitive creation", ps->name);
        st->name = dpo_intern(b.x, ps->name);
        st->impl = dpo_intern(b.x, dpo_impl_of(ps->pd));
        if (!st->name || !st->impl) {
            s = dpi_error(DP_ERR_NOMEM, "out of memory preparing %s", model->arch);
            goto fail;
        }
        st->nargs = ps->nargs;
        for (int a = 0; a < ps->nargs; a++) {
            st->args[a].arg = ps->args[a].arg;
            st->args[a].memory = ps->args[a].val >= 0 ? sh->mems[ps->args[a].val] : ps->args[a].mem;
        }
    }
    sh->n = n;
    sh->h = h;
    sh->w = w;
    sh->scratch = b.scratch;
    builder_free(&b);
    return DP_OK;
fail:
    builder_free(&b);
    dpo_shape_free(sh);
    return s;
}
