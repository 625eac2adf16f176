/*
 * oneDNN backend, the execution contexts: prepared shapes over one arena and one scratchpad,
 * the batch sizes prepared for a server (the one rule both workers use), the run path, the
 * profile, the counters and the backend's table. The model side is in onednn_backend.c, the building of a shape in
 * onednn_build.c; docs/engine.md explains the design.
 */
#include <omp.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "onednn_impl.h"
#include "util/util.h"

static _Atomic uint64_t primitives_total;

dnnl_status_t dpo_primitive_create(dpo_exec *x, dnnl_primitive_t *prim, const_dnnl_primitive_desc_t pd) {
    dnnl_status_t st = dnnl_primitive_create(prim, pd);
    if (st == dnnl_success) {
        x->created++;
        atomic_fetch_add_explicit(&primitives_total, 1, memory_order_relaxed);
    }
    return st;
}

uint64_t dpo_primitives_created_total(void) { return atomic_load_explicit(&primitives_total, memory_order_relaxed); }

const char *dpo_intern(dpo_exec *x, const char *s) {
    for (int i = 0; i < x->nstrings; i++)
        if (strcmp(x->strings[i], s) == 0) return x->strings[i];
    if (x->nstrings == x->cap_strings) {
        int cap = x->cap_strings ? 2 * x->cap_strings : 64;
        char **grown = realloc(x->strings, sizeof *grown * (size_t)cap);
        if (!grown) return NULL;
        x->strings = grown;
        x->cap_strings = cap;
    }
    char *copy = dpi_strdup(s);
    if (copy) x->strings[x->nstrings++] = copy;
    return copy;
}

static void drop_shape(dpo_exec *x, int i) {
    if (x->last == x->shapes[i]) x->last = NULL;
    dpo_shape_free(x->shapes[i]);
    free(x->shapes[i]);
    x->shapes[i] = x->shapes[--x->nshapes];
}

static void exec_fini(dp_exec *e) {
    dpo_exec *x = e->impl;
    if (!x) return;
    while (x->nshapes) drop_shape(x, x->nshapes - 1);
    free(x->shapes);
    free(x->batches);
    for (int i = 0; i < x->nstrings; i++) free(x->strings[i]);
    free(x->strings);
    dpi_free_aligned(x->arena);
    if (x->scratch) dnnl_memory_destroy(x->scratch);
    if (x->stream) dnnl_stream_destroy(x->stream);
    dpi_free_aligned(x);
    e->impl = NULL;
}

static dp_status exec_init(dp_exec *e) {
    dp_status s = DP_OK;
    const dpo_model *om = e->model->impl;
    dpo_exec *x = dpi_alloc_aligned(sizeof *x, DPI_CACHELINE);
    if (!x) return dpi_error(DP_ERR_NOMEM, "out of memory creating an exec");
    memset(x, 0, sizeof *x);
    e->impl = x;
    /* libgomp keeps the team size per thread: what this thread sets is what the primitives it
     * creates are built for. */
    omp_set_num_threads(e->threads);
    DNN(dnnl_stream_create(&x->stream, om->engine, dnnl_stream_default_flags), "stream creation", e->model->arch);
    return DP_OK;
fail:
    exec_fini(e);
    return s;
}

/* Make the scratchpad and the arena large enough for sh (prepare time only). */
dp_status dpo_grow_buffers(dpo_exec *x, const dpo_model *om, const dpo_shape *sh) {
    dp_status s = DP_OK;
    if (sh->scratch > x->scratch_size) {
        dnnl_memory_desc_t md;
        dnnl_memory_t mem = NULL;
        dnnl_dims_t d = {(dnnl_dim_t)sh->scratch};
        DNN(dnnl_memory_desc_init_by_tag(&md, 1, d, dnnl_u8, dnnl_a), "scratchpad descriptor", "exec");
        DNN(dnnl_memory_create(&mem, &md, om->engine, DNNL_MEMORY_ALLOCATE), "scratchpad allocation", "exec");
        if (x->scratch) dnnl_memory_destroy(x->scratch);
        x->scratch = mem;
        x->scratch_size = sh->scratch;
    }
    if (sh->arena_size > x->arena_size) {
        void *arena = dpi_alloc_aligned(sh->arena_size, 4096);
        if (!arena)
            return dpi_error(DP_ERR_NOMEM, "out of memory: %zu bytes of activations for [%d,3,%d,%d]", sh->arena_size,
                             sh->n, sh->h, sh->w);
        dpi_free_aligned(x->arena);
        x->arena = arena;
        x->arena_size = sh->arena_size;
    }
fail:
    return s;
}

/* Point a shape's scratchpad arguments and activations at the exec's current buffers. */
dp_status dpo_bind_shape(dpo_exec *x, dpo_shape *sh) {
    dp_status s = DP_OK;
    for (int k = 0; k < sh->nsteps; k++)
        for (int a = 0; a < sh->steps[k].nargs; a++)
            if (sh->steps[k].args[a].arg == DNNL_ARG_SCRATCHPAD) sh->steps[k].args[a].memory = x->scratch;
    for (int v = 0; v < sh->nmems; v++)
        if (sh->offs[v] != DPO_USER)
            DNN(dnnl_memory_set_data_handle_v2(sh->mems[v], (char *)x->arena + sh->offs[v], x->stream),
                "binding activations", "exec");
fail:
    return s;
}

dp_status dpo_bind_shapes(dpo_exec *x) {
    dp_status s = DP_OK;
    for (int i = 0; i < x->nshapes && s == DP_OK; i++) s = dpo_bind_shape(x, x->shapes[i]);
    return s;
}

static dpo_shape *find_shape(const dpo_exec *x, int n, int h, int w) {
    for (int i = 0; i < x->nshapes; i++) {
        dpo_shape *sh = x->shapes[i];
        if (sh->n == n && sh->h == h && sh->w == w) return sh;
    }
    return NULL;
}

static int find_index(const dpo_exec *x, const dpo_shape *sh) {
    int i = 0;
    while (x->shapes[i] != sh) i++;
    return i;
}

/* The shape [n,3,h,w], built now if the exec does not hold it. A pinned shape stays until the
 * exec is freed; unpinned ones (built by a run nobody prepared for) are evicted least recently
 * used beyond DPO_UNPINNED_SHAPES. */
dp_status dpo_get_shape(dp_exec *e, int n, int h, int w, int pinned, dpo_shape **out) {
    dpo_exec *x = e->impl;
    dpo_shape *sh = find_shape(x, n, h, w);
    if (sh) {
        sh->pinned |= pinned;
        *out = sh;
        return DP_OK;
    }
    if (omp_get_max_threads() != e->threads) omp_set_num_threads(e->threads);
    int unpinned = 0, lru = -1;
    for (int i = 0; i < x->nshapes; i++) {
        if (x->shapes[i]->pinned) continue;
        unpinned++;
        if (lru < 0 || x->shapes[i]->used < x->shapes[lru]->used) lru = i;
    }
    if (!pinned && unpinned >= DPO_UNPINNED_SHAPES) {
        drop_shape(x, lru);
        x->evicted++;
    }
    if (x->nshapes == x->cap_shapes) {
        int cap = x->cap_shapes ? 2 * x->cap_shapes : 16;
        dpo_shape **grown = realloc(x->shapes, sizeof *grown * (size_t)cap);
        if (!grown) return dpi_error(DP_ERR_NOMEM, "out of memory preparing [%d,3,%d,%d]", n, h, w);
        x->shapes = grown;
        x->cap_shapes = cap;
    }
    sh = calloc(1, sizeof *sh);
    if (!sh) return dpi_error(DP_ERR_NOMEM, "out of memory preparing [%d,3,%d,%d]", n, h, w);
    /* Known to run as slices (another exec of this model timed it): no steps of its own. */
    int sliced = n > DPO_SLICE ? dpo_choice_get(e->model->impl, -1, n, h, w, e->threads) : 0;
    dp_status s = DP_OK;
    if (sliced > 0) sh->n = n, sh->h = h, sh->w = w;
    else s = dpo_shape_build(e, n, h, w, sh);
    if (s == DP_OK) x->built++;
    if (s == DP_OK) s = dpo_grow_buffers(x, e->model->impl, sh);
    if (s != DP_OK) {
        dpo_shape_free(sh);
        free(sh);
        return s;
    }
    sh->pinned = pinned;
    sh->used = ++x->tick;
    x->shapes[x->nshapes++] = sh;
    /* Every shape, since a grown arena or scratchpad moved the buffers of the others too. */
    s = dpo_bind_shapes(x);
    if (s == DP_OK && sliced <= 0) s = dpo_choose_net(e, sh);
    if (s == DP_OK && n > DPO_SLICE) s = dpo_choose_slices(e, sh, sliced);
    if (s != DP_OK) {
        drop_shape(x, find_index(x, sh));
        return s;
    }
    *out = sh;
    return DP_OK;
}

static dp_status exec_prepare(dp_exec *e, int n, int h, int w) {
    dpo_shape *sh;
    return dpo_get_shape(e, n, h, w, 1, &sh);
}

/* Primitives are built per batch size, so a server taking micro-batches of 1..max samples
 * would otherwise create them on the hot path. This is the one rule of which sizes are
 * prepared: every size up to DPO_EXACT_BATCHES, then the powers of two below max, then max.
 * A run of another size is split into prepared sizes, largest first (exec_run), never padded:
 * no staging copy, no wasted compute. Measured (resnet18 32x32, 1 thread, CPU ms per batch):
 * 1: 0.80, 2: 1.03, 4: 1.89, 7: 2.90, 8: 3.42, 16: 6.19, 64: 21.0; a run costs about 1.3
 * samples' worth on its own (the weights are streamed once per run), so small sizes are
 * worth having exactly (7 as 4+2+1 would cost 3.7) while above 8 a split adds at most one run
 * per doubling. mobilenetv2_cifar costs the same per sample at every size, so splitting there
 * costs nothing. For max 64: 11 shapes sharing one arena (the largest shape's). */
#define DPO_EXACT_BATCHES 8

static int batch_sizes(int max, int *sizes) {
    int k = 0;
    for (int n = 1; n <= max && n <= DPO_EXACT_BATCHES; n++) sizes[k++] = n;
    for (int n = 2 * DPO_EXACT_BATCHES; n < max; n *= 2) sizes[k++] = n;
    if (max > DPO_EXACT_BATCHES) sizes[k++] = max;
    return k;
}

static dpo_batches *find_batches(const dpo_exec *x, int n, int h, int w) {
    for (int i = 0; i < x->nbatches; i++)
        if (x->batches[i].h == h && x->batches[i].w == w && n <= x->batches[i].max) return &x->batches[i];
    return NULL;
}

static dp_status exec_prepare_batches(dp_exec *e, int max, int h, int w) {
    dpo_exec *x = e->impl;
    int sizes[DPO_EXACT_BATCHES + 32];
    int k = batch_sizes(max, sizes);
    for (int i = 0; i < k; i++) {
        dpo_shape *sh;
        dp_status s = dpo_get_shape(e, sizes[i], h, w, 1, &sh);
        if (s != DP_OK) return s;
    }
    for (int i = 0; i < x->nbatches; i++)
        if (x->batches[i].h == h && x->batches[i].w == w) {
            if (max > x->batches[i].max) x->batches[i].max = max;
            return DP_OK;
        }
    if (x->nbatches == x->cap_batches) {
        int cap = x->cap_batches ? 2 * x->cap_batches : 4;
        dpo_batches *grown = realloc(x->batches, sizeof *grown * (size_t)cap);
        if (!grown) return dpi_error(DP_ERR_NOMEM, "out of memory preparing batches of %d", max);
        x->batches = grown;
        x->cap_batches = cap;
    }
    x->batches[x->nbatches++] = (dpo_batches){h, w, max};
    return DP_OK;
}

dp_status dpo_run_shape(dp_exec *e, dpo_shape *sh, const float *in, float *logits) {
    dp_status s = DP_OK;
    dpo_exec *x = e->impl;
    if (sh->slice) {
        int io_in[3], io_out[3];
        dpi_model_io(e->model, sh->h, sh->w, io_in, io_out);
        size_t in_row = (size_t)io_in[0] * io_in[1] * io_in[2], out_row = (size_t)io_out[0] * io_out[1] * io_out[2];
        sh->used = ++x->tick;
        for (int done = 0; done < sh->n && s == DP_OK;) {
            dpo_shape *part = sh->n - done >= sh->slice->n ? sh->slice : sh->rest;
            s = dpo_run_shape(e, part, in + (size_t)done * in_row, logits + (size_t)done * out_row);
            done += part->n;
        }
        x->last = sh; /* the profile lists its slices' layers */
        return s;
    }
    if (omp_get_max_threads() != e->threads) omp_set_num_threads(e->threads);
    sh->used = ++x->tick;
    x->last = sh;
    /* Plain layouts: re-pointing is cheap, and skipped when the caller reuses its buffers. */
    if (sh->in_ptr != in) {
        DNN(dnnl_memory_set_data_handle_v2(sh->in, (void *)in, x->stream), "binding the input", e->model->arch);
        sh->in_ptr = in;
    }
    if (sh->out_ptr != logits) {
        DNN(dnnl_memory_set_data_handle_v2(sh->out, logits, x->stream), "binding the logits", e->model->arch);
        sh->out_ptr = logits;
    }
    if (e->profiling && !x->was_profiling)
        for (int i = 0; i < x->nshapes; i++)
            for (int k = 0; k < x->shapes[i]->nsteps; k++) x->shapes[i]->steps[k].calls = 0, x->shapes[i]->steps[k].ns = 0;
    x->was_profiling = e->profiling;
    if (!e->profiling) {
        for (int k = 0; k < sh->nsteps; k++) {
            dpo_step *st = &sh->steps[k];
            DNN(dnnl_primitive_execute(st->prim, x->stream, st->nargs, st->args), "execution", st->name);
        }
        DNN(dnnl_stream_wait(x->stream), "execution", e->model->arch);
        return DP_OK;
    }
    for (int k = 0; k < sh->nsteps; k++) {
        dpo_step *st = &sh->steps[k];
        int64_t t0 = dpi_now_ns();
        DNN(dnnl_primitive_execute(st->prim, x->stream, st->nargs, st->args), "execution", st->name);
        DNN(dnnl_stream_wait(x->stream), "execution", st->name);
        st->ns += dpi_now_ns() - t0;
        st->calls++;
    }
fail:
    return s;
}

/* n samples within a prepared range but of a size not prepared: consecutive slices, each run
 * on the largest prepared size that fits (size 1 always is, so this ends). */
static dp_status run_split(dp_exec *e, const float *in, int n, int h, int w, float *logits) {
    dpo_exec *x = e->impl;
    int io_in[3], io_out[3];
    dpi_model_io(e->model, h, w, io_in, io_out);
    size_t in_row = (size_t)io_in[0] * io_in[1] * io_in[2], out_row = (size_t)io_out[0] * io_out[1] * io_out[2];
    x->split_runs++;
    for (int done = 0; done < n;) {
        dpo_shape *best = NULL;
        for (int i = 0; i < x->nshapes; i++) {
            dpo_shape *sh = x->shapes[i];
            if (sh->h == h && sh->w == w && sh->n <= n - done && (!best || sh->n > best->n)) best = sh;
        }
        if (!best) return dpi_error(DP_ERR_INTERNAL, "exec: no prepared batch size fits %d samples", n - done);
        dp_status s = dpo_run_shape(e, best, in + (size_t)done * in_row, logits + (size_t)done * out_row);
        if (s != DP_OK) return s;
        done += best->n;
    }
    return DP_OK;
}

static dp_status exec_run(dp_exec *e, const float *in, int n, int h, int w, float *logits) {
    dpo_exec *x = e->impl;
    dpo_shape *sh = x->last;
    if (!sh || sh->n != n || sh->h != h || sh->w != w) sh = find_shape(x, n, h, w);
    if (!sh) {
        if (find_batches(x, n, h, w)) return run_split(e, in, n, h, w, logits);
        dp_status s = dpo_get_shape(e, n, h, w, 0, &sh);
        if (s != DP_OK) return s;
    }
    return dpo_run_shape(e, sh, in, logits);
}

static dp_status exec_profile(const dp_exec *e, dp_layer_profile *out, int cap, int *count) {
    const dpo_exec *x = e->impl;
    const dpo_shape *sh = x->last;
    if (!sh && x->nshapes) sh = x->shapes[x->nshapes - 1];
    /* A sliced batch has no steps of its own: its slice's, then its last slice's. */
    const dpo_shape *parts[2] = {sh && sh->slice ? sh->slice : sh, sh ? sh->rest : NULL};
    int n = 0;
    for (int p = 0; p < 2 && parts[p]; p++)
        for (int k = 0; k < parts[p]->nsteps; k++, n++) {
            const dpo_step *st = &parts[p]->steps[k];
            if (n < cap)
                out[n] = (dp_layer_profile){.name = st->name, .impl = st->impl, .calls = st->calls,
                                            .total_ms = (double)st->ns / 1e6, .batch = parts[p]->n};
        }
    *count = n;
    return DP_OK;
}

static void exec_stats(const dp_exec *e, dp_exec_stats *out) {
    const dpo_exec *x = e->impl;
    out->primitives_created = x->created;
    out->shapes_built = x->built;
    out->shapes_evicted = x->evicted;
    out->shapes_held = (uint64_t)x->nshapes;
    out->split_runs = x->split_runs;
    out->arena_bytes = x->arena_size;
    out->scratchpad_bytes = x->scratch_size;
}

const dpi_backend dpi_backend_onednn = {
    .name = "onednn",
    .model_init = dpo_model_init,
    .model_fini = dpo_model_fini,
    .exec_init = exec_init,
    .exec_prepare = exec_prepare,
    .exec_prepare_batches = exec_prepare_batches,
    .exec_run = exec_run,
    .exec_profile = exec_profile,
    .exec_stats = exec_stats,
    .exec_fini = exec_fini,
};
