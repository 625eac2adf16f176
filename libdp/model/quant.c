/* The int8 plan (each tensor's type and scale), weight quantization and the weights fingerprint;
 * quant.h states the scheme. The calibration object itself is in calib_file.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant.h"
#include "util/util.h"

static float scale_of(float range, dpi_qtype t) {
    if (!(range > 0.0f)) return 1.0f; /* a tensor that was always 0: any scale represents it */
    return range / (t == DPI_Q_U8 ? 255.0f : 127.0f);
}

/* Union-find over the tensors (node i, index n for the network input), roots the lowest index. */
static int root(int *up, int i) {
    while (up[i] != i) i = up[i] = up[up[i]];
    return i;
}

static void unite(int *up, int a, int b) {
    a = root(up, a), b = root(up, b);
    if (a != b) up[a > b ? a : b] = a < b ? a : b;
}

/* The nodes that compute new values (and requantize them): convs, BN_RELUs and the input. Pools
 * only move or average values of their input, a CONCAT node only holds its input. */
static int makes_values(const dpi_node *nd) { return nd->op == DPI_OP_CONV || nd->op == DPI_OP_BN_RELU; }

/* Group the tensors that must share one type and scale: a pool and its input (it computes on the
 * integers as they are), and a concatenation's buffer with its input and every writer (its
 * readers see one tensor). A group's range is the largest of its value-making members', it is u8
 * when every one of them is non-negative, and a conv adding a residual writes the residual's
 * type. Nodes from the first global or adaptive average pool on are f32 (*f32_from). */
static dp_status plan_groups(const dpi_graph *g, const dp_calibration *cal, int *up, float *range, char *u8,
                             int *f32_from) {
    int n = g->n;
    *f32_from = n;
    for (int i = 0; i < n && *f32_from == n; i++)
        if (g->nodes[i].op == DPI_OP_GAP || g->nodes[i].op == DPI_OP_ADAPTIVE_AVG || g->nodes[i].op == DPI_OP_LINEAR)
            *f32_from = i;
    for (int i = 0; i <= n; i++) up[i] = i, range[i] = 0.0f, u8[i] = 1;
    for (int i = 0; i < *f32_from; i++) {
        const dpi_node *nd = &g->nodes[i];
        int in = nd->input < 0 ? n : nd->input;
        if (nd->op == DPI_OP_MAXPOOL || nd->op == DPI_OP_AVGPOOL || (nd->op == DPI_OP_CONCAT && nd->cin > 0))
            unite(up, i, in);
        if (nd->concat >= 0) unite(up, i, nd->concat);
    }
    range[root(up, n)] = cal->input_range;
    u8[root(up, n)] = 0;
    for (int i = 0; i < *f32_from; i++) {
        const dpi_node *nd = &g->nodes[i];
        int r = root(up, i);
        if (!makes_values(nd)) continue;
        range[r] = fmaxf(range[r], cal->range[i]);
        if (nd->act == DPI_ACT_NONE) u8[r] = 0;
    }
    for (int changed = 1; changed;) { /* until every residual conv has its residual's type */
        changed = 0;
        for (int i = 0; i < *f32_from; i++) {
            int res = g->nodes[i].residual, r = root(up, i);
            if (res >= 0 && !u8[root(up, res)] && u8[r]) u8[r] = 0, changed = 1;
        }
    }
    for (int i = 0; i < *f32_from; i++) {
        const dpi_node *nd = &g->nodes[i];
        if (nd->residual >= 0 && u8[root(up, nd->residual)] != u8[root(up, i)])
            return dpi_error(DP_ERR_UNSUPPORTED, "int8: %s of %s adds a u8 residual into an s8 output (a residual "
                             "without an activation, or in a group that is s8)", nd->name, g->arch);
    }
    return DP_OK;
}

dp_status dpi_qplan_make(const dpi_graph *g, const dp_calibration *cal, uint64_t weights_hash, dpi_qplan *plan) {
    memset(plan, 0, sizeof *plan);
    if (strcmp(cal->arch, g->arch) != 0)
        return dpi_error(DP_ERR_INVALID_ARG, "%s: calibration is for arch %s, the model is %s", cal->source, cal->arch,
                         g->arch);
    if (cal->num_classes != g->num_classes)
        return dpi_error(DP_ERR_INVALID_ARG, "%s: calibration is for %d classes, the model has %d", cal->source,
                         cal->num_classes, g->num_classes);
    if (cal->weights_hash != weights_hash)
        return dpi_error(DP_ERR_INVALID_ARG,
                         "%s: calibration was measured on other weights (fingerprint %016llx, these are %016llx)",
                         cal->source, (unsigned long long)cal->weights_hash, (unsigned long long)weights_hash);
    if (cal->n != g->n)
        return dpi_error(DP_ERR_INVALID_ARG, "%s: calibration has %d nodes, %s has %d", cal->source, cal->n, g->arch,
                         g->n);
    for (int i = 0; i < g->n; i++)
        if (strcmp(cal->names[i], g->nodes[i].name) != 0)
            return dpi_error(DP_ERR_INVALID_ARG, "%s: node %d is %s, %s's is %s", cal->source, i, cal->names[i], g->arch,
                             g->nodes[i].name);
    int *up = malloc(sizeof *up * ((size_t)g->n + 1)), f32_from = g->n;
    float *range = malloc(sizeof *range * ((size_t)g->n + 1));
    char *u8 = malloc((size_t)g->n + 1);
    plan->type = calloc((size_t)g->n + 1, sizeof *plan->type);
    plan->scale = calloc((size_t)g->n + 1, sizeof *plan->scale);
    dp_status s = !up || !range || !u8 || !plan->type || !plan->scale
                      ? dpi_error(DP_ERR_NOMEM, "out of memory planning int8 for %s", g->arch)
                      : plan_groups(g, cal, up, range, u8, &f32_from);
    for (int i = 0; !s && i <= g->n; i++) {
        int r = root(up, i);
        dpi_qtype t = i >= f32_from && i < g->n ? DPI_Q_F32 : u8[r] ? DPI_Q_U8 : DPI_Q_S8;
        plan->type[i] = t;
        plan->scale[i] = t == DPI_Q_F32 ? 1.0f : scale_of(range[r], t);
    }
    if (!s) {
        plan->in_type = plan->type[g->n];
        plan->in_scale = plan->scale[g->n];
    }
    free(up);
    free(range);
    free(u8);
    if (s) dpi_qplan_free(plan);
    return s;
}

void dpi_qplan_free(dpi_qplan *plan) {
    free(plan->type);
    free(plan->scale);
    plan->type = NULL;
    plan->scale = NULL;
}

float dpi_quantize(double v, float scale, dpi_qtype t) {
    double q = nearbyint(v / scale), lo = t == DPI_Q_U8 ? 0.0 : -128.0, hi = t == DPI_Q_U8 ? 255.0 : 127.0;
    return (float)(q < lo ? lo : q > hi ? hi : q);
}

void dpi_quant_weights(const float *w, int cout, size_t per_out, int8_t *q, float *scale) {
    for (int o = 0; o < cout; o++) {
        const float *row = w + (size_t)o * per_out;
        float m = 0.0f;
        for (size_t j = 0; j < per_out; j++) m = fmaxf(m, fabsf(row[j]));
        scale[o] = m > 0.0f ? m / 127.0f : 1.0f;
        for (size_t j = 0; j < per_out; j++) q[(size_t)o * per_out + j] = (int8_t)dpi_quantize(row[j], scale[o], DPI_Q_S8);
    }
}

/* FNV-1a over 32-bit words: order-sensitive, fast enough for 100M parameters at load. */
static uint64_t fnv(uint64_t h, const void *p, size_t bytes) {
    const unsigned char *b = p;
    for (size_t i = 0; i < bytes; i++) h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

dp_status dpi_weights_hash(const dpi_graph *g, const dpi_weights *w, uint64_t *out) {
    dpi_param *p;
    int count;
    dp_status s = dpi_graph_params(g, &p, &count);
    if (s) return s;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int i = 0; i < count && !s; i++) {
        const float *data;
        size_t numel = 1;
        if ((s = dpi_weights_get(w, p[i].name, p[i].ndim, p[i].shape, &data))) break;
        h = fnv(h, p[i].name, strlen(p[i].name) + 1);
        for (int d = 0; d < p[i].ndim; d++) numel *= (size_t)p[i].shape[d];
        for (size_t j = 0; j < numel; j++) {
            uint32_t u;
            memcpy(&u, &data[j], sizeof u);
            h = (h ^ u) * 0x100000001b3ULL;
        }
    }
    free(p);
    *out = h;
    return s;
}
