/*
 * libdp/mpi/mpi_impl.h — the MPI backend of the worker seam (libdp/runtime/worker.h), shared by
 * its two sides:
 *   coordinator.c  rank 0: worker thread k proxies its micro-batches to worker rank
 *                  1 + k % (size - 1) (plugin.c: W is the rank count or a multiple of it);
 *   server.c       ranks > 0: serve() receives micro-batches, runs them on local dp_execs
 *                  (rank_concurrency at a time), answers with logits, until rank 0 ends the run;
 *   stages.c       ranks > 0: the stage models of pipelined runs and the lanes' execs of them.
 */
#ifndef DP_MPI_IMPL_H
#define DP_MPI_IMPL_H

#include <pthread.h>
#include <stdint.h>

#include "comm.h"
#include "wire.h"

/* What rank 0 learnt about one worker during a run (written by its thread, read at end_run). */
typedef struct dpi_mpi_wstats {
    _Alignas(64) int64_t batches;
    int64_t samples;
    int64_t rtt_ns;          /* send to reply, on rank 0 */
    int64_t service_ns;      /* dp_exec_run on the server, as it reported */
    int64_t forwarded;       /* batches sent to another rank because this one was dead */
    int64_t bytes_out, bytes_in; /* message bytes sent to and received from worker ranks */
} dpi_mpi_wstats;

/* Test hook (DP_MPI_TEST_FAULT=RANK:BATCHES:MODE): worker rank RANK, after answering BATCHES
 * batches, is killed (MODE kill: SIGKILL, as a crash) or stops answering batches (MODE stall:
 * as a hung inference; it still acknowledges the end of the run so the job can finish). */
typedef enum dpi_mpi_fault { DPI_FAULT_NONE = 0, DPI_FAULT_KILL = 1, DPI_FAULT_STALL = 2 } dpi_mpi_fault;

/* One micro-batch at a time on a server: its own dp_exec, request and answer buffers. With
 * rank_concurrency > 1 each lane is a thread; with 1 the serving thread runs lane 0 itself. */
typedef struct dpi_mpi_lane {
    struct dpi_mpi_backend *b;
    pthread_t thread;
    int started;
    int job;                 /* DPI_MSG_PREPARE or DPI_MSG_BATCH handed to it; 0 = idle */
    size_t job_bytes;        /* size of the request in `in` */
    dp_status prepared;      /* the outcome of its last PREPARE */
    char why[160];           /* ... and its message when it failed (set on the lane's thread) */
    dp_exec **execs;         /* per stage of the rank's split (stages.c); NULL: not asked to run it */
    unsigned char *in;       /* request buffer: header + [n,c,h,w] */
    size_t in_cap;
    unsigned char *out;      /* answer buffer: header + [n,K] logits */
    size_t out_cap;
    MPI_Request out_req;     /* the last answer, until it has left */
    int64_t run_batches, run_samples, run_service_ns;
} dpi_mpi_lane;

typedef struct dpi_mpi_backend {
    const dpi_worker_host *host;
    const dpi_worker_config *cfg; /* the runner's: stage models and cuts are set after open() */
    uint32_t epoch;
    int rank, size, workers;
    int64_t timeout_ns;
    /* rank 0 */
    dpi_mpi_wstats *stats;   /* per worker */
    int64_t wire_out, wire_in; /* the last run's message bytes (traffic()) */
    /* servers */
    dpi_mpi_lane *lanes;
    int nlanes;
    int peak;                /* the most batches running at once in this run */
    int quit;                /* lanes: leave */
    pthread_mutex_t mu;      /* lanes' job and idle state */
    pthread_cond_t work_cv, idle_cv;
    int prepared_n;          /* largest batch prepared for this run */
    int nstages;             /* the split rank 0 asked for (stages.c): 1 = the whole model, 0 = none yet */
    int *cuts;               /* nstages - 1 unit indices */
    dp_model **split;        /* nstages stage models; NULL with one stage */
    size_t *in_floats, *out_floats; /* per stage: floats per sample in and out at run_h x run_w */
    int run_h, run_w;
    unsigned char *out;      /* the serving thread's answers (READY, END_ACK) */
    size_t out_cap;
    MPI_Request out_req;
    int64_t total_batches;
    dpi_mpi_fault fault;
    int fault_rank;
    int64_t fault_after;
    int stalled;
    int closed;              /* rank 0 freed the runner */
} dpi_mpi_backend;

/* coordinator.c */
dp_status dpi_mpi_proxy_init(void *backend, int worker, int c, int h, int w, void **ctx);
dp_status dpi_mpi_proxy_run(void *ctx, const float *input, int n, int c, int h, int w, float *logits,
                            const dpi_worker_fx *fx);
void dpi_mpi_proxy_fini(void *ctx);
dp_status dpi_mpi_end_run(void *backend);
void dpi_mpi_traffic(void *backend, int64_t *out, int64_t *in);

/* server.c */
dp_status dpi_mpi_server_open(dpi_mpi_backend *b);
dp_status dpi_mpi_serve(void *backend);
void dpi_mpi_server_close(dpi_mpi_backend *b);
void dpi_mpi_parse_fault(dpi_mpi_backend *b);

/* stages.c (serving thread, every lane idle, for the first two) */
/* A PREPARE of `bytes` (header + int32 cuts[stages - 1]): split as it says unless the rank's
 * split already is that one (then the lanes keep their execs), and size each stage's edges for
 * its h x w. */
dp_status dpi_mpi_stages_prepare(dpi_mpi_backend *b, const dpi_mpi_hdr *q, size_t bytes);
/* The split, its sizes and every lane's execs. */
void dpi_mpi_stages_free(dpi_mpi_backend *b);
/* On lane L's thread: its exec of `stage` (created if it has none), prepared for micro-batches
 * of 1..n samples of h x w. */
dp_status dpi_mpi_lane_prepare(dpi_mpi_lane *L, int stage, int n, int h, int w);

#endif
