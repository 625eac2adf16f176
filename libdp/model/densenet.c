/* torchvision's densenet121: growth rate 32, blocks of 6, 12, 24, 16 layers, bottleneck width
 * 4 x 32. Each dense layer is BN-ReLU (on every channel so far), 1x1 conv, BN-ReLU (folded into
 * that conv), 3x3 conv writing its 32 channels into its slot of the block's CONCAT buffer; a
 * transition is BN-ReLU, 1x1 conv halving the channels, 2x2/2 average pool. torchvision's forward
 * ends with norm5, a functional ReLU, a global average pool and `classifier`. */
#include <stdio.h>

#include "graph_build.h"

void dpi_build_densenet121(dpi_graph *g) {
    static const int layers[4] = {6, 12, 24, 16};
    const int growth = 32, bottleneck = 4 * growth;
    char a[DPI_NAME_CAP], b[DPI_NAME_CAP];
    int x = dpi_graph_conv(g, "features.conv0", "features.norm0", -1, 3, 64, 7, 2, 1, DPI_ACT_RELU, -1);
    x = dpi_graph_maxpool(g, "features.pool0", x, 64, 3, 2, 1);
    int c = 64;
    for (int blk = 0; blk < 4; blk++) {
        snprintf(a, sizeof a, "features.denseblock%d", blk + 1);
        int cat = dpi_graph_concat(g, a, x, c, c + layers[blk] * growth);
        x = cat;
        for (int l = 1; l <= layers[blk]; l++, c += growth) {
            snprintf(a, sizeof a, "features.denseblock%d.denselayer%d.norm1", blk + 1, l);
            int h = dpi_graph_bn_relu(g, a, x, c);
            snprintf(a, sizeof a, "features.denseblock%d.denselayer%d.conv1", blk + 1, l);
            snprintf(b, sizeof b, "features.denseblock%d.denselayer%d.norm2", blk + 1, l);
            h = dpi_graph_conv(g, a, b, h, c, bottleneck, 1, 1, 1, DPI_ACT_RELU, -1);
            snprintf(a, sizeof a, "features.denseblock%d.denselayer%d.conv2", blk + 1, l);
            x = dpi_graph_conv_plain(g, a, h, bottleneck, growth, 3, 1);
            dpi_graph_into(g, x, cat, c);
        }
        if (blk == 3) break;
        snprintf(a, sizeof a, "features.transition%d.norm", blk + 1);
        x = dpi_graph_bn_relu(g, a, x, c);
        snprintf(a, sizeof a, "features.transition%d.conv", blk + 1);
        x = dpi_graph_conv_plain(g, a, x, c, c / 2, 1, 1);
        snprintf(a, sizeof a, "features.transition%d.pool", blk + 1);
        c /= 2;
        x = dpi_graph_avgpool(g, a, x, c, 2, 2, 0);
    }
    x = dpi_graph_bn_relu(g, "features.norm5", x, c);
    x = dpi_graph_gap(g, "avgpool", x, c);
    dpi_graph_linear(g, "classifier", x, c, g->num_classes, DPI_ACT_NONE);
}
