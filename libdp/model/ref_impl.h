/* Private state of the reference backend, shared by ref_backend.c (fp32) and ref_int8.c (int8
 * on the same contexts), and the observer calibrate.c measures activations with. */
#ifndef DP_MODEL_REF_IMPL_H
#define DP_MODEL_REF_IMPL_H

#include "model_impl.h"
#include "quant.h"

typedef struct ref_layer {
    float *weight;       /* CONV [cout, cin/groups*k*k]; LINEAR [cout, cin] */
    float *bias;         /* [cout] or NULL */
    float *bn_scale;     /* gamma / sqrt(var + eps), [cout] or NULL */
    float *bn_mean, *bn_beta;
} ref_layer;

/* int8 CONV: quantized BN-folded weights and what turns the int32 sum back into a real value. */
typedef struct ref_qlayer {
    double *wq;          /* [cout, cin*k*k], integers in [-127, 127] (groups == 1) */
    float *wqf;          /* the same for a depthwise conv (its sums of k*k products are exact in float) */
    double *mult;        /* [cout]: input scale * weight scale */
    double *shift;       /* [cout]: folded BN shift or bias */
} ref_qlayer;

typedef struct ref_model {
    ref_layer *layers;   /* one per graph node */
    ref_qlayer *q;       /* int8 only: one per graph node */
} ref_model;

/* Called with each node's output (node -1: the input) of each sample, [c, h, w] floats. */
typedef void (*dpr_observe_fn)(void *ctx, int node, const float *y, size_t count);

typedef struct ref_exec {
    int h, w;            /* prepared input size (0: none) */
    float **out;         /* per node: [cout, oh, ow] of the sample being computed */
    int *oh, *ow;
    float *col;          /* im2col scratch for one sample */
    size_t col_cap;
    double *dcol;        /* int8: col_cap + the largest conv output, as exact integer doubles */
    float *qin;          /* int8: the quantized input sample */
    double *layer_ms;
    uint64_t calls;
    int n;               /* samples of the latest profiled run */
    dpr_observe_fn observe;
    void *observe_ctx;
} ref_exec;

extern const dpi_backend dpi_backend_reference_int8;

dp_status dpr_model_init(dp_model *m, const dpi_weights *w);
void dpr_model_fini(dp_model *m);
dp_status dpr_exec_init(dp_exec *e);
void dpr_exec_fini(dp_exec *e);
dp_status dpr_exec_prepare(dp_exec *e, int n, int h, int w);
dp_status dpr_exec_prepare_batches(dp_exec *e, int max, int h, int w);
dp_status dpr_exec_profile(const dp_exec *e, dp_layer_profile *out, int cap, int *count);
void dpr_exec_stats(const dp_exec *e, dp_exec_stats *out);
void dpr_im2col(const dpi_node *nd, const float *x, int ih, int iw, int oh, int ow, float *col);
/* A 1x1/1 conv without padding reads its [cin, h*w] input as the im2col matrix. */
static inline int dpr_is_pointwise(const dpi_node *nd) {
    return nd->k == 1 && nd->kw == 1 && nd->stride == 1 && nd->pad == 0 && nd->pad_w == 0;
}
void dpr_depthwise(const float *x, const float *wt, int c, int ih, int iw, int k, int stride, int pad, int oh,
                   int ow, float *y);
void dpr_maxpool(const dpi_node *nd, const float *x, int ih, int iw, int oh, int ow, float *y);
/* PyTorch's AvgPool2d with count_include_pad: every window divides by k * k. */
void dpr_avgpool(const dpi_node *nd, const float *x, int ih, int iw, int oh, int ow, float *y);
/* PyTorch's AdaptiveAvgPool2d of c planes from ih x iw to oh x ow. */
void dpr_adaptive_avg(int c, const float *x, int ih, int iw, int oh, int ow, float *y);

#endif
