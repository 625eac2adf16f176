/* Fashion-MNIST IDX files written here (plain and gzip): the 28x28 -> 3x32x32 padding, the
 * replicated channels, labels, normalisation, directory vs file paths, and broken files. */
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <zlib.h>

#include "test.h"

#define N 5
#define SIDE 28

static void be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint8_t pixel(int i, int y, int x) { return (uint8_t)(1 + 3 * i + 5 * y + 11 * x); }

/* An IDX file: magic, dims, then payload; through gzwrite when gz (zlib writes plain with "wbT"). */
static void write_idx(const char *path, int gz, uint32_t magic, int ndim, const uint32_t *dims, const uint8_t *data,
                      size_t len) {
    uint8_t head[16];
    be32(head, magic);
    for (int d = 0; d < ndim; d++) be32(head + 4 + 4 * d, dims[d]);
    gzFile f = gzopen(path, gz ? "wb" : "wbT");
    CHECK(f != NULL);
    if (!f) return;
    gzwrite(f, head, (unsigned)(4 + 4 * ndim));
    if (len) gzwrite(f, data, (unsigned)len);
    gzclose(f);
}

static void write_pair(const char *dir, const char *split, int gz, int n_images, int n_labels, int bad_label) {
    uint8_t img[N * SIDE * SIDE], lab[N];
    for (int i = 0; i < N; i++) {
        lab[i] = (uint8_t)(9 - i);
        for (int y = 0; y < SIDE; y++)
            for (int x = 0; x < SIDE; x++) img[(i * SIDE + y) * SIDE + x] = pixel(i, y, x);
    }
    if (bad_label) lab[2] = 10;
    char path[512];
    uint32_t idims[3] = {(uint32_t)n_images, SIDE, SIDE}, ldims[1] = {(uint32_t)n_labels};
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte%s", dir, split, gz ? ".gz" : "");
    write_idx(path, gz, 0x803, 3, idims, img, (size_t)n_images * SIDE * SIDE);
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte%s", dir, split, gz ? ".gz" : "");
    write_idx(path, gz, 0x801, 1, ldims, lab, (size_t)n_labels);
}

/* Every pixel of every sample against the padding rule, with identity normalisation. */
static void check_samples(dp_dataset *ds) {
    CHECK(dp_dataset_count(ds) == N);
    int c, h, w;
    dp_dataset_shape(ds, &c, &h, &w);
    CHECK(c == 3 && h == 32 && w == 32);
    float x[3 * 32 * 32];
    int bad = 0;
    for (int i = 0; i < N; i++) {
        int32_t label = -1;
        CHECK_OK(dp_dataset_get(ds, i, x, &label));
        CHECK(label == 9 - i);
        for (int ch = 0; ch < 3; ch++)
            for (int y = 0; y < 32; y++)
                for (int xx = 0; xx < 32; xx++) {
                    int inside = y >= 2 && y < 30 && xx >= 2 && xx < 30;
                    float want = inside ? (float)pixel(i, y - 2, xx - 2) / 255.0f : 0.0f;
                    bad += x[(ch * 32 + y) * 32 + xx] != want;
                }
    }
    CHECK_MSG(bad == 0, "%d pixels differ from the padded, replicated image", bad);
}

int main(void) {
    const char *dir = "fmnist_test";
    char path[512];
    mkdir(dir, 0755);
    dp_normalize id = dp_normalize_identity();
    dp_dataset *ds = NULL;

    /* gzip-compressed test pair, by directory and by images file */
    write_pair(dir, "t10k", 1, N, N, 0);
    CHECK_OK(dp_dataset_fashion_mnist(dir, &id, &ds));
    if (ds) check_samples(ds);
    dp_dataset_free(ds);
    snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte.gz", dir);
    CHECK_OK(dp_dataset_fashion_mnist(path, &id, &ds));
    if (ds) check_samples(ds);
    dp_dataset_free(ds);

    /* uncompressed "train" pair by file name */
    write_pair(dir, "train", 0, N, N, 0);
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte", dir);
    CHECK_OK(dp_dataset_fashion_mnist(path, &id, &ds));
    if (ds) check_samples(ds);
    dp_dataset_free(ds);

    /* default normalisation: Fashion-MNIST's statistics */
    CHECK_OK(dp_dataset_fashion_mnist(path, NULL, &ds));
    if (ds) {
        float x[3 * 32 * 32];
        dp_normalize fm = dp_normalize_fashion_mnist();
        CHECK_OK(dp_dataset_get(ds, 1, x, NULL));
        CHECK(x[0] == (0.0f - fm.mean[0]) / fm.std[0]);
        CHECK(x[2 * 32 + 2] == ((float)pixel(1, 0, 0) / 255.0f - fm.mean[0]) / fm.std[0]);
    }
    dp_dataset_free(ds);

    /* errors name the file */
    write_pair(dir, "bad1", 0, N, N - 1, 0);
    snprintf(path, sizeof path, "%s/bad1-images-idx3-ubyte", dir);
    CHECK_STATUS(dp_dataset_fashion_mnist(path, NULL, &ds), DP_ERR_FORMAT);
    CHECK_ERROR_MENTIONS("bad1-labels-idx1-ubyte has 4 labels");
    CHECK(ds == NULL);
    write_pair(dir, "bad2", 0, N, N, 1);
    snprintf(path, sizeof path, "%s/bad2-images-idx3-ubyte", dir);
    CHECK_STATUS(dp_dataset_fashion_mnist(path, NULL, &ds), DP_ERR_FORMAT);
    CHECK_ERROR_MENTIONS("label 10 of sample 2");
    /* images file claims more images than it holds */
    uint8_t few[SIDE * SIDE] = {0};
    uint32_t dims[3] = {N, SIDE, SIDE};
    snprintf(path, sizeof path, "%s/cut-images-idx3-ubyte", dir);
    write_idx(path, 0, 0x803, 3, dims, few, sizeof few);
    CHECK_STATUS(dp_dataset_fashion_mnist(path, NULL, &ds), DP_ERR_FORMAT);
    CHECK_ERROR_MENTIONS("cut-images-idx3-ubyte: 784 bytes of data for 3920 expected");
    /* wrong magic: a label file where the images should be */
    snprintf(path, sizeof path, "%s/t10k-labels-idx1-ubyte.gz", dir);
    char images[512];
    snprintf(images, sizeof images, "%s/swap-images-idx3-ubyte", dir);
    write_idx(images, 0, 0x801, 1, dims, few, N);
    CHECK_STATUS(dp_dataset_fashion_mnist(images, NULL, &ds), DP_ERR_FORMAT);
    CHECK_ERROR_MENTIONS("not an IDX image file");
    /* labels file missing */
    snprintf(path, sizeof path, "%s/lonely-images-idx3-ubyte", dir);
    write_idx(path, 0, 0x803, 3, dims, (uint8_t[N * SIDE * SIDE]){0}, (size_t)N * SIDE * SIDE);
    CHECK_STATUS(dp_dataset_fashion_mnist(path, NULL, &ds), DP_ERR_IO);
    CHECK_ERROR_MENTIONS("lonely-labels-idx1-ubyte");
    /* not an images file name, a directory without the test pair, a missing path */
    snprintf(path, sizeof path, "%s/t10k-labels-idx1-ubyte.gz", dir);
    CHECK_STATUS(dp_dataset_fashion_mnist(path, NULL, &ds), DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("images-idx3-ubyte");
    mkdir("fmnist_empty", 0755);
    CHECK_STATUS(dp_dataset_fashion_mnist("fmnist_empty", NULL, &ds), DP_ERR_NOT_FOUND);
    CHECK_ERROR_MENTIONS("fmnist_empty: no t10k-images-idx3-ubyte");
    CHECK_STATUS(dp_dataset_fashion_mnist("no/such/dir", NULL, &ds), DP_ERR_IO);
    CHECK_STATUS(dp_dataset_fashion_mnist(NULL, NULL, &ds), DP_ERR_INVALID_ARG);
    dp_normalize zero = {{0, 0, 0}, {1, 0, 1}};
    CHECK_STATUS(dp_dataset_fashion_mnist(dir, &zero, &ds), DP_ERR_INVALID_ARG);
    CHECK(ds == NULL);
    TEST_MAIN_END();
}
