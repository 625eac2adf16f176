/*
 * A worker rank's side of the MPI backend: serve() receives rank 0's requests in order
 * (prepare, batches, end of run) and answers each with the logits and the time inference took.
 * Micro-batches run on lanes, each with its own dp_exec of threads_per_worker oneDNN threads:
 * rank 0 keeps up to workers / (worker ranks) batches in flight to a rank, and with
 * rank_concurrency lanes a rank runs that many at once (the serving thread hands a batch to an idle
 * lane and goes back to receiving). With one lane the serving thread runs it itself: no hand-off.
 * A batch also carries what the runner asks it to suffer (slowdown, an injected stall or fail),
 * applied here, where it runs. A batch of a pipeline stage runs that stage of the rank's split
 * (stages.c) on the activation it carries and answers with the stage's output. Between requests the serving thread polls with sleeps (comm.h), so
 * an idle rank leaves its core to others.
 */
#include <omp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* The previous answer in *buf must have left before the buffer is reused; then make room for
 * `need` bytes (the buffer only grows: no allocation once the run's largest batch was seen) and
 * clear the header. */
static dp_status out_ready(dpi_mpi_backend *b, unsigned char **buf, size_t *cap, MPI_Request *req, size_t need) {
    if (*req != MPI_REQUEST_NULL && dpi_mpi_wait(req, 1, 0, 0, b->host->now_ns() + b->timeout_ns) != 1) {
        /* Rank 0 gave up on this answer: MPI may still read the buffer, take a new one. */
        dpi_mpi_abandon(req, 1, *buf);
        *buf = NULL;
        *cap = 0;
    }
    if (need > *cap) {
        dpi_mpi_free(*buf);
        *cap = 0;
        *buf = dpi_mpi_alloc(need);
        if (!*buf) return DP_ERR_NOMEM;
        *cap = need;
    }
    memset(*buf, 0, HDR);
    return DP_OK;
}

/* Send buf (header filled by the caller, then payload bytes) to rank 0. */
static dp_status answer(dpi_mpi_backend *b, unsigned char *buf, MPI_Request *req, const dpi_mpi_hdr *q, int kind,
                        dp_status st, size_t payload, int tag) {
    dpi_mpi_hdr *a = (dpi_mpi_hdr *)buf;
    a->magic = DPI_MPI_MAGIC;
    a->epoch = b->epoch;
    a->seq = q->seq;
    a->kind = kind;
    a->origin = q->origin;
    a->status = st;
    a->message[0] = '\0';
    if (st != DP_OK) {
        snprintf(a->message, sizeof a->message, "%s", dp_last_error());
        payload = 0;
    }
    dpi_mpi_lock();
    int rc = MPI_Isend(buf, (int)(HDR + payload), MPI_BYTE, 0, tag, dpi_mpi_comm(), req);
    dpi_mpi_unlock();
    if (rc != MPI_SUCCESS)
        return b->host->error(DP_ERR_BACKEND, "mpi: rank %d: answering rank 0 failed (MPI error %d)", b->rank, rc);
    return DP_OK;
}

/* ---- one lane: prepare, run a batch -------------------------------------------------------------- */

static dp_status lane_prepare(dpi_mpi_lane *L, const dpi_mpi_hdr *q) {
    dpi_mpi_backend *b = L->b;
    if (q->n < 1 || q->c != dp_model_input_channels(b->cfg->model) || !L->execs)
        return b->host->error(DP_ERR_SHAPE, "mpi: rank %d: cannot prepare for [%d,%d,%d,%d]", b->rank, q->n, q->c,
                              q->h, q->w);
    return dpi_mpi_lane_prepare(L, q->stage, q->n, q->h, q->w);
}

static void spin_until(const dpi_worker_host *host, int64_t t) {
    while (host->now_ns() < t)
        ;
}

static void sleep_ns(int64_t ns) {
    struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* Run the batch in L->in (job_bytes long) and send its answer. */
static dp_status lane_run(dpi_mpi_lane *L) {
    dpi_mpi_backend *b = L->b;
    const dpi_mpi_hdr *q = (const dpi_mpi_hdr *)L->in;
    int stage = q->stage;
    dp_status s = DP_OK;
    if (q->n < 1 || q->n > b->prepared_n || q->stages != b->nstages || stage < 0 || stage >= b->nstages ||
        q->h != b->run_h || q->w != b->run_w || L->job_bytes != HDR + (size_t)q->n * b->in_floats[stage] * sizeof(float))
        s = b->host->error(DP_ERR_SHAPE,
                           "mpi: rank %d: batch [%d,%d,%d,%d] of stage %d of %d (%zu bytes) does not fit the prepared run",
                           b->rank, q->n, q->c, q->h, q->w, stage, q->stages, L->job_bytes);
    /* A stage this lane was not prepared for: a batch re-dispatched from a dead rank. It pays the
     * set-up once, here. */
    if (s == DP_OK && !L->execs[stage]) s = dpi_mpi_lane_prepare(L, stage, b->prepared_n, q->h, q->w);
    size_t K = s == DP_OK ? b->out_floats[stage] : 0;
    dp_status os = out_ready(b, &L->out, &L->out_cap, &L->out_req, HDR + (size_t)q->n * K * sizeof(float));
    if (os != DP_OK) return os;
    dpi_mpi_hdr *a = (dpi_mpi_hdr *)L->out;
    if (s == DP_OK && q->stall_ns > 0) sleep_ns(q->stall_ns);
    int64_t t0 = b->host->now_ns();
    if (s == DP_OK && q->fail)
        s = b->host->error(DP_ERR_BACKEND, "rank %d: injected fault (fail)", b->rank);
    if (s == DP_OK)
        s = dp_exec_run(L->execs[stage], (const float *)(L->in + HDR), q->n, q->h, q->w, (float *)(L->out + HDR));
    int64_t t1 = b->host->now_ns();
    /* A slower machine keeps its core busy for longer: busy-wait, on this rank, not rank 0. */
    if (s == DP_OK && q->slowdown > 1.0) {
        spin_until(b->host, t1 + (int64_t)((q->slowdown - 1.0) * (double)(t1 - t0)));
        t1 = b->host->now_ns();
    }
    a->service_ns = t1 - t0;
    a->n = q->n;
    a->c = (int)K;
    L->run_batches++;
    L->run_samples += q->n;
    L->run_service_ns += a->service_ns;
    return answer(b, L->out, &L->out_req, q, DPI_MSG_LOGITS, s, (size_t)q->n * K * sizeof(float),
                  DPI_TAG_REPLY_BASE + q->origin);
}

static dp_status lane_job(dpi_mpi_lane *L) {
    if (L->job == DPI_MSG_PREPARE) {
        L->prepared = lane_prepare(L, (const dpi_mpi_hdr *)L->in);
        /* The message is this thread's: keep it for the serving thread's answer. */
        if (L->prepared != DP_OK) snprintf(L->why, sizeof L->why, "%s", dp_last_error());
        return DP_OK;
    }
    return lane_run(L);
}

/* A lane's thread: wait for a job, do it, go idle again. A failure to answer (MPI broken, out of
 * memory) is logged: the serving thread sees the rank time out on rank 0's side as for a crash. */
static void *lane_main(void *arg) {
    dpi_mpi_lane *L = arg;
    dpi_mpi_backend *b = L->b;
    omp_set_num_threads(b->cfg->threads_per_worker);
    pthread_mutex_lock(&b->mu);
    for (;;) {
        while (!L->job && !b->quit) pthread_cond_wait(&b->work_cv, &b->mu);
        if (!L->job) break;
        pthread_mutex_unlock(&b->mu);
        if (lane_job(L) != DP_OK)
            b->host->log(DP_LOG_WARN, "mpi: rank %d: a micro-batch was not answered: %s", b->rank, dp_last_error());
        pthread_mutex_lock(&b->mu);
        L->job = 0;
        pthread_cond_broadcast(&b->idle_cv);
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

/* ---- the serving thread ---------------------------------------------------------------------- */

/* An idle lane (waiting for one when all are busy). */
static dpi_mpi_lane *idle_lane(dpi_mpi_backend *b) {
    if (b->nlanes == 1) return &b->lanes[0];
    pthread_mutex_lock(&b->mu);
    for (;;) {
        for (int i = 0; i < b->nlanes; i++)
            if (!b->lanes[i].job) {
                pthread_mutex_unlock(&b->mu);
                return &b->lanes[i];
            }
        pthread_cond_wait(&b->idle_cv, &b->mu);
    }
}

static void wait_all_idle(dpi_mpi_backend *b) {
    if (b->nlanes == 1) return;
    pthread_mutex_lock(&b->mu);
    for (int i = 0; i < b->nlanes; i++)
        while (b->lanes[i].job) pthread_cond_wait(&b->idle_cv, &b->mu);
    pthread_mutex_unlock(&b->mu);
}

/* Hand job to lane L (the request is in L->in); with one lane, do it now. */
static dp_status give(dpi_mpi_backend *b, dpi_mpi_lane *L, int job) {
    if (b->nlanes == 1) {
        L->job = job;
        b->peak |= job == DPI_MSG_BATCH;
        dp_status s = lane_job(L);
        L->job = 0;
        return s;
    }
    pthread_mutex_lock(&b->mu);
    L->job = job;
    int busy = 0;
    for (int i = 0; i < b->nlanes; i++) busy += b->lanes[i].job != 0;
    if (job == DPI_MSG_BATCH && busy > b->peak) b->peak = busy;
    pthread_cond_broadcast(&b->work_cv);
    pthread_mutex_unlock(&b->mu);
    return DP_OK;
}

static dp_status prepare(dpi_mpi_backend *b, const dpi_mpi_lane *from) {
    const dpi_mpi_hdr *q = (const dpi_mpi_hdr *)from->in;
    dpi_mpi_hdr req = *q;
    wait_all_idle(b);
    dp_status s = dpi_mpi_stages_prepare(b, q, from->job_bytes);
    for (int i = 0; i < b->nlanes && s == DP_OK; i++) {
        dpi_mpi_lane *L = &b->lanes[i];
        if (L != from) memcpy(L->in, q, HDR); /* every lane's in holds at least a header */
        give(b, L, DPI_MSG_PREPARE);
    }
    wait_all_idle(b);
    for (int i = 0; i < b->nlanes && s == DP_OK; i++)
        if ((s = b->lanes[i].prepared) != DP_OK) b->host->error(s, "%s", b->lanes[i].why);
    b->prepared_n = s == DP_OK ? req.n : 0;
    dp_status os = out_ready(b, &b->out, &b->out_cap, &b->out_req, HDR);
    if (os != DP_OK) return os;
    return answer(b, b->out, &b->out_req, &req, DPI_MSG_READY, s, 0, DPI_TAG_REPLY_BASE + req.origin);
}

/* A batch to an idle lane, unless the test hook says this rank dies or hangs now. */
static dp_status batch(dpi_mpi_backend *b, dpi_mpi_lane *L) {
    if (b->fault != DPI_FAULT_NONE && b->rank == b->fault_rank && b->total_batches >= b->fault_after) {
        if (b->fault == DPI_FAULT_KILL) raise(SIGKILL);
        b->stalled = 1;
    }
    b->total_batches++;
    return b->stalled ? DP_OK : give(b, L, DPI_MSG_BATCH);
}

static dp_status end_run(dpi_mpi_backend *b, const dpi_mpi_hdr *q) {
    dpi_mpi_hdr req = *q;
    wait_all_idle(b);
    dp_status s = out_ready(b, &b->out, &b->out_cap, &b->out_req, HDR);
    if (s != DP_OK) return s;
    dpi_mpi_hdr *a = (dpi_mpi_hdr *)b->out;
    a->n = b->peak;
    b->peak = 0;
    for (int i = 0; i < b->nlanes; i++) {
        dpi_mpi_lane *L = &b->lanes[i];
        a->batches += L->run_batches;
        a->samples += L->run_samples;
        a->service_ns += L->run_service_ns;
        L->run_batches = L->run_samples = L->run_service_ns = 0;
    }
    return answer(b, b->out, &b->out_req, &req, DPI_MSG_END_ACK, DP_OK, 0, DPI_TAG_END_ACK);
}

/* Receive rank 0's next request into L->in (growing it); 1 with *bytes, 0 at the deadline, -1 on
 * an MPI error (message set). *bytes = 0: a message to ignore. */
static int receive(dpi_mpi_backend *b, dpi_mpi_lane *L, size_t *bytes, int64_t deadline_ns) {
    MPI_Status st;
    int count = 0, got = dpi_mpi_probe(0, DPI_TAG_REQUEST, &st, deadline_ns);
    if (got != 1) return got;
    int rc = MPI_Get_count(&st, MPI_BYTE, &count);
    if (rc != MPI_SUCCESS || count == MPI_UNDEFINED) {
        b->host->error(DP_ERR_BACKEND, "mpi: rank %d: cannot size rank 0's message (MPI error %d)", b->rank, rc);
        return -1;
    }
    *bytes = count > 0 ? (size_t)count : 0;
    if (*bytes > L->in_cap) {
        dpi_mpi_free(L->in);
        L->in_cap = 0;
        L->in = dpi_mpi_alloc(*bytes);
        if (!L->in) return -1;
        L->in_cap = *bytes;
    }
    dpi_mpi_lock();
    rc = MPI_Recv(L->in, count, MPI_BYTE, 0, DPI_TAG_REQUEST, dpi_mpi_comm(), MPI_STATUS_IGNORE);
    dpi_mpi_unlock();
    if (rc != MPI_SUCCESS) {
        b->host->error(DP_ERR_BACKEND, "mpi: rank %d: receiving from rank 0 failed (MPI error %d)", b->rank, rc);
        return -1;
    }
    const dpi_mpi_hdr *q = (const dpi_mpi_hdr *)L->in;
    if (*bytes < HDR || q->magic != DPI_MPI_MAGIC) {
        b->host->log(DP_LOG_WARN, "mpi: rank %d: ignoring a %zu-byte message that is not ours", b->rank, *bytes);
        *bytes = 0;
    } else if (q->epoch != b->epoch) {
        *bytes = 0; /* for a runner that no longer exists */
    }
    L->job_bytes = *bytes;
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
        dpi_mpi_lane *L = idle_lane(b);
        /* No deadline: between runs rank 0 may be busy with anything for as long as it likes. */
        if (receive(b, L, &bytes, 0) != 1) {
            s = DP_ERR_BACKEND;
            break;
        }
        if (bytes == 0) continue;
        int kind = ((const dpi_mpi_hdr *)L->in)->kind;
        if (kind == DPI_MSG_PREPARE) {
            s = prepare(b, L);
        } else if (kind == DPI_MSG_BATCH) {
            s = batch(b, L);
        } else if (kind == DPI_MSG_END_RUN) {
            s = end_run(b, (const dpi_mpi_hdr *)L->in);
            break;
        } else if (kind == DPI_MSG_CLOSE) {
            b->closed = 1;
            s = closed_error(b);
            break;
        }
        if (s != DP_OK) break;
    }
    wait_all_idle(b);
    dpi_mpi_restore_timers(slack);
    return s;
}

/* How many lanes: rank 0 keeps workers / (worker ranks) batches in flight to this rank, so more
 * could never be busy; auto (0) also stops at the cores this process may run on. */
static int lane_count(const dpi_mpi_backend *b) {
    int inflight = b->workers / (b->size - 1), want = b->cfg->rank_concurrency;
    if (want == 0) {
        cpu_set_t set;
        int cores = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
        want = cores / b->cfg->threads_per_worker;
    }
    if (want > inflight) want = inflight;
    return want < 1 ? 1 : want;
}

static void free_lanes(dpi_mpi_backend *b);

dp_status dpi_mpi_server_open(dpi_mpi_backend *b) {
    int n = lane_count(b);
    b->out_req = MPI_REQUEST_NULL;
    b->lanes = calloc((size_t)n, sizeof *b->lanes);
    if (!b->lanes) return b->host->error(DP_ERR_NOMEM, "backend mpi: out of memory");
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->work_cv, NULL);
    pthread_cond_init(&b->idle_cv, NULL);
    dp_status s = DP_OK;
    for (int i = 0; i < n && s == DP_OK; i++) {
        dpi_mpi_lane *L = &b->lanes[i];
        b->nlanes++;
        L->b = b;
        L->out_req = MPI_REQUEST_NULL;
        L->in = dpi_mpi_alloc(HDR);
        L->in_cap = L->in ? HDR : 0;
        if (!L->in) s = DP_ERR_NOMEM;
        else if (n > 1 && pthread_create(&L->thread, NULL, lane_main, L) != 0)
            s = b->host->error(DP_ERR_INTERNAL, "backend mpi: cannot start the thread of lane %d", i);
        else L->started = n > 1;
    }
    if (s != DP_OK) free_lanes(b);
    return s;
}

/* An answer still being sent when the lane goes: wait for it (bounded), else keep its buffer. */
static void settle(dpi_mpi_backend *b, unsigned char **buf, MPI_Request *req) {
    if (*req != MPI_REQUEST_NULL && dpi_mpi_wait(req, 1, 0, 0, b->host->now_ns() + b->timeout_ns) != 1) {
        dpi_mpi_abandon(req, 1, *buf);
        *buf = NULL;
    }
    dpi_mpi_free(*buf);
    *buf = NULL;
}

void dpi_mpi_server_close(dpi_mpi_backend *b) {
    if (!b->lanes) return;
    /* Wait (bounded) for rank 0 to free its runner too, so its CLOSE is not left unreceived. */
    int64_t deadline = b->host->now_ns() + b->timeout_ns;
    while (!b->closed) {
        size_t bytes = 0;
        if (receive(b, &b->lanes[0], &bytes, deadline) != 1) break;
        if (bytes > 0 && ((const dpi_mpi_hdr *)b->lanes[0].in)->kind == DPI_MSG_CLOSE) b->closed = 1;
    }
    free_lanes(b);
}

static void free_lanes(dpi_mpi_backend *b) {
    pthread_mutex_lock(&b->mu);
    b->quit = 1;
    pthread_cond_broadcast(&b->work_cv);
    pthread_mutex_unlock(&b->mu);
    for (int i = 0; i < b->nlanes; i++) {
        dpi_mpi_lane *L = &b->lanes[i];
        if (L->started) pthread_join(L->thread, NULL);
        settle(b, &L->out, &L->out_req);
        dpi_mpi_free(L->in);
    }
    dpi_mpi_stages_free(b);
    settle(b, &b->out, &b->out_req);
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->work_cv);
    pthread_cond_destroy(&b->idle_cv);
    free(b->lanes);
    b->lanes = NULL;
}
