/* torchvision's inception_v3 (aux_logits ignored: the auxiliary head only runs in training, its
 * tensors in a state_dict are not used; transform_input False, torchvision's default for a model
 * built without pretrained weights). Every conv is a BasicConv2d (`X.conv` without bias, `X.bn`
 * with epsilon 0.001, ReLU). A Mixed module is a CONCAT node whose branches write their outputs
 * into its slots, in torchvision's torch.cat order; the next module reads the whole buffer. */
#include <stdio.h>

#include "graph_build.h"

#define BN_EPS 1e-3f

typedef struct mixed {
    dpi_graph *g;
    const char *name;
    int in, cin;     /* the module's input and its channels */
    int cat, off;    /* its CONCAT node, the next free channel */
    int last;        /* the latest writer: what the next module reads */
} mixed;

static int basic(dpi_graph *g, const char *module, int input, int cin, int cout, int kh, int kw, int stride, int ph,
                 int pw) {
    char a[DPI_NAME_CAP + 8], b[DPI_NAME_CAP + 8]; /* + 8: room for the suffix of any module name */
    snprintf(a, sizeof a, "%s.conv", module);
    snprintf(b, sizeof b, "%s.bn", module);
    return dpi_graph_conv_rect(g, a, b, input, cin, cout, kh, kw, stride, ph, pw, BN_EPS);
}

/* A BasicConv2d `branch` of the module, reading `input` (the module's input when -2). */
static int conv(mixed *m, const char *branch, int input, int cin, int cout, int kh, int kw, int stride) {
    char name[DPI_NAME_CAP];
    snprintf(name, sizeof name, "%s.%s", m->name, branch);
    if (input == -2) input = m->in, cin = m->cin;
    return basic(m->g, name, input, cin, cout, kh, kw, stride, kh / 2, kw / 2);
}

/* Node i (c channels) is the module's next slot. */
static void emit(mixed *m, int i, int c) {
    dpi_graph_into(m->g, i, m->cat, m->off);
    m->off += c;
    m->last = i;
}

static void begin(mixed *m, dpi_graph *g, const char *name, int in, int cin, int total, int reduce) {
    *m = (mixed){.g = g, .name = name, .in = in, .cin = cin};
    m->cat = dpi_graph_concat(g, name, in, 0, total);
    if (reduce) dpi_graph_concat_window(g, m->cat, 3, 2);
}

/* The pool branch: 3x3/1 pad 1 average pool (counting the padding, as F.avg_pool2d), 1x1 conv. */
static void pool_branch(mixed *m, int cout) {
    char name[DPI_NAME_CAP];
    snprintf(name, sizeof name, "%s.avg_pool", m->name);
    int p = dpi_graph_avgpool(m->g, name, m->in, m->cin, 3, 1, 1);
    emit(m, conv(m, "branch_pool", p, m->cin, cout, 1, 1, 1), cout);
}

/* The reduction modules' pool branch: 3x3/2 max-pool of the input, into its slot as it is. */
static void max_branch(mixed *m) {
    char name[DPI_NAME_CAP];
    snprintf(name, sizeof name, "%s.max_pool", m->name);
    emit(m, dpi_graph_maxpool(m->g, name, m->in, m->cin, 3, 2, 0), m->cin);
}

static int inception_a(dpi_graph *g, const char *name, int in, int cin, int pool_features) {
    mixed m;
    begin(&m, g, name, in, cin, 224 + pool_features, 0);
    emit(&m, conv(&m, "branch1x1", -2, 0, 64, 1, 1, 1), 64);
    int b = conv(&m, "branch5x5_1", -2, 0, 48, 1, 1, 1);
    emit(&m, conv(&m, "branch5x5_2", b, 48, 64, 5, 5, 1), 64);
    b = conv(&m, "branch3x3dbl_1", -2, 0, 64, 1, 1, 1);
    b = conv(&m, "branch3x3dbl_2", b, 64, 96, 3, 3, 1);
    emit(&m, conv(&m, "branch3x3dbl_3", b, 96, 96, 3, 3, 1), 96);
    pool_branch(&m, pool_features);
    return m.last;
}

static int inception_b(dpi_graph *g, const char *name, int in, int cin) {
    mixed m;
    begin(&m, g, name, in, cin, 480 + cin, 1);
    emit(&m, basic(g, "Mixed_6a.branch3x3", in, cin, 384, 3, 3, 2, 0, 0), 384);
    int b = conv(&m, "branch3x3dbl_1", -2, 0, 64, 1, 1, 1);
    b = conv(&m, "branch3x3dbl_2", b, 64, 96, 3, 3, 1);
    emit(&m, basic(g, "Mixed_6a.branch3x3dbl_3", b, 96, 96, 3, 3, 2, 0, 0), 96);
    max_branch(&m);
    return m.last;
}

static int inception_c(dpi_graph *g, const char *name, int in, int c7) {
    mixed m;
    begin(&m, g, name, in, 768, 768, 0);
    emit(&m, conv(&m, "branch1x1", -2, 0, 192, 1, 1, 1), 192);
    int b = conv(&m, "branch7x7_1", -2, 0, c7, 1, 1, 1);
    b = conv(&m, "branch7x7_2", b, c7, c7, 1, 7, 1);
    emit(&m, conv(&m, "branch7x7_3", b, c7, 192, 7, 1, 1), 192);
    b = conv(&m, "branch7x7dbl_1", -2, 0, c7, 1, 1, 1);
    b = conv(&m, "branch7x7dbl_2", b, c7, c7, 7, 1, 1);
    b = conv(&m, "branch7x7dbl_3", b, c7, c7, 1, 7, 1);
    b = conv(&m, "branch7x7dbl_4", b, c7, c7, 7, 1, 1);
    emit(&m, conv(&m, "branch7x7dbl_5", b, c7, 192, 1, 7, 1), 192);
    pool_branch(&m, 192);
    return m.last;
}

static int inception_d(dpi_graph *g, int in) {
    mixed m;
    begin(&m, g, "Mixed_7a", in, 768, 1280, 1);
    int b = conv(&m, "branch3x3_1", -2, 0, 192, 1, 1, 1);
    emit(&m, basic(g, "Mixed_7a.branch3x3_2", b, 192, 320, 3, 3, 2, 0, 0), 320);
    b = conv(&m, "branch7x7x3_1", -2, 0, 192, 1, 1, 1);
    b = conv(&m, "branch7x7x3_2", b, 192, 192, 1, 7, 1);
    b = conv(&m, "branch7x7x3_3", b, 192, 192, 7, 1, 1);
    emit(&m, basic(g, "Mixed_7a.branch7x7x3_4", b, 192, 192, 3, 3, 2, 0, 0), 192);
    max_branch(&m);
    return m.last;
}

static int inception_e(dpi_graph *g, const char *name, int in, int cin) {
    mixed m;
    begin(&m, g, name, in, cin, 2048, 0);
    emit(&m, conv(&m, "branch1x1", -2, 0, 320, 1, 1, 1), 320);
    int b = conv(&m, "branch3x3_1", -2, 0, 384, 1, 1, 1);
    emit(&m, conv(&m, "branch3x3_2a", b, 384, 384, 1, 3, 1), 384);
    emit(&m, conv(&m, "branch3x3_2b", b, 384, 384, 3, 1, 1), 384);
    b = conv(&m, "branch3x3dbl_1", -2, 0, 448, 1, 1, 1);
    b = conv(&m, "branch3x3dbl_2", b, 448, 384, 3, 3, 1);
    emit(&m, conv(&m, "branch3x3dbl_3a", b, 384, 384, 1, 3, 1), 384);
    emit(&m, conv(&m, "branch3x3dbl_3b", b, 384, 384, 3, 1, 1), 384);
    pool_branch(&m, 192);
    return m.last;
}

void dpi_build_inception_v3(dpi_graph *g) {
    int x = basic(g, "Conv2d_1a_3x3", -1, 3, 32, 3, 3, 2, 0, 0);
    x = basic(g, "Conv2d_2a_3x3", x, 32, 32, 3, 3, 1, 0, 0);
    x = basic(g, "Conv2d_2b_3x3", x, 32, 64, 3, 3, 1, 1, 1);
    x = dpi_graph_maxpool(g, "maxpool1", x, 64, 3, 2, 0);
    x = basic(g, "Conv2d_3b_1x1", x, 64, 80, 1, 1, 1, 0, 0);
    x = basic(g, "Conv2d_4a_3x3", x, 80, 192, 3, 3, 1, 0, 0);
    x = dpi_graph_maxpool(g, "maxpool2", x, 192, 3, 2, 0);
    x = inception_a(g, "Mixed_5b", x, 192, 32);
    x = inception_a(g, "Mixed_5c", x, 256, 64);
    x = inception_a(g, "Mixed_5d", x, 288, 64);
    x = inception_b(g, "Mixed_6a", x, 288);
    x = inception_c(g, "Mixed_6b", x, 128);
    x = inception_c(g, "Mixed_6c", x, 160);
    x = inception_c(g, "Mixed_6d", x, 160);
    x = inception_c(g, "Mixed_6e", x, 192);
    x = inception_d(g, x);
    x = inception_e(g, "Mixed_7b", x, 1280);
    x = inception_e(g, "Mixed_7c", x, 2048);
    x = dpi_graph_gap(g, "avgpool", x, 2048);
    /* dropout: the identity at inference */
    dpi_graph_linear(g, "fc", x, 2048, g->num_classes, DPI_ACT_NONE);
}
