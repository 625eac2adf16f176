/* dp-bench batch and stream — one run of the runner, reported.
 *
 * batch: split a data set over workers with a partitioner, as fast as possible: elapsed time,
 * throughput, accuracy (labelled data) and per-worker load.
 * stream: serve a rate-limited stream over workers: the metrics of docs/metrics.md (throughput,
 * efficiency, rate accuracy, latency from intended arrival, drops). */
#include "bench_common.h"

int dpb_run(const dpc_command *cmd, int argc, char **argv) {
    dpb_opts o;
    dpb_env e;
    int rc = dpb_setup(cmd, argc, argv, &o, &e, 1);
    if (rc != DPC_CONTINUE) return rc;
    dp_summary s;
    dp_summary_init(&s);
    dp_status st = cmd->bit == DPB_BATCH ? dp_runner_run_batch(e.runner, e.ds, &s) : dp_runner_run(e.runner, e.src, &s);
    return dpb_finish_run(&e, &o, st, &s, cmd->name, argc, argv);
}
