/*
 * oneDNN backend, int8 (the scheme of quant.h, computed as ref_int8.c defines it): s8 weights
 * per output channel, u8/s8 activations, and each conv's requantization folded into oneDNN's
 * attributes. oneDNN 2.x computes an int8 conv as
 *     dst = sat(round(post_ops(oscale[o] * (acc + bias[o]))))
 * with the sum post-op adding sum_scale * dst_old in one fused multiply-add (vfmadd231ps; an add
 * when sum_scale is 1, the same value), so with
 *     oscale[o] = s_in * s_w[o] / s_out,  bias[o] = shift[o] / (s_in * s_w[o]),
 *     sum_scale = s_res / s_out,          ReLU6 = clip(0, 6 / s_out)
 * it yields the reference's q_out. The input is quantized by the reorders that feed the first
 * conv (dpo_int8_quantize); the global average pool dequantizes (onednn_build.c).
 */
#include <stdlib.h>
#include <string.h>

#include "onednn_build.h"
#include "util/util.h"

dp_status dpo_int8_layer(const dp_model *m, int i, dpo_layer *L) {
    const dpi_node *nd = &m->graph.nodes[i];
    const dpi_qplan *p = &m->quant;
    size_t per_out = (size_t)(nd->cin / nd->groups) * nd->k * nd->kw;
    float *ws = malloc(sizeof *ws * (size_t)nd->cout);
    L->wq = malloc(per_out * (size_t)nd->cout);
    L->oscale = malloc(sizeof *L->oscale * (size_t)nd->cout);
    if (!L->b) L->b = calloc((size_t)nd->cout, sizeof *L->b); /* the shift is requantized even when 0 */
    if (!ws || !L->wq || !L->oscale || !L->b) {
        free(ws);
        return dpi_error(DP_ERR_NOMEM, "out of memory quantizing %s", nd->name);
    }
    dpi_quant_weights(L->w, nd->cout, per_out, L->wq, ws);
    double s_in = nd->input < 0 ? p->in_scale : p->scale[nd->input];
    for (int o = 0; o < nd->cout; o++) {
        double mult = s_in * ws[o];
        L->oscale[o] = (float)(mult / p->scale[i]);
        L->b[o] = (float)(L->b[o] / mult);
    }
    free(ws);
    L->w_md.data_type = dnnl_s8;
    return DP_OK;
}

int dpo_int8_vnni(void) {
    unsigned isa = (unsigned)dnnl_get_effective_cpu_isa();
    return (isa & (unsigned)dnnl_cpu_isa_avx512_core_vnni) == (unsigned)dnnl_cpu_isa_avx512_core_vnni ||
           (isa & (unsigned)dnnl_cpu_isa_avx2_vnni) == (unsigned)dnnl_cpu_isa_avx2_vnni;
}

dnnl_data_type_t dpo_value_dt(const builder *b, int node) {
    const dp_model *m = b->e->model;
    if (m->precision != DP_PRECISION_INT8) return b->m->dt;
    dpi_qtype t = node < 0 ? m->quant.in_type : m->quant.type[node];
    return t == DPI_Q_U8 ? dnnl_u8 : t == DPI_Q_S8 ? dnnl_s8 : dnnl_f32;
}

float dpo_value_scale(const builder *b, int node) {
    const dp_model *m = b->e->model;
    return node < 0 ? m->quant.in_scale : m->quant.scale[node];
}

dp_status dpo_int8_attr(const builder *b, int i, dnnl_primitive_attr_t attr, dnnl_post_ops_t po) {
    dp_status s = DP_OK;
    const dpi_node *nd = &b->g->nodes[i];
    const dpo_layer *L = &b->m->layers[i];
    float s_out = dpo_value_scale(b, i);
    DNN(dnnl_primitive_attr_set_output_scales(attr, nd->cout, 1 << 1, L->oscale), "output scales", nd->name);
    if (nd->residual >= 0)
        DNN(dnnl_post_ops_append_sum(po, dpo_value_scale(b, nd->residual) / s_out), "sum post-op", nd->name);
    if (nd->act == DPI_ACT_RELU)
        DNN(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f), "ReLU post-op", nd->name);
    if (nd->act == DPI_ACT_RELU6)
        DNN(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_clip, 0.0f, 6.0f / s_out), "ReLU6 post-op", nd->name);
fail:
    return s;
}

int8_t *dpo_int8_window(const dpo_layer *L, const dpo_window *win, dnnl_memory_desc_t *md) {
    int nd = L->w_md.ndims;
    int64_t kh = L->w_md.dims[nd - 2], kw = L->w_md.dims[nd - 1], outer = 1;
    for (int d = 0; d < nd - 2; d++) outer *= L->w_md.dims[d];
    int8_t *cut = malloc((size_t)(outer * win->kh * win->kw));
    if (!cut) return NULL;
    for (int64_t o = 0; o < outer; o++)
        for (int y = 0; y < win->kh; y++)
            for (int x = 0; x < win->kw; x++)
                cut[(o * win->kh + y) * win->kw + x] = L->wq[(o * kh + win->y0 + y) * kw + win->x0 + x];
    dnnl_dims_t dims;
    memcpy(dims, L->w_md.dims, sizeof dims);
    dims[nd - 2] = win->kh;
    dims[nd - 1] = win->kw;
    if (dnnl_memory_desc_init_by_tag(md, nd, dims, dnnl_s8, nd == 5 ? dnnl_goihw : dnnl_oihw) != dnnl_success) {
        free(cut);
        return NULL;
    }
    return cut;
}

/* In two reorders: f32 nchw -> s8/u8 nchw with the scale, then the byte transpose into the
 * conv's layout; together cheaper than the one quantizing transpose (jit:uni) at batch 1 and 64
 * on all four CIFAR/Fashion-MNIST archs (docs/performance.md, int8). The integers are the same:
 * the second reorder only moves bytes. */
dp_status dpo_int8_quantize(builder *b, int src, const dnnl_memory_desc_t *want, float scale, const char *name,
                            int *out) {
    const dnnl_memory_desc_t *in = &b->vals[src].md;
    dnnl_memory_desc_t plain;
    if (in->ndims != 4 || dnnl_memory_desc_init_by_tag(&plain, 4, in->dims, want->data_type, dnnl_nchw) != dnnl_success ||
        dnnl_memory_desc_equal(&plain, want))
        return dpo_add_reorder_scaled(b, src, want, scale, name, ":reorder-src", out);
    int mid;
    dp_status s = dpo_add_reorder_scaled(b, src, &plain, scale, name, ":quantize", &mid);
    return s ? s : dpo_add_reorder(b, mid, want, name, ":reorder-src", out);
}
