/* .npz weights: stored and deflate members, NumPy's zip64 local headers, names without .npy,
 * integer buffers tolerated until asked for; truncated, corrupt-CRC, wrong-dtype, wrong-shape,
 * missing-key, empty and garbled files each give the right status, naming file and tensor. */
#include <stdlib.h>

#include "io/fixtures.h"
#include "io/formats.h"
#include "io/weights.h"
#include "test.h"

static float conv_w[2 * 3 * 3 * 3];
static float bias[5] = {1, 2, 3, 4, 5};

static fx_buf make_npz(int method, int zip64) {
    fx_zip z = {0};
    for (size_t i = 0; i < sizeof conv_w / sizeof *conv_w; i++) conv_w[i] = (float)i / 7.0f;
    fx_zip_add_f32(&z, "conv1.weight", 4, (int64_t[]){2, 3, 3, 3}, conv_w, method);
    fx_zip_add_f32(&z, "fc.bias", 1, (int64_t[]){5}, bias, method);
    int64_t steps = 12;
    fx_buf nbt = fx_npy(1, "<i8", "False", 0, NULL, &steps, sizeof steps);
    fx_zip_add(&z, "bn1.num_batches_tracked.npy", nbt.p, nbt.n, method, 1);
    free(nbt.p);
    /* A member in the style of zip writers other than NumPy's: plain local header. */
    double d[2] = {0.5, -8};
    fx_buf f8 = fx_npy(2, "<f8", "False", 1, (int64_t[]){2}, d, sizeof d);
    fx_zip_add(&z, "extra.f64.npy", f8.p, f8.n, method, zip64 ? 2 : 0);
    free(f8.p);
    return fx_zip_end64(&z, zip64);
}

static dp_status load_bytes(const char *path, const uint8_t *p, size_t n, dpi_weights **w) {
    *w = NULL;
    if (fx_write(path, p, n) != 0) return DP_ERR_IO;
    return dpi_weights_load(path, w);
}

int main(void) {
    /* stored, deflate, and deflate with zip64 central directory entries and end records */
    for (int v = 0; v < 3; v++) {
        int method = v ? 8 : 0;
        fx_buf b = make_npz(method, v == 2);
        dpi_weights *w;
        /* The format is sniffed from the content, whatever the file is called. */
        CHECK_OK(load_bytes("misnamed.safetensors", b.p, b.n, &w));
        dpi_weights_free(w);
        CHECK_OK(load_bytes("ok.npz", b.p, b.n, &w));
        if (!w) continue;
        const float *data;
        CHECK(w->n == 4);
        CHECK_OK(dpi_weights_get(w, "conv1.weight", 4, (int64_t[]){2, 3, 3, 3}, &data));
        CHECK(memcmp(data, conv_w, sizeof conv_w) == 0);
        CHECK_OK(dpi_weights_get(w, "fc.bias", 1, (int64_t[]){5}, &data));
        CHECK(data[4] == 5.0f);
        CHECK_OK(dpi_weights_get(w, "extra.f64", 1, (int64_t[]){2}, &data));
        CHECK(data[0] == 0.5f && data[1] == -8.0f);
        /* Present but integer: only an error when a model asks for it. */
        CHECK_STATUS(dpi_weights_get(w, "bn1.num_batches_tracked", 0, NULL, &data), DP_ERR_FORMAT);
        CHECK_ERROR_MENTIONS("<i8");
        CHECK_STATUS(dpi_weights_get(w, "fc.weight", 2, (int64_t[]){5, 512}, &data), DP_ERR_NOT_FOUND);
        CHECK_ERROR_MENTIONS("ok.npz");
        CHECK_ERROR_MENTIONS("fc.weight");
        CHECK_ERROR_MENTIONS("[5,512]");
        CHECK_STATUS(dpi_weights_get(w, "conv1.weight", 4, (int64_t[]){2, 3, 5, 5}, &data), DP_ERR_SHAPE);
        CHECK_ERROR_MENTIONS("conv1.weight has shape [2,3,3,3], expected [2,3,5,5]");
        dpi_weights_free(w);

        /* Every truncation fails with DP_ERR_FORMAT (never a crash, never success). */
        for (size_t cut = 0; cut < b.n; cut++) {
            dpi_weights *t = dpi_weights_new("cut.npz");
            dp_status s = cut == 0 ? DP_ERR_FORMAT : dpi_npz_parse("cut.npz", b.p, cut, t);
            CHECK_MSG(s == DP_ERR_FORMAT, "method %d cut at %zu: %s", method, cut, dp_status_str(s));
            dpi_weights_free(t);
        }
        /* Any single flipped byte: no crash; a flip inside a member's data is caught by its CRC. */
        int caught = 0;
        for (size_t i = 0; i < b.n; i++) {
            b.p[i] ^= 0x5a;
            dpi_weights *t = dpi_weights_new("flip.npz");
            dp_status s = dpi_npz_parse("flip.npz", b.p, b.n, t);
            caught += s != DP_OK;
            dpi_weights_free(t);
            b.p[i] ^= 0x5a;
        }
        CHECK(caught > (int)b.n / 2);
        free(b.p);
    }

    /* Corrupt CRC: the data of a stored member changed after the fact. */
    fx_buf b = make_npz(0, 0);
    size_t at = 30;
    while (at + 5 < b.n && memcmp(b.p + at, "NUMPY", 5) != 0) at++;
    b.p[at + 100] ^= 1; /* inside conv1.weight's data */
    dpi_weights *w;
    CHECK_STATUS(load_bytes("crc.npz", b.p, b.n, &w), DP_ERR_FORMAT);
    CHECK_ERROR_MENTIONS("CRC");
    CHECK_ERROR_MENTIONS("conv1.weight");
    CHECK_ERROR_MENTIONS("crc.npz");
    CHECK(w == NULL);
    free(b.p);

    /* Wrong dtype of a float tensor's data: big-endian. */
    fx_zip z = {0};
    fx_buf be = fx_npy(1, ">f4", "False", 1, (int64_t[]){2}, bias, 8);
    fx_zip_add(&z, "fc.bias.npy", be.p, be.n, 8, 1);
    free(be.p);
    b = fx_zip_end(&z);
    CHECK_OK(load_bytes("dtype.npz", b.p, b.n, &w));
    const float *data;
    if (w) CHECK_STATUS(dpi_weights_get(w, "fc.bias", 1, (int64_t[]){2}, &data), DP_ERR_FORMAT);
    CHECK_ERROR_MENTIONS(">f4");
    CHECK_ERROR_MENTIONS("fc.bias");
    dpi_weights_free(w);
    free(b.p);

    /* A member whose .npy is itself truncated. */
    z = (fx_zip){0};
    fx_buf shortnpy = fx_npy(1, "<f4", "False", 1, (int64_t[]){100}, bias, sizeof bias);
    fx_zip_add(&z, "fc.bias.npy", shortnpy.p, shortnpy.n, 0, 1);
    free(shortnpy.p);
    b = fx_zip_end(&z);
    CHECK_STATUS(load_bytes("short.npz", b.p, b.n, &w), DP_ERR_FORMAT);
    CHECK_ERROR_MENTIONS("short.npz: tensor fc.bias");
    free(b.p);

    /* An empty archive loads (no tensors); an empty file does not. */
    z = (fx_zip){0};
    b = fx_zip_end(&z);
    CHECK_OK(load_bytes("none.npz", b.p, b.n, &w));
    CHECK(w && w->n == 0);
    dpi_weights_free(w);
    free(b.p);
    CHECK_STATUS(load_bytes("empty.npz", (const uint8_t *)"", 0, &w), DP_ERR_FORMAT);
    CHECK_ERROR_MENTIONS("empty");
    CHECK_STATUS(load_bytes("junk.npz", (const uint8_t *)"this is not a zip file", 22, &w), DP_ERR_FORMAT);
    CHECK_ERROR_MENTIONS("junk.npz");
    CHECK_STATUS(dpi_weights_load("does-not-exist.npz", &w), DP_ERR_IO);
    CHECK_ERROR_MENTIONS("does-not-exist.npz");
    dpi_weights_free(NULL);
    TEST_MAIN_END();
}
