/* Record rings: finished samples travelling to the metrics thread, the only reader. A worker
 * writes its own ring; the producers' ring takes drops and routing failures from any number of
 * threads (the source thread, push-mode submitters). A push never waits: when the ring is full
 * the record is dropped for the sinks and counted (the sample itself is still counted in the
 * summary; only the sinks' per-sample view loses it). */
#ifndef DP_RUNTIME_RING_H
#define DP_RUNTIME_RING_H

#include <stdatomic.h>
#include <stddef.h>

#include "dataparallel/runner.h"
#include "util/util.h"

typedef struct dpi_ring {
    _Alignas(DPI_CACHELINE) atomic_size_t head;   /* next entry the consumer reads */
    _Alignas(DPI_CACHELINE) atomic_size_t tail;   /* next entry a producer claims */
    _Alignas(DPI_CACHELINE) atomic_llong dropped; /* records lost to a full ring */
    size_t mask;
    size_t stride;           /* bytes per entry: sequence, dp_result, num_classes floats */
    int num_classes;         /* logits carried per entry (0: none) */
    unsigned char *buf;
} dpi_ring;

/* At least `entries` entries (rounded up to a power of two), each with room for num_classes
 * logits. DP_ERR_NOMEM with a message on failure. */
dp_status dpi_ring_init(dpi_ring *r, size_t entries, int num_classes);
/* Frees the entries; a zeroed or destroyed ring may be destroyed again. */
void dpi_ring_destroy(dpi_ring *r);
/* Any thread. Copies res (and num_classes logits when the ring carries them and logits is not
 * NULL). Returns 0 when the ring was full and the record was dropped (counted), 1 otherwise.
 * Lock-free: producers only contend on one compare-and-swap. */
int dpi_ring_push(dpi_ring *r, const dp_result *res, const float *logits);
/* The consumer (one thread): the oldest record (its logits pointer fixed up), or NULL when
 * none is ready; release it with dpi_ring_release() after use. */
dp_result *dpi_ring_peek(dpi_ring *r);
void dpi_ring_release(dpi_ring *r);
/* Records dropped so far. */
int64_t dpi_ring_dropped(const dpi_ring *r);

#endif
