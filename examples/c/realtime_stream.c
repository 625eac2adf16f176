/* Serve CIFAR-sized samples arriving at 500/s over 2 workers and print the run's summary:
 * throughput, efficiency, rate accuracy and latency measured from each sample's intended arrival.
 *   realtime_stream [SAMPLES]     (default 2500; Ctrl-C stops early and still prints the summary) */
#include <stdio.h>
#include <stdlib.h>

#include "dataparallel.h"

int main(int argc, char **argv) {
    long samples = argc > 1 ? atol(argv[1]) : 2500;
    dp_model *model = NULL;
    dp_dataset *data = NULL;
    dp_source *source = NULL;
    dp_partitioner *part = NULL;
    dp_runner *runner = NULL;
    dp_status s;

    if ((s = dp_model_load("resnet18", NULL, NULL, &model)) == DP_OK &&
        (s = dp_dataset_synthetic(1000, 3, 32, 32, 1, &data)) == DP_OK &&
        (s = dp_partitioner_create("uniform", NULL, &part)) == DP_OK) {
        dp_source_opts so;
        dp_source_opts_init(&so);
        so.policy = DP_RATE_CONSTANT;
        so.rate = 500;
        so.samples = samples;
        s = dp_source_create(data, &so, &source);
    }
    if (s == DP_OK) {
        dp_runner_opts ro;
        dp_runner_opts_init(&ro);
        ro.workers = 2;
        ro.handle_signals = 1;
        s = dp_runner_create(model, part, &ro, &runner);
    }
    dp_summary sum;
    dp_summary_init(&sum);
    if (s == DP_OK) s = dp_runner_run(runner, source, &sum);
    if (s == DP_OK || s == DP_ERR_CANCELLED) {
        char json[8192];
        dp_summary_to_json(&sum, json, sizeof json);
        printf("offered %lld completed %lld dropped %lld failed %lld\n", (long long)sum.offered,
               (long long)sum.completed, (long long)sum.dropped, (long long)sum.failed);
        printf("throughput %.1f/s  efficiency %.2f %%  rate accuracy %.3f %%\n", sum.throughput, sum.efficiency_pct,
               sum.rate_accuracy_pct);
        printf("latency ms: mean %.3f p50 %.3f p99 %.3f max %.3f\n%s\n", sum.latency_ms.mean, sum.latency_ms.p50,
               sum.latency_ms.p99, sum.latency_ms.max, json);
    } else {
        fprintf(stderr, "realtime_stream: %s: %s\n", dp_status_str(s), dp_last_error());
    }
    dp_runner_free(runner);
    dp_partitioner_free(part);
    dp_source_free(source);
    dp_dataset_free(data);
    dp_model_free(model);
    return s == DP_OK || s == DP_ERR_CANCELLED ? 0 : 1;
}
