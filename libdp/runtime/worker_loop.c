/* The worker thread: set-up (OpenMP threads, pinning, backend context), the start gates, the
 * batch-mode and queue-mode loops, and running one micro-batch into results. */
#include <omp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runner_impl.h"

dp_status dpi_runner_start_workers(dp_runner *r, void *(*fn)(void *)) {
    for (int k = 0; k < r->workers; k++) {
        int rc = pthread_create(&r->w[k].thread, NULL, fn, &r->w[k]);
        if (rc != 0) {
            atomic_store(&r->abort_run, 1);
            /* The ones already started are waiting at the gate; count the rest as ready. */
            pthread_mutex_lock(&r->gate_mu);
            r->ready += r->workers - k;
            pthread_mutex_unlock(&r->gate_mu);
            return dpi_error(DP_ERR_INTERNAL, "runner: cannot start worker thread %d (error %d)", k, rc);
        }
        r->w[k].started = 1;
    }
    /* Wait until every worker has its backend context (or failed to get one). */
    dpi_runner_wait_ready(r, r->workers);
    return DP_OK;
}

void dpi_runner_wait_ready(dp_runner *r, int n) {
    pthread_mutex_lock(&r->gate_mu);
    while (r->ready < n) pthread_cond_wait(&r->gate_cv, &r->gate_mu);
    pthread_mutex_unlock(&r->gate_mu);
}

void dpi_runner_open_gate(dp_runner *r, int gate) {
    pthread_mutex_lock(&r->gate_mu);
    if (r->gate < gate) r->gate = gate;
    pthread_cond_broadcast(&r->gate_cv);
    pthread_mutex_unlock(&r->gate_mu);
}

/* Report ready, wait for the gate; 0 if the run was aborted meanwhile. */
int dpi_worker_wait_gate(dpi_worker *w, int gate) {
    dp_runner *r = w->r;
    pthread_mutex_lock(&r->gate_mu);
    r->ready++;
    pthread_cond_broadcast(&r->gate_cv);
    while (r->gate < gate) pthread_cond_wait(&r->gate_cv, &r->gate_mu);
    pthread_mutex_unlock(&r->gate_mu);
    return !atomic_load(&r->abort_run);
}

void dpi_runner_join_workers(dp_runner *r) {
    for (int k = 0; k < r->workers; k++)
        if (r->w[k].started) {
            pthread_join(r->w[k].thread, NULL);
            r->w[k].started = 0;
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

static void fail_sample(dpi_worker *w, const dpi_slot *s, dp_status st, int64_t start, int64_t end, int n) {
    dp_result res = {.sample_id = s->sample_id,
                     .index = s->index,
                     .worker = w->index,
                     .top1 = -1,
                     .label = -1,
                     .batch_size = n,
                     .status = st,
                     .intended_ns = s->intended_ns,
                     .start_ns = start,
                     .end_ns = end,
                     .num_classes = w->r->num_classes};
    if (w->run_error == DP_OK) w->run_error = st;
    dpi_runner_deliver(w, &res, s->ctx);
    atomic_fetch_add_explicit(&w->c.failed, 1, memory_order_release);
}

/* Run the n slots in w->batch. read_dataset: payloads come from the data set (batch and pull
 * mode); otherwise they are already in w->input (push mode). */
void dpi_worker_process(dpi_worker *w, int n, int read_dataset) {
    dp_runner *r = w->r;
    size_t sf = r->sample_floats;
    int K = r->num_classes, m = 0;
    if (read_dataset) {
        for (int i = 0; i < n; i++) {
            dp_status st = dp_dataset_get(r->ds, w->batch[i].index, w->input + (size_t)m * sf, &w->labels[m]);
            if (st != DP_OK) {
                int64_t now = dpi_now_ns();
                fail_sample(w, &w->batch[i], st, now, now, 1);
                continue;
            }
            w->batch[m++] = w->batch[i];
        }
    } else {
        for (int i = 0; i < n; i++) w->labels[i] = -1;
        m = n;
    }
    if (m == 0) return;

    int64_t t0 = dpi_now_ns();
    dp_status st = r->ops->run(w->ctx, w->input, m, r->c, r->h, r->wd, w->logits);
    int64_t t1 = dpi_now_ns();
    if (w->slowdown > 1.0) {
        /* A slower machine keeps its core busy for longer, so busy-wait rather than sleep. */
        dpi_spin_ns((int64_t)((w->slowdown - 1.0) * (double)(t1 - t0)));
        t1 = dpi_now_ns();
    }
    if (r->kind != DPI_BATCH) dp_partitioner_observe(r->partitioner, w->index, m, t1 - t0);
    atomic_fetch_add_explicit(&w->c.batches, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&w->c.samples_run, m, memory_order_relaxed);
    atomic_fetch_add_explicit(&w->c.busy_ns, t1 - t0, memory_order_relaxed);
    if (st != DP_OK) {
        for (int i = 0; i < m; i++) fail_sample(w, &w->batch[i], st, t0, t1, m);
        atomic_store_explicit(&w->c.last_end_ns, t1, memory_order_relaxed);
        return;
    }
    dp_argmax(w->logits, m, K, w->top1);
    int64_t labelled = 0, correct = 0;
    for (int i = 0; i < m; i++) {
        const dpi_slot *s = &w->batch[i];
        dp_result res = {.sample_id = s->sample_id,
                         .index = s->index,
                         .worker = w->index,
                         .top1 = w->top1[i],
                         .label = w->labels[i],
                         .batch_size = m,
                         .status = DP_OK,
                         .intended_ns = s->intended_ns,
                         .start_ns = t0,
                         .end_ns = t1,
                         .logits = r->opts.keep_logits ? w->logits + (size_t)i * K : NULL,
                         .num_classes = K};
        dpi_hist_record(w->hist, t1 - s->intended_ns);
        if (res.label >= 0) {
            labelled++;
            correct += res.top1 == res.label;
        }
        dpi_runner_deliver(w, &res, s->ctx);
    }
    atomic_fetch_add_explicit(&w->c.labelled, labelled, memory_order_relaxed);
    atomic_fetch_add_explicit(&w->c.correct, correct, memory_order_relaxed);
    /* Completion is published last, after the result was delivered, so drain() never returns
     * before a callback has run. */
    atomic_store_explicit(&w->c.last_end_ns, t1, memory_order_relaxed);
    atomic_fetch_add_explicit(&w->c.completed, m, memory_order_release);
}

/* Weighted batch mode without given weights: time a few single samples (after a warm-up run)
 * so the partitioner can split the data set by measured speed. The pass is short, so on a shared
 * machine one preemption would dominate a wall-clock timing: it uses the thread's CPU time per
 * sample (median of a few), times the worker's slowdown factor. */
static int64_t thread_cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void profile(dpi_worker *w, int64_t n) {
    dp_runner *r = w->r;
    enum { REPS = 5 };
    int64_t t[REPS];
    w->profile_ns = 1;
    if (n == 0) return;
    if (dp_dataset_get(r->ds, w->index % n, w->input, NULL) != DP_OK) return;
    for (int i = -1; i < REPS; i++) {
        int64_t t0 = thread_cpu_ns();
        if (r->ops->run(w->ctx, w->input, 1, r->c, r->h, r->wd, w->logits) != DP_OK) return;
        if (i >= 0) t[i] = (int64_t)((double)(thread_cpu_ns() - t0) * w->slowdown);
    }
    qsort(t, REPS, sizeof t[0], cmp_i64);
    w->profile_ns = t[REPS / 2] > 0 ? t[REPS / 2] : 1;
}

static void batch_loop(dpi_worker *w) {
    dp_runner *r = w->r;
    int mb = r->opts.max_batch;
    for (;;) {
        int64_t start, count;
        if (atomic_load_explicit(&r->stop, memory_order_relaxed)) return;
        dp_status st = dp_partitioner_batch_next(r->partitioner, w->index, &start, &count);
        if (st != DP_OK) {
            w->part_error = st;
            snprintf(w->part_msg, sizeof w->part_msg, "%s", dp_last_error());
            return;
        }
        if (count == 0) return;
        for (int64_t off = 0; off < count; off += mb) {
            if (atomic_load_explicit(&r->stop, memory_order_relaxed)) return;
            int n = count - off < mb ? (int)(count - off) : mb;
            /* In batch mode a sample "arrives" when its worker takes it: latency = read + service. */
            int64_t now = dpi_now_ns();
            for (int i = 0; i < n; i++)
                w->batch[i] = (dpi_slot){.sample_id = start + off + i, .index = start + off + i, .intended_ns = now};
            atomic_fetch_add_explicit(&w->c.offered, n, memory_order_relaxed);
            dpi_worker_process(w, n, 1);
        }
    }
}

static void queue_loop(dpi_worker *w) {
    dp_runner *r = w->r;
    int push = r->kind == DPI_PUSHED_IN;
    int64_t delay_ns = r->opts.max_delay_us * 1000;
    for (;;) {
        int n = dpi_queue_pop(w->q, w->batch, push ? w->input : NULL, r->opts.max_batch, delay_ns);
        if (n == 0) return;
        dpi_worker_process(w, n, !push);
    }
}

void *dpi_worker_main(void *arg) {
    dpi_worker *w = arg;
    dp_runner *r = w->r;
    /* OpenMP fixes a oneDNN primitive's thread count when it is created: set it first. */
    omp_set_num_threads(r->opts.threads_per_worker);
    if (r->opts.pin_workers) pin(w->index, r->opts.threads_per_worker);
    w->init_status = r->ops->init(r->backend, w->index, r->c, r->h, r->wd, &w->ctx);
    int ok = w->init_status == DP_OK;
    if (!dpi_worker_wait_gate(w, 1) || !ok) goto out;
    if (r->kind == DPI_BATCH) {
        if (r->profile) profile(w, dp_dataset_count(r->ds));
        if (!dpi_worker_wait_gate(w, 2)) goto out;
        batch_loop(w);
    } else {
        queue_loop(w);
    }
out:
    if (ok) r->ops->fini(w->ctx);
    w->ctx = NULL;
    return NULL;
}
