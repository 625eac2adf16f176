/*
 * libdp/mpi/wire.h — the messages between rank 0 (the coordinator: source, partitioner, queues,
 * metrics, sinks) and the worker ranks ("servers"). See docs/distributed.md.
 *
 * Every message is one MPI_BYTE message on the plugin's private communicator (a dup of
 * MPI_COMM_WORLD): a fixed dpi_mpi_hdr, then for a batch the raw float32 tensor [n,c,h,w], for a
 * reply the float32 logits [n,K] (for a pipeline stage: its input and output activations, plain
 * float32; docs/pipeline.md). Sample ids never travel: a worker thread on rank 0 has one
 * micro-batch in flight, matched to its reply by `seq`; rank 0 keeps ids, intended times and
 * timestamps (both stamps are taken on rank 0's clock around the round trip). A server may run
 * the batches of several rank-0 workers at once (rank_concurrency), so its answers to different
 * workers may arrive in any order; each worker's stay in order.
 *
 * Tags: every request (prepare, batch, end of run, close) goes to a server on DPI_TAG_REQUEST, so the
 * requests of one rank-0 thread arrive in the order sent (MPI's non-overtaking rule). A server
 * answers a prepare or a batch on DPI_TAG_REPLY_BASE + origin (the rank-0 worker that asked,
 * which may not be the server's own worker when a dead rank's batches are re-dispatched) and an
 * end of run on DPI_TAG_END_ACK. Both sides are the same build on hosts of the same byte order.
 */
#ifndef DP_MPI_WIRE_H
#define DP_MPI_WIRE_H

#include <stdint.h>

#define DPI_MPI_MAGIC 0x3350444du /* "MDP3" little-endian; bumped on any layout change */

enum {
    DPI_TAG_REQUEST = 1,
    DPI_TAG_END_ACK = 2,
    DPI_TAG_REPLY_BASE = 64
};

typedef enum dpi_mpi_kind {
    DPI_MSG_PREPARE = 1,    /* rank 0 -> server: get ready for inputs [1..max_batch, c, h, w] of
                               stage `stage`; int32 cuts[stages - 1] follow */
    DPI_MSG_BATCH = 2,      /* rank 0 -> server: run n samples (tensor follows) */
    DPI_MSG_END_RUN = 3,    /* rank 0 -> server: the run is over, return from serve() */
    DPI_MSG_READY = 4,      /* server -> rank 0: answer to PREPARE (status) */
    DPI_MSG_LOGITS = 5,     /* server -> rank 0: answer to BATCH (status, logits follow) */
    DPI_MSG_END_ACK = 6,    /* server -> rank 0: answer to END_RUN (what it ran) */
    DPI_MSG_CLOSE = 7       /* rank 0 -> server: the runner is freed (no answer) */
} dpi_mpi_kind;

typedef struct dpi_mpi_hdr {
    uint32_t magic;
    uint32_t epoch;         /* runner generation: every rank opens its runners in the same order */
    uint64_t seq;           /* request number of the asking rank-0 worker, echoed in the answer */
    int32_t kind;           /* dpi_mpi_kind */
    int32_t origin;         /* rank-0 worker index that asked: answer tag DPI_TAG_REPLY_BASE + origin */
    int32_t n, c, h, w;     /* input shape (PREPARE: n = max_batch); LOGITS: n rows of c = K logits;
                               END_ACK: n = the most batches the server ran at once */
    int32_t status;         /* answers: dp_status on the server */
    int32_t fail;           /* BATCH: 1 = an injected fault: fail it without running */
    int64_t service_ns;     /* LOGITS: dp_exec_run time on the server, slowdown included; END_ACK:
                               total of the run */
    int64_t batches;        /* END_ACK: batches the server ran in this run */
    int64_t samples;        /* END_ACK: samples the server ran in this run */
    double slowdown;        /* BATCH: stretch the service time by this factor (>= 1; busy-wait) */
    int64_t stall_ns;       /* BATCH: sleep this long first (an injected stall) */
    int32_t stage, stages;  /* PREPARE, BATCH: which stage of a model split in `stages` to run; then
                               a batch carries that stage's input activation and its answer the
                               stage's output, [n, floats per sample] (1 stage: image and logits) */
    char message[160];      /* answers with status != DP_OK: the server's dp_last_error() */
} dpi_mpi_hdr;

_Static_assert(sizeof(dpi_mpi_hdr) == 256, "wire header layout changed: bump DPI_MPI_MAGIC");

#endif
