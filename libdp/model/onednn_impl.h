/*
 * Private state of the oneDNN backend, shared by onednn_backend.c (model, weights),
 * onednn_exec.c (contexts, shapes, run) and onednn_build.c (the graph into primitives for one
 * input shape).
 *
 * Model (immutable, shared by every exec): one CPU engine, the BN-folded weights in plain layout,
 * and a cache of those weights reordered into the layouts the primitives asked for. The cache is
 * filled while an exec prepares a shape (under `lock`); the run path never touches it.
 * Exec (one thread): a stream, one user-mode scratchpad, one activation arena, and its prepared
 * shapes, each a flat list of primitives with their arguments bound.
 */
#ifndef DP_MODEL_ONEDNN_IMPL_H
#define DP_MODEL_ONEDNN_IMPL_H

#include <dnnl.h>
#include <pthread.h>

#include "model_impl.h"

/* The kernel taps a conv actually uses for one input size: taps that only ever meet padding
 * (a 3x3 conv on a 1x1 map uses its centre only) are cut, which is exact and saves reading
 * their weights. y0, x0: first tap kept; kh, kw: taps kept; pad_*: padding of the cut conv. */
typedef struct dpo_window {
    int y0, x0, kh, kw;
    int pad_t, pad_l, pad_b, pad_r;
} dpo_window;

/* A weight tensor (window of taps) reordered into the layout one primitive wants. */
typedef struct dpo_wcache {
    int node;
    dpo_window win;
    dnnl_memory_desc_t md;
    dnnl_memory_t mem;
    struct dpo_wcache *next;
} dpo_wcache;

/* The folded parameters of one CONV or LINEAR node. */
typedef struct dpo_layer {
    float *w;                 /* plain OIHW, GOIHW (grouped) or [K,C,1,1] (linear) */
    float *b;                 /* [cout]: folded BN shift or the layer's bias; NULL if none */
    dnnl_memory_desc_t w_md;  /* the plain layout of w */
    dnnl_memory_t b_mem;      /* wraps b (f32 in every precision) */
    int8_t *wq;               /* int8: w quantized (then w_md is s8, b the requantized shift) */
    float *oscale;            /* int8: [cout] output scales (onednn_int8.c) */
    dnnl_memory_t stats[3];   /* BN_RELU: scale-shift [2,C], mean, variance (all in w) */
} dpo_layer;

typedef struct dpo_model {
    dnnl_engine_t engine;
    dnnl_data_type_t dt;      /* activations and weights: f32 or bf16 */
    dpo_layer *layers;        /* one per graph node (zero for pools) */
    pthread_mutex_t lock;     /* guards wcache and choices; taken only while preparing a shape */
    pthread_mutex_t net_lock; /* one exec at a time times a whole net (onednn_net.c); the others
                                 take its verdict */
    dpo_wcache *wcache;
    int conv_force;           /* DP_CONV_ALGO: a dpo_conv_kind every conv uses, or -1 (time them) */
    struct dpo_choice *choices; /* per (conv, input shape, threads): the kind its timing picked */
} dpo_model;

/* a concat of Inception's widest module: six parts, its output, the scratchpad */
#define DPO_MAX_ARGS 8

typedef struct dpo_step {
    dnnl_primitive_t prim;
    int nargs;
    dnnl_exec_arg_t args[DPO_MAX_ARGS];
    const char *name, *impl;  /* interned in the exec: valid while it lives, as the profile API says */
    uint64_t calls;
    int64_t ns;
} dpo_step;

/* Everything prepared for one input shape. Activations live in the exec's arena (one per exec,
 * shared by its shapes, which never run at the same time): offs[] keeps each memory object's
 * offset so the handles can be re-pointed when the arena grows. */
typedef struct dpo_shape {
    int n, h, w;
    int pinned;               /* prepared explicitly: kept until the exec is freed */
    uint64_t used;            /* LRU tick (unpinned shapes only are evicted) */
    int nsteps;
    dpo_step *steps;
    int nmems;
    dnnl_memory_t *mems;      /* activations (handles into the arena) and the two user wrappers */
    size_t *offs;             /* arena offset of mems[v], DPO_USER for the user wrappers */
    dnnl_memory_t in, out;    /* wrap the caller's input and logits; re-pointed when they move */
    const void *in_ptr;
    void *out_ptr;
    size_t arena_size;        /* arena bytes this shape needs */
    size_t scratch;           /* scratchpad bytes the largest step needs */
    /* Runs as consecutive slices of these two held shapes (NULL: runs its own steps), where
     * timing at prepare found slices faster per sample (onednn_exec.c, run_sliced). */
    struct dpo_shape *slice, *rest;
} dpo_shape;

#define DPO_USER ((size_t)-1)

/* Shapes built by dp_exec_run() for sizes nobody prepared are cached, least recently used
 * evicted beyond this many; prepared shapes do not count against it. */
#define DPO_UNPINNED_SHAPES 4

/* A range declared by dp_exec_prepare_batches(): runs of 1..max samples at h x w. */
typedef struct dpo_batches {
    int h, w, max;
} dpo_batches;

typedef struct dpo_exec {
    dnnl_stream_t stream;
    dnnl_memory_t scratch;    /* one scratchpad for every primitive of this exec */
    size_t scratch_size;
    void *arena;              /* activations of whichever shape runs */
    size_t arena_size;
    int nshapes, cap_shapes;
    dpo_shape **shapes;       /* each allocated on its own: pointers stay valid as the list changes */
    dpo_shape *last;          /* shape of the latest run (its steps are the profile) */
    uint64_t tick;
    int nbatches, cap_batches;
    dpo_batches *batches;
    uint64_t created, built, evicted, split_runs;  /* dp_exec_stats */
    int was_profiling;
    int chain_all;            /* build every conv as chain (choose_net's alternative) */
    int nstrings, cap_strings;
    char **strings;           /* distinct layer and implementation names of every shape built */
} dpo_exec;

/* int8: quantize conv i's folded weights and requantize its bias in L (onednn_int8.c). */
dp_status dpo_int8_layer(const dp_model *m, int i, dpo_layer *L);
/* A dense plain copy of the window's taps of L->wq and its descriptor (*md); NULL when out of
 * memory. oneDNN cannot reorder a strided s8 view into the layouts that carry s8 compensation. */
int8_t *dpo_int8_window(const dpo_layer *L, const dpo_window *win, dnnl_memory_desc_t *md);

/* The model side of the backend (onednn_backend.c): fold and keep the weights. */
dp_status dpo_model_init(dp_model *m, const dpi_weights *w);
void dpo_model_fini(dp_model *m);

/* A copy of s owned by x (one per distinct string); NULL when out of memory. */
const char *dpo_intern(dpo_exec *x, const char *s);

/* A oneDNN failure as a dp_status with a message naming the call and the layer. */
dp_status dpo_error(dnnl_status_t st, const char *what, const char *layer);

/* Run a oneDNN call; on failure set `s` (a dp_status in scope) and jump to the `fail` label. */
#define DNN(call, what, layer)                   \
    do {                                         \
        dnnl_status_t st_ = (call);              \
        if (st_ != dnnl_success) {               \
            s = dpo_error(st_, what, layer);     \
            goto fail;                           \
        }                                        \
    } while (0)

/* The window of node's weights in layout md: from the cache, or reordered now (uses x's stream;
 * the reorder primitive counts as one x created). */
dp_status dpo_weights_get(dpo_model *m, dpo_exec *x, int node, const dpo_window *win,
                          const dnnl_memory_desc_t *md, dnnl_memory_t *out);

/* dnnl_primitive_create() that counts the creation in x and in the process-wide total. */
dnnl_status_t dpo_primitive_create(dpo_exec *x, dnnl_primitive_t *prim, const_dnnl_primitive_desc_t pd);
/* Primitives created by every exec of the process so far (for tests of whole runs). */
uint64_t dpo_primitives_created_total(void);

/* The ways a convolution can run (onednn_algo.c; docs/engine.md, "Choosing each convolution"):
 * direct reading its producer's layout (no reorder), direct in the layouts oneDNN prefers (which
 * admits brgconv, at the price of a reorder where they differ), Winograd where oneDNN has it, an
 * inner product over the batch where the map is 1x1 (onednn_ip.c), and for a grouped conv the
 * implementation oneDNN lists second, in layouts of its choosing (oneDNN 2.6 lists brdgmm_dw
 * before its jit_dw / jit_int8 depthwise kernels, which are often faster). */
typedef enum {
    DPO_CONV_CHAIN,
    DPO_CONV_FREE,
    DPO_CONV_WINOGRAD,
    DPO_CONV_IP,
    DPO_CONV_NEXT,
    DPO_CONV_KINDS
} dpo_conv_kind;
extern const char *const dpo_conv_kind_names[DPO_CONV_KINDS];

/* DP_CONV_ALGO from the environment: *forced = a kind, or -1 for auto (unset or "auto"). */
dp_status dpo_conv_policy(int *forced);
/* The kind chosen before for this conv and shape, or -1; a choice is stored once timed (put
 * replaces an earlier one). Node -1 keeps the slicing verdict, -2 the whole-net one. */
int dpo_choice_get(dpo_model *m, int node, int n, int h, int w, int threads);
dp_status dpo_choice_put(dpo_model *m, int node, int n, int h, int w, int threads, int kind);
void dpo_choices_free(dpo_model *m);
/* Milliseconds of this thread's CPU time for one run of pd on zeroed buffers (best of a few,
 * after a warm-up run); bias is bound if pd has one. Creates one primitive; < 0 if it fails. */
double dpo_time_pd(dpo_exec *x, const_dnnl_primitive_desc_t pd, dnnl_memory_t bias);

/* Build every primitive for inputs [n,3,h,w]; the scratchpad and the arena handles are left for
 * the caller to bind (sh->scratch, sh->arena_size, sh->offs). On failure *s is left empty. */
dp_status dpo_shape_build(const dp_exec *e, int n, int h, int w, dpo_shape *s);
void dpo_shape_free(dpo_shape *s);

/* The exec's shapes (onednn_exec.c): the shape [n,3,h,w], built if not held; one run of it; the
 * exec's arena and scratchpad grown for a shape, and a shape (or all held ones) bound to them. */
dp_status dpo_get_shape(dp_exec *e, int n, int h, int w, int pinned, dpo_shape **out);
dp_status dpo_run_shape(dp_exec *e, dpo_shape *sh, const float *in, float *logits);
dp_status dpo_grow_buffers(dpo_exec *x, const dpo_model *om, const dpo_shape *sh);
dp_status dpo_bind_shape(dpo_exec *x, dpo_shape *sh);
dp_status dpo_bind_shapes(dpo_exec *x);

/* Whole-shape choices, timed once and kept in the model (onednn_net.c): sh's convs as chosen one
 * by one or all chained; a batch of more than DPO_SLICE as slices of a smaller size (known: the
 * kept size, 0 whole, -1 none). */
#define DPO_SLICE 8
dp_status dpo_choose_net(dp_exec *e, dpo_shape *sh);
dp_status dpo_choose_slices(dp_exec *e, dpo_shape *sh, int known);

#endif
