/* The engine's timed choices (docs/engine.md, "Choosing each convolution" and "Large batches as
 * slices"). Each convolution algorithm, forced in turn with DP_CONV_ALGO, keeps parity with the
 * reference backend (fp32 <= 1e-4 of max |logit|, same top-1; bf16 <= 3e-2 where the CPU has it),
 * and the kernel it names runs (Winograd where oneDNN has it, inner products over 1x1 maps, a
 * depthwise conv's second implementation);
 * the automatic choice is remembered per model, so a second exec builds the same implementations
 * without timing; the whole-net check (per-conv choices vs all chained) follows its table; a bad
 * value is refused. A batch run as slices keeps parity, creates nothing, and its profile lists
 * the slices' layers with their slice sizes. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataparallel.h"
#include "model/onednn_impl.h"
#include "model/model_test_util.h"
#include "test.h"

static dp_model *load(const char *arch, dp_precision p, dp_model_backend be) {
    dp_model_opts o;
    dp_model_opts_init(&o);
    o.seed = 77;
    o.precision = p;
    o.backend = be;
    dp_model *m = NULL;
    CHECK_MSG(dp_model_load(arch, NULL, &o, &m) == DP_OK, "%s: %s", arch, dp_last_error());
    return m;
}

/* Run [2,3,32,32] on a fresh exec; returns 1 if the implementation of any step (of the step
 * named `layer`, if not NULL) contains `needle`. */
static int run_layer(const dp_model *m, const float *x, float *y, const char *needle, const char *layer, char *impls,
                     size_t cap) {
    dp_exec *e = NULL;
    int found = 0;
    CHECK_OK(dp_exec_create(m, 1, &e));
    CHECK_OK(dp_exec_run(e, x, 2, 32, 32, y));
    dp_layer_profile p[128];
    int count = 0;
    CHECK_OK(dp_exec_profile(e, p, 128, &count));
    if (impls) impls[0] = '\0';
    for (int i = 0; i < count && i < 128; i++) {
        found |= needle && strstr(p[i].impl, needle) != NULL && (!layer || strcmp(p[i].name, layer) == 0);
        if (impls) strncat(impls, p[i].impl, cap - strlen(impls) - 1);
    }
    dp_exec_free(e);
    return found;
}

static int run(const dp_model *m, const float *x, float *y, const char *needle, char *impls, size_t cap) {
    return run_layer(m, x, y, needle, NULL, impls, cap);
}

/* expect: 1 the kernel named `needle` (in `layer`, if not NULL) must run, 0 it must not, -1
 * either (the timing decides). */
static void forced_kernel(const char *algo, const char *arch, int bf16, const char *needle, const char *layer,
                          int expect) {
    setenv("DP_CONV_ALGO", algo, 1);
    dp_model *ref = load(arch, DP_PRECISION_FP32, DP_BACKEND_REFERENCE);
    dp_model *dn = load(arch, DP_PRECISION_FP32, DP_BACKEND_ONEDNN);
    dp_model *db = bf16 ? load(arch, DP_PRECISION_BF16, DP_BACKEND_ONEDNN) : NULL;
    float *x = dpt_random_input(2, 32, 32, 5), yr[20], yd[20], yb[20];
    if (ref && dn) {
        run(ref, x, yr, NULL, NULL, 0);
        int found = run_layer(dn, x, yd, needle, layer, NULL, 0);
        double d = dpt_rel_diff(yd, yr, 20);
        CHECK_MSG(d <= 1e-4, "%s %s fp32: rel diff %g vs reference", algo, arch, d);
        int t1[2], t2[2];
        dp_argmax(yr, 2, 10, t1);
        dp_argmax(yd, 2, 10, t2);
        CHECK_MSG(t1[0] == t2[0] && t1[1] == t2[1], "%s %s fp32: top-1 differs", algo, arch);
        CHECK_MSG(expect < 0 || found == expect, "%s %s: %s used: %d", algo, arch, needle, found);
        printf("%s %s: fp32 rel diff %.2g%s%s", algo, arch, d, found ? " with " : "", found ? needle : "");
        if (db) {
            run(db, x, yb, NULL, NULL, 0);
            double dbf = dpt_rel_diff(yb, yr, 20);
            CHECK_MSG(dbf <= 3e-2, "%s %s bf16: rel diff %g vs reference", algo, arch, dbf);
            printf(", bf16 rel diff %.2g", dbf);
        }
        printf("\n");
    }
    free(x);
    dp_model_free(ref);
    dp_model_free(dn);
    dp_model_free(db);
    unsetenv("DP_CONV_ALGO");
}

static void forced(const char *algo, const char *arch, int bf16, int expect_wino) {
    forced_kernel(algo, arch, bf16, "wino", NULL, expect_wino);
}

/* The automatic choice is timed once per model and shape: a second exec gets the same
 * implementations, creating no timing primitives (fewer creations than the first). */
static void remembered(void) {
    dp_model *m = load("resnet18_cifar", DP_PRECISION_FP32, DP_BACKEND_ONEDNN);
    if (!m) return;
    float *x = dpt_random_input(2, 32, 32, 6), y1[20], y2[20];
    char a[4096], b[4096];
    uint64_t c0 = dpo_primitives_created_total(), c1, c2;
    run(m, x, y1, NULL, a, sizeof a);
    c1 = dpo_primitives_created_total();
    run(m, x, y2, NULL, b, sizeof b);
    c2 = dpo_primitives_created_total();
    CHECK_MSG(strcmp(a, b) == 0, "second exec chose differently:\n%s\n%s", a, b);
    CHECK(memcmp(y1, y2, sizeof y1) == 0);
    CHECK_MSG(c2 - c1 < c1 - c0, "first exec created %llu primitives, second %llu", (unsigned long long)(c1 - c0),
              (unsigned long long)(c2 - c1));
    free(x);
    dp_model_free(m);
}

/* The whole-net check follows its table: with the per-conv choices (all free) stored and no
 * verdict, it times and then either keeps them (verdict 0) or makes every conv chain (1); with
 * a verdict stored it changes nothing. Either way the net keeps parity and a second exec builds
 * the same implementations. */
static void whole_net(void) {
    dp_model *ref = load("resnet18_cifar", DP_PRECISION_FP32, DP_BACKEND_REFERENCE);
    dp_model *m = load("resnet18_cifar", DP_PRECISION_FP32, DP_BACKEND_ONEDNN);
    float *x = dpt_random_input(2, 32, 32, 9), yr[20], y1[20], y2[20];
    char a[4096], b[4096];
    if (!ref || !m || !x) goto done;
    const dpi_graph *g = &m->graph;
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].op == DPI_OP_CONV) {
            CHECK_OK(dpo_choice_put(m->impl, i, 2, 32, 32, 1, DPO_CONV_FREE));
            CHECK_OK(dpo_choice_put(m->impl, i, 1, 32, 32, 1, DPO_CONV_FREE));
        }
    CHECK_OK(dpo_choice_put(m->impl, -2, 1, 32, 32, 1, 0));
    run(m, x, y1, NULL, a, sizeof a);
    int verdict = dpo_choice_get(m->impl, -2, 2, 32, 32, 1), kept = 0, chained = 0, convs = 0, kept1 = 0;
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].op == DPI_OP_CONV) {
            int k = dpo_choice_get(m->impl, i, 2, 32, 32, 1);
            convs++, kept += k == DPO_CONV_FREE, chained += k == DPO_CONV_CHAIN;
            kept1 += dpo_choice_get(m->impl, i, 1, 32, 32, 1) == DPO_CONV_FREE;
        }
    CHECK_MSG((verdict == 0 && kept == convs) || (verdict == 1 && chained == convs),
              "whole net: verdict %d, %d of %d convs kept free, %d chained", verdict, kept, convs, chained);
    printf("whole net [2,3,32,32]: %s\n", verdict ? "all chained" : "per-conv choices kept");
    run(m, x, y2, NULL, b, sizeof b);
    CHECK_MSG(strcmp(a, b) == 0, "second exec built differently:\n%s\n%s", a, b);
    CHECK(memcmp(y1, y2, sizeof y1) == 0);
    dp_exec *er = NULL;
    CHECK_OK(dp_exec_create(ref, 1, &er));
    CHECK_OK(dp_exec_run(er, x, 2, 32, 32, yr));
    CHECK_MSG(dpt_rel_diff(y1, yr, 20) <= 1e-4, "whole net: rel diff %g", dpt_rel_diff(y1, yr, 20));
    dp_exec_free(er);
    /* a stored verdict is not timed again: batch 1 keeps its free choices */
    dp_exec *e1 = NULL;
    CHECK_OK(dp_exec_create(m, 1, &e1));
    CHECK_OK(dp_exec_prepare(e1, 1, 32, 32));
    dp_exec_free(e1);
    int still = 0;
    for (int i = 0; i < g->n; i++) still += g->nodes[i].op == DPI_OP_CONV && dpo_choice_get(m->impl, i, 1, 32, 32, 1) == DPO_CONV_FREE;
    CHECK(kept1 == convs && still == convs);
done:
    free(x);
    dp_model_free(ref);
    dp_model_free(m);
}

static dpo_shape *shape_of(const dp_exec *e, int n) {
    const dpo_exec *x = e->impl;
    for (int i = 0; i < x->nshapes; i++)
        if (x->shapes[i]->n == n) return x->shapes[i];
    return NULL;
}

/* The slicing choices are stored before preparing, so both paths are certain whatever timing
 * would say on this machine. */
static void sliced(void) {
    dp_model *ref = load("mobilenetv2_cifar", DP_PRECISION_FP32, DP_BACKEND_REFERENCE);
    dp_model *m = load("mobilenetv2_cifar", DP_PRECISION_FP32, DP_BACKEND_ONEDNN);
    dp_exec *e = NULL;
    float *x = dpt_random_input(20, 32, 32, 8), yr[200], yd[200], y12[120], y11[110];
    if (!ref || !m || !x) goto done;
    CHECK_OK(dpo_choice_put(m->impl, -1, 20, 32, 32, 1, 8));
    CHECK_OK(dpo_choice_put(m->impl, -1, 12, 32, 32, 1, 0));
    CHECK_OK(dpo_choice_put(m->impl, -1, 11, 32, 32, 1, 2));
    CHECK_OK(dp_exec_create(m, 1, &e));
    CHECK_OK(dp_exec_prepare(e, 20, 32, 32));
    CHECK_OK(dp_exec_prepare(e, 12, 32, 32));
    CHECK_OK(dp_exec_prepare(e, 11, 32, 32));
    const dpo_shape *s20 = shape_of(e, 20), *s12 = shape_of(e, 12), *s11 = shape_of(e, 11);
    CHECK(s20 && s20->slice && s20->slice->n == 8 && s20->rest && s20->rest->n == 4 && s20->nsteps == 0);
    CHECK(s12 && !s12->slice && s12->nsteps > 0);
    CHECK(s11 && s11->slice && s11->slice->n == 2 && s11->rest && s11->rest->n == 1 && s11->nsteps == 0);
    dp_exec_stats before = {.size = sizeof before}, after = {.size = sizeof after};
    CHECK_OK(dp_exec_get_stats(e, &before));
    CHECK_OK(dp_exec_set_profiling(e, 1));
    CHECK_OK(dp_exec_run(e, x, 20, 32, 32, yd));
    /* the profile of a sliced run: the slice's layers (2 calls of 8), then the last slice's (1 of 4) */
    dp_layer_profile p[256];
    int np = 0, eights = 0, fours = 0;
    CHECK_OK(dp_exec_profile(e, p, 256, &np));
    /* (the two may differ in steps: each size chooses its convolutions) */
    int n8 = s20->slice->nsteps, n4 = s20->rest->nsteps;
    CHECK(np == n8 + n4 && np <= 256);
    for (int i = 0; i < np && i < 256; i++) {
        eights += i < n8 && p[i].batch == 8 && p[i].calls == 2;
        fours += i >= n8 && p[i].batch == 4 && p[i].calls == 1;
    }
    CHECK_MSG(eights == n8 && fours == n4, "sliced profile: %d of %d rows of 8, %d of %d of 4", eights, n8, fours, n4);
    CHECK_OK(dp_exec_run(e, x, 12, 32, 32, y12));
    CHECK_OK(dp_exec_profile(e, p, 256, &np));
    CHECK(np == s12->nsteps && np > 0 && p[0].batch == 12 && p[0].calls == 1);
    CHECK_OK(dp_exec_run(e, x, 11, 32, 32, y11));
    CHECK_OK(dp_exec_get_stats(e, &after));
    CHECK(after.primitives_created == before.primitives_created);
    dp_exec *er = NULL;
    CHECK_OK(dp_exec_create(ref, 1, &er));
    CHECK_OK(dp_exec_run(er, x, 20, 32, 32, yr));
    double d = dpt_rel_diff(yd, yr, 200), d12 = dpt_rel_diff(y12, yr, 120), d11 = dpt_rel_diff(y11, yr, 110);
    CHECK_MSG(d <= 1e-4 && d12 <= 1e-4 && d11 <= 1e-4, "slices of 8: rel diff %g, whole: %g, slices of 2: %g vs reference",
              d, d12, d11);
    dp_exec_free(er);
done:
    dp_exec_free(e);
    free(x);
    dp_model_free(ref);
    dp_model_free(m);
}

int main(void) {
    dp_model_opts o;
    dp_model_opts_init(&o);
    o.precision = DP_PRECISION_BF16;
    dp_model *probe = NULL;
    int bf16 = dp_model_load("resnet18_cifar", NULL, &o, &probe) == DP_OK;
    dp_model_free(probe);
    if (!bf16) printf("bf16: oneDNN reports no AVX512-BF16/AMX on this CPU, bf16 parity skipped\n");
    unsigned isa = (unsigned)dnnl_get_effective_cpu_isa();
    int avx512 = (isa & (unsigned)dnnl_cpu_isa_avx512_core) == (unsigned)dnnl_cpu_isa_avx512_core;
    /* oneDNN 2.6 has fp32 Winograd on AVX-512 only; elsewhere a forced Winograd runs direct. */
    const char *algos[] = {"chain", "free", "winograd", "auto"};
    const int expect[] = {0, 0, avx512, -1};
    for (int i = 0; i < 4; i++) {
        forced(algos[i], "resnet18_cifar", bf16, expect[i]);
        forced(algos[i], "mobilenetv2_cifar", bf16, expect[i] ? -1 : 0); /* Winograd fits its stem only */
    }
    /* Inner products over 1x1 maps (onednn_ip.c): at 32x32, mobilenet_v2 from features.14 on and
     * resnet18's layer4 (3x3 convs cut to their centre tap, with shortcut sums); any CPU. The
     * cifar archs have no 1x1 map and run chained. */
    const char *ip_layers[][2] = {{"mobilenet_v2", "features.18.0"}, {"resnet18", "layer4.1.conv2"}};
    for (int i = 0; i < 2; i++) {
        forced_kernel("inner_product", ip_layers[i][0], bf16, "gemm", ip_layers[i][1], 1);
        forced_kernel("chain", ip_layers[i][0], 0, "gemm", ip_layers[i][1], 0);
    }
    forced("inner_product", "resnet18_cifar", 0, 0);
    /* A depthwise conv's second implementation (onednn_conv.c, `next`): with AVX-512 oneDNN lists
     * brdgmm_dw first, and chained the conv runs it; forced to `next` never (without AVX-512 there
     * is no brdgmm). Convs that are not grouped have no `next` and run chain. */
    forced_kernel("next", "mobilenet_v2", bf16, "brdgmm", "features.2.conv.1.0", 0);
    forced_kernel("chain", "mobilenet_v2", 0, "brdgmm", "features.2.conv.1.0", avx512);
    forced("next", "resnet18_cifar", 0, 0);
    remembered();
    whole_net();
    sliced();
    setenv("DP_CONV_ALGO", "fastest", 1);
    dp_model *m = NULL;
    dp_model_opts_init(&o);
    CHECK_STATUS(dp_model_load("resnet18_cifar", NULL, &o, &m), DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("DP_CONV_ALGO");
    unsetenv("DP_CONV_ALGO");
    TEST_MAIN_END();
}
