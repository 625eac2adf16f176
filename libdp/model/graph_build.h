/* Helpers the architecture files (resnet.c, mobilenet.c, vgg.c, densenet.c,
 * inception.c, null.c) use to append nodes to a
 * dpi_graph. */
#ifndef DP_MODEL_GRAPH_BUILD_H
#define DP_MODEL_GRAPH_BUILD_H

#include "graph.h"

/* Each returns the new node's index. When the graph is full the node is counted but not stored;
 * dpi_graph_build() reports that. dpi_graph_conv: padding k/2, a bias only without BN (the
 * ResNets, MobileNets); dpi_graph_conv_bias: explicit padding and always a bias, also before a BN
 * (torchvision's VGG and AlexNet). */
int dpi_graph_conv(dpi_graph *g, const char *name, const char *bn, int input, int cin, int cout, int k,
                   int stride, int groups, dpi_act act, int residual);
int dpi_graph_conv_bias(dpi_graph *g, const char *name, const char *bn, int input, int cin, int cout, int k,
                        int stride, int pad, dpi_act act);
int dpi_graph_maxpool(dpi_graph *g, const char *name, int input, int c, int k, int stride, int pad);
int dpi_graph_gap(dpi_graph *g, const char *name, int input, int c);
int dpi_graph_adaptive_avg(dpi_graph *g, const char *name, int input, int c, int side);
int dpi_graph_avgpool(dpi_graph *g, const char *name, int input, int c, int k, int stride, int pad);
/* A conv with neither BN nor bias nor activation (DenseNet's, whose BN belongs to their readers). */
int dpi_graph_conv_plain(dpi_graph *g, const char *name, int input, int cin, int cout, int k, int stride);
/* BN module `bn` then ReLU on channels [0, c) of input. */
int dpi_graph_bn_relu(dpi_graph *g, const char *bn, int input, int c);
/* A concatenation buffer of `total` channels starting with input's c channels. */
int dpi_graph_concat(dpi_graph *g, const char *name, int input, int c, int total);
/* A conv kh x kw with explicit padding, BN of epsilon bn_eps and ReLU (Inception's BasicConv2d). */
int dpi_graph_conv_rect(dpi_graph *g, const char *name, const char *bn, int input, int cin, int cout, int kh, int kw,
                        int stride, int pad_h, int pad_w, float bn_eps);
/* CONCAT node i has the output size of a k x k / stride window over its input (Inception's
 * reduction modules), not its input's. */
void dpi_graph_concat_window(dpi_graph *g, int i, int k, int stride);
/* Node i writes its output into channels [coff, coff + cout) of CONCAT node `concat`. */
void dpi_graph_into(dpi_graph *g, int i, int concat, int coff);
/* cin counts the flattened input: C * side * side after an ADAPTIVE_AVG. */
int dpi_graph_linear(dpi_graph *g, const char *name, int input, int cin, int cout, dpi_act act);

/* Architecture builders: fill an empty graph (g->nodes allocated, g->n == 0). */
void dpi_build_resnet18(dpi_graph *g);
void dpi_build_resnet18_cifar(dpi_graph *g);
void dpi_build_mobilenet_v2(dpi_graph *g);
void dpi_build_mobilenetv2_cifar(dpi_graph *g);
void dpi_build_resnet34(dpi_graph *g);
void dpi_build_resnet50(dpi_graph *g);
void dpi_build_vgg16(dpi_graph *g);
void dpi_build_vgg16_bn(dpi_graph *g);
void dpi_build_alexnet(dpi_graph *g);
void dpi_build_densenet121(dpi_graph *g);
void dpi_build_inception_v3(dpi_graph *g);
void dpi_build_null(dpi_graph *g);

/* The arch names, NULL-terminated, static storage. */
const char *const *dpi_graph_arch_names(void);

#endif
