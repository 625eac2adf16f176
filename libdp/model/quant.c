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
    plan->type = calloc((size_t)g->n, sizeof *plan->type);
    plan->scale = calloc((size_t)g->n, sizeof *plan->scale);
    if (!plan->type || !plan->scale) {
        dpi_qplan_free(plan);
        return dpi_error(DP_ERR_NOMEM, "out of memory planning int8 for %s", g->arch);
    }
    plan->in_type = DPI_Q_S8;
    plan->in_scale = scale_of(cal->input_range, DPI_Q_S8);
    int f32 = 0; /* set from the first global or adaptive average pool on */
    for (int i = 0; i < g->n; i++) {
        const dpi_node *nd = &g->nodes[i];
        dpi_qtype in = nd->input < 0 ? plan->in_type : plan->type[nd->input];
        dpi_qtype t;
        if (nd->op == DPI_OP_GAP || nd->op == DPI_OP_ADAPTIVE_AVG || nd->op == DPI_OP_LINEAR || f32) {
            f32 = 1;
            plan->type[i] = DPI_Q_F32;
            plan->scale[i] = 1.0f;
            continue;
        }
        if (in == DPI_Q_F32) {
            dpi_qplan_free(plan);
            return dpi_error(DP_ERR_UNSUPPORTED, "int8: %s of %s reads an f32 tensor", nd->name, g->arch);
        }
        if (nd->op == DPI_OP_MAXPOOL) { /* the max of quantized values: same type and scale */
            plan->type[i] = in;
            plan->scale[i] = nd->input < 0 ? plan->in_scale : plan->scale[nd->input];
            continue;
        }
        t = nd->act != DPI_ACT_NONE ? DPI_Q_U8 : DPI_Q_S8;
        if (nd->residual >= 0) {
            t = plan->type[nd->residual];
            if (t == DPI_Q_U8 && nd->act == DPI_ACT_NONE) {
                dpi_qplan_free(plan);
                return dpi_error(DP_ERR_UNSUPPORTED, "int8: %s of %s adds a u8 residual without an activation",
                                 nd->name, g->arch);
            }
        }
        plan->type[i] = t;
        plan->scale[i] = scale_of(cal->range[i], t);
    }
    return DP_OK;
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
