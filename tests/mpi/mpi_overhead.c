/* What the MPI path costs per micro-batch: a stream over the MPI backend with the library's log at
 * DP_LOG_INFO, so that rank 0 prints, per worker, the round trip it measured, the inference time
 * the worker rank reported and their difference (the MPI path: copies, messages, polling).
 *   mpirun -np 3 mpi_overhead [ARCH [RATE [SAMPLES [MAX_BATCH]]]]   (resnet18 300 900 1)
 * Started under mpirun by tests/cli/test_mpi.sh and for docs/performance.md; not a ctest of its
 * own (it needs mpirun). Uses the public API only. */
#include <stdio.h>
#include <stdlib.h>

#include "dataparallel.h"

static void log_line(dp_log_level level, const char *msg, void *user) {
    (void)user;
    printf("%s: %s\n", level <= DP_LOG_WARN ? "warning" : "info", msg);
}

int main(int argc, char **argv) {
    const char *arch = argc > 1 ? argv[1] : "resnet18";
    double rate = argc > 2 ? atof(argv[2]) : 300;
    long samples = argc > 3 ? atol(argv[3]) : 900;
    int max_batch = argc > 4 ? atoi(argv[4]) : 1;
    dp_model *model = NULL;
    dp_dataset *data = NULL;
    dp_source *source = NULL;
    dp_partitioner *part = NULL;
    dp_runner *runner = NULL;
    dp_summary sum;
    dp_summary_init(&sum);
    dp_status s;

    dp_set_log_fn(log_line, NULL, DP_LOG_INFO);
    if ((s = dp_model_load(arch, NULL, NULL, &model)) == DP_OK &&
        (s = dp_dataset_synthetic(1000, 3, 32, 32, 1, &data)) == DP_OK &&
        (s = dp_partitioner_create("uniform", NULL, &part)) == DP_OK) {
        dp_source_opts so;
        dp_source_opts_init(&so);
        so.rate = rate;
        so.samples = samples;
        s = dp_source_create(data, &so, &source);
    }
    if (s == DP_OK) {
        dp_runner_opts ro;
        dp_runner_opts_init(&ro);
        ro.backend = DP_RUNNER_MPI;
        ro.max_batch = max_batch;
        ro.max_delay_us = max_batch > 1 ? 1000 : 0;
        s = dp_runner_create(model, part, &ro, &runner);
    }
    /* Only rank 0 prints; the worker ranks' log hook stays quiet unless something goes wrong. */
    if (s == DP_OK && dp_runner_is_worker_rank(runner)) dp_set_log_fn(log_line, NULL, DP_LOG_WARN);
    if (s == DP_OK) s = dp_runner_run(runner, source, &sum);
    if (s == DP_OK && !dp_runner_is_worker_rank(runner)) {
        printf("%s at %.0f/s, %lld samples, max batch %d, %d worker ranks: efficiency %.2f %%, latency p50 %.3f "
               "p99 %.3f ms, rank 0 CPU %.1f %%\n",
               arch, rate, (long long)sum.completed, max_batch, sum.workers, sum.efficiency_pct, sum.latency_ms.p50,
               sum.latency_ms.p99, sum.cpu_pct);
        for (int k = 0; k < sum.workers; k++)
            printf("worker %d: %lld samples, service (round trip) %.3f ms, mean batch %.2f\n", k,
                   (long long)sum.per_worker[k].completed, sum.per_worker[k].mean_service_ms,
                   sum.per_worker[k].mean_batch);
    } else if (s != DP_OK) {
        fprintf(stderr, "mpi_overhead: %s: %s\n", dp_status_str(s), dp_last_error());
    }
    dp_runner_free(runner);
    dp_partitioner_free(part);
    dp_source_free(source);
    dp_dataset_free(data);
    dp_model_free(model);
    return s == DP_OK ? 0 : 1;
}
