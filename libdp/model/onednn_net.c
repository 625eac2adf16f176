/*
 * oneDNN backend, choices about a whole prepared shape, each timed once per model, shape and
 * thread count and kept in the model's choice table: whether the per-conv choices
 * (onednn_conv.c) beat every conv chained in the whole net, and whether a large batch runs as
 * slices of a smaller size. docs/engine.md, "Choosing each convolution" and "Large batches as slices".
 */
#include <stdlib.h>
#include <time.h>

#include "onednn_impl.h"
#include "util/util.h"

/* CPU ms of this thread for one run of sh, or -1. */
static double run_ms(dp_exec *e, dpo_shape *sh, const float *in, float *logits) {
    struct timespec t0, t1;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
    if (dpo_run_shape(e, sh, in, logits) != DP_OK) return -1;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
    return (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
}

/* CPU ms of this thread for one run of sh (best of two after a warm-up run), on zeros. */
static double time_shape(dp_exec *e, dpo_shape *sh, const float *in, float *logits) {
    double best = -1;
    for (int r = 0; r < 3; r++) {
        double ms = run_ms(e, sh, in, logits);
        if (ms < 0) return -1;
        if (r > 0 && (best < 0 || ms < best)) best = ms;
    }
    return best;
}

/* Zeroed input and logits for timing n samples at h x w (the kernels' speed does not depend on
 * the values, and zeros are never denormal). */
static dp_status timing_io(const dp_exec *e, int n, int h, int w, float **in, float **out) {
    int io_in[3], io_out[3];
    dpi_model_io(e->model, h, w, io_in, io_out);
    *in = calloc((size_t)n * io_in[0] * io_in[1] * io_in[2], sizeof **in);
    *out = calloc((size_t)n * io_out[0] * io_out[1] * io_out[2], sizeof **out);
    if (*in && *out) return DP_OK;
    free(*in);
    free(*out);
    *in = *out = NULL;
    return dpi_error(DP_ERR_NOMEM, "out of memory timing [%d,3,%d,%d]", n, h, w);
}

/* Each conv's choice is timed alone, its weights and input hot in cache, and a free layout is
 * charged the reorders it adds as timed alone too; in the whole net such a mix cost mobilenet_v2
 * at batch 64 5-9 % against every conv chained (docs/performance.md). So once per model, shape
 * and thread count, where some conv left chain, the net as chosen is timed against the net with
 * every conv chained (alternately, best of up to three each after a warm-up of each, thread CPU
 * time, on zeros), and if chain is faster every conv's choice becomes chain. Node -2 of the choice
 * table keeps the verdict (1: chained), so other execs of the model build alike. */
/* Runs after the first timed pair stop once this much CPU time went into the comparison. */
#define NET_BUDGET_MS 300.0

static dp_status choose_net_locked(dp_exec *e, dpo_shape *sh) {
    dpo_exec *x = e->impl;
    dpo_model *om = e->model->impl;
    const dpi_graph *g = &e->model->graph;
    int n = sh->n, h = sh->h, w = sh->w, mixed = 0, chain = 0;
    if (om->conv_force >= 0 || dpo_choice_get(om, -2, n, h, w, e->threads) >= 0) return DP_OK;
    for (int i = 0; i < g->n; i++) mixed |= dpo_choice_get(om, i, n, h, w, e->threads) > DPO_CONV_CHAIN;
    dpo_shape alt;
    float *in = NULL, *out = NULL;
    dp_status s = DP_OK;
    if (mixed) {
        x->chain_all = 1;
        s = dpo_shape_build(e, n, h, w, &alt);
        x->chain_all = 0;
        if (s != DP_OK) return s;
        if ((s = dpo_grow_buffers(x, om, &alt)) || (s = dpo_bind_shapes(x)) || (s = dpo_bind_shape(x, &alt)) ||
            (s = timing_io(e, n, h, w, &in, &out)))
            goto done;
        double best[2] = {-1, -1}, spent = 0;
        for (int r = 0; r < 4 && (r < 2 || spent < NET_BUDGET_MS); r++)
            for (int c = 0; c < 2; c++) {
                double ms = run_ms(e, c ? &alt : sh, in, out);
                if (ms < 0) {
                    s = dpi_error(DP_ERR_INTERNAL, "timing [%d,3,%d,%d] failed", n, h, w);
                    goto done;
                }
                spent += ms;
                if (r > 0 && (best[c] < 0 || ms < best[c])) best[c] = ms;
            }
        chain = best[1] < best[0];
        dpi_log(DP_LOG_DEBUG, "oneDNN: [%d,3,%d,%d] %.3f ms as chosen per conv, %.3f ms all chained: %s", n, h, w,
                best[0], best[1], chain ? "chained" : "per conv");
        for (int i = 0; i < g->n && chain && s == DP_OK; i++)
            if (dpo_choice_get(om, i, n, h, w, e->threads) > DPO_CONV_CHAIN)
                s = dpo_choice_put(om, i, n, h, w, e->threads, DPO_CONV_CHAIN);
    }
    if (s == DP_OK) s = dpo_choice_put(om, -2, n, h, w, e->threads, chain);
    if (s == DP_OK && chain) { /* the chained steps take the shape's place */
        dpo_shape chosen = *sh;
        *sh = alt;
        sh->pinned = chosen.pinned, sh->used = chosen.used;
        alt = chosen;
    }
done:
    if (x->last == &alt) x->last = NULL; /* timing ran it */
    if (mixed) dpo_shape_free(&alt);
    free(in);
    free(out);
    return s;
}

/* Workers prepare at once: two timing the same net on shared cores would skew each other and
 * build the same candidates twice (and TSan saw their oneDNN builds race), so one times and the
 * others, once it is done, find its verdict in the table. */
dp_status dpo_choose_net(dp_exec *e, dpo_shape *sh) {
    dpo_model *om = e->model->impl;
    if (om->conv_force >= 0) return DP_OK;
    pthread_mutex_lock(&om->net_lock);
    dp_status s = choose_net_locked(e, sh);
    pthread_mutex_unlock(&om->net_lock);
    return s;
}

/* A batch larger than DPO_SLICE samples may be faster as consecutive runs of a smaller size (and
 * one of the rest): layer by layer, a large batch's activations outgrow the cache, so a network of
 * cheap layers over large maps streams them from memory (mobilenetv2_cifar, CPU ms per sample:
 * 1.09 at 8, 1.57 at 64), while one whose weights dominate gains from the batch (resnet18_cifar:
 * 4.00 at 8, 3.14 at 64). Slices of 8 fit 32x32 inputs; at 224x224 one mobilenet_v2 image's
 * expanded maps are ~5 MB, so only slices of 2 stay in a 32 MB L3. So each size of
 * dpo_slice_sizes is timed once per model, shape and thread count, on zeros, and the fastest is
 * used when it is at least 10 % faster per sample than the whole batch; the choice (its size, 0:
 * whole) is kept in the model (node -1 of its choice table) so every exec decides alike.
 * known: the kept size or 0, -1 none. */
static const int dpo_slice_sizes[] = {DPO_SLICE, 2};
enum { DPO_SLICE_KINDS = sizeof dpo_slice_sizes / sizeof dpo_slice_sizes[0] };

static dp_status time_slices(dp_exec *e, dpo_shape *sh, int *size) {
    int n = sh->n, h = sh->h, w = sh->w;
    float *in = NULL, *out = NULL;
    dp_status s = timing_io(e, n, h, w, &in, &out);
    double whole = s ? -1 : time_shape(e, sh, in, out), best = 0.9 * whole;
    *size = 0;
    for (int k = 0; s == DP_OK && k < DPO_SLICE_KINDS; k++) {
        dpo_shape *slice = NULL;
        if ((s = dpo_get_shape(e, dpo_slice_sizes[k], h, w, 1, &slice))) break;
        double ms = time_shape(e, slice, in, out) * n / dpo_slice_sizes[k];
        dpi_log(DP_LOG_DEBUG, "oneDNN: [%d,3,%d,%d] %.3f ms whole, %.3f ms as slices of %d", n, h, w, whole, ms,
                dpo_slice_sizes[k]);
        if (whole > 0 && ms > 0 && ms < best) best = ms, *size = dpo_slice_sizes[k];
    }
    free(in);
    free(out);
    return s;
}

dp_status dpo_choose_slices(dp_exec *e, dpo_shape *sh, int known) {
    dp_status s = DP_OK;
    if (known < 0) {
        if ((s = time_slices(e, sh, &known))) return s;
        if ((s = dpo_choice_put(e->model->impl, -1, sh->n, sh->h, sh->w, e->threads, known))) return s;
    }
    if (known == 0) return DP_OK;
    dpo_shape *slice = NULL, *rest = NULL;
    int n = sh->n, h = sh->h, w = sh->w;
    s = dpo_get_shape(e, known, h, w, 1, &slice);
    if (s == DP_OK && n % known) s = dpo_get_shape(e, n % known, h, w, 1, &rest);
    if (s != DP_OK) return s;
    /* Its own primitives and memory objects are not needed any more (the arena stays as large:
     * it is shared and reused by the other shapes). */
    int pinned = sh->pinned;
    uint64_t used = sh->used;
    dpo_exec *x = e->impl;
    if (x->last == sh) x->last = NULL;
    dpo_shape_free(sh);
    *sh = (dpo_shape){.n = n, .h = h, .w = w, .pinned = pinned, .used = used, .slice = slice, .rest = rest};
    return DP_OK;
}
