/*
 * libdp/mpi/comm.h — the plugin's process-wide MPI state: initialisation (once per process,
 * finalised at exit), the private communicator, which ranks are dead, and waiting for MPI
 * requests without spinning a core.
 *
 * Waiting: Open MPI's blocking calls busy-poll a core, which on a machine where ranks outnumber
 * cores takes it away from inference. Every wait here polls with MPI_Testall / MPI_Iprobe and
 * sleeps between polls (20 us, doubling up to DP_MPI_POLL_MAX_US, default 200 us), with the
 * thread's timer slack lowered so that short sleeps stay short.
 *
 * Thread safety: MPI is initialised with MPI_THREAD_MULTIPLE. When the application initialised
 * MPI itself at a lower level (at least MPI_THREAD_SERIALIZED), every MPI call here is serialised
 * by a mutex instead (held only for the call, never while waiting).
 */
#ifndef DP_MPI_COMM_H
#define DP_MPI_COMM_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/worker.h"

/* Initialise MPI (or join the application's MPI) once per process; later calls only check. */
dp_status dpi_mpi_init(const dpi_worker_host *host);

MPI_Comm dpi_mpi_comm(void);
int dpi_mpi_rank(void);
int dpi_mpi_size(void);

/* One MPI runner at a time per process: messages carry its epoch (runner generation), and every
 * rank opens its runners in the same order. DP_ERR_BUSY while another one is open. */
dp_status dpi_mpi_open_runner(uint32_t *epoch);
/* Release it. On rank 0 also tell the worker ranks (DPI_MSG_CLOSE; waits at most timeout_ns for
 * the sends), so that one still waiting in serve() for a run rank 0 will never start (rank 0
 * failed) returns instead of hanging, and one freeing its runner knows rank 0 did too. */
void dpi_mpi_close_runner(int64_t timeout_ns);

/* Serialise MPI calls when the thread level is below MPI_THREAD_MULTIPLE (no-ops otherwise). */
void dpi_mpi_lock(void);
void dpi_mpi_unlock(void);

/* Lower (or restore) the calling thread's timer slack so that poll sleeps are accurate. */
unsigned long dpi_mpi_fine_timers(void);
void dpi_mpi_restore_timers(unsigned long saved);

/* Wait until all n requests complete (1), the deadline passes (0; deadline_ns 0 = none) or MPI
 * fails (-1, message set). The first sleep lasts first_sleep_ns when that is longer (an answer
 * expected no sooner); then sleeps double from 20 us up to max_nap_ns (0: DP_MPI_POLL_MAX_US). */
int dpi_mpi_wait(MPI_Request *reqs, int n, int64_t first_sleep_ns, int64_t max_nap_ns, int64_t deadline_ns);
/* Wait for a message from src with tag to arrive (1, *st filled), the deadline (0) or an
 * MPI error (-1). */
int dpi_mpi_probe(int src, int tag, MPI_Status *st, int64_t deadline_ns);

/* Give up on a request that may never complete (its peer is dead). A receive is cancelled;
 * a send cannot be, so buf (which MPI may still read) is kept until the process exits and the
 * caller must use a new buffer. */
void dpi_mpi_abandon(MPI_Request *req, int is_send, void *buf);

/* A rank that did not answer in time is dead for the rest of the process (its samples go to
 * live ranks). `unanswered` marks it as not having acknowledged the end of the last run: a
 * finalize would then hang, so rank 0 ends the job with MPI_Abort at exit instead. */
/* 1 if this call declared it (it was alive), 0 if it already was dead. */
int dpi_mpi_declare_dead(int rank);
int dpi_mpi_is_dead(int rank);
void dpi_mpi_set_unanswered(int rank, int unanswered);
/* The next live worker rank after `after` (round robin), or -1 when none is left. */
int dpi_mpi_next_live(int after);

/* Aligned buffer for message headers + float payloads; NULL with DP_ERR_NOMEM set. */
void *dpi_mpi_alloc(size_t bytes);
void dpi_mpi_free(void *p);

#endif
