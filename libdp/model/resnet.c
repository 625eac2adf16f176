/* ResNets: torchvision's resnet18, resnet34 (BasicBlock), resnet50 (Bottleneck, stride on the 3x3
 * as torchvision's "ResNet v1.5") and the pytorch-cifar resnet18 (3x3/1 stem, no max-pool). */
#include <stdio.h>

#include "graph_build.h"

typedef struct resnet_cfg {
    int blocks[4];
    int bottleneck;     /* Bottleneck (1x1, 3x3, 1x1 x4) instead of BasicBlock (3x3, 3x3) */
    int cifar;
} resnet_cfg;

/* One conv + BN of block `blk` of stage `stage`, named as torchvision's `layerS.B.convI` / `bnI`. */
static int block_conv(dpi_graph *g, int stage, int blk, int i, int input, int cin, int cout, int k, int stride,
                      dpi_act act, int residual) {
    char a[DPI_NAME_CAP], b[DPI_NAME_CAP];
    snprintf(a, sizeof a, "layer%d.%d.conv%d", stage + 1, blk, i);
    snprintf(b, sizeof b, "layer%d.%d.bn%d", stage + 1, blk, i);
    return dpi_graph_conv(g, a, b, input, cin, cout, k, stride, 1, act, residual);
}

static void build(dpi_graph *g, const resnet_cfg *cfg) {
    char c[DPI_NAME_CAP], d[DPI_NAME_CAP];
    int x = dpi_graph_conv(g, "conv1", "bn1", -1, 3, 64, cfg->cifar ? 3 : 7, cfg->cifar ? 1 : 2, 1, DPI_ACT_RELU, -1);
    if (!cfg->cifar) x = dpi_graph_maxpool(g, "maxpool", x, 64, 3, 2, 1);
    /* torchvision names the projection shortcut "downsample", pytorch-cifar "shortcut". */
    const char *sc_name = cfg->cifar ? "shortcut" : "downsample";
    int cin = 64, expansion = cfg->bottleneck ? 4 : 1;
    for (int stage = 0; stage < 4; stage++) {
        int planes = 64 << stage, cout = planes * expansion;
        for (int blk = 0; blk < cfg->blocks[stage]; blk++) {
            int stride = (stage > 0 && blk == 0) ? 2 : 1;
            int h = block_conv(g, stage, blk, 1, x, cin, planes, cfg->bottleneck ? 1 : 3, cfg->bottleneck ? 1 : stride,
                               DPI_ACT_RELU, -1);
            if (cfg->bottleneck) h = block_conv(g, stage, blk, 2, h, planes, planes, 3, stride, DPI_ACT_RELU, -1);
            int sc = x;
            if (stride != 1 || cin != cout) {
                snprintf(c, sizeof c, "layer%d.%d.%s.0", stage + 1, blk, sc_name);
                snprintf(d, sizeof d, "layer%d.%d.%s.1", stage + 1, blk, sc_name);
                sc = dpi_graph_conv(g, c, d, x, cin, cout, 1, stride, 1, DPI_ACT_NONE, -1);
            }
            x = block_conv(g, stage, blk, cfg->bottleneck ? 3 : 2, h, planes, cout, cfg->bottleneck ? 1 : 3, 1,
                           DPI_ACT_RELU, sc);
            cin = cout;
        }
    }
    x = dpi_graph_gap(g, "avgpool", x, cin);
    dpi_graph_linear(g, cfg->cifar ? "linear" : "fc", x, cin, g->num_classes, DPI_ACT_NONE);
}

void dpi_build_resnet18(dpi_graph *g) { build(g, &(resnet_cfg){{2, 2, 2, 2}, 0, 0}); }
void dpi_build_resnet18_cifar(dpi_graph *g) { build(g, &(resnet_cfg){{2, 2, 2, 2}, 0, 1}); }
void dpi_build_resnet34(dpi_graph *g) { build(g, &(resnet_cfg){{3, 4, 6, 3}, 0, 0}); }
void dpi_build_resnet50(dpi_graph *g) { build(g, &(resnet_cfg){{3, 4, 6, 3}, 1, 0}); }
