/* Every flag of dp-bench: one row each, with the subcommands that take it (see flags.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "cli.h"
#include "inject.h"

enum {
    I = DPB_INFER,
    B = DPB_BATCH,
    S = DPB_STREAM,
    C = DPB_CAPACITY,
    M = DPB_MATRIX,
    P = DPB_SPLIT,
    K = DPB_CALIBRATE,
    TU = DPB_TUNE,
    RUN = B | S | C, /* the subcommands that build a runner */
};

static const dpc_choice arrivals[] = {{"constant", DP_RATE_CONSTANT}, {"poisson", DP_RATE_POISSON},
                                      {"trace", DP_RATE_TRACE},       {"unlimited", DP_RATE_UNLIMITED},
                                      {NULL, 0}};
static const dpc_choice overflows[] = {{"block", DP_OVERFLOW_BLOCK}, {"drop-newest", DP_OVERFLOW_DROP_NEWEST},
                                       {"drop-oldest", DP_OVERFLOW_DROP_OLDEST}, {NULL, 0}};
static const dpc_choice runner_backends[] = {{"threads", DP_RUNNER_THREADS}, {"mpi", DP_RUNNER_MPI}, {NULL, 0}};

static const char *data_spec(const char *v) {
    static const char *const prefixes[] = {"cifar10:", "fashion-mnist:", "npy:"};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        size_t n = strlen(prefixes[i]);
        if (strncmp(v, prefixes[i], n) == 0 && v[n]) return NULL;
    }
    return strcmp(v, "synthetic") == 0 ? NULL : "synthetic, cifar10:FILE, fashion-mnist:PATH or npy:FILE";
}

static const char *host_port(const char *v) {
    const char *colon = strrchr(v, ':');
    char *end;
    long port = colon ? strtol(colon + 1, &end, 10) : -1;
    return colon && colon[1] && *end == '\0' && port >= 0 && port <= 65535 ? NULL : "HOST:PORT (e.g. :9100)";
}

static const char *const *precision_names(void) {
    static const char *const names[] = {"fp32", "bf16", "int8", NULL};
    return names;
}

#define T dpb_opts
static const dpc_flag flags[] = {
    {"arch", "A", I | P | K, DPC_NAME(T, arch, dpc_arch_names), .help = "architecture", .required = 1},
    {"arch", "A", RUN | TU, DPC_NAME(T, arch, dpc_arch_names), .help = "architecture"},
    {"arch", "LIST", M, DPC_NAMES(T, archs, dpc_arch_names), .help = "architectures"},
    {"strategy", "S", RUN, DPC_NAME(T, strategy, dpc_strategy_names), .help = "partitioner"},
    {"strategies", "LIST", M, DPC_NAMES(T, strategies, dpc_strategy_names), .help = "partitioners"},
    {"workers", "W", RUN, DPC_INT(T, workers, 1, DPC_LIST_MAX), .help = "workers sharing the model"},
    {"workers", "LIST", M, DPC_INTS(T, workers_list, 1, DPC_LIST_MAX), .help = "worker counts"},
    {"threads", "T", I | RUN | M | P, DPC_INT(T, threads, 1, 1024), .help = "oneDNN threads per worker"},
    DPC_MODEL_FLAGS(T, I | RUN | P | TU),
    {"weights", "F", K, DPC_STR(T, weights, NULL), .help = "PyTorch state_dict() as .pth, .npz or .safetensors", .def = "seeded"},
    {"seed", "N", K, DPC_INT(T, seed, 0, 1L << 62), .help = "seed of the weights without --weights"},
    {"classes", "K", K, DPC_INT(T, classes, 1, 1L << 20), .help = "number of classes (must match the weights)"},
    {"backend", "B", I, DPC_CHOICE(T, model_backend, dpc_model_backends), .help = "engine (reference: OpenBLAS)"},
    {"batch", "B", I | P, DPC_INT(T, batch, 1, 1 << 16), .help = "samples per batch"},
    {"size", "N", I | P, DPC_INT(T, size, 32, 4096), .help = "input height and width"},
    {"seconds", "S", I, DPC_REAL(T, seconds, 0, 86400), .help = "timed duration (at least one batch)"},
    {"warmup", "S", I, DPC_REAL(T, warmup, 0, 86400), .help = "untimed warm-up before it"},
    {"warmup", "S", B | S, DPC_REAL(T, warmup, 0, 86400),
     .help = "samples intended in the first S seconds are warm-up: reported apart, not in the figures"},
    {"warmup-samples", "N", B | S, DPC_INT(T, warmup_samples, 0, 1L << 40),
     .help = "the first N samples are warm-up (as --warmup)"},
    {"profile", NULL, I, DPC_SWITCH(T, profile), .help = "a second pass timing every layer, printed as a table"},
    {"samples", "N", B, DPC_INT(T, samples, 0, 1L << 40), .help = "samples (of a file: the first N)",
     .def = "1000 synthetic, else all"},
    {"samples", "N", S, DPC_INT(T, samples, 0, 1L << 40), .help = "samples to emit",
     .def = "2500, trace: one per entry"},
    {"samples", "N", M, DPC_INT(T, samples, 1, 1000000000), .help = "samples per run", .def = "rate x 10 s"},
    {"samples", "N", K, DPC_INT(T, samples, 1, 1L << 40), .help = "samples measured (the first N of --data)",
     .def = "512 or all"},
    {"percentile", "P", K, DPC_REAL(T, percentile, 50, 100), .help = "range = this percentile of |x| (outliers saturate)",
     .def = "max"},
    {"out", "FILE", K, DPC_STR(T, out, NULL), .help = "calibration file to write (docs/formats.md)", .required = 1},
    {"data", "D", RUN | M | K | TU, DPC_STR(T, data, data_spec), .help = "data set: synthetic, cifar10:FILE, fashion-mnist:PATH or npy:FILE"},
    {"rate", "R", S, DPC_REAL(T, rate, 1e-6, 1e9), .help = "target samples/s"},
    {"rates", "LIST", M, DPC_REALS(T, rates, 1e-3, 1e9), .help = "constant arrival rates, samples/s"},
    {"arrival", "A", S, DPC_CHOICE(T, arrival, arrivals), .help = "arrival process"},
    {"trace", "F", S, DPC_STR(T, trace, NULL), .help = "arrival offsets (s), one a line or a CSV with a time column"},
    {"max-batch", "B", RUN | M, DPC_INT(T, max_batch, 1, 4096), .help = "micro-batch limit"},
    {"max-delay-us", "D", S | C, DPC_INT(T, max_delay_us, 0, 60000000), .help = "wait at most D us to fill a micro-batch"},
    {"queue-capacity", "Q", S | C, DPC_INT(T, queue_capacity, 1, 1 << 24), .help = "samples per queue"},
    {"overflow", "P", S | C, DPC_CHOICE(T, overflow, overflows), .help = "what a full queue does"},
    {"slowdown", "LIST", RUN, DPC_REALS(T, slowdown, 1.0, 1e6), .help = "stretch worker k's service time by f_k",
     .def = "1"},
    {"backend", "B", RUN, DPC_CHOICE(T, backend, runner_backends), .help = "runner (mpi: start with mpirun)"},
    {"inject", "SPEC", S, DPC_STRS(T, inject, dpb_fault_check),
     .help = "a fault during the run, repeatable: at=2s,worker=1,slowdown=4 | stall=500ms | fail=10 | stop",
     .def = "none"},
    {"stages", "S", RUN, DPC_INT(T, stages, 1, DPC_LIST_MAX),
     .help = "split the model into S pipeline stages: W / S replicas of S stages (docs/pipeline.md)"},
    {"cuts", "LIST", RUN, DPC_STR(T, cuts, NULL),
     .help = "where stages start: unit names (layer3.0,layer4.0) or auto (planned from a profile)"},
    {"stages", "S", P, DPC_INT(T, stages, 1, DPC_LIST_MAX), .help = "stages to plan"},
    {"speeds", "LIST", P, DPC_REALS(T, speeds, 1e-6, 1e6), .help = "relative speed of each stage's worker",
     .def = "1"},
    {"link-gbps", "G", P | RUN, DPC_REAL(T, link_gbps, 0, 1e9),
     .help = "link between stages, Gbit/s, for the planner (--cuts auto): 0 free, as between threads"},
    {"iters", "N", P, DPC_INT(T, iters, 1, 1000000), .help = "timed runs per stage (profile and measurement)"},
    {"depth", "D", RUN, DPC_INT(T, depth, 1, 1 << 16), .help = "micro-batches in flight between two stages"},
    {"worker-timeout", "S", RUN, DPC_REAL(T, worker_timeout_s, 1e-3, 1e6), .help = "mpi: a rank silent S seconds is dead"},
    {"retry", NULL, RUN, DPC_SWITCH(T, retry), .help = "re-dispatch a dead rank's batch (mpi) or a stopped worker's samples (--inject stop); else they fail"},
    {"rank-concurrency", "N", RUN, DPC_INT(T, rank_concurrency, 0, 256),
     .help = "mpi: micro-batches a worker rank runs at once (0: those in flight to it, at most its cores / --threads)"},
    {"pin", NULL, RUN, DPC_SWITCH(T, pin), .help = "pin worker k to its cores"},
    {"straggler-factor", "X", B | S, DPC_REAL(T, straggler_factor, 1.0, 1e6), .help = "flag workers X times slower than the median"},
    {"interval-ms", "MS", B | S, DPC_INT(T, interval_ms, 1, 3600000), .help = "interval of the sinks' summaries"},
    {"slo-p99-ms", "L", C | TU, DPC_REAL(T, slo_p99_ms, 1e-3, 1e6), .help = "latency objective for p99"},
    {"slo-p99-ms", "L", S, DPC_REAL(T, slo_p99_ms, 1e-3, 1e6),
     .help = "latency objective: whether p99 is within it at 99 % confidence", .def = "none"},
    {"confidence", "C", C | TU, DPC_REAL(T, confidence, 0.5, 0.999),
     .help = "each probe holds the samples a bounded p99 needs at this confidence"},
    {"min-samples", "N", C | TU, DPC_INT(T, min_samples, 1, 100000000), .help = "samples per probe at least",
     .def = "what --confidence needs (368 at 0.95)"},
    {"min-samples-for", "Q", S | C, DPC_REAL(T, min_samples_for, 1e-6, 0.999999),
     .help = "print how many samples quantile Q needs for a bounded interval, then exit", .def = "none"},
    {"seconds", "S", C, DPC_REAL(T, seconds, 0.01, 3600), .help = "length of each probe (at least 20 samples)"},
    {"seconds", "S", TU, DPC_REAL(T, seconds, 0, 3600), .help = "length of each probe at least (and --min-samples)"},
    {"start-rate", "R", C | TU, DPC_REAL(T, start_rate, 1e-3, 1e9),
     .help = "first probe of a configuration: a higher rate counts only if it passes here too"},
    {"max-rate", "R", C, DPC_REAL(T, max_rate, 1e-3, 1e9), .help = "highest rate probed"},
    {"predictions", "F", B | S, DPC_STR(T, predictions, NULL), .help = "CSV sample_id,worker,top1 of every completed sample"},
    {"json", "F", I | RUN | P | TU, DPC_STR(T, json, NULL), .help = "the result as JSON ('-': stdout)"},
    {"csv", "F", B | S, DPC_STR(T, csv, NULL), .help = "CSV sink: interval summaries"},
    {"jsonl", "F", B | S, DPC_STR(T, jsonl, NULL), .help = "JSONL sink: one line a sample, then the summary"},
    {"prometheus", "HOST:PORT", B | S, DPC_STR(T, prometheus, host_port), .help = "serve /metrics there"},
    {"dashboard", "HOST:PORT", B | S | C | TU, DPC_STR(T, dashboard, host_port),
     .help = "serve a live dashboard there (open http://HOST:PORT/)"},
    {"dashboard-linger", "S", B | S | C | TU, DPC_REAL(T, dashboard_linger, 0, 86400),
     .help = "keep the dashboard up S seconds after the end"},
    {"quiet", NULL, RUN | TU, DPC_SWITCH(T, quiet), .help = "no console output but the result"},
    {"budget-s", "S", TU, DPC_REAL(T, budget_s, 0.1, 1e7), .help = "seconds the search may spend (probes and service times)"},
    {"workers", "LIST", TU, DPC_INTS(T, workers_list, 1, DPC_LIST_MAX), .help = "worker counts", .def = "1..cores"},
    {"threads", "LIST", TU, DPC_INTS(T, threads_list, 1, 1024), .help = "oneDNN threads per worker", .def = "1..cores"},
    {"max-batch", "LIST", TU, DPC_INTS(T, batch_list, 1, 4096), .help = "micro-batch limits", .def = "1,2,4,8,16"},
    {"max-delay-us", "LIST", TU, DPC_INTS(T, delay_list, 0, 60000000), .help = "waits to fill a micro-batch, us",
     .def = "0,500,2000"},
    {"strategies", "LIST", TU, DPC_NAMES(T, strategies, dpc_strategy_names), .help = "partitioners", .def = "dynamic"},
    {"precisions", "LIST", TU, DPC_NAMES(T, precisions, precision_names),
     .help = "precisions (those the CPU lacks are marked unsupported)", .def = "the --precision"},
    {"cores", "N", TU, DPC_INT(T, cores, 1, 64), .help = "cores workers x threads may use", .def = "the online CPUs"},
    {"oversubscribe", NULL, TU, DPC_SWITCH(T, oversubscribe), .help = "search workers x threads above --cores too"},
    {"weights-dir", "DIR", M, DPC_STR(T, weights_dir, NULL), .help = "every run of arch A loads DIR/A.npz",
     .def = "seeded"},
    {"engines", "LIST", M, DPC_NAMES(T, engines, dpb_engine_names), .help = "engines, alternating cell by cell"},
    {"layouts", "LIST", M, DPC_NAMES(T, layouts, dpb_layout_names),
     .help = "W workers as data-parallel (W replicas), pipeline (W stages) or hybrid (W/2 replicas x 2 stages; "
             "W >= 4, even); libdataparallel only, cuts planned (docs/pipeline.md)"},
    {"baseline", "PATH", M, DPC_STR(T, baseline, NULL), .help = "benchmarks/pytorch_baseline.py",
     .def = "$DP_SOURCE_DIR/benchmarks or next to the build"},
    {"python", "PATH", M, DPC_STR(T, python, NULL), .help = "interpreter of the baseline",
     .def = "$DP_PYTHON3 or /usr/bin/python3"},
    {"jsonl", NULL, M, DPC_SWITCH(T, keep_jsonl), .help = "keep every run's per-sample JSONL in DIR/cells/"},
    {"repeat", "N", M, DPC_INT(T, repeat, 1, DPB_MAX_REPEAT), .help = "run the whole matrix N times"},
    {"repeat", "N", B | S, DPC_INT(T, repeat, 1, DPB_MAX_REPEAT),
     .help = "N runs: each one's line, then medians and 95 % bootstrap intervals"},
    {"report", NULL, M, DPC_SWITCH(T, report),
     .help = "then plot (DIR/plots/) and write the page DIR/index.html (benchmarks/plot.py, report.py)"},
    {"out", "DIR", M, DPC_STR(T, out, NULL), .help = "output directory"},
};
#undef T

/* The first (at most) n of a NULL-terminated list of names. */
static void set_names(dpc_names *l, const char *const *names, int n) {
    for (l->n = 0; l->n < n && names[l->n]; l->n++) l->v[l->n] = names[l->n];
}

static void defaults(unsigned cmd, dpb_opts *o) {
    /* Runner settings default to the library's own, so the tool cannot drift from them. */
    dp_runner_opts ro;
    dp_runner_opts_init(&ro);
    dp_model_opts mo;
    dp_model_opts_init(&mo);
    memset(o, 0, sizeof *o);
    o->cmd = cmd;
    o->arch = "resnet18";
    o->seed = (long)mo.seed;
    o->classes = mo.num_classes;
    o->threads = ro.threads_per_worker;
    o->precision = mo.precision;
    o->model_backend = mo.backend;
    o->batch = 1;
    o->size = 32;
    o->seconds = cmd == DPB_INFER ? 5 : cmd == DPB_TUNE ? 1 : 2;
    o->warmup = cmd == DPB_INFER ? 1 : ro.warmup_s;
    o->warmup_samples = ro.warmup_samples;
    o->strategy = "uniform";
    o->data = "synthetic";
    o->workers = ro.workers;
    o->samples = -1;
    o->max_batch = ro.max_batch;
    o->max_delay_us = ro.max_delay_us;
    o->queue_capacity = ro.queue_capacity;
    o->interval_ms = ro.interval_ms;
    o->rate = 500;
    o->straggler_factor = ro.straggler_factor;
    o->worker_timeout_s = ro.worker_timeout_s;
    o->arrival = DP_RATE_CONSTANT;
    o->overflow = ro.overflow;
    o->backend = ro.backend;
    dp_stage_opts so;
    dp_stage_opts_init(&so);
    o->stages = cmd == DPB_SPLIT ? 2 : so.stages;
    o->depth = so.depth;
    o->cuts = "auto";
    o->iters = 20;
    o->slo_p99_ms = cmd == DPB_CAPACITY || cmd == DPB_TUNE ? 10 : 0; /* stream: no objective unless given */
    o->budget_s = 120;
    o->confidence = 0.95;
    o->start_rate = 100;
    o->max_rate = 100000;
    static const char *const archs[] = {"resnet18", "mobilenet_v2", NULL};
    set_names(&o->archs, archs, DPC_LIST_MAX);
    set_names(&o->strategies, dpc_strategy_names(), cmd == DPB_TUNE ? 0 : DPC_LIST_MAX); /* tune: the library's */
    set_names(&o->engines, dpb_engine_names(), 1);
    set_names(&o->layouts, dpb_layout_names(), 1);
    o->workers_list = (dpc_ints){.n = cmd == DPB_TUNE ? 0 : 3, .v = {1, 2, 4}}; /* tune: 1..cores */
    o->rates = (dpc_reals){.n = 1, .v = {500}};
    o->repeat = 1;
    o->out = "results";
    const char *py = getenv("DP_PYTHON3");
    o->python = py && *py ? py : "/usr/bin/python3";
}

void dpb_model_opts(const dpb_opts *o, dp_model_opts *mo) {
    dp_model_opts_init(mo);
    mo->num_classes = (int)o->classes;
    mo->seed = (uint64_t)o->seed;
    mo->precision = (dp_precision)o->precision;
    mo->backend = (dp_model_backend)o->model_backend;
}

int dpb_parse(const dpc_command *cmd, int argc, char **argv, dpb_opts *o) {
    defaults(cmd->bit, o);
    int rc = dpc_parse(flags, sizeof flags / sizeof flags[0], cmd, argc, argv, o);
    if (rc != DPC_CONTINUE) return rc;
    if (o->min_samples_for > 0) {
        /* A question about statistics, answered without loading anything. */
        printf("quantile %g needs %lld samples for a 95 %% interval with an upper bound, %lld for 99 %% "
               "(docs/metrics.md, \"Confidence\")\n",
               o->min_samples_for, (long long)dp_min_samples_for(o->min_samples_for, 0.95),
               (long long)dp_min_samples_for(o->min_samples_for, 0.99));
        return DPC_EXIT_OK;
    }
    if ((cmd->bit == DPB_CAPACITY || cmd->bit == DPB_TUNE) && o->min_samples == 0) o->min_samples = dp_min_samples_for(0.99, o->confidence);
    if (cmd->bit & RUN && o->slowdown.n > o->workers)
        return dpc_usage_error("--slowdown has %d factors for %ld workers", o->slowdown.n, o->workers);
    for (int i = 0; i < o->inject.n; i++) {
        dpb_fault f;
        dpb_fault_parse(o->inject.v[i], &f);
        if (f.worker >= o->workers)
            return dpc_usage_error("--inject: '%s': worker %d, but --workers is %ld", o->inject.v[i], f.worker,
                                   o->workers);
    }
    if (cmd->bit & RUN && o->workers % o->stages != 0)
        return dpc_usage_error("--stages %ld does not divide --workers %ld (workers = replicas x stages)", o->stages,
                               o->workers);
    if (cmd->bit == DPB_STREAM && o->arrival == DP_RATE_TRACE && !o->trace)
        return dpc_usage_error("--arrival trace needs --trace F");
    if (cmd->bit == DPB_SPLIT && o->stages < 2) return dpc_usage_error("--stages must be at least 2");
    if (cmd->bit == DPB_SPLIT && o->speeds.n && o->speeds.n != o->stages)
        return dpc_usage_error("--speeds has %d factors for %ld stages", o->speeds.n, o->stages);
    if (cmd->bit == DPB_CAPACITY && o->start_rate > o->max_rate)
        return dpc_usage_error("--start-rate %g is above --max-rate %g", o->start_rate, o->max_rate);
    return DPC_CONTINUE;
}
