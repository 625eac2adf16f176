/* What dp_model and dp_exec are, and the interface every backend implements. */
#ifndef DP_MODEL_MODEL_IMPL_H
#define DP_MODEL_MODEL_IMPL_H

#include "dataparallel/model.h"
#include "graph.h"
#include "quant.h"
#include "../io/weights.h"

typedef struct dpi_backend dpi_backend;

/* A unit of the model (split.c): a run of nodes [first, next unit's first) that a stage boundary
 * may not cut through. */
typedef struct dpi_unit {
    char name[DPI_NAME_CAP];
    int first;
} dpi_unit;

struct dp_model {
    char arch[32];
    int num_classes;
    dp_precision precision;
    dp_model_backend backend_kind;
    size_t param_count;
    dpi_graph graph;
    const dpi_backend *be;
    void *impl;                /* backend's immutable prepared weights */
    /* The nodes [first, last) this model runs: the whole graph, or a stage's part of it. A stage
     * (parent != NULL) borrows graph, impl and units from its parent. */
    const dp_model *parent;
    int first, last;
    int unit_first, unit_last; /* its units [unit_first, unit_last) */
    int nunits;                /* of the whole graph */
    dpi_unit *units;
    char *weights_path;        /* what it was loaded from (NULL: seed), for dp_model_calibrate */
    uint64_t seed;
    uint64_t weights_hash;     /* dpi_weights_hash() of the weights */
    dpi_qplan quant;           /* int8: every tensor's type and scale */
};

struct dp_exec {
    const dp_model *model;
    int threads;
    int profiling;
    void *impl;                /* backend's per-context state */
};

struct dpi_backend {
    const char *name;
    /* Prepare m->impl from the graph and weights (all present with the right shapes: checked
     * by the caller). The weights are freed after this returns. */
    dp_status (*model_init)(dp_model *m, const dpi_weights *w);
    void (*model_fini)(dp_model *m);
    dp_status (*exec_init)(dp_exec *e);
    dp_status (*exec_prepare)(dp_exec *e, int n, int h, int w);
    /* After this, runs of 1..max samples at h x w create nothing (arguments checked). */
    dp_status (*exec_prepare_batches)(dp_exec *e, int max, int h, int w);
    dp_status (*exec_run)(dp_exec *e, const float *x, int n, int h, int w, float *logits);
    dp_status (*exec_profile)(const dp_exec *e, dp_layer_profile *out, int cap, int *count);
    /* Fill every field of *out but size. */
    void (*exec_stats)(const dp_exec *e, dp_exec_stats *out);
    void (*exec_fini)(dp_exec *e);
};

/* The units of m's graph into m->units (split.c; at load). */
dp_status dpi_model_units_init(dp_model *m);
/* Per-sample input and output of m's node range for images of h x w, as {c, h, w}. */
void dpi_model_io(const dp_model *m, int h, int w, int in[3], int out[3]);

extern const dpi_backend dpi_backend_onednn;
extern const dpi_backend dpi_backend_reference;
extern const dpi_backend dpi_backend_null; /* the "null" arch's, whichever backend was asked for */

/* Deterministic weights for every parameter of g from seed (kaiming-uniform convs, non-trivial
 * BN statistics so BN folding is exercised). */
dp_status dpi_weights_seeded(const dpi_graph *g, uint64_t seed, dpi_weights **out);

#endif
