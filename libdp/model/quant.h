/*
 * int8 quantization shared by both backends (docs/models.md, "int8", is the definition):
 *  - a dp_calibration holds the measured range r of the network input and of every node's output;
 *  - the plan turns it into each tensor's type and scale: s8 (scale r/127) or u8 (r/255, for
 *    non-negative tensors: the outputs of ReLU/ReLU6 and pools of them). Tensors that must share
 *    one type and scale form a group (a pool and its input; a concatenation, its input and its
 *    writers) whose range is the largest of its convs' and BN_RELUs'; a conv adding a residual
 *    writes in the residual's type (oneDNN accumulates the sum post-op into the residual's buffer
 *    in place); from the global average pool on everything is f32;
 *  - conv weights are the BN-folded weights quantized per output channel, symmetric, to s8; a
 *    BN_RELU is a depthwise 1x1 conv whose weights are its BN factors (it requantizes too).
 * calibrate.c measures ranges, quant.c holds the plan, the weights and the file format.
 */
#ifndef DP_MODEL_QUANT_H
#define DP_MODEL_QUANT_H

#include <stdint.h>

#include "dataparallel/model.h"
#include "graph.h"
#include "../io/weights.h"

struct dp_calibration {
    char arch[32];
    int num_classes;
    uint64_t weights_hash;     /* dpi_weights_hash() of the weights measured */
    dp_calib_method method;
    double percentile;
    int64_t samples;
    float input_range;
    int n;                     /* nodes */
    float *range;              /* per node, >= 0 */
    char (*names)[DPI_NAME_CAP];
    char source[256];          /* the file it came from, for messages ("calibration" if measured) */
};

typedef enum dpi_qtype { DPI_Q_F32, DPI_Q_S8, DPI_Q_U8 } dpi_qtype;

typedef struct dpi_qplan {
    dpi_qtype in_type;         /* network input: s8 */
    float in_scale;
    dpi_qtype *type;           /* per node output */
    float *scale;              /* per node output (1 for f32) */
} dpi_qplan;

/* A calibration with room for n nodes, everything else zero. NULL when out of memory. */
dp_calibration *dpi_calibration_new(int n);

/* Check cal fits graph g and weights_hash, then plan every tensor (*plan freed with
 * dpi_qplan_free). DP_ERR_INVALID_ARG names cal->source and what differs; DP_ERR_UNSUPPORTED for
 * a graph the scheme cannot quantize (a conv adding a u8 residual without an activation). */
dp_status dpi_qplan_make(const dpi_graph *g, const dp_calibration *cal, uint64_t weights_hash, dpi_qplan *plan);
void dpi_qplan_free(dpi_qplan *plan);

/* Quantize cout rows of per_out weights: scale[o] = max|w[o]| / 127 (1 for an all-zero row),
 * q = round-half-even(w / scale) in [-127, 127]. */
void dpi_quant_weights(const float *w, int cout, size_t per_out, int8_t *q, float *scale);

/* round-half-even(v / scale) saturated to t's range (what oneDNN's conversion does). */
float dpi_quantize(double v, float scale, dpi_qtype t);

/* A fingerprint of the parameters g uses (names, shapes and values, in graph order). */
dp_status dpi_weights_hash(const dpi_graph *g, const dpi_weights *w, uint64_t *out);

#endif
