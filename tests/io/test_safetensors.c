/* .safetensors weights: F32/F16/BF16/F64 converted, integer tensors tolerated until asked for,
 * metadata skipped; garbage JSON, bad header length, offsets out of range, size mismatches,
 * unknown dtypes and truncation each give DP_ERR_FORMAT naming the file and tensor. */
#include <stdlib.h>

#include "io/fixtures.h"
#include "io/formats.h"
#include "io/weights.h"
#include "test.h"

static dp_status load(const char *path, const char *json, const void *data, size_t n, dpi_weights **w) {
    fx_buf b = fx_safetensors(json, data, n);
    *w = NULL;
    int rc = fx_write(path, b.p, b.n);
    free(b.p);
    return rc ? DP_ERR_IO : dpi_weights_load(path, w);
}

int main(void) {
    /* data: a F32[2,2] at 0, F16[2] at 16, BF16[2] at 20, F64[1] at 24, I64[] at 32 */
    uint8_t data[40];
    float f32[4] = {1.0f, -2.0f, 0.25f, 8.0f};
    uint16_t f16[2] = {0x3c00, 0xb800};  /* 1.0, -0.5 */
    uint16_t bf16[2] = {0x3f80, 0xc040}; /* 1.0, -3.0 */
    double f64 = 0.125;
    int64_t i64 = 7;
    memcpy(data, f32, 16);
    memcpy(data + 16, f16, 4);
    memcpy(data + 20, bf16, 4);
    memcpy(data + 24, &f64, 8);
    memcpy(data + 32, &i64, 8);
    const char *json =
        "{\"__metadata__\":{\"format\":\"pt\"},"
        "\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
        "\"b\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[16,20]},"
        "\"c\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[20,24]},"
        "\"d\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[24,32]},"
        "\"bn.num_batches_tracked\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[32,40]}}";
    dpi_weights *w;
    const float *p;
    CHECK_OK(load("ok.safetensors", json, data, sizeof data, &w));
    if (w) {
        CHECK(w->n == 5);
        CHECK_OK(dpi_weights_get(w, "a", 2, (int64_t[]){2, 2}, &p));
        CHECK(p[1] == -2.0f && p[3] == 8.0f);
        CHECK_OK(dpi_weights_get(w, "b", 1, (int64_t[]){2}, &p));
        CHECK(p[0] == 1.0f && p[1] == -0.5f);
        CHECK_OK(dpi_weights_get(w, "c", 1, (int64_t[]){2}, &p));
        CHECK(p[0] == 1.0f && p[1] == -3.0f);
        CHECK_OK(dpi_weights_get(w, "d", 1, (int64_t[]){1}, &p));
        CHECK(p[0] == 0.125f);
        CHECK_STATUS(dpi_weights_get(w, "bn.num_batches_tracked", 0, NULL, &p), DP_ERR_FORMAT);
        CHECK_ERROR_MENTIONS("I64");
        CHECK_STATUS(dpi_weights_get(w, "a", 1, (int64_t[]){4}, &p), DP_ERR_SHAPE);
        CHECK_ERROR_MENTIONS("ok.safetensors: tensor a has shape [2,2], expected [4]");
        CHECK_STATUS(dpi_weights_get(w, "zzz", 1, (int64_t[]){4}, &p), DP_ERR_NOT_FOUND);
        CHECK_ERROR_MENTIONS("zzz");
        dpi_weights_free(w);
    }

    /* Every truncation of the valid file fails cleanly. */
    fx_buf full = fx_safetensors(json, data, sizeof data);
    for (size_t cut = 0; cut < full.n; cut++) {
        dpi_weights *t = dpi_weights_new("cut.safetensors");
        dp_status s = dpi_safetensors_parse("cut.safetensors", full.p, cut, t);
        CHECK_MSG(s == DP_ERR_FORMAT, "cut at %zu: %s", cut, dp_status_str(s));
        dpi_weights_free(t);
    }
    /* Flipped header bytes: never a crash. */
    for (size_t i = 0; i < full.n - sizeof data; i++) {
        full.p[i] ^= 0x21;
        dpi_weights *t = dpi_weights_new("flip.safetensors");
        (void)dpi_safetensors_parse("flip.safetensors", full.p, full.n, t);
        dpi_weights_free(t);
        full.p[i] ^= 0x21;
    }
    free(full.p);

    static const struct { const char *json; const char *mention; } bad[] = {
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,",  "JSON"},
        {"[1,2,3]", "JSON"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,64]}}", "out of range"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[8,4]}}", "out of range"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3,2],\"data_offsets\":[0,16]}}", "16 bytes for 6 elements"},
        {"{\"a\":{\"dtype\":\"Q7\",\"shape\":[2],\"data_offsets\":[0,8]}}", "unknown dtype Q7"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", "shape"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", "shape"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", "data_offsets"},
        {"{\"a\":7}", "tensor a"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", "dimensions"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", "twice"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_STATUS(load("bad.safetensors", bad[i].json, data, sizeof data, &w), DP_ERR_FORMAT);
        CHECK_ERROR_MENTIONS(bad[i].mention);
        CHECK_ERROR_MENTIONS("bad.safetensors");
        CHECK(w == NULL);
    }
    /* A header length beyond the end of the file. */
    uint8_t hdr[16] = {0xff, 0xff, 0, 0, 0, 0, 0, 0, '{', '}'};
    CHECK(fx_write("long.safetensors", hdr, sizeof hdr) == 0);
    CHECK_STATUS(dpi_weights_load("long.safetensors", &w), DP_ERR_FORMAT);
    CHECK_ERROR_MENTIONS("header length");
    TEST_MAIN_END();
}
