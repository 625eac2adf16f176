/* The graph container: building by arch name, shapes, and the parameter list. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph_build.h"
#include "util/util.h"

/* Generous: the largest arch (densenet121) has 192 nodes. */
#define GRAPH_CAP 320

static int add_node(dpi_graph *g, const dpi_node *node) {
    /* Overflow is sticky (n keeps counting) so the builders need no error checks; the caller
     * compares n with cap once at the end. */
    if (g->n < g->cap) {
        g->nodes[g->n] = *node;
        g->nodes[g->n].concat = -1;
        g->nodes[g->n].kw = node->k;
        g->nodes[g->n].pad_w = node->pad;
        g->nodes[g->n].bn_eps = DPI_BN_EPS;
    }
    return g->n++;
}

int dpi_graph_conv(dpi_graph *g, const char *name, const char *bn, int input, int cin, int cout, int k,
                   int stride, int groups, dpi_act act, int residual) {
    dpi_node n = {.op = DPI_OP_CONV, .input = input, .residual = residual, .cin = cin, .cout = cout,
                  .k = k, .stride = stride, .pad = k / 2, .groups = groups, .has_bias = bn[0] == '\0',
                  .act = act};
    snprintf(n.name, sizeof n.name, "%s", name);
    snprintf(n.bn, sizeof n.bn, "%s", bn);
    return add_node(g, &n);
}

int dpi_graph_conv_bias(dpi_graph *g, const char *name, const char *bn, int input, int cin, int cout, int k,
                        int stride, int pad, dpi_act act) {
    int i = dpi_graph_conv(g, name, bn, input, cin, cout, k, stride, 1, act, -1);
    if (i < g->cap) {
        g->nodes[i].pad = g->nodes[i].pad_w = pad;
        g->nodes[i].has_bias = 1;
    }
    return i;
}

int dpi_graph_maxpool(dpi_graph *g, const char *name, int input, int c, int k, int stride, int pad) {
    dpi_node n = {.op = DPI_OP_MAXPOOL, .input = input, .residual = -1, .cin = c, .cout = c, .k = k,
                  .stride = stride, .pad = pad, .groups = 1};
    snprintf(n.name, sizeof n.name, "%s", name);
    return add_node(g, &n);
}

int dpi_graph_gap(dpi_graph *g, const char *name, int input, int c) {
    dpi_node n = {.op = DPI_OP_GAP, .input = input, .residual = -1, .cin = c, .cout = c, .groups = 1};
    snprintf(n.name, sizeof n.name, "%s", name);
    return add_node(g, &n);
}

int dpi_graph_adaptive_avg(dpi_graph *g, const char *name, int input, int c, int side) {
    dpi_node n = {.op = DPI_OP_ADAPTIVE_AVG, .input = input, .residual = -1, .cin = c, .cout = c, .k = side,
                  .groups = 1};
    snprintf(n.name, sizeof n.name, "%s", name);
    return add_node(g, &n);
}

int dpi_graph_avgpool(dpi_graph *g, const char *name, int input, int c, int k, int stride, int pad) {
    int i = dpi_graph_maxpool(g, name, input, c, k, stride, pad);
    if (i < g->cap) g->nodes[i].op = DPI_OP_AVGPOOL;
    return i;
}

int dpi_graph_conv_plain(dpi_graph *g, const char *name, int input, int cin, int cout, int k, int stride) {
    int i = dpi_graph_conv(g, name, "", input, cin, cout, k, stride, 1, DPI_ACT_NONE, -1);
    if (i < g->cap) g->nodes[i].has_bias = 0;
    return i;
}

int dpi_graph_bn_relu(dpi_graph *g, const char *bn, int input, int c) {
    dpi_node n = {.op = DPI_OP_BN_RELU, .input = input, .residual = -1, .cin = c, .cout = c, .k = 1, .stride = 1,
                  .groups = c, .act = DPI_ACT_RELU};
    snprintf(n.name, sizeof n.name, "%s", bn);
    snprintf(n.bn, sizeof n.bn, "%s", bn);
    return add_node(g, &n);
}

int dpi_graph_concat(dpi_graph *g, const char *name, int input, int c, int total) {
    dpi_node n = {.op = DPI_OP_CONCAT, .input = input, .residual = -1, .cin = c, .cout = total, .k = 1, .stride = 1,
                  .groups = 1};
    snprintf(n.name, sizeof n.name, "%s", name);
    return add_node(g, &n);
}

int dpi_graph_conv_rect(dpi_graph *g, const char *name, const char *bn, int input, int cin, int cout, int kh, int kw,
                        int stride, int pad_h, int pad_w, float bn_eps) {
    int i = dpi_graph_conv(g, name, bn, input, cin, cout, kh, stride, 1, DPI_ACT_RELU, -1);
    if (i < g->cap) {
        g->nodes[i].kw = kw;
        g->nodes[i].pad = pad_h;
        g->nodes[i].pad_w = pad_w;
        g->nodes[i].bn_eps = bn_eps;
    }
    return i;
}

void dpi_graph_concat_window(dpi_graph *g, int i, int k, int stride) {
    if (i >= g->cap) return;
    g->nodes[i].k = g->nodes[i].kw = k;
    g->nodes[i].stride = stride;
}

void dpi_graph_into(dpi_graph *g, int i, int concat, int coff) {
    if (i >= g->cap) return;
    g->nodes[i].concat = concat;
    g->nodes[i].coff = coff;
}

int dpi_graph_out_c(const dpi_graph *g, int i) {
    if (i < 0) return 3;
    const dpi_node *n = &g->nodes[i];
    if (n->op == DPI_OP_CONCAT) return n->cin;
    return n->concat >= 0 ? n->coff + n->cout : n->cout;
}

int dpi_graph_has_concat(const dpi_graph *g) {
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].op == DPI_OP_CONCAT) return 1;
    return 0;
}

int dpi_graph_linear(dpi_graph *g, const char *name, int input, int cin, int cout, dpi_act act) {
    dpi_node n = {.op = DPI_OP_LINEAR, .input = input, .residual = -1, .cin = cin, .cout = cout, .k = 1,
                  .stride = 1, .groups = 1, .has_bias = 1, .act = act};
    snprintf(n.name, sizeof n.name, "%s", name);
    return add_node(g, &n);
}

/* The registry: every arch the library knows (arch_names[a] is built by archs[a]) and its
 * smallest input side: 32 where the arch allows it (the runtime's synthetic sources assume it);
 * alexnet's 11x11/4 stem and three 3x3/2 max-pools leave nothing below 63. densenet121 would take
 * 29, but 32 is where its last dense block is 1x1. inception_v3's stem (three unpadded 3x3/2 steps
 * and 3x3 convs) leaves 1x1 at 75, torchvision's minimum. */
static const char *const arch_names[] = {"resnet18", "mobilenet_v2", "resnet18_cifar", "mobilenetv2_cifar",
                                         "resnet34", "resnet50", "vgg16", "vgg16_bn", "alexnet", "densenet121", "inception_v3", "null", NULL};
static const struct {
    void (*build)(dpi_graph *g);
    int min_hw;
} archs[] = {
    {dpi_build_resnet18, 32}, {dpi_build_mobilenet_v2, 32}, {dpi_build_resnet18_cifar, 32},
    {dpi_build_mobilenetv2_cifar, 32}, {dpi_build_resnet34, 32}, {dpi_build_resnet50, 32},
    {dpi_build_vgg16, 32}, {dpi_build_vgg16_bn, 32}, {dpi_build_alexnet, 63}, {dpi_build_densenet121, 32},
    {dpi_build_inception_v3, 75}, {dpi_build_null, 1},
};
#define NUM_ARCHS (sizeof archs / sizeof archs[0])
_Static_assert(NUM_ARCHS + 1 == sizeof arch_names / sizeof arch_names[0], "one builder per arch name");

const char *const *dpi_graph_arch_names(void) { return arch_names; }

dp_status dpi_graph_build(const char *arch, int num_classes, dpi_graph *g) {
    memset(g, 0, sizeof *g);
    if (!arch) return dpi_error(DP_ERR_INVALID_ARG, "arch is NULL");
    if (num_classes < 1) return dpi_error(DP_ERR_INVALID_ARG, "num_classes %d must be >= 1", num_classes);
    size_t a = 0;
    while (a < NUM_ARCHS && strcmp(arch, arch_names[a]) != 0) a++;
    if (a == NUM_ARCHS) {
        char known[256] = "";
        for (size_t i = 0; i < NUM_ARCHS; i++)
            snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", i ? ", " : "", arch_names[i]);
        return dpi_error(DP_ERR_NOT_FOUND, "unknown arch '%s' (known: %s)", arch, known);
    }
    g->nodes = calloc(GRAPH_CAP, sizeof *g->nodes);
    if (!g->nodes) return dpi_error(DP_ERR_NOMEM, "out of memory building %s", arch);
    g->cap = GRAPH_CAP;
    g->num_classes = num_classes;
    snprintf(g->arch, sizeof g->arch, "%s", arch);
    g->min_hw = archs[a].min_hw;
    archs[a].build(g);
    if (g->n > g->cap) {
        dpi_graph_free(g);
        return dpi_error(DP_ERR_INTERNAL, "graph of %s exceeds %d nodes", arch, GRAPH_CAP);
    }
    return DP_OK;
}

void dpi_graph_free(dpi_graph *g) {
    if (!g) return;
    free(g->nodes);
    g->nodes = NULL;
    g->n = g->cap = 0;
}

void dpi_graph_out_hw(const dpi_graph *g, int i, int h, int w, int *oh, int *ow) {
    if (i < 0) {
        *oh = h;
        *ow = w;
        return;
    }
    const dpi_node *n = &g->nodes[i];
    int ih, iw;
    dpi_graph_out_hw(g, n->input, h, w, &ih, &iw);
    switch (n->op) {
    case DPI_OP_CONV:
    case DPI_OP_MAXPOOL:
    case DPI_OP_AVGPOOL:
    case DPI_OP_CONCAT: /* floor mode, as PyTorch's default */
        *oh = (ih + 2 * n->pad - n->k) / n->stride + 1;
        *ow = (iw + 2 * n->pad_w - n->kw) / n->stride + 1;
        break;
    case DPI_OP_ADAPTIVE_AVG:
        *oh = *ow = n->k;
        break;
    case DPI_OP_BN_RELU:
        *oh = ih;
        *ow = iw;
        break;
    default:
        *oh = *ow = 1;
        break;
    }
}

static void put(dpi_param *p, int *count, const char *module, const char *field, int learned, int ndim,
                int64_t d0, int64_t d1, int64_t d2, int64_t d3) {
    dpi_param *q = &p[(*count)++];
    snprintf(q->name, sizeof q->name, "%s.%s", module, field);
    q->ndim = ndim;
    q->shape[0] = d0;
    q->shape[1] = d1;
    q->shape[2] = d2;
    q->shape[3] = d3;
    q->learned = learned;
}

static void bn_params(const char *bn, int c, dpi_param *p, int *count) {
    put(p, count, bn, "weight", 1, 1, c, 0, 0, 0);
    put(p, count, bn, "bias", 1, 1, c, 0, 0, 0);
    put(p, count, bn, "running_mean", 0, 1, c, 0, 0, 0);
    put(p, count, bn, "running_var", 0, 1, c, 0, 0, 0);
}

static void node_params(const dpi_node *n, dpi_param *p, int *count) {
    if (n->op == DPI_OP_BN_RELU) bn_params(n->bn, n->cout, p, count);
    if (n->op == DPI_OP_LINEAR) {
        put(p, count, n->name, "weight", 1, 2, n->cout, n->cin, 0, 0);
        put(p, count, n->name, "bias", 1, 1, n->cout, 0, 0, 0);
        return;
    }
    if (n->op != DPI_OP_CONV) return;
    put(p, count, n->name, "weight", 1, 4, n->cout, n->cin / n->groups, n->k, n->kw);
    if (n->has_bias) put(p, count, n->name, "bias", 1, 1, n->cout, 0, 0, 0);
    if (n->bn[0]) bn_params(n->bn, n->cout, p, count);
}

/* A projection shortcut runs before the conv it feeds (execution order) but PyTorch registers
 * it after that block's convs; such nodes are listed after their consumer so that the
 * parameter list follows state_dict() order. */
static int is_shortcut(const dpi_graph *g, int i) {
    int used_as_residual = 0;
    for (int j = 0; j < g->n; j++) {
        if (g->nodes[j].input == i) return 0;
        if (g->nodes[j].residual == i) used_as_residual = 1;
    }
    return used_as_residual;
}

dp_status dpi_graph_params(const dpi_graph *g, dpi_param **out, int *count) {
    /* At most 6 tensors per node (conv weight, bias, 4 BN). */
    dpi_param *p = calloc((size_t)g->n * 6 + 1, sizeof *p);
    if (!p) return dpi_error(DP_ERR_NOMEM, "out of memory listing parameters of %s", g->arch);
    int c = 0;
    for (int i = 0; i < g->n; i++) {
        if (is_shortcut(g, i)) continue;
        node_params(&g->nodes[i], p, &c);
        int r = g->nodes[i].residual;
        if (r >= 0 && is_shortcut(g, r)) node_params(&g->nodes[r], p, &c);
    }
    *out = p;
    *count = c;
    return DP_OK;
}
