/* The reference backend in int8: the definition of the quantized arithmetic (docs/models.md,
 * "int8") that oneDNN's int8 primitives are tested against. Activations are kept as their
 * integer values in float buffers; conv sums are exact (doubles through cblas_dgemm, or float for
 * depthwise, whose k*k products cannot round), then requantized in float, in the order oneDNN's
 * int8 attributes compute it (so the two give the same integers, not values a rounding apart):
 *   q_out = sat(round(act(fma(s_res / s_out, q_res, oscale[o] * (sum + b[o]))))),
 *   oscale[o] = s_in * s_w[o] / s_out, b[o] = shift[o] / (s_in * s_w[o]), ReLU6 = clip(0, 6 / s_out).
 * The folding and quantization of weights are done here again from the unfolded reference
 * layers, so that neither can hide a mistake of the oneDNN backend's. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ref_impl.h"
#include "util/util.h"

static void qfini(dp_model *m) {
    ref_model *rm = m->impl;
    for (int i = 0; rm && rm->q && i < m->graph.n; i++) {
        free(rm->q[i].wq);
        free(rm->q[i].wqf);
        free(rm->q[i].mult);
        free(rm->q[i].shift);
    }
    if (rm) free(rm->q);
    dpr_model_fini(m);
}

static dp_status qlayer_init(const dp_model *m, int i, const ref_layer *l, ref_qlayer *q) {
    const dpi_node *nd = &m->graph.nodes[i];
    const dpi_qplan *p = &m->quant;
    size_t per_out = (size_t)(nd->cin / nd->groups) * nd->k * nd->kw, total = per_out * (size_t)nd->cout;
    float *folded = malloc(total * sizeof *folded), *ws = malloc((size_t)nd->cout * sizeof *ws);
    int8_t *q8 = malloc(total);
    q->mult = malloc((size_t)nd->cout * sizeof *q->mult);
    q->shift = malloc((size_t)nd->cout * sizeof *q->shift);
    if (nd->groups == 1) q->wq = malloc(total * sizeof *q->wq);
    else q->wqf = malloc(total * sizeof *q->wqf);
    dp_status s = DP_OK;
    if (!folded || !ws || !q8 || !q->mult || !q->shift || (!q->wq && !q->wqf)) {
        s = dpi_error(DP_ERR_NOMEM, "out of memory quantizing %s", nd->name);
        goto done;
    }
    double s_in = nd->input < 0 ? p->in_scale : p->scale[nd->input];
    for (int o = 0; o < nd->cout; o++) {
        double bn = l->bn_scale ? l->bn_scale[o] : 1.0, bias = l->bias ? l->bias[o] : 0.0;
        /* a BN_RELU is a depthwise 1x1 conv of weight 1 before its BN */
        for (size_t j = 0; j < per_out; j++)
            folded[o * per_out + j] = (float)((l->weight ? l->weight[o * per_out + j] : 1.0) * bn);
        q->shift[o] = l->bn_scale ? (bias - l->bn_mean[o]) * bn + l->bn_beta[o] : bias;
    }
    dpi_quant_weights(folded, nd->cout, per_out, q8, ws);
    for (int o = 0; o < nd->cout; o++) q->mult[o] = s_in * ws[o];
    for (size_t j = 0; j < total; j++) {
        if (q->wq) q->wq[j] = q8[j];
        else q->wqf[j] = q8[j];
    }
done:
    free(folded);
    free(ws);
    free(q8);
    return s;
}

static dp_status qinit(dp_model *m, const dpi_weights *w) {
    dp_status s = dpr_model_init(m, w);
    if (s) return s;
    ref_model *rm = m->impl;
    rm->q = calloc((size_t)m->graph.n, sizeof *rm->q);
    if (!rm->q) s = dpi_error(DP_ERR_NOMEM, "out of memory quantizing %s", m->arch);
    for (int i = 0; !s && i < m->graph.n; i++)
        if (m->graph.nodes[i].op == DPI_OP_CONV || m->graph.nodes[i].op == DPI_OP_BN_RELU)
            s = qlayer_init(m, i, &rm->layers[i], &rm->q[i]);
    if (s) qfini(m);
    return s;
}

static void qconv(const dp_model *m, int i, ref_exec *re, const float *x, int ih, int iw, float *y) {
    const dpi_node *nd = &m->graph.nodes[i];
    const ref_qlayer *q = &((const ref_model *)m->impl)->q[i];
    const dpi_qplan *p = &m->quant;
    int oh = re->oh[i], ow = re->ow[i];
    size_t plane = (size_t)oh * ow;
    double *acc = re->dcol + re->col_cap;
    if (nd->groups != 1) {
        dpr_depthwise(x, q->wqf, nd->cin, ih, iw, nd->k, nd->stride, nd->pad, oh, ow, y);
        for (size_t j = 0; j < (size_t)nd->cout * plane; j++) acc[j] = y[j];
    } else {
        int kdim = nd->cin * nd->k * nd->kw;
        const float *src = x; /* a 1x1/1 conv reads its input as [cin, h*w] directly */
        if (!dpr_is_pointwise(nd)) {
            dpr_im2col(nd, x, ih, iw, oh, ow, re->col);
            src = re->col;
        }
        for (size_t j = 0; j < (size_t)kdim * plane; j++) re->dcol[j] = src[j];
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nd->cout, (int)plane, kdim, 1.0, q->wq, kdim, re->dcol,
                    (int)plane, 0.0, acc, (int)plane);
    }
    const float *res = nd->residual >= 0 ? re->out[nd->residual] : NULL;
    double s_res = nd->residual >= 0 ? p->scale[nd->residual] : 0.0;
    float s_out = p->scale[i], res_scale = (float)s_res / s_out, six = 6.0f / s_out;
    float lo = p->type[i] == DPI_Q_U8 ? 0.0f : -128.0f, hi = p->type[i] == DPI_Q_U8 ? 255.0f : 127.0f;
    for (int c = 0; c < nd->cout; c++)
        for (size_t j = 0; j < plane; j++) {
            size_t k = c * plane + j;
            float oscale = (float)(q->mult[c] / s_out), bias = (float)((float)q->shift[c] / q->mult[c]);
            /* in float, in oneDNN's order: its int8 conv computes this (onednn_int8.c); its sum
             * post-op is one fused multiply-add (a product rounded first flips values near a half:
             * 0.3 % of resnet18_cifar's logit range) */
            float v = oscale * ((float)acc[k] + bias);
            if (res) v = fmaf(res_scale, res[k], v);
            if (nd->act != DPI_ACT_NONE && v < 0.0f) v = 0.0f;
            if (nd->act == DPI_ACT_RELU6 && v > six) v = six;
            v = nearbyintf(v);
            y[k] = v < lo ? lo : v > hi ? hi : v;
        }
}

static dp_status qrun(dp_exec *e, const float *x, int n, int h, int w, float *logits) {
    const dp_model *m = e->model;
    const dpi_graph *g = &m->graph;
    const dpi_qplan *p = &m->quant;
    const ref_model *rm = m->impl;
    ref_exec *re = e->impl;
    dp_status s = dpr_exec_prepare(e, n, h, w);
    if (s) return s;
    size_t in_count = (size_t)3 * h * w;
    for (int b = 0; b < n; b++) {
        /* as oneDNN's quantizing reorder: times the scale's reciprocal rounded to float, in float (a
         * division in double rounds inputs near a half the other way: one such input moved
         * inception_v3's int8 logits by ~1 %) */
        float inv = 1.0f / p->in_scale;
        for (size_t j = 0; j < in_count; j++)
            re->qin[j] = dpi_quantize((float)(x[b * in_count + j] * inv), 1.0f, p->in_type);
        for (int i = 0; i < g->n; i++) {
            const dpi_node *nd = &g->nodes[i];
            int ih = nd->input < 0 ? h : re->oh[nd->input], iw = nd->input < 0 ? w : re->ow[nd->input];
            const float *in = nd->input < 0 ? re->qin : re->out[nd->input];
            float *y = i == g->n - 1 ? logits + (size_t)b * nd->cout : re->out[i];
            size_t plane = (size_t)re->oh[i] * re->ow[i];
            if (nd->concat >= 0) y += (size_t)nd->coff * plane; /* its slot, in the concatenation's scale */
            /* a quantized input is dequantized where f32 begins (the global average pool) */
            double s_in = nd->input < 0 ? p->in_scale : p->type[nd->input] == DPI_Q_F32 ? 1.0 : p->scale[nd->input];
            int64_t t0 = e->profiling ? dpi_now_ns() : 0;
            switch (nd->op) {
            case DPI_OP_CONV:
            case DPI_OP_BN_RELU: qconv(m, i, re, in, ih, iw, y); break;
            case DPI_OP_MAXPOOL: dpr_maxpool(nd, in, ih, iw, re->oh[i], re->ow[i], y); break;
            case DPI_OP_AVGPOOL: /* the average of the integers, rounded half to even, as oneDNN's int8 pool */
                dpr_avgpool(nd, in, ih, iw, re->oh[i], re->ow[i], y);
                for (size_t j = 0; j < (size_t)nd->cout * plane; j++) y[j] = nearbyintf(y[j]);
                break;
            case DPI_OP_CONCAT: /* the input, in the same group (type and scale), into the first channels */
                memcpy(y, in, (size_t)nd->cin * plane * sizeof *y);
                break;
            case DPI_OP_GAP:
                for (int c = 0; c < nd->cin; c++) {
                    double sum = 0.0;
                    for (size_t j = 0; j < (size_t)ih * iw; j++) sum += in[(size_t)c * ih * iw + j];
                    y[c] = (float)(sum * s_in / ((double)ih * iw));
                }
                break;
            case DPI_OP_ADAPTIVE_AVG: /* as the global pool: f32 from here */
                dpr_adaptive_avg(nd->cin, in, ih, iw, re->oh[i], re->ow[i], y);
                for (size_t j = 0; j < (size_t)nd->cout * plane; j++) y[j] = (float)(y[j] * s_in);
                break;
            case DPI_OP_LINEAR:
                memcpy(y, rm->layers[i].bias, (size_t)nd->cout * sizeof *y);
                cblas_sgemv(CblasRowMajor, CblasNoTrans, nd->cout, nd->cin, 1.0f, rm->layers[i].weight, nd->cin, in, 1,
                            1.0f, y, 1);
                if (nd->act == DPI_ACT_RELU)
                    for (int k = 0; k < nd->cout; k++) y[k] = y[k] > 0.0f ? y[k] : 0.0f;
                break;
            }
            if (e->profiling) re->layer_ms[i] += (double)(dpi_now_ns() - t0) / 1e6;
        }
    }
    if (e->profiling) re->calls++, re->n = n;
    return DP_OK;
}

const dpi_backend dpi_backend_reference_int8 = {
    .name = "reference-int8",
    .model_init = qinit,
    .model_fini = qfini,
    .exec_init = dpr_exec_init,
    .exec_prepare = dpr_exec_prepare,
    .exec_prepare_batches = dpr_exec_prepare_batches,
    .exec_run = qrun,
    .exec_profile = dpr_exec_profile,
    .exec_stats = dpr_exec_stats,
    .exec_fini = dpr_exec_fini,
};
