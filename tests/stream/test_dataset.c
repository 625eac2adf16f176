/* Data sets: synthetic (deterministic per seed and index, also from several threads), caller
 * memory (borrowed), callback, .npy [N,C,H,W], and bad arguments. CIFAR-10 is in tests/io. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "test.h"

static void test_synthetic(void) {
    dp_dataset *a = NULL, *b = NULL, *c = NULL;
    CHECK_OK(dp_dataset_synthetic(50, 3, 4, 5, 9, &a));
    CHECK_OK(dp_dataset_synthetic(50, 3, 4, 5, 9, &b));
    CHECK_OK(dp_dataset_synthetic(50, 3, 4, 5, 10, &c));
    if (!a || !b || !c) return;
    int ch, h, w;
    dp_dataset_shape(a, &ch, &h, &w);
    CHECK(dp_dataset_count(a) == 50 && ch == 3 && h == 4 && w == 5);
    float x[60], y[60], z[60];
    int32_t la, lb;
    int same = 1, in_range = 1, labels = 1, differ = 0, varied = 0;
    for (int64_t i = 49; i >= 0; i--) { /* any order gives the same samples */
        CHECK_OK(dp_dataset_get(a, i, x, &la));
        CHECK_OK(dp_dataset_get(b, i, y, &lb));
        CHECK_OK(dp_dataset_get(c, i, z, NULL));
        same &= memcmp(x, y, sizeof x) == 0;
        differ += memcmp(x, z, sizeof x) != 0;
        labels &= la == i % 10 && lb == la;
        for (int k = 0; k < 60; k++) {
            in_range &= x[k] >= -1 && x[k] <= 1;
            varied += x[k] != x[0];
        }
    }
    CHECK(same && in_range && labels && differ == 50 && varied > 50 * 50);
    CHECK_OK(dp_dataset_get(a, 0, x, NULL));
    CHECK_OK(dp_dataset_get(a, 1, y, NULL));
    CHECK(memcmp(x, y, sizeof x) != 0);
    dp_dataset_free(a);
    dp_dataset_free(b);
    dp_dataset_free(c);
}

typedef struct reader {
    dp_dataset *ds;
    double sum;
} reader;

static void *read_all(void *arg) {
    reader *r = arg;
    float x[3 * 8 * 8];
    for (int rep = 0; rep < 4; rep++)
        for (int64_t i = 0; i < dp_dataset_count(r->ds); i++) {
            if (dp_dataset_get(r->ds, i, x, NULL) != DP_OK) return NULL;
            for (int k = 0; k < 3 * 8 * 8; k++) r->sum += x[k] * (double)(i + 1);
        }
    return NULL;
}

static void test_concurrent_get(void) {
    dp_dataset *ds = NULL;
    CHECK_OK(dp_dataset_synthetic(200, 3, 8, 8, 3, &ds));
    reader r[3] = {{ds, 0}, {ds, 0}, {ds, 0}};
    pthread_t th[2];
    for (int t = 0; t < 2; t++) pthread_create(&th[t], NULL, read_all, &r[t]);
    read_all(&r[2]);
    for (int t = 0; t < 2; t++) pthread_join(th[t], NULL);
    CHECK(r[0].sum == r[2].sum && r[1].sum == r[2].sum && r[2].sum != 0);
    dp_dataset_free(ds);
}

static void test_memory(void) {
    float data[2 * 1 * 2 * 2] = {1, 2, 3, 4, 5, 6, 7, 8};
    int32_t labels[2] = {7, 3};
    dp_dataset *ds = NULL;
    CHECK_OK(dp_dataset_from_memory(data, labels, 2, 1, 2, 2, &ds));
    float x[4];
    int32_t label = 0;
    CHECK_OK(dp_dataset_get(ds, 1, x, &label));
    CHECK(x[0] == 5 && x[3] == 8 && label == 3);
    data[4] = 50; /* borrowed, not copied */
    CHECK_OK(dp_dataset_get(ds, 1, x, NULL));
    CHECK(x[0] == 50);
    dp_dataset_free(ds);
    CHECK_OK(dp_dataset_from_memory(data, NULL, 2, 1, 2, 2, &ds));
    CHECK_OK(dp_dataset_get(ds, 0, x, &label));
    CHECK(label == -1 && x[1] == 2);
    dp_dataset_free(ds);
}

static int fill(int64_t i, float *dst, int32_t *label, void *user) {
    if (i == *(int64_t *)user) return 17;
    for (int k = 0; k < 6; k++) dst[k] = (float)(i * 10 + k);
    *label = (int32_t)(i % 4);
    return 0;
}

static void test_callback(void) {
    int64_t fail_at = 3;
    dp_dataset *ds = NULL;
    CHECK_OK(dp_dataset_callback(5, 1, 2, 3, fill, &fail_at, &ds));
    float x[6];
    int32_t label;
    CHECK_OK(dp_dataset_get(ds, 2, x, &label));
    CHECK(x[0] == 20 && x[5] == 25 && label == 2);
    CHECK_STATUS(dp_dataset_get(ds, 3, x, &label), DP_ERR_IO);
    CHECK_ERROR_MENTIONS("sample 3");
    dp_dataset_free(ds);
}

/* A version 1 .npy written by hand (not by the library under test). */
static void write_npy(const char *path, const char *shape, const float *data, size_t n) {
    char header[128];
    int len = snprintf(header, sizeof header, "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }", shape);
    int total = 10 + len + 1;
    int pad = (64 - total % 64) % 64;
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    uint16_t hlen = (uint16_t)(len + pad + 1);
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    fwrite(&hlen, 2, 1, f);
    fwrite(header, 1, (size_t)len, f);
    for (int i = 0; i < pad; i++) fputc(' ', f);
    fputc('\n', f);
    fwrite(data, sizeof *data, n, f);
    fclose(f);
}

static void test_npy(void) {
    float data[3 * 2 * 2 * 2];
    for (int i = 0; i < 24; i++) data[i] = (float)i * 0.5f;
    write_npy("ds.npy", "(3, 2, 2, 2)", data, 24);
    dp_dataset *ds = NULL;
    CHECK_OK(dp_dataset_npy("ds.npy", &ds));
    if (ds) {
        int c, h, w;
        dp_dataset_shape(ds, &c, &h, &w);
        CHECK(dp_dataset_count(ds) == 3 && c == 2 && h == 2 && w == 2);
        float x[8];
        int32_t label = 5;
        CHECK_OK(dp_dataset_get(ds, 2, x, &label));
        CHECK(x[0] == 8 && x[7] == 11.5f && label == -1);
        dp_dataset_free(ds);
    }
    write_npy("flat.npy", "(4, 6)", data, 24);
    CHECK_STATUS(dp_dataset_npy("flat.npy", &ds), DP_ERR_SHAPE);
    CHECK_ERROR_MENTIONS("flat.npy: array has shape [4,6]");
    CHECK(ds == NULL);
    write_npy("zero.npy", "(3, 0, 2, 4)", data, 0);
    CHECK_STATUS(dp_dataset_npy("zero.npy", &ds), DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("zero.npy");
    /* No samples, but samples of (2^31-1)^3 floats: c*h*w once overflowed int64 (UBSan). */
    write_npy("vast.npy", "(0, 2147483647, 2147483647, 2147483647)", data, 0);
    CHECK_STATUS(dp_dataset_npy("vast.npy", &ds), DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("vast.npy");
    CHECK_STATUS(dp_dataset_npy("missing.npy", &ds), DP_ERR_IO);
    CHECK_ERROR_MENTIONS("missing.npy");
}

static void test_bad_args(void) {
    dp_dataset *ds = NULL;
    CHECK_STATUS(dp_dataset_synthetic(10, 0, 32, 32, 1, &ds), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_dataset_synthetic(-1, 3, 32, 32, 1, &ds), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_dataset_synthetic(10, 3, 1 << 20, 1 << 20, 1, &ds), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_dataset_synthetic(10, 3, 32, 32, 1, NULL), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_dataset_from_memory(NULL, NULL, 2, 3, 32, 32, &ds), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_dataset_callback(2, 3, 32, 32, NULL, NULL, &ds), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_dataset_npy(NULL, &ds), DP_ERR_INVALID_ARG);
    CHECK(ds == NULL);
    CHECK_OK(dp_dataset_synthetic(0, 3, 32, 32, 1, &ds)); /* empty is allowed (batch of N = 0) */
    float x[4];
    CHECK_STATUS(dp_dataset_get(ds, 0, x, NULL), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_dataset_get(ds, -1, x, NULL), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_dataset_get(NULL, 0, x, NULL), DP_ERR_INVALID_ARG);
    dp_dataset_free(ds);
    dp_dataset_free(NULL);
    CHECK(dp_dataset_count(NULL) == 0);
    dp_normalize n = dp_normalize_identity();
    CHECK(n.mean[0] == 0 && n.std[2] == 1);
}

int main(void) {
    test_synthetic();
    test_concurrent_get();
    test_memory();
    test_callback();
    test_npy();
    test_bad_args();
    TEST_MAIN_END();
}
