/* dp-bench batch and stream — one run of the runner (or --repeat N of them), reported.
 *
 * batch: split a data set over workers with a partitioner, as fast as possible: elapsed time,
 * throughput, accuracy (labelled data) and per-worker load.
 * stream: serve a rate-limited stream over workers: the metrics of docs/metrics.md (throughput,
 * efficiency, rate accuracy, latency from intended arrival, drops).
 * --repeat N: N runs on the same runner and model; each run's line, then the median and 95 %
 * bootstrap interval of each figure (repeats.h); --json is the last run's summary plus them. */
#include <stdlib.h>

#include "bench_common.h"
#include "repeats.h"

static dp_status run_once(const dpc_command *cmd, dpb_env *e, dp_summary *s) {
    dp_summary_init(s);
    return cmd->bit == DPB_BATCH ? dp_runner_run_batch(e->runner, e->ds, s) : dp_runner_run(e->runner, e->src, s);
}

int dpb_run(const dpc_command *cmd, int argc, char **argv) {
    dpb_opts o;
    dpb_env e;
    int rc = dpb_setup(cmd, argc, argv, &o, &e, 1);
    if (rc != DPC_CONTINUE) return rc;
    dp_summary s;
    dp_status st = run_once(cmd, &e, &s);
    if (o.repeat <= 1 || dp_runner_is_worker_rank(e.runner))
        return dpb_finish_run(&e, &o, st, &s, cmd->name, argc, argv, NULL);
    cJSON *runs[DPB_MAX_REPEAT];
    int n = 0;
    char what[48];
    /* Every run but the last is reported here; the last one by dpb_finish_run(), with the figures
     * over all of them. A failed run ends the series (and is reported as the last). */
    while (st == DP_OK && n < o.repeat - 1 && (runs[n] = dpb_summary_json(&e, &s, &o, argc, argv))) {
        snprintf(what, sizeof what, "%s (run %d of %ld)", cmd->name, n + 1, o.repeat);
        if (!o.quiet) dpb_print_summary(what, &s);
        n++;
        st = run_once(cmd, &e, &s);
    }
    cJSON *agg = NULL;
    if (st == DP_OK && (runs[n] = dpb_summary_json(&e, &s, &o, argc, argv))) {
        n++;
        agg = dpb_repeats_json((const cJSON *const *)runs, n, (uint64_t)o.seed);
    }
    for (int i = 0; i < n; i++) cJSON_Delete(runs[i]);
    snprintf(what, sizeof what, "%s (run %d of %ld)", cmd->name, n, o.repeat);
    rc = dpb_finish_run(&e, &o, st, &s, what, argc, argv, agg);
    cJSON_Delete(agg);
    return rc;
}
