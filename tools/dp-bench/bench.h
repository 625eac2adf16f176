/* dp-bench: its subcommands, each in its own file, and the options they share. Every flag is
 * one row of the table in flags.c, which says which subcommands accept it. */
#ifndef DP_BENCH_BENCH_H
#define DP_BENCH_BENCH_H

#include "dataparallel.h"
#include "flags.h"

#define DPB_MAX_REPEAT 100

/* The subcommands, as bits of dpc_flag.cmds. */
enum { DPB_INFER = 1, DPB_BATCH = 2, DPB_STREAM = 4, DPB_CAPACITY = 8, DPB_MATRIX = 16, DPB_SPLIT = 32,
       DPB_CALIBRATE = 64, DPB_TUNE = 128 };

/* Every value a dp-bench flag can set (each subcommand reads its own). Fields whose default is
 * "the subcommand's own" (samples) hold -1 until given. */
typedef struct dpb_opts {
    unsigned cmd; /* DPB_INFER, ... */
    /* the model */
    const char *arch, *weights, *calibration;
    long seed, classes, threads;
    int precision;
    /* infer */
    long batch, size;
    double seconds, warmup;  /* infer: untimed seconds before; batch, stream: dp_runner_opts.warmup_s */
    long warmup_samples;
    int profile, model_backend;
    /* batch, stream, capacity: data, runner, outputs */
    const char *strategy, *data, *trace;
    const char *predictions, *json, *csv, *jsonl, *prometheus, *dashboard;
    double dashboard_linger;
    long workers, samples, max_batch, max_delay_us, queue_capacity, interval_ms;
    double rate, straggler_factor, worker_timeout_s;
    dpc_reals slowdown;
    dpc_names inject;  /* stream: fault SPECs (inject.h) */
    int arrival, overflow, backend, retry, quiet, pin;
    /* pipelines (docs/pipeline.md) */
    long stages, depth;
    long rank_concurrency; /* mpi */
    const char *cuts;
    /* split */
    dpc_reals speeds;
    double link_gbps;
    long iters;
    /* capacity */
    double slo_p99_ms, start_rate, max_rate, confidence, min_samples_for;
    long min_samples;
    /* tune (and the lists it shares with matrix) */
    double budget_s;
    dpc_ints threads_list, batch_list, delay_list;
    dpc_names precisions;
    long cores;
    int oversubscribe;
    /* matrix */
    dpc_names archs, strategies, engines, layouts;
    dpc_ints workers_list;
    dpc_reals rates;
    long repeat;      /* matrix, batch, stream: runs of each (<= DPB_MAX_REPEAT) */
    /* calibrate */
    double percentile;
    const char *out, *baseline, *python, *weights_dir;
    int keep_jsonl, report;
} dpb_opts;

/* Defaults for cmd's subcommand, then argv. Returns DPC_CONTINUE or the exit status. */
int dpb_parse(const dpc_command *cmd, int argc, char **argv, dpb_opts *o);
/* The model options the flags give (classes, seed, precision, engine) over the library's
 * defaults; a subcommand without one of those flags keeps its default. */
void dpb_model_opts(const dpb_opts *o, dp_model_opts *mo);

int dpb_infer(const dpc_command *cmd, int argc, char **argv);
/* batch and stream */
int dpb_run(const dpc_command *cmd, int argc, char **argv);
int dpb_capacity(const dpc_command *cmd, int argc, char **argv);
int dpb_tune(const dpc_command *cmd, int argc, char **argv);
int dpb_matrix(const dpc_command *cmd, int argc, char **argv);
int dpb_split(const dpc_command *cmd, int argc, char **argv);
int dpb_calibrate(const dpc_command *cmd, int argc, char **argv);
/* The data set of --data (synthetic: --samples or 1000 of them). Returns 0 or an exit status. */
int dpb_open_data(const dpb_opts *o, dp_dataset **out);

/* The matrix's engines by name (libdataparallel first), NULL-terminated. */
const char *const *dpb_engine_names(void);
/* The matrix's layouts of W workers: data-parallel, pipeline, hybrid; NULL-terminated. */
const char *const *dpb_layout_names(void);

#endif
