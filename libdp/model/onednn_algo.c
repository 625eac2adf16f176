/*
 * oneDNN backend, choosing each convolution's implementation: which candidates exist (direct
 * in the producer's layout, direct in a layout of oneDNN's choosing, Winograd, an inner product
 * over a 1x1 map, a grouped conv's second implementation), the one-time
 * timing that picks among them, and the model-wide table that remembers the pick so every exec
 * of a model (and every later prepare) makes the same choice without timing again. How a
 * candidate is built is in onednn_build.c; docs/engine.md, "Choosing each convolution", says
 * why and what was measured.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "onednn_impl.h"
#include "util/util.h"

const char *const dpo_conv_kind_names[DPO_CONV_KINDS] = {"chain", "free", "winograd", "inner_product", "next"};

typedef struct dpo_choice {
    int node, n, h, w, threads;
    int kind;
    struct dpo_choice *next;
} dpo_choice;

dp_status dpo_conv_policy(int *forced) {
    const char *v = getenv("DP_CONV_ALGO");
    *forced = -1;
    if (!v || !*v || strcmp(v, "auto") == 0) return DP_OK;
    for (int k = 0; k < DPO_CONV_KINDS; k++)
        if (strcmp(v, dpo_conv_kind_names[k]) == 0) {
            *forced = k;
            return DP_OK;
        }
    return dpi_error(DP_ERR_INVALID_ARG, "DP_CONV_ALGO=%s: expected auto, chain, free, winograd, inner_product or next",
                     v);
}

int dpo_choice_get(dpo_model *m, int node, int n, int h, int w, int threads) {
    int kind = -1;
    pthread_mutex_lock(&m->lock);
    for (const dpo_choice *c = m->choices; c; c = c->next)
        if (c->node == node && c->n == n && c->h == h && c->w == w && c->threads == threads) {
            kind = c->kind;
            break;
        }
    pthread_mutex_unlock(&m->lock);
    return kind;
}

dp_status dpo_choice_put(dpo_model *m, int node, int n, int h, int w, int threads, int kind) {
    dpo_choice *c = malloc(sizeof *c);
    if (!c) return dpi_error(DP_ERR_NOMEM, "out of memory choosing convolutions");
    *c = (dpo_choice){node, n, h, w, threads, kind, NULL};
    pthread_mutex_lock(&m->lock);
    for (dpo_choice *old = m->choices; old; old = old->next)
        if (old->node == node && old->n == n && old->h == h && old->w == w && old->threads == threads) {
            old->kind = kind; /* the whole-net verdict overrides a conv's own (choose_net) */
            pthread_mutex_unlock(&m->lock);
            free(c);
            return DP_OK;
        }
    c->next = m->choices;
    m->choices = c;
    pthread_mutex_unlock(&m->lock);
    return DP_OK;
}

void dpo_choices_free(dpo_model *m) {
    for (dpo_choice *c = m->choices, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    m->choices = NULL;
}

/* CPU time of the calling thread: the timing runs at prepare, usually while other workers
 * prepare or run on the same cores, and wall time would charge their time slices to whichever
 * candidate was unlucky. With an OpenMP team the master waits at the end of the parallel
 * region (spinning, so it is charged), which keeps this close to the team's wall time. */
static int64_t thread_cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* At most this many timed runs, and no more once this much time went into one candidate. */
#define TIME_RUNS 3
#define TIME_BUDGET_NS 30000000

double dpo_time_pd(dpo_exec *x, const_dnnl_primitive_desc_t pd, dnnl_memory_t bias) {
    static const int kinds[4] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST, DNNL_ARG_SCRATCHPAD};
    static const dnnl_query_t queries[4] = {dnnl_query_src_md, dnnl_query_weights_md, dnnl_query_dst_md,
                                            dnnl_query_scratchpad_md};
    dnnl_engine_t engine = NULL;
    dnnl_primitive_t prim = NULL;
    dnnl_memory_t mems[4] = {NULL};
    dnnl_exec_arg_t args[5];
    size_t offs[4], total = 0;
    int nargs = 0;
    double best = -1;
    char *buf = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_engine, 0, &engine) != dnnl_success) return -1;
    for (int a = 0; a < 4; a++) {
        const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, queries[a], 0);
        size_t size = md ? dnnl_memory_desc_get_size(md) : 0;
        offs[a] = total;
        total += (size + 63) & ~(size_t)63;
    }
    /* Zeros: the kernels' speed does not depend on the values, and zeros are never denormal. */
    buf = dpi_alloc_aligned(total ? total : 64, 4096);
    if (!buf) goto done;
    memset(buf, 0, total);
    for (int a = 0; a < 4; a++) {
        const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, queries[a], 0);
        if (!md || !dnnl_memory_desc_get_size(md)) continue;
        if (dnnl_memory_create(&mems[a], md, engine, buf + offs[a]) != dnnl_success) goto done;
        args[nargs++] = (dnnl_exec_arg_t){kinds[a], mems[a]};
    }
    if (bias && dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 1))
        args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, bias};
    if (dpo_primitive_create(x, &prim, pd) != dnnl_success) goto done;
    /* One untimed run pages the buffers in and warms the caches, as a served model is warm. */
    if (dnnl_primitive_execute(prim, x->stream, nargs, args) != dnnl_success ||
        dnnl_stream_wait(x->stream) != dnnl_success)
        goto done;
    int64_t spent = 0;
    for (int r = 0; r < TIME_RUNS && spent < TIME_BUDGET_NS; r++) {
        int64_t t0 = thread_cpu_ns();
        if (dnnl_primitive_execute(prim, x->stream, nargs, args) != dnnl_success ||
            dnnl_stream_wait(x->stream) != dnnl_success)
            goto done;
        int64_t dt = thread_cpu_ns() - t0;
        spent += dt;
        if (best < 0 || (double)dt / 1e6 < best) best = (double)dt / 1e6;
    }
done:
    if (prim) dnnl_primitive_destroy(prim);
    for (int a = 0; a < 4; a++)
        if (mems[a]) dnnl_memory_destroy(mems[a]);
    dpi_free_aligned(buf);
    return best;
}
