/* .npy: write/read round trips, header versions 1-3, dtype conversion, and every malformed
 * input giving DP_ERR_FORMAT/DP_ERR_IO with a message naming the file. */
#include <stdlib.h>

#include "io/fixtures.h"
#include "io/npy.h"
#include "test.h"

static dp_status read_image(const char *path, fx_buf b, dp_array *a) {
    if (fx_write(path, b.p, b.n) != 0) return DP_ERR_IO;
    free(b.p);
    return dp_npy_read(path, a);
}

int main(void) {
    dp_array a;
    /* Round trip through the writer in 0, 1, 2 and 4 dimensions. */
    float v[24];
    for (int i = 0; i < 24; i++) v[i] = (float)i * 0.5f - 3.0f;
    int64_t s4[4] = {1, 2, 3, 4}, s2[2] = {4, 6}, s1[1] = {24};
    const int64_t *shapes[] = {NULL, s1, s2, s4};
    int ndims[] = {0, 1, 2, 4};
    for (int k = 0; k < 4; k++) {
        CHECK_OK(dp_npy_write("rt.npy", v, ndims[k], shapes[k]));
        CHECK_OK(dp_npy_read("rt.npy", &a));
        CHECK(a.ndim == ndims[k]);
        for (int d = 0; d < a.ndim; d++) CHECK(a.shape[d] == shapes[k][d]);
        size_t count = ndims[k] ? 24 : 1;
        CHECK(a.data && memcmp(a.data, v, count * sizeof *v) == 0);
        dp_array_release(&a);
    }
    /* An empty array. */
    int64_t s0[2] = {0, 5};
    CHECK_OK(dp_npy_write("empty.npy", NULL, 2, s0));
    CHECK_OK(dp_npy_read("empty.npy", &a));
    CHECK(a.ndim == 2 && a.shape[0] == 0 && a.shape[1] == 5 && a.data);
    dp_array_release(&a);
    dp_array_release(NULL);

    /* Versions 2 and 3, float64 and float16 converted. */
    double d64[3] = {1.5, -2.25, 1e-3};
    CHECK_OK(read_image("v2.npy", fx_npy(2, "<f8", "False", 1, (int64_t[]){3}, d64, sizeof d64), &a));
    CHECK(a.ndim == 1 && a.shape[0] == 3 && a.data[0] == 1.5f && a.data[1] == -2.25f && a.data[2] == 1e-3f);
    dp_array_release(&a);
    /* float16: 1.0, -2.0, 65504 (max), 2^-24 (smallest subnormal), +inf */
    uint16_t h16[5] = {0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00};
    CHECK_OK(read_image("v3.npy", fx_npy(3, "<f2", "False", 1, (int64_t[]){5}, h16, sizeof h16), &a));
    CHECK(a.data && a.data[0] == 1.0f && a.data[1] == -2.0f && a.data[2] == 65504.0f &&
          a.data[3] == ldexpf(1.0f, -24) && isinf(a.data[4]));
    dp_array_release(&a);

    /* A shape whose element count overflows: it used to wrap to 0 and write a header promising
     * 2^64 elements with no data after it. */
    int64_t huge[2] = {(int64_t)1 << 62, 4}, huge3[3] = {(int64_t)1 << 40, (int64_t)1 << 40, 2};
    CHECK_STATUS(dp_npy_write("huge.npy", v, 2, huge), DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("huge.npy");
    CHECK_STATUS(dp_npy_write("huge.npy", v, 3, huge3), DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("shape[1]");

    /* Rejected dtypes and layouts. */
    float f4[2] = {1, 2};
    CHECK_STATUS(read_image("be.npy", fx_npy(1, ">f4", "False", 1, (int64_t[]){2}, f4, 8), &a), DP_ERR_FORMAT);
    CHECK_ERROR_MENTIONS("big-endian");
    CHECK_ERROR_MENTIONS("be.npy");
    CHECK(a.data == NULL);
    CHECK_STATUS(read_image("ft.npy", fx_npy(1, "<f4", "True", 1, (int64_t[]){2}, f4, 8), &a), DP_ERR_FORMAT);
    CHECK_ERROR_MENTIONS("Fortran");
    int64_t i8[2] = {1, 2};
    CHECK_STATUS(read_image("i8.npy", fx_npy(1, "<i8", "False", 1, (int64_t[]){2}, i8, 16), &a), DP_ERR_FORMAT);
    CHECK_ERROR_MENTIONS("<i8");
    CHECK_STATUS(read_image("obj.npy", fx_npy(1, "|O", "False", 1, (int64_t[]){2}, i8, 16), &a), DP_ERR_FORMAT);
    CHECK_STATUS(read_image("v9.npy", fx_npy(9, "<f4", "False", 1, (int64_t[]){2}, f4, 8), &a), DP_ERR_FORMAT);
    CHECK_ERROR_MENTIONS("version");
    CHECK_STATUS(read_image("big.npy", fx_npy(1, "<f4", "False", 2, (int64_t[]){1 << 30, 1 << 30}, f4, 8), &a),
                 DP_ERR_FORMAT);
    CHECK_ERROR_MENTIONS("truncated");

    /* Every truncation of a valid file fails cleanly (header or data). */
    fx_buf ok = fx_npy(1, "<f4", "False", 2, s2, v, sizeof v);
    for (size_t cut = 0; cut < ok.n; cut++) {
        dp_array t;
        dp_status s = dpi_npy_parse("cut.npy", ok.p, cut, &t);
        CHECK_MSG(s == DP_ERR_FORMAT && t.data == NULL, "cut at %zu: %s", cut, dp_status_str(s));
    }
    /* Garbage in the header dictionary never crashes and never succeeds. */
    for (size_t i = 10; i < 40; i++) {
        uint8_t *copy = malloc(ok.n);
        memcpy(copy, ok.p, ok.n);
        copy[i] = '?';
        dp_array t;
        dp_status s = dpi_npy_parse("garbled.npy", copy, ok.n, &t);
        if (s == DP_OK) dp_array_release(&t);
        free(copy);
    }
    free(ok.p);

    /* Files that are not there, empty, or not .npy. */
    CHECK_STATUS(dp_npy_read("missing.npy", &a), DP_ERR_IO);
    CHECK_ERROR_MENTIONS("missing.npy");
    CHECK(fx_write("zero.npy", "", 0) == 0);
    CHECK_STATUS(dp_npy_read("zero.npy", &a), DP_ERR_FORMAT);
    CHECK(fx_write("text.npy", "hello world, not numpy", 22) == 0);
    CHECK_STATUS(dp_npy_read("text.npy", &a), DP_ERR_FORMAT);
    CHECK_ERROR_MENTIONS("magic");

    /* Argument checks. */
    CHECK_STATUS(dp_npy_read(NULL, &a), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_npy_read("rt.npy", NULL), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_npy_write("x.npy", v, 9, s4), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_npy_write("x.npy", NULL, 1, s1), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_npy_write("no-such-dir/x.npy", v, 1, s1), DP_ERR_IO);
    TEST_MAIN_END();
}
