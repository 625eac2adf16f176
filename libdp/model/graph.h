/*
 * The network as data: a list of nodes in execution order, built from an arch name by
 * dpi_graph_build(). Both backends walk the same graph; the parameter names are PyTorch's
 * state_dict() keys, so loading is a lookup by name.
 *
 * Semantics of a CONV node:   y = act( BN(conv(x)) + residual )
 *   - BN is absent when bn[0] == '\0' (the conv then has a bias only if has_bias);
 *   - residual is the output of node `residual` (-1: none), added after BN, before act.
 * MAXPOOL: k x k, stride, pad (PyTorch semantics, padding never selected).
 * GAP: global average pool to [N, C, 1, 1].  ADAPTIVE_AVG: PyTorch's AdaptiveAvgPool2d to k x k.
 * LINEAR: y = act(x W^T + b) on the input flattened in C, H, W order (cin = C * H * W of its
 * input: a pool, 4-D, or another LINEAR, 2-D).
 * AVGPOOL: k x k, stride, pad, padding counted in the average (PyTorch's count_include_pad).
 * BN_RELU: y = ReLU(BN(x)) per channel, BN `bn`, on channels [0, cin) of its input (DenseNet's
 * pre-activation layers, which read a growing concatenation); its k, stride and groups are those
 * of a depthwise 1x1 conv (1, 1, cin), which is how int8 computes it.
 * CONCAT: a buffer of cout channels whose channels [0, cin) are its input; nodes with `concat`
 * set write their output into channels [coff, coff + cout) of it. The output of such a writer
 * (what its readers see) is the buffer's channels [0, coff + cout): the concatenation so far.
 * So readers name the latest writer, and a reader reads channels [0, cin) of its input.
 * A graph with no nodes (arch "null") computes nothing: its logits are zeros.
 */
#ifndef DP_MODEL_GRAPH_H
#define DP_MODEL_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "dataparallel/core.h"

#define DPI_NAME_CAP 64
#define DPI_BN_EPS 1e-5f /* PyTorch's BatchNorm2d default */

typedef enum dpi_op {
    DPI_OP_CONV, DPI_OP_MAXPOOL, DPI_OP_GAP, DPI_OP_ADAPTIVE_AVG, DPI_OP_LINEAR, DPI_OP_AVGPOOL, DPI_OP_BN_RELU,
    DPI_OP_CONCAT
} dpi_op;
typedef enum dpi_act { DPI_ACT_NONE, DPI_ACT_RELU, DPI_ACT_RELU6 } dpi_act;

typedef struct dpi_node {
    dpi_op op;
    int input;                 /* producing node, -1 = network input */
    int residual;              /* CONV: node whose output is added, -1 = none */
    int cin, cout;             /* CONV/LINEAR channels; MAXPOOL/GAP: cin == cout */
    int k, stride, pad;        /* CONV/pools: kernel height and its padding; ADAPTIVE_AVG: output side; LINEAR: 1 */
    int kw, pad_w;             /* CONV/pools: kernel width and its padding (= k, pad but in Inception's 1xn, nx1);
                                  CONCAT: a kernel k x k, stride, pad whose output size it has (1, 1, 0: its input's) */
    float bn_eps;              /* BN epsilon: 1e-5 (PyTorch's default), 1e-3 in Inception */
    int groups;                /* CONV: 1, or cin for depthwise */
    int has_bias;              /* CONV without BN / LINEAR */
    dpi_act act;
    int concat, coff;          /* the CONCAT node this node writes into and its channel offset; -1: none */
    char name[DPI_NAME_CAP];   /* module name: "layer1.0.conv1", "features.0.0", "fc" */
    char bn[DPI_NAME_CAP];     /* BN module name ("layer1.0.bn1"), "" if none */
} dpi_node;

typedef struct dpi_graph {
    char arch[32];
    int num_classes;
    int min_hw;                /* smallest input H and W the arch takes */
    int n;                     /* nodes */
    int cap;
    dpi_node *nodes;           /* the last node is the output (LINEAR), unless n == 0 */
} dpi_graph;

/* Build the graph of arch (one of dpi_graph_arch_names()). DP_ERR_NOT_FOUND for an unknown arch. */
dp_status dpi_graph_build(const char *arch, int num_classes, dpi_graph *g);
void dpi_graph_free(dpi_graph *g);

/* Output spatial size of node i for an input of h x w (sets *oh, *ow). */
void dpi_graph_out_hw(const dpi_graph *g, int i, int h, int w, int *oh, int *ow);

/* Channels of node i's output as its readers see it (3 for the input, i < 0). */
int dpi_graph_out_c(const dpi_graph *g, int i);
/* 1 when g has a CONCAT node. */
int dpi_graph_has_concat(const dpi_graph *g);

/* One parameter tensor the graph needs, in state_dict order. */
typedef struct dpi_param {
    char name[DPI_NAME_CAP + 16];  /* "layer1.0.conv1.weight", "bn1.running_var" */
    int ndim;
    int64_t shape[4];
    int learned;                    /* counted by dp_model_param_count (not BN running stats) */
} dpi_param;

/* All parameters of g (*out malloc'd, *count entries). */
dp_status dpi_graph_params(const dpi_graph *g, dpi_param **out, int *count);

#endif
