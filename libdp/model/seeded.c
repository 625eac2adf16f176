/* Deterministic weights from a seed, for running without a weights file. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "model_impl.h"
#include "util/util.h"

/* Each tensor draws from its own stream (seed mixed with a hash of its name), so a tensor's
 * values do not depend on which other tensors the arch has. */
static uint64_t tensor_state(uint64_t seed, const char *name) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (const char *c = name; *c; c++) h = (h ^ (unsigned char)*c) * 1099511628211ull;
    uint64_t s = seed ^ h;
    dpi_splitmix64(&s);
    return s;
}

static dp_status add_uniform(dpi_weights *w, uint64_t seed, const char *module, const char *field, int ndim,
                             const int64_t *shape, double lo, double hi) {
    char name[DPI_NAME_CAP + 16];
    snprintf(name, sizeof name, "%s.%s", module, field);
    size_t count = 1;
    for (int d = 0; d < ndim; d++) count *= (size_t)shape[d];
    float *data = malloc(count * sizeof *data);
    if (!data) return dpi_error(DP_ERR_NOMEM, "out of memory for seeded tensor %s", name);
    uint64_t st = tensor_state(seed, name);
    for (size_t i = 0; i < count; i++) data[i] = (float)(lo + (hi - lo) * dpi_rand_unit(&st));
    return dpi_weights_add(w, name, ndim, shape, data);
}

/* BN statistics are far from (0, 1) on purpose so that folding them is exercised, yet scaled
 * so that activations keep a sane magnitude through 50+ layers. The BN feeding a residual add
 * gets a smaller gamma, as the sum of two branches would otherwise grow block after block. */
static dp_status seed_bn(dpi_weights *w, uint64_t seed, const char *bn, const int64_t *vec, int residual) {
    dp_status s;
    double glo = residual ? 0.2 : 0.5, ghi = residual ? 0.5 : 1.0;
    if ((s = add_uniform(w, seed, bn, "weight", 1, vec, glo, ghi))) return s;
    if ((s = add_uniform(w, seed, bn, "bias", 1, vec, -0.1, 0.1))) return s;
    if ((s = add_uniform(w, seed, bn, "running_mean", 1, vec, -0.1, 0.1))) return s;
    return add_uniform(w, seed, bn, "running_var", 1, vec, 0.5, 1.5);
}

static dp_status seed_node(dpi_weights *w, uint64_t seed, const dpi_node *n) {
    dp_status s;
    int64_t vec[1] = {n->cout};
    if (n->op == DPI_OP_BN_RELU) return seed_bn(w, seed, n->bn, vec, 0);
    if (n->op == DPI_OP_LINEAR) {
        int64_t shape[2] = {n->cout, n->cin};
        double b = 1.0 / sqrt((double)n->cin);
        if ((s = add_uniform(w, seed, n->name, "weight", 2, shape, -b, b))) return s;
        return add_uniform(w, seed, n->name, "bias", 1, vec, -b, b);
    }
    if (n->op != DPI_OP_CONV) return DP_OK;
    int64_t shape[4] = {n->cout, n->cin / n->groups, n->k, n->kw};
    double fan_in = (double)(n->cin / n->groups) * n->k * n->kw;
    double b = sqrt(6.0 / fan_in); /* He uniform: keeps the second moment through ReLU */
    if ((s = add_uniform(w, seed, n->name, "weight", 4, shape, -b, b))) return s;
    if (n->has_bias && (s = add_uniform(w, seed, n->name, "bias", 1, vec, -0.1, 0.1))) return s;
    return n->bn[0] ? seed_bn(w, seed, n->bn, vec, n->residual >= 0) : DP_OK;
}

dp_status dpi_weights_seeded(const dpi_graph *g, uint64_t seed, dpi_weights **out) {
    char label[48];
    snprintf(label, sizeof label, "<seed %llu>", (unsigned long long)seed);
    dpi_weights *w = dpi_weights_new(label);
    if (!w) return dpi_error(DP_ERR_NOMEM, "out of memory for seeded weights");
    for (int i = 0; i < g->n; i++) {
        dp_status s = seed_node(w, seed, &g->nodes[i]);
        if (s) {
            dpi_weights_free(w);
            return s;
        }
    }
    *out = w;
    return DP_OK;
}
