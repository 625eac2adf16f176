/* dp-infer — run a model over an .npy batch and write the logits as .npy. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "flags.h"

/* Inputs are run in chunks so that activation memory stays bounded for large files. */
#define CHUNK 64
/* Largest height or width taken from a file: far beyond any CNN input, small enough that
 * 3*H*W never overflows. */
#define MAX_SIDE (1L << 20)

typedef struct infer_opts {
    const char *arch, *weights, *calibration, *input, *output;
    long seed, classes, threads;
    int precision, backend;
} infer_opts;

#define T infer_opts
static const dpc_flag flags[] = {
    {"arch", "A", 1, DPC_NAME(T, arch, dpc_arch_names), .help = "architecture", .required = 1},
    DPC_MODEL_FLAGS(T, 1),
    {"input", "X.npy", 1, DPC_STR(T, input, NULL), .help = "input batch, float [N,3,H,W] with H,W >= 32", .required = 1},
    {"output", "Y.npy", 1, DPC_STR(T, output, NULL), .help = "where the logits go, float32 [N,K]", .required = 1},
    {"threads", "T", 1, DPC_INT(T, threads, 1, 1024), .help = "oneDNN threads"},
    {"backend", "B", 1, DPC_CHOICE(T, backend, dpc_model_backends), .help = "engine (reference: OpenBLAS, to cross-check)"},
};
#undef T

static const dpc_command command = {
    .name = NULL,
    .bit = 1,
    .what = "Runs a CNN over X.npy and writes its logits to Y.npy; a one-line summary goes to stderr.\n"
            "dp-infer --list-archs prints the architectures it knows, one per line (docs/models.md).",
};

/* The input must be [N,3,H,W] with N, H and W in what the engine's int arguments take. */
static int check_shape(const char *path, const dp_array *x) {
    int ok = x->ndim == 4 && x->shape[0] >= 1 && x->shape[0] <= INT_MAX && x->shape[1] == 3 && x->shape[2] >= 1 &&
             x->shape[2] <= MAX_SIDE && x->shape[3] >= 1 && x->shape[3] <= MAX_SIDE;
    if (ok) return 0;
    fprintf(stderr, "%s: %s: input must be float [N,3,H,W] with 1 <= N <= %d and 1 <= H,W <= %ld; it has shape [",
            dpc_prog(), path, INT_MAX, MAX_SIDE);
    for (int d = 0; d < x->ndim; d++) fprintf(stderr, "%s%lld", d ? "," : "", (long long)x->shape[d]);
    fprintf(stderr, "]\n");
    return DPC_EXIT_FAILED;
}

int main(int argc, char **argv) {
    dpc_set_prog("dp-infer");
    if (argc == 2 && strcmp(argv[1], "--list-archs") == 0) {
        for (const char *const *a = dp_model_arch_names(); *a; a++) printf("%s\n", *a);
        return DPC_EXIT_OK;
    }
    dp_model_opts mo;
    dp_model_opts_init(&mo);
    infer_opts o = {.seed = (long)mo.seed, .classes = mo.num_classes, .threads = 1, .precision = mo.precision,
                    .backend = mo.backend};
    int rc = dpc_parse(flags, sizeof flags / sizeof flags[0], &command, argc, argv, &o);
    if (rc != DPC_CONTINUE) return rc;
    mo.num_classes = (int)o.classes;
    mo.seed = (uint64_t)o.seed;
    mo.precision = (dp_precision)o.precision;
    mo.backend = (dp_model_backend)o.backend;

    rc = DPC_EXIT_FAILED;
    dp_status s;
    dp_array x = {0};
    dp_model *m = NULL;
    dp_exec *e = NULL;
    float *logits = NULL;
    if ((s = dp_npy_read(o.input, &x))) {
        dpc_fail(s, "reading input");
        goto done;
    }
    if (check_shape(o.input, &x)) goto done;
    int n = (int)x.shape[0], h = (int)x.shape[2], w = (int)x.shape[3];
    if ((rc = dpc_model_load(o.arch, o.weights, o.calibration, &mo, &m))) goto done;
    rc = DPC_EXIT_FAILED;
    if ((s = dp_exec_create(m, (int)o.threads, &e))) {
        dpc_fail(s, "creating an execution context");
        goto done;
    }
    logits = malloc((size_t)n * (size_t)mo.num_classes * sizeof *logits);
    if (!logits) {
        fprintf(stderr, "%s: %s: out of memory for the logits of %d samples\n", dpc_prog(), o.input, n);
        goto done;
    }
    int64_t t0 = dp_now_ns();
    for (int i = 0; i < n; i += CHUNK) {
        int b = n - i < CHUNK ? n - i : CHUNK;
        s = dp_exec_run(e, x.data + (size_t)i * 3 * (size_t)h * (size_t)w, b, h, w,
                        logits + (size_t)i * (size_t)mo.num_classes);
        if (s) {
            dpc_fail(s, o.input);
            goto done;
        }
    }
    double ms = (double)(dp_now_ns() - t0) / 1e6;
    int64_t out_shape[2] = {n, mo.num_classes};
    if ((s = dp_npy_write(o.output, logits, 2, out_shape))) {
        dpc_fail(s, "writing output");
        goto done;
    }
    fprintf(stderr, "dp-infer: %s (%s, %s, %zu params): %d samples of %dx%d in %.2f ms (%.3f ms/sample) -> %s\n",
            o.arch, dpc_choice_name(dpc_model_backends, o.backend), dpc_choice_name(dpc_precisions, o.precision),
            dp_model_param_count(m), n, h, w, ms, ms / n, o.output);
    rc = DPC_EXIT_OK;
done:
    free(logits);
    dp_exec_free(e);
    dp_model_free(m);
    dp_array_release(&x);
    return rc;
}
