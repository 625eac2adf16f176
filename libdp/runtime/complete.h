/* The end of a sample's path (complete.c): its result goes to opts.on_result, its counters are
 * updated, and (with sinks) its record goes into a ring for the metrics thread. Every sample
 * ends here exactly once: completed, failed or dropped. */
#ifndef DP_RUNTIME_COMPLETE_H
#define DP_RUNTIME_COMPLETE_H

#include "runner_impl.h"

/* Worker: the first m samples of its micro-batch ran from t0 to t1 (logits and top-1 are in
 * mb). Completion is published last, so drain() never returns before a callback ran. */
void dpi_complete_microbatch(dpi_worker *w, int m, int64_t t0, int64_t t1);
/* Worker: these n samples failed with st (a micro-batch of batch_size that ran from t0 to t1,
 * or a payload that could not be read). */
void dpi_fail_samples(dpi_worker *w, const dpi_slot *s, int n, dp_status st, int64_t t0, int64_t t1,
                      int batch_size);
/* Producer thread: s was dropped by the overflow policy of replica's queue (which end lost it
 * is `how`: DPI_DROPPED_NEWEST or DPI_DROPPED_OLDEST). */
void dpi_complete_dropped(dp_runner *r, const dpi_slot *s, int replica, dpi_push_result how);
/* Producer thread: s could not be routed (st); it fails, the run goes on. */
void dpi_complete_unrouted(dp_runner *r, const dpi_slot *s, dp_status st);

#endif
