/* No primitive of the oneDNN backend may fall back to a slow "ref:" implementation: every arch,
 * fp32 and bf16, batch 1 and 64 (prepared only, so this stays fast) at the arch's smallest input
 * (32x32 but for alexnet's 63x63; null has no primitives at all). Where the CPU lacks bf16,
 * loading a bf16 model must fail with DP_ERR_UNSUPPORTED and say why. */
#include "test.h"

static void check(const char *arch, dp_precision p) {
    dp_model_opts o;
    dp_model_opts_init(&o);
    o.precision = p;
    dp_model *m = NULL;
    dp_exec *e = NULL;
    CHECK_OK(dp_model_load(arch, NULL, &o, &m));
    if (!m) return;
    CHECK_OK(dp_exec_create(m, 1, &e));
    int hw = dp_model_min_input_size(m), none = strcmp(arch, "null") == 0;
    for (int n = 1; e && n <= 64; n += 63) {
        CHECK_OK(dp_exec_prepare(e, n, hw, hw));
        dp_layer_profile prof[512];
        int count = 0, refs = 0;
        CHECK_OK(dp_exec_profile(e, prof, 512, &count));
        CHECK(none ? count == 0 : count > 0 && count <= 512);
        for (int i = 0; i < count && i < 512; i++) {
            if (strncmp(prof[i].impl, "ref", 3) == 0) {
                refs++;
                fprintf(stderr, "%s %s batch %d: %s uses %s\n", arch, p == DP_PRECISION_BF16 ? "bf16" : "fp32", n,
                        prof[i].name, prof[i].impl);
            }
        }
        CHECK_MSG(refs == 0, "%s batch %d: %d reference implementations", arch, n, refs);
        printf("%s %s batch %d at %dx%d: %d primitives, none ref (first: %s)\n", arch,
               p == DP_PRECISION_BF16 ? "bf16" : "fp32", n, hw, hw, count, count ? prof[0].impl : "-");
    }
    dp_exec_free(e);
    dp_model_free(m);
}

int main(void) {
    dp_model_opts o;
    dp_model_opts_init(&o);
    o.precision = DP_PRECISION_BF16;
    dp_model *m = NULL;
    dp_status bf16 = dp_model_load("resnet18_cifar", NULL, &o, &m);
    dp_model_free(m);
    if (bf16 != DP_OK) {
        /* The only acceptable failure: a CPU without AVX512-BF16, reported as such. */
        CHECK_STATUS(bf16, DP_ERR_UNSUPPORTED);
        CHECK_ERROR_MENTIONS("AVX512-BF16");
        printf("bf16: unsupported on this CPU (%s)\n", dp_last_error());
    }
    const char *const *archs = dp_model_arch_names();
    for (int a = 0; archs[a]; a++) {
        check(archs[a], DP_PRECISION_FP32);
        if (bf16 == DP_OK) check(archs[a], DP_PRECISION_BF16);
    }
    TEST_MAIN_END();
}
