/* Reference backend: the same graphs computed independently of oneDNN, for cross-checking.
 * Convolutions are im2col + cblas_sgemm (depthwise by plain loops), BN is applied as its own
 * step from the running statistics (not folded into the conv, so a folding bug in the fast
 * backend cannot hide here), everything else is plain loops over NCHW float32.
 * OpenBLAS uses its own thread pool (OPENBLAS_NUM_THREADS); dp_exec's thread count is unused. */
#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ref_impl.h"
#include "util/util.h"

static float *copy_param(const dpi_weights *w, const char *module, const char *field, int ndim,
                         const int64_t *shape, dp_status *s) {
    char name[DPI_NAME_CAP + 16];
    const float *src;
    snprintf(name, sizeof name, "%s.%s", module, field);
    if ((*s = dpi_weights_get(w, name, ndim, shape, &src))) return NULL;
    size_t count = 1;
    for (int d = 0; d < ndim; d++) count *= (size_t)shape[d];
    float *dst = malloc(count * sizeof *dst);
    if (!dst) {
        *s = dpi_error(DP_ERR_NOMEM, "out of memory copying %s", name);
        return NULL;
    }
    memcpy(dst, src, count * sizeof *dst);
    return dst;
}

/* BN module bn of c channels as y = (x - mean) * scale + beta. */
static dp_status load_bn(const dpi_weights *w, const char *bn, int c, float eps, ref_layer *l) {
    dp_status s = DP_OK;
    int64_t vec[1] = {c};
    float *gamma = copy_param(w, bn, "weight", 1, vec, &s);
    float *var = gamma ? copy_param(w, bn, "running_var", 1, vec, &s) : NULL;
    l->bn_beta = var ? copy_param(w, bn, "bias", 1, vec, &s) : NULL;
    l->bn_mean = l->bn_beta ? copy_param(w, bn, "running_mean", 1, vec, &s) : NULL;
    if (l->bn_mean) {
        for (int i = 0; i < c; i++) gamma[i] = (float)(gamma[i] / sqrt((double)var[i] + eps));
        l->bn_scale = gamma;
        gamma = NULL;
    }
    free(gamma);
    free(var);
    return s;
}

static dp_status init_layer(const dpi_node *nd, const dpi_weights *w, ref_layer *l) {
    dp_status s = DP_OK;
    int64_t vec[1] = {nd->cout};
    if (nd->op == DPI_OP_BN_RELU) return load_bn(w, nd->bn, nd->cout, nd->bn_eps, l);
    if (nd->op == DPI_OP_LINEAR) {
        int64_t shape[2] = {nd->cout, nd->cin};
        if (!(l->weight = copy_param(w, nd->name, "weight", 2, shape, &s))) return s;
        l->bias = copy_param(w, nd->name, "bias", 1, vec, &s);
        return s;
    }
    if (nd->op != DPI_OP_CONV) return DP_OK;
    if (nd->groups != 1 && !(nd->groups == nd->cin && nd->cin == nd->cout))
        return dpi_error(DP_ERR_UNSUPPORTED, "reference backend: %s has %d groups (only 1 or depthwise)",
                         nd->name, nd->groups);
    int64_t shape[4] = {nd->cout, nd->cin / nd->groups, nd->k, nd->kw};
    if (!(l->weight = copy_param(w, nd->name, "weight", 4, shape, &s))) return s;
    if (nd->has_bias && !(l->bias = copy_param(w, nd->name, "bias", 1, vec, &s))) return s;
    return nd->bn[0] ? load_bn(w, nd->bn, nd->cout, nd->bn_eps, l) : DP_OK;
}

void dpr_model_fini(dp_model *m) {
    ref_model *rm = m->impl;
    if (!rm) return;
    for (int i = 0; rm->layers && i < m->graph.n; i++) {
        ref_layer *l = &rm->layers[i];
        free(l->weight);
        free(l->bias);
        free(l->bn_scale);
        free(l->bn_mean);
        free(l->bn_beta);
    }
    free(rm->layers);
    free(rm);
    m->impl = NULL;
}

dp_status dpr_model_init(dp_model *m, const dpi_weights *w) {
    ref_model *rm = calloc(1, sizeof *rm);
    if (!rm) return dpi_error(DP_ERR_NOMEM, "out of memory preparing %s", m->arch);
    m->impl = rm;
    rm->layers = calloc((size_t)m->graph.n, sizeof *rm->layers);
    if (!rm->layers) {
        dpr_model_fini(m);
        return dpi_error(DP_ERR_NOMEM, "out of memory preparing %s", m->arch);
    }
    for (int i = 0; i < m->graph.n; i++) {
        dp_status s = init_layer(&m->graph.nodes[i], w, &rm->layers[i]);
        if (s) {
            dpr_model_fini(m);
            return s;
        }
    }
    return DP_OK;
}

/* A node writing into a CONCAT has no buffer of its own: out[i] is the CONCAT's. */
static void release_buffers(ref_exec *re, const dpi_graph *g) {
    for (int i = 0; re->out && i < g->n; i++)
        if (g->nodes[i].concat < 0) free(re->out[i]);
    free(re->out);
    free(re->oh);
    free(re->ow);
    free(re->col);
    free(re->dcol);
    free(re->qin);
    re->out = NULL;
    re->oh = re->ow = NULL;
    re->col = NULL;
    re->dcol = NULL;
    re->qin = NULL;
    re->h = re->w = 0;
}

dp_status dpr_exec_init(dp_exec *e) {
    ref_exec *re = calloc(1, sizeof *re);
    if (re) re->layer_ms = calloc((size_t)e->model->graph.n, sizeof *re->layer_ms);
    if (!re || !re->layer_ms) {
        free(re);
        return dpi_error(DP_ERR_NOMEM, "out of memory creating a reference execution context");
    }
    e->impl = re;
    return DP_OK;
}

void dpr_exec_fini(dp_exec *e) {
    ref_exec *re = e->impl;
    if (!re) return;
    release_buffers(re, &e->model->graph);
    free(re->layer_ms);
    free(re);
    e->impl = NULL;
}

/* Samples run one at a time through the whole network, so buffers depend on h, w only. */
dp_status dpr_exec_prepare(dp_exec *e, int n, int h, int w) {
    ref_exec *re = e->impl;
    const dpi_graph *g = &e->model->graph;
    (void)n;
    if (re->h == h && re->w == w) return DP_OK;
    release_buffers(re, g);
    re->out = calloc((size_t)g->n, sizeof *re->out);
    re->oh = calloc((size_t)g->n, sizeof *re->oh);
    re->ow = calloc((size_t)g->n, sizeof *re->ow);
    if (!re->out || !re->oh || !re->ow) goto nomem;
    size_t col = 1, outmax = 1;
    for (int i = 0; i < g->n; i++) {
        const dpi_node *nd = &g->nodes[i];
        dpi_graph_out_hw(g, i, h, w, &re->oh[i], &re->ow[i]);
        size_t count = (size_t)nd->cout * re->oh[i] * re->ow[i];
        if (count > outmax) outmax = count;
        re->out[i] = nd->concat >= 0 ? re->out[nd->concat] : malloc(count * sizeof(float));
        if (!re->out[i]) goto nomem;
        if (nd->op == DPI_OP_CONV && nd->groups == 1) {
            size_t c = (size_t)nd->cin * nd->k * nd->kw * re->oh[i] * re->ow[i];
            if (c > col) col = c;
        }
    }
    re->col = malloc(col * sizeof(float));
    if (!re->col) goto nomem;
    re->col_cap = col;
    if (e->model->precision == DP_PRECISION_INT8) {
        re->dcol = malloc((col + outmax) * sizeof(double));
        re->qin = malloc((size_t)3 * h * w * sizeof(float));
        if (!re->dcol || !re->qin) goto nomem;
    }
    re->h = h;
    re->w = w;
    return DP_OK;
nomem:
    release_buffers(re, g);
    return dpi_error(DP_ERR_NOMEM, "out of memory for %s activations at %dx%d", e->model->arch, h, w);
}

/* col[(c*kh + ky)*kw + kx][oy*ow + ox] = x[c][oy*s - ph + ky][ox*s - pw + kx] (0 outside), for
 * conv nd's kernel kh x kw and padding ph, pw. */
void dpr_im2col(const dpi_node *nd, const float *x, int ih, int iw, int oh, int ow, float *col) {
    int kh = nd->k, kw = nd->kw, stride = nd->stride;
    for (int ci = 0; ci < nd->cin; ci++)
        for (int ky = 0; ky < kh; ky++)
            for (int kx = 0; kx < kw; kx++) {
                float *dst = col + ((size_t)(ci * kh + ky) * kw + kx) * oh * ow;
                for (int oy = 0; oy < oh; oy++) {
                    int iy = oy * stride - nd->pad + ky;
                    for (int ox = 0; ox < ow; ox++) {
                        int ix = ox * stride - nd->pad_w + kx;
                        int inside = iy >= 0 && iy < ih && ix >= 0 && ix < iw;
                        dst[oy * ow + ox] = inside ? x[((size_t)ci * ih + iy) * iw + ix] : 0.0f;
                    }
                }
            }
}

void dpr_depthwise(const float *x, const float *wt, int c, int ih, int iw, int k, int stride, int pad, int oh,
                      int ow, float *y) {
    for (int ci = 0; ci < c; ci++) {
        const float *xc = x + (size_t)ci * ih * iw, *wc = wt + (size_t)ci * k * k;
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                float acc = 0.0f;
                for (int ky = 0; ky < k; ky++) {
                    int iy = oy * stride - pad + ky;
                    if (iy < 0 || iy >= ih) continue;
                    for (int kx = 0; kx < k; kx++) {
                        int ix = ox * stride - pad + kx;
                        if (ix >= 0 && ix < iw) acc += xc[(size_t)iy * iw + ix] * wc[ky * k + kx];
                    }
                }
                y[((size_t)ci * oh + oy) * ow + ox] = acc;
            }
    }
}

static void run_conv(const dpi_node *nd, const ref_layer *l, const float *x, int ih, int iw, const float *res,
                     int oh, int ow, float *col, float *y) {
    size_t plane = (size_t)oh * ow;
    if (nd->groups != 1) {
        dpr_depthwise(x, l->weight, nd->cin, ih, iw, nd->k, nd->stride, nd->pad, oh, ow, y);
    } else {
        int kdim = nd->cin * nd->k * nd->kw;
        const float *b = x; /* a 1x1/1 conv needs no im2col: the input already is [cin, h*w] */
        if (!dpr_is_pointwise(nd)) {
            dpr_im2col(nd, x, ih, iw, oh, ow, col);
            b = col;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nd->cout, (int)plane, kdim, 1.0f, l->weight, kdim, b,
                    (int)plane, 0.0f, y, (int)plane);
    }
    for (int c = 0; c < nd->cout; c++) {
        float *yc = y + c * plane;
        const float *rc = res ? res + c * plane : NULL;
        for (size_t i = 0; i < plane; i++) {
            float v = yc[i];
            if (l->bias) v += l->bias[c];
            if (l->bn_scale) v = (v - l->bn_mean[c]) * l->bn_scale[c] + l->bn_beta[c];
            if (rc) v += rc[i];
            if (nd->act == DPI_ACT_RELU) v = v > 0.0f ? v : 0.0f;
            else if (nd->act == DPI_ACT_RELU6) v = v > 0.0f ? (v < 6.0f ? v : 6.0f) : 0.0f;
            yc[i] = v;
        }
    }
}

void dpr_maxpool(const dpi_node *nd, const float *x, int ih, int iw, int oh, int ow, float *y) {
    for (int c = 0; c < nd->cin; c++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                float m = -FLT_MAX;
                for (int ky = 0; ky < nd->k; ky++) {
                    int iy = oy * nd->stride - nd->pad + ky;
                    if (iy < 0 || iy >= ih) continue;
                    for (int kx = 0; kx < nd->k; kx++) {
                        int ix = ox * nd->stride - nd->pad + kx;
                        if (ix >= 0 && ix < iw && x[((size_t)c * ih + iy) * iw + ix] > m)
                            m = x[((size_t)c * ih + iy) * iw + ix];
                    }
                }
                y[((size_t)c * oh + oy) * ow + ox] = m;
            }
}

void dpr_avgpool(const dpi_node *nd, const float *x, int ih, int iw, int oh, int ow, float *y) {
    for (int c = 0; c < nd->cin; c++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                double sum = 0.0;
                for (int ky = 0; ky < nd->k; ky++) {
                    int iy = oy * nd->stride - nd->pad + ky;
                    for (int kx = 0; kx < nd->k && iy >= 0 && iy < ih; kx++) {
                        int ix = ox * nd->stride - nd->pad + kx;
                        if (ix >= 0 && ix < iw) sum += x[((size_t)c * ih + iy) * iw + ix];
                    }
                }
                y[((size_t)c * oh + oy) * ow + ox] = (float)(sum / (nd->k * nd->k));
            }
}

static void bn_relu(const dpi_node *nd, const ref_layer *l, const float *x, size_t plane, float *y) {
    for (int c = 0; c < nd->cin; c++)
        for (size_t i = 0; i < plane; i++) {
            float v = (x[c * plane + i] - l->bn_mean[c]) * l->bn_scale[c] + l->bn_beta[c];
            y[c * plane + i] = v > 0.0f ? v : 0.0f;
        }
}

/* PyTorch's AdaptiveAvgPool2d: cell i of n averages input rows floor(i*in/n) .. ceil((i+1)*in/n)-1. */
void dpr_adaptive_avg(int c, const float *x, int ih, int iw, int oh, int ow, float *y) {
    for (int ci = 0; ci < c; ci++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                int y0 = oy * ih / oh, y1 = ((oy + 1) * ih + oh - 1) / oh;
                int x0 = ox * iw / ow, x1 = ((ox + 1) * iw + ow - 1) / ow;
                double sum = 0.0;
                for (int iy = y0; iy < y1; iy++)
                    for (int ix = x0; ix < x1; ix++) sum += x[((size_t)ci * ih + iy) * iw + ix];
                y[((size_t)ci * oh + oy) * ow + ox] = (float)(sum / ((double)(y1 - y0) * (x1 - x0)));
            }
}

static dp_status exec_run(dp_exec *e, const float *x, int n, int h, int w, float *logits) {
    ref_exec *re = e->impl;
    const dpi_graph *g = &e->model->graph;
    const ref_model *rm = e->model->impl;
    const dp_model *m = e->model;
    dp_status s = dpr_exec_prepare(e, n, h, w);
    if (s) return s;
    int io_in[3], io_out[3];
    dpi_model_io(m, h, w, io_in, io_out);
    size_t in_row = (size_t)io_in[0] * io_in[1] * io_in[2], out_row = (size_t)io_out[0] * io_out[1] * io_out[2];
    for (int b = 0; b < n; b++) {
        /* A stage's input stands for the output of the node before its cut. */
        if (m->first > 0) memcpy(re->out[m->first - 1], x + (size_t)b * in_row, in_row * sizeof *x);
        if (re->observe) re->observe(re->observe_ctx, -1, x + (size_t)b * in_row, in_row);
        for (int i = m->first; i < m->last; i++) {
            const dpi_node *nd = &g->nodes[i];
            const ref_layer *l = &rm->layers[i];
            int ih = nd->input < 0 ? h : re->oh[nd->input], iw = nd->input < 0 ? w : re->ow[nd->input];
            int oh = re->oh[i], ow = re->ow[i];
            const float *in = nd->input < 0 ? x + (size_t)b * in_row : re->out[nd->input];
            /* The output layer writes the sample's logits row directly. */
            float *y = i == g->n - 1 ? logits + (size_t)b * nd->cout : re->out[i];
            if (nd->concat >= 0) y += (size_t)nd->coff * oh * ow; /* its slot of the concatenation */
            int64_t t0 = e->profiling ? dpi_now_ns() : 0;
            switch (nd->op) {
            case DPI_OP_CONV:
                run_conv(nd, l, in, ih, iw, nd->residual >= 0 ? re->out[nd->residual] : NULL, oh, ow, re->col, y);
                break;
            case DPI_OP_MAXPOOL:
                dpr_maxpool(nd, in, ih, iw, oh, ow, y);
                break;
            case DPI_OP_GAP: /* accumulated in double so that large planes lose nothing */
                for (int c = 0; c < nd->cin; c++) {
                    double sum = 0.0;
                    for (size_t p = 0; p < (size_t)ih * iw; p++) sum += in[(size_t)c * ih * iw + p];
                    y[c] = (float)(sum / ((double)ih * iw));
                }
                break;
            case DPI_OP_ADAPTIVE_AVG:
                dpr_adaptive_avg(nd->cin, in, ih, iw, oh, ow, y);
                break;
            case DPI_OP_AVGPOOL:
                dpr_avgpool(nd, in, ih, iw, oh, ow, y);
                break;
            case DPI_OP_BN_RELU:
                bn_relu(nd, l, in, (size_t)oh * ow, y);
                break;
            case DPI_OP_CONCAT: /* the block's input into the first channels (the oneDNN backend writes it there) */
                memcpy(y, in, (size_t)nd->cin * oh * ow * sizeof *y);
                break;
            case DPI_OP_LINEAR:
                memcpy(y, l->bias, (size_t)nd->cout * sizeof *y);
                cblas_sgemv(CblasRowMajor, CblasNoTrans, nd->cout, nd->cin, 1.0f, l->weight, nd->cin, in, 1, 1.0f, y, 1);
                if (nd->act == DPI_ACT_RELU)
                    for (int k = 0; k < nd->cout; k++) y[k] = y[k] > 0.0f ? y[k] : 0.0f;
                break;
            }
            if (e->profiling) re->layer_ms[i] += (double)(dpi_now_ns() - t0) / 1e6;
            /* a CONCAT node's own output is its input's channels (the writers' come later) */
            size_t count = (size_t)(nd->op == DPI_OP_CONCAT ? nd->cin : nd->cout) * oh * ow;
            if (re->observe) re->observe(re->observe_ctx, i, y, count);
        }
        if (m->last < g->n) memcpy(logits + (size_t)b * out_row, re->out[m->last - 1], out_row * sizeof *logits);
    }
    if (e->profiling) re->calls++, re->n = n;
    return DP_OK;
}

static const char *impl_name(const dpi_node *nd) {
    switch (nd->op) {
    case DPI_OP_CONV: return nd->groups != 1 ? "ref:depthwise" : "ref:im2col+sgemm";
    case DPI_OP_MAXPOOL: return "ref:maxpool";
    case DPI_OP_GAP: return "ref:gap";
    case DPI_OP_ADAPTIVE_AVG: return "ref:adaptive_avg";
    case DPI_OP_AVGPOOL: return "ref:avgpool";
    case DPI_OP_BN_RELU: return "ref:bn_relu";
    case DPI_OP_CONCAT: return "ref:concat";
    default: return "ref:sgemm";
    }
}

dp_status dpr_exec_profile(const dp_exec *e, dp_layer_profile *out, int cap, int *count) {
    const ref_exec *re = e->impl;
    const dpi_graph *g = &e->model->graph;
    for (int i = 0; i < g->n && i < cap; i++) {
        out[i].name = g->nodes[i].name;
        out[i].impl = impl_name(&g->nodes[i]);
        out[i].calls = re->calls;
        out[i].total_ms = re->layer_ms[i];
        out[i].batch = re->n;
    }
    *count = g->n;
    return DP_OK;
}

/* Buffers depend on h, w only: every batch size is prepared with one. */
dp_status dpr_exec_prepare_batches(dp_exec *e, int max, int h, int w) { return dpr_exec_prepare(e, max, h, w); }

void dpr_exec_stats(const dp_exec *e, dp_exec_stats *out) {
    const ref_exec *re = e->impl;
    memset((char *)out + sizeof out->size, 0, sizeof *out - sizeof out->size);
    out->shapes_held = re->h ? 1 : 0;
}

const dpi_backend dpi_backend_reference = {
    .name = "reference",
    .model_init = dpr_model_init,
    .model_fini = dpr_model_fini,
    .exec_init = dpr_exec_init,
    .exec_prepare = dpr_exec_prepare,
    .exec_prepare_batches = dpr_exec_prepare_batches,
    .exec_run = exec_run,
    .exec_profile = dpr_exec_profile,
    .exec_stats = dpr_exec_stats,
    .exec_fini = dpr_exec_fini,
};
