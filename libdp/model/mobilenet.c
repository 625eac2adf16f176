/* MobileNetV2: torchvision's mobilenet_v2 (width 1.0) and the pytorch-cifar variant. */
#include <stdio.h>

#include "graph_build.h"

/* (expansion t, channels c, repeats n, first stride s), shared by both variants except that
 * pytorch-cifar uses stride 1 in the second row to keep resolution on 32x32 inputs. */
static const int settings[7][4] = {
    {1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2}, {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1},
};

/* torchvision's _make_divisible: round to the nearest multiple of divisor, never below 90%. */
static int make_divisible(double v, int divisor) {
    int nv = (int)(v + divisor / 2.0) / divisor * divisor;
    if (nv < divisor) nv = divisor;
    if (nv < 0.9 * v) nv += divisor;
    return nv;
}

void dpi_build_mobilenet_v2(dpi_graph *g) {
    char a[DPI_NAME_CAP], b[DPI_NAME_CAP];
    const double width = 1.0;
    int cin = make_divisible(32 * width, 8);
    int last = make_divisible(1280 * (width > 1.0 ? width : 1.0), 8);
    int x = dpi_graph_conv(g, "features.0.0", "features.0.1", -1, 3, cin, 3, 2, 1, DPI_ACT_RELU6, -1);
    int feat = 1;
    for (int r = 0; r < 7; r++) {
        int t = settings[r][0], cout = make_divisible(settings[r][1] * width, 8);
        for (int i = 0; i < settings[r][2]; i++, feat++) {
            int stride = i == 0 ? settings[r][3] : 1;
            int hidden = cin * t; /* torchvision: round(inp * expand_ratio), exact for integer t */
            int j = 0, h = x;
            if (t != 1) {
                snprintf(a, sizeof a, "features.%d.conv.0.0", feat);
                snprintf(b, sizeof b, "features.%d.conv.0.1", feat);
                h = dpi_graph_conv(g, a, b, h, cin, hidden, 1, 1, 1, DPI_ACT_RELU6, -1);
                j = 1;
            }
            snprintf(a, sizeof a, "features.%d.conv.%d.0", feat, j);
            snprintf(b, sizeof b, "features.%d.conv.%d.1", feat, j);
            h = dpi_graph_conv(g, a, b, h, hidden, hidden, 3, stride, hidden, DPI_ACT_RELU6, -1);
            snprintf(a, sizeof a, "features.%d.conv.%d", feat, j + 1);
            snprintf(b, sizeof b, "features.%d.conv.%d", feat, j + 2);
            int res = (stride == 1 && cin == cout) ? x : -1;
            x = dpi_graph_conv(g, a, b, h, hidden, cout, 1, 1, 1, DPI_ACT_NONE, res);
            cin = cout;
        }
    }
    snprintf(a, sizeof a, "features.%d.0", feat);
    snprintf(b, sizeof b, "features.%d.1", feat);
    x = dpi_graph_conv(g, a, b, x, cin, last, 1, 1, 1, DPI_ACT_RELU6, -1);
    x = dpi_graph_gap(g, "avgpool", x, last);
    /* classifier.0 is Dropout: the identity at inference. */
    dpi_graph_linear(g, "classifier.1", x, last, g->num_classes, DPI_ACT_NONE);
}

void dpi_build_mobilenetv2_cifar(dpi_graph *g) {
    char a[DPI_NAME_CAP], b[DPI_NAME_CAP];
    int x = dpi_graph_conv(g, "conv1", "bn1", -1, 3, 32, 3, 1, 1, DPI_ACT_RELU, -1);
    int cin = 32, li = 0;
    for (int r = 0; r < 7; r++) {
        int t = settings[r][0], cout = settings[r][1];
        int first_stride = r == 1 ? 1 : settings[r][3];
        for (int i = 0; i < settings[r][2]; i++, li++) {
            int stride = i == 0 ? first_stride : 1;
            int planes = t * cin;
            snprintf(a, sizeof a, "layers.%d.conv1", li);
            snprintf(b, sizeof b, "layers.%d.bn1", li);
            int h = dpi_graph_conv(g, a, b, x, cin, planes, 1, 1, 1, DPI_ACT_RELU, -1);
            snprintf(a, sizeof a, "layers.%d.conv2", li);
            snprintf(b, sizeof b, "layers.%d.bn2", li);
            h = dpi_graph_conv(g, a, b, h, planes, planes, 3, stride, planes, DPI_ACT_RELU, -1);
            /* Residual only at stride 1: identity when the channels match, else 1x1 conv + BN. */
            int res = -1;
            if (stride == 1) {
                res = x;
                if (cin != cout) {
                    snprintf(a, sizeof a, "layers.%d.shortcut.0", li);
                    snprintf(b, sizeof b, "layers.%d.shortcut.1", li);
                    res = dpi_graph_conv(g, a, b, x, cin, cout, 1, 1, 1, DPI_ACT_NONE, -1);
                }
            }
            snprintf(a, sizeof a, "layers.%d.conv3", li);
            snprintf(b, sizeof b, "layers.%d.bn3", li);
            x = dpi_graph_conv(g, a, b, h, planes, cout, 1, 1, 1, DPI_ACT_NONE, res);
            cin = cout;
        }
    }
    x = dpi_graph_conv(g, "conv2", "bn2", x, cin, 1280, 1, 1, 1, DPI_ACT_RELU, -1);
    x = dpi_graph_gap(g, "avgpool", x, 1280);
    dpi_graph_linear(g, "linear", x, 1280, g->num_classes, DPI_ACT_NONE);
}
