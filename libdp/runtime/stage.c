/* Workers: each is the thread running one stage of one replica. It sets up (OpenMP threads,
 * pinning, its backend context), waits at the start gate, then loops: take a micro-batch
 * (the first stage: run.take, its queue in stream and push mode, its partitioner ranges in batch
 * mode; a later stage: the hand-over from the stage before, pipeline.c), run it, and hand the
 * result on: to the next stage's hand-over, or, from the last stage, to completion. */
#include "stage.h"

#include <omp.h>
#include <sched.h>
#include <string.h>

#include "complete.h"
#include "dataparallel/partition_protocol.h"
#include "fault.h"
#include "pipeline.h"

/* ---- threads and gates ----------------------------------------------------------------------- */

static void *worker_main(void *arg);

dp_status dpi_workers_start(dp_runner *r) {
    for (int k = 0; k < r->workers; k++) {
        dpi_worker *w = &r->w[k];
        int rc = pthread_create(&w->run.thread, NULL, worker_main, w);
        if (rc != 0) {
            atomic_store(&r->run.abort, 1);
            /* The ones already started are waiting at the gate; count the rest as ready. */
            pthread_mutex_lock(&r->gate_mu);
            r->run.ready += r->workers - k;
            pthread_mutex_unlock(&r->gate_mu);
            return dpi_error(DP_ERR_INTERNAL, "runner: cannot start worker thread %d (error %d)", k, rc);
        }
        w->run.started = 1;
    }
    dpi_workers_wait_ready(r, r->workers);
    return DP_OK;
}

void dpi_workers_wait_ready(dp_runner *r, int n) {
    pthread_mutex_lock(&r->gate_mu);
    while (r->run.ready < n) pthread_cond_wait(&r->gate_cv, &r->gate_mu);
    pthread_mutex_unlock(&r->gate_mu);
}

void dpi_workers_open_gate(dp_runner *r, int gate) {
    pthread_mutex_lock(&r->gate_mu);
    if (r->run.gate < gate) r->run.gate = gate;
    pthread_cond_broadcast(&r->gate_cv);
    pthread_mutex_unlock(&r->gate_mu);
}

int dpi_worker_wait_gate(dpi_worker *w, int gate) {
    dp_runner *r = w->r;
    pthread_mutex_lock(&r->gate_mu);
    r->run.ready++;
    pthread_cond_broadcast(&r->gate_cv);
    while (r->run.gate < gate) pthread_cond_wait(&r->gate_cv, &r->gate_mu);
    pthread_mutex_unlock(&r->gate_mu);
    return !atomic_load(&r->run.abort);
}

void dpi_workers_join(dp_runner *r) {
    for (int k = 0; k < r->workers; k++)
        if (r->w[k].run.started) {
            pthread_join(r->w[k].run.thread, NULL);
            r->w[k].run.started = 0;
        }
}

static void pin(int worker, int threads) {
    int ncpu = dpi_num_cpus();
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int t = 0; t < threads; t++) CPU_SET((worker * threads + t) % ncpu, &set);
    if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0)
        dpi_log(DP_LOG_WARN, "runner: could not pin worker %d", worker);
}

static void *worker_main(void *arg) {
    dpi_worker *w = arg;
    dp_runner *r = w->r;
    dpi_run *run = &r->run;
    /* OpenMP fixes a oneDNN primitive's thread count when it is created: set it first. */
    omp_set_num_threads(r->opts.threads_per_worker);
    if (r->opts.pin_workers) pin(w->index, r->opts.threads_per_worker);
    w->run.init_status = r->ops->init(r->backend, w->index, run->c, run->h, run->w, &w->run.ctx);
    int ok = w->run.init_status == DP_OK;
    int (*take)(dpi_worker *) = w->run.from ? dpi_take_from_link : run->take;
    int go = dpi_worker_wait_gate(w, 1) && ok;
    /* Batch mode counts every worker at gate 2 (the split); a first stage gets there in its
     * first take, a later stage here. */
    if (go && w->run.from && run->mode == DPI_MODE_BATCH) go = dpi_worker_wait_gate(w, 2);
    if (go)
        for (int n; (n = take(w)) > 0;) dpi_worker_run_microbatch(w, n);
    /* The next stage drains what was handed on, then leaves too. */
    if (w->run.to) dpi_link_close(w->run.to);
    if (ok) r->ops->fini(w->run.ctx);
    w->run.ctx = NULL;
    return NULL;
}

/* ---- one micro-batch ------------------------------------------------------------------------- */

int dpi_take_from_queue(dpi_worker *w) {
    dp_runner *r = w->r;
    dpi_microbatch *mb = &w->run.mb;
    /* A worker that left takes nothing more from a shared queue: the others serve it. */
    if (r->run.shared && atomic_load_explicit(&w->run.left, memory_order_relaxed)) return 0;
    return dpi_queue_pop(w->run.in, mb->slots, r->run.mode == DPI_MODE_PUSH ? mb->input : NULL, r->opts.max_batch,
                         r->opts.max_delay_us * 1000);
}

/* Whether all n floats are finite: an exponent of all ones (infinity, NaN) carries into bit 31 when
 * 0x00800000 is added to it. Sixteen accumulators of a fixed-length inner loop vectorise at -O2
 * (GCC's default cost model leaves a loop with a compare-and-set per float scalar: 1.1 us per
 * 3x32x32 sample on rank 0, ~2.5x slower than this). */
static int all_finite(const float *x, size_t n) {
    uint32_t acc[16] = {0}, any = 0;
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++) {
            uint32_t u;
            memcpy(&u, &x[i + j], sizeof u);
            acc[j] |= (u & 0x7f800000u) + 0x00800000u;
        }
    for (int j = 0; j < 16; j++) any |= acc[j];
    for (; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], sizeof u);
        any |= (u & 0x7f800000u) + 0x00800000u;
    }
    return !(any & 0x80000000u);
}

/* Read the payloads of the n taken samples from the data set into mb.input; a sample that
 * cannot be read fails on its own. Returns how many are left, packed at the front. */
static int read_payloads(dpi_worker *w, int n) {
    dp_runner *r = w->r;
    dpi_microbatch *mb = &w->run.mb;
    size_t sf = r->run.sample_floats;
    int m = 0;
    for (int i = 0; i < n; i++) {
        dp_status st = dp_dataset_get(r->run.ds, mb->slots[i].index, mb->input + (size_t)m * sf, &mb->labels[m]);
        if (st != DP_OK) {
            int64_t now = dpi_now_ns();
            dpi_fail_samples(w, &mb->slots[i], 1, st, now, now, 1);
            continue;
        }
        mb->slots[m++] = mb->slots[i];
    }
    return m;
}

void dpi_worker_run_microbatch(dpi_worker *w, int n) {
    dp_runner *r = w->r;
    dpi_run *run = &r->run;
    dpi_microbatch *mb = &w->run.mb;
    dpi_counters *c = &w->run.c;
    int m = n;
    /* Injected faults (fault.c) apply at the start of a micro-batch, before its payloads are read:
     * a worker that left hands the samples on as they are. */
    dpi_fault_action fault = dpi_fault_due(w) ? dpi_fault_apply(w) : DPI_FAULT_RUN;
    if (fault == DPI_FAULT_LEFT) {
        dpi_fault_hand_on(w, n);
        return;
    }
    if (w->stage == 0) {
        if (run->ds) {
            m = read_payloads(w, n);
        } else {
            for (int i = 0; i < n; i++) mb->labels[i] = -1;
        }
        if (m == 0) return;
        /* NaN or infinity in an input is not refused: the sample runs as given and is counted, so a
         * user sees it in the summary (nonfinite_inputs) instead of a silent wrong top-1. */
        int64_t nonfinite = 0;
        for (int i = 0; i < m; i++)
            nonfinite += !all_finite(mb->input + (size_t)i * run->sample_floats, run->sample_floats);
        if (nonfinite) atomic_fetch_add_explicit(&c->nonfinite, nonfinite, memory_order_relaxed);
        /* The micro-batch is in its replica's pipeline from here until its last stage ends it. */
        if (w->run.clock) dpi_clock_enter(w->run.clock);
    }
    /* A pipeline stage reads the buffer handed over and writes into one for the next stage;
     * waiting for a free one (back-pressure) is not service time. */
    const float *in = w->run.held ? w->run.held->act : mb->input;
    dpi_handoff *out = w->run.to ? dpi_link_acquire(w->run.to) : NULL;

    int64_t t0 = dpi_now_ns();
    float *logits = out ? out->act : mb->logits;
    dp_status st;
    if (fault == DPI_FAULT_FAIL && !r->ops->remote_fx) {
        st = dpi_fault_fail(w, m);
    } else {
        /* A backend with remote_fx stalls, fails or stretches the batch where it runs (an MPI
         * worker rank); the event still counts the samples it fails. */
        dpi_worker_fx fx = {.slowdown = w->run.slowdown, .stall_ns = w->run.stall_ns, .fail = fault == DPI_FAULT_FAIL};
        if (fx.fail) w->run.failing->failed += m;
        w->run.stall_ns = 0;
        st = r->ops->run(w->run.ctx, in, m, run->c, run->h, run->w, logits, r->ops->remote_fx ? &fx : NULL);
    }
    int64_t t1 = dpi_now_ns();
    if (w->run.slowdown > 1.0 && !r->ops->remote_fx) {
        /* A slower machine keeps its core busy for longer, so busy-wait rather than sleep. */
        dpi_spin_ns((int64_t)((w->run.slowdown - 1.0) * (double)(t1 - t0)));
        t1 = dpi_now_ns();
    }
    /* The samples' path (docs/metrics.md, "Latency breakdown"): service adds up over the stages,
     * from the first (again, should a sample be re-routed and run anew). */
    for (int i = 0; i < m; i++) {
        dpi_slot *s = &mb->slots[i];
        s->service_ns = (w->stage == 0 ? 0 : s->service_ns) + (t1 - t0);
        if (w->stage == 0) s->start_ns = t0;
    }
    if (w->run.held) {
        dpi_link_release(w->run.from, w->run.held);
        w->run.held = NULL;
    }
    /* The partitioner routes to replicas; a replica's first stage reports for it. */
    if (run->mode != DPI_MODE_BATCH && w->stage == 0) dp_partitioner_observe(r->partitioner, w->replica, m, t1 - t0);
    atomic_fetch_add_explicit(&c->batches, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->samples_run, m, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->busy_ns, t1 - t0, memory_order_relaxed);
    if (st != DP_OK) {
        if (out) dpi_link_release(w->run.to, out);
        atomic_store_explicit(&c->last_end_ns, t1, memory_order_relaxed);
        dpi_fail_samples(w, mb->slots, m, st, t0, t1, m);
        if (w->run.clock) dpi_clock_leave(w->run.clock);
        return;
    }
    if (out) {
        out->n = m;
        memcpy(out->slots, mb->slots, sizeof *mb->slots * (size_t)m);
        memcpy(out->labels, mb->labels, sizeof *mb->labels * (size_t)m);
        atomic_fetch_add_explicit(&c->bytes_sent, m * w->run.to->sample_bytes, memory_order_relaxed);
        dpi_link_publish(w->run.to, out);
        return;
    }
    dp_argmax(mb->logits, m, r->num_classes, mb->top1);
    dpi_complete_microbatch(w, m, t0, t1);
    if (w->run.clock) dpi_clock_leave(w->run.clock);
}
