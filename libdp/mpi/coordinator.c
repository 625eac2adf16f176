/*
 * Rank 0's side of the MPI backend: runner worker thread k is a proxy for worker rank
 * 1 + k % (size - 1), its home rank.
 * run() sends the micro-batch (one message: header + raw float32 tensor) with MPI_Isend, posts
 * the receive of the answer first, and waits for both without spinning (comm.h); the runner
 * stamps start/end around run(), so a sample's service time on rank 0 is the round trip.
 * A pipeline stage's proxy sends its stage's input activation instead of the image and gets the
 * stage's output back (the runner's hand-overs on rank 0 pass it to the next stage's proxy:
 * every activation is relayed through rank 0). PREPARE tells the rank the cuts and the stage.
 *
 * Failure: a rank that does not answer within worker_timeout_s is declared dead. The batch it
 * held fails (runner counts it failed) or, with retry, is sent to a live rank; later batches
 * routed to the dead rank's worker always go to live ranks (round robin), so the partitioner's
 * choice of worker stays valid and nothing else is lost.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "dataparallel/split.h"
#include "mpi_impl.h"

#define HDR sizeof(dpi_mpi_hdr)
/* After the first (long) sleep an answer is due: poll at a fine grain. */
#define ANSWER_NAP_NS 50000
/* The least time a rank gets to prepare for a run (build its primitives). */
#define PREPARE_TIMEOUT_NS 30000000000LL
/* How long end_run waits for a rank already declared dead to acknowledge. */
#define DEAD_GRACE_NS 1000000000LL

typedef struct proxy {
    dpi_mpi_backend *b;
    int worker, home;        /* home rank = 1 + worker % (worker ranks) */
    int c, h, w;
    int stage;               /* of the model split the runner's way (0 and 1 stage: the whole model) */
    size_t sample_bytes;     /* the stage's input per sample: image or activation */
    size_t out_bytes;        /* its output per sample: activation or logits */
    uint64_t seq;
    unsigned char *req;      /* header + [max_batch,c,h,w] */
    size_t req_cap;
    unsigned char *ans;      /* header + [max_batch,K] */
    size_t ans_cap;
    int64_t infer_ema_ns;    /* the rank's inference time per sample, as it reports it */
    unsigned long saved_slack;
    dpi_mpi_wstats st;
} proxy;

static void fill_hdr(proxy *p, int kind, int n) {
    dpi_mpi_hdr *q = (dpi_mpi_hdr *)p->req;
    memset(q, 0, HDR);
    q->magic = DPI_MPI_MAGIC;
    q->epoch = p->b->epoch;
    q->kind = kind;
    q->origin = p->worker;
    q->n = n;
    q->c = p->c;
    q->h = p->h;
    q->w = p->w;
    q->stage = p->stage;
    q->stages = p->b->cfg->stage_models ? p->b->cfg->stages : 1;
}

/* One request (req_bytes of p->req) to rank `to` and its answer into p->ans. DP_ERR_TIMEOUT
 * when the rank did not answer within timeout_ns (it is then declared dead). */
static dp_status exchange(proxy *p, int to, size_t req_bytes, int answer_kind, int64_t timeout_ns) {
    const dpi_worker_host *host = p->b->host;
    dpi_mpi_hdr *q = (dpi_mpi_hdr *)p->req;
    MPI_Comm comm = dpi_mpi_comm();
    MPI_Request rq[2] = {MPI_REQUEST_NULL, MPI_REQUEST_NULL};
    q->seq = ++p->seq;
    dpi_mpi_lock();
    int rc = MPI_Irecv(p->ans, (int)p->ans_cap, MPI_BYTE, to, DPI_TAG_REPLY_BASE + p->worker, comm, &rq[0]);
    if (rc == MPI_SUCCESS) rc = MPI_Isend(p->req, (int)req_bytes, MPI_BYTE, to, DPI_TAG_REQUEST, comm, &rq[1]);
    dpi_mpi_unlock();
    int done = -1;
    p->st.bytes_out += rc == MPI_SUCCESS ? (int64_t)req_bytes : 0;
    if (rc == MPI_SUCCESS) {
        /* No answer can come before the inference is done: sleep through most of it. The
         * rank's own inference time is the bound, not the round trip, which grows with load. */
        int64_t first = answer_kind == DPI_MSG_LOGITS ? p->infer_ema_ns * q->n * 3 / 4 : 0;
        done = dpi_mpi_wait(rq, 2, first, ANSWER_NAP_NS, host->now_ns() + timeout_ns);
    } else {
        host->error(DP_ERR_BACKEND, "mpi: sending to worker rank %d failed (MPI error %d)", to, rc);
    }
    if (done != 1) {
        /* MPI may still read the request buffer: continue with a copy. */
        unsigned char *fresh = rq[1] != MPI_REQUEST_NULL ? dpi_mpi_alloc(p->req_cap) : NULL;
        if (fresh) memcpy(fresh, p->req, req_bytes);
        dpi_mpi_abandon(&rq[0], 0, NULL);
        if (rq[1] != MPI_REQUEST_NULL) {
            dpi_mpi_abandon(&rq[1], 1, p->req);
            p->req = fresh; /* NULL when out of memory: this worker's later batches fail */
            if (!fresh) return host->error(DP_ERR_NOMEM, "mpi: out of memory replacing a message buffer");
        }
        if (done == 0) {
            if (dpi_mpi_declare_dead(to))
                host->log(DP_LOG_WARN,
                          "mpi: worker rank %d did not answer within %.3g s: declared dead; "
                          "batches routed to it go to the other ranks from now on",
                          to, (double)timeout_ns * 1e-9);
            return host->error(DP_ERR_TIMEOUT, "mpi: worker rank %d did not answer within %.3g s", to,
                               (double)timeout_ns * 1e-9);
        }
        return DP_ERR_BACKEND;
    }
    const dpi_mpi_hdr *a = (const dpi_mpi_hdr *)p->ans;
    p->st.bytes_in += (int64_t)HDR + (answer_kind == DPI_MSG_LOGITS && a->status == DP_OK
                                          ? (int64_t)q->n * (int64_t)p->out_bytes
                                          : 0);
    if (a->magic != DPI_MPI_MAGIC || a->epoch != p->b->epoch || a->seq != p->seq || a->kind != answer_kind)
        return host->error(DP_ERR_INTERNAL,
                           "mpi: unexpected answer from worker rank %d (kind %d, seq %llu; expected kind %d, seq "
                           "%llu): are all ranks running the same build?",
                           to, a->kind, (unsigned long long)a->seq, answer_kind, (unsigned long long)p->seq);
    if (a->status != DP_OK) {
        dp_status st = a->status > DP_OK && a->status < DP_STATUS_COUNT_ ? (dp_status)a->status : DP_ERR_BACKEND;
        return host->error(st, "mpi: worker rank %d: %.*s", to, (int)sizeof a->message, a->message);
    }
    if (answer_kind == DPI_MSG_LOGITS && (a->n != q->n || (size_t)a->c * sizeof(float) != p->out_bytes))
        return host->error(DP_ERR_INTERNAL, "mpi: worker rank %d answered %d x %d floats for %d x %zu", to, a->n, a->c,
                           q->n, p->out_bytes / sizeof(float));
    return DP_OK;
}

dp_status dpi_mpi_proxy_init(void *backend, int worker, int c, int h, int w, void **ctx) {
    dpi_mpi_backend *b = backend;
    const dpi_worker_config *cfg = b->cfg;
    size_t mb = (size_t)cfg->max_batch;
    proxy *p = NULL;
    if (posix_memalign((void **)&p, 64, sizeof *p) != 0) return b->host->error(DP_ERR_NOMEM, "mpi: out of memory");
    memset(p, 0, sizeof *p);
    p->b = b;
    p->worker = worker;
    p->home = 1 + worker % (b->size - 1);
    p->c = c;
    p->h = h;
    p->w = w;
    p->sample_bytes = (size_t)c * h * w * sizeof(float);
    p->out_bytes = (size_t)cfg->num_classes * sizeof(float);
    int ncuts = cfg->stage_models ? cfg->stages - 1 : 0;
    if (ncuts > 0) {
        int in[3], out[3];
        p->stage = worker % cfg->stages;
        dp_model_io_shape(cfg->stage_models[p->stage], h, w, in, out);
        p->sample_bytes = (size_t)in[0] * in[1] * in[2] * sizeof(float);
        p->out_bytes = (size_t)out[0] * out[1] * out[2] * sizeof(float);
    }
    /* The request buffer also carries the cuts of PREPARE. */
    p->req_cap = HDR + (mb * p->sample_bytes > ncuts * sizeof(int32_t) ? mb * p->sample_bytes : ncuts * sizeof(int32_t));
    p->ans_cap = HDR + mb * p->out_bytes;
    p->saved_slack = dpi_mpi_fine_timers();
    dp_status s = DP_OK;
    if (p->req_cap > INT_MAX || p->ans_cap > INT_MAX)
        s = b->host->error(DP_ERR_UNSUPPORTED,
                           "mpi: a micro-batch of %d x [%d,%d,%d] is %zu bytes, more than one MPI message can "
                           "carry (2 GiB): lower max_batch",
                           b->cfg->max_batch, c, h, w, p->req_cap > p->ans_cap ? p->req_cap : p->ans_cap);
    if (s == DP_OK) {
        p->req = dpi_mpi_alloc(p->req_cap);
        p->ans = dpi_mpi_alloc(p->ans_cap);
        if (!p->req || !p->ans) s = DP_ERR_NOMEM;
    }
    /* The server builds its primitives now, so the first batch of the run pays no set-up. That
     * can take seconds on a busy host, so it gets at least PREPARE_TIMEOUT_NS. A rank that does
     * not answer is declared dead here: the run goes on without it. */
    if (s == DP_OK && !dpi_mpi_is_dead(p->home)) {
        fill_hdr(p, DPI_MSG_PREPARE, (int)mb);
        for (int k = 0; k < ncuts; k++) {
            int32_t cut = cfg->cuts[k];
            memcpy(p->req + HDR + k * sizeof cut, &cut, sizeof cut);
        }
        s = exchange(p, p->home, HDR + ncuts * sizeof(int32_t), DPI_MSG_READY,
                     b->timeout_ns > PREPARE_TIMEOUT_NS ? b->timeout_ns : PREPARE_TIMEOUT_NS);
        if (s == DP_ERR_TIMEOUT) s = DP_OK;
    }
    if (s != DP_OK) {
        dpi_mpi_proxy_fini(p);
        return s;
    }
    *ctx = p;
    return DP_OK;
}

dp_status dpi_mpi_proxy_run(void *ctx, const float *input, int n, int c, int h, int w, float *logits,
                            const dpi_worker_fx *fx) {
    proxy *p = ctx;
    const dpi_mpi_backend *b = p->b;
    if (!p->req) return b->host->error(DP_ERR_NOMEM, "mpi: worker %d lost its message buffer", p->worker);
    if (n < 1 || n > b->cfg->max_batch || c != p->c || h != p->h || w != p->w)
        return b->host->error(DP_ERR_SHAPE, "mpi: batch [%d,%d,%d,%d] does not fit the run's [<=%d,%d,%d,%d]", n, c,
                              h, w, b->cfg->max_batch, p->c, p->h, p->w);
    size_t bytes = HDR + (size_t)n * p->sample_bytes;
    fill_hdr(p, DPI_MSG_BATCH, n);
    dpi_mpi_hdr *q = (dpi_mpi_hdr *)p->req;
    q->slowdown = fx ? fx->slowdown : 1.0;
    q->stall_ns = fx ? fx->stall_ns : 0;
    q->fail = fx ? fx->fail : 0;
    memcpy(p->req + HDR, input, (size_t)n * p->sample_bytes);
    int to = dpi_mpi_is_dead(p->home) ? dpi_mpi_next_live(p->home) : p->home;
    for (;;) {
        if (to < 0)
            return b->host->error(DP_ERR_TIMEOUT, "mpi: no live worker rank left for worker %d's batch", p->worker);
        int64_t t0 = b->host->now_ns();
        dp_status s = exchange(p, to, bytes, DPI_MSG_LOGITS, b->timeout_ns);
        if (s == DP_OK) {
            const dpi_mpi_hdr *a = (const dpi_mpi_hdr *)p->ans;
            int64_t rtt = b->host->now_ns() - t0;
            memcpy(logits, p->ans + HDR, (size_t)n * p->out_bytes);
            int64_t per_sample = a->service_ns / n;
            p->infer_ema_ns = p->infer_ema_ns ? (7 * p->infer_ema_ns + per_sample) / 8 : per_sample;
            p->st.batches++;
            p->st.samples += n;
            p->st.rtt_ns += rtt;
            p->st.service_ns += a->service_ns;
            p->st.forwarded += to != p->home;
            return DP_OK;
        }
        /* Without retry the batch a dead rank held fails; it was in flight, nobody else has it. */
        if (s != DP_ERR_TIMEOUT || !b->cfg->retry) return s;
        to = dpi_mpi_next_live(to);
    }
}

void dpi_mpi_proxy_fini(void *ctx) {
    proxy *p = ctx;
    if (!p) return;
    p->b->stats[p->worker] = p->st;
    dpi_mpi_restore_timers(p->saved_slack);
    dpi_mpi_free(p->req);
    dpi_mpi_free(p->ans);
    free(p);
}

/* What worker k cost this run, for the log (the MPI path = round trip - time on the rank). */
static void log_stats(const dpi_mpi_backend *b, int k, const dpi_mpi_hdr *ack) {
    const dpi_mpi_wstats *s = &b->stats[k];
    if (s->batches == 0) return;
    double rtt = (double)s->rtt_ns / (double)s->batches * 1e-3;
    double svc = (double)s->service_ns / (double)s->batches * 1e-3;
    b->host->log(DP_LOG_INFO,
                 "mpi: worker %d (rank %d): %lld batches, %lld samples (%lld batches re-dispatched); per batch: "
                 "round trip %.1f us, inference on the rank %.1f us, MPI path %.1f us; the rank ran %lld samples, "
                 "at most %d batches at once",
                 k, 1 + k % (b->size - 1), (long long)s->batches, (long long)s->samples, (long long)s->forwarded, rtt,
                 svc, rtt - svc, ack ? (long long)ack->samples : -1LL, ack ? ack->n : -1);
}

dp_status dpi_mpi_end_run(void *backend) {
    dpi_mpi_backend *b = backend;
    int n = b->size - 1, kept = 0;
    b->wire_out = b->wire_in = 0;
    MPI_Comm comm = dpi_mpi_comm();
    dp_status s = DP_OK;
    /* Per rank an END_RUN message and its acknowledgement; requests ordered live ranks first:
     * they get worker_timeout_s, ranks already dead only a short grace. */
    dpi_mpi_hdr *msgs = dpi_mpi_alloc(2 * (size_t)n * HDR);
    MPI_Request *rq = malloc(2 * (size_t)n * sizeof *rq);
    int *order = malloc((size_t)n * sizeof *order);
    const dpi_mpi_hdr **ack_of = calloc((size_t)n, sizeof *ack_of); /* by rank - 1 */
    if (!msgs || !rq || !order || !ack_of) {
        s = b->host->error(DP_ERR_NOMEM, "mpi: out of memory ending the run");
        goto out;
    }
    memset(msgs, 0, 2 * (size_t)n * HDR);
    int live = 0, at = 0;
    for (int r = 1; r <= n; r++)
        if (!dpi_mpi_is_dead(r)) order[at++] = r;
    live = at;
    for (int r = 1; r <= n; r++)
        if (dpi_mpi_is_dead(r)) order[at++] = r;
    for (int i = 0; i < n; i++) {
        dpi_mpi_hdr *end = &msgs[2 * i], *ack = &msgs[2 * i + 1];
        *end = (dpi_mpi_hdr){.magic = DPI_MPI_MAGIC, .epoch = b->epoch, .kind = DPI_MSG_END_RUN};
        rq[2 * i] = rq[2 * i + 1] = MPI_REQUEST_NULL;
        dpi_mpi_lock();
        int rc = MPI_Irecv(ack, (int)HDR, MPI_BYTE, order[i], DPI_TAG_END_ACK, comm, &rq[2 * i + 1]);
        if (rc == MPI_SUCCESS) rc = MPI_Isend(end, (int)HDR, MPI_BYTE, order[i], DPI_TAG_REQUEST, comm, &rq[2 * i]);
        dpi_mpi_unlock();
        /* A rank we cannot even post to never acknowledges: the loop below declares it dead. */
        if (rc != MPI_SUCCESS)
            b->host->log(DP_LOG_WARN, "mpi: ending the run on worker rank %d failed (MPI error %d)", order[i], rc);
    }
    int64_t grace = b->timeout_ns < DEAD_GRACE_NS ? b->timeout_ns : DEAD_GRACE_NS;
    if (live > 0) dpi_mpi_wait(rq, 2 * live, 0, 0, b->host->now_ns() + b->timeout_ns);
    if (n > live) dpi_mpi_wait(rq + 2 * live, 2 * (n - live), 0, 0, b->host->now_ns() + grace);
    for (int i = 0; i < n; i++) {
        int r = order[i], done = 0;
        dpi_mpi_lock();
        MPI_Testall(2, &rq[2 * i], &done, MPI_STATUSES_IGNORE);
        dpi_mpi_unlock();
        /* Requests that could not be posted "complete" at once: only a real answer counts. */
        done = done && msgs[2 * i + 1].magic == DPI_MPI_MAGIC;
        dpi_mpi_set_unanswered(r, !done);
        if (done) {
            ack_of[r - 1] = &msgs[2 * i + 1];
            continue;
        }
        if (dpi_mpi_declare_dead(r))
            b->host->log(DP_LOG_WARN, "mpi: worker rank %d did not acknowledge the end of the run: declared dead", r);
        dpi_mpi_abandon(&rq[2 * i + 1], 0, NULL);
        /* MPI may still read the END_RUN message: all of msgs is kept until exit. */
        if (rq[2 * i] != MPI_REQUEST_NULL) {
            dpi_mpi_abandon(&rq[2 * i], 1, kept ? NULL : msgs);
            kept = 1;
        }
    }
    /* The END_RUN messages and their acknowledgements count as the run's traffic too. */
    for (int i = 0; i < n; i++) {
        b->wire_out += (int64_t)HDR;
        b->wire_in += ack_of[i] ? (int64_t)HDR : 0;
    }
    for (int k = 0; k < b->workers; k++) {
        log_stats(b, k, ack_of[k % n]);
        b->wire_out += b->stats[k].bytes_out;
        b->wire_in += b->stats[k].bytes_in;
    }
    memset(b->stats, 0, (size_t)b->workers * sizeof *b->stats);
out:
    if (!kept) dpi_mpi_free(msgs);
    free(rq);
    free(order);
    free(ack_of);
    return s;
}

void dpi_mpi_traffic(void *backend, int64_t *out, int64_t *in) {
    const dpi_mpi_backend *b = backend;
    *out = b->wire_out;
    *in = b->wire_in;
}
