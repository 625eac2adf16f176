/* The adaptive average pool at sizes that are not a multiple of its output (alexnet's 6x6 pool on
 * 2x3 and 13x17 maps: the oneDNN backend runs these as a matmul with an averaging matrix, not as
 * a pool): alexnet's `avgpool` unit alone (a stage of dp_model_split) on both backends against
 * PyTorch's definition computed here. */
#include <stdlib.h>
#include <string.h>

#include "model_test_util.h"
#include "test.h"

#define C 256 /* alexnet's channels at the pool */
#define OUT 6
#define N 2

/* PyTorch's AdaptiveAvgPool2d(OUT): cell o averages rows floor(o*in/OUT) .. ceil((o+1)*in/OUT)-1. */
static void direct(const float *x, int ih, int iw, float *y) {
    for (int p = 0; p < N * C; p++)
        for (int oy = 0; oy < OUT; oy++)
            for (int ox = 0; ox < OUT; ox++) {
                int y0 = oy * ih / OUT, y1 = ((oy + 1) * ih + OUT - 1) / OUT;
                int x0 = ox * iw / OUT, x1 = ((ox + 1) * iw + OUT - 1) / OUT;
                double sum = 0;
                for (int r = y0; r < y1; r++)
                    for (int c = x0; c < x1; c++) sum += x[((size_t)p * ih + r) * iw + c];
                y[((size_t)p * OUT + oy) * OUT + ox] = (float)(sum / ((y1 - y0) * (x1 - x0)));
            }
}

/* The pool stage of alexnet on `be`, its output for x at the image size h x w into y. */
static void run_pool(dp_model_backend be, int h, int w, const float *x, float *y) {
    dp_model_opts o;
    dp_model_opts_init(&o);
    o.backend = be;
    dp_model *m = NULL, *st[3] = {NULL, NULL, NULL};
    dp_exec *e = NULL;
    int pool = -1;
    CHECK_OK(dp_model_load("alexnet", NULL, &o, &m));
    if (m) CHECK_OK(dp_model_unit_index(m, "avgpool", &pool));
    int cuts[2] = {pool, pool + 1};
    if (pool > 0 && dp_model_split(m, cuts, 2, st) == DP_OK && dp_exec_create(st[1], 1, &e) == DP_OK) {
        CHECK_OK(dp_exec_set_profiling(e, 1));
        CHECK_OK(dp_exec_run(e, x, N, h, w, y));
        dp_layer_profile prof[8];
        int count = 0;
        CHECK_OK(dp_exec_profile(e, prof, 8, &count));
        for (int k = 0; k < count && k < 8 && be == DP_BACKEND_ONEDNN; k++) /* a matmul, not oneDNN's reference code */
            CHECK_MSG(strncmp(prof[k].impl, "ref", 3) != 0, "%dx%d: %s runs %s", h, w, prof[k].name, prof[k].impl);
    }
    dp_exec_free(e);
    for (int k = 0; k < 3; k++) dp_model_free(st[k]);
    dp_model_free(m);
}

/* The image size whose feature map at the pool is ih x iw (alexnet: floor steps, monotone). */
static void image_size(int ih, int iw, int *h, int *w) {
    dp_model *m = NULL;
    int in[3] = {0}, out[3], pool = -1;
    *h = *w = 0;
    CHECK_OK(dp_model_load("alexnet", NULL, NULL, &m));
    if (m) CHECK_OK(dp_model_unit_index(m, "avgpool", &pool));
    dp_model *st[2] = {NULL, NULL};
    if (!m || pool < 1 || dp_model_split(m, &pool, 1, st) != DP_OK) return;
    for (int s = 63; s < 2000 && !*h; s++)
        if (dp_model_io_shape(st[1], s, s, in, out) == DP_OK && in[1] == ih) *h = s;
    for (int s = 63; s < 2000 && !*w; s++)
        if (dp_model_io_shape(st[1], s, s, in, out) == DP_OK && in[2] == iw) *w = s;
    for (int k = 0; k < 2; k++) dp_model_free(st[k]);
    dp_model_free(m);
}

static void check(int ih, int iw) {
    int h, w;
    image_size(ih, iw, &h, &w);
    CHECK_MSG(h > 0 && w > 0, "no image size gives a %dx%d map", ih, iw);
    if (!h || !w) return;
    size_t out = (size_t)N * C * OUT * OUT;
    float *x = dpt_random_input(N * C, ih, iw, 7); /* [N*C*3, ih, iw]: the first third is used */
    float *want = malloc(out * sizeof *want), *onednn = calloc(out, sizeof *onednn), *ref = calloc(out, sizeof *ref);
    direct(x, ih, iw, want);
    run_pool(DP_BACKEND_ONEDNN, h, w, x, onednn);
    run_pool(DP_BACKEND_REFERENCE, h, w, x, ref);
    double d_onednn = dpt_rel_diff(onednn, want, out), d_ref = dpt_rel_diff(ref, want, out);
    /* sums of at most 9 values: only float rounding apart */
    CHECK_MSG(d_onednn < 1e-6, "%dx%d (image %dx%d): oneDNN vs direct %g", ih, iw, h, w, d_onednn);
    CHECK_MSG(d_ref < 1e-6, "%dx%d (image %dx%d): reference vs direct %g", ih, iw, h, w, d_ref);
    printf("%dx%d -> %dx%d (image %dx%d): oneDNN %.2g, reference %.2g of the largest value\n", ih, iw, OUT, OUT, h, w,
           d_onednn, d_ref);
    free(x);
    free(want);
    free(onednn);
    free(ref);
}

int main(void) {
    check(2, 3);   /* alexnet at 100x140 (tests/parity/test_parity_archs.py): both axes uneven */
    check(13, 17); /* rows a plain pool (kernel 3, stride 2), columns not: still the matmul */
    printf("%d passed, %d failed\n", dpt_passed, dpt_failed);
    return dpt_failed ? 1 : 0;
}
