/* Units, legal cuts and stage models (include/dataparallel/split.h, docs/pipeline.md). The
 * planner over a unit cost table is in split_plan.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataparallel/split.h"
#include "model_impl.h"
#include "util/util.h"

/* The module a node belongs to, as PyTorch nests them: "layer2.0.conv1" -> "layer2.0",
 * "features.3.conv.1.0" -> "features.3", "layers.5.shortcut.0" -> "layers.5"; a top-level
 * layer is its own unit ("conv1", "maxpool", "avgpool", "fc"). "features" is a container
 * whose children are units also when named ("features.denseblock1.denselayer2.conv1" ->
 * "features.denseblock1"). */
static void unit_name(const char *node, char *out, size_t cap) {
    const char *dot = strchr(node, '.');
    size_t len = dot ? (size_t)(dot - node) : strlen(node);
    int named_child = dot && len == 8 && strncmp(node, "features", 8) == 0;
    if (dot && ((dot[1] >= '0' && dot[1] <= '9') || named_child)) {
        len++;
        while (node[len] && node[len] != '.') len++;
    }
    if (len >= cap) len = cap - 1;
    memcpy(out, node, len);
    out[len] = '\0';
}

/* Exactly one tensor crosses a cut before node c: every later node reads only c-1 or later
 * nodes, and none reads the network input. */
static int one_tensor_crosses(const dpi_graph *g, int c) {
    for (int j = c; j < g->n; j++) {
        const dpi_node *nd = &g->nodes[j];
        if (nd->input < c - 1 || (nd->residual >= 0 && nd->residual < c - 1) || (nd->concat >= 0 && nd->concat < c - 1))
            return 0;
    }
    return 1;
}

dp_status dpi_model_units_init(dp_model *m) {
    const dpi_graph *g = &m->graph;
    m->units = calloc((size_t)g->n + 1, sizeof *m->units); /* + 1: the null arch has no nodes */
    if (!m->units) return dpi_error(DP_ERR_NOMEM, "out of memory listing the units of %s", m->arch);
    m->nunits = 0;
    char name[DPI_NAME_CAP];
    for (int i = 0; i < g->n; i++) {
        unit_name(g->nodes[i].name, name, sizeof name);
        /* A module boundary that a shortcut spans is no cut, nor is a linear layer's 2-D output
         * (stage edges are NCHW images): the node joins the unit before. */
        int after_linear = g->nodes[i].input >= 0 && g->nodes[g->nodes[i].input].op == DPI_OP_LINEAR;
        if (m->nunits > 0 &&
            (strcmp(name, m->units[m->nunits - 1].name) == 0 || !one_tensor_crosses(g, i) || after_linear))
            continue;
        memcpy(m->units[m->nunits].name, name, sizeof name);
        m->units[m->nunits++].first = i;
    }
    m->unit_first = 0;
    m->unit_last = m->nunits;
    return DP_OK;
}

static int unit_end(const dp_model *m, int u) { return u + 1 < m->nunits ? m->units[u + 1].first : m->graph.n; }

/* Channels and spatial size of node i's output (the image for i < 0). */
static void node_out(const dp_model *m, int i, int h, int w, int out[3]) {
    out[0] = dpi_graph_out_c(&m->graph, i);
    dpi_graph_out_hw(&m->graph, i, h, w, &out[1], &out[2]);
}

void dpi_model_io(const dp_model *m, int h, int w, int in[3], int out[3]) {
    node_out(m, m->first - 1, h, w, in);
    if (m->last == m->graph.n) {
        out[0] = m->num_classes;
        out[1] = out[2] = 1;
    } else {
        node_out(m, m->last - 1, h, w, out);
    }
}

static void unit_costs(const dp_model *m, int u, int h, int w, dp_unit_info *info) {
    memset(info, 0, sizeof *info);
    info->name = m->units[u].name;
    int end = unit_end(m, u), o[3];
    for (int i = m->units[u].first; i < end; i++) {
        const dpi_node *nd = &m->graph.nodes[i];
        node_out(m, i, h, w, o);
        double macs = 0;
        size_t params = 0;
        if (nd->op == DPI_OP_CONV) {
            params = (size_t)nd->cout * (nd->cin / nd->groups) * nd->k * nd->kw + (size_t)nd->cout;
            macs = (double)params * o[1] * o[2];
        } else if (nd->op == DPI_OP_LINEAR) {
            params = (size_t)nd->cout * nd->cin + (size_t)nd->cout;
            macs = (double)nd->cout * nd->cin;
        }
        info->flops += 2 * macs;
        info->param_bytes += params * sizeof(float);
    }
    info->out_bytes = (size_t)o[0] * o[1] * o[2] * sizeof(float); /* the linear layer's: K logits */
}

static dp_status check_hw(const char *fn, const dp_model *model, int h, int w) {
    if (!model) return dpi_error(DP_ERR_INVALID_ARG, "%s: model is NULL", fn);
    if (h < dp_model_min_input_size(model) || w < dp_model_min_input_size(model))
        return dpi_error(DP_ERR_SHAPE, "%s: input %dx%d is smaller than the minimum %dx%d", fn, h, w,
                         dp_model_min_input_size(model), dp_model_min_input_size(model));
    return DP_OK;
}

DP_API dp_status dp_model_units(const dp_model *model, int h, int w, dp_unit_info *out, int cap, int *count) {
    dp_status s = check_hw("dp_model_units", model, h, w);
    if (s) return s;
    if (!count || cap < 0 || (cap > 0 && !out))
        return dpi_error(DP_ERR_INVALID_ARG, "dp_model_units: %s", !count ? "count is NULL" : "out is NULL with cap > 0");
    int n = model->unit_last - model->unit_first;
    for (int k = 0; k < n && k < cap; k++) unit_costs(model, model->unit_first + k, h, w, &out[k]);
    *count = n;
    return DP_OK;
}

/* The unit of model holding the node a profiled step is named after ("layer1.0.conv1:reorder-src"). */
static int unit_of_step(const dp_model *m, const char *step) {
    size_t len = strcspn(step, ":");
    for (int i = m->first; i < m->last; i++)
        if (strlen(m->graph.nodes[i].name) == len && strncmp(m->graph.nodes[i].name, step, len) == 0) {
            int u = m->unit_first;
            while (u + 1 < m->unit_last && m->units[u + 1].first <= i) u++;
            return u - m->unit_first;
        }
    return -1;
}

DP_API dp_status dp_model_profile(const dp_model *model, int batch, int threads, int h, int w, int iters,
                                  dp_unit_info *out, int cap, int *count) {
    dp_status s = dp_model_units(model, h, w, out, cap, count);
    if (s) return s;
    if (batch < 1 || iters < 1)
        return dpi_error(DP_ERR_INVALID_ARG, "dp_model_profile: batch %d and iters %d must be >= 1", batch, iters);
    int in[3], o[3];
    dpi_model_io(model, h, w, in, o);
    size_t nin = (size_t)batch * in[0] * in[1] * in[2], nout = (size_t)batch * o[0] * o[1] * o[2];
    float *x = calloc(nin, sizeof *x), *y = malloc(nout * sizeof *y);
    dp_layer_profile *layers = NULL;
    dp_exec *e = NULL;
    if (!x || !y) {
        s = dpi_error(DP_ERR_NOMEM, "dp_model_profile: out of memory");
        goto done;
    }
    for (size_t i = 0; i < nin; i++) x[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    if ((s = dp_exec_create(model, threads, &e)) || (s = dp_exec_run(e, x, batch, h, w, y))) goto done;
    dp_exec_set_profiling(e, 1);
    for (int it = 0; it < iters && !s; it++) s = dp_exec_run(e, x, batch, h, w, y);
    int nl = 0;
    if (s || (s = dp_exec_profile(e, NULL, 0, &nl))) goto done;
    /* a sliced batch lists its layers twice (full slices and the last one): both count */
    if (!(layers = calloc((size_t)nl + 1, sizeof *layers))) {
        s = dpi_error(DP_ERR_NOMEM, "dp_model_profile: out of memory");
        goto done;
    }
    if ((s = dp_exec_profile(e, layers, nl, &nl))) goto done;
    for (int k = 0; k < nl; k++) {
        int u = unit_of_step(model, layers[k].name);
        if (u >= 0 && u < cap) out[u].ms += layers[k].total_ms / iters;
    }
done:
    dp_exec_free(e);
    free(x);
    free(y);
    free(layers);
    return s;
}

DP_API dp_status dp_model_unit_index(const dp_model *model, const char *name, int *index) {
    if (!model || !name || !index)
        return dpi_error(DP_ERR_INVALID_ARG, "dp_model_unit_index: %s is NULL", !model ? "model" : !name ? "name" : "index");
    for (int u = model->unit_first; u < model->unit_last; u++)
        if (strcmp(model->units[u].name, name) == 0) {
            *index = u - model->unit_first;
            return DP_OK;
        }
    char list[512] = "";
    size_t len = 0;
    for (int u = model->unit_first + 1; u < model->unit_last && len + DPI_NAME_CAP + 2 < sizeof list; u++)
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", u > model->unit_first + 1 ? "," : "",
                                model->units[u].name);
    return dpi_error(DP_ERR_NOT_FOUND, "%s has no unit '%s' (cuts can be made before: %s)", model->arch, name, list);
}

DP_API dp_status dp_model_split(const dp_model *model, const int *cuts, int ncuts, dp_model **stages) {
    if (!model || !stages || (ncuts > 0 && !cuts))
        return dpi_error(DP_ERR_INVALID_ARG, "dp_model_split: %s is NULL", !model ? "model" : !stages ? "stages" : "cuts");
    if (model->parent) return dpi_error(DP_ERR_UNSUPPORTED, "dp_model_split: a stage cannot be split again");
    if (model->precision == DP_PRECISION_INT8 && ncuts > 0) /* stage edges are f32; int8 runs whole graphs */
        return dpi_error(DP_ERR_UNSUPPORTED, "dp_model_split: an int8 model cannot be split into stages");
    if (ncuts < 0 || ncuts >= model->nunits)
        return dpi_error(DP_ERR_INVALID_ARG, "dp_model_split: %d cuts, %s has %d units (at most %d cuts)", ncuts,
                         model->arch, model->nunits, model->nunits - 1);
    for (int k = 0; k < ncuts; k++)
        if (cuts[k] < 1 || cuts[k] >= model->nunits || (k > 0 && cuts[k] <= cuts[k - 1]))
            return dpi_error(DP_ERR_INVALID_ARG,
                             "dp_model_split: cut %d is unit %d; cuts must increase within 1..%d (%s has %d units)", k,
                             cuts[k], model->nunits - 1, model->arch, model->nunits);
    for (int k = 0; k <= ncuts; k++) {
        dp_model *st = malloc(sizeof *st);
        if (!st) {
            while (k > 0) dp_model_free(stages[--k]);
            return dpi_error(DP_ERR_NOMEM, "dp_model_split: out of memory");
        }
        *st = *model;
        st->parent = model;
        st->unit_first = k == 0 ? 0 : cuts[k - 1];
        st->unit_last = k == ncuts ? model->nunits : cuts[k];
        st->first = model->units[st->unit_first].first;
        st->last = unit_end(model, st->unit_last - 1);
        st->param_count = 0; /* the learned parameters of its layers, as PyTorch would count them */
        for (int i = st->first; i < st->last; i++) {
            const dpi_node *nd = &model->graph.nodes[i];
            size_t wts = (size_t)nd->cout * (nd->cin / (nd->op == DPI_OP_CONV ? nd->groups : 1)) * nd->k * nd->kw;
            if (nd->op == DPI_OP_CONV || nd->op == DPI_OP_LINEAR)
                st->param_count += wts + (nd->has_bias ? (size_t)nd->cout : 0) + (nd->bn[0] ? 2 * (size_t)nd->cout : 0);
            else if (nd->op == DPI_OP_BN_RELU)
                st->param_count += 2 * (size_t)nd->cout;
        }
        stages[k] = st;
    }
    return DP_OK;
}

DP_API dp_status dp_model_io_shape(const dp_model *model, int h, int w, int in[3], int out[3]) {
    dp_status s = check_hw("dp_model_io_shape", model, h, w);
    if (s) return s;
    if (!in || !out) return dpi_error(DP_ERR_INVALID_ARG, "dp_model_io_shape: %s is NULL", !in ? "in" : "out");
    dpi_model_io(model, h, w, in, out);
    return DP_OK;
}

DP_API int dp_model_is_stage(const dp_model *model) { return model && model->parent ? 1 : 0; }
