/* Classify a CIFAR-10 binary file with 2 workers sharing one model; print accuracy and how many
 * samples each worker took.
 *   batch_classify DATA [WEIGHTS]
 * DATA: data_batch_N.bin / test_batch.bin, a directory of them, or cifar-10-binary.tar.gz.
 * WEIGHTS: resnet18_cifar weights (.npz or .safetensors); without it the weights are seeded. */
#include <stdio.h>

#include "dataparallel.h"

static int fail(const char *what, dp_status s) {
    fprintf(stderr, "%s: %s: %s\n", what, dp_status_str(s), dp_last_error());
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s DATA [WEIGHTS]\n", argv[0]);
        return 2;
    }
    dp_model *model = NULL;
    dp_dataset *data = NULL;
    dp_partitioner *part = NULL;
    dp_runner *runner = NULL;
    dp_status s;
    int rc = 1;

    if ((s = dp_model_load("resnet18_cifar", argc > 2 ? argv[2] : NULL, NULL, &model)) != DP_OK)
        return fail("model", s);
    if ((s = dp_dataset_cifar10(argv[1], NULL, &data)) != DP_OK) {
        rc = fail(argv[1], s);
        goto out;
    }
    if ((s = dp_partitioner_create("dynamic", NULL, &part)) != DP_OK) {
        rc = fail("partitioner", s);
        goto out;
    }
    dp_runner_opts opts;
    dp_runner_opts_init(&opts);
    opts.workers = 2;
    opts.max_batch = 8;
    if ((s = dp_runner_create(model, part, &opts, &runner)) != DP_OK) {
        rc = fail("runner", s);
        goto out;
    }
    dp_summary sum;
    dp_summary_init(&sum);
    if ((s = dp_runner_run_batch(runner, data, &sum)) != DP_OK) {
        rc = fail("run", s);
        goto out;
    }
    printf("%lld samples in %.2f s (%.1f/s), top-1 accuracy %.2f %%\n", (long long)sum.completed, sum.elapsed_s,
           sum.throughput, sum.labelled ? 100.0 * sum.correct / sum.labelled : 0.0);
    for (int k = 0; k < sum.workers; k++)
        printf("  worker %d: %lld samples, busy %.0f %%\n", k, (long long)sum.per_worker[k].completed,
               sum.per_worker[k].busy_pct);
    rc = 0;
out:
    dp_runner_free(runner);
    dp_partitioner_free(part);
    dp_dataset_free(data);
    dp_model_free(model);
    return rc;
}
