/*
 * The state of turning the graph into primitives for one input shape, shared by onednn_build.c
 * (the walk over the nodes, pools, linear, arena, primitives) and onednn_conv.c (convolutions:
 * kernel windows, candidates, the timed choice). Private to the oneDNN backend.
 */
#ifndef DP_MODEL_ONEDNN_BUILD_H
#define DP_MODEL_ONEDNN_BUILD_H

#include "onednn_impl.h"

/* VAL_VIEW: a dense part of another arena value (a slot of a block buffer, onednn_concat.c),
 * or the same bytes seen with other dimensions, `sub_off` bytes into `parent`; it keeps the
 * parent alive and takes no arena space itself. VAL_CONST: a constant of the shape (an uneven
 * adaptive pool's averaging matrix, onednn_pool.c), its `data` copied into memory it owns. */
enum { VAL_ARENA, VAL_INPUT, VAL_OUTPUT, VAL_VIEW, VAL_CONST };

typedef struct pval {
    dnnl_memory_desc_t md;
    int kind;
    int parent;
    size_t sub_off;
    void *data;               /* VAL_CONST: its contents (malloc'd, md's size) */
    int first, last;          /* first and last step using it (arena values only) */
    size_t off, size;
} pval;

typedef struct parg {
    int arg;
    int val;                  /* activation value, or -1: mem (weights, bias) or the scratchpad */
    dnnl_memory_t mem;
} parg;

typedef struct pstep {
    dnnl_primitive_desc_t pd;
    int nargs;
    parg args[DPO_MAX_ARGS];
    char name[DPI_NAME_CAP + 16];
} pstep;

typedef struct builder {
    const dp_exec *e;
    dpo_model *m;
    const dpi_graph *g;
    dpo_exec *x;
    int n, h, w;
    int nvals, nsteps;
    pval *vals;
    pstep *steps;
    int *node_val;            /* value holding each node's output */
    int *node_last;           /* last node reading each node's output */
    int *slot;                /* view a node writes into a block buffer through, -1: none, -2: not known yet */
    int *visible;             /* a slot writer's output as its readers see it: the buffer up to its slot */
    dnnl_memory_desc_t want;  /* dpo_layout_for_slot()'s answer */
    int input_val;
    size_t scratch;
    int dry;                  /* descriptors only, no weights fetched: a stage's look at its prefix */
} builder;

const char *dpo_impl_of(const_dnnl_primitive_desc_t pd);
int dpo_is_ref(const_dnnl_primitive_desc_t pd);
/* A new value of layout md and kind VAL_*; its index. */
int dpo_new_val(builder *b, const dnnl_memory_desc_t *md, int kind);
/* A VAL_VIEW of parent's bytes from sub_off on, seen with layout md; its index. */
int dpo_new_view(builder *b, int parent, const dnnl_memory_desc_t *md, size_t sub_off);
/* The value holding node's output (node < 0: the network input). */
static inline int dpo_val_of(const builder *b, int node) { return node < 0 ? b->input_val : b->node_val[node]; }
/* Append a step owning pd; arguments are added with dpo_add_arg(). The scratchpad is bound later. */
pstep *dpo_add_step(builder *b, dnnl_primitive_desc_t pd, const char *name, const char *suffix);
static inline void dpo_add_arg(pstep *st, int arg, int val, dnnl_memory_t mem) {
    st->args[st->nargs++] = (parg){arg, val, mem};
}
/* Attributes with a user-mode scratchpad (NULL when out of memory). */
dnnl_primitive_attr_t dpo_scratch_attr(void);
/* A reorder of value src into a new value (*out) of layout md. */
dp_status dpo_add_reorder(builder *b, int src, const dnnl_memory_desc_t *md, const char *name, const char *suffix,
                          int *out);
/* The same multiplying by scale (quantizing or dequantizing int8; 1: a plain reorder). */
dp_status dpo_add_reorder_scaled(builder *b, int src, const dnnl_memory_desc_t *md, float scale, const char *name,
                                 const char *suffix, int *out);
/* int8 (onednn_int8.c): the data type and scale of node's output (-1: the input) in this model;
 * conv i's output scales and post-ops into attr and po. */
dnnl_data_type_t dpo_value_dt(const builder *b, int node);
float dpo_value_scale(const builder *b, int node);
dp_status dpo_int8_attr(const builder *b, int i, dnnl_primitive_attr_t attr, dnnl_post_ops_t po);
/* The f32 value src quantized (times scale) into a new value (*out) of the s8/u8 layout want. */
dp_status dpo_int8_quantize(builder *b, int src, const dnnl_memory_desc_t *want, float scale, const char *name,
                            int *out);
/* Whether oneDNN's ISA has VNNI: its int8 sums are exact only then (without it pairs of products
 * are added in 16 bits with saturation; oneDNN's "Nuances of int8 Computations"). */
int dpo_int8_vnni(void);
/* The view of a block buffer that node i writes its output into (creating it), or -1 when i
 * writes a value of its own; then b->visible[i] is what its readers read (onednn_concat.c). */
int dpo_slot(builder *b, int i);
/* The layout conv i writes in a graph with block buffers: theirs (nChw16c, nChw8c without
 * AVX-512; int8: nhwc in its own type), so that a conv or pool
 * writing a slot reads it as is (oneDNN's jit pools only read the layout they write: from nhwc
 * into an nChw16c slot is `ref:`; a conv would need a reorder); NULL elsewhere. */
const dnnl_memory_desc_t *dpo_layout_for_slot(builder *b, int i);
/* Node i, a MAXPOOL, AVGPOOL, GAP or ADAPTIVE_AVG (onednn_pool.c). */
dp_status dpo_build_pool(builder *b, int i);
/* Node i, a BN_RELU or a CONCAT (onednn_concat.c). */
dp_status dpo_build_bn_relu(builder *b, int i);
dp_status dpo_build_concat(builder *b, int i);
/* After node i: if it wrote a concatenation's slot out of place and is read, join the channels
 * so far into one tensor, which its readers then read (onednn_concat.c). */
dp_status dpo_join(builder *b, int i);
/* Conv i as an inner product over [n, cin] (onednn_ip.c): its descriptor where i is one tap
 * over a 1x1 map whose input and output read as plain [n][c], else NULL (*st says why). */
dnnl_primitive_desc_t dpo_ip_candidate(builder *b, int i, const dpo_window *win, const_dnnl_primitive_attr_t attr,
                                       dnnl_status_t *st);
int dpo_is_ip(const_dnnl_primitive_desc_t pd);
/* The 4D layout conv i's output has for its readers when it runs as an inner product; 0, or -1
 * where it cannot. */
int dpo_ip_out_md(const builder *b, int i, dnnl_memory_desc_t *md);
/* A plain [n, c] view of value v (laid out as one: dpo_ip_out_md), -1 if it cannot be made. */
int dpo_nc_view(builder *b, int v);
/* Node i, a CONV: its reorders (if any) and the conv itself (onednn_conv.c). */
dp_status dpo_build_conv(builder *b, int i);

#endif
