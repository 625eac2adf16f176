/* The graphs: parameter counts as PyTorch reports them, names, shapes, output sizes.
 * `test_graph --dump ARCH K` prints "name shape..." per parameter for the parity test, which
 * compares the list with PyTorch's state_dict(). */
#include <stdlib.h>

#include "model/graph.h"
#include "test.h"

static size_t learned_count(const dpi_graph *g) {
    dpi_param *p;
    int n;
    size_t total = 0;
    if (dpi_graph_params(g, &p, &n) != DP_OK) return 0;
    for (int i = 0; i < n; i++) {
        size_t numel = 1;
        for (int d = 0; d < p[i].ndim; d++) numel *= (size_t)p[i].shape[d];
        if (p[i].learned) total += numel;
    }
    free(p);
    return total;
}

static const dpi_param *find(const dpi_param *p, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (strcmp(p[i].name, name) == 0) return &p[i];
    return NULL;
}

static int dump(const char *arch, int k) {
    dpi_graph g;
    dpi_param *p;
    int n;
    if (dpi_graph_build(arch, k, &g) != DP_OK || dpi_graph_params(&g, &p, &n) != DP_OK) {
        fprintf(stderr, "%s\n", dp_last_error());
        return 1;
    }
    for (int i = 0; i < n; i++) {
        printf("%s", p[i].name);
        for (int d = 0; d < p[i].ndim; d++) printf(" %lld", (long long)p[i].shape[d]);
        printf("\n");
    }
    free(p);
    dpi_graph_free(&g);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "--dump") == 0) return dump(argv[2], atoi(argv[3]));

    /* sum(p.numel() for p in model.parameters()) from PyTorch (torchvision 0.14, pytorch-cifar). */
    static const struct { const char *arch; int k; size_t params; } counts[] = {
        {"resnet18", 1000, 11689512}, {"mobilenet_v2", 1000, 3504872},
        {"resnet18_cifar", 10, 11173962}, {"mobilenetv2_cifar", 10, 2296922},
        {"resnet34", 1000, 21797672}, {"resnet50", 1000, 25557032}, {"vgg16", 1000, 138357544},
        {"vgg16_bn", 1000, 138365992}, {"alexnet", 1000, 61100840}, {"resnet50", 10, 23528522},
    };
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        dpi_graph g;
        CHECK_OK(dpi_graph_build(counts[i].arch, counts[i].k, &g));
        CHECK_MSG(learned_count(&g) == counts[i].params, "%s: %zu params, expected %zu", counts[i].arch,
                  learned_count(&g), counts[i].params);
        CHECK(g.nodes[g.n - 1].op == DPI_OP_LINEAR && g.nodes[g.n - 1].cout == counts[i].k);
        dpi_graph_free(&g);
    }

    dpi_graph g;
    dpi_param *p;
    int n;
    CHECK_OK(dpi_graph_build("resnet18", 7, &g));
    CHECK_OK(dpi_graph_params(&g, &p, &n));
    const dpi_param *q = find(p, n, "layer2.0.downsample.0.weight");
    CHECK(q && q->ndim == 4 && q->shape[0] == 128 && q->shape[1] == 64 && q->shape[2] == 1);
    q = find(p, n, "fc.weight");
    CHECK(q && q->ndim == 2 && q->shape[0] == 7 && q->shape[1] == 512);
    q = find(p, n, "bn1.running_var");
    CHECK(q && !q->learned);
    /* state_dict order: the downsample follows the block's conv2/bn2. */
    CHECK(strcmp(p[0].name, "conv1.weight") == 0);
    int ds = -1, bn2 = -1;
    for (int i = 0; i < n; i++) {
        if (strcmp(p[i].name, "layer2.0.downsample.0.weight") == 0) ds = i;
        if (strcmp(p[i].name, "layer2.0.bn2.running_var") == 0) bn2 = i;
    }
    CHECK(ds == bn2 + 1);
    int oh, ow;
    dpi_graph_out_hw(&g, 0, 224, 224, &oh, &ow);
    CHECK(oh == 112 && ow == 112);
    dpi_graph_out_hw(&g, 1, 224, 224, &oh, &ow); /* max-pool */
    CHECK(oh == 56 && ow == 56);
    dpi_graph_out_hw(&g, g.n - 3, 40, 48, &oh, &ow); /* last conv: /32 rounded up */
    CHECK(oh == 2 && ow == 2);
    free(p);
    dpi_graph_free(&g);

    CHECK_OK(dpi_graph_build("mobilenet_v2", 10, &g));
    CHECK_OK(dpi_graph_params(&g, &p, &n));
    q = find(p, n, "features.1.conv.0.0.weight"); /* t = 1: depthwise first */
    CHECK(q && q->shape[0] == 32 && q->shape[1] == 1 && q->shape[2] == 3);
    q = find(p, n, "features.2.conv.3.running_mean");
    CHECK(q && q->shape[0] == 24);
    q = find(p, n, "features.18.0.weight");
    CHECK(q && q->shape[0] == 1280 && q->shape[1] == 320);
    CHECK(find(p, n, "classifier.1.bias") != NULL);
    free(p);
    dpi_graph_free(&g);

    CHECK_OK(dpi_graph_build("mobilenetv2_cifar", 10, &g));
    CHECK_OK(dpi_graph_params(&g, &p, &n));
    CHECK(find(p, n, "layers.0.shortcut.0.weight") != NULL); /* 32 -> 16 at stride 1 */
    CHECK(find(p, n, "layers.1.shortcut.0.weight") != NULL); /* 16 -> 24, stride 1 on CIFAR */
    CHECK(find(p, n, "layers.3.shortcut.0.weight") == NULL); /* stride 2: no residual */
    free(p);
    dpi_graph_free(&g);

    /* alexnet's smallest input: 63 leaves its last 3x3 max-pool a 1x1 output, 62 a 2x2 input. */
    CHECK_OK(dpi_graph_build("alexnet", 10, &g));
    CHECK(g.min_hw == 63 && g.nodes[g.n - 5].op == DPI_OP_MAXPOOL);
    dpi_graph_out_hw(&g, g.n - 5, 63, 63, &oh, &ow);
    CHECK(oh == 1 && ow == 1);
    dpi_graph_out_hw(&g, g.n - 6, 62, 62, &oh, &ow);
    CHECK(oh == 2 && g.nodes[g.n - 5].k == 3);
    dpi_graph_out_hw(&g, g.n - 4, 63, 63, &oh, &ow); /* the adaptive pool: 6x6 from any size */
    CHECK(oh == 6 && ow == 6 && g.nodes[g.n - 3].cin == 256 * 6 * 6);
    dpi_graph_free(&g);
    CHECK_OK(dpi_graph_build("null", 10, &g));
    CHECK(g.n == 0 && g.min_hw == 1 && learned_count(&g) == 0);
    dpi_graph_free(&g);

    CHECK_STATUS(dpi_graph_build("resnet101", 10, &g), DP_ERR_NOT_FOUND);
    CHECK_ERROR_MENTIONS("resnet101");
    CHECK_ERROR_MENTIONS("alexnet, densenet121, inception_v3, null");
    CHECK_STATUS(dpi_graph_build("resnet18", 0, &g), DP_ERR_INVALID_ARG);
    TEST_MAIN_END();
}
