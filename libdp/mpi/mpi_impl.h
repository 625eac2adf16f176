/*
 * libdp/mpi/mpi_impl.h — the MPI backend of the worker seam (libdp/runtime/worker.h), shared by
 * its two sides:
 *   coordinator.c  rank 0: worker thread k proxies its micro-batches to worker rank
 *                  1 + k % (size - 1) (plugin.c: W is the rank count or a multiple of it);
 *   server.c       ranks > 0: serve() receives micro-batches, runs them on a local dp_exec,
 *                  answers with logits, until rank 0 ends the run.
 */
#ifndef DP_MPI_IMPL_H
#define DP_MPI_IMPL_H

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
} dpi_mpi_wstats;

/* Test hook (DP_MPI_TEST_FAULT=RANK:BATCHES:MODE): worker rank RANK, after answering BATCHES
 * batches, is killed (MODE kill: SIGKILL, as a crash) or stops answering batches (MODE stall:
 * as a hung inference; it still acknowledges the end of the run so the job can finish). */
typedef enum dpi_mpi_fault { DPI_FAULT_NONE = 0, DPI_FAULT_KILL = 1, DPI_FAULT_STALL = 2 } dpi_mpi_fault;

typedef struct dpi_mpi_backend {
    const dpi_worker_host *host;
    dpi_worker_config cfg;
    uint32_t epoch;
    int rank, size, workers;
    int64_t timeout_ns;
    /* rank 0 */
    dpi_mpi_wstats *stats;   /* per worker */
    /* servers */
    dp_exec *exec;
    int prepared_n;          /* largest batch prepared for this run */
    unsigned char *in;       /* request buffer: header + [n,c,h,w] */
    size_t in_cap;
    unsigned char *out;      /* answer buffer: header + [n,K] logits */
    size_t out_cap;
    MPI_Request out_req;     /* the last answer, until it has left */
    int64_t run_batches, run_samples, run_service_ns;
    int64_t total_batches;
    dpi_mpi_fault fault;
    int fault_rank;
    int64_t fault_after;
    int stalled;
    int closed;              /* rank 0 freed the runner */
} dpi_mpi_backend;

/* coordinator.c */
dp_status dpi_mpi_proxy_init(void *backend, int worker, int c, int h, int w, void **ctx);
dp_status dpi_mpi_proxy_run(void *ctx, const float *input, int n, int c, int h, int w, float *logits);
void dpi_mpi_proxy_fini(void *ctx);
dp_status dpi_mpi_end_run(void *backend);

/* server.c */
dp_status dpi_mpi_serve(void *backend);
void dpi_mpi_server_close(dpi_mpi_backend *b);
void dpi_mpi_parse_fault(dpi_mpi_backend *b);

#endif
