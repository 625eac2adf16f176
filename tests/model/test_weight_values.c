/* Weights with impossible values: NaN or inf in a tensor the model uses, and a negative
 * BatchNorm running_var, are DP_ERR_FORMAT naming the tensor (they were loaded silently and gave
 * NaN logits); allow_nonfinite loads NaN for debugging; a tensor nothing uses is not judged. */
#include <stdlib.h>

#include "io/fixtures.h"
#include "model/model_impl.h"
#include "test.h"

#define ARCH "mobilenetv2_cifar"

/* The seeded weights of ARCH as an .npz, with value v at index `at` of tensor `name` (NULL: none)
 * and an unused tensor full of NaN. */
static void export_poisoned(const char *path, const char *name, size_t at, float v) {
    dpi_graph g;
    dpi_weights *w;
    dpi_graph_build(ARCH, 10, &g);
    dpi_weights_seeded(&g, 3, &w);
    fx_zip z = {0};
    for (int i = 0; i < w->n; i++) {
        dpi_tensor *t = &w->t[i];
        if (name && strcmp(t->name, name) == 0) t->data[at] = v;
        fx_zip_add_f32(&z, t->name, t->ndim, t->shape, t->data, 0);
    }
    float nans[4] = {NAN, NAN, INFINITY, -INFINITY};
    fx_zip_add_f32(&z, "unused.buffer", 1, (int64_t[]){4}, nans, 0);
    fx_buf b = fx_zip_end(&z);
    fx_write(path, b.p, b.n);
    free(b.p);
    dpi_weights_free(w);
    dpi_graph_free(&g);
}

static dp_status load(const char *path, int allow_nonfinite) {
    dp_model_opts o;
    dp_model_opts_init(&o);
    o.backend = DP_BACKEND_REFERENCE;
    o.allow_nonfinite = allow_nonfinite;
    dp_model *m = NULL;
    dp_status s = dp_model_load(ARCH, path, &o, &m);
    CHECK(s == DP_OK ? m != NULL : m == NULL);
    dp_model_free(m);
    return s;
}

int main(void) {
    export_poisoned("clean.npz", NULL, 0, 0);
    CHECK_OK(load("clean.npz", 0));

    export_poisoned("nan.npz", "conv1.weight", 17, NAN);
    CHECK_STATUS(load("nan.npz", 0), DP_ERR_FORMAT);
    CHECK_ERROR_MENTIONS("nan.npz: tensor conv1.weight has value nan at index 17");
    CHECK_ERROR_MENTIONS("allow_nonfinite");
    CHECK_OK(load("nan.npz", 1));

    export_poisoned("inf.npz", "linear.bias", 3, -INFINITY);
    CHECK_STATUS(load("inf.npz", 0), DP_ERR_FORMAT);
    CHECK_ERROR_MENTIONS("tensor linear.bias has value -inf at index 3");

    export_poisoned("var.npz", "layers.2.bn2.running_var", 5, -0.5f);
    CHECK_STATUS(load("var.npz", 0), DP_ERR_FORMAT);
    CHECK_ERROR_MENTIONS("tensor layers.2.bn2.running_var has value -0.5 at index 5; a variance cannot be negative");
    CHECK_STATUS(load("var.npz", 1), DP_ERR_FORMAT);

    export_poisoned("nanvar.npz", "bn1.running_var", 0, NAN);
    CHECK_STATUS(load("nanvar.npz", 0), DP_ERR_FORMAT);
    CHECK_ERROR_MENTIONS("bn1.running_var");
    TEST_MAIN_END();
}
