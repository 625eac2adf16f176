/* torchvision's vgg16 and vgg16_bn (configuration "D") and alexnet: plain conv stacks with biases,
 * max-pools, an adaptive average pool to a fixed side and a three-layer classifier whose dropouts
 * are the identity at inference. Module indices count every nn.Sequential entry (ReLU, pools). */
#include <stdio.h>

#include "graph_build.h"

/* The classifier after the features' adaptive pool: `classifier.{i0,i1,i2}` linears, ReLU after
 * the first two (torchvision: [Linear, ReLU, Dropout] x 2 + Linear for VGG; AlexNet leads with a
 * Dropout, so its indices are 1, 4, 6). */
static void classifier(dpi_graph *g, int x, int c, int side, const int idx[3]) {
    char name[DPI_NAME_CAP];
    snprintf(name, sizeof name, "classifier.%d", idx[0]);
    x = dpi_graph_linear(g, name, dpi_graph_adaptive_avg(g, "avgpool", x, c, side), c * side * side, 4096, DPI_ACT_RELU);
    snprintf(name, sizeof name, "classifier.%d", idx[1]);
    x = dpi_graph_linear(g, name, x, 4096, 4096, DPI_ACT_RELU);
    snprintf(name, sizeof name, "classifier.%d", idx[2]);
    dpi_graph_linear(g, name, x, 4096, g->num_classes, DPI_ACT_NONE);
}

static void build_vgg16(dpi_graph *g, int bn) {
    /* Output channels of each 3x3 conv, 0 for a 2x2/2 max-pool. */
    static const int cfg[] = {64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0};
    char conv[DPI_NAME_CAP], norm[DPI_NAME_CAP];
    int x = -1, cin = 3, idx = 0;
    for (size_t i = 0; i < sizeof cfg / sizeof cfg[0]; i++) {
        if (cfg[i] == 0) {
            snprintf(conv, sizeof conv, "features.%d", idx++);
            x = dpi_graph_maxpool(g, conv, x, cin, 2, 2, 0);
            continue;
        }
        snprintf(conv, sizeof conv, "features.%d", idx++);
        snprintf(norm, sizeof norm, "features.%d", bn ? idx++ : 0);
        x = dpi_graph_conv_bias(g, conv, bn ? norm : "", x, cin, cfg[i], 3, 1, 1, DPI_ACT_RELU);
        idx++; /* the ReLU */
        cin = cfg[i];
    }
    classifier(g, x, cin, 7, (const int[3]){0, 3, 6});
}

void dpi_build_vgg16(dpi_graph *g) { build_vgg16(g, 0); }
void dpi_build_vgg16_bn(dpi_graph *g) { build_vgg16(g, 1); }

void dpi_build_alexnet(dpi_graph *g) {
    int x = dpi_graph_conv_bias(g, "features.0", "", -1, 3, 64, 11, 4, 2, DPI_ACT_RELU);
    x = dpi_graph_maxpool(g, "features.2", x, 64, 3, 2, 0);
    x = dpi_graph_conv_bias(g, "features.3", "", x, 64, 192, 5, 1, 2, DPI_ACT_RELU);
    x = dpi_graph_maxpool(g, "features.5", x, 192, 3, 2, 0);
    x = dpi_graph_conv_bias(g, "features.6", "", x, 192, 384, 3, 1, 1, DPI_ACT_RELU);
    x = dpi_graph_conv_bias(g, "features.8", "", x, 384, 256, 3, 1, 1, DPI_ACT_RELU);
    x = dpi_graph_conv_bias(g, "features.10", "", x, 256, 256, 3, 1, 1, DPI_ACT_RELU);
    x = dpi_graph_maxpool(g, "features.12", x, 256, 3, 2, 0);
    classifier(g, x, 256, 6, (const int[3]){1, 4, 6});
}
