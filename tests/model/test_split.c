/* Splitting a model into stages: the units and legal cuts of every arch, chained stages against
 * the unsplit model (onednn fp32 and bf16 with one kernel kind forced, fp32 as timed, reference),
 * stage shapes and parameter counts, the per-unit profile, and bad arguments. The planner is
 * tested in test_split_plan.c. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <stdlib.h>

#include "model_test_util.h"
#include "test.h"

static dp_model *load(const char *arch, dp_precision p, dp_model_backend be) {
    dp_model_opts o;
    dp_model_opts_init(&o);
    o.num_classes = 10;
    o.seed = 77;
    o.precision = p;
    o.backend = be;
    dp_model *m = NULL;
    dp_status s = dp_model_load(arch, NULL, &o, &m);
    return s == DP_OK ? m : NULL;
}

/* Run x (n images of hw x hw) through the stages in turn; logits into y. 0 on failure. */
static int chain(dp_model **stages, int ns, const float *x, int n, int hw, float *y, int prepare) {
    const float *in = x;
    float *buf = NULL;
    int ok = 1;
    for (int k = 0; k < ns && ok; k++) {
        int ci[3], co[3];
        CHECK_OK(dp_model_io_shape(stages[k], hw, hw, ci, co));
        float *out = k == ns - 1 ? y : malloc(sizeof(float) * (size_t)n * co[0] * co[1] * co[2]);
        dp_exec *e = NULL;
        dp_status s = dp_exec_create(stages[k], 1, &e);
        /* Prepared sizes 1..n+1 (not more: each batched shape of a concat arch times its convs). */
        if (!s && prepare) s = dp_exec_prepare_batches(e, n + 1, hw, hw);
        if (!s) s = dp_exec_run(e, in, n, hw, hw, out);
        CHECK_MSG(s == DP_OK, "stage %d: %s", k, dp_last_error());
        ok = s == DP_OK;
        dp_exec_free(e);
        free(buf);
        buf = k == ns - 1 ? NULL : out;
        in = out;
    }
    free(buf);
    return ok;
}

/* Split m at cuts, check shapes and parameter counts, chain, compare with ref (the unsplit
 * logits): max relative difference into *diff, 1 returned when bit-identical. */
static int split_and_compare(const dp_model *m, const int *cuts, int ncuts, const float *x, int n, int hw,
                             const float *ref, int prepare, double *diff) {
    dp_model *st[8];
    CHECK_OK(dp_model_split(m, cuts, ncuts, st));
    size_t params = 0;
    int prev[3] = {3, hw, hw};
    for (int k = 0; k <= ncuts; k++) {
        int ci[3], co[3];
        CHECK(dp_model_is_stage(st[k]));
        CHECK_OK(dp_model_io_shape(st[k], hw, hw, ci, co));
        CHECK_MSG(ci[0] == prev[0] && ci[1] == prev[1] && ci[2] == prev[2], "%s stage %d input [%d,%d,%d]",
                  dp_model_arch(m), k, ci[0], ci[1], ci[2]);
        memcpy(prev, co, sizeof prev);
        params += dp_model_param_count(st[k]);
    }
    CHECK(prev[0] == 10 && prev[1] == 1 && prev[2] == 1);
    CHECK_MSG(params == dp_model_param_count(m), "%s: stages hold %zu params, the model %zu", dp_model_arch(m), params,
              dp_model_param_count(m));
    float *y = calloc((size_t)n * 10, sizeof *y);
    int same = 0;
    *diff = 1;
    if (chain(st, ncuts + 1, x, n, hw, y, prepare)) {
        *diff = dpt_rel_diff(y, ref, (size_t)n * 10);
        same = memcmp(y, ref, sizeof(float) * (size_t)n * 10) == 0;
    }
    free(y);
    for (int k = 0; k <= ncuts; k++) dp_model_free(st[k]);
    return same;
}

/* The unit lists: names, count, legal cuts, costs that add up to the model's. */
static void test_units(void) {
    static const struct { const char *arch; int units; const char *first_cut, *last_cut; } want[] = {
        {"resnet18", 12, "maxpool", "fc"}, {"mobilenet_v2", 21, "features.1", "classifier.1"},
        {"resnet18_cifar", 11, "layer1.0", "linear"}, {"mobilenetv2_cifar", 21, "layers.0", "linear"},
    };
    for (size_t a = 0; a < sizeof want / sizeof want[0]; a++) {
        dp_model *m = load(want[a].arch, DP_PRECISION_FP32, DP_BACKEND_ONEDNN);
        CHECK(m != NULL);
        if (!m) continue;
        dp_unit_info u[64];
        int n = 0, idx = -1;
        CHECK_OK(dp_model_units(m, 32, 32, u, 64, &n));
        CHECK_MSG(n == want[a].units, "%s: %d units", want[a].arch, n);
        if (n < 2) {
            dp_model_free(m);
            continue;
        }
        CHECK(strcmp(u[1].name, want[a].first_cut) == 0 && strcmp(u[n - 1].name, want[a].last_cut) == 0);
        CHECK_OK(dp_model_unit_index(m, want[a].last_cut, &idx));
        CHECK(idx == n - 1);
        size_t bytes = 0;
        for (int k = 0; k < n; k++) bytes += u[k].param_bytes;
        /* Folded weights: every conv and linear keeps a bias, BN's 4 vectors become none. */
        CHECK(bytes > 4 * (dp_model_param_count(m) / 2) && bytes < 4 * dp_model_param_count(m));
        CHECK(u[0].flops > 0 && u[n - 1].out_bytes == 10 * sizeof(float) && u[n - 1].ms == 0);
        dp_model_free(m);
    }
}

/* Every stage reads the layout the unsplit model has at its cut, so with the same kernels the
 * chain must be bit-identical (the reference backend runs the same loops either way). Each model
 * times its own kernel choice, and close calls may go either way (docs/pipeline.md): with
 * `timed`, the chain must agree to float rounding instead. */
static void test_chains(dp_precision p, dp_model_backend be, int timed) {
    const char *const *archs = dp_model_arch_names();
    const int n = 3;
    for (int a = 0; archs[a]; a++) {
        dp_model *m = load(archs[a], p, be);
        if (!m) {
            CHECK_MSG(0, "%s: %s", archs[a], dp_last_error());
            continue;
        }
        int hw = dp_model_min_input_size(m) > 32 ? dp_model_min_input_size(m) : 32;
        dp_unit_info u[64];
        int nu = 0;
        CHECK_OK(dp_model_units(m, hw, hw, u, 64, &nu));
        if (nu < 4) { /* null: no layer, nothing to cut */
            CHECK(strcmp(archs[a], "null") == 0 && nu == 0);
            dp_model_free(m);
            continue;
        }
        float *x = dpt_random_input(n, hw, hw, 5);
        float ref[3 * 10];
        dp_exec *e = NULL;
        CHECK_OK(dp_exec_create(m, 1, &e));
        CHECK_OK(dp_exec_run(e, x, n, hw, hw, ref));
        dp_exec_free(e);
        /* Next to the first and the last legal point, the middle, and three at once. */
        const int sets[][3] = {{1}, {nu - 1}, {nu / 2}, {1, nu / 2, nu - 1}, {2, 3}};
        const int counts[] = {1, 1, 1, 3, 2};
        for (int c = 0; c < 5; c++) {
            double diff;
            int same = split_and_compare(m, sets[c], counts[c], x, n, hw, ref, c == 4, &diff);
            CHECK_MSG(timed ? diff <= 1e-5 : same, "%s %s%s cut before %s (+%d more): relative difference %g", archs[a],
                      be == DP_BACKEND_REFERENCE ? "reference" : p == DP_PRECISION_BF16 ? "bf16" : "fp32",
                      timed ? " timed" : "", u[sets[c][0]].name, counts[c] - 1, diff);
        }
        free(x);
        dp_model_free(m);
    }
}

/* A stage exec prepared for 1..20 runs 11 samples as slices of prepared sizes: its rows are
 * the stage's activations, not images and logits. */
static void test_split_runs(void) {
    dp_model *m = load("mobilenetv2_cifar", DP_PRECISION_FP32, DP_BACKEND_ONEDNN), *st[2];
    int cut = 6, ci[3], co[3], n = 11;
    CHECK_OK(dp_model_split(m, &cut, 1, st));
    CHECK_OK(dp_model_io_shape(st[1], 32, 32, ci, co));
    size_t rows = (size_t)ci[0] * ci[1] * ci[2];
    float *x = malloc(sizeof(float) * n * rows), *y = malloc(sizeof(float) * n * 10), *z = malloc(sizeof(float) * n * 10);
    for (size_t i = 0; i < n * rows; i++) x[i] = (float)(i % 13) / 13.0f;
    dp_exec *e = NULL, *f = NULL;
    CHECK_OK(dp_exec_create(st[1], 1, &e));
    CHECK_OK(dp_exec_prepare_batches(e, 20, 32, 32));
    CHECK_OK(dp_exec_run(e, x, n, 32, 32, y));
    dp_exec_stats stats = {.size = sizeof stats};
    CHECK_OK(dp_exec_get_stats(e, &stats));
    CHECK(stats.split_runs == 1);
    CHECK_OK(dp_exec_create(st[1], 1, &f));
    CHECK_OK(dp_exec_run(f, x, n, 32, 32, z));
    CHECK_MSG(dpt_rel_diff(y, z, (size_t)n * 10) <= 1e-6, "sliced run differs by %g", dpt_rel_diff(y, z, (size_t)n * 10));
    dp_exec_free(e);
    dp_exec_free(f);
    free(x);
    free(y);
    free(z);
    dp_model_free(st[0]);
    dp_model_free(st[1]);
    dp_model_free(m);
}

static void test_profile(void) {
    dp_model *m = load("resnet18_cifar", DP_PRECISION_FP32, DP_BACKEND_ONEDNN), *st[2];
    int cut = 5, n = 0;
    dp_unit_info u[16];
    CHECK_OK(dp_model_split(m, &cut, 1, st));
    CHECK_OK(dp_model_profile(st[1], 2, 1, 32, 32, 2, u, 16, &n));
    CHECK(n == 6 && strcmp(u[0].name, "layer3.0") == 0);
    for (int k = 0; k < n; k++) CHECK_MSG(u[k].ms > 0, "%s: %g ms", u[k].name, u[k].ms);
    CHECK_STATUS(dp_model_profile(st[1], 0, 1, 32, 32, 2, u, 16, &n), DP_ERR_INVALID_ARG);
    dp_model_free(st[0]);
    dp_model_free(st[1]);
    dp_model_free(m);
}

static void test_errors(void) {
    dp_model *m = load("resnet18_cifar", DP_PRECISION_FP32, DP_BACKEND_ONEDNN), *st[4];
    int bad[][2] = {{0, 3}, {3, 3}, {5, 2}, {1, 11}};
    for (int k = 0; k < 4; k++) CHECK_STATUS(dp_model_split(m, bad[k], 2, st), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_model_split(m, NULL, 1, st), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_model_split(NULL, bad[0], 0, st), DP_ERR_INVALID_ARG);
    int idx;
    CHECK_STATUS(dp_model_unit_index(m, "layer2.0.conv1", &idx), DP_ERR_NOT_FOUND);
    CHECK_ERROR_MENTIONS("layer3.0");
    int one = 4, in[3], out[3];
    CHECK_OK(dp_model_split(m, &one, 1, st));
    CHECK_STATUS(dp_model_split(st[0], &one, 1, st + 2), DP_ERR_UNSUPPORTED);
    CHECK_STATUS(dp_model_io_shape(st[1], 16, 32, in, out), DP_ERR_SHAPE);
    CHECK_OK(dp_model_io_shape(st[1], 32, 32, in, out));
    CHECK(in[0] == 128 && in[1] == 16 && out[0] == 10);
    /* dp_exec_run on a stage checks its arguments like on a model. */
    dp_exec *e = NULL;
    CHECK_OK(dp_exec_create(st[1], 1, &e));
    CHECK_STATUS(dp_exec_run(e, NULL, 1, 32, 32, (float *)in), DP_ERR_INVALID_ARG);
    dp_exec_free(e);
    CHECK(!dp_model_is_stage(m) && !dp_model_is_stage(NULL));
    dp_model_free(st[0]);
    dp_model_free(st[1]);
    dp_model_free(m);
}

int main(void) {
    test_units();
    setenv("DP_CONV_ALGO", "chain", 1); /* one kernel per conv for every model: bit-identical chains */
    test_chains(DP_PRECISION_FP32, DP_BACKEND_ONEDNN, 0);
    test_chains(DP_PRECISION_FP32, DP_BACKEND_REFERENCE, 0);
    dp_model *probe = load("resnet18_cifar", DP_PRECISION_BF16, DP_BACKEND_ONEDNN);
    if (probe) test_chains(DP_PRECISION_BF16, DP_BACKEND_ONEDNN, 0);
    else printf("skipped bf16: %s\n", dp_last_error());
    dp_model_free(probe);
    unsetenv("DP_CONV_ALGO");
    test_chains(DP_PRECISION_FP32, DP_BACKEND_ONEDNN, 1);
    test_split_runs();
    test_profile();
    test_errors();
    TEST_MAIN_END();
}
