/*
 * A worker rank's side of the MPI backend: serve() receives rank 0's requests in order
 * (prepare, batches, end of run), runs each micro-batch on this process's own dp_exec with
 * threads_per_worker oneDNN threads, and answers with the logits and the time inference took.
 * Between requests it polls with sleeps (comm.h), so an idle rank leaves its core to others.
 */
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpi_impl.h"

#define HDR sizeof(dpi_mpi_hdr)

void dpi_mpi_parse_fault(dpi_mpi_backend *b) {
    const char *env = getenv("DP_MPI_TEST_FAULT");
    char mode[16] = "";
    int rank = -1;
    long long after = 0;
    if (!env || !*env) return;
    if (sscanf(env, "%d:%lld:%15s", &rank, &after, mode) != 3 || after < 0 ||
        (strcmp(mode, "kill") != 0 && strcmp(mode, "stall") != 0)) {
        b->host->log(DP_LOG_WARN, "mpi: ignoring DP_MPI_TEST_FAULT=%s (expected RANK:BATCHES:kill|stall)", env);
        return;
    }
    b->fault = strcmp(mode, "kill") == 0 ? DPI_FAULT_KILL : DPI_FAULT_STALL;
    b->fault_rank = rank;
    b->fault_after = after;
}

/* The previous answer must have left before the answer buffer is reused; then make room for
 * `need` bytes (the buffer only grows: no allocation once the run's largest batch was seen) and
 * clear the header. */
static dp_status out_ready(dpi_mpi_backend *b, size_t need) {
    if (b->out_req != MPI_REQUEST_NULL &&
        dpi_mpi_wait(&b->out_req, 1, 0, 0, b->host->now_ns() + b->timeout_ns) != 1) {
        /* Rank 0 gave up on this answer: MPI may still read the buffer, take a new one. */
        dpi_mpi_abandon(&b->out_req, 1, b->out);
        b->out = NULL;
        b->out_cap = 0;
    }
    if (need > b->out_cap) {
        dpi_mpi_free(b->out);
        b->out_cap = 0;
        b->out = dpi_mpi_alloc(need);
        if (!b->out) return DP_ERR_NOMEM;
        b->out_cap = need;
    }
    memset(b->out, 0, HDR);
    return DP_OK;
}

/* Send b->out (header filled by the caller, then payload bytes) to rank 0. */
static dp_status answer(dpi_mpi_backend *b, const dpi_mpi_hdr *req, int kind, dp_status st, size_t payload,
                        int tag) {
    dpi_mpi_hdr *a = (dpi_mpi_hdr *)b->out;
    a->magic = DPI_MPI_MAGIC;
    a->epoch = b->epoch;
    a->seq = req->seq;
    a->kind = kind;
    a->origin = req->origin;
    a->status = st;
    a->message[0] = '\0';
    if (st != DP_OK) {
        snprintf(a->message, sizeof a->message, "%s", dp_last_error());
        payload = 0;
    }
    dpi_mpi_lock();
    int rc = MPI_Isend(b->out, (int)(HDR + payload), MPI_BYTE, 0, tag, dpi_mpi_comm(), &b->out_req);
    dpi_mpi_unlock();
    if (rc != MPI_SUCCESS)
        return b->host->error(DP_ERR_BACKEND, "mpi: rank %d: answering rank 0 failed (MPI error %d)", b->rank, rc);
    return DP_OK;
}

/* Prepare every size a micro-batch of the run can have (dp_exec_prepare_batches, as the threads
 * backend does), so no batch pays set-up. */
static dp_status prepare(dpi_mpi_backend *b, const dpi_mpi_hdr *req) {
    dp_status s = DP_OK;
    if (req->n < 1 || req->c != dp_model_input_channels(b->cfg.model))
        s = b->host->error(DP_ERR_SHAPE, "mpi: rank %d: cannot prepare for [%d,%d,%d,%d]", b->rank, req->n, req->c,
                           req->h, req->w);
    if (s == DP_OK && !b->exec) {
        /* OpenMP fixes a primitive's thread count when it is created: set it first. */
        omp_set_num_threads(b->cfg.threads_per_worker);
        s = dp_exec_create(b->cfg.model, b->cfg.threads_per_worker, &b->exec);
    }
    if (s == DP_OK) s = dp_exec_prepare_batches(b->exec, req->n, req->h, req->w);
    dp_status os = out_ready(b, HDR);
    if (os != DP_OK) return os;
    b->prepared_n = s == DP_OK ? req->n : 0;
    return answer(b, req, DPI_MSG_READY, s, 0, DPI_TAG_REPLY_BASE + req->origin);
}

static dp_status run_batch(dpi_mpi_backend *b, const dpi_mpi_hdr *req, size_t bytes) {
    size_t K = (size_t)b->cfg.num_classes;
    if (b->fault != DPI_FAULT_NONE && b->rank == b->fault_rank && b->total_batches >= b->fault_after) {
        if (b->fault == DPI_FAULT_KILL) raise(SIGKILL);
        b->stalled = 1;
    }
    b->total_batches++;
    if (b->stalled) return DP_OK;
    dp_status s = DP_OK;
    if (!b->exec || req->n < 1 || req->n > b->prepared_n || req->c < 1 || req->h < 1 || req->w < 1 ||
        bytes != HDR + (size_t)req->n * req->c * req->h * req->w * sizeof(float))
        s = b->host->error(DP_ERR_SHAPE, "mpi: rank %d: batch [%d,%d,%d,%d] (%zu bytes) does not fit the prepared run",
                           b->rank, req->n, req->c, req->h, req->w, bytes);
    dp_status os = out_ready(b, HDR + (s == DP_OK ? (size_t)req->n * K * sizeof(float) : 0));
    if (os != DP_OK) return os;
    dpi_mpi_hdr *a = (dpi_mpi_hdr *)b->out;
    int64_t t0 = b->host->now_ns();
    if (s == DP_OK)
        s = dp_exec_run(b->exec, (const float *)(b->in + HDR), req->n, req->h, req->w, (float *)(b->out + HDR));
    a->service_ns = b->host->now_ns() - t0;
    a->n = req->n;
    a->c = (int)K;
    b->run_batches++;
    b->run_samples += req->n;
    b->run_service_ns += a->service_ns;
    return answer(b, req, DPI_MSG_LOGITS, s, (size_t)req->n * K * sizeof(float), DPI_TAG_REPLY_BASE + req->origin);
}

static dp_status end_run(dpi_mpi_backend *b, const dpi_mpi_hdr *req) {
    dp_status s = out_ready(b, HDR);
    if (s != DP_OK) return s;
    dpi_mpi_hdr *a = (dpi_mpi_hdr *)b->out;
    a->batches = b->run_batches;
    a->samples = b->run_samples;
    a->service_ns = b->run_service_ns;
    b->run_batches = b->run_samples = b->run_service_ns = 0;
    return answer(b, req, DPI_MSG_END_ACK, DP_OK, 0, DPI_TAG_END_ACK);
}

/* Receive rank 0's next request into b->in (growing it); 1 with *bytes, 0 at the deadline,
 * -1 on an MPI error (message set). */
static int receive(dpi_mpi_backend *b, size_t *bytes, int64_t deadline_ns) {
    MPI_Status st;
    int count = 0, got = dpi_mpi_probe(0, DPI_TAG_REQUEST, &st, deadline_ns);
    if (got != 1) return got;
    int rc = MPI_Get_count(&st, MPI_BYTE, &count);
    if (rc != MPI_SUCCESS || count == MPI_UNDEFINED) {
        b->host->error(DP_ERR_BACKEND, "mpi: rank %d: cannot size rank 0's message (MPI error %d)", b->rank, rc);
        return -1;
    }
    *bytes = count > 0 ? (size_t)count : 0;
    if (*bytes > b->in_cap) {
        dpi_mpi_free(b->in);
        b->in_cap = 0;
        b->in = dpi_mpi_alloc(*bytes);
        if (!b->in) return -1;
        b->in_cap = *bytes;
    }
    dpi_mpi_lock();
    rc = MPI_Recv(b->in, count, MPI_BYTE, 0, DPI_TAG_REQUEST, dpi_mpi_comm(), MPI_STATUS_IGNORE);
    dpi_mpi_unlock();
    if (rc != MPI_SUCCESS) {
        b->host->error(DP_ERR_BACKEND, "mpi: rank %d: receiving from rank 0 failed (MPI error %d)", b->rank, rc);
        return -1;
    }
    const dpi_mpi_hdr *req = (const dpi_mpi_hdr *)b->in;
    if (*bytes < HDR || req->magic != DPI_MPI_MAGIC) {
        b->host->log(DP_LOG_WARN, "mpi: rank %d: ignoring a %zu-byte message that is not ours", b->rank, *bytes);
        *bytes = 0;
    } else if (req->epoch != b->epoch) {
        *bytes = 0; /* for a runner that no longer exists */
    }
    return 1;
}

static dp_status closed_error(const dpi_mpi_backend *b) {
    return b->host->error(DP_ERR_CLOSED,
                          "mpi: rank %d: rank 0 freed its runner without starting this run (did it fail? see "
                          "its output)",
                          b->rank);
}

dp_status dpi_mpi_serve(void *backend) {
    dpi_mpi_backend *b = backend;
    if (b->closed) return closed_error(b);
    unsigned long slack = dpi_mpi_fine_timers();
    dp_status s = DP_OK;
    for (;;) {
        size_t bytes = 0;
        /* No deadline: between runs rank 0 may be busy with anything for as long as it likes. */
        if (receive(b, &bytes, 0) != 1) {
            s = DP_ERR_BACKEND;
            break;
        }
        if (bytes == 0) continue;
        const dpi_mpi_hdr *req = (const dpi_mpi_hdr *)b->in;
        if (req->kind == DPI_MSG_PREPARE) {
            s = prepare(b, req);
        } else if (req->kind == DPI_MSG_BATCH) {
            s = run_batch(b, req, bytes);
        } else if (req->kind == DPI_MSG_END_RUN) {
            s = end_run(b, req);
            break;
        } else if (req->kind == DPI_MSG_CLOSE) {
            b->closed = 1;
            s = closed_error(b);
            break;
        }
        if (s != DP_OK) break;
    }
    dpi_mpi_restore_timers(slack);
    return s;
}

void dpi_mpi_server_close(dpi_mpi_backend *b) {
    /* Wait (bounded) for rank 0 to free its runner too, so its CLOSE is not left unreceived. */
    int64_t deadline = b->host->now_ns() + b->timeout_ns;
    while (!b->closed) {
        size_t bytes = 0;
        if (receive(b, &bytes, deadline) != 1) break;
        if (bytes > 0 && ((const dpi_mpi_hdr *)b->in)->kind == DPI_MSG_CLOSE) b->closed = 1;
    }
    if (b->out_req != MPI_REQUEST_NULL &&
        dpi_mpi_wait(&b->out_req, 1, 0, 0, b->host->now_ns() + b->timeout_ns) != 1) {
        dpi_mpi_abandon(&b->out_req, 1, b->out);
        b->out = NULL;
    }
    dp_exec_free(b->exec);
    dpi_mpi_free(b->in);
    dpi_mpi_free(b->out);
}
