/* What the runtime costs per sample with the model taken out (--arch null), on the coordinator and
 * on each worker rank, and the highest rate rank 0 routes: benchmarks/coordinator.py runs it.
 *   runtime_cost [--backend threads|mpi] [--mode pull|push] [--arch A] [--size S] [--batch B]
 *                [--workers W] [--rate R] [--samples N] [--delay-us D] [--rank-concurrency N]
 *                [--slowdown F0,F1,..] [--inject WORKER:slowdown|stall|fail:VALUE:AT_S]... [--log]
 * (also the helper of tests/cli/test_mpi.sh for worker-rank lanes, slowdown and injected faults)
 * Rate 0 = unlimited (the source or the submitting thread as fast as the queues take samples,
 * overflow policy block), so throughput is the ceiling. Every process prints one line
 *   cost rank=R cpu_ns=C wall_ns=T
 * with its CPU time (clock_gettime(CLOCK_PROCESS_CPUTIME_ID): every thread of the process, user +
 * system) and wall time over the run call only (model load, MPI start-up and runner creation
 * excluded); rank 0 (or the threads process) also prints
 *   run completed=N failed=F throughput=X p50_ms=Y p99_ms=Z wire_out=B wire_in=B workers=W
 * Not a ctest (needs mpirun for the MPI backend); uses the public API only. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dataparallel.h"

static int64_t clock_ns(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

enum { MAX_FAULTS = 8 };

typedef struct args {
    const char *backend, *mode, *arch;
    int size, batch, workers;
    double rate;
    long samples;
    long delay_us;
    int rank_concurrency, log;
    double slowdown[DP_MAX_WORKERS];
    int num_slowdown;
    struct { double at_s, value; int worker, kind; } fault[MAX_FAULTS];
    int num_faults;
} args;

/* "f0,f1,..." into a->slowdown; "WORKER:slowdown|stall|fail:VALUE:AT_S" appended to a->fault. */
static int parse_slowdown(const char *v, args *a) {
    for (char *e; *v && a->num_slowdown < DP_MAX_WORKERS; v = *e == ',' ? e + 1 : e) {
        a->slowdown[a->num_slowdown++] = strtod(v, &e);
        if (e == v) return 0;
    }
    return 1;
}

static int parse_fault(const char *v, args *a) {
    char kind[16];
    if (a->num_faults == MAX_FAULTS) return 0;
    __typeof__(a->fault[0]) *f = &a->fault[a->num_faults++];
    if (sscanf(v, "%d:%15[a-z]:%lf:%lf", &f->worker, kind, &f->value, &f->at_s) != 4) return 0;
    f->kind = !strcmp(kind, "slowdown") ? DP_FAULT_SLOWDOWN : !strcmp(kind, "stall") ? DP_FAULT_STALL
              : !strcmp(kind, "fail")   ? DP_FAULT_FAIL : 0;
    return f->kind != 0;
}

static void log_line(dp_log_level level, const char *msg, void *user) {
    (void)user;
    printf("%s: %s\n", level <= DP_LOG_WARN ? "warning" : "info", msg);
}

static int parse(int argc, char **argv, args *a) {
    memset(a, 0, sizeof *a);
    a->backend = "threads";
    a->mode = "pull";
    a->arch = "null";
    a->size = 32;
    a->batch = 1;
    a->workers = 2;
    a->samples = 20000;
    a->delay_us = 100;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(f, "--log")) {
            a->log = 1;
            continue;
        }
        if (!v) return 0;
        i++;
        if (!strcmp(f, "--backend")) a->backend = v;
        else if (!strcmp(f, "--mode")) a->mode = v;
        else if (!strcmp(f, "--arch")) a->arch = v;
        else if (!strcmp(f, "--size")) a->size = atoi(v);
        else if (!strcmp(f, "--batch")) a->batch = atoi(v);
        else if (!strcmp(f, "--workers")) a->workers = atoi(v);
        else if (!strcmp(f, "--rate")) a->rate = atof(v);
        else if (!strcmp(f, "--samples")) a->samples = atol(v);
        else if (!strcmp(f, "--delay-us")) a->delay_us = atol(v);
        else if (!strcmp(f, "--rank-concurrency")) a->rank_concurrency = atoi(v);
        else if (!strcmp(f, "--slowdown")) { if (!parse_slowdown(v, a)) return 0; }
        else if (!strcmp(f, "--inject")) { if (!parse_fault(v, a)) return 0; }
        else return 0;
    }
    return (!strcmp(a->backend, "threads") || !strcmp(a->backend, "mpi")) &&
           (!strcmp(a->mode, "pull") || !strcmp(a->mode, "push")) && a->size >= 32 && a->batch >= 1 &&
           a->workers >= 1 && a->rate >= 0 && a->samples >= 1 && a->delay_us >= 0;
}

/* Push mode: this thread submits every sample (paced at the rate, or as fast as the queues take
 * them), then drains and stops. */
static dp_status push(dp_runner *r, const args *a, dp_summary *sum) {
    size_t floats = (size_t)3 * a->size * a->size;
    float *x = calloc(floats, sizeof *x);
    if (!x) return DP_ERR_NOMEM;
    dp_status s = dp_runner_start(r, 3, a->size, a->size);
    if (s != DP_OK || dp_runner_is_worker_rank(r)) {
        free(x);
        return s;
    }
    int64_t t0 = dp_now_ns();
    for (long i = 0; i < a->samples && s == DP_OK; i++) {
        if (a->rate > 0) {
            int64_t due = t0 + (int64_t)((double)i * 1e9 / a->rate);
            struct timespec ts = {due / 1000000000, due % 1000000000};
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        }
        s = dp_runner_submit(r, i, x, NULL);
    }
    if (s == DP_OK) s = dp_runner_drain(r);
    dp_status st = dp_runner_stop(r, sum);
    free(x);
    return s != DP_OK ? s : st;
}

int main(int argc, char **argv) {
    args a;
    if (!parse(argc, argv, &a)) {
        fprintf(stderr, "usage: runtime_cost [--backend threads|mpi] [--mode pull|push] [--arch A] [--size S] "
                        "[--batch B] [--workers W] [--rate R (0 = unlimited)] [--samples N] [--delay-us D] "
                        "[--rank-concurrency N] [--slowdown F0,F1,..] [--inject WORKER:KIND:VALUE:AT_S]... [--log]\n");
        return 2;
    }
    dp_model *model = NULL;
    dp_dataset *data = NULL;
    dp_source *source = NULL;
    dp_partitioner *part = NULL;
    dp_runner *runner = NULL;
    dp_summary sum;
    dp_summary_init(&sum);
    dp_status s;
    /* Samples already in memory: taking one costs a copy, as for a server handed its requests (a
     * synthetic data set would add its generator's ~2 us per 32x32 sample to rank 0). */
    enum { DATA_N = 64 };
    size_t floats = (size_t)DATA_N * 3 * a.size * a.size;
    float *pixels = malloc(floats * sizeof *pixels);
    if (!pixels) return 1;
    for (size_t i = 0; i < floats; i++) pixels[i] = (float)(i % 251) / 251.0f - 0.5f;
    if ((s = dp_model_load(a.arch, NULL, NULL, &model)) == DP_OK &&
        (s = dp_dataset_from_memory(pixels, NULL, DATA_N, 3, a.size, a.size, &data)) == DP_OK &&
        (s = dp_partitioner_create("uniform", NULL, &part)) == DP_OK) {
        dp_source_opts so;
        dp_source_opts_init(&so);
        if (a.rate > 0) so.rate = a.rate;
        else so.policy = DP_RATE_UNLIMITED;
        so.samples = a.samples;
        s = dp_source_create(data, &so, &source);
    }
    if (s == DP_OK) {
        dp_runner_opts ro;
        dp_runner_opts_init(&ro);
        ro.backend = strcmp(a.backend, "mpi") == 0 ? DP_RUNNER_MPI : DP_RUNNER_THREADS;
        ro.workers = a.workers;
        ro.max_batch = a.batch;
        ro.max_delay_us = a.batch > 1 ? a.delay_us : 0;
        ro.rank_concurrency = a.rank_concurrency;
        ro.slowdown = a.num_slowdown ? a.slowdown : NULL;
        ro.num_slowdown = a.num_slowdown;
        s = dp_runner_create(model, part, &ro, &runner);
    }
    for (int i = 0; i < a.num_faults && s == DP_OK; i++)
        s = dp_runner_inject(runner, a.fault[i].at_s, a.fault[i].worker, (dp_fault_kind)a.fault[i].kind,
                             a.fault[i].value);
    /* --log: rank 0's end-of-run lines per worker (round trip, time on the rank, lanes used). */
    if (s == DP_OK && a.log && !dp_runner_is_worker_rank(runner)) dp_set_log_fn(log_line, NULL, DP_LOG_INFO);
    int64_t cpu0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID), wall0 = clock_ns(CLOCK_MONOTONIC);
    if (s == DP_OK) s = strcmp(a.mode, "push") == 0 ? push(runner, &a, &sum) : dp_runner_run(runner, source, &sum);
    int64_t cpu = clock_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu0, wall = clock_ns(CLOCK_MONOTONIC) - wall0;
    if (s == DP_OK) {
        int rank = dp_runner_is_worker_rank(runner) ? atoi(getenv("OMPI_COMM_WORLD_RANK") ? getenv("OMPI_COMM_WORLD_RANK")
                                                                                          : "-1")
                                                    : 0;
        printf("cost rank=%d cpu_ns=%lld wall_ns=%lld\n", rank, (long long)cpu, (long long)wall);
        if (!dp_runner_is_worker_rank(runner))
            printf("run offered=%lld completed=%lld failed=%lld throughput=%.1f p50_ms=%.3f p99_ms=%.3f wire_out=%lld wire_in=%lld "
                   "workers=%d cpu_pct=%.1f\n",
                   (long long)sum.offered, (long long)sum.completed, (long long)sum.failed, sum.throughput, sum.latency_ms.p50,
                   sum.latency_ms.p99, (long long)sum.wire_bytes_out, (long long)sum.wire_bytes_in, sum.workers,
                   sum.cpu_pct);
    } else {
        fprintf(stderr, "runtime_cost: %s: %s\n", dp_status_str(s), dp_last_error());
    }
    fflush(stdout);
    dp_runner_free(runner);
    dp_partitioner_free(part);
    dp_source_free(source);
    dp_dataset_free(data);
    dp_model_free(model);
    free(pixels);
    return s == DP_OK ? 0 : 1;
}
