/* Bounded sample queues with the three overflow policies and Triton-style micro-batch filling. */
#include "queue.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void free_storage(dpi_queue *q) {
    free(q->slots);
    dpi_free_aligned(q->data);
    q->slots = NULL;
    q->data = NULL;
}

/* The lock and the two conditions; timed waits for micro-batch filling run on CLOCK_MONOTONIC
 * like every other time. Returns 0 or the pthread error (nothing left to destroy then). */
static int init_sync(dpi_queue *q) {
    pthread_condattr_t ca;
    int rc = pthread_condattr_init(&ca);
    if (rc != 0) return rc;
    int mu = -1, ne = -1;
    rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (rc == 0) rc = mu = pthread_mutex_init(&q->mu, NULL);
    if (rc == 0) rc = ne = pthread_cond_init(&q->not_empty, &ca);
    if (rc == 0) rc = pthread_cond_init(&q->not_full, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0) {
        if (ne == 0) pthread_cond_destroy(&q->not_empty);
        if (mu == 0) pthread_mutex_destroy(&q->mu);
    }
    return rc;
}

dp_status dpi_queue_init(dpi_queue *q, int cap, size_t sample_floats) {
    memset(q, 0, sizeof *q);
    q->cap = cap;
    q->sample_floats = sample_floats;
    q->slots = calloc((size_t)cap, sizeof *q->slots);
    if (sample_floats) q->data = dpi_alloc_aligned((size_t)cap * sample_floats * sizeof(float), DPI_CACHELINE);
    if (!q->slots || (sample_floats && !q->data)) {
        free_storage(q);
        return dpi_error(DP_ERR_NOMEM, "runner: out of memory for a queue of %d samples", cap);
    }
    int rc = init_sync(q);
    if (rc != 0) {
        free_storage(q);
        return dpi_error(DP_ERR_INTERNAL, "runner: cannot create a queue's lock (error %d)", rc);
    }
    atomic_init(&q->depth, 0);
    return DP_OK;
}

void dpi_queue_destroy(dpi_queue *q) {
    if (!q->slots) return;
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->not_empty);
    pthread_cond_destroy(&q->not_full);
    free_storage(q);
}

static void put_locked(dpi_queue *q, const dpi_slot *s, const float *data) {
    int pos = (q->head + q->count) % q->cap;
    q->slots[pos] = *s;
    if (q->data && data) memcpy(q->data + (size_t)pos * q->sample_floats, data, q->sample_floats * sizeof(float));
    q->count++;
    if (q->count > atomic_load_explicit(&q->hwm, memory_order_relaxed))
        atomic_store_explicit(&q->hwm, q->count, memory_order_relaxed);
    atomic_store_explicit(&q->depth, q->count, memory_order_relaxed);
}

dpi_push_result dpi_queue_push(dpi_queue *q, const dpi_slot *s, const float *data, dp_overflow policy,
                               dpi_slot *evicted) {
    dpi_push_result res = DPI_PUSHED;
    int waited = 0;
    pthread_mutex_lock(&q->mu);
    if (q->closed) {
        pthread_mutex_unlock(&q->mu);
        return DPI_QUEUE_CLOSED;
    }
    if (q->count == q->cap) {
        if (policy == DP_OVERFLOW_DROP_NEWEST) {
            pthread_mutex_unlock(&q->mu);
            return DPI_DROPPED_NEWEST;
        }
        if (policy == DP_OVERFLOW_DROP_OLDEST) {
            *evicted = q->slots[q->head];
            q->head = (q->head + 1) % q->cap;
            q->count--;
            res = DPI_DROPPED_OLDEST;
        } else {
            while (q->count == q->cap && !q->closed) pthread_cond_wait(&q->not_full, &q->mu);
            if (q->count == q->cap) { /* closed while full: nobody will make room */
                pthread_mutex_unlock(&q->mu);
                return DPI_DROPPED_NEWEST;
            }
            waited = 1;
        }
    }
    put_locked(q, s, data);
    if (waited) q->slots[(q->head + q->count - 1) % q->cap].enqueued_ns = dpi_now_ns();
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->mu);
    return res;
}

static int take_locked(dpi_queue *q, dpi_slot *out, float *data, int max, int64_t now) {
    int k = 0;
    while (k < max && q->count > 0) {
        out[k] = q->slots[q->head];
        out[k].taken_ns = now;
        /* Push mode payloads are copied out under the lock: the slot is reusable once head moves. */
        if (q->data)
            memcpy(data + (size_t)k * q->sample_floats, q->data + (size_t)q->head * q->sample_floats,
                   q->sample_floats * sizeof(float));
        q->head = (q->head + 1) % q->cap;
        q->count--;
        k++;
    }
    atomic_store_explicit(&q->depth, q->count, memory_order_relaxed);
    return k;
}

int dpi_queue_pop(dpi_queue *q, dpi_slot *out, float *data, int max, int64_t max_delay_ns) {
    pthread_mutex_lock(&q->mu);
    while (q->count == 0 && !q->closed) pthread_cond_wait(&q->not_empty, &q->mu);
    /* One clock read per take: it stamps what is taken and starts the batch's delay. */
    int64_t now = q->count > 0 ? dpi_now_ns() : 0;
    int k = take_locked(q, out, data, max, now);
    if (k > 0 && k < max && max_delay_ns > 0) {
        /* Like Triton's dynamic batcher: hold the batch open for at most max_delay for more. */
        int64_t deadline = now + max_delay_ns;
        struct timespec ts = {.tv_sec = deadline / 1000000000, .tv_nsec = deadline % 1000000000};
        while (k < max && !q->closed) {
            if (q->count == 0) {
                int rc = pthread_cond_timedwait(&q->not_empty, &q->mu, &ts);
                if (rc == ETIMEDOUT && q->count == 0) break;
                continue;
            }
            k += take_locked(q, out + k, data ? data + (size_t)k * q->sample_floats : NULL, max - k, dpi_now_ns());
        }
        if (q->count > 0)
            k += take_locked(q, out + k, data ? data + (size_t)k * q->sample_floats : NULL, max - k, dpi_now_ns());
    }
    if (k > 0) pthread_cond_broadcast(&q->not_full);
    /* Another worker sharing this queue may be able to take what is left. */
    if (q->count > 0) pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->mu);
    return k;
}

void dpi_queue_close(dpi_queue *q) {
    pthread_mutex_lock(&q->mu);
    q->closed = 1;
    pthread_cond_broadcast(&q->not_empty);
    pthread_cond_broadcast(&q->not_full);
    pthread_mutex_unlock(&q->mu);
}
