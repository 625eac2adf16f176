/* What dp-bench batch, stream and capacity share: turning their options into a model, a data
 * set, a partitioner, a runner, sinks, predictions and JSON. */
#ifndef DP_BENCH_BENCH_COMMON_H
#define DP_BENCH_BENCH_COMMON_H

#include <cjson/cJSON.h>
#include <stdio.h>

#include "bench.h"
#include "dataparallel.h"

/* Everything a run needs, built from the options. Free with dpb_env_free(). */
typedef struct dpb_env {
    dp_model *model;
    dp_dataset *base;            /* as loaded */
    dp_dataset *ds;              /* base, or the first --samples of it (batch mode) */
    dp_partitioner *part;
    dp_source *src;              /* stream: the rate-limited source */
    dp_runner *runner;
    dp_sink *sinks[5];
    int num_sinks;
    int dashboard_port;          /* --dashboard: its port, else -1 */
    double dashboard_linger;     /* seconds dpb_env_free() keeps it up first */
    int32_t *pred_worker;        /* --predictions: per sample id, -1 = not completed */
    int32_t *pred_top1;
    int64_t pred_n;
    int64_t slo_n, slo_over;     /* stream --slo-p99-ms: samples, and those over the objective */
    int slo_holds;               /* p99 within it at 99 % confidence */
} dpb_env;

/* Parse argv (dpb_parse), then load model and data, create the partitioner, the source
 * (stream), the runner, and attach the sinks asked for (sinks = 0 for none, e.g. capacity
 * probes). Returns DPC_CONTINUE with *e ready (free with dpb_env_free()), or the exit status
 * (message printed, nothing left to free). */
int dpb_setup(const dpc_command *cmd, int argc, char **argv, dpb_opts *o, dpb_env *e, int sinks);
/* A source over e->ds at rate with `samples` samples (0: the default of the policy). */
int dpb_make_source(const dpb_env *e, const dpb_opts *o, double rate, int64_t samples, dp_source **out);
/* --dashboard: the sink (NULL, with a warning, when the port is in use) and its port (-1 without).
 * Returns 0 or the exit status. */
int dpb_dashboard_create(const dpb_opts *o, dp_sink **out, int *port);
/* Keep a dashboard on port up for `seconds` (--dashboard-linger), saying so on stderr. */
void dpb_linger(int port, double seconds);
/* Frees everything; with --dashboard and --dashboard-linger S, first keeps the dashboard up for
 * S seconds (saying so on stderr). */
void dpb_env_free(dpb_env *e);

/* --stages, --cuts, --depth on e->runner (stages.c); 0 or the exit status. */
int dpb_set_stages(dpb_env *e, const dpb_opts *o);
/* stages, replicas, depth and the cuts by name into j. */
void dpb_stages_json(cJSON *j, const dpb_env *e, const dpb_opts *o);

/* --predictions: CSV sample_id,worker,top1, one row per completed sample, in id order. */
int dpb_write_predictions(const dpb_env *e, const char *path);

/* The summary as JSON (the library's fields) plus arch, strategy, workers, threads_per_worker,
 * the --slo-p99-ms verdict, provenance. Caller owns the result. */
cJSON *dpb_summary_json(const dpb_env *e, const dp_summary *s, const dpb_opts *o, int argc, char **argv);

/* One line with the headline figures, to stdout. */
void dpb_print_summary(const char *what, const dp_summary *s);
/* After a batch or stream run that returned st: worker ranks (MPI) just exit; otherwise print the
 * summary, write --predictions and --json. With repeats (--repeat: repeats.h), also print the
 * figures over the runs and add them to the JSON as "repeats". Frees e. Returns the exit code
 * (130 when stopped). */
int dpb_finish_run(dpb_env *e, const dpb_opts *o, dp_status st, const dp_summary *s, const char *mode, int argc,
                   char **argv, const cJSON *repeats);

#endif
