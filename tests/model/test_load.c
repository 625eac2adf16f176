/* dp_model_load from files: a seeded model exported to .npz/.safetensors reloads to identical
 * logits; missing/mis-shaped/unconvertible tensors, unknown archs, bad options and bad exec
 * arguments give the documented status and a message naming file and tensor. */
#include <stdlib.h>

#include "io/fixtures.h"
#include "model/model_impl.h"
#include "model/model_test_util.h"
#include "test.h"

enum { SKIP_NONE = -1 };

/* Write the seeded weights of arch as an .npz, leaving out tensor `skip` and optionally
 * replacing tensor `reshape` by one of the wrong shape; adds a num_batches_tracked buffer. */
static void export_npz(const char *path, const char *arch, int k, uint64_t seed, int skip, int reshape) {
    dpi_graph g;
    dpi_weights *w;
    dpi_graph_build(arch, k, &g);
    dpi_weights_seeded(&g, seed, &w);
    fx_zip z = {0};
    for (int i = 0; i < w->n; i++) {
        const dpi_tensor *t = &w->t[i];
        if (i == skip) continue;
        if (i == reshape) {
            int64_t wrong[1] = {t->shape[0] + 1};
            float *zeros = calloc((size_t)wrong[0], sizeof *zeros);
            fx_zip_add_f32(&z, t->name, 1, wrong, zeros, 8);
            free(zeros);
            continue;
        }
        fx_zip_add_f32(&z, t->name, t->ndim, t->shape, t->data, i % 2 ? 8 : 0);
    }
    int64_t steps = 100;
    fx_buf nbt = fx_npy(1, "<i8", "False", 0, NULL, &steps, sizeof steps);
    fx_zip_add(&z, "bn1.num_batches_tracked.npy", nbt.p, nbt.n, 0, 1);
    free(nbt.p);
    fx_buf b = fx_zip_end(&z);
    fx_write(path, b.p, b.n);
    free(b.p);
    dpi_weights_free(w);
    dpi_graph_free(&g);
}

/* The same weights as an F32 .safetensors file. */
static void export_safetensors(const char *path, const char *arch, int k, uint64_t seed) {
    dpi_graph g;
    dpi_weights *w;
    dpi_graph_build(arch, k, &g);
    dpi_weights_seeded(&g, seed, &w);
    fx_buf json = {0}, data = {0};
    fx_put(&json, "{", 1);
    for (int i = 0; i < w->n; i++) {
        const dpi_tensor *t = &w->t[i];
        size_t count = 1;
        char entry[512];
        int n = snprintf(entry, sizeof entry, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[", i ? "," : "", t->name);
        for (int d = 0; d < t->ndim; d++) {
            n += snprintf(entry + n, sizeof entry - n, "%s%lld", d ? "," : "", (long long)t->shape[d]);
            count *= (size_t)t->shape[d];
        }
        n += snprintf(entry + n, sizeof entry - n, "],\"data_offsets\":[%zu,%zu]}", data.n, data.n + count * 4);
        fx_put(&json, entry, (size_t)n);
        fx_put(&data, t->data, count * 4);
    }
    fx_put(&json, "}", 2); /* with the NUL */
    fx_buf b = fx_safetensors((const char *)json.p, data.p, data.n);
    fx_write(path, b.p, b.n);
    free(b.p);
    free(json.p);
    free(data.p);
    dpi_weights_free(w);
    dpi_graph_free(&g);
}

static int run(const char *arch, const char *path, uint64_t seed, const float *x, float *y) {
    dp_model_opts o;
    dp_model_opts_init(&o);
    o.backend = DP_BACKEND_REFERENCE;
    o.num_classes = 5;
    o.seed = seed;
    dp_model *m;
    dp_exec *e;
    if (dp_model_load(arch, path, &o, &m) != DP_OK) return -1;
    int rc = dp_exec_create(m, 1, &e) == DP_OK && dp_exec_run(e, x, 2, 32, 32, y) == DP_OK ? 0 : -1;
    dp_exec_free(e);
    dp_model_free(m);
    return rc;
}

int main(void) {
    const char *arch = "mobilenet_v2";
    float *x = dpt_random_input(2, 32, 32, 11), a[10], b[10], c[10];

    /* Round trip: seeded == exported and reloaded, from both formats. */
    export_npz("seeded.npz", arch, 5, 3, SKIP_NONE, SKIP_NONE);
    export_safetensors("seeded.safetensors", arch, 5, 3);
    CHECK(run(arch, NULL, 3, x, a) == 0);
    CHECK_MSG(run(arch, "seeded.npz", 0, x, b) == 0, "%s", dp_last_error());
    CHECK_MSG(run(arch, "seeded.safetensors", 0, x, c) == 0, "%s", dp_last_error());
    CHECK(memcmp(a, b, sizeof a) == 0);
    CHECK(memcmp(a, c, sizeof a) == 0);
    /* A different seed gives different weights. */
    CHECK(run(arch, NULL, 4, x, b) == 0 && memcmp(a, b, sizeof a) != 0);

    /* A missing tensor and a mis-shaped one are named, with the file. */
    dp_model_opts o;
    dp_model_opts_init(&o);
    o.backend = DP_BACKEND_REFERENCE;
    o.num_classes = 5;
    dp_model *m = (dp_model *)1;
    export_npz("missing.npz", arch, 5, 3, 7, SKIP_NONE);
    CHECK_STATUS(dp_model_load(arch, "missing.npz", &o, &m), DP_ERR_NOT_FOUND);
    CHECK(m == NULL);
    CHECK_ERROR_MENTIONS("missing.npz");
    CHECK_ERROR_MENTIONS("features.1.conv.0.1"); /* the 8th tensor: a BN of the first block */
    export_npz("shape.npz", arch, 5, 3, SKIP_NONE, 2);
    CHECK_STATUS(dp_model_load(arch, "shape.npz", &o, &m), DP_ERR_SHAPE);
    CHECK_ERROR_MENTIONS("shape.npz: tensor features.0.1.bias has shape [33], expected [32]");
    /* Weights of another class count. */
    o.num_classes = 6;
    CHECK_STATUS(dp_model_load(arch, "seeded.npz", &o, &m), DP_ERR_SHAPE);
    CHECK_ERROR_MENTIONS("classifier.1.weight");
    /* Weights of another arch. */
    CHECK_STATUS(dp_model_load("resnet18", "seeded.npz", &o, &m), DP_ERR_NOT_FOUND);
    CHECK_ERROR_MENTIONS("conv1.weight");
    CHECK_STATUS(dp_model_load(arch, "no-such-file.npz", &o, &m), DP_ERR_IO);
    CHECK_ERROR_MENTIONS("no-such-file.npz");

    /* Arguments and options. */
    CHECK_STATUS(dp_model_load("resnet101", NULL, NULL, &m), DP_ERR_NOT_FOUND);
    CHECK_ERROR_MENTIONS("resnet101");
    CHECK_STATUS(dp_model_load(NULL, NULL, NULL, &m), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_model_load(arch, NULL, NULL, NULL), DP_ERR_INVALID_ARG);
    o.num_classes = 0;
    CHECK_STATUS(dp_model_load(arch, NULL, &o, &m), DP_ERR_INVALID_ARG);
    o.num_classes = 5;
    o.precision = DP_PRECISION_BF16;
    CHECK_STATUS(dp_model_load(arch, NULL, &o, &m), DP_ERR_UNSUPPORTED);
    CHECK_ERROR_MENTIONS("bf16");
    o.precision = (dp_precision)7;
    CHECK_STATUS(dp_model_load(arch, NULL, &o, &m), DP_ERR_INVALID_ARG);
    o.precision = DP_PRECISION_FP32;
    o.backend = (dp_model_backend)9;
    CHECK_STATUS(dp_model_load(arch, NULL, &o, &m), DP_ERR_INVALID_ARG);
    o.backend = DP_BACKEND_REFERENCE;
    o.size = 3;
    CHECK_STATUS(dp_model_load(arch, NULL, &o, &m), DP_ERR_INVALID_ARG);
    o.size = sizeof o;
    const char *const *names = dp_model_arch_names();
    int count = 0;
    while (names[count]) count++;
    CHECK(count == 12 && strcmp(names[0], "resnet18") == 0 && strcmp(names[count - 1], "null") == 0);

    /* Exec arguments. */
    CHECK_OK(dp_model_load(arch, NULL, &o, &m));
    CHECK(dp_model_min_input_size(m) == 32 && dp_model_input_channels(m) == 3);
    CHECK(dp_model_precision(m) == DP_PRECISION_FP32);
    dp_exec *e = NULL;
    CHECK_STATUS(dp_exec_create(m, 0, &e), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_exec_create(NULL, 1, &e), DP_ERR_INVALID_ARG);
    CHECK_OK(dp_exec_create(m, 1, &e));
    CHECK_STATUS(dp_exec_run(e, x, 1, 31, 32, a), DP_ERR_SHAPE);
    CHECK_ERROR_MENTIONS("31x32");
    CHECK_STATUS(dp_exec_run(e, x, 0, 32, 32, a), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_exec_run(e, NULL, 1, 32, 32, a), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_exec_run(e, x, 1, 32, 32, NULL), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_exec_run(NULL, x, 1, 32, 32, a), DP_ERR_INVALID_ARG);
    CHECK_OK(dp_exec_prepare(e, 2, 32, 32));
    CHECK_STATUS(dp_exec_prepare(e, 2, 8, 32), DP_ERR_SHAPE);

    /* Profiling: one entry per layer, time accumulates only when on. */
    dp_layer_profile prof[128];
    int nprof = 0;
    CHECK_OK(dp_exec_set_profiling(e, 1));
    CHECK_OK(dp_exec_run(e, x, 2, 32, 32, a));
    CHECK_OK(dp_exec_profile(e, prof, 128, &nprof));
    CHECK(nprof > 50 && nprof <= 128);
    CHECK(strcmp(prof[0].name, "features.0.0") == 0 && prof[0].calls == 1 && prof[0].impl);
    double total = 0;
    for (int i = 0; i < nprof && i < 128; i++) total += prof[i].total_ms;
    CHECK(total > 0);
    CHECK_OK(dp_exec_profile(e, NULL, 0, &nprof));
    CHECK_STATUS(dp_exec_profile(e, NULL, 4, &nprof), DP_ERR_INVALID_ARG);
    dp_exec_free(e);
    dp_exec_free(NULL);
    dp_model_free(m);
    dp_model_free(NULL);

    /* dp_argmax: first index on ties. */
    float l[6] = {1, 3, 3, -1, -5, -2};
    int top[2];
    dp_argmax(l, 2, 3, top);
    CHECK(top[0] == 1 && top[1] == 0);
    free(x);
    TEST_MAIN_END();
}
