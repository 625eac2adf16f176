/* dp-infer — run a model over an .npy batch and write the logits as .npy. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Inputs are run in chunks so that activation memory stays bounded for large files. */
#define CHUNK 64

static void usage(FILE *f) {
    fprintf(f,
            "usage: dp-infer --arch A [--weights F.npz|F.safetensors] [--seed N] [--classes K]\n"
            "                --input X.npy --output Y.npy [--threads T] [--precision fp32|bf16]\n"
            "                [--backend onednn|reference]\n\n"
            "Runs a CNN over X (float32 [N,3,H,W], H,W >= 32) and writes logits Y (float32 [N,K]).\n\n"
            "  --arch A        resnet18, mobilenet_v2, resnet18_cifar or mobilenetv2_cifar\n"
            "  --weights F     PyTorch state_dict() saved as .npz (np.savez / savez_compressed) or\n"
            "                  .safetensors; without it the weights are seeded (see --seed)\n"
            "  --seed N        seed of the generated weights (default 0)\n"
            "  --classes K     number of classes, K >= 1 (default 10; must match the weights)\n"
            "  --input X.npy   input batch; --output Y.npy: where the logits go\n"
            "  --threads T     oneDNN threads (default 1)\n"
            "  --precision P   fp32 (default) or bf16 (onednn backend, CPUs with AVX512-BF16)\n"
            "  --backend B     onednn (default) or reference (OpenBLAS, for cross-checking)\n\n"
            "Exit status: 0 on success, 1 on a runtime error (file, shape, backend), 2 on a usage error.\n"
            "A one-line summary goes to stderr.\n");
}

int main(int argc, char **argv) {
    dpc_set_prog("dp-infer");
    enum { O_ARCH = 1, O_WEIGHTS, O_SEED, O_CLASSES, O_INPUT, O_OUTPUT, O_THREADS, O_PRECISION, O_BACKEND, O_HELP };
    static const struct option longopts[] = {
        {"arch", required_argument, 0, O_ARCH},         {"weights", required_argument, 0, O_WEIGHTS},
        {"seed", required_argument, 0, O_SEED},         {"classes", required_argument, 0, O_CLASSES},
        {"input", required_argument, 0, O_INPUT},       {"output", required_argument, 0, O_OUTPUT},
        {"threads", required_argument, 0, O_THREADS},   {"precision", required_argument, 0, O_PRECISION},
        {"backend", required_argument, 0, O_BACKEND},   {"help", no_argument, 0, O_HELP},
        {0, 0, 0, 0},
    };
    const char *arch = NULL, *weights = NULL, *input = NULL, *output = NULL;
    long seed = 0, classes = 10, threads = 1;
    dp_model_opts opts;
    dp_model_opts_init(&opts);
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case O_ARCH: arch = optarg; break;
        case O_WEIGHTS: weights = optarg; break;
        case O_SEED: bad = dpc_parse_int("--seed", optarg, 0, 0x7fffffffffffffffL, &seed); break;
        case O_CLASSES: bad = dpc_parse_int("--classes", optarg, 1, 1000000, &classes); break;
        case O_INPUT: input = optarg; break;
        case O_OUTPUT: output = optarg; break;
        case O_THREADS: bad = dpc_parse_int("--threads", optarg, 1, 1024, &threads); break;
        case O_PRECISION: bad = dpc_parse_precision(optarg, &opts.precision); break;
        case O_BACKEND: bad = dpc_parse_backend(optarg, &opts.backend); break;
        case O_HELP: usage(stdout); return 0;
        default:
            return optopt ? dpc_usage_error("option %s needs a value", argv[optind - 1])
                          : dpc_usage_error("unknown option %s", argv[optind - 1]);
        }
        if (bad) return 2;
    }
    if (optind < argc) return dpc_usage_error("unexpected argument '%s'", argv[optind]);
    if (!arch || !input || !output)
        return dpc_usage_error("--arch, --input and --output are required");
    opts.num_classes = (int)classes;
    opts.seed = (uint64_t)seed;

    int rc = 1;
    dp_status s;
    dp_array x = {0};
    dp_model *m = NULL;
    dp_exec *e = NULL;
    float *logits = NULL;
    if ((s = dp_npy_read(input, &x))) {
        dpc_fail(s, "reading input");
        goto done;
    }
    if (x.ndim != 4 || x.shape[0] < 1 || x.shape[1] != 3 || x.shape[2] > 1 << 20 || x.shape[3] > 1 << 20) {
        fprintf(stderr, "%s: %s: input must be float [N,3,H,W] with N >= 1; it has %d dimensions [", dpc_prog(),
                input, x.ndim);
        for (int d = 0; d < x.ndim; d++) fprintf(stderr, "%s%lld", d ? "," : "", (long long)x.shape[d]);
        fprintf(stderr, "]\n");
        goto done;
    }
    int n = (int)x.shape[0], h = (int)x.shape[2], w = (int)x.shape[3];
    if ((s = dp_model_load(arch, weights, &opts, &m))) {
        dpc_fail(s, "loading the model");
        goto done;
    }
    if ((s = dp_exec_create(m, (int)threads, &e))) {
        dpc_fail(s, "creating an execution context");
        goto done;
    }
    logits = malloc((size_t)n * opts.num_classes * sizeof *logits);
    if (!logits) {
        fprintf(stderr, "%s: out of memory\n", dpc_prog());
        goto done;
    }
    int64_t t0 = dp_now_ns();
    for (int i = 0; i < n; i += CHUNK) {
        int b = n - i < CHUNK ? n - i : CHUNK;
        s = dp_exec_run(e, x.data + (size_t)i * 3 * h * w, b, h, w, logits + (size_t)i * opts.num_classes);
        if (s) {
            dpc_fail(s, "inference");
            goto done;
        }
    }
    double ms = (double)(dp_now_ns() - t0) / 1e6;
    int64_t out_shape[2] = {n, opts.num_classes};
    if ((s = dp_npy_write(output, logits, 2, out_shape))) {
        dpc_fail(s, "writing output");
        goto done;
    }
    fprintf(stderr, "dp-infer: %s (%s, %s, %zu params): %d samples of %dx%d in %.2f ms (%.3f ms/sample) -> %s\n",
            arch, opts.backend == DP_BACKEND_REFERENCE ? "reference" : "onednn",
            opts.precision == DP_PRECISION_BF16 ? "bf16" : "fp32", dp_model_param_count(m), n, h, w, ms, ms / n,
            output);
    rc = 0;
done:
    free(logits);
    dp_exec_free(e);
    dp_model_free(m);
    dp_array_release(&x);
    return rc;
}
