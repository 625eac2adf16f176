/* ResNet-18: torchvision's resnet18 and the pytorch-cifar variant (3x3/1 stem, no max-pool). */
#include <stdio.h>

#include "graph_build.h"

static void build(dpi_graph *g, int cifar) {
    char a[DPI_NAME_CAP], b[DPI_NAME_CAP], c[DPI_NAME_CAP], d[DPI_NAME_CAP];
    int x = dpi_graph_conv(g, "conv1", "bn1", -1, 3, 64, cifar ? 3 : 7, cifar ? 1 : 2, 1, DPI_ACT_RELU, -1);
    if (!cifar) x = dpi_graph_maxpool(g, "maxpool", x, 64, 3, 2, 1);
    /* torchvision names the projection shortcut "downsample", pytorch-cifar "shortcut". */
    const char *sc_name = cifar ? "shortcut" : "downsample";
    int cin = 64;
    for (int stage = 0; stage < 4; stage++) {
        int planes = 64 << stage;
        for (int blk = 0; blk < 2; blk++) {
            int stride = (stage > 0 && blk == 0) ? 2 : 1;
            snprintf(a, sizeof a, "layer%d.%d.conv1", stage + 1, blk);
            snprintf(b, sizeof b, "layer%d.%d.bn1", stage + 1, blk);
            int h = dpi_graph_conv(g, a, b, x, cin, planes, 3, stride, 1, DPI_ACT_RELU, -1);
            int sc = x;
            if (stride != 1 || cin != planes) {
                snprintf(c, sizeof c, "layer%d.%d.%s.0", stage + 1, blk, sc_name);
                snprintf(d, sizeof d, "layer%d.%d.%s.1", stage + 1, blk, sc_name);
                sc = dpi_graph_conv(g, c, d, x, cin, planes, 1, stride, 1, DPI_ACT_NONE, -1);
            }
            snprintf(a, sizeof a, "layer%d.%d.conv2", stage + 1, blk);
            snprintf(b, sizeof b, "layer%d.%d.bn2", stage + 1, blk);
            x = dpi_graph_conv(g, a, b, h, planes, planes, 3, 1, 1, DPI_ACT_RELU, sc);
            cin = planes;
        }
    }
    x = dpi_graph_gap(g, "avgpool", x, cin);
    dpi_graph_linear(g, cifar ? "linear" : "fc", x, cin, g->num_classes);
}

void dpi_build_resnet18(dpi_graph *g) { build(g, 0); }
void dpi_build_resnet18_cifar(dpi_graph *g) { build(g, 1); }
