/* int8: calibration (arguments, the file's round trip and hostile files, fitting a model), the
 * reference backend's int8 against its fp32 on every arch, and oneDNN's int8 convolutions over
 * 1x1 maps run as inner products (DP_CONV_ALGO forced) against the reference int8. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <dnnl.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_test_util.h"
#include "test.h"

#define H 32
#define NCAL 8

/* oneDNN 2.6's int8 kernels without VNNI (AVX2, AVX-512 before Cascade Lake) add pairs of u8*s8
 * products in 16 bits with saturation (vpmaddubsw: oneDNN's "Nuances of int8 Computations"), so
 * they are close to the reference int8 but not equal to it: parity needs VNNI, and without it
 * only a bound of the size of int8's own error (NO_VNNI_BOUND of the logit range) is checked. */
#define NO_VNNI_BOUND 0.15
/* With VNNI both backends compute the same integers; their logits differ only by the float
 * rounding of the fp32 tail (global pool, classifier: <= 1.3e-6 of the logit range measured, on
 * vgg16); the residual sum rounded twice instead of once (fused) made resnet18_cifar's differ by
 * 3e-3. */
#define PARITY_BOUND 1e-5
static int vnni;
static const char *const no_vnni = "parity of oneDNN int8 with the reference int8 skipped (bound 0.15 instead): "
                                   "oneDNN's ISA has no VNNI, its int8 sums saturate in 16 bits";

static dp_model *load(const char *arch, uint64_t seed, int k, dp_precision p, dp_model_backend be,
                      const dp_calibration *cal, dp_status want) {
    dp_model_opts o;
    dp_model_opts_init(&o);
    o.backend = be;
    o.num_classes = k;
    o.seed = seed;
    o.precision = p;
    o.calibration = cal;
    dp_model *m = NULL;
    CHECK_STATUS(dp_model_load(arch, NULL, &o, &m), want);
    return m;
}

static dp_calibration *calibrate_at(const dp_model *m, dp_calib_method method, int hw) {
    float *x = dpt_random_input(NCAL, hw, hw, 11);
    dp_dataset *ds = NULL;
    dp_calibration *cal = NULL;
    dp_calib_opts co;
    dp_calib_opts_init(&co);
    co.method = method;
    CHECK_OK(dp_dataset_from_memory(x, NULL, NCAL, 3, hw, hw, &ds));
    CHECK_OK(dp_model_calibrate(m, ds, NCAL, &co, &cal));
    dp_dataset_free(ds);
    free(x);
    return cal;
}

static dp_calibration *calibrate(const dp_model *m, dp_calib_method method) { return calibrate_at(m, method, H); }

/* Every step of e's latest run is an int8 kernel (jit_int8, brgconv with VNNI, ...) or a oneDNN
 * copy, none oneDNN's reference code; returns the second step's (the first conv's) kernel. */
static const char *check_no_ref(const dp_exec *e, const char *arch, int n) {
    static dp_layer_profile prof[512];
    int count = 0, ref = 0;
    CHECK_OK(dp_exec_profile(e, prof, 512, &count));
    for (int k = 0; k < count && k < 512; k++) ref += strncmp(prof[k].impl, "ref", 3) == 0;
    CHECK_MSG(count > 0 && count <= 512 && ref == 0, "%s batch %d: %d of %d steps are oneDNN's ref:", arch, n, ref,
              count);
    return count > 1 ? prof[1].impl : "";
}

/* The calibration saved and loaded gives the same int8 logits (yq, the reference's for x). */
static void check_round_trip(const char *arch, const dp_calibration *cal, const float *x, int hw, const float *yq) {
    dp_calibration *back = NULL;
    CHECK_OK(dp_calibration_save(cal, "int8_arch.cal"));
    CHECK_OK(dp_calibration_load("int8_arch.cal", &back));
    dp_model *q = back ? load(arch, 3, 10, DP_PRECISION_INT8, DP_BACKEND_REFERENCE, back, DP_OK) : NULL;
    dp_exec *e = NULL;
    float y[10];
    if (q && dp_exec_create(q, 1, &e) == DP_OK) {
        CHECK_OK(dp_exec_run(e, x, 1, hw, hw, y));
        CHECK_MSG(memcmp(y, yq, sizeof y) == 0, "%s: int8 logits differ after the calibration's round trip", arch);
    }
    dp_exec_free(e);
    dp_model_free(q);
    dp_calibration_free(back);
}

/* Calibrated int8 (reference) against fp32 on random inputs: close logits on every arch, the
 * same classes, oneDNN's int8 against the reference's at batch 2 and 1, no `ref:` kernel. */
static void check_arch(const char *arch) {
    dp_model *f = load(arch, 3, 10, DP_PRECISION_FP32, DP_BACKEND_REFERENCE, NULL, DP_OK);
    if (!f) return;
    if (dp_model_param_count(f) == 0) { /* null: no activation to calibrate */
        dp_dataset *ds = NULL;
        dp_calibration *none = NULL;
        CHECK_OK(dp_dataset_synthetic(NCAL, 3, H, H, 1, &ds));
        CHECK_STATUS(dp_model_calibrate(f, ds, NCAL, NULL, &none), DP_ERR_UNSUPPORTED);
        CHECK_ERROR_MENTIONS("null");
        dp_dataset_free(ds);
        dp_model_free(f);
        return;
    }
    int hw = dp_model_min_input_size(f) > H ? dp_model_min_input_size(f) : H;
    dp_calibration *cal = calibrate_at(f, DP_CALIB_MINMAX, hw);
    dp_model *q = load(arch, 3, 10, DP_PRECISION_INT8, DP_BACKEND_REFERENCE, cal, DP_OK);
    dp_model *o = load(arch, 3, 10, DP_PRECISION_INT8, DP_BACKEND_ONEDNN, cal, DP_OK);
    dp_exec *ef = NULL, *eq = NULL, *eo = NULL;
    int n = 2;
    float *x = dpt_random_input(n, hw, hw, 5), yf[2 * 10], yq[2 * 10], yo[2 * 10];
    if (q && o && dp_exec_create(f, 1, &ef) == DP_OK && dp_exec_create(q, 1, &eq) == DP_OK &&
        dp_exec_create(o, 1, &eo) == DP_OK) {
        CHECK_OK(dp_exec_run(ef, x, n, hw, hw, yf));
        CHECK_OK(dp_exec_run(eq, x, n, hw, hw, yq));
        CHECK_OK(dp_exec_set_profiling(eo, 1));
        CHECK_OK(dp_exec_run(eo, x, n, hw, hw, yo));
        double d = dpt_rel_diff(yq, yf, (size_t)n * 10), dq = dpt_rel_diff(yo, yq, (size_t)n * 10);
        /* 8-bit activations through ~20-50 layers of random weights: a few % of the logit range. */
        CHECK_MSG(d < 0.1, "%s: int8 vs fp32 relative difference %g", arch, d);
        /* Both fold BN with the factor rounded to float and requantize in float in oneDNN's order
         * (the residual in one fused multiply-add): the same integers with VNNI. */
        CHECK_MSG(dq < (vnni ? PARITY_BOUND : NO_VNNI_BOUND), "%s: oneDNN int8 vs reference int8 %g (int8 vs fp32 %g)", arch,
                  dq, d);
        CHECK(dp_model_precision(q) == DP_PRECISION_INT8 && dp_model_precision(o) == DP_PRECISION_INT8);
        /* the same classes: oneDNN as the reference on every sample, int8 as fp32 (seeded weights,
         * random inputs: the top two logits are rarely within int8's error) */
        int tf[2], tq[2], to[2], t1;
        dp_argmax(yf, n, 10, tf);
        dp_argmax(yq, n, 10, tq);
        dp_argmax(yo, n, 10, to);
        for (int k = 0; k < n; k++) {
            CHECK_MSG(to[k] == tq[k], "%s: sample %d is class %d on oneDNN int8, %d on the reference", arch, k, to[k],
                      tq[k]);
            CHECK_MSG(tq[k] == tf[k], "%s: sample %d is class %d in int8, %d in fp32", arch, k, tq[k], tf[k]);
        }
        const char *first = check_no_ref(eo, arch, n);
        /* batch 1 (concatenations join as at any batch in int8) against the reference's sample 0 */
        float y1[10];
        CHECK_OK(dp_exec_run(eo, x, 1, hw, hw, y1));
        double d1 = dpt_rel_diff(y1, yq, 10);
        dp_argmax(y1, 1, 10, &t1);
        CHECK_MSG(d1 < (vnni ? PARITY_BOUND : NO_VNNI_BOUND) && t1 == tq[0],
                  "%s: oneDNN int8 at batch 1 vs reference %g, class %d vs %d", arch, d1, t1, tq[0]);
        check_no_ref(eo, arch, 1);
        if (strcmp(arch, "densenet121") == 0 || strcmp(arch, "inception_v3") == 0)
            check_round_trip(arch, cal, x, hw, yq);
        printf("%s: int8 vs fp32 %.4f, oneDNN int8 vs reference int8 %.2g (batch 1 %.2g)%s; first conv runs %s\n",
               arch, d, dq, d1, vnni ? "" : " (no VNNI)", first);
    }
    free(x);
    dp_exec_free(ef);
    dp_exec_free(eq);
    dp_exec_free(eo);
    dp_model_free(q);
    dp_model_free(o);
    dp_model_free(f);
    dp_calibration_free(cal);
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static char *read_text(const char *path) {
    FILE *f = fopen(path, "r");
    char *buf = calloc(1, 1 << 16);
    if (f && buf) buf[fread(buf, 1, (1 << 16) - 1, f)] = '\0';
    if (f) fclose(f);
    return buf;
}

/* The saved file with the first occurrence of `from` replaced by `to`, loaded: status and message. */
static void check_edit(const char *good, const char *from, const char *to, dp_status want, const char *mention) {
    const char *at = strstr(good, from);
    CHECK_MSG(at != NULL, "fixture lacks %s", from);
    if (!at) return;
    size_t len = strlen(good) + strlen(to) + 1;
    char *text = malloc(len);
    snprintf(text, len, "%.*s%s%s", (int)(at - good), good, to, at + strlen(from));
    write_file("int8_bad.cal", text);
    dp_calibration *c = NULL;
    CHECK_STATUS(dp_calibration_load("int8_bad.cal", &c), want);
    if (mention) CHECK_ERROR_MENTIONS(mention);
    CHECK(want != DP_OK || c != NULL);
    dp_calibration_free(c);
    free(text);
}

static void check_files(void) {
    dp_model *f = load("resnet18", 3, 10, DP_PRECISION_FP32, DP_BACKEND_REFERENCE, NULL, DP_OK);
    if (!f) return;
    dp_calibration *cal = calibrate(f, DP_CALIB_MINMAX), *pct = calibrate(f, DP_CALIB_PERCENTILE), *back = NULL;
    CHECK(cal && pct && dp_calibration_samples(cal) == NCAL && strcmp(dp_calibration_arch(cal), "resnet18") == 0);
    CHECK_OK(dp_calibration_save(cal, "int8.cal"));
    CHECK_OK(dp_calibration_save(pct, "int8_pct.cal"));
    CHECK_OK(dp_calibration_load("int8.cal", &back));
    /* Round trip: the loaded file gives the same int8 model (same logits) as the measured one. */
    dp_model *a = load("resnet18", 3, 10, DP_PRECISION_INT8, DP_BACKEND_REFERENCE, cal, DP_OK);
    dp_model *b = load("resnet18", 3, 10, DP_PRECISION_INT8, DP_BACKEND_REFERENCE, back, DP_OK);
    dp_exec *ea = NULL, *eb = NULL;
    float *x = dpt_random_input(1, H, H, 9), ya[10], yb[10];
    if (a && b && dp_exec_create(a, 1, &ea) == DP_OK && dp_exec_create(b, 1, &eb) == DP_OK) {
        CHECK_OK(dp_exec_run(ea, x, 1, H, H, ya));
        CHECK_OK(dp_exec_run(eb, x, 1, H, H, yb));
        CHECK(memcmp(ya, yb, sizeof ya) == 0);
    }
    /* A percentile range never exceeds the largest value. */
    char *mm = read_text("int8.cal"), *pc = read_text("int8_pct.cal");
    CHECK(strstr(pc, "method percentile 99.99\n") != NULL && strstr(mm, "method minmax\n") != NULL);
    double rm = 0, rp = 0;
    const char *lm = strstr(mm, "node layer4.1.conv2 "), *lp = strstr(pc, "node layer4.1.conv2 ");
    CHECK(lm && lp && sscanf(lm + 20, "%lf", &rm) == 1 && sscanf(lp + 20, "%lf", &rp) == 1 && rp > 0 && rp <= rm);

    /* Fitting a model: another arch, class count or weights is refused, naming the file. */
    dp_model *m;
    m = load("resnet18_cifar", 3, 10, DP_PRECISION_INT8, DP_BACKEND_REFERENCE, back, DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("int8.cal: calibration is for arch resnet18");
    m = load("resnet18", 3, 7, DP_PRECISION_INT8, DP_BACKEND_REFERENCE, back, DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("7");
    m = load("resnet18", 4, 10, DP_PRECISION_INT8, DP_BACKEND_REFERENCE, back, DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("other weights");
    m = load("resnet18", 3, 10, DP_PRECISION_INT8, DP_BACKEND_REFERENCE, NULL, DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("calibration");
    (void)m;

    /* Hostile files: every one a named DP_ERR_FORMAT / DP_ERR_IO, never a crash or a model. */
    dp_calibration *c = NULL;
    CHECK_STATUS(dp_calibration_load("int8_missing.cal", &c), DP_ERR_IO);
    CHECK_STATUS(dp_calibration_load(".", &c), DP_ERR_IO);
    write_file("int8_bad.cal", "");
    CHECK_STATUS(dp_calibration_load("int8_bad.cal", &c), DP_ERR_FORMAT);
    CHECK_ERROR_MENTIONS("int8_bad.cal:1");
    check_edit(mm, "dp-calibration 1", "dp-calibration 2", DP_ERR_FORMAT, "not a calibration file");
    check_edit(mm, "\nend\n", "\n", DP_ERR_FORMAT, "cut-off");
    check_edit(mm, "\nend\n", "\nend\nmore\n", DP_ERR_FORMAT, "after");
    check_edit(mm, "node conv1 ", "node conv1 nan #", DP_ERR_FORMAT, "not a number");
    check_edit(mm, "node conv1 ", "node conv1 -", DP_ERR_FORMAT, "not a number");
    check_edit(mm, "node conv1 ", "node conv1 1e999", DP_ERR_FORMAT, "not a number");
    check_edit(mm, "node conv1 ", "node conv1 1 ", DP_ERR_FORMAT, "not a number");
    check_edit(mm, "node conv1 ", "node conv/1 ", DP_ERR_FORMAT, "bad node name");
    check_edit(mm, "classes 10", "classes 2.5", DP_ERR_FORMAT, "integer");
    check_edit(mm, "classes 10", "classes 0", DP_ERR_FORMAT, "int8_bad.cal:3");
    check_edit(mm, "weights ", "weights z", DP_ERR_FORMAT, "hex");
    check_edit(mm, "method minmax", "method median", DP_ERR_FORMAT, "method");
    check_edit(mm, "samples ", "samples -", DP_ERR_FORMAT, "samples");
    check_edit(mm, "input ", "input\t", DP_ERR_FORMAT, "input");
    check_edit(mm, "arch resnet18", "arch ../../etc", DP_ERR_FORMAT, "arch");
    char long_name[300];
    memset(long_name, 'x', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    check_edit(mm, "conv1", long_name, DP_ERR_FORMAT, "longer than");
    check_edit(mm, "\n", "\r\n", DP_OK, NULL); /* CRLF line ends are fine */
    /* A well-formed file for a graph with a node less loads, and does not fit the model. */
    check_edit(mm, "node conv1 ", "node conv0 ", DP_OK, NULL);
    CHECK_OK(dp_calibration_load("int8_bad.cal", &c));
    m = load("resnet18", 3, 10, DP_PRECISION_INT8, DP_BACKEND_REFERENCE, c, DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("node 0 is conv0");
    dp_calibration_free(c);
    c = NULL;
    /* Larger than any calibration: refused before it is parsed. */
    FILE *big = fopen("int8_bad.cal", "w");
    if (big) {
        for (int i = 0; i < (1 << 20) / 16 + 1; i++) fputs("node abc 1.0000\n", big);
        fclose(big);
    }
    CHECK_STATUS(dp_calibration_load("int8_bad.cal", &c), DP_ERR_FORMAT);
    CHECK_ERROR_MENTIONS("larger than");
    CHECK(c == NULL);

    free(x);
    free(mm);
    free(pc);
    dp_exec_free(ea);
    dp_exec_free(eb);
    dp_model_free(a);
    dp_model_free(b);
    dp_calibration_free(cal);
    dp_calibration_free(pct);
    dp_calibration_free(back);
    dp_model_free(f);
}

static void check_calibrate_args(void) {
    dp_model *f = load("resnet18", 3, 10, DP_PRECISION_FP32, DP_BACKEND_REFERENCE, NULL, DP_OK);
    float *x = dpt_random_input(2, H, H, 1);
    dp_dataset *ds = NULL, *small = NULL, *grey = NULL;
    dp_calibration *c = NULL;
    dp_calib_opts co;
    dp_calib_opts_init(&co);
    CHECK_OK(dp_dataset_from_memory(x, NULL, 2, 3, H, H, &ds));
    CHECK_OK(dp_dataset_from_memory(x, NULL, 2, 3, 16, 16, &small));
    CHECK_OK(dp_dataset_from_memory(x, NULL, 2, 1, H, H, &grey));
    CHECK_STATUS(dp_model_calibrate(f, ds, 0, NULL, &c), DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("n 0");
    CHECK_STATUS(dp_model_calibrate(f, ds, 3, NULL, &c), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_model_calibrate(f, small, 2, NULL, &c), DP_ERR_SHAPE);
    CHECK_ERROR_MENTIONS("[3,16,16]");
    CHECK_STATUS(dp_model_calibrate(f, grey, 2, NULL, &c), DP_ERR_SHAPE);
    CHECK_STATUS(dp_model_calibrate(NULL, ds, 2, NULL, &c), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_model_calibrate(f, NULL, 2, NULL, &c), DP_ERR_INVALID_ARG);
    co.method = DP_CALIB_PERCENTILE;
    co.percentile = 101;
    CHECK_STATUS(dp_model_calibrate(f, ds, 2, &co, &c), DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("percentile");
    x[H * H + 5] = NAN;
    CHECK_STATUS(dp_model_calibrate(f, ds, 2, NULL, &c), DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("sample 0");
    x[H * H + 5] = INFINITY;
    CHECK_STATUS(dp_model_calibrate(f, ds, 2, NULL, &c), DP_ERR_INVALID_ARG);
    CHECK(c == NULL);
    dp_dataset_free(ds);
    dp_dataset_free(small);
    dp_dataset_free(grey);
    free(x);
    dp_model_free(f);
}

/* The profile row of step `layer` in e's latest run, or NULL. */
static const dp_layer_profile *step_of(const dp_exec *e, const char *layer, dp_layer_profile *prof, int cap) {
    int count = 0;
    CHECK_OK(dp_exec_profile(e, prof, cap, &count));
    for (int k = 0; k < count && k < cap; k++)
        if (strcmp(prof[k].name, layer) == 0) return &prof[k];
    return NULL;
}

/* oneDNN int8 with every conv forced to `algo` on a batch of 4: the same integers as the
 * reference int8, so the logits agree to float rounding of the f32 tail; `layer` runs a kernel
 * named `needle` (expect 1), or not (0), or either (-1). A wrong scale, shift, residual sum or
 * activation would move whole quantization steps. */
static void check_forced(const char *algo, const char *arch, const char *layer, const char *needle, int expect) {
    enum { N = 4 };
    dp_model *f = load(arch, 3, 10, DP_PRECISION_FP32, DP_BACKEND_REFERENCE, NULL, DP_OK);
    dp_calibration *cal = f ? calibrate(f, DP_CALIB_MINMAX) : NULL;
    dp_model *q = load(arch, 3, 10, DP_PRECISION_INT8, DP_BACKEND_REFERENCE, cal, DP_OK);
    setenv("DP_CONV_ALGO", algo, 1);
    dp_model *o = load(arch, 3, 10, DP_PRECISION_INT8, DP_BACKEND_ONEDNN, cal, DP_OK);
    unsetenv("DP_CONV_ALGO");
    dp_exec *eq = NULL, *eo = NULL;
    float *x = dpt_random_input(N, H, H, 21), yq[N * 10], yo[N * 10];
    if (q && o && dp_exec_create(q, 1, &eq) == DP_OK && dp_exec_create(o, 1, &eo) == DP_OK) {
        CHECK_OK(dp_exec_run(eq, x, N, H, H, yq));
        CHECK_OK(dp_exec_run(eo, x, N, H, H, yo));
        dp_layer_profile prof[256];
        const dp_layer_profile *st = step_of(eo, layer, prof, 256);
        int found = st && strstr(st->impl, needle) && strncmp(st->impl, "ref", 3) != 0;
        double d = dpt_rel_diff(yo, yq, N * 10);
        CHECK_MSG(st && (expect < 0 || found == expect), "%s %s: %s runs %s", algo, arch, layer,
                  st ? st->impl : "(no such step)");
        CHECK_MSG(d <= (vnni ? PARITY_BOUND : NO_VNNI_BOUND), "%s %s: oneDNN int8 vs reference int8 %g", algo, arch, d);
        printf("%s %s int8: %s runs %s, vs reference int8 %.2g%s\n", algo, arch, layer, st ? st->impl : "?", d,
               vnni ? "" : " (no VNNI)");
    }
    free(x);
    dp_exec_free(eq);
    dp_exec_free(eo);
    dp_model_free(q);
    dp_model_free(o);
    dp_calibration_free(cal);
    dp_model_free(f);
}

int main(void) {
    unsigned isa = (unsigned)dnnl_get_effective_cpu_isa();
    vnni = (isa & (unsigned)dnnl_cpu_isa_avx512_core_vnni) == (unsigned)dnnl_cpu_isa_avx512_core_vnni ||
           (isa & (unsigned)dnnl_cpu_isa_avx2_vnni) == (unsigned)dnnl_cpu_isa_avx2_vnni;
    if (!vnni) printf("%s\n", no_vnni);
    /* Convs over 1x1 maps as inner products (onednn_ip.c, with VNNI only): at 32x32 mobilenet_v2
     * from features.14 on (s8 and u8 inputs, shortcut sums into s8), resnet18 in layer4 (3x3
     * convs cut to their centre tap, ReLU into u8 shortcuts). */
    const char *ip_layers[][2] = {{"mobilenet_v2", "features.15.conv.2"}, {"resnet18", "layer4.1.conv2"}};
    for (int i = 0; i < 2; i++) {
        check_forced("inner_product", ip_layers[i][0], ip_layers[i][1], "gemm", vnni);
        check_forced("chain", ip_layers[i][0], ip_layers[i][1], "gemm", 0);
    }
    /* A depthwise conv's second implementation (`next`): with VNNI oneDNN lists brdgmm_dw first
     * and jit_int8 next; without, whichever its list has (parity bound only). */
    check_forced("next", "mobilenet_v2", "features.2.conv.1.0", "jit_int8:", vnni ? 1 : -1);
    check_forced("chain", "mobilenet_v2", "features.2.conv.1.0", "brdgmm", vnni ? 1 : -1);
    check_calibrate_args();
    check_files();
    const char *const *archs = dp_model_arch_names();
    for (int i = 0; archs[i]; i++) check_arch(archs[i]);
    printf("%d passed, %d failed\n", dpt_passed, dpt_failed);
    return dpt_failed ? 1 : 0;
}
