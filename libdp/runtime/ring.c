/* A bounded multi-producer single-consumer ring in Dmitry Vyukov's layout: every entry carries a
 * sequence number that says whose turn it is, so a producer claims an entry with one
 * compare-and-swap on the tail and publishes it with one release store, and a full ring is seen
 * without waiting (the entry a lap ahead is still unread). With one producer the CAS never
 * fails, so workers pay no more than for a plain SPSC ring. */
#include "ring.h"

#include <stdint.h>
#include <string.h>

/* The sequence number that heads every entry; the record follows at DPI_RING_HDR bytes. */
#define DPI_RING_HDR 16

static inline atomic_size_t *seq_of(const dpi_ring *r, size_t pos) {
    return (atomic_size_t *)(r->buf + (pos & r->mask) * r->stride);
}

dp_status dpi_ring_init(dpi_ring *r, size_t entries, int num_classes) {
    size_t n = 1;
    while (n < entries) n <<= 1;
    memset(r, 0, sizeof *r);
    r->mask = n - 1;
    r->num_classes = num_classes;
    r->stride = (DPI_RING_HDR + sizeof(dp_result) + (size_t)num_classes * sizeof(float) + 15) & ~(size_t)15;
    r->buf = dpi_alloc_aligned(n * r->stride, DPI_CACHELINE);
    if (!r->buf) return dpi_error(DP_ERR_NOMEM, "runner: out of memory for a record ring of %zu entries", n);
    for (size_t i = 0; i < n; i++) atomic_init(seq_of(r, i), i);
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    atomic_init(&r->dropped, 0);
    return DP_OK;
}

void dpi_ring_destroy(dpi_ring *r) {
    dpi_free_aligned(r->buf);
    r->buf = NULL;
}

int dpi_ring_push(dpi_ring *r, const dp_result *res, const float *logits) {
    size_t pos = atomic_load_explicit(&r->tail, memory_order_relaxed);
    for (;;) {
        size_t seq = atomic_load_explicit(seq_of(r, pos), memory_order_acquire);
        intptr_t diff = (intptr_t)seq - (intptr_t)pos;
        if (diff == 0) {
            if (atomic_compare_exchange_weak_explicit(&r->tail, &pos, pos + 1, memory_order_relaxed,
                                                      memory_order_relaxed))
                break;
        } else if (diff < 0) {
            /* The entry still holds the record from one lap ago: full. */
            atomic_fetch_add_explicit(&r->dropped, 1, memory_order_relaxed);
            return 0;
        } else {
            pos = atomic_load_explicit(&r->tail, memory_order_relaxed);
        }
    }
    unsigned char *e = (unsigned char *)seq_of(r, pos) + DPI_RING_HDR;
    memcpy(e, res, sizeof *res);
    if (r->num_classes && logits) memcpy(e + sizeof(dp_result), logits, (size_t)r->num_classes * sizeof(float));
    atomic_store_explicit(seq_of(r, pos), pos + 1, memory_order_release);
    return 1;
}

dp_result *dpi_ring_peek(dpi_ring *r) {
    size_t pos = atomic_load_explicit(&r->head, memory_order_relaxed);
    /* Not yet published (empty, or a producer between its claim and its store). */
    if (atomic_load_explicit(seq_of(r, pos), memory_order_acquire) != pos + 1) return NULL;
    unsigned char *e = (unsigned char *)seq_of(r, pos) + DPI_RING_HDR;
    dp_result *res = (dp_result *)e;
    res->logits = (r->num_classes && res->logits) ? (const float *)(e + sizeof(dp_result)) : NULL;
    return res;
}

void dpi_ring_release(dpi_ring *r) {
    size_t pos = atomic_load_explicit(&r->head, memory_order_relaxed);
    /* Hand the entry to the producers of the next lap. */
    atomic_store_explicit(seq_of(r, pos), pos + r->mask + 1, memory_order_release);
    atomic_store_explicit(&r->head, pos + 1, memory_order_relaxed);
}

int64_t dpi_ring_dropped(const dpi_ring *r) {
    return atomic_load_explicit(&r->dropped, memory_order_relaxed);
}
